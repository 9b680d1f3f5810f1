/* emu/riscv/gdb: GDB remote serial protocol stub (see gdb.h).
 *
 * Three layers: packet framing (gdb_rx_feed / gdb_frame), the command
 * layer (gdb_stub_handle: registers, memory, breakpoints, threads, with the
 * machine stopped), and the server thread, which owns the connection and
 * stops and resumes the harts through the gate the hart threads pass
 * (gdb_stub_before_run / gdb_stub_after_run).
 *
 * All-stop: when one hart stops (breakpoint, finished step, Ctrl-C) every
 * hart is kicked out of rv_run and waits in gdb_stub_before_run until gdb
 * continues. A hart is "executing" from gdb_stub_before_run's return to
 * gdb_stub_after_run; the stub touches registers only when none is. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "emu/riscv/gdb.h"

#define GDB_MAX_HARTS 64
#define GDB_MAX_BP 64
#define SIG_INT 2
#define SIG_TRAP 5

/* CSRs offered to gdb, in register-number order from GDB_REG_CSR0. */
static const struct { const char *name; unsigned num; } csr_list[] = {
    { "sstatus", 0x100 }, { "sie", 0x104 }, { "stvec", 0x105 }, { "scounteren", 0x106 },
    { "senvcfg", 0x10a }, { "sscratch", 0x140 }, { "sepc", 0x141 }, { "scause", 0x142 },
    { "stval", 0x143 }, { "sip", 0x144 }, { "stimecmp", 0x14d }, { "satp", 0x180 },
    { "mstatus", 0x300 }, { "misa", 0x301 }, { "medeleg", 0x302 }, { "mideleg", 0x303 },
    { "mie", 0x304 }, { "mtvec", 0x305 }, { "mcounteren", 0x306 }, { "menvcfg", 0x30a },
    { "mscratch", 0x340 }, { "mepc", 0x341 }, { "mcause", 0x342 }, { "mtval", 0x343 },
    { "mip", 0x344 }, { "mcycle", 0xb00 }, { "minstret", 0xb02 }, { "cycle", 0xc00 },
    { "time", 0xc01 }, { "instret", 0xc02 }, { "mvendorid", 0xf11 }, { "marchid", 0xf12 },
    { "mimpid", 0xf13 }, { "mhartid", 0xf14 },
};
#define NCSR ARRAY_SIZE(csr_list)
#define GDB_REG_PRIV (GDB_REG_CSR0 + (int)NCSR)
#define GDB_NREGS (GDB_REG_PRIV + 1)

struct gdb_stub {
    struct gdb_stub_config cfg;
    pthread_mutex_t lock;
    pthread_cond_t hart_cond;        /* harts waiting in before_run */
    pthread_cond_t idle_cond;        /* the stub waiting for harts to leave rv_run */
    struct rv_hart *harts[GDB_MAX_HARTS];
    bool executing[GDB_MAX_HARTS];
    unsigned nharts;
    bool stopped;                    /* gdb holds the machine */
    bool quit;                       /* machine gone or stub freed: never block a hart */
    int step_hart;                   /* -1: none */
    bool step_pending, step_active;
    uint64_t step_pc, step_instret;
    bool ev_pending;                 /* a stop event for the server thread */
    unsigned ev_hart;
    int ev_sig;
    unsigned ev_wkind;               /* a watchpoint hit: its RV_WATCH_* kind, or 0 */
    uint64_t ev_waddr;
    unsigned last_hart;              /* of the last stop reply */
    int last_sig;
    unsigned last_wkind;
    uint64_t last_waddr;
    unsigned cur_g, cur_c;           /* Hg / Hc selections (hart index) */
    uint64_t bp[GDB_MAX_BP];
    unsigned nbp;
    struct gdb_wp { uint64_t addr, len; unsigned kind; } wp[RV_MAX_WP];
    unsigned nwp;
    bool noack;
    bool exited;
    int exit_status;
    /* server */
    int listen_fd, conn_fd;
    int wake[2];                     /* hart threads / machine_exit -> server */
    int port;
    pthread_t thread;
    bool thread_started;
    struct gdb_rx rx;
    char reply[GDB_PKT_MAX + 1];
    char frame[2 * GDB_PKT_MAX + 8];
    uint8_t mem[GDB_PKT_MAX / 2];    /* m / M: the bytes read or to write */
    char target_xml[8192];
    size_t target_xml_len;
};

/* ------------------------------------------------------------ framing */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
static const char hexdig[] = "0123456789abcdef";

enum { RX_IDLE, RX_DATA, RX_ESC, RX_CS1, RX_CS2 };

void gdb_rx_init(struct gdb_rx *rx)
{
    rx->state = RX_IDLE;
    rx->len = 0;
    rx->overflow = false;
    rx->buf[0] = 0;
}

static void rx_put(struct gdb_rx *rx, char c)
{
    if (rx->len < GDB_PKT_MAX)
        rx->buf[rx->len++] = c;
    else
        rx->overflow = true;
}

enum gdb_rx_event gdb_rx_feed(struct gdb_rx *rx, uint8_t c)
{
    int v;
    switch (rx->state) {
    case RX_IDLE:
        if (c == '$') {
            rx->state = RX_DATA;
            rx->len = 0;
            rx->sum = 0;
            rx->overflow = false;
            return GDB_RX_NONE;
        }
        if (c == 0x03) return GDB_RX_INTERRUPT;
        if (c == '+') return GDB_RX_ACK;
        if (c == '-') return GDB_RX_NACK;
        return GDB_RX_NONE;                       /* noise between packets */
    case RX_DATA:
        if (c == '#') {
            rx->state = RX_CS1;
        } else if (c == '$') {                    /* a new start: drop the partial one */
            rx->len = 0;
            rx->sum = 0;
            rx->overflow = false;
        } else {
            rx->sum += c;
            if (c == '}') rx->state = RX_ESC;
            else rx_put(rx, (char)c);
        }
        return GDB_RX_NONE;
    case RX_ESC:
        rx->sum += c;
        rx_put(rx, (char)(c ^ 0x20));
        rx->state = RX_DATA;
        return GDB_RX_NONE;
    case RX_CS1:
        v = hexval(c);
        if (v < 0) {
            rx->state = RX_IDLE;
            return GDB_RX_BADSUM;
        }
        rx->got = (uint8_t)(v << 4);
        rx->state = RX_CS2;
        return GDB_RX_NONE;
    case RX_CS2:
        rx->state = RX_IDLE;
        v = hexval(c);
        if (v < 0 || (uint8_t)(rx->got | v) != rx->sum || rx->overflow)
            return GDB_RX_BADSUM;
        rx->buf[rx->len] = 0;
        return GDB_RX_PACKET;
    }
    rx->state = RX_IDLE;
    return GDB_RX_NONE;
}

size_t gdb_frame(const char *payload, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    uint8_t sum = 0;
    if (cap < 4)
        return 0;
    out[o++] = '$';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)payload[i];
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            if (o + 2 > cap - 3) return 0;
            out[o++] = '}';
            sum += '}';
            c ^= 0x20;
        } else if (o + 1 > cap - 3) {
            return 0;
        }
        out[o++] = (char)c;
        sum += c;
    }
    out[o++] = '#';
    out[o++] = hexdig[sum >> 4];
    out[o++] = hexdig[sum & 15];
    return o;
}

/* ------------------------------------------------------------ helpers */

static char *put_hex(char *o, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        *o++ = hexdig[p[i] >> 4];
        *o++ = hexdig[p[i] & 15];
    }
    *o = 0;
    return o;
}

/* parse hex bytes; returns the count or -1 */
static long get_hex_bytes(const char *s, size_t slen, uint8_t *out, size_t max)
{
    size_t n = 0;
    if (slen % 2)
        return -1;
    for (size_t i = 0; i < slen; i += 2) {
        int a = hexval(s[i]), b = hexval(s[i + 1]);
        if (a < 0 || b < 0 || n >= max)
            return -1;
        out[n++] = (uint8_t)(a << 4 | b);
    }
    return (long)n;
}

/* parse a hex number at *s, advancing; false if none */
static bool get_num(const char **s, const char *end, uint64_t *v)
{
    const char *p = *s;
    uint64_t x = 0;
    int d, n = 0;
    while (p < end && (d = hexval(*p)) >= 0 && n < 16) {
        x = x << 4 | (uint64_t)d;
        p++;
        n++;
    }
    if (!n || (p < end && hexval(*p) >= 0))
        return false;
    *s = p;
    *v = x;
    return true;
}

static void le_bytes(uint64_t v, uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t from_le(const uint8_t *b, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* ------------------------------------------------------------ registers */

static size_t reg_size(int r)
{
    return (r == GDB_REG_FFLAGS || r == GDB_REG_FRM || r == GDB_REG_FCSR) ? 4 : 8;
}

static int reg_get(struct rv_hart *h, int r, uint64_t *v)
{
    if (r >= 0 && r < 32) { *v = rv_get_x(h, (unsigned)r); return 0; }
    if (r == GDB_REG_PC) { *v = rv_get_pc(h); return 0; }
    if (r >= GDB_REG_F0 && r < GDB_REG_F0 + 32) { *v = rv_get_f(h, (unsigned)(r - GDB_REG_F0)); return 0; }
    if (r == GDB_REG_FFLAGS) return rv_csr_read(h, 0x001, v);
    if (r == GDB_REG_FRM) return rv_csr_read(h, 0x002, v);
    if (r == GDB_REG_FCSR) return rv_csr_read(h, 0x003, v);
    if (r >= GDB_REG_CSR0 && r < GDB_REG_PRIV) return rv_csr_read(h, csr_list[r - GDB_REG_CSR0].num, v);
    if (r == GDB_REG_PRIV) { *v = (uint64_t)rv_get_priv(h); return 0; }
    return -1;
}

static int reg_set(struct rv_hart *h, int r, uint64_t v)
{
    if (r == 0) return 0;                                 /* x0 */
    if (r > 0 && r < 32) { rv_set_x(h, (unsigned)r, v); return 0; }
    if (r == GDB_REG_PC) { rv_set_pc(h, v); return 0; }
    if (r >= GDB_REG_F0 && r < GDB_REG_F0 + 32) { rv_set_f(h, (unsigned)(r - GDB_REG_F0), v); return 0; }
    if (r == GDB_REG_FFLAGS) return rv_csr_write(h, 0x001, v);
    if (r == GDB_REG_FRM) return rv_csr_write(h, 0x002, v);
    if (r == GDB_REG_FCSR) return rv_csr_write(h, 0x003, v);
    if (r >= GDB_REG_CSR0 && r < GDB_REG_PRIV) return rv_csr_write(h, csr_list[r - GDB_REG_CSR0].num, v);
    if (r == GDB_REG_PRIV) {
        if (v != RV_PRIV_U && v != RV_PRIV_S && v != RV_PRIV_M) return -1;
        rv_set_priv(h, (enum rv_priv)v);
        return 0;
    }
    return -1;
}

static const char *const xnames[32] = {
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
    "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
};
static const char *const fnames[32] = {
    "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1", "fa2", "fa3",
    "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9", "fs10", "fs11",
    "ft8", "ft9", "ft10", "ft11",
};

/* target.xml, built with the stub */
static void build_target_xml(struct gdb_stub *g)
{
    char *p = g->target_xml, *e = g->target_xml + sizeof(g->target_xml);
#define ADD(...) p += snprintf(p, (size_t)(e - p), __VA_ARGS__)
    ADD("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
        "<target version=\"1.0\">\n<architecture>riscv:rv64</architecture>\n"
        "<feature name=\"org.gnu.gdb.riscv.cpu\">\n");
    for (int i = 0; i < 32; i++)
        ADD("<reg name=\"%s\" bitsize=\"64\" type=\"%s\" regnum=\"%d\"/>\n", xnames[i],
            i == 1 ? "code_ptr" : (i == 2 || i == 8) ? "data_ptr" : "int", i);
    ADD("<reg name=\"pc\" bitsize=\"64\" type=\"code_ptr\" regnum=\"%d\"/>\n</feature>\n", GDB_REG_PC);
    ADD("<feature name=\"org.gnu.gdb.riscv.fpu\">\n<union id=\"riscv_double\">"
        "<field name=\"float\" type=\"ieee_single\"/><field name=\"double\" type=\"ieee_double\"/>"
        "</union>\n");
    for (int i = 0; i < 32; i++)
        ADD("<reg name=\"%s\" bitsize=\"64\" type=\"riscv_double\" regnum=\"%d\"/>\n", fnames[i],
            GDB_REG_F0 + i);
    ADD("<reg name=\"fflags\" bitsize=\"32\" type=\"int\" regnum=\"%d\"/>\n"
        "<reg name=\"frm\" bitsize=\"32\" type=\"int\" regnum=\"%d\"/>\n"
        "<reg name=\"fcsr\" bitsize=\"32\" type=\"int\" regnum=\"%d\"/>\n</feature>\n",
        GDB_REG_FFLAGS, GDB_REG_FRM, GDB_REG_FCSR);
    ADD("<feature name=\"org.gnu.gdb.riscv.csr\">\n");
    for (unsigned i = 0; i < NCSR; i++)
        ADD("<reg name=\"%s\" bitsize=\"64\" type=\"int\" regnum=\"%d\"/>\n", csr_list[i].name,
            GDB_REG_CSR0 + (int)i);
    ADD("</feature>\n<feature name=\"org.gnu.gdb.riscv.virtual\">\n"
        "<reg name=\"priv\" bitsize=\"64\" type=\"int\" regnum=\"%d\"/>\n</feature>\n</target>\n",
        GDB_REG_PRIV);
#undef ADD
    g->target_xml_len = (size_t)(p - g->target_xml);
}

/* ------------------------------------------------------------ command layer */

static struct gdb_stub *stub_alloc(const struct gdb_stub_config *cfg)
{
    struct gdb_stub *g = xzalloc(sizeof(*g));
    g->cfg = *cfg;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->hart_cond, NULL);
    pthread_cond_init(&g->idle_cond, NULL);
    g->stopped = cfg->wait;
    g->step_hart = -1;
    g->last_sig = SIG_TRAP;
    g->listen_fd = g->conn_fd = -1;
    g->wake[0] = g->wake[1] = -1;
    build_target_xml(g);
    return g;
}

struct gdb_stub *gdb_stub_new(const struct gdb_stub_config *cfg)
{
    return stub_alloc(cfg);
}

void gdb_stub_add_hart(struct gdb_stub *g, struct rv_hart *h)
{
    pthread_mutex_lock(&g->lock);
    if (g->nharts < GDB_MAX_HARTS) {
        g->executing[g->nharts] = false;
        g->harts[g->nharts++] = h;
    } else {
        log_once(LOG_WARN, "gdb: more than %d harts; the others are not debuggable", GDB_MAX_HARTS);
    }
    pthread_mutex_unlock(&g->lock);
}

void gdb_stub_remove_hart(struct gdb_stub *g, struct rv_hart *h)
{
    pthread_mutex_lock(&g->lock);
    for (unsigned i = 0; i < g->nharts; i++) {
        if (g->harts[i] != h)
            continue;
        memmove(&g->harts[i], &g->harts[i + 1], (g->nharts - i - 1) * sizeof(g->harts[0]));
        memmove(&g->executing[i], &g->executing[i + 1], (g->nharts - i - 1) * sizeof(g->executing[0]));
        g->nharts--;
        if (g->cur_g >= g->nharts) g->cur_g = 0;
        if (g->cur_c >= g->nharts) g->cur_c = 0;
        if (g->step_hart == (int)i) { g->step_hart = -1; g->step_pending = g->step_active = false; }
        break;
    }
    pthread_cond_broadcast(&g->idle_cond);
    pthread_mutex_unlock(&g->lock);
}

static int hart_index(struct gdb_stub *g, struct rv_hart *h)
{
    for (unsigned i = 0; i < g->nharts; i++)
        if (g->harts[i] == h)
            return (int)i;
    return -1;
}

/* a thread id from gdb: >0 = index+1, 0 = any, -1 = all; false if invalid */
static bool parse_tid(struct gdb_stub *g, const char *s, const char *end, long *tid)
{
    uint64_t v;
    if (end - s == 2 && s[0] == '-' && s[1] == '1') { *tid = -1; return true; }
    if (end - s > 2 && s[0] == 'p') {             /* multiprocess pPID.TID: take TID */
        const char *dot = memchr(s, '.', (size_t)(end - s));
        if (!dot) return false;
        s = dot + 1;
        if (end - s == 2 && s[0] == '-' && s[1] == '1') { *tid = -1; return true; }
    }
    if (!get_num(&s, end, &v) || s != end) return false;
    if (v > g->nharts) return false;
    *tid = (long)v;
    return true;
}

static unsigned tid_to_index(struct gdb_stub *g, long tid, unsigned dflt)
{
    return tid > 0 ? (unsigned)(tid - 1) : (dflt < g->nharts ? dflt : 0);
}

static void reply_str(char *out, const char *s)
{
    snprintf(out, GDB_PKT_MAX + 1, "%s", s);
}

static void reply_stop(struct gdb_stub *g, char *out)
{
    static const char *const wname[] = { "", "watch", "rwatch", "awatch" };
    int n = snprintf(out, GDB_PKT_MAX + 1, "T%02xthread:%x;", (unsigned)g->last_sig, g->last_hart + 1);
    if (g->last_wkind && g->last_wkind <= RV_WATCH_ACCESS)
        snprintf(out + n, (size_t)(GDB_PKT_MAX + 1 - n), "%s:%llx;", wname[g->last_wkind],
                 (unsigned long long)g->last_waddr);
}

static bool starts(const char *pkt, size_t len, const char *pre)
{
    size_t n = strlen(pre);
    return len >= n && memcmp(pkt, pre, n) == 0;
}

static void remember_wp(struct gdb_stub *g, uint64_t a, uint64_t len, unsigned kind, bool set)
{
    unsigned k;
    for (k = 0; k < g->nwp; k++)
        if (g->wp[k].addr == a && g->wp[k].len == len && g->wp[k].kind == kind)
            break;
    if (set && k == g->nwp && g->nwp < RV_MAX_WP)
        g->wp[g->nwp++] = (struct gdb_wp){ a, len, kind };
    else if (!set && k < g->nwp)
        g->wp[k] = g->wp[--g->nwp];
}

static void remember_bp(struct gdb_stub *g, uint64_t a, bool set)
{
    unsigned k;
    for (k = 0; k < g->nbp; k++)
        if (g->bp[k] == a)
            break;
    if (set && k == g->nbp && g->nbp < GDB_MAX_BP)
        g->bp[g->nbp++] = a;
    else if (!set && k < g->nbp)
        g->bp[k] = g->bp[--g->nbp];
}

static void handle_query(struct gdb_stub *g, const char *pkt, size_t len, char *out)
{
    const char *end = pkt + len;
    if (starts(pkt, len, "qSupported")) {
        reply_str(out, "PacketSize=4000;qXfer:features:read+;QStartNoAckMode+;vContSupported+");
    } else if (starts(pkt, len, "qXfer:features:read:")) {
        const char *p = pkt + strlen("qXfer:features:read:");
        const char *colon = memchr(p, ':', (size_t)(end - p));
        uint64_t off, n;
        if (!colon || (size_t)(colon - p) != strlen("target.xml") || memcmp(p, "target.xml", 10)) {
            reply_str(out, "E00");
            return;
        }
        p = colon + 1;
        if (!get_num(&p, end, &off) || p >= end || *p++ != ',' || !get_num(&p, end, &n) || p != end) {
            reply_str(out, "E01");
            return;
        }
        if (off > g->target_xml_len) {
            reply_str(out, "E01");
            return;
        }
        /* room for the escapes of gdb_frame: the XML has none of $#}* */
        n = MIN(n, (uint64_t)(GDB_PKT_MAX - 1));
        size_t left = g->target_xml_len - (size_t)off, take = MIN(left, (size_t)n);
        out[0] = take < left ? 'm' : 'l';
        memcpy(out + 1, g->target_xml + off, take);
        out[1 + take] = 0;
    } else if (starts(pkt, len, "qfThreadInfo")) {
        char *o = out;
        *o++ = 'm';
        for (unsigned i = 0; i < g->nharts; i++)
            o += snprintf(o, (size_t)(out + GDB_PKT_MAX - o), "%s%x", i ? "," : "", i + 1);
        *o = 0;
    } else if (starts(pkt, len, "qsThreadInfo")) {
        reply_str(out, "l");
    } else if (len == 2 && pkt[1] == 'C') {
        snprintf(out, GDB_PKT_MAX + 1, "QC%x", g->cur_g + 1);
    } else if (starts(pkt, len, "qAttached")) {
        reply_str(out, "1");
    } else if (starts(pkt, len, "qThreadExtraInfo,")) {
        long tid;
        const char *p = pkt + strlen("qThreadExtraInfo,");
        if (!parse_tid(g, p, end, &tid) || tid <= 0) {
            reply_str(out, "E01");
            return;
        }
        struct rv_hart *h = g->harts[tid - 1];
        static const char *const pn[] = { "U", "S", "?", "M" };
        char info[64];
        snprintf(info, sizeof(info), "hart %u, %s-mode%s", rv_hart_id(h), pn[rv_get_priv(h) & 3],
                 rv_hart_halted(h) ? ", stopped" : "");
        put_hex(out, info, strlen(info));
    } else if (starts(pkt, len, "qSymbol")) {
        reply_str(out, "OK");
    } else {
        out[0] = 0;                                   /* qOffsets, qTStatus, ...: unsupported */
    }
}

/* vCont;ACTION[:TID];... -> CONTINUE or STEP (the stepped thread in *thread) */
static enum gdb_action handle_vcont(struct gdb_stub *g, const char *pkt, size_t len, char *out,
                                    unsigned *thread)
{
    const char *p = pkt + 5, *end = pkt + len;    /* after "vCont" */
    bool step = false, cont = false, others = false, only_stopped = true;
    unsigned step_idx = g->cur_c, named = 0;
    while (p < end && *p == ';') {
        p++;
        char a = p < end ? *p++ : 0;
        if (a == 'C' || a == 'S') {                   /* signal number: ignored */
            uint64_t sig;
            if (!get_num(&p, end, &sig)) goto bad;
        } else if (a != 'c' && a != 's') {
            goto bad;
        }
        long tid = -1;
        if (p < end && *p == ':') {
            const char *t = ++p;
            while (p < end && *p != ';') p++;
            if (!parse_tid(g, t, p, &tid)) goto bad;
        }
        if (tid > 0) {
            if (!named++ && a != 's' && a != 'S' && !step)
                step_idx = (unsigned)(tid - 1);
            only_stopped = only_stopped && rv_hart_halted(g->harts[tid - 1]);
        } else {
            others = true;
        }
        if (a == 's' || a == 'S') {
            if (!step) step_idx = tid > 0 ? (unsigned)(tid - 1) : g->cur_c;
            step = true;
        } else {
            cont = true;
        }
    }
    if (p != end || (!step && !cont)) goto bad;
    /* only HSM-stopped harts resumed (scheduler-locking on one): none can
     * run, so the "step" ends at once, where it is */
    if (step || (named && !others && only_stopped)) {
        *thread = step_idx < g->nharts ? step_idx : 0;
        return GDB_ACT_STEP;
    }
    *thread = g->cur_c;
    return GDB_ACT_CONTINUE;
bad:
    reply_str(out, "E01");
    return GDB_ACT_REPLY;
}

/* One packet for its handler: the payload, the part after its first
 * character (p .. end), the selected hart (Hg), the reply buffer. */
struct gdb_cmd {
    const char *pkt, *p, *end;
    size_t len;
    struct rv_hart *h;
    char *out;
    unsigned *thread;           /* CONTINUE / STEP: the hart index */
};

static enum gdb_action reply_err(struct gdb_cmd *c)
{
    reply_str(c->out, "E01");
    return GDB_ACT_REPLY;
}

/* ? */
static enum gdb_action cmd_stop_reason(struct gdb_stub *g, struct gdb_cmd *c)
{
    reply_stop(g, c->out);
    return GDB_ACT_REPLY;
}

/* g: x0-x31 and pc */
static enum gdb_action cmd_read_regs(struct gdb_stub *g, struct gdb_cmd *c)
{
    (void)g;
    char *o = c->out;
    for (int r = 0; r <= GDB_REG_PC; r++) {
        uint8_t b[8];
        uint64_t v;
        reg_get(c->h, r, &v);
        le_bytes(v, b, 8);
        o = put_hex(o, b, 8);
    }
    return GDB_ACT_REPLY;
}

/* G: x0-x31 and pc, as far as given */
static enum gdb_action cmd_write_regs(struct gdb_stub *g, struct gdb_cmd *c)
{
    (void)g;
    uint8_t b[8 * (GDB_REG_PC + 1)];
    long nb = get_hex_bytes(c->p, (size_t)(c->end - c->p), b, sizeof(b));
    if (nb < 0 || nb % 8)
        return reply_err(c);
    for (int r = 0; r < nb / 8; r++)
        reg_set(c->h, r, from_le(b + 8 * r, 8));
    reply_str(c->out, "OK");
    return GDB_ACT_REPLY;
}

/* pN: one register of target.xml */
static enum gdb_action cmd_read_reg(struct gdb_stub *g, struct gdb_cmd *c)
{
    (void)g;
    uint64_t n, v;
    if (!get_num(&c->p, c->end, &n) || c->p != c->end || n >= GDB_NREGS || reg_get(c->h, (int)n, &v))
        return reply_err(c);
    uint8_t b[8];
    le_bytes(v, b, reg_size((int)n));
    put_hex(c->out, b, reg_size((int)n));
    return GDB_ACT_REPLY;
}

/* PN=VALUE */
static enum gdb_action cmd_write_reg(struct gdb_stub *g, struct gdb_cmd *c)
{
    (void)g;
    uint8_t b[8];
    uint64_t n;
    const char **p = &c->p;
    if (!get_num(p, c->end, &n) || *p >= c->end || *(*p)++ != '=' || n >= GDB_NREGS ||
        get_hex_bytes(*p, (size_t)(c->end - *p), b, 8) != (long)reg_size((int)n) ||
        reg_set(c->h, (int)n, from_le(b, reg_size((int)n))))
        return reply_err(c);
    reply_str(c->out, "OK");
    return GDB_ACT_REPLY;
}

/* mADDR,LEN: memory through the hart's translation */
static enum gdb_action cmd_read_mem(struct gdb_stub *g, struct gdb_cmd *c)
{
    uint64_t a, n;
    const char **p = &c->p;
    if (!get_num(p, c->end, &a) || *p >= c->end || *(*p)++ != ',' || !get_num(p, c->end, &n) ||
        *p != c->end)
        return reply_err(c);
    n = MIN(n, (uint64_t)sizeof(g->mem));
    int got = n ? rv_virt_read(c->h, a, g->mem, (size_t)n) : 0;
    if (got < 0 || (n && got == 0))
        reply_str(c->out, "E14");
    else
        put_hex(c->out, g->mem, (size_t)got);
    return GDB_ACT_REPLY;
}

/* MADDR,LEN:BYTES */
static enum gdb_action cmd_write_mem(struct gdb_stub *g, struct gdb_cmd *c)
{
    uint64_t a, n;
    const char **p = &c->p;
    if (!get_num(p, c->end, &a) || *p >= c->end || *(*p)++ != ',' || !get_num(p, c->end, &n) ||
        *p >= c->end || *(*p)++ != ':' || n > sizeof(g->mem) ||
        get_hex_bytes(*p, (size_t)(c->end - *p), g->mem, sizeof(g->mem)) != (long)n)
        return reply_err(c);
    if (n && rv_virt_write(c->h, a, g->mem, (size_t)n) != (int)n)
        reply_str(c->out, "E14");
    else
        reply_str(c->out, "OK");
    return GDB_ACT_REPLY;
}

/* Z2/Z3/Z4,ADDR,LEN and z: write, read and access watchpoints (the
 * debugger's own, not the guest's triggers) */
static enum gdb_action cmd_watchpoint(struct gdb_stub *g, struct gdb_cmd *c, uint64_t type,
                                      uint64_t a, uint64_t len)
{
    bool set = c->pkt[0] == 'Z';
    unsigned kind = type == 2 ? RV_WATCH_WRITE : type == 3 ? RV_WATCH_READ : RV_WATCH_ACCESS;
    int r = rv_debug_watchpoint(g->cfg.m, a, len, kind, set);
    if (r == 0) {
        remember_wp(g, a, len, kind, set);
        reply_str(c->out, "OK");
    } else {
        reply_str(c->out, r == -ENOSPC ? "E1c" : "E16");
    }
    return GDB_ACT_REPLY;
}

/* ZTYPE,ADDR,KIND / zTYPE,ADDR,KIND: software and hardware breakpoints */
static enum gdb_action cmd_breakpoint(struct gdb_stub *g, struct gdb_cmd *c)
{
    bool set = c->pkt[0] == 'Z';
    uint64_t type, a, kind;
    const char **p = &c->p;
    if (!get_num(p, c->end, &type) || *p >= c->end || *(*p)++ != ',' || !get_num(p, c->end, &a) ||
        *p >= c->end || *(*p)++ != ',' || !get_num(p, c->end, &kind))
        return reply_err(c);
    if (type >= 2 && type <= 4)
        return cmd_watchpoint(g, c, type, a, kind);
    if (type > 4)                                     /* unknown: not supported */
        return GDB_ACT_REPLY;
    if (rv_debug_breakpoint(g->cfg.m, a, set) == 0) {
        remember_bp(g, a, set);
        reply_str(c->out, "OK");
    } else {
        reply_str(c->out, "E1c");                     /* ENOSPC */
    }
    return GDB_ACT_REPLY;
}

/* c[ADDR], s[ADDR], CSIG[;ADDR], SSIG[;ADDR] */
static enum gdb_action cmd_resume(struct gdb_stub *g, struct gdb_cmd *c)
{
    char k = c->pkt[0];
    uint64_t a;
    if (k == 'C' || k == 'S') {
        uint64_t sig;
        if (!get_num(&c->p, c->end, &sig))
            return reply_err(c);
        if (c->p < c->end && *c->p == ';') c->p++;
    }
    unsigned idx = g->cur_c < g->nharts ? g->cur_c : 0;
    if (c->p < c->end) {
        if (!get_num(&c->p, c->end, &a) || c->p != c->end)
            return reply_err(c);
        rv_set_pc(g->harts[idx], a);
    }
    *c->thread = idx;
    return (k == 's' || k == 'S') ? GDB_ACT_STEP : GDB_ACT_CONTINUE;
}

/* HgTID, HcTID: the thread later commands (g) or resumes (c) act on */
static enum gdb_action cmd_select(struct gdb_stub *g, struct gdb_cmd *c)
{
    long tid;
    if (c->len < 2 || (c->pkt[1] != 'g' && c->pkt[1] != 'c') || !parse_tid(g, c->pkt + 2, c->end, &tid))
        return reply_err(c);
    if (c->pkt[1] == 'g') g->cur_g = tid_to_index(g, tid, g->cur_g);
    else g->cur_c = tid_to_index(g, tid, g->cur_c);
    reply_str(c->out, "OK");
    return GDB_ACT_REPLY;
}

/* TTID: is the thread alive */
static enum gdb_action cmd_alive(struct gdb_stub *g, struct gdb_cmd *c)
{
    long tid;
    reply_str(c->out, parse_tid(g, c->p, c->end, &tid) && tid > 0 ? "OK" : "E01");
    return GDB_ACT_REPLY;
}

static enum gdb_action cmd_query(struct gdb_stub *g, struct gdb_cmd *c)
{
    handle_query(g, c->pkt, c->len, c->out);
    return GDB_ACT_REPLY;
}

/* Q: QStartNoAckMode only */
static enum gdb_action cmd_set(struct gdb_stub *g, struct gdb_cmd *c)
{
    if (starts(c->pkt, c->len, "QStartNoAckMode")) {
        reply_str(c->out, "OK");
        g->noack = true;                              /* from the next packet on */
    }
    return GDB_ACT_REPLY;
}

/* vCont?, vCont;... (vMustReplyEmpty, vKill...: empty) */
static enum gdb_action cmd_v(struct gdb_stub *g, struct gdb_cmd *c)
{
    if (c->len == 6 && starts(c->pkt, c->len, "vCont?")) {
        reply_str(c->out, "vCont;c;C;s;S");
        return GDB_ACT_REPLY;
    }
    if (starts(c->pkt, c->len, "vCont;"))
        return handle_vcont(g, c->pkt, c->len, c->out, c->thread);
    return GDB_ACT_REPLY;
}

static enum gdb_action cmd_detach(struct gdb_stub *g, struct gdb_cmd *c)
{
    (void)g;
    reply_str(c->out, "OK");
    return GDB_ACT_DETACH;
}

static enum gdb_action cmd_kill(struct gdb_stub *g, struct gdb_cmd *c)
{
    (void)g; (void)c;
    return GDB_ACT_KILL;
}

/* The packets by their first character; `hart`: needs a hart to act on
 * (E01 before any is added). Others get the empty reply (unsupported). */
static const struct {
    enum gdb_action (*fn)(struct gdb_stub *g, struct gdb_cmd *c);
    bool hart;
} gdb_cmds[128] = {
    ['?'] = { cmd_stop_reason, false },
    ['g'] = { cmd_read_regs, true }, ['G'] = { cmd_write_regs, true },
    ['p'] = { cmd_read_reg, true }, ['P'] = { cmd_write_reg, true },
    ['m'] = { cmd_read_mem, true }, ['M'] = { cmd_write_mem, true },
    ['Z'] = { cmd_breakpoint, true }, ['z'] = { cmd_breakpoint, true },
    ['c'] = { cmd_resume, true }, ['s'] = { cmd_resume, true },
    ['C'] = { cmd_resume, true }, ['S'] = { cmd_resume, true },
    ['H'] = { cmd_select, false }, ['T'] = { cmd_alive, false },
    ['q'] = { cmd_query, false }, ['Q'] = { cmd_set, false }, ['v'] = { cmd_v, false },
    ['D'] = { cmd_detach, false }, ['k'] = { cmd_kill, false },
};

enum gdb_action gdb_stub_handle(struct gdb_stub *g, const char *pkt, size_t len, char *out,
                                unsigned *thread)
{
    out[0] = 0;
    if (!len)
        return GDB_ACT_REPLY;
    unsigned char k = (unsigned char)pkt[0];
    if (k >= ARRAY_SIZE(gdb_cmds) || !gdb_cmds[k].fn)
        return GDB_ACT_REPLY;                         /* unsupported: empty reply */
    struct gdb_cmd c = {
        .pkt = pkt, .p = pkt + 1, .end = pkt + len, .len = len, .out = out, .thread = thread,
        .h = g->nharts ? g->harts[g->cur_g < g->nharts ? g->cur_g : 0] : NULL,
    };
    if (gdb_cmds[k].hart && !c.h)
        return reply_err(&c);
    return gdb_cmds[k].fn(g, &c);
}

/* ------------------------------------------------------------ hart gate */

static void wake_server(struct gdb_stub *g)
{
    if (g->wake[1] >= 0) {
        char c = 1;
        ssize_t r = write(g->wake[1], &c, 1);         /* non-blocking: a full pipe already wakes */
        (void)r;
    }
}

uint64_t gdb_stub_before_run(struct gdb_stub *g, struct rv_hart *h)
{
    uint64_t budget = 0;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        int i = hart_index(g, h);
        if (i < 0 || g->quit)
            break;
        if (g->stopped && g->step_pending && g->step_hart == i) {
            g->step_pending = false;
            g->step_active = true;
            g->step_pc = rv_get_pc(h);
            g->step_instret = rv_instret(h);
            budget = 1;
            g->executing[i] = true;
            break;
        }
        if (!g->stopped) {
            g->executing[i] = true;
            break;
        }
        pthread_cond_wait(&g->hart_cond, &g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    return budget;
}

static void set_event(struct gdb_stub *g, unsigned hart, int sig)
{
    if (!g->ev_pending) {
        g->ev_pending = true;
        g->ev_hart = hart;
        g->ev_sig = sig;
        g->ev_wkind = 0;
    }
}

/* a stop event for a watchpoint hit by hart i */
static void set_watch_event(struct gdb_stub *g, unsigned i, uint64_t addr, unsigned kind)
{
    if (!g->ev_pending) {
        set_event(g, i, SIG_TRAP);
        g->ev_wkind = kind;
        g->ev_waddr = addr;
    }
}

bool gdb_stub_after_run(struct gdb_stub *g, struct rv_hart *h, enum rv_exit e)
{
    bool consumed = false, wake = false;
    pthread_mutex_lock(&g->lock);
    int i = hart_index(g, h);
    uint64_t waddr = 0;
    unsigned wkind = 0;
    bool watched = e == RV_EXIT_DEBUG && rv_debug_watch_take(h, &waddr, &wkind);
    if (i >= 0) {
        g->executing[i] = false;
        if (watched) {
            /* before the access, pc at its instruction (gdb steps over it
             * with its watchpoints out) */
            consumed = true;
            if (g->step_active && g->step_hart == i) {
                g->step_active = false;
                g->step_hart = -1;
            }
            if (!g->quit && g->conn_fd >= 0) {   /* another hart's event first: this one hits again */
                g->stopped = true;
                set_watch_event(g, (unsigned)i, waddr, wkind);
                wake = true;
            }
        } else if (g->step_active && g->step_hart == i) {
            if ((e == RV_EXIT_BUDGET || e == RV_EXIT_DEBUG) && rv_get_pc(h) == g->step_pc &&
                rv_instret(h) == g->step_instret) {
                /* nothing ran: a stale kick, or a breakpoint on the very
                 * instruction to step (the core skips it the second time) */
                g->step_pending = true;
                g->step_active = false;
                consumed = true;
            } else {
                g->step_active = false;
                g->step_hart = -1;
                set_event(g, (unsigned)i, SIG_TRAP);
                wake = true;
                consumed = e != RV_EXIT_HALT;     /* the board must still park a halted hart */
            }
        } else if (e == RV_EXIT_DEBUG) {
            consumed = true;
            if (!g->stopped && !g->quit && g->conn_fd >= 0) {
                g->stopped = true;                    /* stop the others */
                set_event(g, (unsigned)i, SIG_TRAP);
                wake = true;
            }
        } else if (e == RV_EXIT_BUDGET && g->stopped) {
            consumed = true;
        }
        pthread_cond_broadcast(&g->idle_cond);
    }
    pthread_mutex_unlock(&g->lock);
    if (wake)
        wake_server(g);
    return consumed;
}

/* with g->lock held: stop every hart and wait until none is in rv_run */
static void stop_all_locked(struct gdb_stub *g)
{
    g->stopped = true;
    for (;;) {
        bool busy = false;
        for (unsigned i = 0; i < g->nharts; i++) {
            if (g->executing[i]) {
                busy = true;
                rv_kick(g->harts[i]);
            }
        }
        if (!busy || g->quit)
            return;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&g->idle_cond, &g->lock, &ts);
    }
}

static void resume_locked(struct gdb_stub *g)
{
    g->stopped = false;
    g->ev_pending = false;
    pthread_cond_broadcast(&g->hart_cond);
}

void gdb_stub_machine_exit(struct gdb_stub *g, int status)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->exited = true;
    g->exit_status = status;
    g->quit = true;
    g->stopped = false;
    pthread_cond_broadcast(&g->hart_cond);
    pthread_cond_broadcast(&g->idle_cond);
    pthread_mutex_unlock(&g->lock);
    wake_server(g);
}

/* ------------------------------------------------------------ server */

/* MSG_NOSIGNAL: a debugger that went away is an EPIPE, never a SIGPIPE */
static int send_raw(struct gdb_stub *g, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(g->conn_fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_packet(struct gdb_stub *g, const char *payload)
{
    size_t n = gdb_frame(payload, strlen(payload), g->frame, sizeof(g->frame));
    if (!n)
        return -1;
    return send_raw(g, g->frame, n);
}

static void drain(int fd)
{
    char b[64];
    while (read(fd, b, sizeof(b)) > 0) ;
}

/* after detach or a dropped connection: no breakpoints, the machine runs on */
static void release_machine(struct gdb_stub *g)
{
    for (unsigned k = 0; k < g->nbp; k++)
        rv_debug_breakpoint(g->cfg.m, g->bp[k], false);
    g->nbp = 0;
    for (unsigned k = 0; k < g->nwp; k++)
        rv_debug_watchpoint(g->cfg.m, g->wp[k].addr, g->wp[k].len, g->wp[k].kind, false);
    g->nwp = 0;
    pthread_mutex_lock(&g->lock);
    g->step_hart = -1;
    g->step_pending = g->step_active = false;
    resume_locked(g);
    pthread_mutex_unlock(&g->lock);
}

/* the machine has stopped (event or Ctrl-C): wait for every hart, report */
static int report_stop(struct gdb_stub *g, unsigned hart, int sig)
{
    pthread_mutex_lock(&g->lock);
    stop_all_locked(g);
    g->last_wkind = 0;
    if (g->ev_pending) {                              /* a real event beats Ctrl-C */
        hart = g->ev_hart;
        sig = g->ev_sig;
        g->last_wkind = g->ev_wkind;
        g->last_waddr = g->ev_waddr;
        g->ev_pending = false;
    }
    g->last_hart = hart < g->nharts ? hart : 0;
    g->last_sig = sig;
    g->cur_g = g->cur_c = g->last_hart;
    pthread_mutex_unlock(&g->lock);
    reply_stop(g, g->reply);
    return send_packet(g, g->reply);
}

/* gdb steps by itself on RISC-V Linux targets (a breakpoint after the
 * instruction, then a continue of every thread): when the thread it looks
 * at is an HSM-stopped hart with such a breakpoint right after its pc, the
 * step can never end there, so it ends at once, where the hart is. */
static bool sw_step_of_stopped(struct gdb_stub *g)
{
    if (g->cur_g >= g->nharts || !rv_hart_halted(g->harts[g->cur_g]))
        return false;
    uint64_t pc = rv_get_pc(g->harts[g->cur_g]);
    for (unsigned k = 0; k < g->nbp; k++)
        if (g->bp[k] == pc + 2 || g->bp[k] == pc + 4)
            return true;
    return false;
}

static void serve(struct gdb_stub *g)
{
    bool running = false;
    char in[4096];
    gdb_rx_init(&g->rx);
    g->noack = false;

    pthread_mutex_lock(&g->lock);
    stop_all_locked(g);                               /* gdb expects a stopped target */
    pthread_mutex_unlock(&g->lock);

    for (;;) {
        struct pollfd pf[2] = { { g->conn_fd, POLLIN, 0 }, { g->wake[0], POLLIN, 0 } };
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (pf[1].revents) {
            bool exited, quit;
            drain(g->wake[0]);
            pthread_mutex_lock(&g->lock);
            exited = g->exited;
            quit = g->quit;
            pthread_mutex_unlock(&g->lock);
            if (exited) {
                char w[8];
                snprintf(w, sizeof(w), "W%02x", (unsigned)g->exit_status & 0xff);
                send_packet(g, w);
                return;
            }
            if (quit)
                return;
            bool ev;
            pthread_mutex_lock(&g->lock);
            ev = g->ev_pending;
            pthread_mutex_unlock(&g->lock);
            if (running && ev) {
                running = false;
                if (report_stop(g, 0, SIG_TRAP)) return;
            }
        }
        if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = read(g->conn_fd, in, sizeof(in));
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            return;                                   /* gdb went away */
        }
        for (ssize_t k = 0; k < n; k++) {
            enum gdb_rx_event ev = gdb_rx_feed(&g->rx, (uint8_t)in[k]);
            if (ev == GDB_RX_INTERRUPT) {
                if (running) {
                    running = false;
                    if (report_stop(g, g->cur_c, SIG_INT)) return;
                }
                continue;
            }
            if (ev == GDB_RX_BADSUM) {
                if (!g->noack && send_raw(g, "-", 1)) return;
                continue;
            }
            if (ev != GDB_RX_PACKET)
                continue;
            if (!g->noack && send_raw(g, "+", 1)) return;
            if (running)
                continue;                             /* only Ctrl-C while running */
            unsigned t = 0;
            enum gdb_action act = gdb_stub_handle(g, g->rx.buf, g->rx.len, g->reply, &t);
            switch (act) {
            case GDB_ACT_REPLY:
                if (send_packet(g, g->reply)) return;
                break;
            case GDB_ACT_DETACH:
                send_packet(g, g->reply);
                return;
            case GDB_ACT_KILL:
                if (g->cfg.kill) g->cfg.kill(g->cfg.opaque);
                return;
            case GDB_ACT_CONTINUE:
                pthread_mutex_lock(&g->lock);
                resume_locked(g);
                if (sw_step_of_stopped(g)) {
                    set_event(g, g->cur_g, SIG_TRAP);
                    wake_server(g);
                }
                pthread_mutex_unlock(&g->lock);
                running = true;
                break;
            case GDB_ACT_STEP: {
                struct rv_hart *h = g->harts[t];
                pthread_mutex_lock(&g->lock);
                g->ev_pending = false;
                if (rv_hart_halted(h)) {
                    set_event(g, t, SIG_TRAP);        /* a stopped hart cannot step */
                } else {
                    g->step_hart = (int)t;
                    g->step_pending = true;
                    pthread_cond_broadcast(&g->hart_cond);
                }
                pthread_mutex_unlock(&g->lock);
                rv_kick(h);                           /* out of rv_hart_wait (WFI) */
                running = true;
                wake_server(g);
                break;
            }
            }
        }
    }
}

static void *server_main(void *arg)
{
    struct gdb_stub *g = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        struct pollfd pf[2] = { { g->listen_fd, POLLIN, 0 }, { g->wake[0], POLLIN, 0 } };
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pf[1].revents)
            drain(g->wake[0]);
        pthread_mutex_lock(&g->lock);
        bool quit = g->quit;
        pthread_mutex_unlock(&g->lock);
        if (quit)
            break;
        if (!(pf[0].revents & POLLIN))
            continue;
        int fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_mutex_lock(&g->lock);
        g->conn_fd = fd;
        pthread_mutex_unlock(&g->lock);
        log_info("gdb: debugger connected");
        serve(g);
        pthread_mutex_lock(&g->lock);
        g->conn_fd = -1;
        pthread_mutex_unlock(&g->lock);
        close(fd);
        pthread_mutex_lock(&g->lock);
        quit = g->quit;
        pthread_mutex_unlock(&g->lock);
        if (quit)
            break;
        release_machine(g);
        log_info("gdb: debugger detached; the machine runs on");
    }
    return NULL;
}

static int parse_spec(const char *spec, char *host, size_t hostlen, char *port, size_t portlen)
{
    if (strncmp(spec, "tcp:", 4) != 0)
        return -1;
    const char *h = spec + 4, *colon = strrchr(h, ':');
    if (!colon || !colon[1] || (size_t)(colon - h) >= hostlen || strlen(colon + 1) >= portlen)
        return -1;
    for (const char *c = colon + 1; *c; c++)
        if (*c < '0' || *c > '9')
            return -1;
    if (colon == h)
        snprintf(host, hostlen, "127.0.0.1");
    else
        snprintf(host, hostlen, "%.*s", (int)(colon - h), h);
    snprintf(port, portlen, "%s", colon + 1);
    return atoi(port) > 65535 ? -1 : 0;
}

struct gdb_stub *gdb_stub_start(const char *spec, const struct gdb_stub_config *cfg)
{
    char host[256], port[8];
    if (!spec || parse_spec(spec, host, sizeof(host), port, sizeof(port))) {
        log_error("--gdb %s: expected tcp::PORT or tcp:HOST:PORT", spec ? spec : "(null)");
        return NULL;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
    struct addrinfo *res = NULL;
    int r = getaddrinfo(host, port, &hints, &res);
    if (r) {
        log_error("--gdb %s: %s", spec, gai_strerror(r));
        return NULL;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) { err = errno; continue; }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        log_error("--gdb %s: cannot listen: %s", spec, strerror(err));
        return NULL;
    }
    struct gdb_stub *g = stub_alloc(cfg);
    g->listen_fd = fd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        g->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    if (pipe2(g->wake, O_CLOEXEC | O_NONBLOCK) < 0 ||
        pthread_create(&g->thread, NULL, server_main, g) != 0) {
        log_error("--gdb %s: cannot start the stub: %s", spec, strerror(errno));
        gdb_stub_free(g);
        return NULL;
    }
    g->thread_started = true;
    log_info("gdb: waiting for a debugger on %s:%d%s", host, g->port,
             cfg->wait ? " (the harts wait for it)" : "");
    return g;
}

int gdb_stub_port(const struct gdb_stub *g)
{
    return g->port;
}

void gdb_stub_join(struct gdb_stub *g)
{
    if (g && g->thread_started) {
        pthread_join(g->thread, NULL);
        g->thread_started = false;
    }
}

void gdb_stub_free(struct gdb_stub *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->quit = true;
    g->stopped = false;
    pthread_cond_broadcast(&g->hart_cond);
    pthread_mutex_unlock(&g->lock);
    wake_server(g);
    if (g->thread_started)
        pthread_join(g->thread, NULL);
    if (g->listen_fd >= 0) close(g->listen_fd);
    if (g->wake[0] >= 0) close(g->wake[0]);
    if (g->wake[1] >= 0) close(g->wake[1]);
    pthread_cond_destroy(&g->hart_cond);
    pthread_cond_destroy(&g->idle_cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
