/* Intel MultiProcessor Specification 1.4 table, so Linux finds the APs and
 * the IOAPIC without ACPI: floating pointer + configuration table in the
 * BIOS area at VKVM_MPTABLE_ADDR (reserved in e820, scanned by Linux). */
#include "kvm/x86/kvm.h"

#include <errno.h>
#include <string.h>

static void w16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void w32(uint8_t *p, uint32_t v) { w16(p, (uint16_t)v); w16(p + 2, (uint16_t)(v >> 16)); }

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

size_t vkvm_mptable_size(unsigned ncpus)
{
    return 16 + 44 + 20 * (size_t)ncpus + 8 + 8 + VKVM_IOAPIC_PINS * 8 + 2 * 8;
}

int vkvm_mptable_build(struct guest_mem *m, unsigned ncpus, uint32_t level_pins)
{
    if (ncpus < 1 || ncpus > VKVM_MAX_VCPUS)
        return -EINVAL;
    size_t size = vkvm_mptable_size(ncpus);
    uint8_t *base = mem_translate(m, VKVM_MPTABLE_ADDR, size);
    if (!base)
        return -EFAULT;
    memset(base, 0, size);
    uint8_t *fp = base, *ct = base + 16, *p = ct + 44;
    uint8_t ioapic_id = (uint8_t)ncpus;
    uint16_t count = 0;

    for (unsigned i = 0; i < ncpus; i++, p += 20, count++) {
        p[0] = 0;                       /* processor */
        p[1] = (uint8_t)i;              /* local APIC id */
        p[2] = 0x14;                    /* APIC version */
        p[3] = (uint8_t)(1 | (i == 0 ? 2 : 0)); /* enabled, BSP */
        w32(p + 4, 0x600);              /* family 6 signature */
        w32(p + 8, 0x201);              /* FPU | APIC */
    }
    p[0] = 1; p[1] = 0; memcpy(p + 2, "ISA   ", 6); p += 8; count++;
    p[0] = 2; p[1] = ioapic_id; p[2] = 0x11; p[3] = 1; w32(p + 4, 0xfec00000); p += 8; count++;
    for (unsigned irq = 0; irq < VKVM_IOAPIC_PINS; irq++, p += 8, count++) {
        p[0] = 3;                       /* I/O interrupt: ISA irq -> IOAPIC pin irq */
        p[1] = 0;                       /* INT */
        /* flags: polarity bits 0-1, trigger bits 2-3; 0 = conforms to
         * the bus (ISA: edge, active high); 0xd = level, active high */
        w16(p + 2, (level_pins >> irq) & 1 ? 0x0d : 0);
        p[4] = 0;                       /* ISA bus */
        p[5] = (uint8_t)irq;
        p[6] = ioapic_id;
        p[7] = (uint8_t)irq;
    }
    /* local interrupts: LINT0 = ExtINT, LINT1 = NMI on all LAPICs */
    p[0] = 4; p[1] = 3; p[5] = 0; p[6] = 0xff; p[7] = 0; p += 8; count++;
    p[0] = 4; p[1] = 1; p[5] = 0; p[6] = 0xff; p[7] = 1; p += 8; count++;

    memcpy(ct, "PCMP", 4);
    w16(ct + 4, (uint16_t)(p - ct));
    ct[6] = 4;                          /* spec 1.4 */
    memcpy(ct + 8, "VESSEL  ", 8);
    memcpy(ct + 16, "KVM x86-64  ", 12);
    w16(ct + 34, count);
    w32(ct + 36, 0xfee00000);
    ct[7] = (uint8_t)-sum(ct, (size_t)(p - ct));

    memcpy(fp, "_MP_", 4);
    w32(fp + 4, (uint32_t)(VKVM_MPTABLE_ADDR + 16));
    fp[8] = 1;                          /* length in 16-byte units */
    fp[9] = 4;
    fp[10] = (uint8_t)-sum(fp, 16);
    return 0;
}
