/* machine/qmp: the QMP control socket (QEMU's Machine Protocol).
 *
 * `--qmp unix:PATH[,server][,wait=off]` on both engines. The server listens
 * on a unix socket (mode 0600 whatever the umask), serves one client at a
 * time on the machine's event loop (further clients wait in the listen
 * backlog, as with QEMU's socket chardev), and speaks QMP: the greeting,
 * capabilities negotiation, commands with `id` echoed, errors as
 * {"error": {"class", "desc"}}, and the events STOP, RESUME, SHUTDOWN,
 * POWERDOWN and RESET with QEMU's timestamp.
 *
 * The machine is driven through struct qmp_ops; a NULL operation makes its
 * command unknown (CommandNotFound, and absent from query-commands).
 *
 * The protocol (struct qmp_session: bytes in, replies out) is separate from
 * the socket so that tests and the fuzzer drive it without one. */
#ifndef VESSEL_QMP_H
#define VESSEL_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct machine_mig_info;
struct machine_mig_params;
struct machine_repl_info;
struct machine_pci_device;
struct machine_pci_info;
struct virtio_mem_info;

/* Largest request accepted: a longer one is answered with a GenericError
 * and the input skipped up to the next newline (or other control byte). */
#define QMP_MAX_REQUEST (64 * 1024)
/* Replies and events a client has not read yet: past this it is dropped. */
#define QMP_MAX_OUTPUT (1024 * 1024)

enum qmp_event { QMP_EVENT_STOP, QMP_EVENT_RESUME, QMP_EVENT_SHUTDOWN, QMP_EVENT_POWERDOWN, QMP_EVENT_RESET,
                 QMP_EVENT_BALLOON_CHANGE, QMP_EVENT_MIGRATION, QMP_EVENT_REPLICATION_FAILOVER,
                 QMP_EVENT_DEVICE_DELETED };
/* BALLOON_CHANGE is throttled as on QEMU: at most one a second, the last
 * value of a burst delivered at the end of it. */
#define QMP_BALLOON_THROTTLE_MS 1000

struct qmp_cpu {
    unsigned index;             /* cpu-index */
    long thread_id;             /* host thread id (gettid) running it, 0 if none */
    const char *target;         /* NULL: qmp_ops.target */
    const char *state;          /* vessel's extension "x-state" (RISC-V: the SBI HSM state), NULL: none */
    const char *id;             /* device_add's id of a hot-plugged CPU (qom-path /machine/peripheral/ID) */
};

/* query-hotpluggable-cpus: one entry per possible vCPU (core-id = index,
 * one socket, one thread a core). */
struct qmp_hotcpu {
    unsigned index;
    bool present;
    const char *id;             /* device_add's id, NULL for a CPU present since boot */
};
/* device_add of a CPU: {"driver": "x86_64-cpu" | "host-x86_64-cpu"
 * (TARGET-cpu, host-TARGET-cpu), "id": ID, "core-id": N, optionally
 * "socket-id": 0, "thread-id": 0, "die-id": 0}. */
struct qmp_cpu_add {
    const char *id;
    unsigned core;
};

struct qmp_block {
    const char *device;         /* "virtio0" ... */
    const char *file;           /* the image's path */
    bool read_only, direct;     /* cache=none */
    uint64_t size;              /* bytes */
};

/* The balloon's guest statistics (qom-get PATH guest-stats). */
#define QMP_BALLOON_STATS 10
struct qmp_balloon_stats {
    unsigned n;
    const char *name[QMP_BALLOON_STATS];    /* "stat-free-memory" ... */
    int64_t val[QMP_BALLOON_STATS];         /* -1: the guest sent none */
    int64_t last_update;                    /* seconds since the epoch, 0: never */
};

/* Every operation runs on the loop thread; each returns 0, or -errno with
 * *why set to a one-line reason (sent to the client as a GenericError). */
struct qmp_ops {
    const char *target;                         /* "riscv64", "x86_64" */
    /* QEMU's run state name: "running", "paused", "shutdown", "prelaunch",
     * "internal-error", "debug" ... ("running" alone gives running: true). */
    const char *(*status)(void *opaque);
    int (*stop)(void *opaque, const char **why);            /* returns once every vCPU is parked */
    int (*cont)(void *opaque, const char **why);
    int (*system_reset)(void *opaque, const char **why);
    int (*system_powerdown)(void *opaque, const char **why);
    int (*quit)(void *opaque, const char **why);
    /* Fill at most max entries; return how many there are. */
    unsigned (*query_cpus)(void *opaque, struct qmp_cpu *out, unsigned max);
    unsigned (*query_block)(void *opaque, struct qmp_block *out, unsigned max);
    /* vm-snapshot {"path": DIR, "paused": bool, "disks": bool} and
     * vm-restore {"path": DIR, "paused": bool, "verify": bool}
     * (docs/snapshot.md). */
    int (*vm_snapshot)(void *opaque, const char *path, bool paused, bool disks, const char **why);
    int (*vm_restore)(void *opaque, const char *path, bool paused, bool verify, const char **why);
    /* The balloon: -ENODEV when there is none (DeviceNotActive). */
    int (*balloon)(void *opaque, uint64_t bytes, const char **why);
    int (*query_balloon)(void *opaque, uint64_t *actual, const char **why);
    /* qom-get/qom-set of the balloon's QOM object: `id` its name (the
     * last part of the path); -ENOENT when no device has that name. */
    int (*balloon_stats)(void *opaque, const char *id, struct qmp_balloon_stats *st);
    int (*balloon_poll)(void *opaque, const char *id, bool set, int64_t *seconds);
    /* Live migration (machine.h, docs/snapshot.md "Migration"): migrate
     * {"uri"}, migrate_cancel, query-migrate (QEMU's MigrationInfo from
     * the struct), the parameters and capabilities (get, or set). */
    int (*migrate)(void *opaque, const char *uri, const char **why);
    int (*migrate_cancel)(void *opaque, const char **why);
    void (*query_migrate)(void *opaque, struct machine_mig_info *out);
    void (*migrate_params)(void *opaque, struct machine_mig_params *p, bool set);
    /* Hot-spare replication (docs/replication.md): vm-replicate {"uri",
     * "period-ms"} and query-replication. */
    int (*replicate)(void *opaque, const char *uri, uint64_t period_ms, const char **why);
    void (*query_replication)(void *opaque, struct machine_repl_info *out);
    /* Hotplug (docs/qmp.md "CPU hotplug"): device_add of a CPU, device_del
     * (-ENOENT: no such device, DeviceNotFound), query-hotpluggable-cpus
     * (at most max; the count, or -ENOTSUP: the machine has none). */
    int (*cpu_add)(void *opaque, const struct qmp_cpu_add *a, const char **why);
    int (*device_del)(void *opaque, const char *id, const char **why);
    int (*hotpluggable_cpus)(void *opaque, struct qmp_hotcpu *out, unsigned max);
    /* device_add of virtio-blk-pci / virtio-net-pci (NULL: refused with
     * "no PCI hotplug"); query-pci: the function in `slot` of bus 0 (0,
     * -ENOENT empty, -ENODEV: no PCI bus at all). */
    int (*pci_add)(void *opaque, const struct machine_pci_device *d, const char **why);
    int (*query_pci)(void *opaque, unsigned slot, struct machine_pci_info *out);
    /* virtio-mem (qom-get/qom-set of requested-size, size, block-size;
     * query-memory-devices): -ENOENT when no such device. */
    int (*memdev)(void *opaque, const char *id, struct virtio_mem_info *out);
    int (*memdev_set)(void *opaque, const char *id, uint64_t requested, const char **why);
};

/* ---- the protocol, one client ---- */
struct qmp_session;
/* flush_events (may be NULL) runs before each reply is queued, so that
 * events a command caused (STOP for stop) precede its reply, as on QEMU. */
struct qmp_session *qmp_session_new(const struct qmp_ops *ops, void *opaque,
                                    void (*flush_events)(void *arg), void *arg);
void qmp_session_free(struct qmp_session *s);
/* The greeting, queued at once by qmp_session_new. */
/* Feed bytes from the client: complete requests are answered into the
 * output. Any bytes, any split. */
void qmp_session_input(struct qmp_session *s, const void *buf, size_t len);
/* Queue an event (one JSON text, no newline) if negotiation is over. */
void qmp_session_event(struct qmp_session *s, const char *json);
bool qmp_session_negotiated(const struct qmp_session *s);
/* The output not consumed yet (replies end in "\r\n"). */
const char *qmp_session_output(const struct qmp_session *s, size_t *len);
void qmp_session_consume(struct qmp_session *s, size_t n);

/* An event as QMP text: {"event": NAME, "data": {...}, "timestamp": {...}}.
 * guest/reason fill SHUTDOWN's and RESET's data (reason NULL: no data);
 * MIGRATION's data is {"status": reason}; DEVICE_DELETED's {"device": reason,
 * "path": "/machine/peripheral/REASON"} (reason starting with '/': a path
 * alone).
 * Returns a malloc'd string. */
char *qmp_event_json(enum qmp_event ev, bool guest, const char *reason);
/* An event whose data is one integer member: {"data": {key: value}}. */
char *qmp_event_json_value(enum qmp_event ev, const char *key, int64_t value);

/* ---- the socket ---- */
struct qmp_server;
/* Parse the --qmp value: "unix:PATH[,server[=on]][,wait=on|off][,nowait]".
 * QEMU's `server` alone means wait=on. 0, or -EINVAL (logged, naming the
 * value). */
struct qmp_spec {
    char path[108];
    bool wait;                  /* block until a client connects */
};
int qmp_spec_parse(const char *spec, struct qmp_spec *out);

/* Listen on the spec's path (an old socket there is replaced; anything else
 * is refused), and with wait=on block until a client connects. Call before
 * other threads start (the socket is bound under umask 0177). NULL on
 * failure (logged). */
struct qmp_server *qmp_server_new(const char *spec, struct loop *loop, const struct qmp_ops *ops,
                                  void *opaque);
/* Any thread: queue an event for the connected client (dropped when none). */
void qmp_server_event(struct qmp_server *s, enum qmp_event ev, bool guest, const char *reason);
/* Any thread: BALLOON_CHANGE {"actual": bytes}, throttled (see above). */
void qmp_server_balloon_change(struct qmp_server *s, uint64_t actual);
/* Any thread: an event whose data is {key: value} (REPLICATION_FAILOVER). */
void qmp_server_event_value(struct qmp_server *s, enum qmp_event ev, const char *key, int64_t value);
/* From a thread other than the loop's, while the loop runs: stop serving
 * (send what is pending without blocking, close the client, stop
 * listening) on the loop thread, and wait for that. NULL is fine. */
void qmp_server_stop(struct qmp_server *s);
/* When no loop callback can run any more (after qmp_server_stop, or with
 * the loop stopped or never started): stop serving if not done, remove the
 * socket file, free. NULL is fine. */
void qmp_server_free(struct qmp_server *s);

/* ---- the machine's monitor (machine.h) ----
 * Fill `mon` (machine_config.monitor) to serve --qmp SPEC on the machine's
 * I/O loop, driving machine_pause / resume / reset / powerdown / quit and
 * the queries, with the machine's events as QMP events. The spec is checked
 * now: -EINVAL (logged, naming the value) for a bad one, -EEXIST (logged)
 * when `mon` already has a monitor (one --qmp only). Release with
 * qmp_monitor_release after the machine is freed. */
struct machine_monitor;
int qmp_monitor_init(struct machine_monitor *mon, const char *spec);
/* The i-th command a session with these ops answers (query-commands'
 * order), NULL past the end. */
const char *qmp_ops_command(const struct qmp_ops *ops, unsigned i);
/* The i-th command the machine's monitor answers (its query-commands, in
 * table order), NULL past the end: what `vessel features` lists. */
const char *qmp_monitor_command(unsigned i);
/* The i-th event name ("STOP" ...), NULL past the end. */
const char *qmp_event_name(unsigned i);
void qmp_monitor_release(struct machine_monitor *mon);

#endif
