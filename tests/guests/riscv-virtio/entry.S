/* M-mode entry, no firmware: hart 0 runs main(); tohost reports the result. */
    .option norvc
    .section .text.init, "ax"
    .globl _start
_start:
    csrr    t0, mhartid
    bnez    t0, 2f
    la      sp, stack_top
    la      t0, trap
    csrw    mtvec, t0
    call    main
1:  j       1b
2:  wfi
    j       2b

    .align  2
trap:
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    la      sp, stack_top
    call    unexpected_trap
1:  j       1b

    .section .bss
    .align  12
    .space  16384
stack_top:

    .section .tohost, "aw"
    .align  6
    .globl  tohost
tohost: .dword 0
    .globl  fromhost
fromhost: .dword 0
