/* emu/riscv/gdb: the GDB remote protocol stub. Packet framing (escapes,
 * checksums, acks, Ctrl-C), the command layer on a real two-hart machine
 * (registers, target.xml, memory, breakpoints, threads, actions), and the
 * whole stub over TCP with hart threads: step, breakpoint + continue,
 * Ctrl-C, stepping another hart, detach, reconnect, exit status. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "bus/bus.h"
#include "emu/riscv/gdb.h"
#include "mem/mem.h"

#define RAM 0x80000000ull
#define ADDI_X5 0x00128293u          /* addi x5, x5, 1 */
#define J_SELF 0x0000006fu           /* j . */

static char out[GDB_PKT_MAX + 1];

/* ------------------------------------------------------------ framing */

static void feed_all(struct gdb_rx *rx, const char *s, size_t n, enum gdb_rx_event *last)
{
    *last = GDB_RX_NONE;
    for (size_t i = 0; i < n; i++) {
        enum gdb_rx_event e = gdb_rx_feed(rx, (uint8_t)s[i]);
        if (e != GDB_RX_NONE) *last = e;
    }
}

static void test_frame(void **st)
{
    char b[64];
    size_t n = gdb_frame("OK", 2, b, sizeof(b));
    assert_int_equal(n, 6);
    assert_memory_equal(b, "$OK#9a", 6);
    /* '$' '#' '}' '*' are escaped as '}' then c ^ 0x20; the checksum covers the escaped bytes */
    n = gdb_frame("a$b", 3, b, sizeof(b));
    assert_int_equal(n, 8);
    assert_memory_equal(b, "$a}\x04" "b#44", 8);
    n = gdb_frame("#}*", 3, b, sizeof(b));
    assert_memory_equal(b, "$}\x03}]}\x0a#", 8);
    assert_int_equal(gdb_frame("", 0, b, sizeof(b)), 4);
    assert_memory_equal(b, "$#00", 4);
    assert_int_equal(gdb_frame("OKOK", 4, b, 6), 0);          /* does not fit */
}

static void test_rx(void **st)
{
    static struct gdb_rx rx;
    enum gdb_rx_event e;
    gdb_rx_init(&rx);
    feed_all(&rx, "$OK#9a", 6, &e);
    assert_int_equal(e, GDB_RX_PACKET);
    assert_string_equal(rx.buf, "OK");
    assert_int_equal(rx.len, 2);
    feed_all(&rx, "$OK#9b", 6, &e);
    assert_int_equal(e, GDB_RX_BADSUM);
    feed_all(&rx, "$OK#zz", 6, &e);
    assert_int_equal(e, GDB_RX_BADSUM);
    feed_all(&rx, "$a}\x04" "b#44", 8, &e);
    assert_int_equal(e, GDB_RX_PACKET);
    assert_string_equal(rx.buf, "a$b");
    feed_all(&rx, "noise+", 6, &e);
    assert_int_equal(e, GDB_RX_ACK);
    assert_int_equal(gdb_rx_feed(&rx, '-'), GDB_RX_NACK);
    assert_int_equal(gdb_rx_feed(&rx, 0x03), GDB_RX_INTERRUPT);
    /* 0x03 inside a packet is data */
    feed_all(&rx, "$\x03#03", 5, &e);
    assert_int_equal(e, GDB_RX_PACKET);
    assert_int_equal(rx.buf[0], 3);
    /* a '$' restarts a packet */
    feed_all(&rx, "$abc$OK#9a", 10, &e);
    assert_int_equal(e, GDB_RX_PACKET);
    assert_string_equal(rx.buf, "OK");
    /* too long: rejected, and the next one is fine */
    char *big = malloc(GDB_PKT_MAX + 20);
    unsigned sum = 0;
    big[0] = '$';
    for (int i = 1; i <= GDB_PKT_MAX + 10; i++) { big[i] = 'x'; sum += 'x'; }
    snprintf(big + GDB_PKT_MAX + 11, 5, "#%02x", sum & 0xff);
    feed_all(&rx, big, GDB_PKT_MAX + 14, &e);
    assert_int_equal(e, GDB_RX_BADSUM);
    free(big);
    feed_all(&rx, "$OK#9a", 6, &e);
    assert_int_equal(e, GDB_RX_PACKET);
    /* round trip of every byte value */
    char pl[256], fr[600];
    for (int i = 0; i < 256; i++) pl[i] = (char)i;
    size_t n = gdb_frame(pl, 256, fr, sizeof(fr));
    assert_true(n > 260);
    feed_all(&rx, fr, n, &e);
    assert_int_equal(e, GDB_RX_PACKET);
    assert_int_equal(rx.len, 256);
    assert_memory_equal(rx.buf, pl, 256);
}

/* ------------------------------------------------------------ a machine */

struct fx {
    struct guest_mem mem;
    struct bus bus;
    struct rv_machine *m;
    struct rv_hart *h[2];
    struct gdb_stub *g;
};
static const struct rv_sys_ops no_ops;

static void put32(struct fx *f, uint64_t a, uint32_t v) { assert_int_equal(mem_write(&f->mem, a, &v, 4), 0); }

static void program(struct fx *f)
{
    for (int i = 0; i < 4; i++) put32(f, RAM + 4 * i, ADDI_X5);
    put32(f, RAM + 0x10, J_SELF);
    put32(f, RAM + 0x100, ADDI_X5);
    put32(f, RAM + 0x104, J_SELF);
}

static struct fx *fx_new(void)
{
    struct fx *f = calloc(1, sizeof(*f));
    mem_init(&f->mem);
    assert_int_equal(mem_add_ram(&f->mem, RAM, 1 << 20, 0), 0);
    bus_init(&f->bus);
    struct rv_sys_config sc = { .mem = &f->mem, .bus = &f->bus, .ops = &no_ops, .nharts = 2, .sv48 = true };
    f->m = rv_machine_new_sys(&sc);
    assert_non_null(f->m);
    for (unsigned i = 0; i < 2; i++) {
        f->h[i] = rv_hart_new(f->m, i);
        assert_non_null(f->h[i]);
        rv_hart_reset(f->h[i], i ? RAM + 0x100 : RAM);
    }
    program(f);
    return f;
}

static void fx_free(struct fx *f)
{
    for (unsigned i = 0; i < 2; i++) rv_hart_free(f->h[i]);
    rv_machine_free(f->m);
    bus_destroy(&f->bus);
    mem_destroy(&f->mem);
    free(f);
}

static enum gdb_action H(struct fx *f, const char *pkt, unsigned *t)
{
    unsigned dummy;
    return gdb_stub_handle(f->g, pkt, strlen(pkt), out, t ? t : &dummy);
}
#define REPLY(f, pkt) (assert_int_equal(H(f, pkt, NULL), GDB_ACT_REPLY), out)

/* target.xml, read in chunks the way gdb does */
static char *read_xml(struct fx *f, unsigned chunk)
{
    static char xml[16384];
    size_t len = 0;
    for (;;) {
        char q[64];
        snprintf(q, sizeof(q), "qXfer:features:read:target.xml:%zx,%x", len, chunk);
        REPLY(f, q);
        assert_true(out[0] == 'm' || out[0] == 'l');
        size_t n = strlen(out + 1);
        assert_true(n <= chunk);
        assert_true(len + n < sizeof(xml));
        memcpy(xml + len, out + 1, n);
        len += n;
        if (out[0] == 'l') break;
        assert_int_equal(n, chunk);
    }
    xml[len] = 0;
    return xml;
}

static int regnum_of(const char *xml, const char *name)
{
    char key[64];
    snprintf(key, sizeof(key), "name=\"%s\"", name);
    const char *p = strstr(xml, key);
    assert_non_null(p);
    p = strstr(p, "regnum=\"");
    assert_non_null(p);
    return atoi(p + 8);
}

static void test_handle_regs(void **st)
{
    struct fx *f = fx_new();
    struct gdb_stub_config gc = { .m = f->m };
    f->g = gdb_stub_new(&gc);
    gdb_stub_add_hart(f->g, f->h[0]);
    gdb_stub_add_hart(f->g, f->h[1]);

    assert_non_null(strstr(REPLY(f, "qSupported:multiprocess+;swbreak+;xmlRegisters=i386"), "PacketSize=4000"));
    assert_non_null(strstr(out, "qXfer:features:read+"));
    char *xml = read_xml(f, 200);
    assert_non_null(strstr(xml, "<architecture>riscv:rv64</architecture>"));
    assert_non_null(strstr(xml, "org.gnu.gdb.riscv.cpu"));
    assert_non_null(strstr(xml, "org.gnu.gdb.riscv.fpu"));
    assert_non_null(strstr(xml, "org.gnu.gdb.riscv.csr"));
    size_t xl = strlen(xml);
    assert_true(xl > 20 && strcmp(xml + xl - 10, "</target>\n") == 0);
    assert_string_equal(read_xml(f, 4000), xml);         /* same in bigger chunks */
    assert_int_equal(regnum_of(xml, "pc"), GDB_REG_PC);
    assert_int_equal(regnum_of(xml, "ft0"), GDB_REG_F0);
    assert_int_equal(regnum_of(xml, "fcsr"), GDB_REG_FCSR);
    assert_string_equal(REPLY(f, "qXfer:features:read:other.xml:0,100"), "E00");
    assert_string_equal(REPLY(f, "qXfer:features:read:target.xml:ffffff,100"), "E01");

    assert_string_equal(REPLY(f, "?"), "T05thread:1;");
    rv_set_x(f->h[0], 5, 0x1122334455667788ull);
    REPLY(f, "g");
    assert_int_equal(strlen(out), 33 * 16);
    assert_memory_equal(out + 5 * 16, "8877665544332211", 16);
    assert_memory_equal(out + 32 * 16, "0000008000000000", 16);     /* pc 0x80000000 */
    assert_memory_equal(out, "0000000000000000", 16);              /* x0 */
    /* G: x0 ignored, x6 and pc written */
    char g[33 * 16 + 2];
    memcpy(g + 1, out, 33 * 16 + 1);
    g[0] = 'G';
    memcpy(g + 1, "ffffffffffffffff", 16);
    memcpy(g + 1 + 6 * 16, "0100000000000000", 16);
    memcpy(g + 1 + 32 * 16, "0400008000000000", 16);
    assert_string_equal(REPLY(f, g), "OK");
    assert_int_equal(rv_get_x(f->h[0], 0), 0);
    assert_int_equal(rv_get_x(f->h[0], 6), 1);
    assert_int_equal(rv_get_pc(f->h[0]), RAM + 4);
    assert_string_equal(REPLY(f, "Gzz"), "E01");
    assert_string_equal(REPLY(f, "p20"), "0400008000000000");
    assert_string_equal(REPLY(f, "p5"), "8877665544332211");
    assert_string_equal(REPLY(f, "P5=0102030405060708"), "OK");
    assert_int_equal(rv_get_x(f->h[0], 5), 0x0807060504030201ull);
    /* FP: f0 = 1.0, fcsr / frm / fflags are 32-bit */
    assert_string_equal(REPLY(f, "P21=000000000000f03f"), "OK");
    assert_int_equal(rv_get_f(f->h[0], 0), 0x3ff0000000000000ull);
    assert_string_equal(REPLY(f, "p21"), "000000000000f03f");
    assert_string_equal(REPLY(f, "P43=e1000000"), "OK");          /* fcsr: frm 7, NX */
    uint64_t v;
    assert_int_equal(rv_csr_read(f->h[0], 3, &v), 0);
    assert_int_equal(v, 0xe1);
    assert_string_equal(REPLY(f, "p41"), "01000000");             /* fflags */
    assert_string_equal(REPLY(f, "p42"), "07000000");             /* frm */
    assert_string_equal(REPLY(f, "P43=e1"), "E01");              /* wrong size */
    /* CSRs by the numbers target.xml gives */
    char q[64];
    int rm = regnum_of(xml, "mscratch"), rs = regnum_of(xml, "mstatus"), rp = regnum_of(xml, "priv");
    snprintf(q, sizeof(q), "P%x=efbeadde00000000", rm);
    assert_string_equal(REPLY(f, q), "OK");
    assert_int_equal(rv_csr_read(f->h[0], 0x340, &v), 0);
    assert_int_equal(v, 0xdeadbeef);
    snprintf(q, sizeof(q), "p%x", rs);
    REPLY(f, q);
    assert_int_equal(rv_csr_read(f->h[0], 0x300, &v), 0);
    char want[17];
    for (int i = 0; i < 8; i++) snprintf(want + 2 * i, 3, "%02x", (unsigned)(v >> (8 * i)) & 0xff);
    assert_string_equal(out, want);
    snprintf(q, sizeof(q), "p%x", rp);
    assert_string_equal(REPLY(f, q), "0300000000000000");       /* M-mode */
    snprintf(q, sizeof(q), "P%x=0100000000000000", rp);
    assert_string_equal(REPLY(f, q), "OK");
    assert_int_equal(rv_get_priv(f->h[0]), RV_PRIV_S);
    snprintf(q, sizeof(q), "P%x=0200000000000000", rp);
    assert_string_equal(REPLY(f, q), "E01");                     /* no such mode */
    rv_set_priv(f->h[0], RV_PRIV_M);
    assert_string_equal(REPLY(f, "p999"), "E01");
    assert_string_equal(REPLY(f, "pzz"), "E01");

    gdb_stub_free(f->g);
    fx_free(f);
}

static void test_handle_mem_bp_threads(void **st)
{
    struct fx *f = fx_new();
    struct gdb_stub_config gc = { .m = f->m };
    unsigned t;
    f->g = gdb_stub_new(&gc);
    gdb_stub_add_hart(f->g, f->h[0]);
    gdb_stub_add_hart(f->g, f->h[1]);

    /* memory */
    static const uint8_t pat[8] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4 };
    assert_int_equal(mem_write(&f->mem, RAM + 0x1000, pat, 8), 0);
    assert_string_equal(REPLY(f, "m80001000,8"), "deadbeef01020304");
    assert_string_equal(REPLY(f, "M80001004,2:aabb"), "OK");
    uint8_t b[8];
    assert_int_equal(mem_read(&f->mem, RAM + 0x1000, b, 8), 0);
    assert_int_equal(b[4], 0xaa);
    assert_int_equal(b[5], 0xbb);
    assert_int_equal(b[6], 3);
    assert_string_equal(REPLY(f, "m1000,4"), "E14");             /* no RAM there */
    assert_string_equal(REPLY(f, "M1000,1:00"), "E14");
    assert_string_equal(REPLY(f, "M80001000,2:aa"), "E01");       /* length mismatch */
    assert_string_equal(REPLY(f, "m80001000"), "E01");
    assert_string_equal(REPLY(f, "m80001000,0"), "");
    /* a read that runs off the end of RAM returns what exists */
    REPLY(f, "m800ffffc,8");
    assert_int_equal(strlen(out), 8);

    /* a breakpoint stops rv_run before the instruction */
    rv_set_x(f->h[0], 5, 0);
    rv_set_pc(f->h[0], RAM);
    assert_string_equal(REPLY(f, "Z0,80000008,4"), "OK");
    assert_int_equal(rv_run(f->h[0], 1000), RV_EXIT_DEBUG);
    assert_int_equal(rv_get_pc(f->h[0]), RAM + 8);
    assert_int_equal(rv_get_x(f->h[0], 5), 2);
    assert_string_equal(REPLY(f, "z0,80000008,4"), "OK");
    assert_int_equal(rv_run(f->h[0], 2), RV_EXIT_BUDGET);
    assert_int_equal(rv_get_pc(f->h[0]), RAM + 0x10);
    assert_int_equal(rv_get_x(f->h[0], 5), 4);
    assert_string_equal(REPLY(f, "Z1,80000010,4"), "OK");        /* hardware kind: same */
    assert_int_equal(rv_run(f->h[0], 5), RV_EXIT_DEBUG);
    assert_string_equal(REPLY(f, "z1,80000010,4"), "OK");
    /* watchpoints: write, read, access; a zero length is refused; Z5 is unknown */
    assert_string_equal(REPLY(f, "Z2,80001000,8"), "OK");
    assert_string_equal(REPLY(f, "Z3,80001000,4"), "OK");
    assert_string_equal(REPLY(f, "Z4,80001008,1"), "OK");
    assert_string_equal(REPLY(f, "Z2,80001000,0"), "E16");
    assert_string_equal(REPLY(f, "z2,80001000,8"), "OK");
    assert_string_equal(REPLY(f, "z3,80001000,4"), "OK");
    assert_string_equal(REPLY(f, "z4,80001008,1"), "OK");
    assert_string_equal(REPLY(f, "Z5,80001000,8"), "");
    assert_string_equal(REPLY(f, "Z0,zz"), "E01");

    /* threads */
    assert_string_equal(REPLY(f, "qfThreadInfo"), "m1,2");
    assert_string_equal(REPLY(f, "qsThreadInfo"), "l");
    assert_string_equal(REPLY(f, "qC"), "QC1");
    rv_set_x(f->h[1], 5, 0x55);
    assert_string_equal(REPLY(f, "Hg2"), "OK");
    assert_string_equal(REPLY(f, "qC"), "QC2");
    assert_string_equal(REPLY(f, "p5"), "5500000000000000");
    assert_string_equal(REPLY(f, "p20"), "0001008000000000");
    assert_string_equal(REPLY(f, "Hg3"), "E01");
    assert_string_equal(REPLY(f, "Hgp1.1"), "OK");               /* multiprocess form */
    assert_string_equal(REPLY(f, "qC"), "QC1");
    assert_string_equal(REPLY(f, "Hc-1"), "OK");
    assert_string_equal(REPLY(f, "Hg0"), "OK");
    assert_string_equal(REPLY(f, "T2"), "OK");
    assert_string_equal(REPLY(f, "T3"), "E01");
    REPLY(f, "qThreadExtraInfo,2");
    char info[64] = { 0 };
    for (size_t i = 0; out[2 * i] && i < sizeof(info) - 1; i++) {
        unsigned c;
        sscanf(out + 2 * i, "%2x", &c);
        info[i] = (char)c;
    }
    assert_string_equal(info, "hart 1, M-mode");
    assert_string_equal(REPLY(f, "qAttached"), "1");
    assert_string_equal(REPLY(f, "qOffsets"), "");

    /* actions */
    assert_string_equal(REPLY(f, "vCont?"), "vCont;c;C;s;S");
    assert_int_equal(H(f, "c", &t), GDB_ACT_CONTINUE);
    assert_int_equal(H(f, "s", &t), GDB_ACT_STEP);
    assert_int_equal(t, 0);
    assert_int_equal(H(f, "vCont;s:2;c", &t), GDB_ACT_STEP);
    assert_int_equal(t, 1);
    assert_int_equal(H(f, "vCont;c", &t), GDB_ACT_CONTINUE);
    assert_int_equal(H(f, "vCont;C05:1", &t), GDB_ACT_CONTINUE);
    assert_int_equal(H(f, "vCont;S05:p1.2", &t), GDB_ACT_STEP);
    assert_int_equal(t, 1);
    assert_int_equal(H(f, "vCont;x", &t), GDB_ACT_REPLY);
    assert_string_equal(out, "E01");
    assert_int_equal(H(f, "vCont;s:7", &t), GDB_ACT_REPLY);
    assert_string_equal(out, "E01");
    assert_string_equal(REPLY(f, "Hc2"), "OK");
    assert_int_equal(H(f, "c80000104", &t), GDB_ACT_CONTINUE);   /* c ADDR sets pc first */
    assert_int_equal(t, 1);
    assert_int_equal(rv_get_pc(f->h[1]), RAM + 0x104);
    assert_int_equal(H(f, "C05;80000100", &t), GDB_ACT_CONTINUE);
    assert_int_equal(rv_get_pc(f->h[1]), RAM + 0x100);
    assert_int_equal(H(f, "D", &t), GDB_ACT_DETACH);
    assert_string_equal(out, "OK");
    assert_int_equal(H(f, "k", &t), GDB_ACT_KILL);
    assert_string_equal(REPLY(f, "QStartNoAckMode"), "OK");
    assert_string_equal(REPLY(f, "vMustReplyEmpty"), "");
    assert_string_equal(REPLY(f, "Xabc"), "");

    gdb_stub_free(f->g);
    fx_free(f);
}

/* ------------------------------------------------------------ over TCP */

struct run_ctx {
    struct fx *f;
    unsigned i;
    atomic_bool *done;
};

static void *hart_thread(void *arg)
{
    struct run_ctx *c = arg;
    struct rv_hart *h = c->f->h[c->i];
    while (!atomic_load(c->done)) {
        uint64_t budget = gdb_stub_before_run(c->f->g, h);
        enum rv_exit e = rv_run(h, budget);
        if (gdb_stub_after_run(c->f->g, h, e))
            continue;
        if (e == RV_EXIT_WFI)
            rv_hart_wait(h);
    }
    return NULL;
}

struct client {
    int fd;
    struct gdb_rx rx;
};

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* the next packet from the stub (acks skipped), acked; NULL on timeout */
static const char *recv_pkt(struct client *c)
{
    for (;;) {
        struct pollfd pf = { c->fd, POLLIN, 0 };
        if (poll(&pf, 1, 10000) <= 0)
            return NULL;
        uint8_t ch;
        if (read(c->fd, &ch, 1) != 1)
            return NULL;
        if (gdb_rx_feed(&c->rx, ch) == GDB_RX_PACKET) {
            /* the ack may find the stub gone (after W) */
            (void)!send(c->fd, "+", 1, MSG_NOSIGNAL);
            return c->rx.buf;
        }
    }
}

static const char *xact(struct client *c, const char *pkt)
{
    char fr[512];
    size_t n = gdb_frame(pkt, strlen(pkt), fr, sizeof(fr));
    assert_int_equal(write(c->fd, fr, n), (ssize_t)n);
    const char *r = recv_pkt(c);
    assert_non_null(r);
    return r;
}

/* Continue and interrupt (Ctrl-C) the machine until cond holds of it,
 * stopped: where the harts get to in a while is the scheduler's business,
 * so the test waits for the state it needs, up to 10 s. */
static void run_until(struct client *c, bool (*cond)(struct client *c, void *arg), void *arg)
{
    for (unsigned tries = 0; !cond(c, arg); tries++) {
        assert_true(tries < 10000);
        char fr[16];
        size_t n = gdb_frame("c", 1, fr, sizeof(fr));
        assert_int_equal(write(c->fd, fr, n), (ssize_t)n);
        usleep(1000);
        assert_int_equal(write(c->fd, "\x03", 1), 1);
        const char *r = recv_pkt(c);
        assert_non_null(r);
        assert_memory_equal(r, "T02thread:", 10);
    }
}
static uint64_t pc_of(struct client *c, const char *thread)
{
    assert_string_equal(xact(c, thread), "OK");
    return __builtin_bswap64(strtoull(xact(c, "p20"), NULL, 16));
}
/* both harts in their `j .` loops (hart 0 at RAM + 0x10, hart 1 at RAM + 0x104) */
static bool both_looping(struct client *c, void *arg)
{
    (void)arg;
    return pc_of(c, "Hg1") == RAM + 0x10 && pc_of(c, "Hg2") == RAM + 0x104;
}
/* hart 0 retired more than `min` instructions (register `q` is minstret) */
struct ran_on {
    const char *q;
    uint64_t min;
};
static bool ran_past(struct client *c, void *arg)
{
    const struct ran_on *r = arg;
    assert_string_equal(xact(c, "Hg1"), "OK");
    return __builtin_bswap64(strtoull(xact(c, r->q), NULL, 16)) > r->min;
}

static void test_tcp(void **st)
{
    struct fx *f = fx_new();
    atomic_bool done = false;
    struct gdb_stub_config gc = { .m = f->m, .wait = true };
    f->g = gdb_stub_start("tcp::0", &gc);
    assert_non_null(f->g);
    assert_true(gdb_stub_port(f->g) > 0);
    gdb_stub_add_hart(f->g, f->h[0]);
    gdb_stub_add_hart(f->g, f->h[1]);
    pthread_t th[2];
    struct run_ctx rc[2] = { { f, 0, &done }, { f, 1, &done } };
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hart_thread, &rc[i]), 0);
    usleep(20000);
    /* -S: nothing ran yet */
    assert_int_equal(rv_get_pc(f->h[0]), RAM);
    assert_int_equal(rv_instret(f->h[0]), 0);

    char q_instret[16];
    snprintf(q_instret, sizeof(q_instret), "p%x", regnum_of(read_xml(f, 4000), "minstret"));
    struct client c = { .fd = connect_to(gdb_stub_port(f->g)) };
    gdb_rx_init(&c.rx);
    assert_non_null(strstr(xact(&c, "qSupported:swbreak+"), "PacketSize"));
    assert_string_equal(xact(&c, "?"), "T05thread:1;");
    assert_string_equal(xact(&c, "p20"), "0000008000000000");
    /* one step of hart 1 (thread 1) */
    assert_string_equal(xact(&c, "s"), "T05thread:1;");
    assert_string_equal(xact(&c, "p20"), "0400008000000000");
    assert_string_equal(xact(&c, "p5"), "0100000000000000");
    assert_string_equal(xact(&c, "Hg2"), "OK");
    assert_string_equal(xact(&c, "p20"), "0001008000000000");   /* the other hart did not move */
    assert_string_equal(xact(&c, "Hg1"), "OK");
    /* breakpoint + continue */
    assert_string_equal(xact(&c, "Z0,8000000c,4"), "OK");
    assert_string_equal(xact(&c, "c"), "T05thread:1;");
    assert_string_equal(xact(&c, "p20"), "0c00008000000000");
    assert_string_equal(xact(&c, "p5"), "0300000000000000");
    /* stepping from a breakpoint's own address executes it */
    assert_string_equal(xact(&c, "s"), "T05thread:1;");
    assert_string_equal(xact(&c, "p20"), "1000008000000000");
    assert_string_equal(xact(&c, "p5"), "0400000000000000");
    assert_string_equal(xact(&c, "z0,8000000c,4"), "OK");
    /* continue into `j .` on both harts, Ctrl-C once both are there */
    char fr[16];
    size_t n;
    const char *r;
    run_until(&c, both_looping, NULL);
    assert_string_equal(xact(&c, "Hg1"), "OK");
    assert_string_equal(xact(&c, "p20"), "1000008000000000");
    assert_string_equal(xact(&c, "Hg2"), "OK");
    assert_string_equal(xact(&c, "p20"), "0401008000000000");   /* hart 1 ran too, now in its loop */
    char i1[32];
    snprintf(i1, sizeof(i1), "%s", xact(&c, q_instret));
    usleep(20000);
    assert_string_equal(xact(&c, q_instret), i1);                 /* and is stopped */
    /* step the other hart: one more instruction retired */
    assert_string_equal(xact(&c, "vCont;s:2"), "T05thread:2;");
    uint64_t a = strtoull(i1, NULL, 16), b;                       /* little-endian hex */
    a = __builtin_bswap64(a);
    b = __builtin_bswap64(strtoull(xact(&c, q_instret), NULL, 16));
    assert_int_equal(b, a + 1);
    /* no-ack mode */
    assert_string_equal(xact(&c, "QStartNoAckMode"), "OK");
    assert_string_equal(xact(&c, "qC"), "QC2");
    /* detach: breakpoints go, the machine runs on */
    assert_string_equal(xact(&c, "Z0,80000100,4"), "OK");
    assert_string_equal(xact(&c, "Hg1"), "OK");
    a = __builtin_bswap64(strtoull(xact(&c, q_instret), NULL, 16));
    assert_string_equal(xact(&c, "D"), "OK");
    close(c.fd);

    /* reconnect: stopped again, after hart 0 ran on; the machine exits
     * while running: W */
    c.fd = connect_to(gdb_stub_port(f->g));
    gdb_rx_init(&c.rx);
    assert_string_equal(xact(&c, "?")[0] == 'T' ? "T" : "?", "T");
    struct ran_on since = { q_instret, a + 1000 };
    run_until(&c, ran_past, &since);                              /* it ran while detached */
    assert_string_equal(xact(&c, "Hg1"), "OK");
    char i0[32];
    snprintf(i0, sizeof(i0), "%s", xact(&c, q_instret));
    b = __builtin_bswap64(strtoull(i0, NULL, 16));
    assert_true(b > a + 1000);                                    /* it ran while detached */
    usleep(20000);
    assert_string_equal(xact(&c, q_instret), i0);                 /* and is stopped now */
    n = gdb_frame("c", 1, fr, sizeof(fr));
    assert_int_equal(write(c.fd, fr, n), (ssize_t)n);
    usleep(20000);
    atomic_store(&done, true);
    gdb_stub_machine_exit(f->g, 3);
    r = recv_pkt(&c);
    assert_non_null(r);
    assert_string_equal(r, "W03");
    for (int i = 0; i < 2; i++) {
        rv_kick(f->h[i]);
        pthread_join(th[i], NULL);
    }
    close(c.fd);
    gdb_stub_free(f->g);
    fx_free(f);
}

/* The real debugger: gdb-multiarch in batch mode reads target.xml,
 * registers (x, pc, CSRs, priv), memory, steps, breaks, lists threads. */
static void test_gdb_multiarch(void **st)
{
    if (system("gdb-multiarch --version >/dev/null 2>&1") != 0) {
        skip();                                   /* gdb-multiarch not installed */
        return;
    }
    struct fx *f = fx_new();
    atomic_bool done = false;
    struct gdb_stub_config gc = { .m = f->m, .wait = true };
    f->g = gdb_stub_start("tcp::0", &gc);
    assert_non_null(f->g);
    gdb_stub_add_hart(f->g, f->h[0]);
    gdb_stub_add_hart(f->g, f->h[1]);
    pthread_t th[2];
    struct run_ctx rc[2] = { { f, 0, &done }, { f, 1, &done } };
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hart_thread, &rc[i]), 0);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "timeout 60 gdb-multiarch -nx -batch -ex 'set confirm off' "
             "-ex 'target remote 127.0.0.1:%d' -ex 'p/x $pc' -ex 'stepi' -ex 'p/x $pc' -ex 'p/x $t0' "
             "-ex 'break *0x8000000c' -ex 'continue' -ex 'p/x $pc' -ex 'p/x $t0' -ex 'p/x $priv' "
             "-ex 'p/x $misa' -ex 'x/2wx 0x80000000' -ex 'set var $a0 = 0x1234' -ex 'p/x $a0' "
             "-ex 'info threads' -ex 'p $ft0' -ex 'detach' 2>&1",
             gdb_stub_port(f->g));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char o[16384];
    size_t n = fread(o, 1, sizeof(o) - 1, p);
    o[n] = 0;
    pclose(p);
    if (getenv("TEST_GDB_VERBOSE"))
        fputs(o, stderr);
    const char *want[] = {
        "$1 = 0x80000000", "$2 = 0x80000004", "$3 = 0x1", "Breakpoint 1 at 0x8000000c",
        "$4 = 0x8000000c", "$5 = 0x3", "$6 = 0x3", "0x80000000:\t0x00128293\t0x00128293",
        "$8 = 0x1234", "Thread 2", "Thread 1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        if (!strstr(o, want[i]))
            fail_msg("gdb output lacks \"%s\":\n%s", want[i], o);
    }
    uint64_t misa = 0;
    assert_int_equal(rv_csr_read(f->h[0], 0x301, &misa), 0);
    char m[64];
    snprintf(m, sizeof(m), "$7 = 0x%llx", (unsigned long long)misa);
    if (!strstr(o, m))
        fail_msg("gdb output lacks \"%s\":\n%s", m, o);
    atomic_store(&done, true);
    gdb_stub_machine_exit(f->g, 0);
    for (int i = 0; i < 2; i++) {
        rv_kick(f->h[i]);
        pthread_join(th[i], NULL);
    }
    gdb_stub_free(f->g);
    assert_int_equal(rv_get_x(f->h[0], 10), 0x1234);      /* the write reached the hart */
    fx_free(f);
}

static void test_bad_spec(void **st)
{
    struct gdb_stub_config gc = { 0 };
    assert_null(gdb_stub_start("1234", &gc));
    assert_null(gdb_stub_start("tcp:", &gc));
    assert_null(gdb_stub_start("tcp::abc", &gc));
    assert_null(gdb_stub_start("tcp::99999", &gc));
    assert_null(gdb_stub_start("udp::1234", &gc));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame),
        cmocka_unit_test(test_rx),
        cmocka_unit_test(test_handle_regs),
        cmocka_unit_test(test_handle_mem_bp_threads),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_gdb_multiarch),
        cmocka_unit_test(test_bad_spec),
    };
    log_set_level(LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
