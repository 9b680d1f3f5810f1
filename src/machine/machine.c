/* The machine: run state, stop / reset / pause policy, signals, events. */
#include "machine/internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- checks shared by both commands ---- */
uint64_t machine_host_mem_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
}

int machine_parse_mem(const char *arg, uint64_t *out)
{
    uint64_t v;
    if (parse_size(arg, 1 << 20, &v) || v < MACHINE_MIN_RAM || v % MEM_PAGE_SIZE) {
        log_error("-m %s: need a size of at least %lluM (page multiple)", arg,
                  (unsigned long long)(MACHINE_MIN_RAM >> 20));
        return -EINVAL;
    }
    uint64_t host = machine_host_mem_bytes();
    if (host && v > host) {
        log_error("-m %llu MiB is more than the host's %llu MiB of memory",
                  (unsigned long long)(v >> 20), (unsigned long long)(host >> 20));
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int machine_parse_smp(const char *arg, unsigned max, const char *what, unsigned *out)
{
    return machine_parse_smp_max(arg, max, what, out, NULL);
}

int machine_parse_smp_max(const char *arg, unsigned max, const char *what, unsigned *boot, unsigned *total)
{
    char buf[64];
    uint64_t n = 0, m = 0;
    if (strlen(arg) >= sizeof(buf))
        goto bad;
    snprintf(buf, sizeof(buf), "%s", arg);
    char *save = NULL;
    bool have_n = false;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strncmp(t, "maxcpus=", 8)) {
            if (m || parse_u64(t + 8, &m) || m < 1 || m > max)
                goto bad;
        } else {
            if (!strncmp(t, "cpus=", 5))
                t += 5;
            if (have_n || parse_u64(t, &n) || n < 1 || n > max)
                goto bad;
            have_n = true;
        }
    }
    if (!have_n)
        n = m;          /* maxcpus=M alone: all online, as QEMU */
    if (!m)
        m = n;
    if (n < 1 || m < n) {
        log_error("--smp %s: maxcpus must be at least the %s count", arg, what);
        return -EINVAL;
    }
    if (m != n && !total) {
        log_error("--smp %s: %ss that come later (maxcpus) are not offered here", arg, what);
        return -EINVAL;
    }
    *boot = (unsigned)n;
    if (total)
        *total = (unsigned)m;
    return 0;
bad:
    if (total)
        log_error("--smp %s: need a %s count from 1 to %u[,maxcpus=M up to %u]", arg, what, max, max);
    else
        log_error("--smp %s: need a %s count from 1 to %u", arg, what, max);
    return -EINVAL;
}

int machine_parse_mem_merge(const char *arg, bool *off)
{
    if (!arg || !strcmp(arg, "on")) {
        *off = false;
    } else if (!strcmp(arg, "off")) {
        *off = true;
    } else {
        log_error("--mem-merge=%s: expected on or off", arg);
        return -EINVAL;
    }
    return 0;
}

/* ---- events ---- */
static const char *const event_names[] = {
    [MACHINE_EV_STOP] = "STOP", [MACHINE_EV_RESUME] = "RESUME", [MACHINE_EV_SHUTDOWN] = "SHUTDOWN",
    [MACHINE_EV_POWERDOWN] = "POWERDOWN", [MACHINE_EV_RESET] = "RESET",
    [MACHINE_EV_BALLOON_CHANGE] = "BALLOON_CHANGE", [MACHINE_EV_MIGRATION] = "MIGRATION",
    [MACHINE_EV_REPLICATION_FAILOVER] = "REPLICATION_FAILOVER",
    [MACHINE_EV_DEVICE_DELETED] = "DEVICE_DELETED",
};

static void emit(struct machine *m, enum machine_event ev, bool guest, const char *reason)
{
    struct machine_event_info e = { ev, event_names[ev], guest, reason };
    log_debug("machine: event %s%s%s", e.name, reason ? " " : "", reason ? reason : "");
    if (m->event_cb)
        m->event_cb(m->event_opaque, &e);
}

void machine_emit(struct machine *m, enum machine_event ev, bool guest, const char *reason)
{
    emit(m, ev, guest, reason);
}

void machine_emit_value(struct machine *m, enum machine_event ev, uint64_t value)
{
    struct machine_event_info e = { ev, event_names[ev], true, NULL, value };
    if (m->event_cb)
        m->event_cb(m->event_opaque, &e);
}

void machine_emit_migration(struct machine *m, const char *status)
{
    emit(m, MACHINE_EV_MIGRATION, false, status);
}

void machine_set_event_cb(struct machine *m, void (*cb)(void *opaque, const struct machine_event_info *e),
                          void *opaque)
{
    m->event_cb = cb;
    m->event_opaque = opaque;
}

/* ---- waking the main thread ---- */
static void wake_main(struct machine *m)
{
    uint64_t one = 1;
    if (write(m->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_once(LOG_WARN, "machine: eventfd write: %s", strerror(errno));
}

static void kick_vcpus(struct machine *m)
{
    if (m->eops && m->eops->kick)
        m->eops->kick(m->eng);
}

void machine_kick(struct machine *m)
{
    kick_vcpus(m);
}

/* ---- stop ---- */
static int exit_status_for(enum machine_stop why, int status)
{
    switch (why) {
    case MACHINE_STOP_POWEROFF: case MACHINE_STOP_QUIT: return 0;
    case MACHINE_STOP_REBOOT: return MACHINE_EXIT_REBOOT;
    case MACHINE_STOP_ERROR: return status ? status : MACHINE_EXIT_ERROR;
    default: return status;
    }
}

static const char *stop_cause(enum machine_stop why)
{
    switch (why) {
    case MACHINE_STOP_POWEROFF: return "guest-shutdown";
    case MACHINE_STOP_REBOOT: return "guest-reset";
    case MACHINE_STOP_QUIT: return "host-qmp-quit";
    case MACHINE_STOP_SIGNAL: return "host-signal";
    case MACHINE_STOP_FAIL: case MACHINE_STOP_EXIT: return "guest-shutdown";
    case MACHINE_STOP_ERROR: return "host-error";
    }
    return "host-error";
}

/* With m->lock held: ask the vCPU threads to return and the main thread to
 * reset the machine. */
static void request_reset_locked(struct machine *m, bool guest, const char *reason)
{
    if (m->reset_pending)
        return;
    m->reset_pending = true;
    m->reset_guest = guest;
    m->reset_reason = reason;
    atomic_fetch_or(&m->req, MACHINE_REQ_EXIT);
    pthread_cond_broadcast(&m->cond);
}

void machine_shutdown(struct machine *m, enum machine_stop why, int status)
{
    pthread_mutex_lock(&m->lock);
    if (m->stopping) {
        pthread_mutex_unlock(&m->lock);
        return;
    }
    if (why == MACHINE_STOP_REBOOT && !m->cfg.no_reboot) {
        request_reset_locked(m, true, "guest-reset");
    } else {
        m->stopping = true;
        m->stop_why = why;
        m->exit_status = exit_status_for(why, status);
        atomic_fetch_or(&m->req, MACHINE_REQ_EXIT);
        pthread_cond_broadcast(&m->cond);
    }
    pthread_mutex_unlock(&m->lock);
    kick_vcpus(m);
    wake_main(m);
}

enum machine_stop machine_stop_reason(const struct machine *m)
{
    return m->stop_why;
}

int machine_exit_status(const struct machine *m)
{
    return m->exit_status;
}

void machine_quit(struct machine *m)
{
    machine_shutdown(m, MACHINE_STOP_QUIT, 0);
}

/* ---- the vCPU side ---- */
bool machine_vcpu_should_exit(const struct machine *m)
{
    return atomic_load_explicit(&((struct machine *)m)->req, memory_order_acquire) & MACHINE_REQ_EXIT;
}

/* Auto-converge (migrate.c): at each throttle tick (one a time slice of
 * running) a throttled vCPU sleeps pct / (100 - pct) of the time it ran
 * since its last sleep (a slice when the tick came on time, more when it
 * came late on a loaded host), as QEMU's cpu-throttle does with a fixed
 * slice. A pause, stop or reset wakes it (m->cond). With m->lock held. */
static bool throttled(struct machine *m)
{
    return (atomic_load(&m->req) & (MACHINE_REQ_THROTTLE | MACHINE_REQ_PAUSE | MACHINE_REQ_EXIT)) ==
           MACHINE_REQ_THROTTLE;
}

/* Returns with the sleep over, or early for a pause or stop (the rest of
 * the sleep is taken after the pause: throttle_until stays). */
static void throttle_sleep(struct machine *m, unsigned cpu)
{
    if (!throttled(m))
        return;
    unsigned tick = atomic_load(&m->throttle_tick), pct = atomic_load(&m->throttle_pct);
    uint64_t now = time_ns();
    if (tick != m->vcpu[cpu].throttle_seen && pct > 0 && pct <= 99 && now >= m->vcpu[cpu].throttle_until) {
        m->vcpu[cpu].throttle_seen = tick;
        uint64_t ran = MACHINE_THROTTLE_SLICE_NS;
        if (m->vcpu[cpu].throttle_woke && now - m->vcpu[cpu].throttle_woke > ran)
            ran = MIN(now - m->vcpu[cpu].throttle_woke, 20 * MACHINE_THROTTLE_SLICE_NS);
        m->vcpu[cpu].throttle_until = now + ran * pct / (100 - pct);
    }
    if (now >= m->vcpu[cpu].throttle_until)
        return;
    while (throttled(m) && (now = time_ns()) < m->vcpu[cpu].throttle_until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);     /* m->cond's clock */
        uint64_t end = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec +
                       (m->vcpu[cpu].throttle_until - now);
        struct timespec dl = { (time_t)(end / 1000000000ULL), (long)(end % 1000000000ULL) };
        pthread_cond_timedwait(&m->cond, &m->lock, &dl);
    }
    if (time_ns() >= m->vcpu[cpu].throttle_until)
        m->vcpu[cpu].throttle_woke = time_ns();
}

bool machine_vcpu_enter(struct machine *m, unsigned cpu)
{
    if (unlikely(!atomic_load_explicit(&m->vcpu[cpu].tid, memory_order_relaxed)))
        atomic_store_explicit(&m->vcpu[cpu].tid, (int)syscall(SYS_gettid), memory_order_relaxed);
    if (likely(!atomic_load_explicit(&m->req, memory_order_acquire)))
        return true;
    pthread_mutex_lock(&m->lock);
    do {
        throttle_sleep(m, cpu);
        while ((atomic_load(&m->req) & (MACHINE_REQ_PAUSE | MACHINE_REQ_EXIT)) == MACHINE_REQ_PAUSE) {
            m->vcpu[cpu].parked = true;
            m->nparked++;
            pthread_cond_broadcast(&m->cond);
            pthread_cond_wait(&m->cond, &m->lock);
            m->nparked--;
            m->vcpu[cpu].parked = false;
        }
    } while (throttled(m) && time_ns() < m->vcpu[cpu].throttle_until);
    bool go = !(atomic_load(&m->req) & MACHINE_REQ_EXIT);
    pthread_mutex_unlock(&m->lock);
    return go;
}

void machine_vcpu_idle_begin(struct machine *m, unsigned cpu)
{
    pthread_mutex_lock(&m->lock);
    m->vcpu[cpu].idle = true;
    m->nparked++;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

void machine_vcpu_set_absent(struct machine *m, unsigned cpu, bool absent)
{
    if (cpu >= m->cfg.ncpus)
        return;
    pthread_mutex_lock(&m->lock);
    if (m->vcpu[cpu].absent != absent) {
        m->vcpu[cpu].absent = absent;
        m->nabsent += absent ? 1 : -1u;
        if (absent)
            atomic_store(&m->vcpu[cpu].tid, 0);
        pthread_cond_broadcast(&m->cond);
    }
    pthread_mutex_unlock(&m->lock);
}

void machine_vcpu_idle_end(struct machine *m, unsigned cpu)
{
    pthread_mutex_lock(&m->lock);
    m->vcpu[cpu].idle = false;
    m->nparked--;
    pthread_mutex_unlock(&m->lock);
}

/* ---- control ---- */
static const char *const status_names[] = {
    [MACHINE_PRELAUNCH] = "prelaunch", [MACHINE_RUNNING] = "running", [MACHINE_PAUSED] = "paused",
    [MACHINE_SHUTDOWN] = "shutdown", [MACHINE_INTERNAL_ERROR] = "internal-error",
};

const char *machine_status_name(enum machine_status s)
{
    return (unsigned)s < ARRAY_SIZE(status_names) ? status_names[s] : "running";
}

enum machine_status machine_status(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    enum machine_status s = m->status;
    if (m->stopping)
        s = m->stop_why == MACHINE_STOP_ERROR ? MACHINE_INTERNAL_ERROR : MACHINE_SHUTDOWN;
    pthread_mutex_unlock(&m->lock);
    return s;
}

static void devices_pause(struct machine *m, bool pause)
{
    if (pause)
        machine_hotdevs_pause(m, true);     /* plugged last, paused first */
    for (unsigned i = 0; i < m->ndevs; i++) {
        unsigned k = pause ? m->ndevs - 1 - i : i;
        const struct machine_dev_ops *o = m->devs[k].ops;
        void (*fn)(void *) = pause ? o->pause : o->resume;
        if (fn)
            fn(m->devs[k].opaque);
    }
    if (!pause)
        machine_hotdevs_pause(m, false);
}

/* With m->lock (and ctl_lock) held, the machine running: every vCPU
 * parked (MACHINE_REQ_PAUSE stays set). -ESHUTDOWN once stopping. */
static int park_locked(struct machine *m)
{
    atomic_fetch_or(&m->req, MACHINE_REQ_PAUSE);
    pthread_cond_broadcast(&m->cond);       /* a throttled vCPU asleep */
    pthread_mutex_unlock(&m->lock);
    kick_vcpus(m);
    pthread_mutex_lock(&m->lock);
    /* a reset in progress restarts the threads, which then park too */
    while (!m->stopping && (m->reset_pending || m->nparked + m->nabsent < m->cfg.ncpus))
        pthread_cond_wait(&m->cond, &m->lock);
    return m->stopping ? -ESHUTDOWN : 0;
}

int machine_vcpus_park(struct machine *m)
{
    pthread_mutex_lock(&m->ctl_lock);
    pthread_mutex_lock(&m->lock);
    /* A reset between joining the vCPU threads and starting them again
     * (vcpus_started false) is waited for: the engine's reset replaces
     * the VM (KVM: its fd closed, a new one opened) under a cut that
     * reads it. Threads started after this find the request and park. */
    while (!m->stopping && m->reset_pending)
        pthread_cond_wait(&m->cond, &m->lock);
    int r = m->stopping ? -ESHUTDOWN : 0;
    if (!r && m->status == MACHINE_RUNNING && m->vcpus_started)
        r = park_locked(m);
    else if (!r && m->status == MACHINE_RUNNING)
        atomic_fetch_or(&m->req, MACHINE_REQ_PAUSE);
    pthread_mutex_unlock(&m->lock);
    if (r < 0) {
        machine_vcpus_unpark(m);
        return r;
    }
    return 0;
}

void machine_vcpus_unpark(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    if (m->status == MACHINE_RUNNING) {
        atomic_fetch_and(&m->req, ~MACHINE_REQ_PAUSE);
        pthread_cond_broadcast(&m->cond);
    }
    pthread_mutex_unlock(&m->lock);
    pthread_mutex_unlock(&m->ctl_lock);
}

int machine_checkpoint_begin(struct machine *m, bool *quiesced)
{
    int r = machine_vcpus_park(m);
    if (r < 0)
        return r;
    pthread_mutex_lock(&m->lock);
    *quiesced = m->status == MACHINE_RUNNING;
    pthread_mutex_unlock(&m->lock);
    if (*quiesced)
        devices_pause(m, true);
    return 0;
}

void machine_checkpoint_end(struct machine *m, bool quiesced)
{
    if (quiesced)
        devices_pause(m, false);
    machine_vcpus_unpark(m);
}

int machine_pause(struct machine *m)
{
    pthread_mutex_lock(&m->ctl_lock);
    pthread_mutex_lock(&m->lock);
    int r = 0;
    if (m->stopping) {
        r = -ESHUTDOWN;
        goto out;
    }
    if (m->status != MACHINE_RUNNING)
        goto out;
    if ((r = park_locked(m)) < 0)
        goto out;
    m->status = MACHINE_PAUSED;
    pthread_mutex_unlock(&m->lock);
    devices_pause(m, true);
    if (m->eops->clock_stop)
        m->eops->clock_stop(m->eng);
    pthread_mutex_unlock(&m->ctl_lock);
    emit(m, MACHINE_EV_STOP, false, NULL);
    return 0;
out:
    pthread_mutex_unlock(&m->lock);
    pthread_mutex_unlock(&m->ctl_lock);
    return r;
}

int machine_resume(struct machine *m)
{
    pthread_mutex_lock(&m->ctl_lock);
    pthread_mutex_lock(&m->lock);
    int r = 0;
    enum machine_status was = m->status;
    if (m->stopping) {
        r = -ESHUTDOWN;
    } else if (atomic_load(&m->incoming_wait) || atomic_load(&m->migrating_out)) {
        r = -EBUSY;
    } else if (was == MACHINE_PRELAUNCH) {
        m->status = MACHINE_RUNNING;
        m->start_pending = true;
    } else if (was == MACHINE_PAUSED) {
        pthread_mutex_unlock(&m->lock);
        if (m->eops->clock_start)
            m->eops->clock_start(m->eng);
        devices_pause(m, false);
        pthread_mutex_lock(&m->lock);
        m->status = MACHINE_RUNNING;
        atomic_fetch_and(&m->req, ~MACHINE_REQ_PAUSE);
        pthread_cond_broadcast(&m->cond);
    }
    pthread_mutex_unlock(&m->lock);
    pthread_mutex_unlock(&m->ctl_lock);
    if (r == 0 && was == MACHINE_PRELAUNCH)
        wake_main(m);
    if (r == 0 && (was == MACHINE_PRELAUNCH || was == MACHINE_PAUSED))
        emit(m, MACHINE_EV_RESUME, false, NULL);
    return r;
}

int machine_reset(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    int r = m->stopping ? -ESHUTDOWN : 0;
    if (!r)
        request_reset_locked(m, false, "host-qmp-system-reset");
    pthread_mutex_unlock(&m->lock);
    if (!r) {
        kick_vcpus(m);
        wake_main(m);
    }
    return r;
}

void machine_set_power_button(struct machine *m, int (*press)(void *opaque), void *opaque)
{
    m->power_press = press;
    m->power_opaque = opaque;
}

int machine_powerdown(struct machine *m)
{
    if (!m->power_press)
        return -ENOSYS;
    if (machine_status(m) == MACHINE_SHUTDOWN)
        return -ESHUTDOWN;
    int r = m->power_press(m->power_opaque);
    if (r == 0)
        emit(m, MACHINE_EV_POWERDOWN, false, NULL);
    return r;
}

unsigned machine_ncpus(const struct machine *m)
{
    return m->cfg.ncpus;
}

int machine_cpu_info(struct machine *m, unsigned i, struct machine_cpu_info *ci)
{
    if (i >= m->cfg.ncpus)
        return -ENOENT;
    pthread_mutex_lock(&m->lock);
    bool absent = m->vcpu[i].absent;
    pthread_mutex_unlock(&m->lock);
    if (absent)
        return -ENODEV;
    memset(ci, 0, sizeof(*ci));
    ci->cpu_index = i;
    ci->thread_id = atomic_load(&m->vcpu[i].tid);
    ci->arch = m->eops ? m->eops->arch : "";
    ci->target = m->eops ? m->eops->target : "";
    pthread_mutex_lock(&m->lock);
    bool parked = m->vcpu[i].parked || m->vcpu[i].idle || m->status != MACHINE_RUNNING;
    pthread_mutex_unlock(&m->lock);
    if (parked && m->eops && m->eops->cpu_state)
        m->eops->cpu_state(m->eng, i, ci);
    if (m->eops && m->eops->cpu_state_name)
        ci->state = m->eops->cpu_state_name(m->eng, i);
    return 0;
}

/* ---- the main thread ---- */
static int start_vcpus(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    m->nparked = 0;         /* no vCPU thread exists here */
    /* before the threads: a park from now on waits for them to park (they
     * may enter the guest before they see its request) */
    m->vcpus_started = true;
    pthread_mutex_unlock(&m->lock);
    int r = m->eops->start(m->eng);
    if (r < 0) {
        pthread_mutex_lock(&m->lock);
        m->vcpus_started = false;
        pthread_mutex_unlock(&m->lock);
        log_error("machine: cannot start the vCPUs: %s", strerror(-r));
        machine_shutdown(m, MACHINE_STOP_ERROR, MACHINE_EXIT_ERROR);
        return r;
    }
    return 0;
}

static void join_vcpus(struct machine *m)
{
    if (!m->vcpus_started)
        return;
    kick_vcpus(m);
    m->eops->join(m->eng);
    pthread_mutex_lock(&m->lock);
    m->vcpus_started = false;
    pthread_mutex_unlock(&m->lock);
    for (unsigned i = 0; i < m->cfg.ncpus; i++)
        atomic_store(&m->vcpu[i].tid, 0);
}

/* vCPU threads told to return (MACHINE_REQ_EXIT): join them, reset every
 * device and the engine, start again. */
static void do_reset(struct machine *m)
{
    join_vcpus(m);
    machine_devices_reset(m);
    int r = m->eops->reset ? m->eops->reset(m->eng) : -ENOSYS;
    /* The images were loaded again: a migration or a replication sends it
     * all. Marked before reset_pending is cleared: a cut waiting for the
     * reset (machine_vcpus_park) runs as soon as it is, and one that ran
     * before the mark sent the vCPUs at the kernel's entry with none of
     * the reloaded images (a standby that took over that epoch booted
     * over the old guest's memory: "VFS: Unable to mount root fs") */
    if (atomic_load(&m->dirty_logging))
        mem_mark_all_dirty(&m->mem);
    pthread_mutex_lock(&m->lock);
    bool guest = m->reset_guest;
    const char *reason = m->reset_reason;
    m->reset_pending = false;
    if (!m->stopping)
        atomic_fetch_and(&m->req, ~MACHINE_REQ_EXIT);
    bool run = !m->stopping && m->status != MACHINE_PRELAUNCH;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    if (r < 0) {
        log_error("machine: reset failed: %s", strerror(-r));
        machine_shutdown(m, MACHINE_STOP_ERROR, MACHINE_EXIT_ERROR);
        return;
    }
    emit(m, MACHINE_EV_RESET, guest, reason);
    if (run)
        start_vcpus(m);
}

static void drain_signals(struct machine *m)
{
    struct signalfd_siginfo si;
    while (read(m->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        log_warn("terminating on signal %d from pid %d", (int)si.ssi_signo, (int)si.ssi_pid);
        machine_shutdown(m, MACHINE_STOP_SIGNAL, 128 + (int)si.ssi_signo);
    }
}

void machine_bench_stamp(const char *what)
{
    if (getenv("VESSEL_BENCH_CLOCK"))
        fprintf(stderr, "vessel: bench: %s at %.3f ms\n", what, (double)time_ns() / 1e6);
}

int machine_run(struct machine *m)
{
    if (!m->eops || !m->eops->start || !m->eops->join)
        return MACHINE_EXIT_ERROR;
    if (loop_start(m->loop) < 0)
        return MACHINE_EXIT_ERROR;
    /* KSM: a host kernel without it refuses (EINVAL); the guest runs anyway */
    int mr = mem_set_merge(&m->mem, !m->cfg.mem_merge_off);
    if (mr < 0 && !m->cfg.mem_merge_off)
        log_warn("--mem-merge: the host refuses MADV_MERGEABLE (%s): guest RAM is not merged", strerror(-mr));
    bool hold = m->cfg.start_paused || m->cfg.incoming || m->cfg.standby;
    /* the status first: a client already connected (--qmp ...,server waits
     * for one) may be served as soon as the monitor starts, and its first
     * query-status must not see prelaunch on a machine about to run */
    if (!hold)
        m->status = MACHINE_RUNNING;
    if (m->cfg.monitor.start) {
        int r = m->cfg.monitor.start(m, m->cfg.monitor.opaque);
        if (r < 0)
            return MACHINE_EXIT_BADARG;
        m->monitor_started = true;
    }
    if (hold) {
        if (m->eops->clock_stop)
            m->eops->clock_stop(m->eng);
        if (m->cfg.incoming && migrate_incoming_start(m) < 0)
            return MACHINE_EXIT_BADARG;
        if (m->cfg.standby && replica_start(m) < 0)
            return MACHINE_EXIT_BADARG;
    } else {
        start_vcpus(m);
        if (m->cfg.replicate && replicate_start_from_config(m) < 0) {
            machine_shutdown(m, MACHINE_STOP_ERROR, MACHINE_EXIT_BADARG);
        }
    }
    bench_since_exec("vCPUs running");
    struct pollfd pfd[2] = { { m->wake_fd, POLLIN, 0 }, { m->sig_fd, POLLIN, 0 } };
    for (;;) {
        pthread_mutex_lock(&m->lock);
        bool stopping = m->stopping, reset = m->reset_pending, start = m->start_pending;
        m->start_pending = false;
        pthread_mutex_unlock(&m->lock);
        if (stopping)
            break;
        if (reset) {
            do_reset(m);
            continue;
        }
        if (start) {
            if (m->eops->clock_start)
                m->eops->clock_start(m->eng);
            start_vcpus(m);
            machine_bench_stamp("vCPUs started");
            continue;
        }
        /* no timeout: every request writes wake_fd, every signal sig_fd */
        if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
            log_error("machine: poll: %s", strerror(errno));
            machine_shutdown(m, MACHINE_STOP_ERROR, MACHINE_EXIT_ERROR);
        }
        uint64_t v;
        if (pfd[0].revents && read(m->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            log_once(LOG_WARN, "machine: eventfd read: %s", strerror(errno));
        if (pfd[1].revents)
            drain_signals(m);
    }
    emit(m, MACHINE_EV_SHUTDOWN, m->stop_why != MACHINE_STOP_QUIT && m->stop_why != MACHINE_STOP_SIGNAL &&
                                 m->stop_why != MACHINE_STOP_ERROR, stop_cause(m->stop_why));
    migrate_stop(m);
    replicate_stop(m);
    replica_stop(m);
    join_vcpus(m);
    return m->exit_status;
}
