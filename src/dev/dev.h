/* dev: device models that do not care which engine runs the CPU.
 * Engines reach them through the bus (bus/bus.h) and interrupt lines only;
 * nothing here includes emu/ or kvm/. virtio has its own header,
 * dev/virtio/virtio.h. */
#ifndef VESSEL_DEV_H
#define VESSEL_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "bus/bus.h"

struct loop;

/* ==== 8250 / NS16550A UART ====
 * Registers at base + (reg << reg_shift), reg 0..7, one byte wide (wider or
 * misaligned accesses read 0 and are ignored). 16-byte receive FIFO; the
 * transmitter is infinitely fast (a THR write goes straight to the chardev,
 * or to the receive FIFO in loopback mode). The interrupt is level
 * triggered: irq_set(irq, 1) while IIR reports a pending interrupt, 0 when
 * none is. Thread-safe: vCPU threads access the registers while the chardev
 * delivers input on its loop thread. `chr` may be NULL (output discarded, no
 * input). Returns NULL (logged) if the range cannot be registered. */
struct uart8250;
struct uart8250 *uart8250_create(struct bus *bus, uint64_t base, unsigned reg_shift,
                                 struct irq_line irq, struct chardev *chr);
/* After nothing calls the bus any more and the chardev's loop is stopped. */
void uart8250_destroy(struct uart8250 *u);
/* Power-on state (registers, FIFO emptied, interrupt line lowered). */
void uart8250_reset(struct uart8250 *u);

/* Register offsets (reg numbers, before reg_shift) and bits. */
enum {
    UART_RBR = 0, UART_THR = 0, UART_DLL = 0,
    UART_IER = 1, UART_DLM = 1,
    UART_IIR = 2, UART_FCR = 2,
    UART_LCR = 3, UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
};
#define UART_IER_RDI   0x01    /* received data available */
#define UART_IER_THRI  0x02    /* transmitter holding register empty */
#define UART_IER_RLSI  0x04    /* receiver line status */
#define UART_IER_MSI   0x08    /* modem status */
#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI   0x00
#define UART_IIR_THRI  0x02
#define UART_IIR_RDI   0x04
#define UART_IIR_RLSI  0x06
#define UART_IIR_TIMEOUT 0x0c  /* data below the trigger level */
#define UART_IIR_FIFO  0xc0    /* FIFOs enabled */
#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04
#define UART_LCR_DLAB  0x80
#define UART_MCR_DTR   0x01
#define UART_MCR_RTS   0x02
#define UART_MCR_OUT1  0x04
#define UART_MCR_OUT2  0x08
#define UART_MCR_LOOP  0x10
#define UART_LSR_DR    0x01
#define UART_LSR_OE    0x02
#define UART_LSR_BI    0x10
#define UART_LSR_THRE  0x20
#define UART_LSR_TEMT  0x40
#define UART_MSR_DCTS  0x01
#define UART_MSR_DDSR  0x02
#define UART_MSR_TERI  0x04
#define UART_MSR_DDCD  0x08
#define UART_MSR_CTS   0x10
#define UART_MSR_DSR   0x20
#define UART_MSR_RI    0x40
#define UART_MSR_DCD   0x80
#define UART_FIFO_SIZE 16

/* Snapshot: the whole guest-visible state as plain data. Save with the
 * vCPUs stopped; load checks the values (-EINVAL for impossible ones) and
 * re-raises the interrupt line to match. */
struct uart8250_state {
    uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
    uint8_t thr_pending;        /* THRE interrupt armed, not yet acknowledged */
    uint8_t rx_count, rx_head;
    uint8_t rx[UART_FIFO_SIZE];
};
void uart8250_save(struct uart8250 *u, struct uart8250_state *st);
int uart8250_load(struct uart8250 *u, const struct uart8250_state *st);

/* ==== SiFive GPIO controller ("sifive,gpio0") ====
 * `npins` pins (1..32) at base (SIFIVE_GPIO_SIZE bytes of 32-bit registers),
 * pin n raising irqs[n]. Linux's gpio-sifive driver runs it; a gpio-keys
 * node on a pin makes that pin a button. The board drives pins from outside
 * with sifive_gpio_set_input or sifive_gpio_pulse (thread-safe). `loop`
 * (may be NULL: no pulses) runs the pulse timers; destroy after it has
 * stopped. NULL (logged) on a bad pin count or an occupied range. */
#define SIFIVE_GPIO_MAX_PINS 32
#define SIFIVE_GPIO_SIZE 0x1000ULL
struct sifive_gpio;
struct sifive_gpio *sifive_gpio_create(struct bus *bus, uint64_t base, unsigned npins,
                                       const struct irq_line *irqs, struct loop *loop);
void sifive_gpio_destroy(struct sifive_gpio *g);
/* Press: drive `pin` high now and low again `ms` later (a button held
 * down, e.g. the power button for 100 ms as QEMU's boards do). Any thread.
 * 0, or -EINVAL (no such pin, no loop). */
int sifive_gpio_pulse(struct sifive_gpio *g, unsigned pin, unsigned ms);
/* The level the outside puts on input pin `pin` (ignored past npins). */
void sifive_gpio_set_input(struct sifive_gpio *g, unsigned pin, bool level);
/* Every register to 0 (what the outside drives stays). */
void sifive_gpio_reset(struct sifive_gpio *g);
/* Snapshot: the registers plus the outside levels, all 32-bit masks. load
 * refuses (-EINVAL) bits past npins and re-raises the lines to match. */
struct sifive_gpio_state {
    uint32_t input_en, output_en, output_val, pue, ds;
    uint32_t rise_ie, rise_ip, fall_ie, fall_ip, high_ie, high_ip, low_ie, low_ip;
    uint32_t iof_en, iof_sel, out_xor;
    uint32_t ext;               /* levels driven from outside */
};
void sifive_gpio_save(struct sifive_gpio *g, struct sifive_gpio_state *st);
int sifive_gpio_load(struct sifive_gpio *g, const struct sifive_gpio_state *st);

/* ==== goldfish RTC (as on QEMU virt) ====
 * Nanoseconds since the epoch from the host's clock (TIME_LOW latches
 * TIME_HIGH), and an alarm on that clock that raises `irq` (level, while
 * IRQ_ENABLED, until CLEAR_INTERRUPT). `loop` runs the alarm's timer (may
 * be NULL: alarms then fire only when the guest touches the RTC); destroy
 * after it has stopped. Pause holds an alarm that comes due until resume.
 * NULL (logged) if the range cannot be registered. */
#define GOLDFISH_RTC_SIZE 0x1000
struct goldfish_rtc;
struct goldfish_rtc_state {
    uint32_t time_high, alarm_low, alarm_high, irq_enabled;
    uint32_t alarm_running, irq_pending;
};
struct goldfish_rtc *goldfish_rtc_create(struct bus *bus, uint64_t base, struct irq_line irq,
                                         struct loop *loop);
void goldfish_rtc_reset(struct goldfish_rtc *r);
void goldfish_rtc_pause(struct goldfish_rtc *r);
void goldfish_rtc_resume(struct goldfish_rtc *r);
void goldfish_rtc_save(struct goldfish_rtc *r, struct goldfish_rtc_state *st);
int goldfish_rtc_load(struct goldfish_rtc *r, const struct goldfish_rtc_state *st);
void goldfish_rtc_destroy(struct goldfish_rtc *r);

#endif
