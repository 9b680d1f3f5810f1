/* Sv39 (LEVELS=3) or Sv48 (LEVELS=4) page walks: 4 KiB pages, 2 MiB
 * megapages, 1 GiB gigapages (and 512 GiB terapages in Sv48), misaligned
 * superpages, non-canonical addresses, invalid and reserved PTEs, R/W/X/U
 * permissions from S and from U, SUM and MXR, hardware A/D updates,
 * sfence.vma after remapping, instruction/load/store page faults with
 * their tval taken in M and delegated to S, and M-mode loads and stores
 * through mstatus.MPRV with MPP. */
#include "sys.h"

#ifndef LEVELS
#error LEVELS must be 3 (Sv39) or 4 (Sv48)
#endif
#if LEVELS == 3
const char test_name[] = "sv39";
#define SATP_MODE SATP_SV39
#else
const char test_name[] = "sv48";
#define SATP_MODE SATP_SV48
#endif

#define ALIAS    0x1080000000ull          /* U alias of the image (VPN2 66) */
#define ALIAS_OFF (ALIAS - RAM_BASE)
#define TVA      0x2000000000ull          /* 4 KiB test pages */
#define MVA      0x2040000000ull          /* 2 MiB megapages */
#define GVA      0x2100000000ull          /* 1 GiB gigapages */
#define TERA     (1ull << 39)             /* Sv48: a 512 GiB page (VPN3 1) */

enum { LD, ST, EX };
static volatile uint64_t marker = 0x5a5a1234c3c3abcdull;
static uint64_t *p1, *p2;                 /* data pages */
static int deleg;                         /* page faults delegated to S */

static uint64_t pa_of(const volatile void *p) { return (uint64_t)p; }

static void set_pte(uint64_t va, int level, uint64_t pte)
{
    *pt_pte(va, level) = pte;
    sfence_all();
}
static uint64_t leaf(uint64_t pa, uint64_t flags) { return ((pa >> 12) << 10) | flags; }

static void setup(void)
{
    unsigned i;
    pt_init(LEVELS);
    pt_map(0, 0, 2, PTE_R | PTE_W | PTE_A | PTE_D);                  /* MMIO */
    pt_map(RAM_BASE, RAM_BASE, 2, PTE_RWXAD | PTE_G);                /* the image, S */
    pt_map(ALIAS, RAM_BASE, 2, PTE_RWXAD | PTE_U);                   /* the image, U */
    p1 = pt_page();
    p2 = pt_page();
    for (i = 0; i < 512; i++) { p1[i] = 0x1111000000000000ull | i; p2[i] = 0x2222000000000000ull | i; }
    CSR_WRITE(stvec, (uint64_t)s_trap_entry);
    CSR_WRITE(satp, pt_satp());
    CHECK_EQ(CSR_READ(satp), pt_satp());                           /* the mode is supported */
    sfence_all();
}

/* one access by S or U at va; returns the value loaded / fetched */
static uint64_t access(int priv, int kind, uint64_t va, bool *faulted, uint64_t *cause, uint64_t *tval)
{
    uint64_t off = priv == PRIV_U ? ALIAS_OFF : 0, r;
    trap_expect(kind == EX ? TRAP_RA : TRAP_SKIP);
    switch (kind) {
    case LD: r = run_in(priv, probe_ld, va, off); break;
    case ST: r = run_in(priv, (const void *)probe_sd, va, off); break;
    default: r = run_in(priv, (const void *)probe_fetch, va, off); break;
    }
    *faulted = trap.count != 0;
    *cause = trap.cause;
    *tval = trap.tval;
    checks++;
    if (trap.count > 1) check_fail(__LINE__, "more than one trap", trap.count, 1);
    if (trap.count && trap.level != (deleg ? PRIV_S : PRIV_M))
        check_fail(__LINE__, "page fault taken at the wrong level", trap.level, deleg ? PRIV_S : PRIV_M);
    trap_done();
    return r;
}

static const uint64_t pf_cause[] = { EXC_LOAD_PAGE, EXC_STORE_PAGE, EXC_INSN_PAGE };

/* expect a page fault (cause by kind, tval = va) */
static void pf_(int priv, int kind, uint64_t va, int line)
{
    bool f; uint64_t c, t;
    (void)access(priv, kind, va, &f, &c, &t);
    if (!f) check_fail(line, "expected a page fault, none taken", kind, pf_cause[kind]);
    if (c != pf_cause[kind]) check_fail(line, "page fault cause", c, pf_cause[kind]);
    if (t != va) check_fail(line, "page fault tval", t, va);
}
/* expect success; returns the value */
static uint64_t ok_(int priv, int kind, uint64_t va, int line)
{
    bool f; uint64_t c, t, r;
    r = access(priv, kind, va, &f, &c, &t);
    if (f) check_fail(line, "unexpected fault (got cause, tval)", c, t);
    return r;
}
#define PF(p, k, va) pf_(p, k, va, __LINE__)
#define OK(p, k, va) ok_(p, k, va, __LINE__)
#define S PRIV_S
#define U PRIV_U

static void basic_and_sfence(void)
{
    uint64_t va = TVA + 0x3000;
    set_pte(va, 0, leaf(pa_of(p1), PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
    CHECK_EQ(OK(S, LD, va + 8 * 7), p1[7]);
    OK(S, ST, va + 8 * 9);
    CHECK_EQ(p1[9], va + 8 * 9);                          /* probe_sd stores the address */
    p1[9] = 0x1111000000000009ull;
    /* remap to p2 */
    set_pte(va, 0, leaf(pa_of(p2), PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
    CHECK_EQ(OK(S, LD, va + 8 * 7), p2[7]);
    /* sfence.vma with an address */
    *pt_pte(va, 0) = leaf(pa_of(p1), PTE_V | PTE_R | PTE_A);
    sfence_va(va);
    CHECK_EQ(OK(S, LD, va + 8 * 3), p1[3]);
    /* invalid */
    set_pte(va, 0, leaf(pa_of(p1), PTE_R | PTE_A));       /* V = 0 */
    PF(S, LD, va + 16);
    PF(S, ST, va + 16);
    PF(S, EX, va);
    set_pte(va, 0, 0);
    PF(S, LD, va);
    /* an unmapped neighbour in a table that exists */
    PF(S, LD, va + PAGE);
    /* a pointer PTE at the last level is not a leaf */
    set_pte(va, 0, leaf(pa_of(p1), PTE_V));
    PF(S, LD, va);
    /* reserved: W without R */
    set_pte(va, 0, leaf(pa_of(p1), PTE_V | PTE_W | PTE_A | PTE_D));
    PF(S, LD, va);
    PF(S, ST, va);
    set_pte(va, 0, leaf(pa_of(p1), PTE_V | PTE_W | PTE_X | PTE_A | PTE_D));
    PF(S, LD, va);
    set_pte(va, 0, 0);
}

static void permissions(void)
{
    uint64_t d = TVA + 0x10000, c = TVA + 0x20000;
    uint64_t code = pa_of((void *)pages_ret42);

    /* S, supervisor pages */
    set_pte(d, 0, leaf(pa_of(p1), PTE_V | PTE_R | PTE_A | PTE_D));
    CHECK_EQ(OK(S, LD, d), p1[0]);
    PF(S, ST, d + 8);
    PF(S, EX, d);
    set_pte(c, 0, leaf(code, PTE_V | PTE_X | PTE_A));      /* execute-only */
    CHECK_EQ(OK(S, EX, c), 42);
    PF(S, LD, c);
    PF(S, ST, c);
    CSR_SET(mstatus, MS_MXR);                               /* MXR: X makes it readable */
    CHECK_EQ(OK(S, LD, c), *(volatile uint64_t *)code);
    PF(S, ST, c);
    CSR_CLEAR(mstatus, MS_MXR);
    set_pte(c, 0, leaf(code, PTE_V | PTE_R | PTE_X | PTE_A));
    CHECK_EQ(OK(S, EX, c), 42);
    CHECK_EQ(OK(S, LD, c), *(volatile uint64_t *)code);
    PF(S, ST, c);

    /* user pages from S: SUM for loads/stores, never executable */
    set_pte(d, 0, leaf(pa_of(p1), PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D));
    PF(S, LD, d);
    PF(S, ST, d);
    CSR_SET(mstatus, MS_SUM);
    CHECK_EQ(OK(S, LD, d + 8), p1[1]);
    OK(S, ST, d + 16);
    CHECK_EQ(p1[2], d + 16);
    p1[2] = 0x1111000000000002ull;
    CSR_CLEAR(mstatus, MS_SUM);
    set_pte(c, 0, leaf(code, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A));
    PF(S, EX, c);
    CSR_SET(mstatus, MS_SUM);
    PF(S, EX, c);
    CSR_CLEAR(mstatus, MS_SUM);

    /* U */
    CHECK_EQ(OK(U, EX, c), 42);
    CHECK_EQ(OK(U, LD, c), *(volatile uint64_t *)code);
    PF(U, ST, c);
    CHECK_EQ(OK(U, LD, d + 24), p1[3]);
    OK(U, ST, d + 32);
    CHECK_EQ(p1[4], d + 32);
    p1[4] = 0x1111000000000004ull;
    set_pte(d, 0, leaf(pa_of(p1), PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));    /* not U */
    PF(U, LD, d);
    PF(U, ST, d);
    set_pte(c, 0, leaf(code, PTE_V | PTE_R | PTE_X | PTE_A));                 /* not U */
    PF(U, EX, c);
    set_pte(c, 0, leaf(code, PTE_V | PTE_X | PTE_U | PTE_A));                 /* U, X only */
    PF(U, LD, c);
    CSR_SET(mstatus, MS_MXR);
    CHECK_EQ(OK(U, LD, c), *(volatile uint64_t *)code);
    CSR_CLEAR(mstatus, MS_MXR);
    set_pte(d, 0, 0);
    set_pte(c, 0, 0);
}

static void accessed_dirty(void)
{
    uint64_t va = TVA + 0x30000;
    volatile uint64_t *pte;

    set_pte(va, 0, leaf(pa_of(p2), PTE_V | PTE_R | PTE_W));
    pte = pt_pte(va, 0);
    CHECK_EQ(OK(S, LD, va + 40), p2[5]);
    CHECK(*pte & PTE_A);
    CHECK(!(*pte & PTE_D));
    OK(S, ST, va + 48);
    CHECK(*pte & PTE_D);
    CHECK_EQ(p2[6], va + 48);
    p2[6] = 0x2222000000000006ull;
    /* a store to a clean page first sets both */
    set_pte(va, 0, leaf(pa_of(p2), PTE_V | PTE_R | PTE_W));
    OK(S, ST, va + 48);
    CHECK_EQ(*pte & (PTE_A | PTE_D), PTE_A | PTE_D);
    p2[6] = 0x2222000000000006ull;
    /* a fetch sets A */
    set_pte(va, 0, leaf(pa_of((void *)pages_ret43), PTE_V | PTE_X));
    CHECK_EQ(OK(S, EX, va), 43);
    CHECK_EQ(*pte & (PTE_A | PTE_D), PTE_A);
    /* no A/D update on a fault */
    set_pte(va, 0, leaf(pa_of(p2), PTE_V | PTE_R));
    PF(S, ST, va);
    CHECK_EQ(*pte & (PTE_A | PTE_D), 0);
    set_pte(va, 0, 0);
}

static void superpages(void)
{
    uint64_t off = pa_of(&marker) - RAM_BASE;

    /* 2 MiB */
    set_pte(MVA, 1, leaf(RAM_BASE, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
    CHECK_EQ(OK(S, LD, MVA + off), marker);
    set_pte(MVA, 1, leaf(RAM_BASE + PAGE, PTE_V | PTE_R | PTE_A));     /* PPN[0] != 0 */
    PF(S, LD, MVA + off);
    PF(S, LD, MVA);
    set_pte(MVA, 1, 0);
    /* 1 GiB */
    set_pte(GVA, 2, leaf(RAM_BASE, PTE_V | PTE_R | PTE_A));
    CHECK_EQ(OK(S, LD, GVA + off), marker);
    set_pte(GVA, 2, leaf(RAM_BASE + 0x200000, PTE_V | PTE_R | PTE_A)); /* PPN[1] != 0 */
    PF(S, LD, GVA + off);
    set_pte(GVA, 2, leaf(RAM_BASE + PAGE, PTE_V | PTE_R | PTE_A));     /* PPN[0] != 0 */
    PF(S, LD, GVA + off);
    set_pte(GVA, 2, 0);
#if LEVELS == 4
    /* 512 GiB */
    set_pte(TERA, 3, leaf(0, PTE_V | PTE_R | PTE_A));
    CHECK_EQ(OK(S, LD, TERA + pa_of(&marker)), marker);
    set_pte(TERA, 3, leaf(0x40000000, PTE_V | PTE_R | PTE_A));         /* PPN[2] != 0 */
    PF(S, LD, TERA + pa_of(&marker));
    set_pte(TERA, 3, 0);
#endif
}

static void canonical(void)
{
#if LEVELS == 3
    PF(S, LD, 1ull << 38);                   /* bit 38 set, 63..39 clear */
    PF(S, LD, 1ull << 39);                   /* fine in Sv48, not in Sv39 */
    PF(S, LD, 0xffffff0000000000ull);        /* upper half, unmapped: still a page fault */
#else
    PF(S, LD, 1ull << 47);
    PF(S, LD, 0x0001000000000000ull);
#endif
    PF(S, LD, 0x8000000000000000ull);
}

/* M-mode loads and stores with MPRV: translated as MPP */
static void mprv(void)
{
    uint64_t d = TVA + 0x40000, c = TVA + 0x50000, v;
    uint64_t code = pa_of((void *)pages_ret42);
    uint64_t as_s = MS_MPRV | ((uint64_t)PRIV_S << MPP_SHIFT);
    uint64_t as_u = MS_MPRV | ((uint64_t)PRIV_U << MPP_SHIFT);
    uint64_t as_m = MS_MPRV | ((uint64_t)PRIV_M << MPP_SHIFT);

    set_pte(d, 0, leaf(pa_of(p1), PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
    set_pte(c, 0, leaf(code, PTE_V | PTE_X | PTE_A));
    CSR_CLEAR(mstatus, MS_MPP | MS_SUM | MS_MXR);
    trap_expect(TRAP_SKIP);
    v = mprv_ld(d + 8 * 10, as_s);
    CHECK_EQ(trap.count, 0);
    CHECK_EQ(v, p1[10]);
    mprv_sd(d + 8 * 11, as_s);
    CHECK_EQ(trap.count, 0);
    CHECK_EQ(p1[11], d + 8 * 11);
    p1[11] = 0x111100000000000bull;
    /* MPP = M: no translation */
    v = mprv_ld(pa_of(&marker), as_m);
    CHECK_EQ(trap.count, 0);
    CHECK_EQ(v, marker);
    CSR_CLEAR(mstatus, MS_MPP);
    /* MPP = U on a supervisor page: a load page fault taken in M */
    (void)mprv_ld(d, as_u);
    CHECK_TRAP(EXC_LOAD_PAGE, d, PRIV_M);
    CSR_CLEAR(mstatus, MS_MPP);
    trap_expect(TRAP_SKIP);
    mprv_sd(d, as_u);
    CHECK_TRAP(EXC_STORE_PAGE, d, PRIV_M);
    CSR_CLEAR(mstatus, MS_MPP);
    /* SUM with MPP = S */
    set_pte(d, 0, leaf(pa_of(p1), PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D));
    trap_expect(TRAP_SKIP);
    (void)mprv_ld(d, as_s);
    CHECK_TRAP(EXC_LOAD_PAGE, d, PRIV_M);
    CSR_CLEAR(mstatus, MS_MPP);
    trap_expect(TRAP_SKIP);
    v = mprv_ld(d + 8, as_s | MS_SUM);
    CHECK_EQ(trap.count, 0);
    CHECK_EQ(v, p1[1]);
    CSR_CLEAR(mstatus, MS_SUM | MS_MPP);
    /* MXR with MPP = S on an execute-only page */
    (void)mprv_ld(c, as_s);
    CHECK_TRAP(EXC_LOAD_PAGE, c, PRIV_M);
    CSR_CLEAR(mstatus, MS_MPP);
    trap_expect(TRAP_SKIP);
    v = mprv_ld(c, as_s | MS_MXR);
    CHECK_EQ(trap.count, 0);
    CHECK_EQ(v, *(volatile uint64_t *)code);
    CSR_CLEAR(mstatus, MS_MXR | MS_MPP);
    /* without MPRV, M is not translated: the test VA is not RAM */
    trap_expect(TRAP_SKIP);
    (void)probe_ld(d);
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_LOAD_ACCESS);
    trap_done();
    set_pte(d, 0, 0);
    set_pte(c, 0, 0);
}

static void satp_warl(void)
{
    uint64_t good = pt_satp();
    CSR_WRITE(satp, 0);
    CHECK_EQ(CSR_READ(satp), 0);
    CSR_WRITE(satp, (7ull << 60) | (good & 0xfffffffffffull));       /* reserved mode: no effect */
    CHECK_EQ(CSR_READ(satp), 0);
    CSR_WRITE(satp, good);
    CHECK_EQ(CSR_READ(satp), good);
    sfence_all();
}

int main(void)
{
    setup();
    satp_warl();
    for (deleg = 0; deleg < 2; deleg++) {
        CSR_WRITE(medeleg, deleg ? (1u << EXC_INSN_PAGE) | (1u << EXC_LOAD_PAGE) | (1u << EXC_STORE_PAGE) : 0);
        basic_and_sfence();
        permissions();
        accessed_dirty();
        superpages();
        canonical();
    }
    CSR_WRITE(medeleg, 0);
    mprv();
    CSR_WRITE(satp, 0);
    sfence_all();
    return 0;
}
