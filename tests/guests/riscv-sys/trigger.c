/* Sdtrig debug triggers (the guest's own): tselect/tinfo/tdata1 WARL
 * values, mcontrol6 and mcontrol execute triggers on hot (translated)
 * code, in the middle of a block and at its head, load and store triggers
 * on equal, NAPOT and chained >= / < matches (any byte of the access),
 * AMOs, the M/S/U mode bits, M-mode triggers held off while MIE = 0, hit
 * bits, and disarming. Every trigger traps with a breakpoint exception
 * before the instruction, tval = the pc or the accessed address. */
#include "sys.h"

const char test_name[] = "trigger";

#define TYPE(t) ((uint64_t)(t) << 60)
#define T_LOAD (1ull << 0)
#define T_STORE (1ull << 1)
#define T_EXEC (1ull << 2)
#define T_U (1ull << 3)
#define T_S (1ull << 4)
#define T_M (1ull << 6)
#define T_MATCH(m) ((uint64_t)(m) << 7)
#define T_CHAIN (1ull << 11)
#define T_ACTION(a) ((uint64_t)(a) << 12)
#define MC6_HIT0 (1ull << 22)
#define MC_HIT (1ull << 20)

/* hot_loop(n): n rounds of +1 (hot_head), +100 (hot_mid), +1000 */
uint64_t hot_loop(uint64_t n);
extern char hot_head[], hot_mid[];
__asm__(".option push\n.option norvc\n"
        ".globl hot_loop, hot_head, hot_mid\n"
        "hot_loop: li a1, 0\n"
        "hot_head: addi a1, a1, 1\n"
        "hot_mid: addi a1, a1, 100\n"
        "addi a1, a1, 1000\n"
        "addi a0, a0, -1\n"
        "bnez a0, hot_head\n"
        "mv a0, a1\n"
        "ret\n"
        ".option pop\n");

static volatile uint64_t buf[64] __attribute__((aligned(512)));

static unsigned ntrig;

/* a load the triggers cannot see (M-mode, MIE = 0) */
static uint64_t peek(uint64_t a)
{
    uint64_t s = CSR_READ(mstatus) & MS_MIE;
    CSR_CLEAR(mstatus, MS_MIE);
    uint64_t v = *(volatile uint64_t *)a;
    CSR_SET(mstatus, s);
    return v;
}

static void arm(unsigned k, uint64_t tdata1, uint64_t tdata2)
{
    CSR_WRITE(tselect, k);
    CSR_WRITE(tdata1, 0);
    CSR_WRITE(tdata2, tdata2);
    CSR_WRITE(tdata1, tdata1);
}

static void disarm_all(void)
{
    for (unsigned k = 0; k < ntrig; k++) {
        CSR_WRITE(tselect, k);
        CSR_WRITE(tdata1, 0);
    }
}

static void csrs(void)
{
    uint64_t info = CSR_READ(tinfo);
    CHECK(info & (1u << 2));         /* mcontrol */
    CHECK(info & (1u << 6));         /* mcontrol6 */
    /* as many triggers as tselect takes (vessel has 4): a chain needs 2 */
    for (ntrig = 0; ntrig < 64; ntrig++) {
        CSR_WRITE(tselect, ntrig);
        if (CSR_READ(tselect) != ntrig)
            break;
    }
    CHECK(ntrig >= 2);
    CSR_WRITE(tselect, 1000);            /* WARL: no such trigger */
    CHECK(CSR_READ(tselect) < 1000);
    CSR_WRITE(tselect, 0);

    uint64_t v = TYPE(6) | T_M | T_EXEC;
    CSR_WRITE(tdata1, v);
    CHECK_EQ(CSR_READ(tdata1), v);
    v = TYPE(6) | T_S | T_U | T_LOAD | T_STORE | T_MATCH(1) | T_CHAIN;
    CSR_WRITE(tdata1, v);
    CHECK_EQ(CSR_READ(tdata1), v);
    CSR_WRITE(tdata1, TYPE(2) | T_M | T_LOAD);
    CHECK_EQ(CSR_READ(tdata1), TYPE(2) | T_M | T_LOAD);
    CSR_WRITE(tdata1, TYPE(6) | T_M | T_LOAD | T_ACTION(1));   /* no debug mode: action 0 */
    CHECK_EQ(CSR_READ(tdata1) & T_ACTION(15), 0);
    CSR_WRITE(tdata1, TYPE(6) | T_M | T_LOAD | T_MATCH(7));    /* reserved match: 0 */
    CHECK_EQ(CSR_READ(tdata1) & T_MATCH(15), 0);
    CSR_WRITE(tdata1, 0);                                       /* off */
    CHECK((CSR_READ(tdata1) >> 60) == 15 || (CSR_READ(tdata1) >> 60) == 0);
    CSR_WRITE(tdata2, 0x1234);
    CHECK_EQ(CSR_READ(tdata2), 0x1234);
}

static void exec_triggers(void)
{
    CHECK_EQ(hot_loop(2000), 2000 * 1101);          /* hot: translated */
    CSR_WRITE(mie, 0);
    CSR_SET(mstatus, MS_MIE);

    /* mid-block (mcontrol6): the +100 never runs, each round traps once */
    arm(0, TYPE(6) | T_M | T_EXEC, (uint64_t)hot_mid);
    trap_expect(TRAP_SKIP);
    CHECK_EQ(hot_loop(10), 10 * 1001);
    CHECK_EQ(trap.count, 10);
    CHECK_EQ(trap.cause, EXC_BREAKPOINT);
    CHECK_EQ(trap.epc, (uint64_t)hot_mid);
    CHECK_EQ(trap.tval, (uint64_t)hot_mid);
    CHECK(CSR_READ(tdata1) & MC6_HIT0);

    /* the block's head (mcontrol, as riscv-tests use it) */
    arm(0, TYPE(2) | T_M | T_EXEC, (uint64_t)hot_head);
    trap_expect(TRAP_SKIP);
    CHECK_EQ(hot_loop(7), 7 * 1100);
    CHECK_EQ(trap.count, 7);
    CHECK_EQ(trap.tval, (uint64_t)hot_head);
    CHECK(CSR_READ(tdata1) & MC_HIT);

    /* M-mode with MIE = 0: held off */
    CSR_CLEAR(mstatus, MS_MIE);
    trap_expect(TRAP_SKIP);
    CHECK_EQ(hot_loop(5), 5 * 1101);
    CHECK_EQ(trap.count, 0);
    CSR_SET(mstatus, MS_MIE);

    /* an S-only trigger does not fire in M */
    arm(0, TYPE(6) | T_S | T_EXEC, (uint64_t)hot_mid);
    trap_expect(TRAP_SKIP);
    CHECK_EQ(hot_loop(5), 5 * 1101);
    CHECK_EQ(trap.count, 0);

    /* disarmed: the loop is whole (and hot) again */
    disarm_all();
    trap_expect(TRAP_SKIP);
    CHECK_EQ(hot_loop(3000), 3000 * 1101);
    CHECK_EQ(trap.count, 0);
    CSR_CLEAR(mstatus, MS_MIE);
    trap_done();
}

static uint64_t s_load(uint64_t a)
{
    return probe_lw(a);
}

static void data_triggers(void)
{
    uint64_t a = (uint64_t)&buf[8];
    for (unsigned k = 0; k < 64; k++)
        buf[k] = 0x1111111111111111ull * (k & 7);
    /* hot accesses first: the TLB holds the page */
    for (unsigned k = 0; k < 1000; k++)
        (void)probe_lw(a);
    CSR_WRITE(mie, 0);
    CSR_SET(mstatus, MS_MIE);

    /* load, equal: before the access (rd untouched), tval = the address */
    arm(0, TYPE(6) | T_M | T_LOAD, a);
    trap_expect(TRAP_SKIP);
    CHECK_EQ(probe_lw(a), a);
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_BREAKPOINT);
    CHECK_EQ(trap.tval, a);
    CHECK_EQ(trap.epc, (uint64_t)probe_lw);
    /* any byte of the access: a doubleword from 4 below covers it */
    trap_expect(TRAP_SKIP);
    CHECK_EQ(probe_ld(a - 4), a - 4);
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.tval, a - 4);
    /* the next word does not match; stores do not */
    trap_expect(TRAP_SKIP);
    CHECK_EQ(probe_lw(a + 4), 0);
    probe_sd(a, 0x42);
    CHECK_EQ(trap.count, 0);
    CHECK_EQ(peek(a), 0x42);

    /* store (mcontrol): the store does not happen; loads pass; an AMO traps */
    arm(0, TYPE(2) | T_M | T_STORE, a);
    trap_expect(TRAP_SKIP);
    probe_sd(a, 0x99);
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.tval, a);
    CHECK_EQ(peek(a), 0x42);
    CHECK_EQ(probe_ld(a), 0x42);
    CHECK_EQ(trap.count, 1);
    (void)probe_amoadd_d(a, 1);
    CHECK_EQ(trap.count, 2);
    CHECK_EQ(peek(a), 0x42);

    /* NAPOT: the 64 bytes at buf[16..23] */
    uint64_t r = (uint64_t)&buf[16];
    arm(0, TYPE(6) | T_M | T_LOAD | T_STORE | T_MATCH(1), r | 31);
    trap_expect(TRAP_SKIP);
    (void)probe_lbu(r - 1);
    (void)probe_lbu(r + 64);
    CHECK_EQ(trap.count, 0);
    (void)probe_lbu(r + 63);
    probe_sb(r, 1);
    CHECK_EQ(trap.count, 2);
    CHECK_EQ(trap.tval, r);

    /* a chain: >= buf[32] and < buf[40] */
    disarm_all();
    uint64_t lo = (uint64_t)&buf[32], hi = (uint64_t)&buf[40];
    /* the chained one first: alone, trigger 1 would match every load below hi */
    arm(0, TYPE(6) | T_M | T_LOAD | T_MATCH(2) | T_CHAIN, lo);
    arm(1, TYPE(6) | T_M | T_LOAD | T_MATCH(3), hi);
    trap_expect(TRAP_SKIP);
    (void)probe_ld(lo - 8);
    (void)probe_ld(hi);
    CHECK_EQ(trap.count, 0);
    (void)probe_ld(lo);
    (void)probe_ld(hi - 8);
    CHECK_EQ(trap.count, 2);
    CHECK_EQ(trap.tval, hi - 8);

    /* mode bits: an S-only load trigger fires in S, not in M */
    disarm_all();
    arm(0, TYPE(6) | T_S | T_LOAD, a);
    trap_expect(TRAP_SKIP);
    CHECK_EQ(probe_lw(a), 0x42);
    CHECK_EQ(trap.count, 0);
    CHECK_EQ(run_in(PRIV_S, s_load, a, 0), a);
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_BREAKPOINT);
    CHECK_EQ(trap.tval, a);

    /* disarmed: nothing fires, the page is fast again */
    disarm_all();
    trap_expect(TRAP_SKIP);
    for (unsigned k = 0; k < 100; k++)
        CHECK_EQ(probe_lw(a), 0x42);
    CHECK_EQ(trap.count, 0);
    CSR_CLEAR(mstatus, MS_MIE);
    trap_done();
}

int main(void)
{
    csrs();
    exec_triggers();
    data_triggers();
    return 0;
}
