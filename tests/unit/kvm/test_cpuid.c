/* kvm/x86 cpuid.c: --cpu-features parsing and CPUID completion on a
 * synthetic table (no /dev/kvm needed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "kvm/x86/kvm.h"

static struct kvm_cpuid2 *table(unsigned cap)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + cap * sizeof(struct kvm_cpuid_entry2));
    struct kvm_cpuid_entry2 *e = c->entries;
    e[0] = (struct kvm_cpuid_entry2){ .function = 1, .eax = 0x806c1, .ebx = 0x55000800,
                                      .ecx = 0x7ffafbff, .edx = 0xbfebfbff };
    e[1] = (struct kvm_cpuid_entry2){ .function = 7, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
                                      .ebx = 0xffffffff };
    e[2] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
    e[3] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
    e[4] = (struct kvm_cpuid_entry2){ .function = 0xd, .eax = 7, .ebx = 0x340 };
    c->nent = 5;
    return c;
}

static struct kvm_cpuid_entry2 *get(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
    for (unsigned i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn && c->entries[i].index == idx)
            return &c->entries[i];
    return NULL;
}

static void test_parse(void **state)
{
    (void)state;
    struct vkvm_cpu_hide h;
    assert_int_equal(vkvm_cpu_features_parse("-cx16,-avx", &h), 0);
    assert_int_equal(vkvm_cpu_features_parse("-nosuch", &h), -EINVAL);
    assert_int_equal(vkvm_cpu_features_parse("cx16", &h), -EINVAL);
    assert_int_equal(vkvm_cpu_features_parse("-cx16,", &h), 0);
    assert_int_equal(vkvm_cpu_features_parse("-", &h), -EINVAL);
}

static void test_complete(void **state)
{
    (void)state;
    struct vkvm_cpu_hide h;
    assert_int_equal(vkvm_cpu_features_parse("-cx16,-xsave", &h), 0);
    struct kvm_cpuid2 *c = table(16);
    assert_int_equal(vkvm_cpuid_complete(c, 16, 3, 4, &h), 0);
    struct kvm_cpuid_entry2 *e = get(c, 1, 0);
    assert_true(e->ecx & (1u << 31));               /* hypervisor */
    assert_false(e->ecx & (1u << 13));              /* cx16 hidden */
    assert_false(e->ecx & (1u << 26));              /* xsave hidden */
    assert_false(e->ecx & (1u << 28));              /* avx hidden with xsave */
    assert_true(e->ecx & (1u << 20));               /* sse4_2 kept */
    assert_int_equal(e->ebx >> 24, 3);              /* APIC id */
    assert_int_equal(e->ebx >> 16 & 0xff, 4);       /* logical processors */
    assert_int_equal(get(c, 7, 0)->ebx & (1u << 5), 0); /* avx2 follows avx */
    assert_int_equal(get(c, 0xd, 0)->eax, 0);
    assert_int_equal(get(c, 0xb, 0)->edx, 3);
    assert_int_equal(get(c, 0xb, 1)->ebx, 4);
    assert_int_equal(get(c, 0xb, 1)->eax, 2);
    e = get(c, 0x40000000, 0);
    assert_non_null(e);
    char sig[13] = { 0 };
    memcpy(sig, &e->ebx, 4); memcpy(sig + 4, &e->ecx, 4); memcpy(sig + 8, &e->edx, 4);
    assert_string_equal(sig, "KVMKVMKVM");
    assert_non_null(get(c, 0x40000001, 0));
    free(c);
    /* No room for the PV leaves: error, not overflow. */
    c = table(5);
    assert_int_equal(vkvm_cpuid_complete(c, 5, 0, 1, NULL), -ENOSPC);
    free(c);
}

/* KVM_CAP_TSC_DEADLINE_TIMER: leaf 1 ECX bit 24 set, nothing else touched */
static void test_tsc_deadline(void **state)
{
    (void)state;
    struct kvm_cpuid2 *c = table(8);
    get(c, 1, 0)->ecx &= ~(1u << 24);       /* as host kernels before 6.14 report it */
    struct kvm_cpuid_entry2 before = *get(c, 1, 0), b7 = *get(c, 7, 0);
    assert_false(before.ecx & 1u << 24);
    vkvm_cpuid_tsc_deadline(c);
    struct kvm_cpuid_entry2 *e = get(c, 1, 0);
    assert_int_equal(e->ecx, before.ecx | 1u << 24);
    assert_int_equal(e->edx, before.edx);
    assert_memory_equal(get(c, 7, 0), &b7, sizeof(b7));
    free(c);
}

static void test_mptable(void **state)
{
    (void)state;
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(vkvm_mem_layout(&m, 32ULL << 20), 0);
    assert_int_equal(vkvm_mptable_build(&m, 0, 0), -EINVAL);
    for (unsigned n = 1; n <= VKVM_MAX_VCPUS; n += 21) {
        assert_int_equal(vkvm_mptable_build(&m, n, 1u << 5 | 1u << 18), 0);
        uint8_t *fp = mem_translate(&m, VKVM_MPTABLE_ADDR, 16);
        assert_memory_equal(fp, "_MP_", 4);
        uint8_t s = 0;
        for (int i = 0; i < 16; i++) s = (uint8_t)(s + fp[i]);
        assert_int_equal(s, 0);
        uint32_t ct_addr = fp[4] | fp[5] << 8 | fp[6] << 16 | (uint32_t)fp[7] << 24;
        uint8_t *ct = mem_translate(&m, ct_addr, 44);
        assert_memory_equal(ct, "PCMP", 4);
        unsigned len = ct[4] | ct[5] << 8, count = ct[34] | ct[35] << 8;
        assert_true(VKVM_MPTABLE_ADDR + 16 + len <= VKVM_MPTABLE_ADDR + vkvm_mptable_size(n));
        ct = mem_translate(&m, ct_addr, len);
        s = 0;
        for (unsigned i = 0; i < len; i++) s = (uint8_t)(s + ct[i]);
        assert_int_equal(s, 0);
        /* walk entries: n processors (first is BSP), 1 IOAPIC, 24 irqs */
        unsigned cpus = 0, ioapics = 0, irqs = 0, level = 0, off = 44;
        for (unsigned e = 0; e < count; e++) {
            uint8_t t = ct[off];
            if (t == 0) { assert_int_equal(ct[off + 1], cpus); assert_int_equal(!!(ct[off + 3] & 2), cpus == 0); cpus++; }
            if (t == 2) ioapics++;
            if (t == 3) {
                unsigned flags = ct[off + 2] | ct[off + 3] << 8;
                assert_int_equal(ct[off + 5], ct[off + 7]);     /* ISA irq n -> pin n */
                bool lvl = ct[off + 7] == 5 || ct[off + 7] == 18;
                assert_int_equal(flags, lvl ? 0x0d : 0);
                level += lvl;
                irqs++;
            }
            off += t == 0 ? 20 : 8;
        }
        assert_int_equal(off, len);
        assert_int_equal(cpus, n);
        assert_int_equal(ioapics, 1);
        assert_int_equal(irqs, 24);
        assert_int_equal(level, 2);
    }
    mem_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_complete),
        cmocka_unit_test(test_mptable),
        cmocka_unit_test(test_tsc_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
