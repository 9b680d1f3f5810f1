/* The goldfish RTC's alarm on the virt board (run by
 * tests/integration/run-rtc.sh, not by riscv-sys.sh: spike has no RTC):
 * an alarm fires its interrupt (PLIC source 11, M-mode context of hart 0)
 * no earlier than programmed; ALARM_STATUS reads 1 while armed; one in the
 * past fires at once; CLEAR_ALARM disarms; with IRQ_ENABLED = 0 the alarm
 * still expires but the line stays low until it is enabled; then a last
 * alarm 2 s ahead ("rtc: armed" printed first, for snapshot and pause
 * tests) fires. Waits are for conditions: wfi until the interrupt, or the
 * RTC's own time passing a point. */
#include "sys.h"

const char test_name[] = "rtc";

#define RTC 0x101000ull
#define R_TIME_LOW 0x00
#define R_TIME_HIGH 0x04
#define R_ALARM_LOW 0x08
#define R_ALARM_HIGH 0x0c
#define R_IRQ_ENABLED 0x10
#define R_CLEAR_ALARM 0x14
#define R_ALARM_STATUS 0x18
#define R_CLEAR_INTERRUPT 0x1c
#define PLIC 0xc000000ull
#define RTC_IRQ 11
#define MS 1000000ull

static volatile uint64_t fired_at;   /* RTC time in the handler */
static volatile unsigned fired;

static uint64_t rtc_now(void)
{
    uint64_t lo = mmio_read32(RTC + R_TIME_LOW);
    return (uint64_t)mmio_read32(RTC + R_TIME_HIGH) << 32 | lo;
}

static void rtc_arm(uint64_t at)
{
    mmio_write32(RTC + R_ALARM_HIGH, (uint32_t)(at >> 32));
    mmio_write32(RTC + R_ALARM_LOW, (uint32_t)at);
}

static void hook(uint64_t cause, int level)
{
    (void)level;
    if (cause != (CAUSE_IRQ | IRQ_MEI))
        check_fail(__LINE__, "an interrupt other than MEI", cause, CAUSE_IRQ | IRQ_MEI);
    uint32_t src = mmio_read32(PLIC + 0x200004);          /* claim, context 0 */
    if (src == RTC_IRQ) {
        fired_at = rtc_now();
        fired++;
        mmio_write32(RTC + R_CLEAR_INTERRUPT, 1);
    }
    mmio_write32(PLIC + 0x200004, src);                   /* complete */
}

/* wfi until the handler counted n interrupts */
static void wait_fired(unsigned n)
{
    while (fired < n)
        __asm__ volatile("wfi");
}

int main(void)
{
    irq_hook = hook;
    mmio_write32(PLIC + 4 * RTC_IRQ, 1);                  /* priority */
    mmio_write32(PLIC + 0x2000, 1u << RTC_IRQ);           /* enable, context 0 */
    mmio_write32(PLIC + 0x200000, 0);                     /* threshold */
    CSR_WRITE(mie, 1u << IRQ_MEI);
    CSR_SET(mstatus, MS_MIE);
    CHECK(rtc_now() > 1600000000ull * 1000000000ull);     /* the host's time, after 2020 */

    /* an alarm 300 ms ahead */
    mmio_write32(RTC + R_IRQ_ENABLED, 1);
    uint64_t at = rtc_now() + 300 * MS;
    rtc_arm(at);
    CHECK_EQ(mmio_read32(RTC + R_ALARM_STATUS), 1);
    CHECK_EQ(mmio_read32(RTC + R_ALARM_LOW), (uint32_t)at);
    CHECK_EQ(fired, 0);
    wait_fired(1);
    CHECK(fired_at >= at);
    CHECK_EQ(mmio_read32(RTC + R_ALARM_STATUS), 0);
    printf_("rtc: the alarm fired %d ms after its time\n", (fired_at - at) / MS);

    /* in the past: at once */
    rtc_arm(rtc_now() - 1000 * MS);
    wait_fired(2);
    CHECK_EQ(mmio_read32(RTC + R_ALARM_STATUS), 0);

    /* disarmed: nothing, even well past its time */
    at = rtc_now() + 100 * MS;
    rtc_arm(at);
    mmio_write32(RTC + R_CLEAR_ALARM, 1);
    CHECK_EQ(mmio_read32(RTC + R_ALARM_STATUS), 0);
    while (rtc_now() < at + 200 * MS)
        ;
    CHECK_EQ(fired, 2);

    /* IRQ_ENABLED = 0: the alarm expires, the line stays low until enabled */
    mmio_write32(RTC + R_IRQ_ENABLED, 0);
    at = rtc_now() + 100 * MS;
    rtc_arm(at);
    while (mmio_read32(RTC + R_ALARM_STATUS))
        ;
    CHECK(rtc_now() >= at);
    CHECK_EQ(fired, 2);
    mmio_write32(RTC + R_IRQ_ENABLED, 1);
    wait_fired(3);

    /* the last one, 2 s ahead: snapshot / pause tests act meanwhile */
    at = rtc_now() + 2000 * MS;
    rtc_arm(at);
    printf_("rtc: armed\n");
    wait_fired(4);
    CHECK(fired_at >= at);
    printf_("rtc: the last alarm fired\n");
    return 0;
}
