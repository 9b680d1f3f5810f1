/* SiFive GPIO controller ("sifive,gpio0", as on the FU540): up to 32 pins,
 * each with its own interrupt line. The board drives pins from outside
 * (sifive_gpio_set_input, e.g. a power button); the guest reads them,
 * may drive them as outputs, and takes rise/fall/high/low interrupts.
 *
 * Registers (32 bit): input_val, input_en, output_en, output_val, pue, ds,
 * rise_ie, rise_ip, fall_ie, fall_ip, high_ie, high_ip, low_ie, low_ip,
 * iof_en, iof_sel, out_xor. The *_ip registers are write-1-to-clear; a level
 * (high/low) pending bit is set again at once while the level holds. Pin n's
 * interrupt line is high while (rise_ip & rise_ie | fall_ip & fall_ie |
 * high_ip & high_ie | low_ip & low_ie) has bit n set. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "base/base.h"
#include "dev/dev.h"

enum {
    R_INPUT_VAL = 0x00, R_INPUT_EN = 0x04, R_OUTPUT_EN = 0x08, R_OUTPUT_VAL = 0x0c,
    R_PUE = 0x10, R_DS = 0x14, R_RISE_IE = 0x18, R_RISE_IP = 0x1c, R_FALL_IE = 0x20,
    R_FALL_IP = 0x24, R_HIGH_IE = 0x28, R_HIGH_IP = 0x2c, R_LOW_IE = 0x30, R_LOW_IP = 0x34,
    R_IOF_EN = 0x38, R_IOF_SEL = 0x3c, R_OUT_XOR = 0x40,
};

struct sifive_gpio {
    pthread_mutex_t lock;
    unsigned npins;
    uint32_t mask;                  /* the pins that exist */
    struct irq_line irq[SIFIVE_GPIO_MAX_PINS];
    struct sifive_gpio_state st;
    uint32_t level;                 /* pin levels seen by the last update */
    uint32_t line;                  /* interrupt lines as last raised */
    /* pulses (sifive_gpio_pulse): pins to release when the timer fires */
    struct loop_event *pulse_ev;
    struct loop_timer *pulse_timer;
    uint32_t pulse_pins;            /* under lock */
    unsigned pulse_ms;              /* under lock */
};

/* The value on each pin: driven by the guest where output_en is set,
 * else by the outside. */
static uint32_t pins(const struct sifive_gpio *g)
{
    const struct sifive_gpio_state *s = &g->st;
    uint32_t out = (s->output_val ^ s->out_xor) & s->output_en;
    return ((s->ext & ~s->output_en) | out) & g->mask;
}

/* Latch edges and levels, then move every interrupt line that changed.
 * Called with the lock held; the interrupt controller's lock is a leaf. */
static void update(struct sifive_gpio *g)
{
    struct sifive_gpio_state *s = &g->st;
    uint32_t now = pins(g) & s->input_en;
    s->rise_ip |= now & ~g->level;
    s->fall_ip |= ~now & g->level & g->mask;
    s->high_ip |= now;
    s->low_ip |= ~now & s->input_en & g->mask;
    g->level = now;
    uint32_t line = ((s->rise_ip & s->rise_ie) | (s->fall_ip & s->fall_ie) |
                     (s->high_ip & s->high_ie) | (s->low_ip & s->low_ie)) & g->mask;
    uint32_t changed = line ^ g->line;
    g->line = line;
    for (unsigned i = 0; i < g->npins; i++)
        if (changed >> i & 1)
            irq_set(&g->irq[i], (int)(line >> i & 1));
}

static uint64_t gpio_read(void *opaque, uint64_t off, unsigned size)
{
    struct sifive_gpio *g = opaque;
    struct sifive_gpio_state *s = &g->st;
    uint64_t v = 0;
    if (size != 4 || off & 3)
        return 0;
    pthread_mutex_lock(&g->lock);
    switch (off) {
    case R_INPUT_VAL: v = pins(g) & s->input_en; break;
    case R_INPUT_EN: v = s->input_en; break;
    case R_OUTPUT_EN: v = s->output_en; break;
    case R_OUTPUT_VAL: v = s->output_val; break;
    case R_PUE: v = s->pue; break;
    case R_DS: v = s->ds; break;
    case R_RISE_IE: v = s->rise_ie; break;
    case R_RISE_IP: v = s->rise_ip; break;
    case R_FALL_IE: v = s->fall_ie; break;
    case R_FALL_IP: v = s->fall_ip; break;
    case R_HIGH_IE: v = s->high_ie; break;
    case R_HIGH_IP: v = s->high_ip; break;
    case R_LOW_IE: v = s->low_ie; break;
    case R_LOW_IP: v = s->low_ip; break;
    case R_IOF_EN: v = s->iof_en; break;
    case R_IOF_SEL: v = s->iof_sel; break;
    case R_OUT_XOR: v = s->out_xor; break;
    default: break;
    }
    pthread_mutex_unlock(&g->lock);
    return v;
}

static void gpio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct sifive_gpio *g = opaque;
    struct sifive_gpio_state *s = &g->st;
    if (size != 4 || off & 3) {
        log_guest("sifive-gpio: %u-byte access at +0x%llx ignored (registers are 32 bit)", size,
                  (unsigned long long)off);
        return;
    }
    uint32_t v = (uint32_t)val & g->mask;
    pthread_mutex_lock(&g->lock);
    switch (off) {
    case R_INPUT_EN: s->input_en = v; break;
    case R_OUTPUT_EN: s->output_en = v; break;
    case R_OUTPUT_VAL: s->output_val = v; break;
    case R_PUE: s->pue = v; break;
    case R_DS: s->ds = v; break;
    case R_RISE_IE: s->rise_ie = v; break;
    case R_RISE_IP: s->rise_ip &= ~v; break;
    case R_FALL_IE: s->fall_ie = v; break;
    case R_FALL_IP: s->fall_ip &= ~v; break;
    case R_HIGH_IE: s->high_ie = v; break;
    case R_HIGH_IP: s->high_ip &= ~v; break;
    case R_LOW_IE: s->low_ie = v; break;
    case R_LOW_IP: s->low_ip &= ~v; break;
    case R_IOF_EN: s->iof_en = v; break;
    case R_IOF_SEL: s->iof_sel = v; break;
    case R_OUT_XOR: s->out_xor = v; break;
    default: break;      /* input_val is read-only */
    }
    update(g);
    pthread_mutex_unlock(&g->lock);
}

static const struct bus_ops gpio_ops = { .read = gpio_read, .write = gpio_write };

/* Loop thread: arm the release of the pins pressed by sifive_gpio_pulse. */
static void pulse_arm(void *opaque)
{
    struct sifive_gpio *g = opaque;
    pthread_mutex_lock(&g->lock);
    unsigned ms = g->pulse_ms;
    pthread_mutex_unlock(&g->lock);
    loop_timer_mod(g->pulse_timer, time_ms() + ms);
}

static void pulse_release(void *opaque)
{
    struct sifive_gpio *g = opaque;
    pthread_mutex_lock(&g->lock);
    g->st.ext &= ~g->pulse_pins;
    g->pulse_pins = 0;
    update(g);
    pthread_mutex_unlock(&g->lock);
}

int sifive_gpio_pulse(struct sifive_gpio *g, unsigned pin, unsigned ms)
{
    if (pin >= g->npins || !g->pulse_ev)
        return -EINVAL;
    pthread_mutex_lock(&g->lock);
    g->st.ext |= 1u << pin;
    g->pulse_pins |= 1u << pin;
    g->pulse_ms = ms;
    update(g);
    pthread_mutex_unlock(&g->lock);
    loop_event_notify(g->pulse_ev);
    return 0;
}

struct sifive_gpio *sifive_gpio_create(struct bus *bus, uint64_t base, unsigned npins,
                                       const struct irq_line *irqs, struct loop *loop)
{
    if (npins < 1 || npins > SIFIVE_GPIO_MAX_PINS) {
        log_error("sifive-gpio: %u pins: need 1 to %d", npins, SIFIVE_GPIO_MAX_PINS);
        return NULL;
    }
    struct sifive_gpio *g = xzalloc(sizeof(*g));
    pthread_mutex_init(&g->lock, NULL);
    g->npins = npins;
    g->mask = npins == 32 ? UINT32_MAX : (1u << npins) - 1;
    memcpy(g->irq, irqs, npins * sizeof(irqs[0]));
    if (loop) {
        g->pulse_ev = loop_event_new(loop, pulse_arm, g);
        g->pulse_timer = loop_timer_new(loop, pulse_release, g);
        if (!g->pulse_ev || !g->pulse_timer) {
            sifive_gpio_destroy(g);
            return NULL;
        }
    }
    if (bus_register(bus, base, SIFIVE_GPIO_SIZE, &gpio_ops, g, "sifive-gpio") < 0) {
        log_error("sifive-gpio: cannot map 0x%llx", (unsigned long long)base);
        sifive_gpio_destroy(g);
        return NULL;
    }
    return g;
}

void sifive_gpio_destroy(struct sifive_gpio *g)
{
    if (!g)
        return;
    if (g->pulse_timer)
        loop_timer_free(g->pulse_timer);
    loop_event_free(g->pulse_ev);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

void sifive_gpio_set_input(struct sifive_gpio *g, unsigned pin, bool level)
{
    if (pin >= g->npins)
        return;
    pthread_mutex_lock(&g->lock);
    if (level)
        g->st.ext |= 1u << pin;
    else
        g->st.ext &= ~(1u << pin);
    update(g);
    pthread_mutex_unlock(&g->lock);
}

void sifive_gpio_reset(struct sifive_gpio *g)
{
    pthread_mutex_lock(&g->lock);
    uint32_t ext = g->st.ext;
    memset(&g->st, 0, sizeof(g->st));
    g->st.ext = ext;             /* what the outside drives (a held button) survives a reset */
    g->level = 0;
    update(g);
    pthread_mutex_unlock(&g->lock);
}

void sifive_gpio_save(struct sifive_gpio *g, struct sifive_gpio_state *st)
{
    pthread_mutex_lock(&g->lock);
    *st = g->st;
    pthread_mutex_unlock(&g->lock);
}

int sifive_gpio_load(struct sifive_gpio *g, const struct sifive_gpio_state *st)
{
    const uint32_t *w = (const uint32_t *)st;
    for (size_t i = 0; i < sizeof(*st) / sizeof(uint32_t); i++)
        if (w[i] & ~g->mask)
            return -EINVAL;
    pthread_mutex_lock(&g->lock);
    g->st = *st;
    g->level = pins(g) & g->st.input_en;
    update(g);
    pthread_mutex_unlock(&g->lock);
    return 0;
}
