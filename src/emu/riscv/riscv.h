/* emu/riscv: the RV64GC hart (interpreter with a decoded-block cache).
 *
 * This header is the contract between the CPU core and its two users:
 *   - user mode (emu/riscv/user/, `vessel exec`): one hart per guest thread,
 *     guest virtual address == host address - guest_base (flat, like QEMU's
 *     guest_base), ecall returns to the caller as RV_EXIT_ECALL;
 *   - system mode (emu/riscv/virt/, `vessel run`): M/S/U privilege, Sv39/Sv48
 *     MMU with A/D bits, interrupts, MMIO through the shared bus, the
 *     built-in SBI through a hook.
 *
 * Memory access: every load/store/fetch goes through a small inline TLB fast
 * path (virtual page -> host addend); a miss calls the slow path, which
 * checks the flat range through rv_mem_ops (user) or walks the page tables
 * and looks up guest RAM / the bus (system), fills the TLB, or raises the
 * fault.
 *
 * Code cache: each hart decodes into its own cache of blocks keyed by the
 * physical pc (user mode: the virtual pc); a store to a page holding decoded
 * code, fence.i and rv_invalidate_code() drop the blocks concerned.
 * Misaligned loads and stores are carried out (as Linux does for user code);
 * misaligned AMOs and LR/SC fault. */
#ifndef VESSEL_RISCV_H
#define VESSEL_RISCV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rv_hart;
struct rv_machine;
struct guest_mem;
struct bus;

/* Why rv_run() returned. */
enum rv_exit {
    RV_EXIT_NONE = 0,
    RV_EXIT_ECALL,        /* user mode: ecall; a7 = syscall number; pc is at the ecall */
    RV_EXIT_EBREAK,       /* user mode: ebreak (SIGTRAP); pc at the ebreak */
    RV_EXIT_FAULT,        /* user mode: exception (rv_hart_exception); pc at the insn */
    RV_EXIT_BUDGET,       /* instruction budget ran out, or rv_kick() was called */
    RV_EXIT_HALT,         /* system: rv_hart_halt() was called (HSM stop, power-off, tohost) */
    RV_EXIT_WFI,          /* system: wfi with no interrupt pending: call rv_hart_wait() */
    RV_EXIT_DEBUG,        /* a breakpoint (rv_debug_breakpoint) was reached; pc at it */
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

enum rv_priv { RV_PRIV_U = 0, RV_PRIV_S = 1, RV_PRIV_M = 3 };

enum rv_access { RV_ACC_READ, RV_ACC_WRITE, RV_ACC_EXEC };

/* ---------------- user mode ----------------
 * fill_tlb: check vaddr for `acc`; on success set *host_addend so that
 *   host = vaddr + addend for the whole 4 KiB page and return 0; or return
 *   -cause for an exception (the core reports RV_EXIT_FAULT). */
struct rv_mem_ops {
    int (*fill_tlb)(struct rv_hart *h, uint64_t vaddr, enum rv_access acc,
                    uintptr_t *host_addend, uint64_t *paddr);
    void *opaque;       /* the user-mode process, for rv_machine_opaque() */
    /* Direct access (QEMU linux-user's guest_base): when direct_base is
     * set, guest address va < direct_size lives at host direct_base + va,
     * whose host protection is never wider than the guest's, and the
     * translator reads and writes it there; a host fault there must reach
     * rv_jit_host_fault. code_page(opaque, va) is called whenever a block
     * is decoded from the page at va: a store to it must then fault on the
     * host (self-modifying code), and fill_tlb for a write to it must make
     * it writable again. NULL direct_base: every access checks the TLB. */
    uint8_t *direct_base;
    uint64_t direct_size;
    void (*code_page)(void *opaque, uint64_t va);
};
/* A host SIGSEGV/SIGBUS on the thread running h, ucontext uc: when it was
 * a direct access of translated code, point the context at that access's
 * slow path (which raises the guest's exception exactly) and return true;
 * false: not translated code's (the caller handles it). Signal-safe. */
bool rv_jit_host_fault(struct rv_hart *h, void *uc);
/* A user-mode machine: U-mode only, no MMU, every access checked through
 * ops->fill_tlb; rv_invalidate_code callable from any thread. */
struct rv_machine *rv_machine_new_user(const struct rv_mem_ops *ops);
/* cause/tval of the last RV_EXIT_FAULT. */
void rv_hart_exception(const struct rv_hart *h, uint64_t *cause, uint64_t *tval);

/* ---------------- system mode ---------------- */
struct rv_sys_ops {
    /* ecall from S-mode when the built-in SBI is in use: handle a0..a7
     * (set a0/a1 with rv_set_x) and return true (the core advances pc), or
     * false to take the ecall trap as usual. NULL: ecalls always trap. */
    bool (*sbi_call)(struct rv_hart *h);
    /* A store of `val` to the tohost address (HTIF); the hart's run goes on
     * unless the callback calls rv_hart_halt(). */
    void (*tohost)(struct rv_hart *h, uint64_t val);
};
struct rv_sys_config {
    struct guest_mem *mem;     /* RAM: fetch, loads, stores, page-table walks */
    struct bus *bus;           /* everything else: MMIO (no-device reads give 0, writes ignored: access fault) */
    const struct rv_sys_ops *ops;
    void *opaque;              /* the board, for rv_machine_opaque() */
    unsigned nharts;
    uint64_t tohost_addr;      /* physical address of `tohost`, 0 = none */
    bool sv48;                 /* allow satp mode Sv48 besides Sv39 */
};
struct rv_machine *rv_machine_new_sys(const struct rv_sys_config *cfg);
void *rv_machine_opaque(const struct rv_machine *m);
void rv_machine_free(struct rv_machine *m);   /* after every hart is freed */
/* The 10 MHz machine timer (mtime) and the time CSR, from the host's
 * monotonic clock: since the machine started (system), or as the host's
 * own counter (user mode, as rdtime is under Linux). */
#define RV_TIMEBASE_HZ 10000000ULL
uint64_t rv_machine_time(const struct rv_machine *m);
/* Replace the machine's time source (the time CSR, mtime, the timer
 * compares) by now(opaque), in RV_TIMEBASE_HZ ticks: a deterministic
 * clock for runs that must repeat exactly (the differential fuzzer).
 * NULL restores the host clock. Set it before any hart runs. */
void rv_machine_set_clock(struct rv_machine *m, uint64_t (*now)(void *opaque), void *opaque);
/* Stop the timer (a paused machine: time and the timer interrupts stand
 * still) and start it again from where it stopped, as QEMU's virtual clock
 * does; so a guest sees no jump across a pause. Call with the harts
 * parked (not thread-safe against each other). */
void rv_machine_clock_stop(struct rv_machine *m);
void rv_machine_clock_start(struct rv_machine *m);

struct rv_machine *rv_hart_machine(const struct rv_hart *h);
unsigned rv_hart_id(const struct rv_hart *h);
enum rv_priv rv_get_priv(const struct rv_hart *h);
void rv_set_priv(struct rv_hart *h, enum rv_priv p);
/* Enter S-mode at pc with a0/a1 set, as firmware would hand over to a
 * kernel: S-level interrupts and exceptions delegated, counters enabled
 * for S and U, Sstc on (menvcfg.STCE), MMU off. For the built-in SBI. */
void rv_hart_boot_supervisor(struct rv_hart *h, uint64_t pc, uint64_t a0, uint64_t a1);
/* ACLINT mtimer compare register of this hart (MTIP = time >= mtimecmp).
 * Thread-safe; a write wakes the hart if it waits. */
void rv_set_mtimecmp(struct rv_hart *h, uint64_t v);
uint64_t rv_get_mtimecmp(const struct rv_hart *h);
/* Make rv_run return RV_EXIT_HALT at the next instruction boundary
 * (thread-safe). rv_run on a halted hart returns RV_EXIT_HALT at once until
 * rv_hart_resume(). */
void rv_hart_halt(struct rv_hart *h);
void rv_hart_resume(struct rv_hart *h);
bool rv_hart_halted(const struct rv_hart *h);
/* Block the calling (hart) thread until an enabled interrupt is pending, a
 * timer deadline passes, or rv_kick(); returns at once if one is pending.
 * This is what makes an idle guest cost no host CPU. */
void rv_hart_wait(struct rv_hart *h);
/* Before an idle wait (wfi, a stopped hart), from the hart's own thread
 * and outside rv_run: give the translation caches back to the host when
 * they have grown (at most once a second), and on a mostly idle hart go
 * small: a 128 KiB decoded-block cache, nothing translated, until it is
 * busy again (see cache.c). True when this call made it small. */
bool rv_hart_trim(struct rv_hart *h);
/* Guest-virtual memory through the hart's current translation (as in
 * S-mode with SUM for the gdb stub and SBI): bytes copied, or -1. */
int rv_virt_read(struct rv_hart *h, uint64_t vaddr, void *buf, size_t len);
int rv_virt_write(struct rv_hart *h, uint64_t vaddr, const void *buf, size_t len);

/* ---------------- common ---------------- */
struct rv_hart *rv_hart_new(struct rv_machine *m, unsigned hartid);
void rv_hart_free(struct rv_hart *h);
/* Reset: x0..x31 = 0, pc, M-mode (system) or U-mode (user), CSRs reset. */
void rv_hart_reset(struct rv_hart *h, uint64_t pc);

/* Register access (for loaders, syscalls, signal frames, SBI, the gdb stub). */
uint64_t rv_get_x(const struct rv_hart *h, unsigned r);
void rv_set_x(struct rv_hart *h, unsigned r, uint64_t v);
uint64_t rv_get_f(const struct rv_hart *h, unsigned r);
void rv_set_f(struct rv_hart *h, unsigned r, uint64_t v);
uint64_t rv_get_pc(const struct rv_hart *h);
void rv_set_pc(struct rv_hart *h, uint64_t pc);
/* Any CSR by number, without privilege checks (debugger, SBI, loaders):
 * 0, or -1 if the CSR does not exist. */
int rv_csr_read(struct rv_hart *h, unsigned csr, uint64_t *val);
int rv_csr_write(struct rv_hart *h, unsigned csr, uint64_t val);

/* Run until an exit; `budget` instructions at most (0 = no limit). */
enum rv_exit rv_run(struct rv_hart *h, uint64_t budget);
/* From another thread or a signal handler: make rv_run return soon with
 * RV_EXIT_BUDGET (and rv_hart_wait return). */
void rv_kick(struct rv_hart *h);
/* Instructions retired by this hart (minstret). */
uint64_t rv_instret(const struct rv_hart *h);

/* Interrupts (system mode). Thread-safe: devices call this from any
 * thread; it wakes the hart. For MEI/SEI/MSI/MTI lines driven by devices
 * (SSIP can also be set this way, for SBI IPIs). */
void rv_set_irq(struct rv_hart *h, unsigned bit, bool level);
bool rv_irq_pending(struct rv_hart *h);

/* Code cache: drop decoded blocks overlapping [addr, addr+len) (guest
 * physical in system mode, guest virtual in user mode) on every hart, e.g.
 * after mmap, munmap, mprotect or a write by a device. Any thread. */
void rv_invalidate_code(struct rv_machine *m, uint64_t addr, uint64_t len);
/* Drop the hart's TLB (any thread: takes effect before its next access). */
void rv_flush_tlb(struct rv_hart *h);
/* fence.i on hart h before its next block (an SBI remote fence.i) */
void rv_remote_fence_i(struct rv_hart *h);
/* Dirty logging (system mode, mem_dirty_enable on): a store marks its
 * page on the slow path, which then fills the write TLB entry, so the
 * page's later stores take the fast path unmarked. The sync: region's
 * pages marked since the last sync ORed into bitmap and cleared (as
 * mem_dirty_collect, whose count it returns), and every hart's write TLB
 * dropped before it runs again, so the first store to each page after the
 * sync marks it again. Call with no hart in rv_run (parked, or in
 * rv_hart_wait): no store through an entry made before is then half done. */
uint64_t rv_dirty_log_sync(struct rv_machine *m, unsigned region, uint64_t *bitmap);

/* ---- snapshot (system mode) ----
 * A hart's whole architectural state as plain data: registers, FP state,
 * privilege, every CSR (the counters as the guest sees them), the timer
 * compares, the pending-interrupt bits and whether it is halted. Save and
 * load with the hart parked (not in rv_run). Load writes the CSRs as a
 * privileged write would and refuses (-EINVAL) a state that does not
 * round-trip (an impossible privilege, satp mode, mstatus, odd pc); it
 * drops the LR/SC reservation and makes the hart flush its TLB and decoded
 * code before it runs again. */
struct rv_hart_state {
    uint64_t x[32], f[32], pc;
    uint32_t fflags, frm, priv, halted;
    uint64_t mstatus, medeleg, mideleg, mie, mip, mtvec, mscratch, mepc, mcause, mtval;
    uint64_t mcounteren, scounteren, menvcfg, senvcfg, mcountinhibit;
    uint64_t stvec, sscratch, sepc, scause, stval, satp, stimecmp, mtimecmp;
    uint64_t mcycle, minstret;
    uint64_t pmpcfg[16], pmpaddr[64];
    uint64_t tdata1[4], tdata2[4];      /* Sdtrig triggers */
    uint64_t tselect;
};
void rv_hart_save(struct rv_hart *h, struct rv_hart_state *st);
int rv_hart_load(struct rv_hart *h, const struct rv_hart_state *st);
/* The guest clock in ns since the machine started (frozen while stopped),
 * and setting it: a stopped clock stays stopped at `ns`, a running one
 * goes on from `ns`. Call with the harts parked. */
uint64_t rv_machine_clock_ns(const struct rv_machine *m);
void rv_machine_clock_set_ns(struct rv_machine *m, uint64_t ns);

/* Debugging: breakpoints on virtual pcs shared by every hart (up to 64);
 * rv_run returns RV_EXIT_DEBUG before executing one. rv_run(h, 1) steps. */
int rv_debug_breakpoint(struct rv_machine *m, uint64_t pc, bool set);
/* Watchpoints on guest virtual addresses [addr, addr + len), shared by
 * every hart (up to 16): rv_run returns RV_EXIT_DEBUG before the access,
 * pc at its instruction; rv_debug_watch_take then gives (once) the address
 * and the kind of the watchpoint hit. They are the debugger's: the guest's
 * own Sdtrig triggers are separate. */
#define RV_MAX_WP 16
enum { RV_WATCH_WRITE = 1, RV_WATCH_READ = 2, RV_WATCH_ACCESS = 3 };
int rv_debug_watchpoint(struct rv_machine *m, uint64_t addr, uint64_t len, unsigned kind, bool set);
bool rv_debug_watch_take(struct rv_hart *h, uint64_t *addr, unsigned *kind);

#endif
