/* An S-mode "kernel" for tests/integration/run-bios-initrd.sh, started by
 * OpenSBI's fw_jump on `vessel run -m 64M --bios ... --initrd FILE`: finds
 * the initrd (a page-aligned header "VINITRD1", its length, then 32-bit
 * words k * 2654435761) in RAM and checks every word, so a device tree
 * copied over it by the firmware is caught. Prints through the legacy SBI
 * console (OpenSBI 1.1 has no DBCN) and ends with SRST: reason none when
 * intact, system failure otherwise. */
#include <stdint.h>

#define RAM_BASE 0x80000000ull
#define RAM_END (RAM_BASE + (64ull << 20))

static void sbi_putchar(int c)
{
    register long a0 __asm__("a0") = c, a7 __asm__("a7") = 1;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7) : "memory", "a1");
}

static void shutdown(long reason)
{
    register long a0 __asm__("a0") = 0, a1 __asm__("a1") = reason;
    register long a6 __asm__("a6") = 0, a7 __asm__("a7") = 0x53525354;
    __asm__ volatile("ecall" : "+r"(a0), "+r"(a1) : "r"(a6), "r"(a7) : "memory");
    for (;;)
        ;
}

static void puts_(const char *s)
{
    while (*s)
        sbi_putchar(*s++);
}

static void putx(uint64_t v)
{
    puts_("0x");
    for (int i = 60; i >= 0; i -= 4)
        sbi_putchar("0123456789abcdef"[(v >> i) & 15]);
}

void main(uint64_t hartid, uint64_t fdt)
{
    (void)hartid;
    puts_("initrd-check: device tree at ");
    putx(fdt);
    puts_("\n");
    for (uint64_t a = RAM_BASE + 0x200000; a < RAM_END; a += 4096) {
        const volatile uint64_t *h = (const volatile uint64_t *)a;
        if (h[0] != 0x31445254494e4956ull)          /* "VINITRD1" */
            continue;
        uint64_t len = h[1];
        const volatile uint32_t *w = (const volatile uint32_t *)(a + 16);
        uint64_t n = (len - 16) / 4, bad = 0, first = 0;
        for (uint64_t k = 0; k < n; k++)
            if (w[k] != (uint32_t)(k * 2654435761u) && !bad++)
                first = a + 16 + 4 * k;
        puts_("initrd-check: initrd at ");
        putx(a);
        puts_(" length ");
        putx(len);
        if (bad) {
            puts_(": CORRUPT from ");
            putx(first);
            puts_("\n");
            shutdown(1);
        }
        puts_(": intact\n");
        shutdown(0);
    }
    puts_("initrd-check: no initrd found\n");
    shutdown(1);
}

void secondary(void) { for (;;) __asm__ volatile("wfi"); }
void resumed(void) { for (;;) __asm__ volatile("wfi"); }
void unexpected_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    puts_("initrd-check: unexpected trap, cause ");
    putx(cause);
    puts_(" epc ");
    putx(epc);
    puts_(" tval ");
    putx(tval);
    puts_("\n");
    shutdown(1);
}
