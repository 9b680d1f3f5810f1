#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "mem/mem.h"

static void test_translate_bounds(void **state)
{
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(mem_add_ram(&m, 0x80000000, 1 << 20, 0), 0);
    assert_non_null(mem_translate(&m, 0x80000000, 1 << 20));
    assert_null(mem_translate(&m, 0x80000000, (1 << 20) + 1));
    assert_null(mem_translate(&m, 0x7fffffff, 2));
    assert_null(mem_translate(&m, 0x800fffff, 2));
    assert_non_null(mem_translate(&m, 0x800fffff, 1));
    /* a length that wraps around */
    assert_null(mem_translate(&m, 0x80000010, UINT64_MAX - 8));
    assert_null(mem_translate(&m, UINT64_MAX, 1));
    /* overlapping and unaligned regions are refused */
    assert_int_equal(mem_add_ram(&m, 0x800ff000, 4096 * 4, 0), -EEXIST);
    assert_int_equal(mem_add_ram(&m, 0x100, 4096, 0), -EINVAL);
    assert_int_equal(mem_add_ram(&m, 0xfffffffffffff000ULL, 0x2000, 0), -EINVAL);
    mem_destroy(&m);
}

static void test_rw_and_dirty(void **state)
{
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(mem_add_ram(&m, 0, 16 * 4096, MEM_F_MEMFD), 0);
    assert_int_equal(mem_dirty_enable(&m), 0);
    char buf[8] = "abcdefg";
    assert_int_equal(mem_write(&m, 4096 * 3 - 2, buf, 8), 0);
    char out[8];
    assert_int_equal(mem_read(&m, 4096 * 3 - 2, out, 8), 0);
    assert_memory_equal(buf, out, 8);
    assert_int_equal(mem_read(&m, 16 * 4096 - 4, out, 8), -EFAULT);
    uint64_t bits[1];
    mem_dirty_collect(&m, 0, bits);
    assert_int_equal(bits[0], (1ULL << 2) | (1ULL << 3));
    mem_dirty_collect(&m, 0, bits);
    assert_int_equal(bits[0], 0);
    mem_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_translate_bounds),
        cmocka_unit_test(test_rw_and_dirty),
    };
    return cmocka_run_group_tests_name("mem", tests, NULL, NULL);
}
