/* Bare metal (M-mode): prints 'R' through HTIF putchar, then asks the
 * syscon (sifive,test) for a reboot. On vessel every boot prints one 'R';
 * with --no-reboot vessel ends with status 3. */
    .section .text.init, "ax"
    .globl _start
_start:
    la      t1, tohost
    li      t0, 0x0101000000000052      /* device 1 (console), command 1 (putchar), 'R' */
    sd      t0, 0(t1)
    li      t0, 0x100000                /* syscon */
    li      t2, 0x7777                  /* reset */
    sw      t2, 0(t0)
1:  j       1b

    .section .tohost, "aw"
    .align  6
    .globl tohost
tohost: .dword 0
    .globl fromhost
fromhost: .dword 0
