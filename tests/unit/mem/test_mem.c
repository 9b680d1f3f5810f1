#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

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
    uint64_t bits[1] = { 0 };
    assert_int_equal(mem_dirty_collect(&m, 0, bits), 2);
    assert_int_equal(bits[0], (1ULL << 2) | (1ULL << 3));
    bits[0] = 0;
    assert_int_equal(mem_dirty_collect(&m, 0, bits), 0);
    assert_int_equal(bits[0], 0);
    mem_destroy(&m);
}

/* The dirty bitmap for migration: collect ORs into the caller's bitmap and
 * counts only new pages; marks past a region's end stop at its last page;
 * a disabled log marks nothing and a re-enabled one starts clear;
 * mark_all covers every page of a writable region, discard marks too. */
static void test_dirty_log(void **state)
{
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(mem_add_ram(&m, 0x80000000, 130 * 4096, 0), 0);
    mem_mark_dirty(&m, 0x80000000, 1);          /* not logging: nothing */
    assert_int_equal(mem_dirty_enable(&m), 0);
    uint64_t bits[3] = { 0 };
    assert_int_equal(mem_dirty_collect(&m, 0, bits), 0);
    mem_mark_dirty(&m, 0x80000000 + 64 * 4096 + 5, 4096);  /* pages 64 and 65 */
    mem_mark_dirty(&m, 0x80000000 + 129 * 4096, 1ULL << 40); /* clipped at page 129 */
    assert_int_equal(mem_dirty_collect(&m, 0, bits), 3);
    assert_int_equal(bits[1], 3);
    assert_int_equal(bits[2], 1ULL << 1);
    mem_mark_dirty(&m, 0x80000000 + 64 * 4096, 1);
    mem_mark_dirty(&m, 0x80000000, 1);
    assert_int_equal(mem_dirty_collect(&m, 0, bits), 1);  /* page 64 was set already */
    assert_int_equal(bits[0], 1);
    mem_dirty_disable(&m);
    mem_mark_dirty(&m, 0x80000000 + 4096, 1);
    memset(bits, 0, sizeof(bits));
    assert_int_equal(mem_dirty_collect(&m, 0, bits), 0);
    assert_int_equal(mem_dirty_enable(&m), 0);
    assert_int_equal(mem_discard(&m, 0x80000000 + 8 * 4096, 2 * 4096), 2 * 4096);
    assert_int_equal(mem_dirty_collect(&m, 0, bits), 2);
    assert_int_equal(bits[0], 3ULL << 8);
    mem_mark_all_dirty(&m);
    memset(bits, 0, sizeof(bits));
    assert_int_equal(mem_dirty_collect(&m, 0, bits), 130);
    assert_int_equal(bits[0], UINT64_MAX);
    assert_int_equal(bits[2], 3);
    mem_destroy(&m);
}

/* A file mapped into RAM: reads as the file, writes stay private (the file
 * is unchanged), discarding reverts to the file, and the mapping is
 * refused where it cannot serve (unaligned, across the region's end, a
 * memfd region). */
static void test_map_file(void **state)
{
    char path[] = "/tmp/vessel-mem-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    char buf[10000];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (char)('a' + i % 26);
    assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(mem_add_ram(&m, 0x80000000, 1 << 20, 0), 0);
    assert_int_equal(mem_add_ram(&m, 0x90000000, 1 << 16, MEM_F_MEMFD), 0);
    uint8_t *p = mem_translate(&m, 0x80000000, 1 << 20);
    memset(p, 0x77, 1 << 20);
    assert_int_equal(mem_map_file(&m, 0x80002000, fd, sizeof(buf)), 0);
    assert_memory_equal(p + 0x2000, buf, sizeof(buf));
    assert_int_equal(p[0x2000 + sizeof(buf)], 0);           /* the last page: zero past the end */
    assert_int_equal(p[0x2000 + 3 * 4096], 0x77);           /* the next page is RAM as it was */
    assert_int_equal(p[0x1fff], 0x77);
    p[0x2000] = 'Z';                                        /* copy on write */
    char c;
    assert_int_equal(pread(fd, &c, 1, 0), 1);
    assert_int_equal(c, 'a');
    assert_int_equal(mem_discard(&m, 0x80002000, 4096), 4096);
    assert_int_equal(p[0x2000], 'a');                       /* back to the file */
    /* refused: unaligned, past the region, no length, a memfd region, outside RAM */
    assert_int_equal(mem_map_file(&m, 0x80002001, fd, 100), -EINVAL);
    assert_int_equal(mem_map_file(&m, 0x80100000 - 4096, fd, sizeof(buf)), -EINVAL);
    assert_int_equal(mem_map_file(&m, 0x80000000, fd, 0), -EINVAL);
    assert_int_equal(mem_map_file(&m, 0x90000000, fd, 100), -EINVAL);
    assert_int_equal(mem_map_file(&m, 0x70000000, fd, 100), -EINVAL);
    /* a bad fd: the RAM is still there */
    assert_true(mem_map_file(&m, 0x80010000, -1, 100) < 0);
    p[0x10000] = 5;
    assert_int_equal(p[0x10000], 5);
    close(fd);
    mem_destroy(&m);
}

static void test_merge(void **state)
{
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(mem_add_ram(&m, 0x80000000, 1 << 20, 0), 0);
    int r = mem_set_merge(&m, true);
    if (r == -EINVAL)
        skip();                 /* a host kernel without KSM */
    assert_int_equal(r, 0);
    assert_true(m.r[0].flags & MEM_F_MERGE);
    /* the VMA says so: "mg" in smaps' VmFlags */
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512], want[64];
    snprintf(want, sizeof(want), "%lx-", (unsigned long)m.r[0].host);
    bool in = false, merge = false;
    while (fgets(line, sizeof(line), f)) {
        if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' '))
            in = !strncmp(line, want, strlen(want));
        if (in && !strncmp(line, "VmFlags:", 8))
            merge = strstr(line, " mg") != NULL;
    }
    fclose(f);
    assert_true(merge);
    assert_int_equal(mem_set_merge(&m, false), 0);
    assert_false(m.r[0].flags & MEM_F_MERGE);
    mem_destroy(&m);
}

/* The VmFlags line of the smaps entry that starts at host address p. */
static bool vma_flag(const void *p, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512], want[64], needle[16];
    snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)p);
    snprintf(needle, sizeof(needle), " %s", flag);
    bool in = false, found = false;
    while (fgets(line, sizeof(line), f)) {
        if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' '))
            in = !strncmp(line, want, strlen(want));
        if (in && !strncmp(line, "VmFlags:", 8))
            found = strstr(line, needle) != NULL;
    }
    fclose(f);
    return found;
}

/* Anonymous RAM of 2 MiB or more is 2 MiB aligned on the host and offered
 * to THP ("hg"); small, memfd and read-only regions are not; a 4 KiB
 * discard (a balloon page) turns the region to "nh" for good, a discard of
 * whole huge pages (free page reporting at order 9) does not. */
static void test_huge(void **state)
{
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(mem_add_ram(&m, 0x80000000, 8 << 20, 0), 0);
    assert_int_equal(mem_add_ram(&m, 0x90000000, 1 << 20, 0), 0);
    assert_int_equal(mem_add_ram(&m, 0xa0000000, 4 << 20, MEM_F_MEMFD), 0);
    assert_int_equal(mem_add_ram(&m, 0xb0000000, 4 << 20, MEM_F_READONLY | MEM_F_HUGE), 0);
    assert_false(m.r[1].flags & MEM_F_HUGE);
    assert_false(m.r[2].flags & MEM_F_HUGE);
    assert_false(m.r[3].flags & MEM_F_HUGE);
    if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) != 0) {
        mem_destroy(&m);
        skip();                 /* a host kernel without THP */
    }
    assert_true(m.r[0].flags & MEM_F_HUGE);
    assert_int_equal((uintptr_t)m.r[0].host & (MEM_HUGE_SIZE - 1), 0);
    assert_true(vma_flag(m.r[0].host, "hg"));
    memset(m.r[0].host, 1, 8 << 20);        /* all of it usable, nothing trimmed too much */
    assert_int_equal(mem_discard(&m, 0x80200000, 2 << 20), 2 << 20);
    assert_true(m.r[0].flags & MEM_F_HUGE);
    assert_true(vma_flag(m.r[0].host, "hg"));
    assert_int_equal(m.r[0].host[0x200000], 0);
    assert_int_equal(mem_discard(&m, 0x80401000, 4096), 4096);
    assert_false(m.r[0].flags & MEM_F_HUGE);
    assert_true(vma_flag(m.r[0].host, "nh"));
    assert_false(vma_flag(m.r[0].host, "hg"));
    assert_int_equal(m.r[0].host[0x401000], 0);
    assert_int_equal(m.r[0].host[0x400fff], 1);
    assert_int_equal(m.r[0].host[0x402000], 1);
    mem_destroy(&m);
}

/* A field (in kB) of the smaps entry that starts at host address p. */
static long vma_kb(const void *p, const char *field)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512], want[64];
    snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)p);
    bool in = false;
    long kb = -1;
    while (fgets(line, sizeof(line), f)) {
        if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' '))
            in = !strncmp(line, want, strlen(want));
        if (in && !strncmp(line, field, strlen(field)))
            kb = strtol(line + strlen(field), NULL, 10);
    }
    fclose(f);
    return kb;
}

/* Linux 6.12 or later: a split huge page's zero-filled pages leave the
 * process (mapped to the shared zero page). */
static bool kernel_remaps_zero_on_split(void)
{
    FILE *f = fopen("/proc/sys/kernel/osrelease", "r");
    int maj = 0, min = 0;
    if (f) {
        if (fscanf(f, "%d.%d", &maj, &min) != 2)
            maj = 0;
        fclose(f);
    }
    return maj > 6 || (maj == 6 && min >= 12);
}

/* mem_huge_settle: the region turns "nh" and loses MEM_F_HUGE; a huge
 * page the guest filled stays huge; one with many zero-filled pages is
 * split and (on kernels that do it) its zero pages leave the process;
 * nothing the guest wrote changes; a second call has nothing to do. */
static void test_huge_settle(void **state)
{
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(mem_add_ram(&m, 0x80000000, 8 << 20, 0), 0);
    if (!(m.r[0].flags & MEM_F_HUGE)) {
        assert_int_equal(mem_huge_settle(&m), 0);
        mem_destroy(&m);
        skip();                 /* a host kernel without THP */
    }
    uint8_t *h = m.r[0].host;
    memset(h, 1, 2 << 20);                      /* dense */
    for (unsigned i = 0; i < 512; i += 8)       /* sparse: 64 of 512 pages */
        h[(2 << 20) + i * 4096 + 100] = (uint8_t)(i + 1);
    h[(6 << 20) + 4096 * 511] = 7;              /* one page; [4, 6) MiB untouched */
    long huge_before = vma_kb(h, "AnonHugePages:");
    int n = mem_huge_settle(&m);
    print_message("huge pages before: %ld kB; split: %d; after: %ld kB huge, %ld kB resident\n", huge_before, n,
                  vma_kb(h, "AnonHugePages:"), vma_kb(h, "Rss:"));
    assert_false(m.r[0].flags & MEM_F_HUGE);
    assert_true(vma_flag(h, "nh"));
    assert_false(vma_flag(h, "hg"));
    if (huge_before == 6 << 10) {               /* the host gave three huge pages */
        assert_int_equal(n, 2);
        assert_int_equal(vma_kb(h, "AnonHugePages:"), 2 << 10);
        if (kernel_remaps_zero_on_split())
            assert_true(vma_kb(h, "Rss:") <= (2 << 10) + 65 * 4);
    } else {
        assert_true(n >= 0 && n <= 2);
    }
    for (unsigned i = 0; i < 2 << 20; i += 4093)
        assert_int_equal(h[i], 1);
    for (unsigned i = 0; i < 512; i++)
        assert_int_equal(h[(2 << 20) + i * 4096 + 100], i % 8 ? 0 : (uint8_t)(i + 1));
    assert_int_equal(h[(6 << 20) + 4096 * 511], 7);
    assert_int_equal(h[(6 << 20)], 0);
    h[(2 << 20) + 4096 + 5] = 9;                /* a zero page written again */
    assert_int_equal(h[(2 << 20) + 4096 + 5], 9);
    assert_int_equal(mem_huge_settle(&m), 0);
    mem_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_translate_bounds),
        cmocka_unit_test(test_rw_and_dirty),
        cmocka_unit_test(test_dirty_log),
        cmocka_unit_test(test_map_file),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_huge),
        cmocka_unit_test(test_huge_settle),
    };
    return cmocka_run_group_tests_name("mem", tests, NULL, NULL);
}
