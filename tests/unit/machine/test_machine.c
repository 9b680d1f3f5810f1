/* machine: the run state, stop / reset / pause policy, signals, events and
 * the device list, driven with a fake engine whose vCPU threads "run the
 * guest" by waiting for a kick. Everything waits for conditions (with a
 * generous deadline so a hang fails instead of blocking). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/base.h"
#include "machine/machine.h"
#include "machine/internal.h"     /* machine_vcpus_park: the cuts of a migration or a replication */

#define NCPU 3

/* ---- a fake engine ---- */
struct fake {
    struct machine *m;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t th[NCPU];
    struct vcpu_arg { struct fake *f; unsigned cpu; } arg[NCPU];
    unsigned started;
    bool kicked[NCPU];
    uint64_t entries[NCPU];        /* machine_vcpu_enter said yes */
    bool in_guest[NCPU];
    unsigned starts, resets, clock_stops, clock_starts;
    bool clock_running;
    /* events */
    char events[32][16];
    const char *reasons[32];
    unsigned nevents;
    /* what a vCPU does at its first entry: nothing, or shutdown */
    int vcpu_action;               /* 0 none, 1 shutdown POWEROFF, 2 REBOOT */
    /* devices */
    char devlog[256];
    /* reset_gate: fake_reset holds (in_reset) until it opens */
    bool reset_gate, in_reset;
};

static struct fake *fake_of(void *p) { return p; }


static void *fake_vcpu(void *p)
{
    struct vcpu_arg *a = p;
    struct fake *f = a->f;
    unsigned cpu = a->cpu;
    while (machine_vcpu_enter(f->m, cpu)) {
        pthread_mutex_lock(&f->lock);
        f->entries[cpu]++;
        f->in_guest[cpu] = true;
        pthread_cond_broadcast(&f->cond);
        int act = cpu == 0 ? f->vcpu_action : 0;
        f->vcpu_action = cpu == 0 ? 0 : f->vcpu_action;
        pthread_mutex_unlock(&f->lock);
        if (act == 1)
            machine_shutdown(f->m, MACHINE_STOP_POWEROFF, 0);
        else if (act == 2)
            machine_shutdown(f->m, MACHINE_STOP_REBOOT, 0);
        pthread_mutex_lock(&f->lock);
        while (!f->kicked[cpu])
            pthread_cond_wait(&f->cond, &f->lock);       /* "guest code" until kicked */
        f->kicked[cpu] = false;
        f->in_guest[cpu] = false;
        pthread_mutex_unlock(&f->lock);
    }
    return NULL;
}

static int fake_start(void *o)
{
    struct fake *f = fake_of(o);
    f->starts++;
    for (unsigned i = 0; i < NCPU; i++) {
        f->arg[i] = (struct vcpu_arg){ f, i };
        assert_int_equal(pthread_create(&f->th[i], NULL, fake_vcpu, &f->arg[i]), 0);
    }
    f->started = NCPU;
    return 0;
}

static void fake_kick(void *o)
{
    struct fake *f = fake_of(o);
    pthread_mutex_lock(&f->lock);
    for (unsigned i = 0; i < NCPU; i++)
        f->kicked[i] = true;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

static void fake_join(void *o)
{
    struct fake *f = fake_of(o);
    for (unsigned i = 0; i < f->started; i++)
        pthread_join(f->th[i], NULL);
    f->started = 0;
}

static int fake_reset(void *o)
{
    struct fake *f = fake_of(o);
    pthread_mutex_lock(&f->lock);
    f->resets++;
    f->in_reset = true;
    pthread_cond_broadcast(&f->cond);
    while (f->reset_gate)
        pthread_cond_wait(&f->cond, &f->lock);
    f->in_reset = false;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    return 0;
}
static void fake_clock_stop(void *o) { fake_of(o)->clock_stops++; fake_of(o)->clock_running = false; }
static void fake_clock_start(void *o) { fake_of(o)->clock_starts++; fake_of(o)->clock_running = true; }
static void fake_cpu_state(void *o, unsigned cpu, struct machine_cpu_info *ci) { ci->pc = 0x1000 + cpu; }

static const struct machine_engine_ops fake_ops = {
    .arch = "fake", .target = "fake64", .start = fake_start, .kick = fake_kick, .join = fake_join,
    .reset = fake_reset, .clock_stop = fake_clock_stop, .clock_start = fake_clock_start,
    .cpu_state = fake_cpu_state,
};

static void on_event(void *o, const struct machine_event_info *e)
{
    struct fake *f = o;
    pthread_mutex_lock(&f->lock);
    if (f->nevents < 32) {
        snprintf(f->events[f->nevents], sizeof(f->events[0]), "%s", e->name);
        f->reasons[f->nevents] = e->reason;
        f->nevents++;
    }
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

/* devices that log what the machine asks of them */
struct fdev {
    struct fake *f;
    const char *name;
};
static void dev_log(void *o, const char *what)
{
    struct fdev *d = o;
    size_t n = strlen(d->f->devlog);
    snprintf(d->f->devlog + n, sizeof(d->f->devlog) - n, "%s %s ", d->name, what);
}
static void dev_reset(void *o) { dev_log(o, "r"); }
static void dev_destroy(void *o) { dev_log(o, "d"); }
static void dev_pause(void *o) { dev_log(o, "p"); }
static void dev_resume(void *o) { dev_log(o, "u"); }
static const struct machine_dev_ops dev_ops = {
    .name = "fake", .reset = dev_reset, .destroy = dev_destroy, .pause = dev_pause, .resume = dev_resume,
};

/* wait (up to 20 s) until cond(f) holds; false on timeout */
/* cond within `ms` (also the failing side of a check that should not happen) */
static bool within(struct fake *f, bool (*cond)(struct fake *f, const void *arg), const void *arg, long ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += (ms % 1000) * 1000000L;
    dl.tv_sec += ms / 1000 + dl.tv_nsec / 1000000000L;
    dl.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&f->lock);
    int r = 0;
    while (!cond(f, arg) && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&f->cond, &f->lock, &dl);
    bool ok = cond(f, arg);
    pthread_mutex_unlock(&f->lock);
    return ok;
}

static bool wait_for(struct fake *f, bool (*cond)(struct fake *f, const void *arg), const void *arg)
{
    return within(f, cond, arg, 20000);
}

static bool has_event(struct fake *f, const void *name)
{
    for (unsigned i = 0; i < f->nevents; i++)
        if (strcmp(f->events[i], name) == 0)
            return true;
    return false;
}

static bool all_entered(struct fake *f, const void *min)
{
    for (unsigned i = 0; i < NCPU; i++)
        if (f->entries[i] < *(const uint64_t *)min)
            return false;
    return true;
}

struct world {
    struct fake f;
    struct machine *m;
    struct fdev devs[2];
    pthread_t ctl;
    int rc;
    enum machine_stop why;
};

static void world_init(struct world *w, const struct machine_config *cfg0)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->f.lock, NULL);
    pthread_cond_init(&w->f.cond, NULL);
    struct machine_config cfg = *cfg0;
    cfg.ncpus = NCPU;
    cfg.serial = "null";
    w->m = machine_new(&cfg);
    assert_non_null(w->m);
    w->f.m = w->m;
    machine_set_engine(w->m, &fake_ops, &w->f);
    machine_set_event_cb(w->m, on_event, &w->f);
    static const char *const names[2] = { "a", "b" };
    for (unsigned i = 0; i < 2; i++) {
        w->devs[i] = (struct fdev){ &w->f, names[i] };
        assert_int_equal(machine_dev_add(w->m, names[i], &dev_ops, &w->devs[i]), 0);
    }
    assert_int_equal(machine_dev_count(w->m), 2);
}

static void world_run(struct world *w, void *(*script)(void *))
{
    assert_int_equal(pthread_create(&w->ctl, NULL, script, w), 0);
    w->rc = machine_run(w->m);
    w->why = machine_stop_reason(w->m);
    pthread_join(w->ctl, NULL);
    machine_free(w->m);
}

/* ---- tests ---- */
static void *script_pause(void *p)
{
    struct world *w = p;
    uint64_t one = 1;
    assert_true(wait_for(&w->f, all_entered, &one));
    assert_int_equal(machine_status(w->m), MACHINE_RUNNING);
    assert_int_equal(machine_pause(w->m), 0);
    /* paused means: no vCPU in guest code, devices told, clock stopped */
    pthread_mutex_lock(&w->f.lock);
    for (unsigned i = 0; i < NCPU; i++)
        assert_false(w->f.in_guest[i]);
    uint64_t e0 = w->f.entries[0] + w->f.entries[1] + w->f.entries[2];
    pthread_mutex_unlock(&w->f.lock);
    assert_int_equal(machine_status(w->m), MACHINE_PAUSED);
    assert_string_equal(machine_status_name(machine_status(w->m)), "paused");
    assert_int_equal(w->f.clock_stops, 1);
    assert_string_equal(w->f.devlog, "b p a p ");
    assert_true(has_event(&w->f, "STOP"));
    assert_int_equal(machine_pause(w->m), 0);       /* again: no-op */
    struct machine_cpu_info ci;
    assert_int_equal(machine_cpu_info(w->m, 2, &ci), 0);
    assert_int_equal(ci.pc, 0x1002);
    assert_string_equal(ci.arch, "fake");
    assert_true(ci.thread_id > 0);
    assert_int_equal(machine_cpu_info(w->m, NCPU, &ci), -ENOENT);
    /* a kick while paused does not run the guest */
    fake_kick(&w->f);
    pthread_mutex_lock(&w->f.lock);
    assert_int_equal(w->f.entries[0] + w->f.entries[1] + w->f.entries[2], e0);
    pthread_mutex_unlock(&w->f.lock);
    assert_int_equal(machine_resume(w->m), 0);
    assert_true(w->f.clock_running);
    assert_true(has_event(&w->f, "RESUME"));
    uint64_t two = 2;
    fake_kick(&w->f);
    assert_true(wait_for(&w->f, all_entered, &two));
    assert_int_equal(machine_status(w->m), MACHINE_RUNNING);
    machine_quit(w->m);
    return NULL;
}

static void test_pause_resume(void **state)
{
    struct world w;
    struct machine_config cfg = { 0 };
    world_init(&w, &cfg);
    world_run(&w, script_pause);
    assert_int_equal(w.rc, 0);
    assert_true(has_event(&w.f, "SHUTDOWN"));
    assert_string_equal(w.f.devlog, "b p a p a u b u b d a d ");
}

static void *script_reset(void *p)
{
    struct world *w = p;
    uint64_t one = 1;
    assert_true(wait_for(&w->f, all_entered, &one));
    assert_int_equal(machine_reset(w->m), 0);
    assert_true(wait_for(&w->f, has_event, "RESET"));
    /* the guest's own reboot request resets too */
    pthread_mutex_lock(&w->f.lock);
    w->f.vcpu_action = 2;
    pthread_mutex_unlock(&w->f.lock);
    fake_kick(&w->f);
    struct fake *f = &w->f;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 20;
    pthread_mutex_lock(&f->lock);
    while (f->nevents < 2 && pthread_cond_timedwait(&f->cond, &f->lock, &dl) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&f->lock);
    assert_int_equal(f->nevents, 2);
    assert_string_equal(f->events[1], "RESET");
    assert_string_equal(f->reasons[1], "guest-reset");
    assert_string_equal(f->reasons[0], "host-qmp-system-reset");
    /* then a power-off from the guest */
    pthread_mutex_lock(&w->f.lock);
    w->f.vcpu_action = 1;
    pthread_mutex_unlock(&w->f.lock);
    fake_kick(&w->f);
    return NULL;
}

static void test_reset(void **state)
{
    struct world w;
    struct machine_config cfg = { 0 };
    world_init(&w, &cfg);
    world_run(&w, script_reset);
    assert_int_equal(w.rc, 0);
    assert_int_equal(w.f.resets, 2);
    assert_int_equal(w.f.starts, 3);
    assert_string_equal(w.f.devlog, "a r b r a r b r b d a d ");
    assert_int_equal(w.f.nevents, 3);
    assert_string_equal(w.f.events[2], "SHUTDOWN");
    assert_string_equal(w.f.reasons[2], "guest-shutdown");
}

/* A park (a migration's or a replication's cut) asked while a reset is
 * between its join of the vCPU threads and their start again: it waits
 * for the engine's reset (a KVM reset closes the VM's fd: the cut's
 * KVM_GET_DIRTY_LOG got EBADF in a failed-over guest that had reset) and
 * the threads started meanwhile stay parked until it ends. */
struct parker {
    struct world *w;
    bool done, in_reset_then;
};

static void *park_thread(void *p)
{
    struct parker *k = p;
    int r = machine_vcpus_park(k->w->m);
    struct fake *f = &k->w->f;
    pthread_mutex_lock(&f->lock);
    assert_int_equal(r, 0);
    k->done = true;
    k->in_reset_then = f->in_reset;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

static bool in_reset(struct fake *f, const void *arg) { (void)arg; return f->in_reset; }
static bool parker_done(struct fake *f, const void *arg) { (void)f; return ((const struct parker *)arg)->done; }
static bool entries_above(struct fake *f, const void *arg)
{
    return f->entries[0] + f->entries[1] + f->entries[2] > *(const uint64_t *)arg;
}

static void *script_park_during_reset(void *p)
{
    struct world *w = p;
    struct fake *f = &w->f;
    uint64_t one = 1;
    assert_true(wait_for(f, all_entered, &one));
    pthread_mutex_lock(&f->lock);
    f->reset_gate = true;
    pthread_mutex_unlock(&f->lock);
    assert_int_equal(machine_reset(w->m), 0);
    assert_true(wait_for(f, in_reset, NULL));          /* threads joined, the engine resetting */
    struct parker k = { w, false, false };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, park_thread, &k), 0);
    /* it must not return while the engine resets (2 s: it returned at once before the fix) */
    bool early = within(f, parker_done, &k, 2000);
    pthread_mutex_lock(&f->lock);
    uint64_t e0 = f->entries[0] + f->entries[1] + f->entries[2];
    f->reset_gate = false;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    if (early)
        fprintf(stderr, "machine_vcpus_park returned while the engine was resetting\n");
    assert_false(early);
    bool done = wait_for(f, parker_done, &k);
    if (!done || k.in_reset_then)
        fprintf(stderr, "park: returned %d, while resetting %d\n", done, k.in_reset_then);
    assert_true(done);
    assert_false(k.in_reset_then);
    /* parked when it returns: the vCPUs the reset started (they may have
     * run a little before the park reached them) are out of the guest */
    assert_true(wait_for(f, has_event, "RESET"));
    pthread_mutex_lock(&f->lock);
    for (unsigned i = 0; i < NCPU; i++)
        assert_false(f->in_guest[i]);
    e0 = f->entries[0] + f->entries[1] + f->entries[2];
    pthread_mutex_unlock(&f->lock);
    bool ran = within(f, entries_above, &e0, 1000);
    if (ran)
        fprintf(stderr, "a vCPU entered the guest while parked\n");
    assert_false(ran);
    machine_vcpus_unpark(w->m);
    bool on = wait_for(f, entries_above, &e0);
    if (!on)
        fprintf(stderr, "no vCPU entered the guest after the unpark\n");
    assert_true(on);
    pthread_join(th, NULL);
    machine_quit(w->m);
    return NULL;
}

static void test_park_during_reset(void **state)
{
    static struct world w;
    world_init(&w, &(struct machine_config){ 0 });
    world_run(&w, script_park_during_reset);
    assert_true(w.rc == 0 && w.f.resets == 1);     /* status 0, one reset */
}

static void *script_reboot(void *p)
{
    struct world *w = p;
    pthread_mutex_lock(&w->f.lock);
    w->f.vcpu_action = 2;
    pthread_mutex_unlock(&w->f.lock);
    fake_kick(&w->f);
    return NULL;
}

static void test_no_reboot(void **state)
{
    struct world w;
    struct machine_config cfg = { .no_reboot = true };
    world_init(&w, &cfg);
    w.f.vcpu_action = 2;
    world_run(&w, script_reboot);
    assert_int_equal(w.rc, MACHINE_EXIT_REBOOT);
    assert_int_equal(w.f.resets, 0);
    assert_int_equal(w.why, MACHINE_STOP_REBOOT);
}

static void *script_prelaunch(void *p)
{
    struct world *w = p;
    assert_int_equal(machine_status(w->m), MACHINE_PRELAUNCH);
    assert_string_equal(machine_status_name(MACHINE_PRELAUNCH), "prelaunch");
    assert_int_equal(machine_pause(w->m), 0);     /* nothing runs: no event */
    assert_int_equal(w->f.starts, 0);
    assert_false(w->f.clock_running);
    assert_int_equal(machine_powerdown(w->m), -ENOSYS);
    assert_int_equal(machine_resume(w->m), 0);
    uint64_t one = 1;
    assert_true(wait_for(&w->f, all_entered, &one));
    assert_true(w->f.clock_running);
    /* SIGTERM: an orderly stop with 128 + 15 */
    kill(getpid(), SIGTERM);
    return NULL;
}

static void test_prelaunch_and_signal(void **state)
{
    struct world w;
    struct machine_config cfg = { .start_paused = true };
    world_init(&w, &cfg);
    world_run(&w, script_prelaunch);
    assert_int_equal(w.rc, 128 + SIGTERM);
    assert_int_equal(w.f.nevents, 2);
    assert_string_equal(w.f.events[0], "RESUME");
    assert_string_equal(w.f.events[1], "SHUTDOWN");
    assert_string_equal(w.f.reasons[1], "host-signal");
}

static int press_count;
static int press(void *o) { (void)o; press_count++; return 0; }

static void *script_powerdown(void *p)
{
    struct world *w = p;
    machine_set_power_button(w->m, press, NULL);
    assert_int_equal(machine_powerdown(w->m), 0);
    assert_true(has_event(&w->f, "POWERDOWN"));
    machine_shutdown(w->m, MACHINE_STOP_FAIL, 7);
    machine_shutdown(w->m, MACHINE_STOP_POWEROFF, 0);    /* the first request wins */
    return NULL;
}

static void test_powerdown_and_status(void **state)
{
    struct world w;
    struct machine_config cfg = { 0 };
    world_init(&w, &cfg);
    world_run(&w, script_powerdown);
    assert_int_equal(press_count, 1);
    assert_int_equal(w.rc, 7);
}

static void test_parse(void **state)
{
    uint64_t v;
    unsigned n;
    assert_int_equal(machine_parse_mem("8M", &v), -EINVAL);
    assert_int_equal(machine_parse_mem("lots", &v), -EINVAL);
    assert_int_equal(machine_parse_mem("64T", &v), -EINVAL);
    assert_int_equal(machine_parse_mem("16M", &v), 0);
    assert_int_equal(v, 16ULL << 20);
    assert_int_equal(machine_parse_mem("32", &v), 0);
    assert_int_equal(v, 32ULL << 20);
    assert_int_equal(machine_parse_smp("0", 8, "vCPU", &n), -EINVAL);
    assert_int_equal(machine_parse_smp("9", 8, "vCPU", &n), -EINVAL);
    assert_int_equal(machine_parse_smp("8", 8, "vCPU", &n), 0);
    assert_int_equal(n, 8);
    /* maxcpus: N online at boot of M */
    unsigned boot, total;
    assert_int_equal(machine_parse_smp_max("2,maxcpus=4", 8, "hart", &boot, &total), 0);
    assert_int_equal(boot, 2);
    assert_int_equal(total, 4);
    assert_int_equal(machine_parse_smp_max("cpus=1,maxcpus=8", 8, "hart", &boot, &total), 0);
    assert_int_equal(boot * 10 + total, 18);
    assert_int_equal(machine_parse_smp_max("maxcpus=3", 8, "hart", &boot, &total), 0);
    assert_int_equal(boot * 10 + total, 33);
    assert_int_equal(machine_parse_smp_max("3", 8, "hart", &boot, &total), 0);
    assert_int_equal(boot * 10 + total, 33);
    assert_int_equal(machine_parse_smp_max("3,maxcpus=2", 8, "hart", &boot, &total), -EINVAL);
    assert_int_equal(machine_parse_smp_max("2,maxcpus=9", 8, "hart", &boot, &total), -EINVAL);
    assert_int_equal(machine_parse_smp_max("2,maxcpus=", 8, "hart", &boot, &total), -EINVAL);
    assert_int_equal(machine_parse_smp_max("2,3", 8, "hart", &boot, &total), -EINVAL);
    assert_int_equal(machine_parse_smp_max("2,sockets=1", 8, "hart", &boot, &total), -EINVAL);
    assert_int_equal(machine_parse_smp_max("", 8, "hart", &boot, &total), -EINVAL);
    assert_int_equal(machine_parse_smp("2,maxcpus=4", 8, "vCPU", &n), -EINVAL);    /* no later vCPUs here */
    assert_int_equal(machine_parse_smp("2,maxcpus=2", 8, "vCPU", &n), 0);
    assert_int_equal(n, 2);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_park_during_reset),
        cmocka_unit_test(test_no_reboot),
        cmocka_unit_test(test_prelaunch_and_signal),
        cmocka_unit_test(test_powerdown_and_status),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
