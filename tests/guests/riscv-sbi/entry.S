/* S-mode entry of the SBI test program: the built-in SBI starts hart 0 here
 * (a0 = hartid, a1 = FDT); harts started with HSM hart_start enter at
 * second_entry (a0 = hartid, a1 = opaque). */
    .option norvc
    .section .text.init, "ax"
    .globl _start
_start:
    la      sp, stack0_top
    la      t0, s_trap
    csrw    stvec, t0
    call    main
1:  j       1b

    .globl second_entry
second_entry:
    la      sp, stack1_top
    call    secondary
1:  j       1b

    .globl resume_entry
resume_entry:
    la      sp, stack1_top
    call    resumed
1:  j       1b

    .align  2
s_trap:
    csrr    a0, scause
    csrr    a1, sepc
    csrr    a2, stval
    la      sp, stack0_top
    call    unexpected_trap
1:  j       1b

    .section .bss
    .align  12
    .space  8192
stack0_top:
    .space  8192
stack1_top:
