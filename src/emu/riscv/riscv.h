/* emu/riscv: the RV64GC hart (interpreter with a decoded-block cache).
 *
 * This header is the contract between the CPU core and its two users:
 *   - user mode (emu/riscv/user/, `vessel exec`): one hart per guest thread,
 *     guest virtual address == host address - guest_base (flat, like QEMU's
 *     guest_base), ecall returns to the caller as RV_EXIT_ECALL;
 *   - system mode (board, `vessel run`): M/S/U privilege, Sv39/Sv48 MMU,
 *     interrupts, MMIO through the shared bus, SBI through a hook.
 *
 * Memory access: every load/store/fetch goes through a small inline TLB fast
 * path (virtual page -> host addend); a miss calls the mode's slow path
 * (rv_mem_ops), which walks page tables (system) or checks the flat range
 * (user), fills the TLB, or reports a fault / MMIO.
 *
 * STATUS: interface sketch; the CPU owner refines it. Keep it the one header
 * other modules include. */
#ifndef VESSEL_RISCV_H
#define VESSEL_RISCV_H

#include <stdbool.h>
#include <stdint.h>

struct rv_hart;
struct rv_machine;

/* Why rv_run() returned. */
enum rv_exit {
    RV_EXIT_NONE = 0,
    RV_EXIT_ECALL,        /* user mode: ecall; a7 = syscall number; pc is at the ecall */
    RV_EXIT_EBREAK,       /* user mode: ebreak (SIGTRAP) */
    RV_EXIT_FAULT,        /* user mode: exception (cause/tval in hart->exc) */
    RV_EXIT_BUDGET,       /* instruction budget ran out (or rv_kick() was called) */
    RV_EXIT_HALT,         /* system: hart stopped (HSM stop, power-off, tohost) */
    RV_EXIT_WFI,          /* system: wfi with nothing pending (the caller parks) */
};

/* Exception causes (mcause values, privileged spec table 3.6). */
enum rv_cause {
    RV_EXC_INSN_MISALIGNED = 0, RV_EXC_INSN_ACCESS = 1, RV_EXC_ILLEGAL = 2,
    RV_EXC_BREAKPOINT = 3, RV_EXC_LOAD_MISALIGNED = 4, RV_EXC_LOAD_ACCESS = 5,
    RV_EXC_STORE_MISALIGNED = 6, RV_EXC_STORE_ACCESS = 7, RV_EXC_ECALL_U = 8,
    RV_EXC_ECALL_S = 9, RV_EXC_ECALL_M = 11, RV_EXC_INSN_PAGE = 12,
    RV_EXC_LOAD_PAGE = 13, RV_EXC_STORE_PAGE = 15,
};

/* Interrupt bits in mip/mie. */
enum {
    RV_IRQ_SSI = 1, RV_IRQ_MSI = 3, RV_IRQ_STI = 5, RV_IRQ_MTI = 7,
    RV_IRQ_SEI = 9, RV_IRQ_MEI = 11,
};

enum rv_access { RV_ACC_READ, RV_ACC_WRITE, RV_ACC_EXEC };

/* Mode hooks: the engine-specific half of memory access.
 * fill_tlb: translate vaddr for `acc`; on success set *host_addend so that
 *   host = vaddr + addend for the whole page and return 0; return 1 for MMIO
 *   (then *paddr holds the physical address, and the core calls mmio); or
 *   return -cause for an exception. */
struct rv_mem_ops {
    int (*fill_tlb)(struct rv_hart *h, uint64_t vaddr, enum rv_access acc,
                    uintptr_t *host_addend, uint64_t *paddr);
    uint64_t (*mmio_read)(struct rv_hart *h, uint64_t paddr, unsigned size);
    void (*mmio_write)(struct rv_hart *h, uint64_t paddr, uint64_t val, unsigned size);
};

/* System-mode hooks provided by the board. */
struct rv_sys_ops {
    /* ecall from S-mode with the built-in SBI: handle a0..a7, return true
     * if handled (the core advances pc), false to trap to M-mode. */
    bool (*sbi_call)(struct rv_hart *h);
    uint64_t (*read_time)(struct rv_hart *h);       /* mtime, 10 MHz */
    void (*wfi)(struct rv_hart *h);                 /* park until rv_irq_pending() */
};

/* Lifecycle. */
struct rv_hart *rv_hart_new(struct rv_machine *m, unsigned hartid);
void rv_hart_free(struct rv_hart *h);
void rv_hart_reset(struct rv_hart *h, uint64_t pc);

/* Register access (for loaders, syscalls, signal frames, the gdb stub). */
uint64_t rv_get_x(const struct rv_hart *h, unsigned r);
void rv_set_x(struct rv_hart *h, unsigned r, uint64_t v);
uint64_t rv_get_f(const struct rv_hart *h, unsigned r);
void rv_set_f(struct rv_hart *h, unsigned r, uint64_t v);
uint64_t rv_get_pc(const struct rv_hart *h);
void rv_set_pc(struct rv_hart *h, uint64_t pc);
int rv_csr_read(struct rv_hart *h, unsigned csr, uint64_t *val);   /* 0 or -1 */
int rv_csr_write(struct rv_hart *h, unsigned csr, uint64_t val);

/* Run until an exit; `budget` instructions at most (0 = no limit). */
enum rv_exit rv_run(struct rv_hart *h, uint64_t budget);
/* From another thread: make rv_run return soon with RV_EXIT_BUDGET. */
void rv_kick(struct rv_hart *h);

/* Interrupts (system mode). Thread-safe: devices call these from any thread. */
void rv_set_irq(struct rv_hart *h, unsigned bit, bool level);
bool rv_irq_pending(struct rv_hart *h);

/* Code cache: drop decoded blocks overlapping [addr, addr+len) (guest
 * physical in system mode, guest virtual in user mode), e.g. after mmap,
 * munmap, mprotect or a write by a device. */
void rv_invalidate_code(struct rv_machine *m, uint64_t addr, uint64_t len);
void rv_flush_tlb(struct rv_hart *h);

#endif
