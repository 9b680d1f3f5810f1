/* ACPI for `vessel kvm`: RSDP, XSDT, a hardware-reduced FADT, MADT and a
 * DSDT written by a small AML writer (no iasl at build time), in the BIOS
 * area at VKVM_ACPI_ADDR where Linux's RSDP scan finds them. The DSDT
 * describes COM1, the virtio-mmio slots (LNRO0005, what Linux's
 * virtio_mmio binds to without the kernel command line), the power button
 * (PNP0C0C) and a generic event device (ACPI0013) whose _EVT turns an event
 * bit of vessel's register block into Notify(PWRB, 0x80). The same block
 * holds the FADT's sleep control/status registers: S5 written to sleep
 * control powers off. Resets come through the reset control port 0xcf9
 * (RST_CPU) or the i8042; the FADT has no reset register (see below). */
#include "kvm/x86/internal.h"

#include <errno.h>
#include <string.h>

#include "dev/pci/pci.h"

#include "kvm/x86/aml.h"

static void le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The PCI root: bus 0, the config ports, the BAR window; the _PRT routes
 * INTA of each device to its own GSI (level; vessel's lines are not
 * shared). The ECAM is reserved by a motherboard-resources device, which
 * is what Linux checks before it uses the MCFG. */
static void dsdt_pci(struct aml *a, const struct vkvm_acpi_config *c)
{
    aml_device_eisa(a, "PCI0", "PNP0A08", 0);
    aml_byte(a, 0x08);
    aml_name(a, "_CID");
    aml_eisaid(a, "PNP0A03");
    aml_name_int(a, "_SEG", 0);
    aml_name_int(a, "_BBN", 0);
    uint8_t r[64] = { 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00 };   /* WordBusNumber(ResourceProducer, 0-0) */
    le(r + 14, 1, 2);                                           /* length 1 */
    const uint8_t io[] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };   /* IO(Decode16, 0xcf8, 8) */
    memcpy(r + 16, io, sizeof(io));
    uint8_t *m = r + 24;                                        /* DWordMemory(ResourceProducer, RW) */
    m[0] = 0x87; m[1] = 0x17; m[2] = 0x00;
    m[3] = 0x00;                                                /* memory range */
    m[4] = 0x0c;                                                /* MinFixed, MaxFixed, producer */
    m[5] = 0x01;                                                /* read-write, non-cacheable */
    le(m + 6, 0, 4);                                            /* granularity */
    le(m + 10, VKVM_PCI_MMIO_BASE, 4);
    le(m + 14, VKVM_PCI_MMIO_BASE + VKVM_PCI_MMIO_SIZE - 1, 4);
    le(m + 18, 0, 4);                                           /* translation */
    le(m + 22, VKVM_PCI_MMIO_SIZE, 4);
    aml_crs(a, r, 24 + 26);
    /* with hotplug, every slot that may ever hold a device: slot n's
     * INTA is GSI FIRST_IRQ - 1 + n, as the boot devices' */
    unsigned nprt = c->pci_hotplug ? VKVM_PCI_HP_SLOTS : c->nvirtio;
    aml_byte(a, 0x08);                                          /* Name(_PRT, Package() {...}) */
    aml_name(a, "_PRT");
    aml_begin(a, OP_PACKAGE, 1);
    aml_byte(a, (uint8_t)nprt);
    for (unsigned i = 0; i < nprt; i++) {
        uint64_t dev = c->pci_hotplug ? i + 1 : c->virtio_base[i];
        aml_begin(a, OP_PACKAGE, 1);
        aml_byte(a, 4);
        aml_int(a, dev << 16 | 0xffff);                         /* any function of the device */
        aml_int(a, 0);                                          /* INTA */
        aml_int(a, 0);                                          /* no link device: a GSI */
        aml_int(a, c->pci_hotplug ? VKVM_VIRTIO_FIRST_IRQ - 1 + dev : c->virtio_irq[i]);
        aml_end(a);
    }
    aml_end(a);
    if (c->pci_hotplug)
        vkvm_pcihp_aml(a, c->pci_hotplug);
    aml_end(a);                     /* PCI0 */

    aml_device_eisa(a, "MRES", "PNP0C02", 1);
    {
        uint8_t e[12] = { 0x86, 9, 0, 0 };                      /* Memory32Fixed(ReadOnly, ECAM) */
        le(e + 4, VKVM_PCI_ECAM_BASE, 4);
        le(e + 8, PCI_ECAM_SIZE, 4);
        aml_crs(a, e, sizeof(e));
    }
    aml_end(a);
}

static void dsdt_aml(struct aml *a, const struct vkvm_acpi_config *c)
{
    /* \_S5: SLP_TYP 5 for the sleep control register */
    aml_byte(a, 0x08);
    aml_name(a, "\\_S5");
    aml_begin(a, OP_PACKAGE, 1);
    aml_byte(a, 4);
    aml_int(a, VKVM_ACPI_SLP_TYP_S5);
    aml_int(a, 0);
    aml_int(a, 0);
    aml_int(a, 0);
    aml_end(a);

    aml_begin(a, OP_SCOPE, 1);
    aml_name(a, "\\_SB");

    aml_begin(a, OP_DEVICE, 2);     /* COM1: the 8250 */
    aml_name(a, "COM1");
    aml_byte(a, 0x08);
    aml_name(a, "_HID");
    aml_eisaid(a, "PNP0501");
    aml_name_int(a, "_UID", 1);
    {
        const uint8_t r[] = { 0x47, 0x01, VKVM_COM1_PORT & 0xff, VKVM_COM1_PORT >> 8, VKVM_COM1_PORT & 0xff,
                              VKVM_COM1_PORT >> 8, 0x01, 0x08,               /* IO(Decode16, 0x3f8, 0x3f8, 1, 8) */
                              0x22, 1u << VKVM_COM1_IRQ, 0 };                 /* IRQNoFlags() { 4 } */
        aml_crs(a, r, sizeof(r));
    }
    aml_end(a);

    if (c->pci)
        dsdt_pci(a, c);
    for (unsigned i = 0; i < c->nvirtio && !c->pci; i++) {
        char name[5];
        static const char hex[] = "0123456789ABCDEF";
        name[0] = 'V'; name[1] = 'R'; name[2] = hex[(i >> 4) & 15]; name[3] = hex[i & 15]; name[4] = 0;
        aml_begin(a, OP_DEVICE, 2);
        aml_name(a, name);
        aml_name_string(a, "_HID", "LNRO0005");
        aml_name_int(a, "_UID", i);
        uint8_t r[32];
        aml_crs(a, r, res_mem_irq(r, (uint32_t)c->virtio_base[i], VKVM_VIRTIO_MMIO_SIZE, c->virtio_irq[i]));
        aml_end(a);
    }

    aml_begin(a, OP_DEVICE, 2);     /* the power button, notified by GED0 */
    aml_name(a, "PWRB");
    aml_byte(a, 0x08);
    aml_name(a, "_HID");
    aml_eisaid(a, "PNP0C0C");
    aml_name_int(a, "_UID", 0);
    aml_end(a);

    aml_begin(a, OP_DEVICE, 2);     /* generic event device */
    aml_name(a, "GED0");
    aml_name_string(a, "_HID", "ACPI0013");
    aml_name_int(a, "_UID", 0);
    {
        uint8_t r[32];
        size_t n = res_mem_irq(r, 0, 0, VKVM_ACPI_GED_IRQ);
        aml_crs(a, r + 12, n - 12);   /* the interrupt only */
    }
    /* OperationRegion(EREG, SystemMemory, base + EVT, 4) */
    aml_bytes(a, (const uint8_t[]){ 0x5b, 0x80 }, 2);
    aml_name(a, "EREG");
    aml_byte(a, 0x00);
    aml_int(a, VKVM_ACPI_REGS_BASE + VKVM_ACPI_REG_EVENT);
    aml_int(a, 4);
    /* Field(EREG, DWordAcc, NoLock, Preserve) { ESEL, 32 } */
    aml_begin(a, OP_FIELD, 2);
    aml_name(a, "EREG");
    aml_byte(a, 0x03);
    aml_seg(a, "ESEL", 4);
    aml_byte(a, 32);
    aml_end(a);
    /* Method(_EVT, 1, Serialized) { Local0 = ESEL; If (Local0 & 1) { Notify(\_SB.PWRB, 0x80) } } */
    aml_begin(a, OP_METHOD, 1);
    aml_name(a, "_EVT");
    aml_byte(a, 0x09);
    aml_byte(a, 0x70);              /* Store */
    aml_name(a, "ESEL");
    aml_byte(a, 0x60);              /* Local0 */
    aml_begin(a, OP_IF, 1);
    aml_byte(a, 0x7b);              /* And(Local0, 1, Zero) */
    aml_byte(a, 0x60);
    aml_int(a, VKVM_ACPI_EVENT_PWRBTN);
    aml_byte(a, 0x00);
    aml_byte(a, 0x86);              /* Notify */
    aml_name(a, "\\_SB.PWRB");
    aml_int(a, 0x80);
    aml_end(a);
    if (c->pci && c->pci_hotplug) { /* If (Local0 & 4) { \_SB.PCI0.PCNT() } */
        aml_begin(a, OP_IF, 1);
        aml_byte(a, AML_AND);
        aml_byte(a, AML_LOCAL0);
        aml_int(a, VKVM_ACPI_EVENT_PCIHP);
        aml_byte(a, AML_ZERO);
        aml_name(a, "\\_SB.PCI0.PCNT");
        aml_end(a);
    }
    if (c->cpu_hotplug) {           /* If (Local0 & 2) { \_SB.CPUS.CSCN() } */
        aml_begin(a, OP_IF, 1);
        aml_byte(a, AML_AND);
        aml_byte(a, AML_LOCAL0);
        aml_int(a, VKVM_ACPI_EVENT_CPUHP);
        aml_byte(a, AML_ZERO);
        aml_name(a, "\\_SB.CPUS.CSCN");
        aml_end(a);
    }
    aml_end(a);
    aml_end(a);                     /* GED0 */

    if (c->cpu_hotplug)
        vkvm_cpuhp_aml(a, c->ncpus);
    aml_end(a);                     /* \_SB */
}

/* ---- tables ---- */
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

uint8_t vkvm_acpi_checksum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* Standard header; the checksum is set by table_done. */
static void table_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    put32(t + 4, len);
    t[8] = rev;
    memcpy(t + 10, "VESSEL", 6);
    memcpy(t + 16, "VESSELVM", 8);
    put32(t + 24, 1);
    memcpy(t + 28, "VSSL", 4);
    put32(t + 32, 1);
}
static void table_done(uint8_t *t, uint32_t len)
{
    t[9] = 0;
    t[9] = (uint8_t)(0 - vkvm_acpi_checksum(t, len));
}

/* Generic Address Structure */
static void gas(uint8_t *p, uint8_t space, uint8_t bits, uint8_t access, uint64_t addr)
{
    p[0] = space;
    p[1] = bits;
    p[2] = 0;
    p[3] = access;
    put64(p + 4, addr);
}

int vkvm_acpi_build(struct guest_mem *m, const struct vkvm_acpi_config *c)
{
    if (!c->ncpus || c->ncpus > VKVM_MAX_VCPUS || c->nvirtio > VKVM_ACPI_MAX_VIRTIO)
        return -EINVAL;
    if (c->present && (!(c->present & 1) || (c->ncpus < 64 && c->present >> c->ncpus)))
        return -EINVAL;             /* vCPU 0 always, none past ncpus */
    for (unsigned i = 0; c->pci && i < c->nvirtio; i++)
        if (c->virtio_base[i] >= PCI_MAX_SLOTS ||
            (c->pci_hotplug && (c->virtio_base[i] == 0 || c->virtio_base[i] > VKVM_PCI_HP_SLOTS ||
                                c->virtio_irq[i] != VKVM_VIRTIO_FIRST_IRQ - 1 + c->virtio_base[i])))
            return -EINVAL;
    if (c->pci_hotplug & ~(((2u << VKVM_PCI_HP_SLOTS) - 1) & ~1u))
        return -EINVAL;             /* slots 1..VKVM_PCI_HP_SLOTS only */
    uint8_t *base = mem_translate(m, VKVM_ACPI_ADDR, VKVM_ACPI_SIZE);
    if (!base)
        return -EFAULT;
    memset(base, 0, VKVM_ACPI_SIZE);
    uint8_t *rsdp = base + VKVM_ACPI_RSDP_OFF, *xsdt = base + VKVM_ACPI_XSDT_OFF;
    uint8_t *fadt = base + VKVM_ACPI_FADT_OFF, *madt = base + VKVM_ACPI_MADT_OFF;
    uint8_t *dsdt = base + VKVM_ACPI_DSDT_OFF;

    /* DSDT */
    struct aml a = { .buf = dsdt + 36, .cap = VKVM_ACPI_SIZE - VKVM_ACPI_DSDT_OFF - 36 };
    dsdt_aml(&a, c);
    if (a.err || a.depth)
        return a.err ? a.err : -EINVAL;
    uint32_t dsdt_len = (uint32_t)(36 + a.len);
    table_header(dsdt, "DSDT", dsdt_len, 2);
    table_done(dsdt, dsdt_len);

    /* MADT: local APIC address, PCAT_COMPAT (the in-kernel 8259 exists),
     * one Processor Local APIC per vCPU, the IOAPIC (id 0, as KVM's
     * in-kernel IOAPIC reports, GSI base 0), LINT1 as NMI for all. */
    uint32_t madt_len = 44 + 8 * c->ncpus + 12 + 6;
    table_header(madt, "APIC", madt_len, 5);
    put32(madt + 36, 0xfee00000u);
    put32(madt + 40, 1);
    uint8_t *e = madt + 44;
    for (unsigned i = 0; i < c->ncpus; i++, e += 8) {
        e[0] = 0; e[1] = 8; e[2] = (uint8_t)i; e[3] = (uint8_t)i;
        /* enabled, or "online capable" (MADT 5+: Linux counts it as a
         * possible CPU that CPU hotplug may bring) */
        put32(e + 4, !c->present || (c->present >> i & 1) ? 1 : 2);
    }
    e[0] = 1; e[1] = 12; e[2] = 0; e[3] = 0;
    put32(e + 4, 0xfec00000u);
    put32(e + 8, 0);
    e += 12;
    e[0] = 4; e[1] = 6; e[2] = 0xff; put16(e + 3, 0); e[5] = 1;
    table_done(madt, madt_len);

    /* FADT 6.5: hardware-reduced; sleep control/status and reset in
     * vessel's register block (byte access, system memory). */
    uint32_t fadt_len = 276;
    table_header(fadt, "FACP", fadt_len, 6);
    put32(fadt + 40, VKVM_ACPI_ADDR + VKVM_ACPI_DSDT_OFF);
    put16(fadt + 109, 1u << 2 | 1u << 5);           /* IAPC_BOOT_ARCH: no VGA, no CMOS RTC (no 8042: none emulated) */
    put32(fadt + 112, 1u << 0 | 1u << 4 | 1u << 5 | 1u << 20);
                                /* WBINVD, PWR_BUTTON (control method), SLP_BUTTON (none), HW_REDUCED_ACPI */
    /* No reset register (RESET_REG_SUP clear), as Firecracker's FADT:
     * hardware-reduced Linux without EFI reboots through its "BIOS" path
     * (the reset stub at 0xffff0, see run.c), or i8042/0xcf9 with reboot=. */
    fadt[131] = 5;                                  /* minor version: 6.5 */
    put64(fadt + 140, VKVM_ACPI_ADDR + VKVM_ACPI_DSDT_OFF);
    gas(fadt + 244, 0, 8, 1, VKVM_ACPI_REGS_BASE + VKVM_ACPI_REG_SLEEP_CTL);
    gas(fadt + 256, 0, 8, 1, VKVM_ACPI_REGS_BASE + VKVM_ACPI_REG_SLEEP_STS);
    memcpy(fadt + 268, "VESSELVM", 8);              /* hypervisor vendor identity */
    table_done(fadt, fadt_len);

    /* MCFG: the ECAM of segment 0, bus 0 */
    if (c->pci) {
        uint8_t *mcfg = base + VKVM_ACPI_MCFG_OFF;
        uint32_t mcfg_len = 44 + 16;
        table_header(mcfg, "MCFG", mcfg_len, 1);
        put64(mcfg + 44, VKVM_PCI_ECAM_BASE);
        put16(mcfg + 52, 0);
        mcfg[54] = 0;
        mcfg[55] = 0;
        table_done(mcfg, mcfg_len);
    }

    /* XSDT: FADT, MADT (, MCFG) */
    uint32_t xsdt_len = 36 + (c->pci ? 3 : 2) * 8;
    table_header(xsdt, "XSDT", xsdt_len, 1);
    put64(xsdt + 36, VKVM_ACPI_ADDR + VKVM_ACPI_FADT_OFF);
    put64(xsdt + 44, VKVM_ACPI_ADDR + VKVM_ACPI_MADT_OFF);
    if (c->pci)
        put64(xsdt + 52, VKVM_ACPI_ADDR + VKVM_ACPI_MCFG_OFF);
    table_done(xsdt, xsdt_len);

    /* RSDP 2.0: no RSDT, the XSDT only */
    memcpy(rsdp, "RSD PTR ", 8);
    memcpy(rsdp + 9, "VESSEL", 6);
    rsdp[15] = 2;
    put32(rsdp + 20, 36);
    put64(rsdp + 24, VKVM_ACPI_ADDR + VKVM_ACPI_XSDT_OFF);
    rsdp[8] = (uint8_t)(0 - vkvm_acpi_checksum(rsdp, 20));
    rsdp[32] = (uint8_t)(0 - vkvm_acpi_checksum(rsdp, 36));
    return 0;
}

/* ---- vessel's ACPI register block ----
 * +0 sleep control (SLP_TYP << 2 | SLP_EN 0x20): S5 powers off
 * +1 sleep status (WAK_STS 0x80; writes clear, reads 0: the guest never wakes)
 * +4 GED event selector: pending events, read clears them and lowers the line */
uint64_t vkvm_acpi_reg_read(struct vkvm_acpi *acpi, uint64_t off, unsigned size)
{
    if (off != VKVM_ACPI_REG_EVENT)
        return 0;
    uint32_t v = __atomic_exchange_n(&acpi->events, 0, __ATOMIC_ACQ_REL);
    acpi->irq.set(acpi->irq.opaque, acpi->irq.n, 0);
    return v;
}

enum vkvm_acpi_action vkvm_acpi_reg_write(struct vkvm_acpi *acpi, uint64_t off, uint64_t val, unsigned size)
{
    if (off == VKVM_ACPI_REG_SLEEP_CTL && (val & 0x20)) {
        unsigned typ = (unsigned)(val >> 2) & 7;
        if (typ == VKVM_ACPI_SLP_TYP_S5)
            return VKVM_ACPI_POWEROFF;
        log_guest("ACPI sleep type %u not supported (only S5)", typ);
    }
    return VKVM_ACPI_NONE;
}

enum vkvm_acpi_action vkvm_acpi_rcr_write(uint64_t val)
{
    return val & 0x04 ? VKVM_ACPI_RESET : VKVM_ACPI_NONE;     /* RST_CPU */
}

static uint64_t regs_read(void *opaque, uint64_t off, unsigned size)
{
    return vkvm_acpi_reg_read(opaque, off, size);
}

static void act(struct vkvm_acpi *acpi, enum vkvm_acpi_action a)
{
    switch (a) {
    case VKVM_ACPI_POWEROFF:
        log_info("guest: ACPI power-off (S5)");
        machine_shutdown(acpi->mach, MACHINE_STOP_POWEROFF, 0);
        break;
    case VKVM_ACPI_RESET:
        log_info("guest: reset through the reset control register (0xcf9)");
        machine_shutdown(acpi->mach, MACHINE_STOP_REBOOT, 0);
        break;
    case VKVM_ACPI_NONE:
        break;
    }
}
static void regs_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    act(opaque, vkvm_acpi_reg_write(opaque, off, val, size));
}
static const struct bus_ops acpi_regs_ops = { regs_read, regs_write };

static uint64_t rcr_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;
}
static void rcr_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    act(opaque, vkvm_acpi_rcr_write(val));
}
static const struct bus_ops rcr_ops = { rcr_read, rcr_write };

void vkvm_acpi_event(struct vkvm_acpi *acpi, uint32_t ev)
{
    __atomic_fetch_or(&acpi->events, ev, __ATOMIC_ACQ_REL);
    acpi->irq.set(acpi->irq.opaque, acpi->irq.n, 1);
}

int vkvm_acpi_press(struct vkvm_acpi *acpi)
{
    vkvm_acpi_event(acpi, VKVM_ACPI_EVENT_PWRBTN);
    return 0;
}

static int acpi_press(void *opaque)
{
    return vkvm_acpi_press(opaque);
}

int vkvm_acpi_attach(struct vkvm_acpi *acpi, struct machine *mach, struct bus *mmio, struct bus *pio,
                     struct irq_line irq)
{
    acpi->mach = mach;
    acpi->irq = irq;
    acpi->events = 0;
    if (bus_register(mmio, VKVM_ACPI_REGS_BASE, VKVM_ACPI_REGS_SIZE, &acpi_regs_ops, acpi, "acpi") < 0 ||
        bus_register(pio, VKVM_ACPI_RESET_PORT, 1, &rcr_ops, acpi, "reset control") < 0)
        return -EEXIST;
    machine_set_power_button(mach, acpi_press, acpi);
    return 0;
}
