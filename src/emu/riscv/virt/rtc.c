/* goldfish RTC: nanoseconds since the epoch from the host's clock. Reading
 * TIME_LOW latches TIME_HIGH. The alarm registers are accepted and an alarm
 * never fires (no alarm IRQ is raised). */
#include <pthread.h>
#include <time.h>

#include "base/base.h"
#include "emu/riscv/virt/internal.h"

enum {
    R_TIME_LOW = 0x00, R_TIME_HIGH = 0x04, R_ALARM_LOW = 0x08, R_ALARM_HIGH = 0x0c,
    R_IRQ_ENABLED = 0x10, R_CLEAR_ALARM = 0x14, R_ALARM_STATUS = 0x18, R_CLEAR_INTERRUPT = 0x1c,
};

static pthread_mutex_t rtc_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t rtc_high, rtc_alarm_low, rtc_alarm_high, rtc_irq_enabled;

static uint64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rtc_read(void *opaque, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    if (size != 4)
        return 0;
    pthread_mutex_lock(&rtc_lock);
    switch (off) {
    case R_TIME_LOW: {
        uint64_t t = host_ns();
        rtc_high = (uint32_t)(t >> 32);
        v = (uint32_t)t;
        break;
    }
    case R_TIME_HIGH: v = rtc_high; break;
    case R_ALARM_LOW: v = rtc_alarm_low; break;
    case R_ALARM_HIGH: v = rtc_alarm_high; break;
    case R_IRQ_ENABLED: v = rtc_irq_enabled; break;
    default: break;
    }
    pthread_mutex_unlock(&rtc_lock);
    return v;
}

static void rtc_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    if (size != 4)
        return;
    pthread_mutex_lock(&rtc_lock);
    switch (off) {
    case R_ALARM_LOW: rtc_alarm_low = (uint32_t)val; break;
    case R_ALARM_HIGH: rtc_alarm_high = (uint32_t)val; break;
    case R_IRQ_ENABLED: rtc_irq_enabled = val & 1; break;
    case R_TIME_LOW: case R_TIME_HIGH:
        log_guest("rtc: setting the time is not supported (the host clock is used)");
        break;
    default: break;
    }
    pthread_mutex_unlock(&rtc_lock);
}

static const struct bus_ops rtc_ops = { .read = rtc_read, .write = rtc_write };

int virt_rtc_init(struct virt_board *b)
{
    return bus_register(&b->bus, VIRT_RTC_BASE, VIRT_RTC_SIZE, &rtc_ops, b, "goldfish-rtc");
}
