/* goldfish RTC: nanoseconds since the epoch from the host's clock. Reading
 * TIME_LOW latches TIME_HIGH. The alarm: writing ALARM_LOW arms it at
 * ALARM_HIGH:ALARM_LOW (host time, ns); when that time comes the alarm
 * disarms, the interrupt becomes pending and the line is raised while
 * IRQ_ENABLED; CLEAR_INTERRUPT lowers it, CLEAR_ALARM disarms, and
 * ALARM_STATUS reads 1 while armed (Linux's rtc-goldfish, QEMU's model).
 * The timer runs on the machine's loop thread; while the machine is paused
 * an alarm whose time comes is held and fires at resume. State in struct
 * goldfish_rtc, one per machine. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "dev/dev.h"

enum {
    R_TIME_LOW = 0x00, R_TIME_HIGH = 0x04, R_ALARM_LOW = 0x08, R_ALARM_HIGH = 0x0c,
    R_IRQ_ENABLED = 0x10, R_CLEAR_ALARM = 0x14, R_ALARM_STATUS = 0x18, R_CLEAR_INTERRUPT = 0x1c,
};

struct goldfish_rtc {
    pthread_mutex_t lock;
    struct goldfish_rtc_state s;
    struct irq_line irq;
    bool paused;
    struct loop_event *ev;           /* vCPU thread -> loop thread: set the timer again */
    struct loop_timer *timer;
};

static uint64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t alarm_ns(const struct goldfish_rtc *r)
{
    return (uint64_t)r->s.alarm_high << 32 | r->s.alarm_low;
}

/* with the lock: the line follows pending && enabled */
static void update_irq(struct goldfish_rtc *r)
{
    if (r->irq.set)
        irq_set(&r->irq, r->s.irq_pending && r->s.irq_enabled);
}

/* with the lock: the alarm's time has come (not while paused) */
static void check_alarm(struct goldfish_rtc *r)
{
    if (r->s.alarm_running && !r->paused && host_ns() >= alarm_ns(r)) {
        r->s.alarm_running = 0;
        r->s.irq_pending = 1;
        update_irq(r);
    }
}

/* with the lock: the timer must be looked at again (on the loop thread) */
static void rearm(struct goldfish_rtc *r)
{
    if (r->ev)
        loop_event_notify(r->ev);
}

/* loop thread: fire now, or set the timer for when it is due */
static void rtc_tick(void *opaque)
{
    struct goldfish_rtc *r = opaque;
    pthread_mutex_lock(&r->lock);
    check_alarm(r);
    if (r->s.alarm_running && !r->paused) {
        uint64_t now = host_ns(), at = alarm_ns(r);
        uint64_t ms = (at - now + 999999) / 1000000;     /* at > now here */
        loop_timer_mod(r->timer, time_ms() + (ms ? ms : 1));
    } else {
        loop_timer_del(r->timer);
    }
    pthread_mutex_unlock(&r->lock);
}

static uint64_t rtc_read(void *opaque, uint64_t off, unsigned size)
{
    struct goldfish_rtc *r = opaque;
    uint64_t v = 0;
    if (size != 4)
        return 0;
    pthread_mutex_lock(&r->lock);
    switch (off) {
    case R_TIME_LOW: {
        uint64_t t = host_ns();
        r->s.time_high = (uint32_t)(t >> 32);
        v = (uint32_t)t;
        break;
    }
    case R_TIME_HIGH: v = r->s.time_high; break;
    case R_ALARM_LOW: v = r->s.alarm_low; break;
    case R_ALARM_HIGH: v = r->s.alarm_high; break;
    case R_IRQ_ENABLED: v = r->s.irq_enabled; break;
    case R_ALARM_STATUS: v = r->s.alarm_running; break;
    default: break;
    }
    pthread_mutex_unlock(&r->lock);
    return v;
}

static void rtc_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct goldfish_rtc *r = opaque;
    if (size != 4)
        return;
    pthread_mutex_lock(&r->lock);
    switch (off) {
    case R_ALARM_LOW:
        r->s.alarm_low = (uint32_t)val;
        r->s.alarm_running = 1;
        check_alarm(r);              /* a time already past fires at once */
        rearm(r);
        break;
    case R_ALARM_HIGH: r->s.alarm_high = (uint32_t)val; break;
    case R_IRQ_ENABLED: r->s.irq_enabled = val & 1; update_irq(r); break;
    case R_CLEAR_ALARM: r->s.alarm_running = 0; rearm(r); break;
    case R_CLEAR_INTERRUPT: r->s.irq_pending = 0; update_irq(r); break;
    case R_TIME_LOW: case R_TIME_HIGH:
        log_guest("rtc: setting the time is not supported (the host clock is used)");
        break;
    default: break;
    }
    pthread_mutex_unlock(&r->lock);
}

static const struct bus_ops rtc_ops = { .read = rtc_read, .write = rtc_write };

struct goldfish_rtc *goldfish_rtc_create(struct bus *bus, uint64_t base, struct irq_line irq,
                                         struct loop *loop)
{
    struct goldfish_rtc *r = xzalloc(sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->irq = irq;
    if (loop) {
        r->ev = loop_event_new(loop, rtc_tick, r);
        r->timer = loop_timer_new(loop, rtc_tick, r);
        if (!r->ev || !r->timer) {
            goldfish_rtc_destroy(r);
            return NULL;
        }
    }
    int e = bus_register(bus, base, GOLDFISH_RTC_SIZE, &rtc_ops, r, "goldfish-rtc");
    if (e < 0) {
        log_error("goldfish-rtc at %#llx: %s", (unsigned long long)base, strerror(-e));
        goldfish_rtc_destroy(r);
        return NULL;
    }
    return r;
}

void goldfish_rtc_reset(struct goldfish_rtc *r)
{
    pthread_mutex_lock(&r->lock);
    memset(&r->s, 0, sizeof(r->s));
    update_irq(r);
    rearm(r);
    pthread_mutex_unlock(&r->lock);
}

void goldfish_rtc_pause(struct goldfish_rtc *r)
{
    pthread_mutex_lock(&r->lock);
    r->paused = true;
    pthread_mutex_unlock(&r->lock);
}

void goldfish_rtc_resume(struct goldfish_rtc *r)
{
    pthread_mutex_lock(&r->lock);
    r->paused = false;
    rearm(r);                        /* an alarm due meanwhile fires now */
    pthread_mutex_unlock(&r->lock);
}

void goldfish_rtc_save(struct goldfish_rtc *r, struct goldfish_rtc_state *st)
{
    pthread_mutex_lock(&r->lock);
    *st = r->s;
    pthread_mutex_unlock(&r->lock);
}

int goldfish_rtc_load(struct goldfish_rtc *r, const struct goldfish_rtc_state *st)
{
    if (st->irq_enabled > 1 || st->alarm_running > 1 || st->irq_pending > 1)
        return -EINVAL;
    pthread_mutex_lock(&r->lock);
    r->s = *st;
    update_irq(r);
    rearm(r);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

void goldfish_rtc_destroy(struct goldfish_rtc *r)
{
    if (!r)
        return;
    if (r->timer)
        loop_timer_free(r->timer);
    loop_event_free(r->ev);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
