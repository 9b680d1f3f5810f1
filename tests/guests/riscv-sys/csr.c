/* CSR behaviour: misa, mhartid and the ID CSRs, mstatus WPRI and WARL
 * fields (SXL/UXL, XS, writable fields, SD), the sstatus/sie/sip views,
 * fcsr/frm/fflags and FS tracking (Off makes FP illegal, a write makes it
 * Dirty, SD follows), and the counters cycle/time/instret with
 * mcounteren/scounteren gating S and U, mcountinhibit. */
#include "sys.h"

const char test_name[] = "csr";

#define MISA_EXT(c) (1ull << ((c) - 'A'))
#define MCOUNTINHIBIT_R() ({ uint64_t v_; __asm__ volatile("csrr %0, 0x320" : "=r"(v_) :: "memory"); v_; })
#define MCOUNTINHIBIT_W(v) __asm__ volatile("csrw 0x320, %0" :: "r"((uint64_t)(v)) : "memory")

static uint64_t misa;

static void ids(void)
{
    misa = CSR_READ(misa);
    CHECK_EQ(misa >> 62, 2);                                  /* MXL = 64 */
    CHECK_EQ(misa & (MISA_EXT('I') | MISA_EXT('M') | MISA_EXT('A') | MISA_EXT('F') |
                     MISA_EXT('D') | MISA_EXT('C') | MISA_EXT('S') | MISA_EXT('U')),
             MISA_EXT('I') | MISA_EXT('M') | MISA_EXT('A') | MISA_EXT('F') |
             MISA_EXT('D') | MISA_EXT('C') | MISA_EXT('S') | MISA_EXT('U'));
    CHECK(!(misa & MISA_EXT('E')));
    CHECK_EQ(CSR_READ(mhartid), 0);
    trap_expect(TRAP_SKIP);
    (void)CSR_READ(mvendorid);
    (void)CSR_READ(marchid);
    (void)CSR_READ(mimpid);
    CHECK_EQ(trap.count, 0);
    /* read-only: writing mhartid is illegal */
    (void)AT("csrrw x0, mhartid, x0");
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_ILLEGAL);
    trap_done();
}

static uint64_t mstatus_write_read(uint64_t v)
{
    uint64_t old, r;
    /* no memory access while the value is in place (MPRV may be set) */
    __asm__ volatile("csrrw %0, mstatus, %2\n csrr %1, mstatus\n csrw mstatus, %0"
                     : "=&r"(old), "=&r"(r) : "r"(v) : "memory");
    return r;
}

static void mstatus_fields(void)
{
    uint64_t r = mstatus_write_read(~0ull), r0;
    uint64_t wpri = (1ull << 0) | (1ull << 2) | (1ull << 4) | (0x1ffull << 23) | (0x7fffffull << 40);
    uint64_t rw = MS_SIE | MS_MIE | MS_SPIE | MS_MPIE | MS_SPP | MS_MPP | MS_FS |
                  MS_MPRV | MS_SUM | MS_MXR | MS_TVM | MS_TW | MS_TSR;

    CHECK_EQ(r & wpri, 0);
    if (!(misa & MISA_EXT('H')))
        CHECK_EQ(r & (3ull << 38), 0);                        /* MPV, GVA: H only */
    /* (VS may be writable without V when S-mode exists: not checked) */
    CHECK_EQ(r & MS_XS, 0);                                   /* no custom state */
    CHECK_EQ(r & rw, rw);
    CHECK_EQ((r & MS_SXL) >> 34, 2);
    /* (UXL staying 2 after a write of 3 is checked in strict.c: QEMU 7.2
     * keeps the reserved 3) */
    CHECK(r & MS_SD);                                         /* FS = Dirty */
    /* writing 0: SXL/UXL stay 2, SD follows FS */
    r0 = mstatus_write_read(0);
    CHECK_EQ(r0 & rw, 0);
    CHECK_EQ((r0 & MS_SXL) >> 34, 2);
    CHECK_EQ((r0 & MS_UXL) >> 32, 2);
    CHECK(!(r0 & MS_SD));
    /* MPP takes S and U */
    CHECK_EQ(mstatus_write_read((uint64_t)PRIV_S << MPP_SHIFT) & MS_MPP, (uint64_t)PRIV_S << MPP_SHIFT);
    CHECK_EQ(mstatus_write_read(0) & MS_MPP, 0);

    /* sstatus: the S view */
    {
        uint64_t smask = MS_SIE | MS_SPIE | MS_UBE | MS_SPP | MS_VS | MS_FS | MS_XS |
                         MS_SUM | MS_MXR | MS_UXL | MS_SD;
        uint64_t m0 = CSR_READ(mstatus), s, m1;
        CSR_WRITE(sstatus, ~0ull);
        s = CSR_READ(sstatus);
        m1 = CSR_READ(mstatus);
        CHECK_EQ(s & ~smask, 0);
        CHECK_EQ(s & (MS_SIE | MS_SPIE | MS_SPP | MS_SUM | MS_MXR | MS_FS),
                 MS_SIE | MS_SPIE | MS_SPP | MS_SUM | MS_MXR | MS_FS);
        /* M-only fields unchanged */
        CHECK_EQ(m1 & (MS_MIE | MS_MPIE | MS_MPP | MS_MPRV | MS_TVM | MS_TW | MS_TSR),
                 m0 & (MS_MIE | MS_MPIE | MS_MPP | MS_MPRV | MS_TVM | MS_TW | MS_TSR));
        CSR_WRITE(mstatus, m0);
    }
}

static void interrupt_views(void)
{
    CSR_WRITE(mie, 0);
    CSR_WRITE(mideleg, 0);
    CSR_WRITE(sie, ~0ull);
    CHECK_EQ(CSR_READ(sie), 0);                   /* nothing delegated: read-only zero */
    CHECK_EQ(CSR_READ(mie), 0);
    CSR_WRITE(mideleg, 0x222);
    CSR_WRITE(sie, ~0ull);
    CHECK_EQ(CSR_READ(sie), 0x222);
    CHECK_EQ(CSR_READ(mie) & 0x888, 0);           /* M bits untouched */
    CHECK_EQ(CSR_READ(mie) & 0x222, 0x222);
    CSR_WRITE(sie, 0);
    CSR_WRITE(mie, 0);
    /* sip: SSIP writable when delegated, STIP/SEIP not from S */
    CSR_SET(sip, 1u << IRQ_SSI);
    CHECK(CSR_READ(mip) & (1u << IRQ_SSI));
    CHECK(CSR_READ(sip) & (1u << IRQ_SSI));
    CSR_CLEAR(sip, 1u << IRQ_SSI);
    CHECK(!(CSR_READ(mip) & (1u << IRQ_SSI)));
    CSR_WRITE(mideleg, 0);
    CHECK_EQ(CSR_READ(sip), 0);
}

#define FS_OF() ((CSR_READ(mstatus) & MS_FS) >> FS_SHIFT)
static void set_fs(unsigned fs) { CSR_CLEAR(mstatus, MS_FS); CSR_SET(mstatus, (uint64_t)fs << FS_SHIFT); }

static void fp_state(void)
{
    uint64_t v;
    double a = 1.0, b = 3.0, q;

    CSR_WRITE(fcsr, 0xff);
    CHECK_EQ(CSR_READ(fcsr), 0xff);
    CHECK_EQ(CSR_READ(frm), 7);
    CHECK_EQ(CSR_READ(fflags), 0x1f);
    CSR_WRITE(fcsr, ~0ull);
    CHECK_EQ(CSR_READ(fcsr), 0xff);                  /* 63..8 read zero */
    CSR_WRITE(frm, 2);
    CHECK_EQ(CSR_READ(fcsr), 0x5f);
    CSR_WRITE(fflags, 0);
    CHECK_EQ(CSR_READ(fcsr), 0x40);
    CSR_WRITE(fcsr, 0);

    /* an inexact division sets NX, and makes FS Dirty */
    set_fs(1);
    CHECK_EQ(FS_OF(), 1);
    __asm__ volatile("fdiv.d %0, %1, %2" : "=f"(q) : "f"(a), "f"(b));
    CHECK_EQ(FS_OF(), 3);
    CHECK(CSR_READ(mstatus) & MS_SD);
    CHECK_EQ(CSR_READ(fflags), 1);
    (void)q;
    /* a write of fcsr from Clean makes it Dirty */
    set_fs(2);
    CHECK_EQ(FS_OF(), 2);
    CSR_WRITE(fflags, 0);
    CHECK_EQ(FS_OF(), 3);
    /* an FP load from Clean makes it Dirty */
    set_fs(2);
    __asm__ volatile("fld f1, 0(%0)" :: "r"(&a) : "f1", "memory");
    CHECK_EQ(FS_OF(), 3);

    /* Off: every FP instruction and FP CSR is illegal */
    set_fs(0);
    CHECK(!(CSR_READ(mstatus) & MS_SD));
    trap_expect(TRAP_SKIP);
    (void)AT("fadd.d f0, f0, f0");
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_ILLEGAL);
    (void)AT("csrrs x0, fcsr, x0");
    CHECK_EQ(trap.count, 2);
    (void)AT("fmv.x.d x0, f0");
    CHECK_EQ(trap.count, 3);
    (void)AT("fsd f0, 0(sp)");
    CHECK_EQ(trap.count, 4);
    CHECK_EQ(trap.cause, EXC_ILLEGAL);
    CHECK_EQ(FS_OF(), 0);                            /* still Off */
    trap_done();
    set_fs(1);
    v = CSR_READ(fcsr);
    (void)v;
}

enum { C_CYCLE, C_TIME, C_INSTRET };
static uint64_t read_counter(uint64_t which)
{
    uint64_t v = 0;
    switch (which) {
    case C_CYCLE: __asm__ volatile("csrr %0, cycle" : "=r"(v)); break;
    case C_TIME: __asm__ volatile("csrr %0, time" : "=r"(v)); break;
    case C_INSTRET: __asm__ volatile("csrr %0, instret" : "=r"(v)); break;
    }
    return v;
}

/* one counter read from priv: 1 if it trapped (illegal), else 0 */
static int gated(int priv, unsigned which)
{
    trap_expect(TRAP_SKIP);
    (void)run_in(priv, read_counter, which, 0);
    trap_done();
    if (trap.count && trap.cause != EXC_ILLEGAL) check_fail(__LINE__, "counter trap cause", trap.cause, EXC_ILLEGAL);
    return trap.count != 0;
}

static void counters(bool have_time)
{
    uint64_t i0, i1, c0, c1, i;
    unsigned w, nw = have_time ? 3 : 2;
    static const unsigned list3[] = { C_CYCLE, C_INSTRET, C_TIME };

    /* minstret counts retired instructions: this loop retires >= 3000 */
    i0 = CSR_READ(minstret);
    c0 = CSR_READ(mcycle);
    for (i = 0; i < 1000; i++) __asm__ volatile("nop\n nop" ::: "memory");
    i1 = CSR_READ(minstret);
    c1 = CSR_READ(mcycle);
    CHECK(i1 - i0 >= 3000);
    CHECK(i1 - i0 < 100000);
    CHECK(c1 > c0);
    /* the user aliases read the same counters */
    i0 = CSR_READ(minstret);
    i1 = CSR_READ(instret);
    CHECK(i1 >= i0 && i1 - i0 < 100);
    /* minstret is writable */
    CSR_WRITE(minstret, 1000000000ull);
    i1 = CSR_READ(minstret);
    CHECK(i1 >= 1000000000ull && i1 < 1000000000ull + 100);
    /* mcountinhibit.IR stops minstret */
    MCOUNTINHIBIT_W(4);
    CHECK_EQ(MCOUNTINHIBIT_R() & 4, 4);
    i0 = CSR_READ(minstret);
    for (i = 0; i < 100; i++) __asm__ volatile("nop" ::: "memory");
    CHECK_EQ(CSR_READ(minstret), i0);
    MCOUNTINHIBIT_W(0);

    /* mcounteren gates S and U, scounteren gates U */
    for (w = 0; w < nw; w++) {
        unsigned c = list3[w];
        uint64_t bit = 1ull << c;                  /* CY 0, TM 1, IR 2 */
        CSR_WRITE(mcounteren, 0);
        CSR_WRITE(scounteren, 0);
        CHECK(gated(PRIV_S, c));
        CHECK(gated(PRIV_U, c));
        CSR_WRITE(mcounteren, 7 & ~bit);
        CSR_WRITE(scounteren, 7);
        CHECK(gated(PRIV_S, c));
        CHECK(gated(PRIV_U, c));
        CSR_WRITE(mcounteren, bit);
        CSR_WRITE(scounteren, 0);
        CHECK(!gated(PRIV_S, c));
        CHECK(gated(PRIV_U, c));
        CSR_WRITE(scounteren, bit);
        CHECK(!gated(PRIV_S, c));
        CHECK(!gated(PRIV_U, c));
    }
    /* values read from U are the machine's */
    CSR_WRITE(mcounteren, 7);
    CSR_WRITE(scounteren, 7);
    i0 = CSR_READ(minstret);
    i1 = run_in(PRIV_U, read_counter, C_INSTRET, 0);
    CHECK(i1 > i0 && i1 - i0 < 10000);
    if (have_time) {
        uint64_t m0 = mtime(), t = run_in(PRIV_U, read_counter, C_TIME, 0), m1 = mtime();
        CHECK(m0 <= t && t <= m1);
    }
    CSR_WRITE(mcounteren, 0);
    CSR_WRITE(scounteren, 0);
}

int main(void)
{
    bool have_time;

    ids();
    mstatus_fields();
    interrupt_views();
    fp_state();
    /* QEMU's spike board has no time CSR (see timer.c); every other board must */
    trap_expect(TRAP_SKIP);
    (void)AT("csrrs x0, time, x0");
    trap_done();
    have_time = trap.count == 0;
    if (!have_time && have_uart) check_fail(__LINE__, "the time CSR traps in M", trap.cause, 0);
    counters(have_time);
    return 0;
}
