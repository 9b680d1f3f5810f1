/* spare: the hot-spare supervisor (`vessel spare --config FILE`,
 * docs/replication.md). For each guest of the configuration it runs a
 * standby (`vessel run ARGS --standby URI`) and a primary replicating to
 * it (`vessel run ARGS --replicate URI`), each with a --qmp socket and a
 * log file of its own in the state directory, and keeps the guest
 * protected: a standby that dies is started again and the primary told to
 * replicate to it (QMP vm-replicate); when the primary dies, the standby
 * takes over by itself and the supervisor starts a new standby (with the
 * dead primary's arguments, so the two sides swap) for it. A guest whose
 * primary stopped in an orderly way (power-off, quit: status 0) is done.
 * SIGTERM or SIGINT stops every guest (SIGTERM to each vessel) and ends it.
 *
 * The configuration (JSON):
 *   { "state-dir": "/run/vessel-spare",          (default: /run/vessel-spare)
 *     "guests": [ { "name": "web",               ([A-Za-z0-9_-], 1..32, unique)
 *                   "primary": ["--disk", "/srv/web-a.img", "--net", "tap,ifname=tap0"],
 *                   "standby": ["--disk", "/srv/web-b.img", "--net", "tap,ifname=tap0"],
 *                   "uri": "unix:/run/vessel-spare/web.repl",   (default: STATE-DIR/NAME.repl)
 *                   "period-ms": 25, "timeout-ms": 1000 } ] }
 *                   (timeout-ms: default the standby's own, 1000 ms or 4x the
 *                   longest wait for the primary's data seen, at most 10 s)
 * "primary" and "standby" are `vessel run` options (without --replicate,
 * --standby and --qmp, which the supervisor adds). */
#ifndef VESSEL_SPARE_H
#define VESSEL_SPARE_H

#include <stdint.h>

#define SPARE_MAX_GUESTS 64

struct spare_guest {
    char name[33];
    char **args[2];             /* [0] the first primary's, [1] the first standby's; NULL-terminated */
    char uri[200];
    uint64_t period_ms, timeout_ms;   /* timeout_ms 0: not given (the standby's default) */
};
struct spare_config {
    char state_dir[200];
    unsigned n;
    struct spare_guest g[SPARE_MAX_GUESTS];
};

/* Read and check FILE: 0, or -1 after one line naming the bad value. */
int spare_config_load(const char *path, struct spare_config *out);
void spare_config_free(struct spare_config *c);
/* Supervise until every guest is done or a SIGTERM/SIGINT; `self` is the
 * vessel binary to run. Returns the exit status: 0, or 1 when a guest
 * was lost (its primary and standby both died). */
int spare_run(const struct spare_config *c, const char *self);

#endif
