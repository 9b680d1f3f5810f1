/* goldfish RTC: nanoseconds since the epoch from the host's clock. Reading
 * TIME_LOW latches TIME_HIGH. The alarm registers are kept and an alarm
 * never fires (no alarm IRQ is raised). State in struct goldfish_rtc, one
 * per machine. */
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
};

static uint64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
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
    case R_ALARM_LOW: r->s.alarm_low = (uint32_t)val; break;
    case R_ALARM_HIGH: r->s.alarm_high = (uint32_t)val; break;
    case R_IRQ_ENABLED: r->s.irq_enabled = val & 1; break;
    case R_TIME_LOW: case R_TIME_HIGH:
        log_guest("rtc: setting the time is not supported (the host clock is used)");
        break;
    default: break;
    }
    pthread_mutex_unlock(&r->lock);
}

static const struct bus_ops rtc_ops = { .read = rtc_read, .write = rtc_write };

struct goldfish_rtc *goldfish_rtc_create(struct bus *bus, uint64_t base)
{
    struct goldfish_rtc *r = xzalloc(sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    int e = bus_register(bus, base, GOLDFISH_RTC_SIZE, &rtc_ops, r, "goldfish-rtc");
    if (e < 0) {
        log_error("goldfish-rtc at %#llx: %s", (unsigned long long)base, strerror(-e));
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
    }
    return r;
}

void goldfish_rtc_reset(struct goldfish_rtc *r)
{
    pthread_mutex_lock(&r->lock);
    memset(&r->s, 0, sizeof(r->s));
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
    if (st->irq_enabled > 1)
        return -EINVAL;
    pthread_mutex_lock(&r->lock);
    r->s = *st;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

void goldfish_rtc_destroy(struct goldfish_rtc *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}
