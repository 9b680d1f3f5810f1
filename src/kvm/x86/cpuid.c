/* CPUID: KVM_GET_SUPPORTED_CPUID filtered and completed for the guest:
 * hypervisor bit, KVM paravirtual leaves, per-vCPU APIC ids and topology
 * (leaves 0x1, 0x4, 0xb, 0x1f) for --smp, and --cpu-features hiding. */
#include "kvm/x86/kvm.h"
#include "base/base.h"

#include <errno.h>
#include <string.h>

enum { EAX, EBX, ECX, EDX };

static const struct vkvm_cpu_feature {
    const char *name;
    uint32_t leaf, subleaf;
    uint8_t reg, bit;
} features[] = {
    { "sse3", 1, 0, ECX, 0 }, { "pclmulqdq", 1, 0, ECX, 1 }, { "ssse3", 1, 0, ECX, 9 },
    { "fma", 1, 0, ECX, 12 }, { "cx16", 1, 0, ECX, 13 }, { "pcid", 1, 0, ECX, 17 },
    { "sse4_1", 1, 0, ECX, 19 }, { "sse4_2", 1, 0, ECX, 20 }, { "x2apic", 1, 0, ECX, 21 },
    { "movbe", 1, 0, ECX, 22 }, { "popcnt", 1, 0, ECX, 23 }, { "tsc_deadline", 1, 0, ECX, 24 },
    { "aes", 1, 0, ECX, 25 }, { "xsave", 1, 0, ECX, 26 }, { "avx", 1, 0, ECX, 28 },
    { "f16c", 1, 0, ECX, 29 }, { "rdrand", 1, 0, ECX, 30 },
    { "mtrr", 1, 0, EDX, 12 }, { "pge", 1, 0, EDX, 13 }, { "sse2", 1, 0, EDX, 26 },
    { "bmi1", 7, 0, EBX, 3 }, { "avx2", 7, 0, EBX, 5 }, { "smep", 7, 0, EBX, 7 },
    { "bmi2", 7, 0, EBX, 8 }, { "erms", 7, 0, EBX, 9 }, { "invpcid", 7, 0, EBX, 10 },
    { "avx512f", 7, 0, EBX, 16 }, { "rdseed", 7, 0, EBX, 18 }, { "adx", 7, 0, EBX, 19 },
    { "smap", 7, 0, EBX, 20 }, { "sha", 7, 0, EBX, 29 }, { "pku", 7, 0, ECX, 3 },
    { "la57", 7, 0, ECX, 16 }, { "rdpid", 7, 0, ECX, 22 },
    { "lahf_lm", 0x80000001, 0, ECX, 0 }, { "abm", 0x80000001, 0, ECX, 5 },
    { "nx", 0x80000001, 0, EDX, 20 }, { "pdpe1gb", 0x80000001, 0, EDX, 26 },
    { "rdtscp", 0x80000001, 0, EDX, 27 },
    { "kvmclock", 0x40000001, 0, EAX, 3 }, { "kvm_pv_eoi", 0x40000001, 0, EAX, 6 },
};

/* Features that make no sense without another one (hide them together). */
static const struct { const char *feature, *needs; } depends[] = {
    { "avx", "xsave" }, { "avx2", "avx" }, { "fma", "avx" }, { "f16c", "avx" },
    { "avx512f", "avx" }, { "pku", "xsave" },
};

static const struct vkvm_cpu_feature *feature_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
        if (strlen(features[i].name) == len && !strncmp(features[i].name, name, len))
            return &features[i];
    return NULL;
}

static void hide_add(struct vkvm_cpu_hide *h, const struct vkvm_cpu_feature *f)
{
    unsigned idx = (unsigned)(f - features);
    h->mask[idx / 64] |= 1ULL << (idx % 64);
    for (size_t i = 0; i < sizeof(depends) / sizeof(depends[0]); i++)
        if (!strcmp(depends[i].needs, f->name)) {
            const struct vkvm_cpu_feature *d = feature_find(depends[i].feature, strlen(depends[i].feature));
            if (d && !(h->mask[(d - features) / 64] & 1ULL << ((d - features) % 64)))
                hide_add(h, d);
        }
}

int vkvm_cpu_features_parse(const char *spec, struct vkvm_cpu_hide *h)
{
    memset(h, 0, sizeof(*h));
    const char *p = spec;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len < 2 || p[0] != '-') {
            log_error("--cpu-features %s: '%.*s' must be -NAME (only hiding is supported)", spec, (int)len, p);
            return -EINVAL;
        }
        const struct vkvm_cpu_feature *f = feature_find(p + 1, len - 1);
        if (!f) {
            log_error("--cpu-features %s: unknown feature '%.*s' (known: sse3 ssse3 cx16 xsave avx avx2 "
                      "avx512f x2apic aes rdrand pcid smep smap la57 pdpe1gb rdtscp kvmclock ...)",
                      spec, (int)(len - 1), p + 1);
            return -EINVAL;
        }
        hide_add(h, f);
        p = end ? end + 1 : NULL;
    }
    return 0;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, unsigned r)
{
    return r == EAX ? &e->eax : r == EBX ? &e->ebx : r == ECX ? &e->ecx : &e->edx;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
    for (unsigned i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn &&
            (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || c->entries[i].index == idx))
            return &c->entries[i];
    return NULL;
}

static struct kvm_cpuid_entry2 *add(struct kvm_cpuid2 *c, unsigned cap, uint32_t fn)
{
    struct kvm_cpuid_entry2 *e = find(c, fn, 0);
    if (e)
        return e;
    if (c->nent >= cap)
        return NULL;
    e = &c->entries[c->nent++];
    memset(e, 0, sizeof(*e));
    e->function = fn;
    return e;
}

static unsigned order(unsigned n)   /* bits needed to number n items */
{
    unsigned b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

void vkvm_cpuid_tsc_deadline(struct kvm_cpuid2 *c)
{
    for (unsigned i = 0; i < c->nent; i++)
        if (c->entries[i].function == 1)
            c->entries[i].ecx |= 1u << 24;
}

int vkvm_cpuid_complete(struct kvm_cpuid2 *c, unsigned cap, unsigned cpu, unsigned ncpus,
                       const struct vkvm_cpu_hide *hide)
{
    /* KVM paravirtual signature and features. */
    struct kvm_cpuid_entry2 *e = add(c, cap, 0x40000000);
    if (!e)
        return -ENOSPC;
    e->eax = 0x40000001;
    memcpy(&e->ebx, "KVMK", 4);
    memcpy(&e->ecx, "VMKV", 4);
    memcpy(&e->edx, "M\0\0\0", 4);
    if (!(e = add(c, cap, 0x40000001)))
        return -ENOSPC;

    for (unsigned i = 0; i < c->nent; i++) {
        e = &c->entries[i];
        switch (e->function) {
        case 1:
            e->ecx |= 1u << 31;                                   /* hypervisor */
            e->ebx = (e->ebx & 0x0000ffff) | (cpu << 24) | ((ncpus > 1 ? 1u << order(ncpus) : 1) << 16);
            if (ncpus > 1)
                e->edx |= 1u << 28;                               /* HTT: ebx[23:16] valid */
            break;
        case 4:   /* deterministic cache parameters: one core per package slot */
            if (e->eax & 0x1f)   /* EAX[31:26]: cores per package - 1 */
                e->eax = (e->eax & 0x03ffffff) | ((1u << order(ncpus)) - 1) << 26;
            break;
        case 0xb:
        case 0x1f:   /* level 0: SMT (1 thread), level 1: core (ncpus) */
            e->edx = cpu;
            if (e->index == 0) {
                e->eax = 0; e->ebx = 1; e->ecx = 1u << 8;
            } else if (e->index == 1) {
                e->eax = order(ncpus); e->ebx = ncpus; e->ecx = 2u << 8 | 1;
            } else {
                e->eax = 0; e->ebx = 0; e->ecx = e->index;
            }
            break;
        }
    }
    for (size_t i = 0; hide && i < sizeof(features) / sizeof(features[0]); i++) {
        if (!(hide->mask[i / 64] & 1ULL << (i % 64)))
            continue;
        for (unsigned j = 0; j < c->nent; j++) {
            e = &c->entries[j];
            if (e->function == features[i].leaf &&
                (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == features[i].subleaf))
                *reg_of(e, features[i].reg) &= ~(1u << features[i].bit);
            /* xsave hidden: OSXSAVE and leaf 0xd too */
            if (!strcmp(features[i].name, "xsave")) {
                if (e->function == 1)
                    e->ecx &= ~(1u << 27);
                if (e->function == 0xd)
                    e->eax = e->ebx = e->ecx = e->edx = 0;
            }
        }
    }
    return 0;
}
