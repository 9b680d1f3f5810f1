/* emu/riscv/virt: the device tree (parsed back with libfdt), the PLIC
 * (driven through its MMIO registers like Linux's and OpenSBI's drivers do)
 * and the kernel image loader. No CPU core needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <glob.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "emu/riscv/riscv.h"
#include "emu/riscv/virt/virt.h"
#include "mem/mem.h"

/* ---------------- FDT ---------------- */
static void *build(const struct virt_fdt_info *fi)
{
    void *buf = malloc(VIRT_FDT_MAX);
    assert_int_equal(virt_fdt_build(fi, buf, VIRT_FDT_MAX), 0);
    assert_int_equal(fdt_check_header(buf), 0);
    return buf;
}

static const char *str(const void *fdt, const char *path, const char *prop)
{
    int off = fdt_path_offset(fdt, path);
    assert_true(off >= 0);
    const char *s = fdt_getprop(fdt, off, prop, NULL);
    assert_non_null(s);
    return s;
}

static uint32_t u32(const void *fdt, const char *path, const char *prop)
{
    int off = fdt_path_offset(fdt, path), len;
    assert_true(off >= 0);
    const fdt32_t *v = fdt_getprop(fdt, off, prop, &len);
    assert_non_null(v);
    assert_int_equal(len, 4);
    return fdt32_to_cpu(*v);
}

static void reg(const void *fdt, const char *path, uint64_t base, uint64_t size)
{
    int off = fdt_path_offset(fdt, path), len;
    assert_true(off >= 0);
    const fdt64_t *v = fdt_getprop(fdt, off, "reg", &len);
    assert_non_null(v);
    assert_int_equal(len, 16);
    assert_int_equal(fdt64_ld(&v[0]), base);
    assert_int_equal(fdt64_ld(&v[1]), size);
}

/* interrupts-extended lists, per hart, (intc phandle, a) (intc phandle, b) */
static void irqs_ext(const void *fdt, const char *path, unsigned nharts, unsigned a, unsigned b)
{
    int off = fdt_path_offset(fdt, path), len;
    const fdt32_t *v = fdt_getprop(fdt, off, "interrupts-extended", &len);
    assert_non_null(v);
    assert_int_equal(len, (int)(nharts * 16));
    for (unsigned h = 0; h < nharts; h++) {
        char cpu[64];
        snprintf(cpu, sizeof(cpu), "/cpus/cpu@%u/interrupt-controller", h);
        int intc = fdt_path_offset(fdt, cpu);
        assert_true(intc >= 0);
        uint32_t ph = fdt_get_phandle(fdt, intc);
        assert_int_not_equal(ph, 0);
        assert_int_equal(fdt32_to_cpu(v[4 * h]), ph);
        assert_int_equal(fdt32_to_cpu(v[4 * h + 1]), a);
        assert_int_equal(fdt32_to_cpu(v[4 * h + 2]), ph);
        assert_int_equal(fdt32_to_cpu(v[4 * h + 3]), b);
    }
}

static bool has_compat(const void *fdt, const char *path, const char *c)
{
    int off = fdt_path_offset(fdt, path);
    return off >= 0 && fdt_node_check_compatible(fdt, off, c) == 0;
}

static void test_fdt_full(void **state)
{
    struct virt_fdt_info fi = {
        .ram_base = VIRT_RAM_BASE, .ram_size = 128ULL << 20, .nharts = 3, .sv48 = true,
        .bootargs = "console=ttyS0 quiet", .initrd_start = 0x87000000, .initrd_end = 0x87123456,
        .nvirtio = 2, .virtio_base = { 0x10001000, 0x10002000 }, .virtio_irq = { 1, 2 },
    };
    void *f = build(&fi);
    assert_string_equal(str(f, "/chosen", "bootargs"), "console=ttyS0 quiet");
    assert_string_equal(str(f, "/chosen", "stdout-path"), "/soc/serial@10000000");
    int ch = fdt_path_offset(f, "/chosen"), len;
    const fdt64_t *is = fdt_getprop(f, ch, "linux,initrd-start", &len);
    assert_int_equal(len, 8);
    assert_int_equal(fdt64_ld(is), 0x87000000);
    const fdt64_t *ie = fdt_getprop(f, ch, "linux,initrd-end", &len);
    assert_int_equal(fdt64_ld(ie), 0x87123456);
    reg(f, "/memory@80000000", VIRT_RAM_BASE, 128ULL << 20);
    assert_string_equal(str(f, "/memory@80000000", "device_type"), "memory");

    assert_int_equal(u32(f, "/cpus", "timebase-frequency"), 10000000);
    for (unsigned h = 0; h < 3; h++) {
        char p[64];
        snprintf(p, sizeof(p), "/cpus/cpu@%u", h);
        assert_int_equal(u32(f, p, "reg"), h);
        assert_string_equal(str(f, p, "riscv,isa"), "rv64imafdc_zicsr_zifencei_zba_zbb_zbs_sstc");
        assert_string_equal(str(f, p, "riscv,isa-base"), "rv64i");
        assert_string_equal(str(f, p, "mmu-type"), "riscv,sv48");
        assert_string_equal(str(f, p, "device_type"), "cpu");
        int off = fdt_path_offset(f, p);
        assert_int_equal(fdt_stringlist_search(f, off, "riscv,isa-extensions", "sstc"), 11);
        assert_int_equal(fdt_stringlist_search(f, off, "riscv,isa-extensions", "zifencei"), 7);
        snprintf(p, sizeof(p), "/cpus/cpu@%u/interrupt-controller", h);
        assert_true(has_compat(f, p, "riscv,cpu-intc"));
        assert_int_equal(u32(f, p, "#interrupt-cells"), 1);
    }
    assert_true(fdt_path_offset(f, "/cpus/cpu@3") < 0);

    assert_true(has_compat(f, "/soc/clint@2000000", "riscv,clint0"));
    assert_true(has_compat(f, "/soc/clint@2000000", "sifive,clint0"));
    reg(f, "/soc/clint@2000000", 0x2000000, 0x10000);
    irqs_ext(f, "/soc/clint@2000000", 3, 3, 7);

    const char *plic = "/soc/plic@c000000";
    assert_true(has_compat(f, plic, "sifive,plic-1.0.0"));
    assert_true(has_compat(f, plic, "riscv,plic0"));
    reg(f, plic, 0xc000000, 0x600000);
    assert_int_equal(u32(f, plic, "riscv,ndev"), 95);
    irqs_ext(f, plic, 3, 11, 9);
    uint32_t plic_ph = fdt_get_phandle(f, fdt_path_offset(f, plic));

    assert_true(has_compat(f, "/soc/serial@10000000", "ns16550a"));
    reg(f, "/soc/serial@10000000", 0x10000000, 0x100);
    assert_int_equal(u32(f, "/soc/serial@10000000", "interrupts"), 10);
    assert_int_equal(u32(f, "/soc/serial@10000000", "interrupt-parent"), plic_ph);
    assert_int_equal(u32(f, "/soc/serial@10000000", "clock-frequency"), 3686400);

    assert_true(has_compat(f, "/soc/rtc@101000", "google,goldfish-rtc"));
    assert_int_equal(u32(f, "/soc/rtc@101000", "interrupts"), 11);

    assert_true(has_compat(f, "/soc/test@100000", "syscon"));
    uint32_t sys_ph = fdt_get_phandle(f, fdt_path_offset(f, "/soc/test@100000"));
    assert_true(has_compat(f, "/poweroff", "syscon-poweroff"));
    assert_int_equal(u32(f, "/poweroff", "regmap"), sys_ph);
    assert_int_equal(u32(f, "/poweroff", "value"), 0x5555);
    assert_true(has_compat(f, "/reboot", "syscon-reboot"));
    assert_int_equal(u32(f, "/reboot", "value"), 0x7777);

    /* the power button: SiFive GPIO, one PLIC source per pin, gpio-keys on pin 0 */
    assert_true(has_compat(f, "/soc/gpio@102000", "sifive,gpio0"));
    reg(f, "/soc/gpio@102000", VIRT_GPIO_BASE, VIRT_GPIO_SIZE);
    assert_int_equal(u32(f, "/soc/gpio@102000", "interrupt-parent"), plic_ph);
    assert_int_equal(u32(f, "/soc/gpio@102000", "#gpio-cells"), 2);
    int gl;
    const fdt32_t *gi = fdt_getprop(f, fdt_path_offset(f, "/soc/gpio@102000"), "interrupts", &gl);
    assert_int_equal(gl, VIRT_GPIO_PINS * 4);
    for (int i = 0; i < VIRT_GPIO_PINS; i++)
        assert_int_equal(fdt32_to_cpu(gi[i]), VIRT_GPIO_IRQ + i);
    uint32_t gpio_ph = fdt_get_phandle(f, fdt_path_offset(f, "/soc/gpio@102000"));
    assert_true(has_compat(f, "/gpio-keys", "gpio-keys"));
    assert_int_equal(u32(f, "/gpio-keys/power", "linux,code"), 116);     /* KEY_POWER */
    const fdt32_t *kg = fdt_getprop(f, fdt_path_offset(f, "/gpio-keys/power"), "gpios", &gl);
    assert_int_equal(gl, 12);
    assert_int_equal(fdt32_to_cpu(kg[0]), gpio_ph);
    assert_int_equal(fdt32_to_cpu(kg[1]), VIRT_GPIO_POWER_PIN);
    assert_int_equal(fdt32_to_cpu(kg[2]), 0);                               /* active high */

    /* exactly the two virtio slots given */
    assert_true(has_compat(f, "/soc/virtio_mmio@10001000", "virtio,mmio"));
    reg(f, "/soc/virtio_mmio@10002000", 0x10002000, 0x1000);
    assert_int_equal(u32(f, "/soc/virtio_mmio@10002000", "interrupts"), 2);
    assert_true(fdt_path_offset(f, "/soc/virtio_mmio@10003000") < 0);
    int n = 0;
    for (int o = fdt_node_offset_by_compatible(f, -1, "virtio,mmio"); o >= 0;
         o = fdt_node_offset_by_compatible(f, o, "virtio,mmio"))
        n++;
    assert_int_equal(n, 2);
    free(f);
}

static void test_fdt_minimal(void **state)
{
    struct virt_fdt_info fi = { .ram_base = VIRT_RAM_BASE, .ram_size = 64ULL << 20, .nharts = 1 };
    void *f = build(&fi);
    int ch = fdt_path_offset(f, "/chosen");
    assert_null(fdt_getprop(f, ch, "linux,initrd-start", NULL));
    assert_string_equal(str(f, "/chosen", "bootargs"), "");
    assert_string_equal(str(f, "/cpus/cpu@0", "mmu-type"), "riscv,sv39");
    assert_true(fdt_node_offset_by_compatible(f, -1, "virtio,mmio") < 0);
    irqs_ext(f, "/soc/plic@c000000", 1, 11, 9);
    free(f);
}

static void test_fdt_limits(void **state)
{
    char small[256];
    struct virt_fdt_info fi = { .ram_base = VIRT_RAM_BASE, .ram_size = 64ULL << 20, .nharts = 1 };
    assert_int_equal(virt_fdt_build(&fi, small, sizeof(small)), -ENOSPC);
    fi.nharts = 0;
    assert_int_equal(virt_fdt_build(&fi, small, sizeof(small)), -EINVAL);
    fi.nharts = VIRT_MAX_HARTS + 1;
    assert_int_equal(virt_fdt_build(&fi, small, sizeof(small)), -EINVAL);
    /* the largest board fits in the space the board reserves */
    fi.nharts = VIRT_MAX_HARTS;
    fi.nvirtio = VIRT_VIRTIO_SLOTS;
    for (unsigned i = 0; i < VIRT_VIRTIO_SLOTS; i++) {
        fi.virtio_base[i] = VIRT_VIRTIO_BASE + i * VIRT_VIRTIO_STRIDE;
        fi.virtio_irq[i] = 1 + i;
    }
    char cmd[2048];
    memset(cmd, 'x', sizeof(cmd) - 1);
    cmd[sizeof(cmd) - 1] = 0;
    fi.bootargs = cmd;
    free(build(&fi));
}

/* ---------------- PLIC ---------------- */
struct plic_fix {
    struct bus bus;
    struct virt_plic *p;
    bool out[8];
    unsigned changes;
};

static void set_ctx(void *opaque, unsigned ctx, bool level)
{
    struct plic_fix *x = opaque;
    assert_true(ctx < 8);
    assert_true(x->out[ctx] != level);     /* only changes are reported */
    x->out[ctx] = level;
    x->changes++;
}

static uint32_t rd(struct plic_fix *x, uint64_t off)
{
    uint64_t v = 0;
    assert_int_equal(bus_access(&x->bus, VIRT_PLIC_BASE + off, &v, 4, false), 0);
    return (uint32_t)v;
}

static void wr(struct plic_fix *x, uint64_t off, uint32_t val)
{
    uint64_t v = val;
    assert_int_equal(bus_access(&x->bus, VIRT_PLIC_BASE + off, &v, 4, true), 0);
}

#define PRIO(s) (4u * (s))
#define PENDING(w) (0x1000u + 4u * (w))
#define ENABLE(c, w) (0x2000u + 0x80u * (c) + 4u * (w))
#define THRESH(c) (0x200000u + 0x1000u * (c))
#define CLAIM(c) (0x200004u + 0x1000u * (c))

static void plic_setup(struct plic_fix *x, unsigned nctx)
{
    memset(x, 0, sizeof(*x));
    bus_init(&x->bus);
    x->p = virt_plic_new(nctx, set_ctx, x);
    assert_non_null(x->p);
    assert_int_equal(bus_register(&x->bus, VIRT_PLIC_BASE, VIRT_PLIC_SIZE, &virt_plic_ops, x->p, "plic"), 0);
}

static void plic_teardown(struct plic_fix *x)
{
    virt_plic_free(x->p);
    bus_destroy(&x->bus);
}

static void test_plic_claim_complete(void **state)
{
    struct plic_fix x;
    plic_setup(&x, 4);        /* 2 harts: ctx 0 = h0 M, 1 = h0 S, 2 = h1 M, 3 = h1 S */
    struct irq_line uart = virt_plic_line(x.p, 10);
    /* a source with priority 0 never interrupts */
    wr(&x, ENABLE(1, 0), 1u << 10);
    irq_set(&uart, 1);
    assert_int_equal(rd(&x, PENDING(0)), 1u << 10);
    assert_false(x.out[1]);
    assert_int_equal(rd(&x, CLAIM(1)), 0);
    /* priority 1 > threshold 0: context 1 (S-mode of hart 0) only */
    wr(&x, PRIO(10), 1);
    assert_int_equal(rd(&x, PRIO(10)), 1);
    assert_true(x.out[1]);
    assert_false(x.out[0] || x.out[2] || x.out[3]);
    /* threshold masks it, lowering the threshold brings it back */
    wr(&x, THRESH(1), 1);
    assert_false(x.out[1]);
    wr(&x, THRESH(1), 0);
    assert_true(x.out[1]);
    /* claim: the id, pending cleared, output low while in service */
    assert_int_equal(rd(&x, CLAIM(1)), 10);
    assert_false(x.out[1]);
    assert_int_equal(rd(&x, PENDING(0)), 0);
    assert_int_equal(rd(&x, CLAIM(1)), 0);
    /* the line is still high: complete makes it pending again */
    wr(&x, CLAIM(1), 10);
    assert_true(x.out[1]);
    assert_int_equal(rd(&x, CLAIM(1)), 10);
    irq_set(&uart, 0);          /* device quiet now */
    wr(&x, CLAIM(1), 10);
    assert_false(x.out[1]);
    assert_int_equal(rd(&x, PENDING(0)), 0);
    plic_teardown(&x);
}

/* A machine reset: every register back to 0, the output lowered; a line
 * still held high by its device is pending again once enabled. */
static void test_plic_reset(void **state)
{
    struct plic_fix x;
    plic_setup(&x, 4);
    struct irq_line uart = virt_plic_line(x.p, 10);
    wr(&x, PRIO(10), 3);
    wr(&x, ENABLE(1, 0), 1u << 10);
    wr(&x, THRESH(1), 1);
    irq_set(&uart, 1);
    assert_true(x.out[1]);
    virt_plic_reset(x.p);
    assert_false(x.out[1]);
    assert_int_equal(rd(&x, PRIO(10)), 0);
    assert_int_equal(rd(&x, ENABLE(1, 0)), 0);
    assert_int_equal(rd(&x, THRESH(1)), 0);
    assert_int_equal(rd(&x, CLAIM(1)), 0);
    wr(&x, PRIO(10), 1);
    wr(&x, ENABLE(1, 0), 1u << 10);
    irq_set(&uart, 1);
    assert_true(x.out[1]);
    assert_int_equal(rd(&x, CLAIM(1)), 10);
    plic_teardown(&x);
}

/* The machine timer stands still while the clock is stopped (a paused
 * machine) and goes on from the same value: no jump. */
static void test_clock_stop(void **state)
{
    struct guest_mem mem;
    struct bus bus;
    mem_init(&mem);
    bus_init(&bus);
    assert_int_equal(mem_add_ram(&mem, VIRT_RAM_BASE, 1 << 20, 0), 0);
    struct rv_sys_config sc = { .mem = &mem, .bus = &bus, .nharts = 1 };
    struct rv_machine *m = rv_machine_new_sys(&sc);
    assert_non_null(m);
    uint64_t t0 = rv_machine_time(m);
    while (rv_machine_time(m) == t0)
        ;                                       /* it runs */
    rv_machine_clock_stop(m);
    uint64_t frozen = rv_machine_time(m);
    uint64_t h0 = time_ns();
    while (time_ns() - h0 < 20 * 1000 * 1000)   /* 20 ms of host time pass */
        assert_int_equal(rv_machine_time(m), frozen);
    rv_machine_clock_stop(m);                   /* again: no change */
    assert_int_equal(rv_machine_time(m), frozen);
    uint64_t h1 = time_ns();
    rv_machine_clock_start(m);
    uint64_t after = rv_machine_time(m);
    uint64_t h2 = time_ns();
    /* it went on by no more than the host time of these two calls, not
     * by the 20 ms it was stopped */
    assert_true(after >= frozen);
    assert_true(after - frozen <= (h2 - h1) / (1000000000ULL / RV_TIMEBASE_HZ) + 1);
    while (rv_machine_time(m) == after)
        ;                                       /* and runs again */
    rv_machine_free(m);
    bus_destroy(&bus);
    mem_destroy(&mem);
}

static void test_plic_priority_and_contexts(void **state)
{
    struct plic_fix x;
    plic_setup(&x, 4);
    wr(&x, PRIO(1), 2);
    wr(&x, PRIO(10), 5);
    wr(&x, PRIO(40), 3);
    assert_int_equal(rd(&x, PRIO(10)), 5);
    wr(&x, PRIO(10), 0xff);        /* 3 bits */
    assert_int_equal(rd(&x, PRIO(10)), 7);
    wr(&x, ENABLE(1, 0), (1u << 1) | (1u << 10));
    wr(&x, ENABLE(1, 1), 1u << (40 - 32));
    wr(&x, ENABLE(3, 1), 1u << (40 - 32));
    assert_int_equal(rd(&x, ENABLE(1, 1)), 1u << 8);
    virt_plic_set_irq(x.p, 1, true);
    virt_plic_set_irq(x.p, 40, true);
    virt_plic_set_irq(x.p, 10, true);
    assert_true(x.out[1]);
    assert_true(x.out[3]);         /* hart 1 sees source 40 */
    assert_false(x.out[0] || x.out[2]);
    /* highest priority first */
    assert_int_equal(rd(&x, CLAIM(1)), 10);
    assert_int_equal(rd(&x, CLAIM(1)), 40);
    /* 40 is in service: hart 1 has nothing now */
    assert_false(x.out[3]);
    assert_int_equal(rd(&x, CLAIM(3)), 0);
    assert_int_equal(rd(&x, CLAIM(1)), 1);
    assert_false(x.out[1]);
    /* completion from a context where 40 is not enabled is ignored */
    wr(&x, CLAIM(0), 40);
    assert_false(x.out[3]);
    wr(&x, CLAIM(3), 40);           /* enabled there: accepted */
    assert_true(x.out[3]);
    /* source 0 and sources past ndev do not exist */
    wr(&x, ENABLE(0, 0), 0xffffffff);
    assert_int_equal(rd(&x, ENABLE(0, 0)), 0xfffffffe);
    wr(&x, ENABLE(0, 2), 0xffffffff);
    assert_int_equal(rd(&x, ENABLE(0, 2)), 0xffffffff);   /* sources 64..95 */
    virt_plic_set_irq(x.p, 0, true);
    virt_plic_set_irq(x.p, 96, true);
    virt_plic_set_irq(x.p, 1000, true);
    assert_int_equal(rd(&x, PRIO(96)), 0);
    /* contexts beyond the board read 0 and ignore writes */
    wr(&x, THRESH(4), 3);
    assert_int_equal(rd(&x, THRESH(4)), 0);
    assert_int_equal(rd(&x, CLAIM(7)), 0);
    plic_teardown(&x);
}

static void test_plic_bad_access(void **state)
{
    struct plic_fix x;
    plic_setup(&x, 2);
    uint64_t v = 0x1234;
    /* 1- and 8-byte accesses are ignored (read as 0) */
    assert_int_equal(bus_access(&x.bus, VIRT_PLIC_BASE + PRIO(3), &v, 8, true), 0);
    assert_int_equal(rd(&x, PRIO(3)), 0);
    assert_int_equal(bus_access(&x.bus, VIRT_PLIC_BASE + PRIO(3), &v, 1, false), 0);
    assert_int_equal(v, 0);
    /* pending is read-only */
    wr(&x, PENDING(0), 0xffffffff);
    assert_int_equal(rd(&x, PENDING(0)), 0);
    /* a claim with nothing pending, a completion of a never-claimed id */
    assert_int_equal(rd(&x, CLAIM(1)), 0);
    wr(&x, CLAIM(1), 5);
    wr(&x, CLAIM(1), 0xffffffff);
    assert_int_equal(x.changes, 0);
    plic_teardown(&x);
    assert_null(virt_plic_new(0, set_ctx, NULL));
    assert_null(virt_plic_new(2 * VIRT_MAX_HARTS + 1, set_ctx, NULL));
}

/* ---------------- loader ---------------- */
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void test_image_header(void **state)
{
    uint8_t img[4096] = { 0 };
    struct virt_image vi;
    const char *why = NULL;
    assert_int_equal(virt_image_parse_linux(img, sizeof(img), VIRT_RAM_BASE, &vi, &why), -ENOENT);
    assert_int_equal(virt_image_parse_linux(img, 10, VIRT_RAM_BASE, &vi, &why), -ENOENT);
    put64(img + 8, 0x200000);
    put64(img + 16, 0x1000000);
    memcpy(img + 56, "RSC\x05", 4);
    assert_int_equal(virt_image_parse_linux(img, sizeof(img), VIRT_RAM_BASE, &vi, &why), 0);
    assert_int_equal(vi.kind, VIRT_IMAGE_LINUX);
    assert_int_equal(vi.load_addr, 0x80200000);
    assert_int_equal(vi.entry, 0x80200000);
    assert_int_equal(vi.end, 0x80200000 + 0x1000000);
    /* the deprecated magic alone is accepted too */
    memset(img + 56, 0, 4);
    memcpy(img + 48, "RISCV\0\0\0", 8);
    assert_int_equal(virt_image_parse_linux(img, sizeof(img), VIRT_RAM_BASE, &vi, &why), 0);
    /* damaged headers */
    put64(img + 8, 0x200001);
    assert_int_equal(virt_image_parse_linux(img, sizeof(img), VIRT_RAM_BASE, &vi, &why), -EINVAL);
    assert_non_null(why);
    put64(img + 8, 0x200000);
    put64(img + 16, 100);       /* smaller than the file */
    assert_int_equal(virt_image_parse_linux(img, sizeof(img), VIRT_RAM_BASE, &vi, &why), -EINVAL);
    put64(img + 16, 1ULL << 40);
    assert_int_equal(virt_image_parse_linux(img, sizeof(img), VIRT_RAM_BASE, &vi, &why), -EINVAL);
}

/* The project's guest kernel, when built: its header parses as QEMU would load it. */
static void test_image_real(void **state)
{
    const char *cache = getenv("VESSEL_CACHE");
    char pat[4096];
    snprintf(pat, sizeof(pat), "%s/guest/riscv64-*/Image", cache && *cache ? cache : "/nonexistent");
    glob_t g;
    char *data = NULL;
    size_t len = 0;
    if (glob(pat, 0, NULL, &g) != 0 || read_file(g.gl_pathv[g.gl_pathc - 1], &data, &len, 256u << 20) != 0) {
        skip();     /* no default guest built (make guest) */
        return;
    }
    globfree(&g);
    struct virt_image vi;
    const char *why = NULL;
    assert_int_equal(virt_image_parse_linux((uint8_t *)data, len, VIRT_RAM_BASE, &vi, &why), 0);
    assert_int_equal(vi.load_addr, 0x80200000);
    assert_true(vi.mem_size >= len);
    free(data);
}

struct elf_buf {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[2];
    Elf64_Shdr sh[3];
    Elf64_Sym sym[2];
    char strtab[16];
    uint8_t code[64];
};

static void mk_elf(struct elf_buf *e, uint64_t paddr, uint64_t vaddr, bool with_tohost)
{
    memset(e, 0, sizeof(*e));
    memcpy(e->eh.e_ident, ELFMAG, SELFMAG);
    e->eh.e_ident[EI_CLASS] = ELFCLASS64;
    e->eh.e_ident[EI_DATA] = ELFDATA2LSB;
    e->eh.e_machine = EM_RISCV;
    e->eh.e_type = ET_EXEC;
    e->eh.e_entry = vaddr + 8;
    e->eh.e_phoff = offsetof(struct elf_buf, ph);
    e->eh.e_phentsize = sizeof(Elf64_Phdr);
    e->eh.e_phnum = 1;
    e->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = offsetof(struct elf_buf, code),
                             .p_vaddr = vaddr, .p_paddr = paddr, .p_filesz = 64, .p_memsz = 4096 };
    for (int i = 0; i < 64; i++)
        e->code[i] = (uint8_t)(i + 1);
    if (with_tohost) {
        e->eh.e_shoff = offsetof(struct elf_buf, sh);
        e->eh.e_shentsize = sizeof(Elf64_Shdr);
        e->eh.e_shnum = 3;
        e->sh[1] = (Elf64_Shdr){ .sh_type = SHT_SYMTAB, .sh_offset = offsetof(struct elf_buf, sym),
                                 .sh_size = sizeof(e->sym), .sh_link = 2, .sh_entsize = sizeof(Elf64_Sym) };
        e->sh[2] = (Elf64_Shdr){ .sh_type = SHT_STRTAB, .sh_offset = offsetof(struct elf_buf, strtab),
                                 .sh_size = sizeof(e->strtab) };
        memcpy(e->strtab, "\0tohost", 8);
        e->sym[1] = (Elf64_Sym){ .st_name = 1, .st_value = paddr + 0x1000 };
    }
}

static void test_elf(void **state)
{
    struct guest_mem mem;
    mem_init(&mem);
    assert_int_equal(mem_add_ram(&mem, VIRT_RAM_BASE, 16 << 20, 0), 0);
    struct elf_buf e;
    struct virt_image vi;
    const char *why = NULL;
    /* bare metal at its physical address, with tohost */
    mk_elf(&e, 0x80000000, 0x80000000, true);
    memset(e.code + 0, 0, 0);
    assert_int_equal(virt_image_load_elf(&mem, (uint8_t *)&e, sizeof(e), &vi, &why), 0);
    assert_int_equal(vi.entry, 0x80000008);
    assert_int_equal(vi.tohost, 0x80001000);
    uint8_t *p = mem_translate(&mem, 0x80000000, 4096);
    assert_int_equal(p[0], 1);
    assert_int_equal(p[63], 64);
    assert_int_equal(p[64], 0);       /* bss zeroed */
    /* a kernel linked at virtual addresses moves to RAM + 2 MiB, entry too */
    mk_elf(&e, 0xffffffff80000000ULL, 0xffffffff80000000ULL, false);
    assert_int_equal(virt_image_load_elf(&mem, (uint8_t *)&e, sizeof(e), &vi, &why), 0);
    assert_int_equal(vi.load_addr, 0x80200000);
    assert_int_equal(vi.entry, 0x80200008);
    assert_int_equal(vi.tohost, 0);
    assert_int_equal(((uint8_t *)mem_translate(&mem, 0x80200000, 1))[5], 6);
    /* Linux's vmlinux: virtual addresses, LMA 0, virtual entry */
    mk_elf(&e, 0, 0xffffffff80000000ULL, false);
    assert_int_equal(virt_image_load_elf(&mem, (uint8_t *)&e, sizeof(e), &vi, &why), 0);
    assert_int_equal(vi.load_addr, 0x80200000);
    assert_int_equal(vi.entry, 0x80200008);
    /* an entry outside every segment */
    mk_elf(&e, 0x80000000, 0x80000000, false);
    e.eh.e_entry = 0x90000000;
    assert_int_equal(virt_image_load_elf(&mem, (uint8_t *)&e, sizeof(e), &vi, &why), -EINVAL);
    /* virtual entry, physical load address */
    mk_elf(&e, 0x80400000, 0xffffffff80000000ULL, false);
    assert_int_equal(virt_image_load_elf(&mem, (uint8_t *)&e, sizeof(e), &vi, &why), 0);
    assert_int_equal(vi.entry, 0x80400008);
    /* bare metal outside RAM: refused */
    mk_elf(&e, 0x1000, 0x1000, true);
    assert_int_equal(virt_image_load_elf(&mem, (uint8_t *)&e, sizeof(e), &vi, &why), -ERANGE);
    /* damaged: segment beyond the file, wrong machine, truncated */
    mk_elf(&e, 0x80000000, 0x80000000, false);
    e.ph[0].p_filesz = 1 << 20;
    assert_int_equal(virt_image_load_elf(&mem, (uint8_t *)&e, sizeof(e), &vi, &why), -EINVAL);
    mk_elf(&e, 0x80000000, 0x80000000, false);
    e.eh.e_machine = EM_X86_64;
    assert_int_equal(virt_image_load_elf(&mem, (uint8_t *)&e, sizeof(e), &vi, &why), -EINVAL);
    assert_int_equal(virt_image_load_elf(&mem, (uint8_t *)&e, 20, &vi, &why), -EINVAL);
    mk_elf(&e, 0x80000000, 0x80000000, false);
    e.eh.e_phnum = 1000;
    assert_int_equal(virt_image_load_elf(&mem, (uint8_t *)&e, sizeof(e), &vi, &why), -EINVAL);
    /* found by fuzz_virt_loader: segments outside RAM whose span is wider
     * than RAM (one at the top of the address space) must not wrap into
     * RAM once moved to RAM + 2 MiB: refused (it loaded, with the image's
     * end below its start) */
    mk_elf(&e, 0x30000, 0x80000000, false);
    e.eh.e_phnum = 2;
    e.ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0, .p_vaddr = 0x300000011ULL,
                            .p_paddr = 0xfffffffffffffc00ULL, .p_filesz = 0xff, .p_memsz = 0x258 };
    assert_int_equal(virt_image_load_elf(&mem, (uint8_t *)&e, sizeof(e), &vi, &why), -ERANGE);
    mem_destroy(&mem);
}

/* Found by fuzz_virt_loader: program headers, section headers and symbols
 * at offsets the file chooses, not aligned for their type. They used to be
 * read through casts (undefined behaviour: UBSan "misaligned address" in a
 * -Db_sanitize=undefined build); they are copied out now. The same ELF as
 * test_elf's bare-metal one, every table moved one byte up. */
static void test_elf_misaligned_headers(void **state)
{
    struct guest_mem mem;
    mem_init(&mem);
    assert_int_equal(mem_add_ram(&mem, VIRT_RAM_BASE, 16 << 20, 0), 0);
    struct elf_buf e;
    mk_elf(&e, 0x80000000, 0x80000000, true);
    uint8_t *buf = calloc(1, sizeof(e) + 1);
    assert_non_null(buf);
    e.eh.e_phoff += 1;
    e.eh.e_shoff += 1;
    e.ph[0].p_offset += 1;
    e.sh[1].sh_offset += 1;
    e.sh[2].sh_offset += 1;
    memcpy(buf, &e.eh, sizeof(e.eh));
    memcpy(buf + sizeof(e.eh) + 1, (uint8_t *)&e + sizeof(e.eh), sizeof(e) - sizeof(e.eh));
    assert_int_equal(e.eh.e_phoff % 8, 1);      /* calloc'd buf is 8-aligned: these are not */
    struct virt_image vi;
    const char *why = NULL;
    assert_int_equal(virt_image_load_elf(&mem, buf, sizeof(e) + 1, &vi, &why), 0);
    assert_int_equal(vi.entry, 0x80000008);
    assert_int_equal(vi.tohost, 0x80001000);
    uint8_t *p = mem_translate(&mem, 0x80000000, 4096);
    assert_int_equal(p[0], 1);
    assert_int_equal(p[63], 64);
    free(buf);
    mem_destroy(&mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fdt_full),
        cmocka_unit_test(test_fdt_minimal),
        cmocka_unit_test(test_fdt_limits),
        cmocka_unit_test(test_plic_claim_complete),
        cmocka_unit_test(test_plic_priority_and_contexts),
        cmocka_unit_test(test_plic_bad_access),
        cmocka_unit_test(test_plic_reset),
        cmocka_unit_test(test_clock_stop),
        cmocka_unit_test(test_image_header),
        cmocka_unit_test(test_image_real),
        cmocka_unit_test(test_elf),
        cmocka_unit_test(test_elf_misaligned_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
