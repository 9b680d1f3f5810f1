/* Bare metal (M-mode, HTIF): writes TOHOST_VALUE to tohost, then spins.
 * vessel exits with 0 for 1, else value >> 1. Built with -DTOHOST_VALUE=N. */
    .section .text.init, "ax"
    .globl _start
_start:
    li      t0, TOHOST_VALUE
    la      t1, tohost
    sd      t0, 0(t1)
1:  j       1b

    .section .tohost, "aw"
    .align  6
    .globl tohost
tohost: .dword 0
    .globl fromhost
fromhost: .dword 0
