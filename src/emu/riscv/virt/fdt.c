/* The device tree of the virt board, written with libfdt's sequential-write
 * API. It describes exactly the devices board.c maps: harts, RAM, CLINT,
 * PLIC, UART, syscon (power-off, reboot), goldfish RTC, the SiFive GPIO
 * controller with a gpio-keys power button on pin 0, and the virtio-mmio
 * slots in use. */
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "emu/riscv/virt/virt.h"

enum {
    PH_PLIC = 1, PH_SYSCON = 2, PH_GPIO = 3,
    PH_CPU_INTC = 0x10,          /* + hart */
    PH_CPU = 0x100,              /* + hart */
};

static const char *const isa_ext[] = {
    "i", "m", "a", "f", "d", "c", "zicsr", "zifencei", "zba", "zbb", "zbs", "sstc",
};

/* reg = <base size> with 2 address and 2 size cells */
static int prop_reg(void *f, uint64_t base, uint64_t size)
{
    fdt64_t v[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };
    return fdt_property(f, "reg", v, sizeof(v));
}

static int prop_strings(void *f, const char *name, const char *const *s, unsigned n)
{
    char buf[256];
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t l = strlen(s[i]) + 1;
        if (off + l > sizeof(buf))
            return -FDT_ERR_NOSPACE;
        memcpy(buf + off, s[i], l);
        off += l;
    }
    return fdt_property(f, name, buf, (int)off);
}

/* interrupts-extended = <&intc(h) irq_a &intc(h) irq_b ...> for every hart */
static int prop_irqs_ext(void *f, unsigned nharts, unsigned irq_a, unsigned irq_b)
{
    fdt32_t v[VIRT_MAX_HARTS * 4];
    unsigned n = 0;
    for (unsigned h = 0; h < nharts; h++) {
        v[n++] = cpu_to_fdt32(PH_CPU_INTC + h);
        v[n++] = cpu_to_fdt32(irq_a);
        v[n++] = cpu_to_fdt32(PH_CPU_INTC + h);
        v[n++] = cpu_to_fdt32(irq_b);
    }
    return fdt_property(f, "interrupts-extended", v, (int)(n * sizeof(v[0])));
}

static int dev_irq(void *f, unsigned irq)
{
    int r = fdt_property_u32(f, "interrupts", irq);
    return r ? r : fdt_property_u32(f, "interrupt-parent", PH_PLIC);
}

static int cpus(void *f, const struct virt_fdt_info *fi)
{
    int r = fdt_begin_node(f, "cpus");
    r = r ? r : fdt_property_u32(f, "#address-cells", 1);
    r = r ? r : fdt_property_u32(f, "#size-cells", 0);
    r = r ? r : fdt_property_u32(f, "timebase-frequency", 10000000);
    for (unsigned h = 0; h < fi->nharts && !r; h++) {
        char name[32];
        snprintf(name, sizeof(name), "cpu@%u", h);
        r = fdt_begin_node(f, name);
        r = r ? r : fdt_property_string(f, "device_type", "cpu");
        r = r ? r : fdt_property_u32(f, "reg", h);
        r = r ? r : fdt_property_string(f, "status", "okay");
        r = r ? r : fdt_property_string(f, "compatible", "riscv");
        r = r ? r : fdt_property_string(f, "riscv,isa", VIRT_ISA);
        r = r ? r : fdt_property_string(f, "riscv,isa-base", "rv64i");
        r = r ? r : prop_strings(f, "riscv,isa-extensions", isa_ext, ARRAY_SIZE(isa_ext));
        r = r ? r : fdt_property_string(f, "mmu-type", fi->sv48 ? "riscv,sv48" : "riscv,sv39");
        r = r ? r : fdt_property_u32(f, "phandle", PH_CPU + h);
        r = r ? r : fdt_begin_node(f, "interrupt-controller");
        r = r ? r : fdt_property_u32(f, "#interrupt-cells", 1);
        r = r ? r : fdt_property(f, "interrupt-controller", NULL, 0);
        r = r ? r : fdt_property_string(f, "compatible", "riscv,cpu-intc");
        r = r ? r : fdt_property_u32(f, "phandle", PH_CPU_INTC + h);
        r = r ? r : fdt_end_node(f);
        r = r ? r : fdt_end_node(f);
    }
    r = r ? r : fdt_begin_node(f, "cpu-map");
    r = r ? r : fdt_begin_node(f, "cluster0");
    for (unsigned h = 0; h < fi->nharts && !r; h++) {
        char name[32];
        snprintf(name, sizeof(name), "core%u", h);
        r = fdt_begin_node(f, name);
        r = r ? r : fdt_property_u32(f, "cpu", PH_CPU + h);
        r = r ? r : fdt_end_node(f);
    }
    r = r ? r : fdt_end_node(f);
    r = r ? r : fdt_end_node(f);
    return r ? r : fdt_end_node(f);
}

static int soc(void *f, const struct virt_fdt_info *fi)
{
    char name[64];
    int r = fdt_begin_node(f, "soc");
    r = r ? r : fdt_property_u32(f, "#address-cells", 2);
    r = r ? r : fdt_property_u32(f, "#size-cells", 2);
    r = r ? r : fdt_property_string(f, "compatible", "simple-bus");
    r = r ? r : fdt_property(f, "ranges", NULL, 0);

    snprintf(name, sizeof(name), "clint@%llx", (unsigned long long)VIRT_CLINT_BASE);
    static const char *const clint_compat[] = { "sifive,clint0", "riscv,clint0" };
    r = r ? r : fdt_begin_node(f, name);
    r = r ? r : prop_strings(f, "compatible", clint_compat, 2);
    r = r ? r : prop_reg(f, VIRT_CLINT_BASE, VIRT_CLINT_SIZE);
    r = r ? r : prop_irqs_ext(f, fi->nharts, 3, 7);       /* MSI, MTI */
    r = r ? r : fdt_end_node(f);

    snprintf(name, sizeof(name), "plic@%llx", (unsigned long long)VIRT_PLIC_BASE);
    static const char *const plic_compat[] = { "sifive,plic-1.0.0", "riscv,plic0" };
    r = r ? r : fdt_begin_node(f, name);
    r = r ? r : prop_strings(f, "compatible", plic_compat, 2);
    r = r ? r : fdt_property_u32(f, "#address-cells", 0);
    r = r ? r : fdt_property_u32(f, "#interrupt-cells", 1);
    r = r ? r : fdt_property(f, "interrupt-controller", NULL, 0);
    r = r ? r : prop_reg(f, VIRT_PLIC_BASE, VIRT_PLIC_SIZE);
    r = r ? r : fdt_property_u32(f, "riscv,ndev", VIRT_PLIC_NDEV);
    r = r ? r : prop_irqs_ext(f, fi->nharts, 11, 9);      /* context 2h = M ext, 2h+1 = S ext */
    r = r ? r : fdt_property_u32(f, "phandle", PH_PLIC);
    r = r ? r : fdt_end_node(f);

    snprintf(name, sizeof(name), "serial@%llx", (unsigned long long)VIRT_UART_BASE);
    r = r ? r : fdt_begin_node(f, name);
    r = r ? r : fdt_property_string(f, "compatible", "ns16550a");
    r = r ? r : prop_reg(f, VIRT_UART_BASE, VIRT_UART_SIZE);
    r = r ? r : fdt_property_u32(f, "clock-frequency", VIRT_UART_CLOCK);
    r = r ? r : dev_irq(f, VIRT_UART_IRQ);
    r = r ? r : fdt_end_node(f);

    snprintf(name, sizeof(name), "test@%llx", (unsigned long long)VIRT_SYSCON_BASE);
    static const char *const syscon_compat[] = { "sifive,test1", "sifive,test0", "syscon" };
    r = r ? r : fdt_begin_node(f, name);
    r = r ? r : prop_strings(f, "compatible", syscon_compat, 3);
    r = r ? r : prop_reg(f, VIRT_SYSCON_BASE, VIRT_SYSCON_SIZE);
    r = r ? r : fdt_property_u32(f, "phandle", PH_SYSCON);
    r = r ? r : fdt_end_node(f);

    snprintf(name, sizeof(name), "rtc@%llx", (unsigned long long)VIRT_RTC_BASE);
    r = r ? r : fdt_begin_node(f, name);
    r = r ? r : fdt_property_string(f, "compatible", "google,goldfish-rtc");
    r = r ? r : prop_reg(f, VIRT_RTC_BASE, VIRT_RTC_SIZE);
    r = r ? r : dev_irq(f, VIRT_RTC_IRQ);
    r = r ? r : fdt_end_node(f);

    /* interrupts = one PLIC source per pin, as gpio-sifive counts its pins */
    fdt32_t gpio_irqs[VIRT_GPIO_PINS];
    for (unsigned i = 0; i < VIRT_GPIO_PINS; i++)
        gpio_irqs[i] = cpu_to_fdt32(VIRT_GPIO_IRQ + i);
    snprintf(name, sizeof(name), "gpio@%llx", (unsigned long long)VIRT_GPIO_BASE);
    r = r ? r : fdt_begin_node(f, name);
    r = r ? r : fdt_property_string(f, "compatible", "sifive,gpio0");
    r = r ? r : prop_reg(f, VIRT_GPIO_BASE, VIRT_GPIO_SIZE);
    r = r ? r : fdt_property_u32(f, "interrupt-parent", PH_PLIC);
    r = r ? r : fdt_property(f, "interrupts", gpio_irqs, sizeof(gpio_irqs));
    r = r ? r : fdt_property(f, "gpio-controller", NULL, 0);
    r = r ? r : fdt_property_u32(f, "#gpio-cells", 2);
    r = r ? r : fdt_property(f, "interrupt-controller", NULL, 0);
    r = r ? r : fdt_property_u32(f, "#interrupt-cells", 2);
    r = r ? r : fdt_property_u32(f, "ngpios", VIRT_GPIO_PINS);
    r = r ? r : fdt_property_u32(f, "phandle", PH_GPIO);
    r = r ? r : fdt_end_node(f);

    for (unsigned i = 0; i < fi->nvirtio && !r; i++) {
        snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)fi->virtio_base[i]);
        r = fdt_begin_node(f, name);
        r = r ? r : fdt_property_string(f, "compatible", "virtio,mmio");
        r = r ? r : prop_reg(f, fi->virtio_base[i], VIRT_VIRTIO_STRIDE);
        r = r ? r : dev_irq(f, fi->virtio_irq[i]);
        r = r ? r : fdt_end_node(f);
    }
    return r ? r : fdt_end_node(f);
}

/* syscon-poweroff / syscon-reboot: regmap to the test device */
static int syscon_child(void *f, const char *node, const char *compat, uint32_t value)
{
    int r = fdt_begin_node(f, node);
    r = r ? r : fdt_property_string(f, "compatible", compat);
    r = r ? r : fdt_property_u32(f, "regmap", PH_SYSCON);
    r = r ? r : fdt_property_u32(f, "offset", 0);
    r = r ? r : fdt_property_u32(f, "value", value);
    return r ? r : fdt_end_node(f);
}

/* The power button: gpio-keys, KEY_POWER on GPIO pin 0, active high. */
static int power_button(void *f)
{
    const fdt32_t gpios[3] = { cpu_to_fdt32(PH_GPIO), cpu_to_fdt32(VIRT_GPIO_POWER_PIN), cpu_to_fdt32(0) };
    int r = fdt_begin_node(f, "gpio-keys");
    r = r ? r : fdt_property_string(f, "compatible", "gpio-keys");
    r = r ? r : fdt_begin_node(f, "power");
    r = r ? r : fdt_property_string(f, "label", "Power Button");
    r = r ? r : fdt_property(f, "gpios", gpios, sizeof(gpios));
    r = r ? r : fdt_property_u32(f, "linux,code", 116);       /* KEY_POWER */
    r = r ? r : fdt_end_node(f);
    return r ? r : fdt_end_node(f);
}

static int chosen(void *f, const struct virt_fdt_info *fi)
{
    char path[64];
    snprintf(path, sizeof(path), "/soc/serial@%llx", (unsigned long long)VIRT_UART_BASE);
    int r = fdt_begin_node(f, "chosen");
    r = r ? r : fdt_property_string(f, "bootargs", fi->bootargs ? fi->bootargs : "");
    r = r ? r : fdt_property_string(f, "stdout-path", path);
    if (fi->initrd_end > fi->initrd_start) {
        r = r ? r : fdt_property_u64(f, "linux,initrd-start", fi->initrd_start);
        r = r ? r : fdt_property_u64(f, "linux,initrd-end", fi->initrd_end);
    }
    return r ? r : fdt_end_node(f);
}

int virt_fdt_build(const struct virt_fdt_info *fi, void *buf, size_t size)
{
    if (fi->nharts == 0 || fi->nharts > VIRT_MAX_HARTS || fi->nvirtio > VIRT_VIRTIO_SLOTS || size > INT32_MAX) {
        log_error("fdt: %u harts / %u virtio slots: out of range", fi->nharts, fi->nvirtio);
        return -EINVAL;
    }
    char name[64];
    static const char *const root_compat[] = { "vessel,virt", "riscv-virtio" };
    int r = fdt_create(buf, (int)size);
    r = r ? r : fdt_finish_reservemap(buf);
    r = r ? r : fdt_begin_node(buf, "");
    r = r ? r : fdt_property_u32(buf, "#address-cells", 2);
    r = r ? r : fdt_property_u32(buf, "#size-cells", 2);
    r = r ? r : prop_strings(buf, "compatible", root_compat, 2);
    r = r ? r : fdt_property_string(buf, "model", "vessel virt (riscv64)");
    r = r ? r : chosen(buf, fi);
    snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)fi->ram_base);
    r = r ? r : fdt_begin_node(buf, name);
    r = r ? r : fdt_property_string(buf, "device_type", "memory");
    r = r ? r : prop_reg(buf, fi->ram_base, fi->ram_size);
    r = r ? r : fdt_end_node(buf);
    r = r ? r : cpus(buf, fi);
    r = r ? r : soc(buf, fi);
    r = r ? r : syscon_child(buf, "poweroff", "syscon-poweroff", VIRT_SYSCON_POWEROFF);
    r = r ? r : syscon_child(buf, "reboot", "syscon-reboot", VIRT_SYSCON_REBOOT);
    r = r ? r : power_button(buf);
    r = r ? r : fdt_end_node(buf);
    r = r ? r : fdt_finish(buf);
    if (r) {
        log_error("fdt: cannot build the device tree: %s", fdt_strerror(r));
        return r == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
    }
    return 0;
}
