/* The machine's monitor: the qmp_ops a machine gives its QMP server, each
 * one a call into the machine layer (machine.h). See machine/qmp.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "machine/internal.h"
#include "machine/qmp.h"
#include "machine/snapshot.h"

#define QMP_MAX_CPUS 256

/* ==== the machine's monitor ==== */
struct qmp_monitor {
    char *spec;
    struct machine *m;
    struct qmp_server *srv;
    char why[600];              /* the last snapshot / restore error */
    char cpu_id[QMP_MAX_CPUS][64];  /* the hot-plugged CPUs' ids, for the query being answered */
};

static const char *mon_status(void *opaque)
{
    struct qmp_monitor *q = opaque;
    return machine_status_name(machine_status(q->m));
}

static const char *mon_why(int r)
{
    switch (r) {
    case -ESHUTDOWN: return "The machine is shutting down";
    case -ENOSYS: return "This machine has no power button";
    case -EBUSY: return "A migration is in progress (incoming, or sending the machine's state)";
    default: return strerror(-r);
    }
}

static int mon_stop(void *opaque, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_pause(q->m);
    if (r < 0)
        *why = mon_why(r);
    return r;
}

static int mon_cont(void *opaque, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_resume(q->m);
    if (r < 0)
        *why = mon_why(r);
    return r;
}

static int mon_reset(void *opaque, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_reset(q->m);
    if (r < 0)
        *why = mon_why(r);
    return r;
}

static int mon_powerdown(void *opaque, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_powerdown(q->m);
    if (r < 0)
        *why = mon_why(r);
    return r;
}

static int mon_quit(void *opaque, const char **why)
{
    struct qmp_monitor *q = opaque;
    machine_quit(q->m);
    return 0;
}

/* The vCPUs present (absent ones, CPU hotplug, are left out as on QEMU). */
static unsigned mon_cpus(void *opaque, struct qmp_cpu *out, unsigned max)
{
    struct qmp_monitor *q = opaque;
    unsigned n = machine_ncpus(q->m), k = 0;
    for (unsigned i = 0; i < n; i++) {
        struct machine_cpu_info ci;
        int e = machine_cpu_info(q->m, i, &ci);
        if (e == -ENODEV)
            continue;
        if (e < 0)
            break;
        struct machine_cpu_slot sl = { 0 };
        if (k < max && k < QMP_MAX_CPUS) {
            bool id = machine_cpu_slot(q->m, i, &sl) == 0 && sl.id[0];
            memcpy(q->cpu_id[k], sl.id, sizeof(q->cpu_id[k]));
            out[k] = (struct qmp_cpu){ .index = ci.cpu_index, .thread_id = ci.thread_id, .target = ci.target,
                                       .state = ci.state, .id = id ? q->cpu_id[k] : NULL };
        }
        k++;
    }
    return k;
}

static int mon_cpu_add(void *opaque, const struct qmp_cpu_add *a, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_cpu_add(q->m, a->core, a->id, q->why, sizeof(q->why));
    if (r < 0)
        *why = q->why;
    return r;
}

static int mon_pci_add(void *opaque, const struct machine_pci_device *d, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_device_add(q->m, d, q->why, sizeof(q->why));
    if (r < 0)
        *why = q->why;
    return r;
}

/* id NULL: the device whatever its name */
static int mon_memdev(void *opaque, const char *id, struct virtio_mem_info *out)
{
    struct qmp_monitor *q = opaque;
    struct virtio_mem *d = machine_memdev(q->m);
    if (!d)
        return -ENOENT;
    virtio_mem_info(d, out);
    return !id || !strcmp(out->opts.id, id) ? 0 : -ENOENT;
}

static int mon_memdev_set(void *opaque, const char *id, uint64_t requested, const char **why)
{
    struct qmp_monitor *q = opaque;
    struct virtio_mem *d = machine_memdev(q->m);
    int r = d ? virtio_mem_set_requested(d, requested, q->why, sizeof(q->why)) : -ENOENT;
    if (r < 0)
        *why = d ? q->why : "no virtio-mem device";
    return r;
}

static int mon_query_pci(void *opaque, unsigned slot, struct machine_pci_info *out)
{
    struct qmp_monitor *q = opaque;
    return machine_pci_info(q->m, slot, out);
}

/* A hot-plugged PCI device of that id, else a CPU */
static int mon_device_del(void *opaque, const char *id, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_device_del(q->m, id, q->why, sizeof(q->why));
    if (r != -ENOENT) {
        if (r < 0)
            *why = q->why;
        return r;
    }
    r = machine_cpu_del(q->m, id, q->why, sizeof(q->why));
    if (r < 0)
        *why = q->why;
    return r;
}

static int mon_hotpluggable_cpus(void *opaque, struct qmp_hotcpu *out, unsigned max)
{
    struct qmp_monitor *q = opaque;
    unsigned n = machine_ncpus(q->m);
    for (unsigned i = 0; i < n && i < max && i < QMP_MAX_CPUS; i++) {
        struct machine_cpu_slot sl;
        if (machine_cpu_slot(q->m, i, &sl) < 0)
            return -ENOTSUP;
        memcpy(q->cpu_id[i], sl.id, sizeof(q->cpu_id[i]));
        out[i] = (struct qmp_hotcpu){ .index = i, .present = sl.present, .id = sl.id[0] ? q->cpu_id[i] : NULL };
    }
    return (int)n;
}

static unsigned mon_blocks(void *opaque, struct qmp_block *out, unsigned max)
{
    struct qmp_monitor *q = opaque;
    unsigned n = machine_nblock(q->m);
    for (unsigned i = 0; i < n && i < max; i++) {
        struct machine_block_info bi;
        if (machine_block_info(q->m, i, &bi) < 0)
            return i;
        out[i] = (struct qmp_block){ .device = bi.device, .file = bi.file, .read_only = bi.readonly,
                                     .direct = bi.direct, .size = bi.size };
    }
    return n;
}

static int mon_vm_snapshot(void *opaque, const char *path, bool paused, bool disks, const char **why)
{
    struct qmp_monitor *q = opaque;
    struct machine_snapshot_opts o = { .paused = paused, .disks = disks };
    int r = machine_snapshot(q->m, path, &o, q->why, sizeof(q->why));
    if (r < 0) {
        log_warn("QMP vm-snapshot: %s", q->why);
        *why = q->why;
    }
    return r;
}

static int mon_vm_restore(void *opaque, const char *path, bool paused, bool verify, const char **why)
{
    struct qmp_monitor *q = opaque;
    struct snap *s;
    int r = snap_load_dir(path, &s, q->why, sizeof(q->why));
    if (!r) {
        r = machine_restore(q->m, s, paused, verify, q->why, sizeof(q->why));
        snap_free(s);
    }
    if (r < 0) {
        log_warn("QMP vm-restore: %s", q->why);
        *why = q->why;
    }
    return r;
}

static int mon_balloon(void *opaque, uint64_t bytes, const char **why)
{
    struct qmp_monitor *q = opaque;
    return machine_balloon_set(q->m, bytes);
}

static int mon_query_balloon(void *opaque, uint64_t *actual, const char **why)
{
    struct qmp_monitor *q = opaque;
    return machine_balloon_query(q->m, actual);
}

static struct virtio_balloon *mon_balloon_named(struct qmp_monitor *q, const char *id)
{
    struct virtio_balloon *b = machine_balloon(q->m);
    return b && !strcmp(virtio_balloon_options(b)->id, id) ? b : NULL;
}

static int mon_balloon_stats(void *opaque, const char *id, struct qmp_balloon_stats *out)
{
    struct virtio_balloon *b = mon_balloon_named(opaque, id);
    if (!b)
        return -ENOENT;
    struct virtio_balloon_stats st;
    virtio_balloon_get_stats(b, &st, NULL);
    out->n = 0;
    for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR && i < QMP_BALLOON_STATS; i++) {
        out->name[out->n] = virtio_balloon_stat_name(i);
        out->val[out->n++] = st.val[i] > INT64_MAX ? -1 : (int64_t)st.val[i];
    }
    out->last_update = st.last_update;
    return 0;
}

static int mon_balloon_poll(void *opaque, const char *id, bool set, int64_t *seconds)
{
    struct virtio_balloon *b = mon_balloon_named(opaque, id);
    if (!b)
        return -ENOENT;
    if (set)
        return virtio_balloon_set_poll_interval(b, (unsigned)*seconds);
    *seconds = virtio_balloon_poll_interval(b);
    return 0;
}

static int mon_migrate(void *opaque, const char *uri, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_migrate(q->m, uri, q->why, sizeof(q->why));
    if (r < 0) {
        log_warn("QMP migrate: %s", q->why);
        *why = q->why;
    }
    return r;
}

static int mon_migrate_cancel(void *opaque, const char **why)
{
    struct qmp_monitor *q = opaque;
    return machine_migrate_cancel(q->m);
}

static void mon_query_migrate(void *opaque, struct machine_mig_info *out)
{
    struct qmp_monitor *q = opaque;
    machine_migrate_info(q->m, out);
}

static void mon_migrate_params(void *opaque, struct machine_mig_params *p, bool set)
{
    struct qmp_monitor *q = opaque;
    if (set)
        machine_migrate_set_params(q->m, p);
    else
        machine_migrate_get_params(q->m, p);
}

static int mon_replicate(void *opaque, const char *uri, uint64_t period_ms, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_replicate(q->m, uri, period_ms, q->why, sizeof(q->why));
    if (r < 0) {
        log_warn("QMP vm-replicate: %s", q->why);
        *why = q->why;
    }
    return r;
}

static void mon_query_replication(void *opaque, struct machine_repl_info *out)
{
    struct qmp_monitor *q = opaque;
    machine_replicate_info(q->m, out);
}

static const struct qmp_ops monitor_ops = {
    .status = mon_status, .stop = mon_stop, .cont = mon_cont, .system_reset = mon_reset,
    .system_powerdown = mon_powerdown, .quit = mon_quit, .query_cpus = mon_cpus, .query_block = mon_blocks,
    .vm_snapshot = mon_vm_snapshot, .vm_restore = mon_vm_restore,
    .balloon = mon_balloon, .query_balloon = mon_query_balloon, .balloon_stats = mon_balloon_stats,
    .balloon_poll = mon_balloon_poll,
    .migrate = mon_migrate, .migrate_cancel = mon_migrate_cancel, .query_migrate = mon_query_migrate,
    .migrate_params = mon_migrate_params,
    .replicate = mon_replicate, .query_replication = mon_query_replication,
    .cpu_add = mon_cpu_add, .device_del = mon_device_del, .hotpluggable_cpus = mon_hotpluggable_cpus,
    .pci_add = mon_pci_add, .query_pci = mon_query_pci, .memdev = mon_memdev, .memdev_set = mon_memdev_set,
};

const char *qmp_monitor_command(unsigned i)
{
    return qmp_ops_command(&monitor_ops, i);
}

static const enum qmp_event event_of[] = {
    [MACHINE_EV_STOP] = QMP_EVENT_STOP, [MACHINE_EV_RESUME] = QMP_EVENT_RESUME,
    [MACHINE_EV_SHUTDOWN] = QMP_EVENT_SHUTDOWN, [MACHINE_EV_POWERDOWN] = QMP_EVENT_POWERDOWN,
    [MACHINE_EV_RESET] = QMP_EVENT_RESET, [MACHINE_EV_BALLOON_CHANGE] = QMP_EVENT_BALLOON_CHANGE,
    [MACHINE_EV_MIGRATION] = QMP_EVENT_MIGRATION,
    [MACHINE_EV_REPLICATION_FAILOVER] = QMP_EVENT_REPLICATION_FAILOVER,
    [MACHINE_EV_DEVICE_DELETED] = QMP_EVENT_DEVICE_DELETED,
};

/* Any thread: queue the event for the loop. */
static void mon_event(void *opaque, const struct machine_event_info *e)
{
    struct qmp_monitor *q = opaque;
    if (e->event == MACHINE_EV_BALLOON_CHANGE)
        qmp_server_balloon_change(q->srv, e->value);
    else if (e->event == MACHINE_EV_REPLICATION_FAILOVER)
        qmp_server_event_value(q->srv, QMP_EVENT_REPLICATION_FAILOVER, "epoch", (int64_t)e->value);
    else if ((unsigned)e->event < ARRAY_SIZE(event_of))
        qmp_server_event(q->srv, event_of[e->event], e->guest, e->reason);
}

static int mon_start(struct machine *m, void *opaque)
{
    struct qmp_monitor *q = opaque;
    q->m = m;
    q->srv = qmp_server_new(q->spec, machine_loop(m), &monitor_ops, q);
    if (!q->srv)
        return -EINVAL;
    machine_set_event_cb(m, mon_event, q);
    return 0;
}

/* vCPUs joined, loop still running: serve the last events, then stop. */
static void mon_stop_monitor(void *opaque)
{
    struct qmp_monitor *q = opaque;
    if (q->m)
        machine_set_event_cb(q->m, NULL, NULL);
    qmp_server_stop(q->srv);
    qmp_server_free(q->srv);
    q->srv = NULL;
}

int qmp_monitor_init(struct machine_monitor *mon, const char *spec)
{
    if (mon->start) {
        log_error("--qmp %s: one --qmp socket only", spec);
        return -EEXIST;
    }
    struct qmp_spec sp;
    if (qmp_spec_parse(spec, &sp) < 0)
        return -EINVAL;
    struct qmp_monitor *q = xzalloc(sizeof(*q));
    q->spec = xstrdup(spec);
    mon->start = mon_start;
    mon->stop = mon_stop_monitor;
    mon->opaque = q;
    return 0;
}

void qmp_monitor_release(struct machine_monitor *mon)
{
    struct qmp_monitor *q = mon->opaque;
    if (!q || mon->start != mon_start)
        return;
    free(q->spec);
    free(q);
    mon->opaque = NULL;
}
