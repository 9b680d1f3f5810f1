/* SiFive GPIO: what Linux's gpio-sifive driver does with it (input enable,
 * edge interrupts, write-1-to-clear pending bits), level interrupts,
 * outputs, the pulse used as a power button, reset and snapshot checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "base/base.h"
#include "dev/dev.h"

enum {
    R_INPUT_VAL = 0x00, R_INPUT_EN = 0x04, R_OUTPUT_EN = 0x08, R_OUTPUT_VAL = 0x0c,
    R_RISE_IE = 0x18, R_RISE_IP = 0x1c, R_FALL_IE = 0x20, R_FALL_IP = 0x24,
    R_HIGH_IE = 0x28, R_HIGH_IP = 0x2c, R_LOW_IE = 0x30, R_LOW_IP = 0x34, R_OUT_XOR = 0x40,
};
#define BASE 0x102000ULL

struct lines {
    int level[4];
    int changes;
};

static void line_set(void *opaque, unsigned n, int level)
{
    struct lines *l = opaque;
    l->level[n] = level;
    l->changes++;
}

struct fix {
    struct bus bus;
    struct lines lines;
    struct sifive_gpio *g;
};

static uint32_t rd(struct fix *f, uint64_t off)
{
    uint64_t v = 0;
    assert_int_equal(bus_access(&f->bus, BASE + off, &v, 4, false), 0);
    return (uint32_t)v;
}

static void wr(struct fix *f, uint64_t off, uint32_t val)
{
    uint64_t v = val;
    assert_int_equal(bus_access(&f->bus, BASE + off, &v, 4, true), 0);
}

static struct fix *fix_new(struct loop *loop)
{
    struct fix *f = xzalloc(sizeof(*f));
    bus_init(&f->bus);
    struct irq_line irqs[4];
    for (unsigned i = 0; i < 4; i++)
        irqs[i] = (struct irq_line){ .set = line_set, .opaque = &f->lines, .n = i };
    f->g = sifive_gpio_create(&f->bus, BASE, 4, irqs, loop);
    assert_non_null(f->g);
    return f;
}

static void fix_free(struct fix *f)
{
    sifive_gpio_destroy(f->g);
    bus_destroy(&f->bus);
    free(f);
}

/* gpio-sifive + gpio-keys: input, both edges, eoi clears every *_ip bit */
static void test_button_edges(void **state)
{
    struct fix *f = fix_new(NULL);
    wr(f, R_INPUT_EN, 1);
    wr(f, R_RISE_IP, 1); wr(f, R_FALL_IP, 1); wr(f, R_HIGH_IP, 1); wr(f, R_LOW_IP, 1);
    wr(f, R_RISE_IE, 1);
    wr(f, R_FALL_IE, 1);
    assert_int_equal(f->lines.level[0], 0);
    assert_int_equal(rd(f, R_INPUT_VAL), 0);
    /* press */
    sifive_gpio_set_input(f->g, 0, true);
    assert_int_equal(f->lines.level[0], 1);
    assert_int_equal(rd(f, R_INPUT_VAL), 1);
    assert_int_equal(rd(f, R_RISE_IP), 1);
    /* eoi: write-1-to-clear; the line drops */
    wr(f, R_RISE_IP, 1); wr(f, R_FALL_IP, 1); wr(f, R_HIGH_IP, 1); wr(f, R_LOW_IP, 1);
    assert_int_equal(f->lines.level[0], 0);
    assert_int_equal(rd(f, R_HIGH_IP), 1);          /* a level bit comes back while the level holds */
    /* release: the falling edge */
    sifive_gpio_set_input(f->g, 0, false);
    assert_int_equal(f->lines.level[0], 1);
    assert_int_equal(rd(f, R_FALL_IP), 1);
    wr(f, R_FALL_IP, 1);
    assert_int_equal(f->lines.level[0], 0);
    /* other lines never moved */
    assert_int_equal(f->lines.level[1] | f->lines.level[2] | f->lines.level[3], 0);
    /* a pin with input disabled reads 0 and latches nothing */
    sifive_gpio_set_input(f->g, 2, true);
    assert_int_equal(rd(f, R_INPUT_VAL), 0);
    assert_int_equal(rd(f, R_RISE_IP) & 4, 0);
    /* pins past npins do not exist; bad sizes are ignored */
    sifive_gpio_set_input(f->g, 9, true);
    wr(f, R_INPUT_EN, 0xffffffff);
    assert_int_equal(rd(f, R_INPUT_EN), 0xf);
    uint64_t v = 0xff;
    bus_access(&f->bus, BASE + R_INPUT_EN, &v, 1, true);
    assert_int_equal(rd(f, R_INPUT_EN), 0xf);
    fix_free(f);
}

static void test_levels_and_outputs(void **state)
{
    struct fix *f = fix_new(NULL);
    wr(f, R_INPUT_EN, 0x3);
    wr(f, R_HIGH_IE, 0x2);
    sifive_gpio_set_input(f->g, 1, true);
    assert_int_equal(f->lines.level[1], 1);
    wr(f, R_HIGH_IP, 0x2);                          /* level still high: stays pending */
    assert_int_equal(f->lines.level[1], 1);
    sifive_gpio_set_input(f->g, 1, false);
    wr(f, R_HIGH_IP, 0x2);
    assert_int_equal(f->lines.level[1], 0);
    /* an output drives the pin whatever the outside does (with out_xor) */
    wr(f, R_OUTPUT_EN, 0x1);
    wr(f, R_OUTPUT_VAL, 0x1);
    assert_int_equal(rd(f, R_INPUT_VAL) & 1, 1);
    wr(f, R_OUT_XOR, 0x1);
    assert_int_equal(rd(f, R_INPUT_VAL) & 1, 0);
    assert_int_equal(rd(f, R_OUTPUT_VAL), 1);
    /* reset: registers to 0, lines down, what the outside drives stays */
    sifive_gpio_set_input(f->g, 3, true);
    sifive_gpio_reset(f->g);
    assert_int_equal(rd(f, R_OUTPUT_EN), 0);
    assert_int_equal(rd(f, R_INPUT_EN), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(f->lines.level[i], 0);
    struct sifive_gpio_state st;
    sifive_gpio_save(f->g, &st);
    assert_int_equal(st.ext, 0x8);
    /* snapshot round trip, and a bit past npins refused */
    st.input_en = 0x8;
    st.high_ie = 0x8;
    assert_int_equal(sifive_gpio_load(f->g, &st), 0);
    assert_int_equal(f->lines.level[3], 1);
    st.rise_ie = 0x10;
    assert_int_equal(sifive_gpio_load(f->g, &st), -EINVAL);
    fix_free(f);
}

/* The power button: high at once, low again when the loop's timer fires. */
static void test_pulse(void **state)
{
    struct loop *l = loop_new();
    struct fix *f = fix_new(l);
    wr(f, R_INPUT_EN, 1);
    wr(f, R_RISE_IE, 1);
    wr(f, R_FALL_IE, 1);
    uint64_t t0 = time_ms();
    assert_int_equal(sifive_gpio_pulse(f->g, 0, 30), 0);
    assert_int_equal(rd(f, R_INPUT_VAL), 1);
    assert_int_equal(f->lines.level[0], 1);
    wr(f, R_RISE_IP, 1);
    while (rd(f, R_INPUT_VAL) & 1)
        loop_run_once(l, 1000);
    assert_true(time_ms() - t0 >= 30);
    assert_int_equal(rd(f, R_FALL_IP), 1);
    assert_int_equal(f->lines.level[0], 1);
    assert_int_equal(sifive_gpio_pulse(f->g, 7, 30), -EINVAL);
    fix_free(f);
    loop_free(l);
    /* no loop: no pulses */
    f = fix_new(NULL);
    assert_int_equal(sifive_gpio_pulse(f->g, 0, 30), -EINVAL);
    fix_free(f);
}

static void test_bad_create(void **state)
{
    struct bus bus;
    bus_init(&bus);
    struct irq_line irqs[1] = { { 0 } };
    assert_null(sifive_gpio_create(&bus, BASE, 0, irqs, NULL));
    assert_null(sifive_gpio_create(&bus, BASE, 33, irqs, NULL));
    struct sifive_gpio *g = sifive_gpio_create(&bus, BASE, 1, irqs, NULL);
    assert_non_null(g);
    assert_null(sifive_gpio_create(&bus, BASE, 1, irqs, NULL));     /* range taken */
    sifive_gpio_destroy(g);
    bus_destroy(&bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_button_edges),
        cmocka_unit_test(test_levels_and_outputs),
        cmocka_unit_test(test_pulse),
        cmocka_unit_test(test_bad_create),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
