/* riscv-sys: the runtime shared by the bare-metal system test programs.
 *
 * Every program runs in M-mode from _start (crt.S) with no firmware, on
 * QEMU's virt or spike machine or `vessel run`, and reports through the
 * HTIF tohost word: 1 = pass, (code << 1) | 1 = fail with code. Diagnostics
 * go to the NS16550 UART at 0x10000000 when there is one (virt, vessel), else
 * to the HTIF console (spike).
 *
 * Traps: both handlers (M: m_trap, S: s_trap) record every trap in `trap`
 * (or `irq` for interrupts) and then do what `trap_mode` says: fail the
 * test (the default: an unexpected trap), skip the 4-byte instruction at epc
 * (probes), or return to ra (fetch probes). Interrupts call `irq_hook`,
 * which must clear the source. */
#ifndef RISCV_SYS_H
#define RISCV_SYS_H

#include <stdint.h>
#include <stdbool.h>

#define CSR_READ(c) ({ uint64_t v_; __asm__ volatile("csrr %0, " #c : "=r"(v_) :: "memory"); v_; })
#define CSR_WRITE(c, v) __asm__ volatile("csrw " #c ", %0" :: "r"((uint64_t)(v)) : "memory")
#define CSR_SET(c, v) __asm__ volatile("csrs " #c ", %0" :: "r"((uint64_t)(v)) : "memory")
#define CSR_CLEAR(c, v) __asm__ volatile("csrc " #c ", %0" :: "r"((uint64_t)(v)) : "memory")
#define CSR_SWAP(c, v) ({ uint64_t v_; __asm__ volatile("csrrw %0, " #c ", %1" : "=r"(v_) : "r"((uint64_t)(v)) : "memory"); v_; })

/* mstatus */
#define MS_SIE   (1ull << 1)
#define MS_MIE   (1ull << 3)
#define MS_SPIE  (1ull << 5)
#define MS_UBE   (1ull << 6)
#define MS_MPIE  (1ull << 7)
#define MS_SPP   (1ull << 8)
#define MS_VS    (3ull << 9)
#define MS_MPP   (3ull << 11)
#define MS_FS    (3ull << 13)
#define MS_XS    (3ull << 15)
#define MS_MPRV  (1ull << 17)
#define MS_SUM   (1ull << 18)
#define MS_MXR   (1ull << 19)
#define MS_TVM   (1ull << 20)
#define MS_TW    (1ull << 21)
#define MS_TSR   (1ull << 22)
#define MS_UXL   (3ull << 32)
#define MS_SXL   (3ull << 34)
#define MS_SBE   (1ull << 36)
#define MS_MBE   (1ull << 37)
#define MS_SD    (1ull << 63)
#define MPP_SHIFT 11
#define FS_SHIFT 13

#define PRIV_U 0
#define PRIV_S 1
#define PRIV_M 3

/* causes */
#define EXC_INSN_MISALIGNED 0
#define EXC_INSN_ACCESS     1
#define EXC_ILLEGAL         2
#define EXC_BREAKPOINT      3
#define EXC_LOAD_MISALIGNED 4
#define EXC_LOAD_ACCESS     5
#define EXC_STORE_MISALIGNED 6
#define EXC_STORE_ACCESS    7
#define EXC_ECALL_U         8
#define EXC_ECALL_S         9
#define EXC_ECALL_M         11
#define EXC_INSN_PAGE       12
#define EXC_LOAD_PAGE       13
#define EXC_STORE_PAGE      15
#define CAUSE_IRQ (1ull << 63)
#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define IRQ_MEI 11

/* memory map (QEMU virt; spike shares RAM and the CLINT) */
#define RAM_BASE    0x80000000ull
#define CLINT_BASE  0x2000000ull
#define CLINT_MSIP  (CLINT_BASE + 0x0)
#define CLINT_MTIMECMP (CLINT_BASE + 0x4000)
#define CLINT_MTIME (CLINT_BASE + 0xbff8)
#define UART_BASE   0x10000000ull
#define SIFIVE_TEST 0x100000ull     /* QEMU virt: exit device */
/* physical addresses with nothing behind them on virt, spike and vessel */
#define UNMAPPED_PA  0x00010000ull
#define UNMAPPED_PA2 0x00080000ull

#define MAGIC_RET 0x7e7e

struct frame {
    uint64_t x[32];     /* x[0] unused; x[2] is the interrupted sp */
    uint64_t epc, status, cause, tval;
};
#define REG_RA 1
#define REG_A0 10
#define REG_A1 11
#define REG_A7 17

enum trap_mode { TRAP_FAIL, TRAP_SKIP, TRAP_RA };
struct trap_rec {
    uint64_t count;         /* exceptions taken since trap_expect() */
    uint64_t cause, tval, epc, status;
    int level;              /* PRIV_M or PRIV_S: the mode that took it */
};
extern volatile struct trap_rec trap;       /* last exception */
extern volatile struct trap_rec irq;        /* last interrupt */
extern volatile int trap_mode;
extern void (*volatile irq_hook)(uint64_t cause, int level);
/* Optional: an exception hook that may handle the trap itself (return true). */
extern bool (*volatile exc_hook)(struct frame *f, int level);

static inline void trap_expect(int mode) { trap.count = 0; trap.cause = ~0ull; trap.tval = ~0ull; trap.epc = ~0ull; trap_mode = mode; }
static inline void trap_done(void) { trap_mode = TRAP_FAIL; }

/* crt.S */
uint64_t probe_ld(uint64_t a);
uint64_t probe_lw(uint64_t a);
uint64_t probe_lbu(uint64_t a);
void probe_sd(uint64_t a, uint64_t v);
void probe_sb(uint64_t a, uint64_t v);
uint64_t probe_amoadd_d(uint64_t a, uint64_t v);
uint64_t probe_amoadd_w(uint64_t a, uint64_t v);
uint64_t probe_lr_d(uint64_t a);
uint64_t probe_sc_d(uint64_t a, uint64_t v);
uint64_t probe_fetch(uint64_t target, uint64_t a1);
uint64_t mprv_ld(uint64_t a, uint64_t mstatus_bits);
void mprv_sd(uint64_t a, uint64_t mstatus_bits);
uint64_t enter_lower(uint64_t fn, uint64_t arg, int priv, uint64_t sp, uint64_t ret_pc);
void lower_return(void), lower_return_ecall(void);
void m_trap_entry(void), s_trap_entry(void);
void pages_ret42(void), pages_ret43(void);
void vec_exc(void), vec_irq(void);
extern char m_stack_top[], lower_stack_top[], s_trap_stack_top[];
extern char __image_end[];

/* Run fn(arg) in priv (PRIV_S or PRIV_U) and return its result. The mode
 * returns through lower_return (an ecall). `off` is added to fn, the stack
 * and the return address (an alias mapping of the image, 0 for none).
 * mstatus.MPIE etc. are whatever the caller set. */
static inline uint64_t run_in(int priv, const void *fn, uint64_t arg, uint64_t off)
{
    return enter_lower((uint64_t)fn + off, arg, priv, (uint64_t)lower_stack_top + off,
                       (uint64_t)lower_return + off);
}
/* From S or U: return v to M at once (as if fn returned). */
static inline void lower_exit(uint64_t v)
{
    register uint64_t a0 __asm__("a0") = v;
    register uint64_t a7 __asm__("a7") = MAGIC_RET;
    __asm__ volatile("ecall" :: "r"(a0), "r"(a7) : "memory");
    for (;;) ;
}

/* The address of an instruction and the instruction itself (4-byte
 * encodings unless spelled with .2byte): AT(".word 0x00000077"). */
#define AT(insn) ({ uint64_t pc_; __asm__ volatile(".option push\n.option norvc\n" \
    "lla %0, 1f\n1: " insn "\n.option pop" : "=&r"(pc_) :: "memory"); pc_; })

/* output, results */
void puts_(const char *s);
void putx(uint64_t v);
void putd(uint64_t v);
void printf_(const char *fmt, ...);
extern bool have_uart;
extern unsigned checks;
void check_fail(int line, const char *what, uint64_t got, uint64_t exp) __attribute__((noreturn));
void rt_exit(int code) __attribute__((noreturn));
/* harts 1..3 run this (on their own stacks, M-mode, MIE = 0) once hart 0
 * writes their MSIP; the default returns at once and parks the hart */
void secondary_main(unsigned hartid);

#define CHECK(c) do { checks++; if (!(c)) check_fail(__LINE__, #c, 0, 0); } while (0)
#define CHECK_EQ(a, b) do { uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b); checks++; \
    if (a_ != b_) check_fail(__LINE__, #a " == " #b, a_, b_); } while (0)
/* expect one exception of `cause` with tval `tv` taken at level `lvl` */
#define CHECK_TRAP(cause_, tv_, lvl_) do { CHECK_EQ(trap.count, 1); CHECK_EQ(trap.cause, cause_); \
    CHECK_EQ(trap.tval, tv_); CHECK_EQ(trap.level, lvl_); } while (0)

static inline uint64_t mmio_read64(uint64_t a) { return *(volatile uint64_t *)a; }
static inline void mmio_write64(uint64_t a, uint64_t v) { *(volatile uint64_t *)a = v; }
static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint64_t mtime(void) { return mmio_read64(CLINT_MTIME); }
static inline void set_mtimecmp(uint64_t v) { mmio_write64(CLINT_MTIMECMP, v); }
static inline uint64_t rdtime(void) { return CSR_READ(time); }

/* ---- page tables (pt.c) ---- */
#define PTE_V (1ull << 0)
#define PTE_R (1ull << 1)
#define PTE_W (1ull << 2)
#define PTE_X (1ull << 3)
#define PTE_U (1ull << 4)
#define PTE_G (1ull << 5)
#define PTE_A (1ull << 6)
#define PTE_D (1ull << 7)
#define PTE_RWXAD (PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define SATP_SV39 (8ull << 60)
#define SATP_SV48 (9ull << 60)
#define PAGE 4096ull
/* levels 3 (Sv39) or 4 (Sv48); resets the pool */
void pt_init(int levels);
/* map one leaf at `level` (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB, 3 = 512 GiB) */
void pt_map(uint64_t va, uint64_t pa, int level, uint64_t flags);
/* the PTE that maps va at `level` (tables are created as needed) */
volatile uint64_t *pt_pte(uint64_t va, int level);
uint64_t pt_satp(void);
/* a zeroed 4 KiB data page from the pool */
void *pt_page(void);
static inline void sfence_all(void) { __asm__ volatile("sfence.vma" ::: "memory"); }
static inline void sfence_va(uint64_t va) { __asm__ volatile("sfence.vma %0, zero" :: "r"(va) : "memory"); }

#endif
