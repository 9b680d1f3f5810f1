#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "bus/bus.h"

struct dev { uint64_t last_off, last_val; unsigned last_size; };

static uint64_t dev_read(void *o, uint64_t off, unsigned size)
{
    struct dev *d = o;
    d->last_off = off;
    d->last_size = size;
    return 0x1000 + off;
}

static void dev_write(void *o, uint64_t off, uint64_t val, unsigned size)
{
    struct dev *d = o;
    d->last_off = off;
    d->last_val = val;
    d->last_size = size;
}

static const struct bus_ops ops = { dev_read, dev_write };

static void test_dispatch(void **state)
{
    struct bus b;
    struct dev d1 = { 0 }, d2 = { 0 };
    bus_init(&b);
    assert_int_equal(bus_register(&b, 0x1000, 0x100, &ops, &d1, "d1"), 0);
    assert_int_equal(bus_register(&b, 0x3000, 0x100, &ops, &d2, "d2"), 0);
    assert_int_equal(bus_register(&b, 0x10ff, 2, &ops, &d2, "x"), -EEXIST);
    assert_int_equal(bus_register(&b, 0x2f00, 0x101, &ops, &d2, "x"), -EEXIST);
    assert_int_equal(bus_register(&b, 0x1100, 0x100, &ops, &d2, "adjacent"), 0);
    uint64_t v = 0;
    assert_int_equal(bus_access(&b, 0x1010, &v, 4, false), 0);
    assert_int_equal(v, 0x1010);
    assert_int_equal(d1.last_size, 4);
    v = 0xabcd;
    assert_int_equal(bus_access(&b, 0x30ff, &v, 1, true), 0);
    assert_int_equal(d2.last_off, 0xff);
    assert_int_equal(d2.last_val, 0xabcd);
    v = 77;
    assert_int_equal(bus_access(&b, 0x2000, &v, 8, false), -ENOENT);
    assert_int_equal(v, 0);
    assert_null(bus_find(&b, 0x3100));
    assert_non_null(bus_find(&b, 0x11ff));
    bus_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}
