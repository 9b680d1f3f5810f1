/* kvm/x86 CPU hotplug (cpuhp.c, acpi.c): the register block as a guest
 * drives it, and the tables of --smp N,maxcpus=M parsed back: the MADT's
 * enabled and online-capable local APICs, and the DSDT walked as an AML
 * parser walks it (every package length inside its parent, every named
 * object where it belongs): \_SB.CPUS with its mutex, region, fields,
 * methods and one ACPI0007 device per possible vCPU (_STA, _MAT, _EJ0),
 * and the GED's _EVT calling its scan method. No /dev/kvm needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/x86/kvm.h"

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* ---- the registers ---- */
static void select_cpu(struct vkvm_cpuhp *h, uint32_t cpu)
{
    assert_int_equal(vkvm_cpuhp_write(h, VKVM_CPUHP_SEL, cpu, 4), -1);
}

static void test_registers(void **state)
{
    (void)state;
    struct vkvm_cpuhp h;
    vkvm_cpuhp_init(&h, 4, 2);
    select_cpu(&h, 1);
    assert_int_equal(vkvm_cpuhp_read(&h, VKVM_CPUHP_SEL, 4), 1);
    assert_int_equal(vkvm_cpuhp_read(&h, VKVM_CPUHP_FLAGS, 1), VKVM_CPUHP_ENABLED);
    select_cpu(&h, 2);
    assert_int_equal(vkvm_cpuhp_read(&h, VKVM_CPUHP_FLAGS, 1), 0);
    /* byte writes build the selector (a ByteAcc field would split it) */
    assert_int_equal(vkvm_cpuhp_write(&h, 0, 3, 1), -1);
    assert_int_equal(vkvm_cpuhp_write(&h, 1, 0, 1), -1);
    assert_int_equal(vkvm_cpuhp_read(&h, 0, 4), 3);
    assert_int_equal(vkvm_cpuhp_read(&h, 1, 1), 0);
    /* a plug as vkvm_cpu_plug makes it: the guest sees INSERTING, clears it */
    h.flags[3] = VKVM_CPUHP_ENABLED | VKVM_CPUHP_INSERTING;
    assert_int_equal(vkvm_cpuhp_read(&h, VKVM_CPUHP_FLAGS, 1), VKVM_CPUHP_ENABLED | VKVM_CPUHP_INSERTING);
    assert_int_equal(vkvm_cpuhp_write(&h, VKVM_CPUHP_FLAGS, VKVM_CPUHP_INSERTING, 1), -1);
    assert_int_equal(vkvm_cpuhp_read(&h, VKVM_CPUHP_FLAGS, 1), VKVM_CPUHP_ENABLED);
    /* writing ENABLED changes nothing; REMOVING then EJECT removes it */
    assert_int_equal(vkvm_cpuhp_write(&h, VKVM_CPUHP_FLAGS, 0, 1), -1);
    assert_int_equal(vkvm_cpuhp_read(&h, VKVM_CPUHP_FLAGS, 1), VKVM_CPUHP_ENABLED);
    h.flags[3] |= VKVM_CPUHP_REMOVING;
    assert_int_equal(vkvm_cpuhp_write(&h, VKVM_CPUHP_FLAGS, VKVM_CPUHP_REMOVING, 1), -1);
    assert_int_equal(vkvm_cpuhp_read(&h, VKVM_CPUHP_FLAGS, 1), VKVM_CPUHP_ENABLED);
    assert_int_equal(vkvm_cpuhp_write(&h, VKVM_CPUHP_FLAGS, VKVM_CPUHP_EJECT, 1), 3);
    assert_int_equal(vkvm_cpuhp_read(&h, VKVM_CPUHP_FLAGS, 1), 0);
    /* a second eject, an eject of vCPU 0, a selector past M: nothing */
    assert_int_equal(vkvm_cpuhp_write(&h, VKVM_CPUHP_FLAGS, VKVM_CPUHP_EJECT, 1), -1);
    select_cpu(&h, 0);
    assert_int_equal(vkvm_cpuhp_write(&h, VKVM_CPUHP_FLAGS, 0xff, 1), -1);
    assert_int_equal(vkvm_cpuhp_read(&h, VKVM_CPUHP_FLAGS, 1), VKVM_CPUHP_ENABLED);
    select_cpu(&h, 4);
    assert_int_equal(vkvm_cpuhp_read(&h, VKVM_CPUHP_FLAGS, 1), 0);
    assert_int_equal(vkvm_cpuhp_write(&h, VKVM_CPUHP_FLAGS, VKVM_CPUHP_EJECT, 1), -1);
    select_cpu(&h, 0xffffffffu);
    assert_int_equal(vkvm_cpuhp_read(&h, VKVM_CPUHP_FLAGS, 1), 0);
    assert_int_equal(vkvm_cpuhp_read(&h, 6, 2), 0);
    /* reset: events dropped, plugged vCPUs stay */
    vkvm_cpuhp_init(&h, 4, 1);
    h.flags[2] = VKVM_CPUHP_ENABLED | VKVM_CPUHP_REMOVING;
    h.flags[3] = VKVM_CPUHP_INSERTING;
}

/* ---- an AML walker for the object-level terms vessel writes ---- */
struct walk {
    const uint8_t *end;
    char path[8][5];
    unsigned depth;
    char names[9][160][5];          /* the objects each open scope defines: no two alike */
    unsigned nnames[9];
    unsigned cpus, sta, mat, ej0, hid0007, scan_calls;
    bool cpus_dev, mutex, region, evt;
};

static size_t pkglen(const uint8_t *p, const uint8_t *end, size_t *nbytes)
{
    assert_true(p < end);
    size_t n = (p[0] >> 6) + 1;
    assert_true(p + n <= end);
    size_t v = n == 1 ? p[0] & 0x3f : p[0] & 0x0f;
    for (size_t i = 1; i < n; i++)
        v |= (size_t)p[i] << (4 + 8 * (i - 1));
    *nbytes = n;
    assert_true(v >= n && p + v <= end);        /* inside its parent */
    return v;
}

/* NameString: its length; the last segment into seg. */
static size_t name(const uint8_t *p, const uint8_t *end, char seg[5])
{
    const uint8_t *s = p;
    while (*p == '\\' || *p == '^')
        p++;
    unsigned n = 1;
    if (*p == 0x2e) { n = 2; p++; }
    else if (*p == 0x2f) { n = p[1]; p += 2; }
    assert_true(p + 4 * n <= end);
    for (unsigned i = 0; i < n; i++, p += 4)
        for (unsigned k = 0; k < 4; k++)
            assert_true((p[k] >= 'A' && p[k] <= 'Z') || (p[k] >= '0' && p[k] <= '9') || p[k] == '_');
    memcpy(seg, p - 4, 4);
    seg[4] = 0;
    return (size_t)(p - s);
}

/* A data object after a NameOp: integer, string, buffer or package. */
static size_t data(const uint8_t *p, const uint8_t *end)
{
    static const unsigned ints[] = { [0x0a] = 1, [0x0b] = 2, [0x0c] = 4, [0x0e] = 8 };
    size_t nb;
    switch (p[0]) {
    case 0x00: case 0x01: case 0xff: return 1;
    case 0x0a: case 0x0b: case 0x0c: case 0x0e: return 1 + ints[p[0]];
    case 0x0d: return 2 + strlen((const char *)p + 1);
    case 0x11: case 0x12: return 1 + pkglen(p + 1, end, &nb);
    default: fail_msg("unexpected data object %#x", p[0]);
    }
    return 0;
}

static void walk_terms(struct walk *w, const uint8_t *p, const uint8_t *end);

static void define(struct walk *w, const char *seg)
{
    unsigned d = w->depth;
    for (unsigned i = 0; i < w->nnames[d]; i++)
        if (!strcmp(w->names[d][i], seg))
            fail_msg("%s defined twice in %s", seg, d ? w->path[d - 1] : "\\");
    assert_true(w->nnames[d] < 160);
    memcpy(w->names[d][w->nnames[d]++], seg, 5);
}

static bool in_cpu(const struct walk *w)
{
    return w->depth >= 1 && w->path[w->depth - 1][0] == 'C' && strcmp(w->path[w->depth - 1], "CPUS");
}

static const uint8_t *walk_one(struct walk *w, const uint8_t *p, const uint8_t *end)
{
    char seg[5];
    size_t nb, len;
    if (p[0] == 0x08) {                                         /* Name */
        p += 1 + name(p + 1, end, seg);
        define(w, seg);
        if (in_cpu(w) && !strcmp(seg, "_MAT")) {
            assert_int_equal(p[0], 0x11);
            size_t bl = pkglen(p + 1, end, &nb);
            const uint8_t *b = p + 1 + nb;
            assert_int_equal(b[0], 0x0a);
            assert_int_equal(b[1], 8);
            assert_true(b + 2 + 8 <= p + 1 + bl);
            unsigned uid = (unsigned)strtoul(w->path[w->depth - 1] + 1, NULL, 16);
            assert_int_equal(b[2], 0);                          /* Processor Local APIC */
            assert_int_equal(b[3], 8);
            assert_int_equal(b[4], uid);
            assert_int_equal(b[5], uid);
            assert_int_equal(rd32(b + 6), 1);                   /* enabled */
            w->mat++;
        }
        if (in_cpu(w) && !strcmp(seg, "_HID") && p[0] == 0x0d && !strcmp((const char *)p + 1, "ACPI0007"))
            w->hid0007++;
        return p + data(p, end);
    }
    if (p[0] == 0x10 || (p[0] == 0x5b && p[1] == 0x82)) {       /* Scope, Device */
        const uint8_t *q = p + (p[0] == 0x10 ? 1 : 2);
        len = pkglen(q, end, &nb);
        const uint8_t *pend = q + len;
        q += nb;
        q += name(q, pend, seg);
        assert_true(w->depth < 8);
        if (p[0] != 0x10)
            define(w, seg);
        memcpy(w->path[w->depth++], seg, 5);
        w->nnames[w->depth] = 0;
        if (!strcmp(seg, "CPUS"))
            w->cpus_dev = true;
        else if (p[0] != 0x10 && w->depth >= 2 && !strcmp(w->path[w->depth - 2], "CPUS"))
            w->cpus++;
        walk_terms(w, q, pend);
        w->depth--;
        return pend;
    }
    if (p[0] == 0x14) {                                         /* Method: body not walked */
        len = pkglen(p + 1, end, &nb);
        const uint8_t *q = p + 1 + nb, *mend = p + 1 + len;
        q += name(q, mend, seg);
        define(w, seg);
        if (in_cpu(w) && !strcmp(seg, "_STA"))
            w->sta++;
        if (in_cpu(w) && !strcmp(seg, "_EJ0")) {
            assert_int_equal(q[0], 1);                          /* one argument */
            w->ej0++;
        }
        if (!strcmp(seg, "_EVT")) {
            w->evt = true;
            w->scan_calls += memmem(q, (size_t)(mend - q), "\\/\x03_SB_CPUSCSCN", 15) != NULL;
        }
        return mend;
    }
    if (p[0] == 0x5b && p[1] == 0x80) {                         /* OperationRegion */
        p += 2 + name(p + 2, end, seg);
        define(w, seg);
        if (!strcmp(seg, "CPRG")) {
            assert_int_equal(p[1], 0x0c);
            assert_int_equal(rd32(p + 2), VKVM_CPUHP_BASE);
            w->region = true;
        }
        p++;                                                    /* space */
        p += data(p, end);
        return p + data(p, end);
    }
    if (p[0] == 0x5b && p[1] == 0x81) {                         /* Field: its units are names here */
        len = pkglen(p + 2, end, &nb);
        const uint8_t *q = p + 2 + nb, *fend = p + 2 + len;
        q += name(q, fend, seg);
        q++;                                                    /* flags */
        while (q < fend) {
            if (q[0] == 0x00) {                                 /* reserved bits */
                q++;
            } else {
                memcpy(seg, q, 4);
                seg[4] = 0;
                define(w, seg);
                q += 4;
            }
            q += (q[0] >> 6) + 1;                               /* a bit count, PkgLength-encoded */
        }
        assert_ptr_equal(q, fend);
        return fend;
    }
    if (p[0] == 0x5b && p[1] == 0x01) {                         /* Mutex */
        p += 2 + name(p + 2, end, seg);
        define(w, seg);
        w->mutex |= !strcmp(seg, "CPLK");
        return p + 1;
    }
    fail_msg("unexpected term %#x %#x in %s", p[0], p[1], w->depth ? w->path[w->depth - 1] : "\\");
    return end;
}

static void walk_terms(struct walk *w, const uint8_t *p, const uint8_t *end)
{
    while (p < end)
        p = walk_one(w, p, end);
    assert_ptr_equal(p, end);
}

static void check(unsigned boot, unsigned max, uint64_t present)
{
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(vkvm_mem_layout(&m, 32ULL << 20), 0);
    struct vkvm_acpi_config c = { .ncpus = max, .present = present, .cpu_hotplug = true, .pci = true, .nvirtio = 1,
                                  .virtio_base = { 1 }, .virtio_irq = { 5 } };
    assert_int_equal(vkvm_acpi_build(&m, &c), 0);
    const uint8_t *rsdp = mem_translate(&m, VKVM_ACPI_ADDR, 36);
    const uint8_t *xsdt = mem_translate(&m, rd64(rsdp + 24), 36);
    const uint8_t *fadt = mem_translate(&m, rd64(xsdt + 36), 276);
    const uint8_t *madt = mem_translate(&m, rd64(xsdt + 44), 44);
    uint32_t mlen = rd32(madt + 4);
    madt = mem_translate(&m, rd64(xsdt + 44), mlen);
    assert_int_equal(vkvm_acpi_checksum(madt, mlen), 0);
    unsigned enabled = 0, capable = 0;
    for (uint32_t off = 44; off < mlen; off += madt[off + 1])
        if (madt[off] == 0) {
            unsigned i = madt[off + 3];
            uint32_t fl = rd32(madt + off + 4);
            assert_int_equal(fl, present >> i & 1 ? 1 : 2);
            enabled += fl == 1;
            capable += fl == 2;
        }
    assert_int_equal(enabled, boot);
    assert_int_equal(capable, max - boot);

    uint64_t dgpa = rd64(fadt + 140);
    const uint8_t *dsdt = mem_translate(&m, dgpa, 36);
    uint32_t dlen = rd32(dsdt + 4);
    dsdt = mem_translate(&m, dgpa, dlen);
    assert_int_equal(vkvm_acpi_checksum(dsdt, dlen), 0);
    struct walk w = { .end = dsdt + dlen };
    walk_terms(&w, dsdt + 36, dsdt + dlen);
    assert_true(w.cpus_dev);
    assert_true(w.mutex);
    assert_true(w.region);
    assert_true(w.evt);
    assert_int_equal(w.scan_calls, 1);
    assert_int_equal(w.cpus, max);
    assert_int_equal(w.hid0007, max);
    assert_int_equal(w.sta, max);
    assert_int_equal(w.mat, max);
    assert_int_equal(w.ej0, max - 1);                           /* not on the boot CPU */
    mem_destroy(&m);
}

static void test_tables(void **state)
{
    (void)state;
    check(1, 2, 1);
    check(2, 4, 0x3);
    check(3, 8, 0x83);          /* a vCPU plugged before a reset: enabled in the new MADT */
    check(1, VKVM_MAX_VCPUS, 1);
}

static void test_bad_present(void **state)
{
    (void)state;
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(vkvm_mem_layout(&m, 32ULL << 20), 0);
    struct vkvm_acpi_config c = { .ncpus = 2, .present = 2, .cpu_hotplug = true };
    assert_int_equal(vkvm_acpi_build(&m, &c), -EINVAL);         /* vCPU 0 absent */
    c.present = 5;
    assert_int_equal(vkvm_acpi_build(&m, &c), -EINVAL);         /* one past ncpus */
    mem_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registers),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_bad_present),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
