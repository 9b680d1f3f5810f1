/* Start-up, trap entry/exit and fault probes shared by the riscv-sys
 * programs. The entry runs in M-mode with no firmware; hart 0 runs main(),
 * any other hart parks in wfi. Trap frames hold x1..x31, epc, status,
 * cause and tval (struct frame in sys.h). */
#define FRAME   (36 * 8)
#define MAGIC_RET 0x7e7e

    .option norvc

    .section .text.init, "ax"
    .globl _start
_start:
    csrw    mie, zero
    csrr    t0, mhartid
    bnez    t0, park
    la      t0, early_trap          /* until the real handler is in place */
    csrw    mtvec, t0
    /* PMP: let S and U reach every address (a CPU without PMP traps on
     * these writes; early_trap skips them). */
    li      t0, -1
    csrw    pmpaddr0, t0
    li      t0, 0x1f                /* NAPOT, R W X */
    csrw    pmpcfg0, t0
    la      sp, m_stack_top
    la      t0, m_trap_stack_top
    csrw    mscratch, t0
    la      t0, m_trap_entry
    csrw    mtvec, t0
    li      t0, (1 << 13)           /* mstatus.FS = Initial */
    csrs    mstatus, t0
    csrw    fcsr, zero
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  call    rt_init
    call    main
    call    rt_exit

/* Harts other than 0 (up to MAX_HARTS): own stacks, wait in wfi for an
 * MSIP from hart 0, then secondary_entry(hartid) (lib.c). */
#define MAX_HARTS 4
park:
    li      t1, MAX_HARTS
    bgeu    t0, t1, 3f
    la      sp, sec_stacks
    li      t1, 16384
    addi    t2, t0, 1
    mul     t1, t1, t2
    add     sp, sp, t1              /* top of this hart's 16 KiB: 8 KiB stack, 8 KiB trap stack */
    csrw    mscratch, sp
    li      t1, 8192
    sub     sp, sp, t1
    la      t1, m_trap_entry
    csrw    mtvec, t1
    li      t1, (1 << 13)
    csrs    mstatus, t1
    li      t1, (1 << 3)            /* mie.MSIE: wfi wakes on MSIP (MIE stays 0) */
    csrw    mie, t1
1:  wfi
    csrr    t1, mip
    andi    t1, t1, (1 << 3)
    beqz    t1, 1b
    mv      a0, t0
    call    secondary_entry
3:  csrw    mie, zero
4:  wfi
    j       4b

    .align  2
early_trap:
    csrr    t6, mepc
    addi    t6, t6, 4
    csrw    mepc, t6
    mret

/* ---- M-mode trap entry: mscratch holds the top of the trap stack. */
    .align  2
    .globl  m_trap_entry
m_trap_entry:
    csrrw   sp, mscratch, sp
    addi    sp, sp, -FRAME
    .irp r, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    sd      x\r, (\r * 8)(sp)
    .endr
    csrr    t0, mscratch            /* the interrupted sp */
    sd      t0, (2 * 8)(sp)
    csrw    mscratch, sp            /* a nested trap stacks below this frame */
    csrr    t0, mepc
    sd      t0, (32 * 8)(sp)
    csrr    t0, mstatus
    sd      t0, (33 * 8)(sp)
    csrr    t0, mcause
    sd      t0, (34 * 8)(sp)
    csrr    t0, mtval
    sd      t0, (35 * 8)(sp)
    mv      a0, sp
    call    m_trap
    bnez    a0, m_resume
    ld      t0, (32 * 8)(sp)
    csrw    mepc, t0
    ld      t0, (33 * 8)(sp)
    csrw    mstatus, t0
    addi    t0, sp, FRAME
    csrw    mscratch, t0
    .irp r, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    ld      x\r, (\r * 8)(sp)
    .endr
    ld      sp, (2 * 8)(sp)
    mret

/* Return from enter_lower(): a lower mode made the MAGIC_RET ecall. */
m_resume:
    ld      a0, (10 * 8)(sp)
    addi    t0, sp, FRAME
    csrw    mscratch, t0
    la      t0, m_resume_sp
    ld      sp, 0(t0)
    j       restore_callee

/* uint64_t enter_lower(uint64_t fn, uint64_t arg, int priv, uint64_t sp,
 *                      uint64_t ret_pc)
 * mret to fn(arg) in priv (0 U, 1 S) on stack sp, with ra = ret_pc (the
 * address, as seen from that mode, of lower_return). Returns fn's result
 * (or what the lower mode passes to the MAGIC_RET ecall). mstatus.MIE is
 * 0 on return, MPIE, MPRV and the other fields are the caller's to set. */
    .globl  enter_lower
enter_lower:
    addi    sp, sp, -112
    sd      ra, 0(sp)
    sd      s0, 8(sp)
    sd      s1, 16(sp)
    sd      s2, 24(sp)
    sd      s3, 32(sp)
    sd      s4, 40(sp)
    sd      s5, 48(sp)
    sd      s6, 56(sp)
    sd      s7, 64(sp)
    sd      s8, 72(sp)
    sd      s9, 80(sp)
    sd      s10, 88(sp)
    sd      s11, 96(sp)
    la      t0, m_resume_sp
    sd      sp, 0(t0)
    la      t0, s_trap_stack_top
    csrw    sscratch, t0
    csrw    mepc, a0
    li      t0, (3 << 11)
    csrc    mstatus, t0
    slli    t1, a2, 11
    csrs    mstatus, t1
    mv      sp, a3
    mv      ra, a4
    mv      a0, a1
    mret
restore_callee:
    ld      ra, 0(sp)
    ld      s0, 8(sp)
    ld      s1, 16(sp)
    ld      s2, 24(sp)
    ld      s3, 32(sp)
    ld      s4, 40(sp)
    ld      s5, 48(sp)
    ld      s6, 56(sp)
    ld      s7, 64(sp)
    ld      s8, 72(sp)
    ld      s9, 80(sp)
    ld      s10, 88(sp)
    ld      s11, 96(sp)
    addi    sp, sp, 112
    ret

/* A lower-mode function returns here: hand a0 back to M. */
    .globl  lower_return
lower_return:
    li      a7, MAGIC_RET
    .globl  lower_return_ecall
lower_return_ecall:
    ecall
1:  j       1b

/* ---- S-mode trap entry (stvec): sscratch holds the S trap stack top. */
    .align  2
    .globl  s_trap_entry
s_trap_entry:
    csrrw   sp, sscratch, sp
    addi    sp, sp, -FRAME
    .irp r, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    sd      x\r, (\r * 8)(sp)
    .endr
    csrr    t0, sscratch
    sd      t0, (2 * 8)(sp)
    csrw    sscratch, sp
    csrr    t0, sepc
    sd      t0, (32 * 8)(sp)
    csrr    t0, sstatus
    sd      t0, (33 * 8)(sp)
    csrr    t0, scause
    sd      t0, (34 * 8)(sp)
    csrr    t0, stval
    sd      t0, (35 * 8)(sp)
    mv      a0, sp
    call    s_trap
    bnez    a0, s_pass_up
    ld      t0, (32 * 8)(sp)
    csrw    sepc, t0
    ld      t0, (33 * 8)(sp)
    csrw    sstatus, t0
    addi    t0, sp, FRAME
    csrw    sscratch, t0
    .irp r, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    ld      x\r, (\r * 8)(sp)
    .endr
    ld      sp, (2 * 8)(sp)
    sret
/* U made the MAGIC_RET ecall and it was delegated to S: pass it to M. */
s_pass_up:
    ld      a0, (10 * 8)(sp)
    li      a7, MAGIC_RET
    ecall
1:  j       1b

/* ---- probes: one 4-byte instruction that may fault; a handler in
 * skip mode resumes at the next one. */
    .text
    .globl  probe_ld, probe_lw, probe_lbu, probe_sd, probe_sb, probe_fetch
    .globl  probe_amoadd_d, probe_amoadd_w, probe_lr_d, probe_sc_d
probe_ld:       ld      a0, 0(a0)
                ret
probe_lw:       lw      a0, 0(a0)
                ret
probe_lbu:      lbu     a0, 0(a0)
                ret
probe_sd:       sd      a1, 0(a0)
                ret
probe_sb:       sb      a1, 0(a0)
                ret
probe_amoadd_d: amoadd.d a0, a1, (a0)
                ret
probe_amoadd_w: amoadd.w a0, a1, (a0)
                ret
probe_lr_d:     lr.d    a0, (a0)
                ret
probe_sc_d:     sc.d    a0, a1, (a0)
                ret
/* uint64_t probe_fetch(uint64_t target, uint64_t a1): call target; a
 * fetch fault there returns (in RA mode) to the instruction after the call,
 * with a0 unchanged. */
probe_fetch:    addi    sp, sp, -16
                sd      ra, 0(sp)
                jalr    ra, 0(a0)
                ld      ra, 0(sp)
                addi    sp, sp, 16
                ret

/* Page-aligned code for the VM tests: pages_ret42 returns 42. */
    .section .pagecode, "ax"
    .globl  pages_ret42
pages_ret42:
    li      a0, 42
    ret
    .balign 4096
    .globl  pages_ret43
pages_ret43:
    li      a0, 43
    ret
    .balign 4096

/* HTIF mailbox. */
    .section .tohost, "aw", @progbits
    .balign 64
    .globl  tohost
tohost: .dword 0
    .size   tohost, 8
    .balign 64
    .globl  fromhost
fromhost: .dword 0
    .size   fromhost, 8
    .balign 64

    .section .pages, "aw", @nobits
    .balign 4096
    .space  16384
    .globl  m_stack_top
m_stack_top:
    .space  8192
    .globl  m_trap_stack_top
m_trap_stack_top:
    .space  8192
    .globl  s_trap_stack_top
s_trap_stack_top:
    .space  8192
    .globl  lower_stack_top
lower_stack_top:
    .balign 4096
sec_stacks:
    .space  16384 * MAX_HARTS
    .bss
    .balign 8
    .globl  m_resume_sp
m_resume_sp: .dword 0

/* uint64_t mprv_ld(uint64_t addr, uint64_t mstatus_bits): set the bits
 * (MPRV, MPP, SUM, MXR), load, clear MPRV and MPP again; no stack access in
 * between. */
    .text
    .option norvc
    .globl  mprv_ld, mprv_sd
mprv_ld:
    csrs    mstatus, a1
    ld      a0, 0(a0)
    li      t0, (1 << 17) | (3 << 11)
    csrc    mstatus, t0
    ret
/* void mprv_sd(uint64_t addr, uint64_t mstatus_bits): store addr at addr */
mprv_sd:
    csrs    mstatus, a1
    sd      a0, 0(a0)
    li      t0, (1 << 17) | (3 << 11)
    csrc    mstatus, t0
    ret

/* Vectored-mode trap tables for swi.c: vec_exc takes only exceptions
 * (entry 0), vec_irq only MSI and MTI (entries 3 and 7), SSI (entry 1). */
    .text
    .option norvc
    .balign 256
    .globl  vec_exc, vec_irq
vec_exc:
    j       m_trap_entry
    .rept   15
    j       vec_wrong
    .endr
    .balign 256
vec_irq:
    j       vec_wrong
    j       m_trap_entry        /* 1 SSI */
    j       vec_wrong
    j       m_trap_entry        /* 3 MSI */
    j       vec_wrong
    j       vec_wrong
    j       vec_wrong
    j       m_trap_entry        /* 7 MTI */
    .rept   8
    j       vec_wrong
    .endr
vec_wrong:
    csrr    a0, mcause
    call    vec_wrong_entry
1:  j       1b
