/* machine: private to the module. */
#ifndef VESSEL_MACHINE_INTERNAL_H
#define VESSEL_MACHINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "backend/backend.h"
#include "base/base.h"
#include "dev/dev.h"
#include "dev/virtio/virtio.h"
#include "machine/machine.h"

#define MACHINE_MAX_VCPUS 256

/* Benchmarks (bench/snapshot/migrate.py): with VESSEL_BENCH_CLOCK set, one
 * stderr line "vessel: bench: WHAT at T ms" (T: CLOCK_MONOTONIC, the clock
 * the bench reads its console lines' arrival times with). */
void machine_bench_stamp(const char *what);

/* m->req bits: what every vCPU must honour at its next machine_vcpu_enter */
enum { MACHINE_REQ_PAUSE = 1, MACHINE_REQ_EXIT = 2, MACHINE_REQ_THROTTLE = 4 };

struct machine_dev {
    char *id;
    const struct machine_dev_ops *ops;
    void *opaque;
};

struct machine {
    struct machine_config cfg;
    struct guest_mem mem;
    struct bus mmio, pio;
    struct loop *loop;              /* the I/O thread: chardev, monitor */
    struct chardev *serial;
    struct uart8250 *uart;
    struct virtio_board *virtio;
    unsigned virtio_first_irq;
    struct machine_dev *devs;
    unsigned ndevs, capdevs;
    const struct machine_engine_ops *eops;
    void *eng;
    int (*power_press)(void *opaque);
    void *power_opaque;
    void (*event_cb)(void *opaque, const struct machine_event_info *e);
    void *event_opaque;

    pthread_mutex_t ctl_lock;       /* one control operation at a time */
    pthread_mutex_t lock;           /* everything below */
    pthread_cond_t cond;            /* vCPUs parking, pause waiting for them */
    atomic_uint req;                /* MACHINE_REQ_* */
    enum machine_status status;
    bool stopping;
    enum machine_stop stop_why;
    int exit_status;
    bool reset_pending, reset_guest, start_pending;
    const char *reset_reason;
    unsigned nparked;               /* vCPUs parked or idle */
    unsigned nabsent;               /* vCPUs with no thread (CPU hotplug): count as parked */
    bool vcpus_started, monitor_started;
    struct {
        atomic_int tid;
        bool parked, idle;
        unsigned throttle_seen;     /* the throttle tick this vCPU slept for last */
        uint64_t throttle_woke;     /* when it last woke from a throttle sleep (ns), 0: never */
        uint64_t throttle_until;    /* the sleep it owes ends then (a pause may cut in) */
        bool absent;                /* CPU hotplug: not plugged, no thread */
        char *hotplug_id;           /* device_add's id (hotplug.c) */
    } vcpu[MACHINE_MAX_VCPUS];

    /* PCI hotplug (devhp.c): the virtio layout the board gave, the
     * hot-plugged devices by PCI slot (hp_lock; added and freed on the I/O
     * thread), the slots the guest ejected and the I/O thread frees */
    struct machine_virtio_layout vlayout;
    bool have_vlayout;
    pthread_mutex_t hp_lock;
    struct machine_hotdev *hot[PCI_MAX_SLOTS];
    uint32_t hp_ejected;            /* atomic */
    struct loop_event *hp_ev;
    struct virtio_mem *memdev;      /* --memory-hotplug */

    /* live migration (migrate.c) */
    struct migration *mig;
    struct replication *repl;       /* replicate.c, replica.c */
    atomic_bool dirty_logging;      /* a reset marks all RAM dirty */
    atomic_bool incoming_wait;      /* --incoming: no resume until the stream is loaded */
    atomic_bool migrating_out;      /* the stop-and-copy: no resume while the state goes out */
    atomic_uint throttle_pct;       /* auto-converge: each vCPU sleeps this share of its time */
    atomic_uint throttle_tick;      /* bumped every time slice while throttling */

    int wake_fd;                    /* eventfd: a request for the main thread */
    int sig_fd;                     /* signalfd: SIGINT, SIGTERM, SIGHUP */
    sigset_t old_mask;
};

/* machine.c: an event with a value (BALLOON_CHANGE); any event */
void machine_emit(struct machine *m, enum machine_event ev, bool guest, const char *reason);
void machine_emit_value(struct machine *m, enum machine_event ev, uint64_t value);

/* build.c */
void machine_devices_reset(struct machine *m);
/* hotplug.c: with m->lock, whether a device or a CPU has this id */
bool machine_id_taken(struct machine *m, const char *id);
/* devhp.c: the hot-plugged devices' share of reset, pause / resume and
 * machine_free; the I/O thread's event for ejected slots */
void machine_hotdevs_reset(struct machine *m);
void machine_hotdevs_pause(struct machine *m, bool pause);
void machine_hotdevs_free(struct machine *m);
int machine_hotdevs_init(struct machine *m);
unsigned machine_hot_nblock(struct machine *m);
bool machine_hot_id_taken(struct machine *m, const char *id);
int machine_hot_block_info(struct machine *m, unsigned i, struct machine_block_info *bi);

/* machine.c: every vCPU parked at an instruction boundary (no store half
 * done) without pausing devices, the clock or the run state, and no event;
 * holds the control lock until unpark. A machine not running: just the
 * lock. -ESHUTDOWN once stopping (nothing held). */
int machine_vcpus_park(struct machine *m);
void machine_vcpus_unpark(struct machine *m);
/* The time slice a throttled vCPU runs between its sleeps. */
#define MACHINE_THROTTLE_SLICE_NS 10000000ULL
void machine_kick(struct machine *m);
void machine_emit_migration(struct machine *m, const char *status);

/* snapshot.c, for migration: the machine's state as a snapshot's sections
 * (config, engine, devices, disks' identity; RAM regions listed with no
 * file), with the machine paused; and loading such a state into a machine
 * whose RAM is already in place (every check first: shape, devices, disks
 * the same by identity; then the engine and devices). 0 or -errno + err. */
int machine_state_save(struct machine *m, struct snap_writer *w, char *err, size_t errlen);
int machine_state_check(struct machine *m, const struct snap *s, char *err, size_t errlen);
int machine_state_load(struct machine *m, const struct snap *s, char *err, size_t errlen);

/* qmp_migrate.c: QMP's migration objects as JSON (QEMU's shapes); the
 * parsers fill p from args and return 0, or -1 with QEMU's error line. */
struct json_object;
struct json_object *qmp_migrate_info_json(const struct machine_mig_info *in);
struct json_object *qmp_migrate_params_json(const struct machine_mig_params *p);
struct json_object *qmp_migrate_caps_json(const struct machine_mig_params *p);
int qmp_migrate_params_parse(struct json_object *args, struct machine_mig_params *p, char *err, size_t errlen);
int qmp_migrate_caps_parse(struct json_object *args, struct machine_mig_params *p, char *err, size_t errlen);
/* query-replication's answer (docs/replication.md) */
struct json_object *qmp_replication_info_json(const struct machine_repl_info *in);

/* machine.c, for replication: every vCPU parked and, if the machine
 * runs, every device quiet (in-flight requests done), with no change of
 * run state and no event; the clock runs on. *quiesced says whether the
 * devices were paused (for end). */
int machine_checkpoint_begin(struct machine *m, bool *quiesced);
void machine_checkpoint_end(struct machine *m, bool quiesced);

/* snapshot.c: a state's machine type, vCPUs, RAM layout and devices are
 * this machine's (the disks are not compared: a standby has its own). */
int machine_state_check_shape(struct machine *m, const struct snap *s, char *err, size_t errlen);

/* replicate.c (the primary) and replica.c (the standby) */
struct replication {
    pthread_mutex_t lock;               /* info */
    struct machine_repl_info info;
    uint64_t last_ns;                   /* standby: when the last epoch was applied */
    struct repl_primary *pri;
    struct repl_standby *sb;
};
int replicate_init(struct machine *m);
/* From machine_run: --replicate once the vCPUs run (0, or -1 logged);
 * --standby at start; stop both when the machine stops. */
int replicate_start_from_config(struct machine *m);
void replicate_stop(struct machine *m);
void replicate_free(struct machine *m);
int replica_start(struct machine *m);
void replica_stop(struct machine *m);
void replica_free(struct machine *m);
void replicate_set_status(struct machine *m, const char *status);
/* What keeps this machine from being replicated (a migration blocker:
 * vhost-net, CPU hotplug; a hot-plugged device; virtio-mem): 0, or
 * -ENOTSUP with one line in err. Checked by vm-replicate / --replicate
 * and by --standby at start. */
int replicate_blocked(struct machine *m, char *err, size_t errlen);
/* A primary replicating (setup, active) or a standby: no device_add. */
bool replicate_busy(struct machine *m);
void repl_copy_str(char *dst, size_t n, const char *src);

/* migrate.c: the first migration blocker (machine_add_migration_blocker)
 * copied into out, true; false when there is none. */
bool migrate_blocker(struct machine *m, char *out, size_t n);

/* qmp_device.c: device_add's arguments for a CPU of `target` ("x86_64")
 * (0, or -1 with one line naming the value; "device_add of 'foo'" for a
 * driver that is not a CPU), and query-hotpluggable-cpus's reply. */
struct qmp_cpu_add;
struct qmp_hotcpu;
int qmp_device_cpu_parse(struct json_object *args, const char *target, struct qmp_cpu_add *out, char *err,
                         size_t errlen);
struct json_object *qmp_hotpluggable_cpus_json(const struct qmp_hotcpu *c, unsigned n, const char *target);
/* device_add of virtio-blk-pci / virtio-net-pci (docs/qmp.md): 1 when
 * the driver is not one of them, 0 with *out filled (pointing into args),
 * -1 with one line naming the value. */
struct qmp_pci_add {
    struct machine_pci_device dev;
    char net[4096];
};
int qmp_device_pci_parse(struct json_object *args, struct qmp_pci_add *out, char *err, size_t errlen);
/* query-pci's reply: bus 0 with the functions in[i] at slots[i]. */
struct json_object *qmp_pci_json(const struct machine_pci_info *in, const unsigned *slots, unsigned n);
/* The qom-path of vCPU `index` (id: device_add's, or NULL). */
void qmp_cpu_qom_path(char *buf, size_t len, unsigned index, const char *id);

/* migrate.c */
int migrate_init(struct machine *m);
/* From machine_run: start the --incoming side (a thread); stop every
 * migration thread once the machine stops. */
int migrate_incoming_start(struct machine *m);
void migrate_stop(struct machine *m);
void migrate_free(struct machine *m);

#endif
