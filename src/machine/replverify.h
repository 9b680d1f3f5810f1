/* machine/replverify: a check of hot-spare replication for tests and
 * debugging (VESSEL_TEST_REPL_VERIFY=DIR, off by default, as
 * VESSEL_TEST_REPL_KILL): is the standby's RAM the primary's?
 *
 * At the cut of every REPL_VERIFY_EVERY-th epoch (the guest parked, its
 * pages copied) the primary writes a 64-bit hash of each page of its
 * writable RAM to DIR/PID.EPOCH (PID its own). The standby, once it has
 * applied that epoch and before it acknowledges it, hashes its own RAM,
 * compares, removes the file and appends one line to DIR/verify.log:
 *   pid PID epoch EPOCH: N of M pages differ[: REGION:GPA ...]
 * (the first few that differ), with a warning when N is not 0. The
 * primary's pid comes from the connection (SO_PEERCRED: unix sockets).
 * What it costs: a hash of all of RAM at those cuts, on both sides. */
#ifndef VESSEL_REPLVERIFY_H
#define VESSEL_REPLVERIFY_H

#include <stdint.h>

#include "mem/mem.h"

#define REPL_VERIFY_EVERY 20

/* VESSEL_TEST_REPL_VERIFY, or NULL. */
const char *repl_verify_dir(void);
/* The primary, at an epoch's cut. Nothing unless epoch % REPL_VERIFY_EVERY == 0. */
void repl_verify_save(const char *dir, const struct guest_mem *mem, uint64_t epoch);
/* The standby, once epoch is applied, the primary connected on fd: how many
 * pages differ (0: all equal), or -errno (no file from the primary; not a
 * checked epoch: -EAGAIN). */
int repl_verify_check(const char *dir, const struct guest_mem *mem, int fd, uint64_t epoch);

#endif
