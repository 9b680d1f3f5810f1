/* Bare metal (M-mode): counts for ever; each step stores the count in
 * memory (`counter`) and prints "c XXXXXXXX" (hex) on the UART, then waits
 * DELAY iterations. For snapshot tests: a restored machine must go on with
 * the next number, none repeated, none skipped. Built with -DDELAY=N. */
    .section .text.init, "ax"
    .globl _start
_start:
    li      s0, 0x10000000          /* NS16550A THR */
    la      s3, counter
    ld      s1, 0(s3)
loop:
    addi    s1, s1, 1
    sd      s1, 0(s3)
    li      t0, 'c'
    sb      t0, 0(s0)
    li      t0, ' '
    sb      t0, 0(s0)
    li      t1, 28
1:  srl     t2, s1, t1
    andi    t2, t2, 15
    li      t3, 10
    blt     t2, t3, 2f
    addi    t2, t2, 'a' - 10
    j       3f
2:  addi    t2, t2, '0'
3:  sb      t2, 0(s0)
    addi    t1, t1, -4
    bgez    t1, 1b
    li      t0, '\n'
    sb      t0, 0(s0)
    li      t4, DELAY
4:  addi    t4, t4, -1
    bnez    t4, 4b
    j       loop

    .data
    .align  3
counter: .dword 0

    .section .tohost, "aw"
    .align  6
    .globl tohost
tohost: .dword 0
    .globl fromhost
fromhost: .dword 0
