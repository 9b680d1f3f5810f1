/* kvm/x86 acpi.c: build the tables into guest memory and parse them back
 * as a guest would: RSDP -> XSDT -> FADT -> DSDT, MADT; checksums,
 * lengths, MADT entries, the AML's package lengths. No /dev/kvm needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/x86/kvm.h"

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* The table at gpa with signature sig: checksum 0, returns it and its length. */
static uint8_t *table(struct guest_mem *m, uint64_t gpa, const char *sig, uint32_t *len)
{
    uint8_t *t = mem_translate(m, gpa, 36);
    assert_non_null(t);
    assert_memory_equal(t, sig, 4);
    *len = rd32(t + 4);
    assert_true(*len >= 36);
    assert_true(gpa + *len <= VKVM_ACPI_ADDR + VKVM_ACPI_SIZE);
    t = mem_translate(m, gpa, *len);
    assert_int_equal(vkvm_acpi_checksum(t, *len), 0);
    return t;
}

/* AML PkgLength at p: the package's length (counting its own bytes). */
static size_t pkglen(const uint8_t *p, size_t *nbytes)
{
    size_t n = (p[0] >> 6) + 1;
    size_t v = n == 1 ? p[0] & 0x3f : p[0] & 0x0f;
    for (size_t i = 1; i < n; i++)
        v |= (size_t)p[i] << (4 + 8 * (i - 1));
    *nbytes = n;
    return v;
}

static size_t count(const uint8_t *p, size_t len, const void *pat, size_t plen)
{
    size_t c = 0;
    for (size_t i = 0; i + plen <= len; i++)
        c += !memcmp(p + i, pat, plen);
    return c;
}

static void check(unsigned ncpus, unsigned nvirtio, bool pci)
{
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(vkvm_mem_layout(&m, 32ULL << 20), 0);
    struct vkvm_acpi_config c = { .ncpus = ncpus, .nvirtio = nvirtio, .pci = pci };
    for (unsigned i = 0; i < nvirtio; i++) {
        c.virtio_base[i] = pci ? i + 1 : VKVM_VIRTIO_MMIO_BASE + i * VKVM_VIRTIO_MMIO_STRIDE;
        c.virtio_irq[i] = VKVM_VIRTIO_FIRST_IRQ + i;
    }
    assert_int_equal(vkvm_acpi_build(&m, &c), 0);

    /* RSDP: on a 16-byte boundary in the BIOS area, both checksums, rev 2 */
    uint8_t *rsdp = mem_translate(&m, VKVM_ACPI_ADDR, 36);
    assert_memory_equal(rsdp, "RSD PTR ", 8);
    assert_int_equal(vkvm_acpi_checksum(rsdp, 20), 0);
    assert_int_equal(rsdp[15], 2);
    assert_int_equal(rd32(rsdp + 20), 36);
    assert_int_equal(vkvm_acpi_checksum(rsdp, 36), 0);

    uint32_t xlen, flen, mlen, dlen;
    uint8_t *xsdt = table(&m, rd64(rsdp + 24), "XSDT", &xlen);
    assert_int_equal((xlen - 36) % 8, 0);
    uint8_t *fadt = NULL, *madt = NULL, *mcfg = NULL;
    uint32_t clen = 0;
    for (uint32_t off = 36; off < xlen; off += 8) {
        uint64_t a = rd64(xsdt + off);
        uint8_t *t = mem_translate(&m, a, 4);
        assert_non_null(t);
        if (!memcmp(t, "FACP", 4)) fadt = table(&m, a, "FACP", &flen);
        else if (!memcmp(t, "APIC", 4)) madt = table(&m, a, "APIC", &mlen);
        else if (!memcmp(t, "MCFG", 4)) mcfg = table(&m, a, "MCFG", &clen);
        else fail_msg("unexpected table %.4s", (const char *)t);
    }
    assert_non_null(fadt);
    assert_non_null(madt);
    /* MCFG (pci only): one allocation, the ECAM of segment 0, bus 0 */
    assert_int_equal(mcfg != NULL, pci);
    if (mcfg) {
        assert_int_equal(clen, 44 + 16);
        assert_int_equal(rd64(mcfg + 44), VKVM_PCI_ECAM_BASE);
        assert_int_equal(mcfg[52] | mcfg[53] << 8, 0);
        assert_int_equal(mcfg[54], 0);
        assert_int_equal(mcfg[55], 0);
    }

    /* FADT: 6.x length, hardware-reduced, reset register, sleep registers */
    assert_int_equal(flen, 276);
    assert_true(rd32(fadt + 112) & 1u << 20);
    assert_false(rd32(fadt + 112) & 1u << 10);          /* no reset register: i8042 */
    assert_int_equal(rd64(fadt + 244 + 4), VKVM_ACPI_REGS_BASE + VKVM_ACPI_REG_SLEEP_CTL);
    assert_int_equal(rd64(fadt + 256 + 4), VKVM_ACPI_REGS_BASE + VKVM_ACPI_REG_SLEEP_STS);
    assert_int_equal(rd64(fadt + 140), rd32(fadt + 40));

    /* MADT: one enabled local APIC per vCPU (ids 0..n-1), one IOAPIC, the
     * entries fill the table exactly */
    assert_int_equal(rd32(madt + 36), 0xfee00000u);
    unsigned cpus = 0, ioapics = 0, nmis = 0;
    uint32_t off = 44;
    while (off < mlen) {
        uint8_t type = madt[off], len = madt[off + 1];
        assert_true(len >= 2 && off + len <= mlen);
        if (type == 0) {
            assert_int_equal(len, 8);
            assert_int_equal(madt[off + 3], cpus);
            assert_int_equal(rd32(madt + off + 4) & 1, 1);
            cpus++;
        } else if (type == 1) {
            assert_int_equal(len, 12);
            assert_int_equal(rd32(madt + off + 4), 0xfec00000u);
            assert_int_equal(rd32(madt + off + 8), 0);
            ioapics++;
        } else if (type == 4) {
            nmis++;
        } else {
            fail_msg("unexpected MADT entry type %u", type);
        }
        off += len;
    }
    assert_int_equal(off, mlen);
    assert_int_equal(cpus, ncpus);
    assert_int_equal(ioapics, 1);
    assert_int_equal(nmis, 1);

    /* DSDT: Name(\_S5, Package) then Scope(\_SB) whose PkgLength ends
     * exactly at the table's end; one LNRO0005 per virtio slot, the COM1,
     * power button and GED devices */
    uint8_t *dsdt = table(&m, rd64(fadt + 140), "DSDT", &dlen);
    const uint8_t *p = dsdt + 36;
    assert_int_equal(p[0], 0x08);
    assert_memory_equal(p + 1, "\\_S5_", 5);
    assert_int_equal(p[6], 0x12);
    size_t nb, plen = pkglen(p + 7, &nb);
    assert_int_equal(p[7 + nb], 4);                     /* 4 elements */
    assert_int_equal(p[7 + nb + 1], 0x0a);              /* ByteConst 5 */
    assert_int_equal(p[7 + nb + 2], VKVM_ACPI_SLP_TYP_S5);
    p += 7 + plen;
    assert_int_equal(p[0], 0x10);
    plen = pkglen(p + 1, &nb);
    assert_int_equal(p + 1 + plen, dsdt + dlen);
    assert_memory_equal(p + 1 + nb, "\\_SB_", 5);
    assert_int_equal(count(dsdt, dlen, "LNRO0005", 8), pci ? 0 : nvirtio);
    assert_int_equal(count(dsdt, dlen, "ACPI0013", 8), 1);
    assert_int_equal(count(dsdt, dlen, "_EVT", 4), 1);
    assert_int_equal(count(dsdt, dlen, (const uint8_t[]){ 0x5b, 0x82 }, 2), pci ? 5 : nvirtio + 3);
    if (pci) {
        /* PCI0 with _CRS (bus 0, the window) and a _PRT of one 4-element
         * package per device; MRES reserving the ECAM */
        assert_int_equal(count(dsdt, dlen, "PCI0", 4), 1);
        assert_int_equal(count(dsdt, dlen, "MRES", 4), 1);
        const uint8_t *prt = memmem(dsdt, dlen, "_PRT", 4);
        assert_non_null(prt);
        assert_int_equal(prt[4], 0x12);
        size_t pn, pl = pkglen(prt + 5, &pn);
        assert_int_equal(prt[5 + pn], nvirtio);
        assert_true(prt + 5 + pl <= dsdt + dlen);
        const uint8_t win[] = { VKVM_PCI_MMIO_BASE & 0xff, (VKVM_PCI_MMIO_BASE >> 8) & 0xff,
                                (VKVM_PCI_MMIO_BASE >> 16) & 0xff, VKVM_PCI_MMIO_BASE >> 24 };
        const uint8_t *mem = memmem(dsdt, dlen, (const uint8_t[]){ 0x87, 0x17, 0x00, 0x00, 0x0c }, 5);
        assert_non_null(mem);
        assert_memory_equal(mem + 10, win, 4);
    }
    mem_destroy(&m);
}

static void test_tables(void **state)
{
    (void)state;
    check(1, 0, false);
    check(2, 3, false);
    check(VKVM_MAX_VCPUS, VKVM_ACPI_GED_IRQ - VKVM_VIRTIO_FIRST_IRQ, false);  /* 18 slots: the \\_SB scope needs a 2-byte PkgLength */
    check(1, 0, true);
    check(2, 4, true);
    check(VKVM_MAX_VCPUS, VKVM_ACPI_GED_IRQ - VKVM_VIRTIO_FIRST_IRQ, true);
}

static void test_bad_config(void **state)
{
    (void)state;
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(vkvm_mem_layout(&m, 32ULL << 20), 0);
    struct vkvm_acpi_config c = { .ncpus = 0 };
    assert_int_equal(vkvm_acpi_build(&m, &c), -EINVAL);
    c.ncpus = VKVM_MAX_VCPUS + 1;
    assert_int_equal(vkvm_acpi_build(&m, &c), -EINVAL);
    c.ncpus = 1;
    c.nvirtio = VKVM_ACPI_MAX_VIRTIO + 1;
    assert_int_equal(vkvm_acpi_build(&m, &c), -EINVAL);
    mem_destroy(&m);
}

/* ACPI PCI hotplug: the DSDT of a PCI machine with `nboot` boot devices
 * and the other slots of 1..VKVM_PCI_HP_SLOTS hot-pluggable, parsed back:
 * checksum and the \_SB scope's length as in check(), a _PRT entry per
 * slot (INTA -> GSI FIRST_IRQ - 1 + n), one Device(Sxx) per slot whose
 * package holds its _ADR (n << 16) and _SUN and, for the hot-pluggable
 * ones only, an _EJ0 that stores 1 << n into B0EJ; the register block's
 * OperationRegion, PCNT, and the GED's call of it. */
static void check_pcihp(unsigned nboot)
{
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(vkvm_mem_layout(&m, 32ULL << 20), 0);
    uint32_t slots = ((2u << VKVM_PCI_HP_SLOTS) - 1) & ~1u;
    struct vkvm_acpi_config c = { .ncpus = 2, .nvirtio = nboot, .pci = true };
    for (unsigned i = 0; i < nboot; i++) {
        c.virtio_base[i] = i + 1;
        c.virtio_irq[i] = VKVM_VIRTIO_FIRST_IRQ + i;
        slots &= ~(1u << (i + 1));
    }
    c.pci_hotplug = slots;
    assert_int_equal(vkvm_acpi_build(&m, &c), 0);
    uint8_t *rsdp = mem_translate(&m, VKVM_ACPI_ADDR, 36);
    uint32_t xlen, flen, dlen;
    uint8_t *xsdt = table(&m, rd64(rsdp + 24), "XSDT", &xlen);
    uint8_t *fadt = table(&m, rd64(xsdt + 36), "FACP", &flen);
    uint8_t *dsdt = table(&m, rd64(fadt + 140), "DSDT", &dlen);
    const uint8_t *sb = memmem(dsdt, dlen, (const uint8_t[]){ 0x10 }, 1);
    while (sb && memcmp(sb + 1 + (((sb[1] >> 6) + 1)), "\\_SB_", 5))
        sb = memmem(sb + 1, (size_t)(dsdt + dlen - sb - 1), (const uint8_t[]){ 0x10 }, 1);
    assert_non_null(sb);
    size_t nb, plen = pkglen(sb + 1, &nb);
    assert_int_equal(sb + 1 + plen, dsdt + dlen);
    /* _PRT: VKVM_PCI_HP_SLOTS packages of 4 */
    const uint8_t *prt = memmem(dsdt, dlen, "_PRT", 4);
    assert_non_null(prt);
    size_t pn;
    pkglen(prt + 5, &pn);
    assert_int_equal(prt[5 + pn], VKVM_PCI_HP_SLOTS);
    const uint8_t *e = prt + 5 + pn + 1;
    for (unsigned n = 1; n <= VKVM_PCI_HP_SLOTS; n++) {
        size_t en, el = pkglen(e + 1, &en);
        assert_int_equal(e[0], 0x12);
        assert_int_equal(e[1 + en], 4);
        assert_int_equal(e[1 + en + 1], 0x0c);                      /* DWordConst addr */
        assert_int_equal(rd32(e + 1 + en + 2), n << 16 | 0xffff);
        assert_int_equal(e[1 + el - 2], 0x0a);                      /* ByteConst GSI, last */
        assert_int_equal(e[1 + el - 1], VKVM_VIRTIO_FIRST_IRQ - 1 + n);
        e += 1 + el;
    }
    /* the slot devices */
    unsigned ej = 0;
    for (unsigned n = 1; n <= VKVM_PCI_HP_SLOTS; n++) {
        char name[5];
        snprintf(name, sizeof(name), "S%02X", n);
        uint8_t pat[7] = { 0x5b, 0x82 };
        const uint8_t *d = NULL;
        for (const uint8_t *q = dsdt; (q = memmem(q, (size_t)(dsdt + dlen - q), pat, 2)); q++) {
            size_t dn;
            pkglen(q + 2, &dn);
            if (!memcmp(q + 2 + dn, name, 3) && q[2 + dn + 3] == '_') {
                d = q;
                break;
            }
        }
        assert_non_null(d);
        size_t dn, dl = pkglen(d + 2, &dn);
        const uint8_t *body = d + 2 + dn + 4, *end = d + 2 + dl;
        assert_true(end <= sb + 1 + plen);
        const uint8_t *adr = memmem(body, (size_t)(end - body), "_ADR", 4);
        assert_non_null(adr);
        assert_int_equal(adr[4], 0x0c);
        assert_int_equal(rd32(adr + 5), n << 16);
        assert_non_null(memmem(body, (size_t)(end - body), "_SUN", 4));
        const uint8_t *ej0 = memmem(body, (size_t)(end - body), "_EJ0", 4);
        assert_int_equal(ej0 != NULL, !!(slots >> n & 1));
        if (ej0) {
            /* Store(1 << n, B0EJ): the constant as the smallest integer encoding */
            const uint8_t *st = memmem(ej0, (size_t)(end - ej0), (const uint8_t[]){ 0x70 }, 1);
            assert_non_null(st);
            unsigned w = st[1] == 0x0a ? 1 : st[1] == 0x0b ? 2 : st[1] == 0x0c ? 4 : 0;
            assert_true(w != 0);
            uint32_t v = 0;
            for (unsigned i = 0; i < w; i++)
                v |= (uint32_t)st[2 + i] << (8 * i);
            assert_int_equal(v, 1u << n);
            assert_memory_equal(st + 2 + w, "B0EJ", 4);
            ej++;
        }
    }
    assert_int_equal(ej, (unsigned)__builtin_popcount(slots));
    assert_int_equal(count(dsdt, dlen, "_EJ0", 4), ej);
    assert_int_equal(count(dsdt, dlen, (const uint8_t[]){ 0x5b, 0x82 }, 2), 5 + VKVM_PCI_HP_SLOTS);
    const uint8_t *rg = memmem(dsdt, dlen, "PCHR", 4);     /* OperationRegion(PCHR, SystemMemory, base, 16) */
    assert_non_null(rg);
    assert_int_equal(rg[-2], 0x5b);
    assert_int_equal(rg[-1], 0x80);
    assert_int_equal(rg[4], 0);
    assert_int_equal(rg[5], 0x0c);
    assert_int_equal(rd32(rg + 6), VKVM_PCIHP_BASE);
    assert_int_equal(count(dsdt, dlen, "PCNT", 4), 2);      /* the method and the GED's call */
    assert_non_null(memmem(dsdt, dlen, "_SB_PCI0PCNT", 12));   /* \_SB.PCI0.PCNT in _EVT */
    mem_destroy(&m);
}

static void test_pcihp_dsdt(void **state)
{
    (void)state;
    check_pcihp(0);
    check_pcihp(3);
    check_pcihp(VKVM_PCI_HP_SLOTS - 1);
    /* the whole config is checked: a slot past the last, the host
     * bridge's, a boot device whose INTA is not the slot's GSI */
    struct guest_mem m;
    mem_init(&m);
    assert_int_equal(vkvm_mem_layout(&m, 32ULL << 20), 0);
    struct vkvm_acpi_config c = { .ncpus = 1, .pci = true, .pci_hotplug = 1u << (VKVM_PCI_HP_SLOTS + 1) };
    assert_int_equal(vkvm_acpi_build(&m, &c), -EINVAL);
    c.pci_hotplug = 1;
    assert_int_equal(vkvm_acpi_build(&m, &c), -EINVAL);
    c.pci_hotplug = 4;
    c.nvirtio = 1;
    c.virtio_base[0] = 1;
    c.virtio_irq[0] = 9;
    assert_int_equal(vkvm_acpi_build(&m, &c), -EINVAL);
    c.virtio_irq[0] = VKVM_VIRTIO_FIRST_IRQ;
    assert_int_equal(vkvm_acpi_build(&m, &c), 0);
    mem_destroy(&m);
}

struct line { int level; unsigned sets; };
static void line_set(void *opaque, unsigned n, int level)
{
    struct line *l = opaque;
    assert_int_equal(n, VKVM_ACPI_GED_IRQ);
    l->level = level;
    l->sets++;
}

/* The register block: S5 powers off, other sleep types and other values do
 * nothing; port 0xcf9 resets on RST_CPU; a press raises the GED line
 * and sets the event, which a read returns once and clears. */
static void test_registers(void **state)
{
    (void)state;
    struct line l = { 0 };
    struct vkvm_acpi a = { .irq = { line_set, &l, VKVM_ACPI_GED_IRQ } };
    assert_int_equal(vkvm_acpi_reg_write(&a, VKVM_ACPI_REG_SLEEP_CTL, 5 << 2 | 0x20, 1), VKVM_ACPI_POWEROFF);
    assert_int_equal(vkvm_acpi_reg_write(&a, VKVM_ACPI_REG_SLEEP_CTL, 5 << 2, 1), VKVM_ACPI_NONE);
    assert_int_equal(vkvm_acpi_reg_write(&a, VKVM_ACPI_REG_SLEEP_CTL, 3 << 2 | 0x20, 1), VKVM_ACPI_NONE);
    assert_int_equal(vkvm_acpi_reg_write(&a, VKVM_ACPI_REG_SLEEP_STS, 0xff, 1), VKVM_ACPI_NONE);
    assert_int_equal(vkvm_acpi_reg_write(&a, 2, VKVM_ACPI_RESET_VALUE, 1), VKVM_ACPI_NONE);
    assert_int_equal(vkvm_acpi_rcr_write(VKVM_ACPI_RESET_VALUE), VKVM_ACPI_RESET);
    assert_int_equal(vkvm_acpi_rcr_write(0x02), VKVM_ACPI_NONE);
    assert_int_equal(vkvm_acpi_reg_write(&a, VKVM_ACPI_REG_EVENT, VKVM_ACPI_RESET_VALUE, 4), VKVM_ACPI_NONE);
    assert_int_equal(vkvm_acpi_reg_read(&a, VKVM_ACPI_REG_EVENT, 4), 0);
    assert_int_equal(vkvm_acpi_press(&a), 0);
    assert_int_equal(l.level, 1);
    assert_int_equal(vkvm_acpi_reg_read(&a, VKVM_ACPI_REG_SLEEP_CTL, 1), 0);
    assert_int_equal(l.level, 1);
    assert_int_equal(vkvm_acpi_reg_read(&a, VKVM_ACPI_REG_EVENT, 4), VKVM_ACPI_EVENT_PWRBTN);
    assert_int_equal(l.level, 0);
    assert_int_equal(vkvm_acpi_reg_read(&a, VKVM_ACPI_REG_EVENT, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_registers),
        cmocka_unit_test(test_pcihp_dsdt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
