/* Bare metal (M-mode): dirties memory as fast as it can. Each step stores
 * the step's number into every 8-byte word of a 4 MiB buffer (1024 pages
 * at DIRTY_BUF), stores it in `counter`, and prints "c XXXXXXXX" (hex) on
 * the UART. For live-migration tests: the host times the lines to know
 * the dirty rate (4 MiB a line); a migrated machine goes on with the next
 * number, and the buffer holds the last complete step's number (checked
 * by the guest itself: a word that differs prints "bad" and stops). */
#define DIRTY_BUF 0x80400000
#define DIRTY_LEN (4 << 20)
    .section .text.init, "ax"
    .globl _start
_start:
    li      s0, 0x10000000          /* NS16550A THR */
    la      s3, counter
    ld      s1, 0(s3)
loop:
    /* the buffer must hold the previous step's number throughout */
    li      a0, DIRTY_BUF
    li      a1, DIRTY_BUF + DIRTY_LEN
5:  ld      t0, 0(a0)
    bne     t0, s1, bad
    addi    a0, a0, 8
    bltu    a0, a1, 5b
    addi    s1, s1, 1
    li      a0, DIRTY_BUF
6:  sd      s1, 0(a0)
    addi    a0, a0, 8
    bltu    a0, a1, 6b
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
    j       loop
bad:
    li      t0, 'b'
    sb      t0, 0(s0)
    li      t0, 'a'
    sb      t0, 0(s0)
    li      t0, 'd'
    sb      t0, 0(s0)
    li      t0, '\n'
    sb      t0, 0(s0)
7:  j       7b

    .data
    .align  3
counter: .dword 0

    .section .tohost, "aw"
    .align  6
    .globl tohost
tohost: .dword 0
    .globl fromhost
fromhost: .dword 0
