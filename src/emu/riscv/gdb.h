/* emu/riscv/gdb: a GDB remote serial protocol stub for RISC-V harts
 * (all-stop mode) over TCP, built only on riscv.h.
 *
 * What gdb sees: one thread per hart (thread id = index in the order of
 * gdb_stub_add_hart + 1); registers x0-x31 and pc in the 'g' packet, FP
 * registers, fflags/frm/fcsr, the main M/S CSRs and the privilege level
 * ("priv") by 'p'/'P', all described by target.xml (qXfer); memory through
 * the selected hart's current translation (rv_virt_read/rv_virt_write);
 * breakpoints (Z0/Z1: rv_debug_breakpoint, shared by every hart); single
 * step of one hart while the others stay stopped; continue; Ctrl-C; kill;
 * detach (breakpoints removed, the machine runs on).
 *
 * Wiring it into a machine (vessel run; vessel exec the same way, adding
 * and removing a hart per guest thread):
 *
 *   struct gdb_stub_config gc = { .m = m, .wait = opt_S, .kill = stop_fn, .opaque = board };
 *   struct gdb_stub *g = gdb_stub_start("tcp::1234", &gc);   // NULL: error logged
 *   for each hart: gdb_stub_add_hart(g, h);                  // before its thread runs
 *   in each hart thread:
 *       for (;;) {
 *           uint64_t budget = gdb_stub_before_run(g, h);     // blocks while gdb holds the machine
 *           enum rv_exit e = rv_run(h, budget);
 *           if (gdb_stub_after_run(g, h, e))
 *               continue;                                    // the stub's exit (breakpoint, step, stop)
 *           ... handle e as without a debugger (WFI: rv_hart_wait, HALT, ...)
 *       }
 *   when the machine stops: gdb_stub_machine_exit(g, status);  // 'W' to gdb, frees waiting harts
 *   after the hart threads are joined: gdb_stub_free(g).
 */
#ifndef VESSEL_RISCV_GDB_H
#define VESSEL_RISCV_GDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emu/riscv/riscv.h"

struct gdb_stub;

struct gdb_stub_config {
    struct rv_machine *m;
    bool wait;                        /* -S: harts wait for gdb before their first instruction */
    void (*kill)(void *opaque);       /* gdb's 'k': stop the machine (NULL: ignored) */
    void *opaque;
};

/* Listen on SPEC: "tcp::PORT" (127.0.0.1) or "tcp:HOST:PORT"; PORT 0 picks
 * a free one (gdb_stub_port). Starts the server thread. NULL on error, logged
 * with the offending value. */
struct gdb_stub *gdb_stub_start(const char *spec, const struct gdb_stub_config *cfg);
int gdb_stub_port(const struct gdb_stub *g);
void gdb_stub_add_hart(struct gdb_stub *g, struct rv_hart *h);
void gdb_stub_remove_hart(struct gdb_stub *g, struct rv_hart *h);   /* its thread must be out of rv_run */
uint64_t gdb_stub_before_run(struct gdb_stub *g, struct rv_hart *h);
bool gdb_stub_after_run(struct gdb_stub *g, struct rv_hart *h, enum rv_exit e);
void gdb_stub_machine_exit(struct gdb_stub *g, int status);
void gdb_stub_free(struct gdb_stub *g);          /* stops the server thread; NULL is fine */

/* ---- the layers below, exposed for unit tests ---- */

#define GDB_PKT_MAX 16384                 /* PacketSize=4000 (hex) */

/* Incoming bytes: "$payload#cs" packets (escapes '}' undone), acks, Ctrl-C. */
enum gdb_rx_event { GDB_RX_NONE, GDB_RX_PACKET, GDB_RX_BADSUM, GDB_RX_ACK, GDB_RX_NACK, GDB_RX_INTERRUPT };
struct gdb_rx {
    int state;
    bool overflow;
    uint8_t sum, got;
    size_t len;
    char buf[GDB_PKT_MAX + 1];            /* the payload of the last packet, NUL-terminated */
};
void gdb_rx_init(struct gdb_rx *rx);
enum gdb_rx_event gdb_rx_feed(struct gdb_rx *rx, uint8_t c);
/* "$" payload "#" checksum, with '$' '#' '}' '*' escaped; bytes written
 * (without NUL), or 0 if cap is too small. */
size_t gdb_frame(const char *payload, size_t len, char *out, size_t cap);

/* The command layer, with the machine stopped. */
enum gdb_action { GDB_ACT_REPLY, GDB_ACT_CONTINUE, GDB_ACT_STEP, GDB_ACT_DETACH, GDB_ACT_KILL };
struct gdb_stub *gdb_stub_new(const struct gdb_stub_config *cfg);   /* no socket, no thread */
/* Handle one packet payload; the reply payload goes to out (NUL-terminated,
 * GDB_PKT_MAX + 1 bytes). For CONTINUE/STEP, *thread is the hart index to
 * step (or the one whose pc a 'c ADDR' set). */
enum gdb_action gdb_stub_handle(struct gdb_stub *g, const char *pkt, size_t len, char *out,
                                unsigned *thread);
/* Register numbers of target.xml (for tests): */
enum { GDB_REG_PC = 32, GDB_REG_F0 = 33, GDB_REG_FFLAGS = 65, GDB_REG_FRM = 66, GDB_REG_FCSR = 67,
       GDB_REG_CSR0 = 68 };

#endif
