/* riscv-sys runtime: console, results, the M and S trap handlers. */
#include <stdarg.h>
#include "sys.h"

extern volatile uint64_t tohost, fromhost;
extern const char test_name[];

volatile struct trap_rec trap, irq;
volatile int trap_mode;
void (*volatile irq_hook)(uint64_t cause, int level);
bool (*volatile exc_hook)(struct frame *f, int level);
bool have_uart;
unsigned checks;

/* ---------------------------------------------------------------- output */
static void htif_putc(char c)
{
    unsigned n;
    for (n = 0; tohost && n < 1000000; n++) ;
    tohost = (1ull << 56) | (1ull << 48) | (uint8_t)c;
    for (n = 0; !fromhost && n < 1000000; n++) ;
    fromhost = 0;
}

static void putc_(char c)
{
    if (have_uart) {
        volatile uint8_t *u = (volatile uint8_t *)UART_BASE;
        unsigned n;
        for (n = 0; !(u[5] & 0x20) && n < 1000000; n++) ;
        u[0] = (uint8_t)c;
    } else {
        htif_putc(c);
    }
}

void puts_(const char *s)
{
    while (*s) {
        if (*s == '\n') putc_('\r');
        putc_(*s++);
    }
}

void putx(uint64_t v)
{
    char b[19];
    int i;
    b[0] = '0'; b[1] = 'x';
    for (i = 0; i < 16; i++) b[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
    b[18] = 0;
    puts_(b);
}

void putd(uint64_t v)
{
    char b[21];
    int i = 20;
    b[i] = 0;
    do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    puts_(b + i);
}

/* %s %x (0x + 16 digits) %d (unsigned decimal) %c */
void printf_(const char *fmt, ...)
{
    va_list ap;
    char one[2] = { 0, 0 };
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%' || !fmt[1]) { one[0] = *fmt; puts_(one); continue; }
        switch (*++fmt) {
        case 's': puts_(va_arg(ap, const char *)); break;
        case 'x': putx(va_arg(ap, uint64_t)); break;
        case 'd': putd(va_arg(ap, uint64_t)); break;
        case 'c': one[0] = (char)va_arg(ap, int); puts_(one); break;
        default: one[0] = *fmt; puts_(one); break;
        }
    }
    va_end(ap);
}

/* ---------------------------------------------------------------- results */
/* Report through tohost (spike, vessel: the machine stops there). A machine
 * without HTIF (QEMU virt) goes on running: then use its SiFive test device
 * (0x5555 = pass, code << 16 | 0x3333 = fail), which exits QEMU with the
 * same status. */
void rt_exit(int code)
{
    unsigned i;
    if (code == 0)
        printf_("riscv-sys %s: PASS (%d checks)\n", test_name, (uint64_t)checks);
    tohost = ((uint64_t)code << 1) | 1;
    for (i = 0; i < 100000; i++)
        __asm__ volatile("" ::: "memory");
    if (have_uart)
        mmio_write32(SIFIVE_TEST, code ? ((uint32_t)code << 16) | 0x3333 : 0x5555);
    for (;;)
        tohost = ((uint64_t)code << 1) | 1;
}

void check_fail(int line, const char *what, uint64_t got, uint64_t exp)
{
    CSR_CLEAR(mstatus, MS_MIE);     /* no interrupt, no M-mode trigger (trigger.c) from here */
    printf_("riscv-sys %s: FAIL at line %d after %d checks: %s", test_name,
            (uint64_t)line, (uint64_t)checks, what);
    if (got != exp)
        printf_(" (got %x, expected %x)", got, exp);
    printf_("\n  last trap: cause %x tval %x epc %x (%d taken)\n",
            trap.cause, trap.tval, trap.epc, trap.count);
    /* never 0 mod 256: an exit status must not read as a pass */
    rt_exit(1 + line % 255);
}

/* ---------------------------------------------------------------- traps */
static void unexpected(struct frame *f, int level)
{
    printf_("riscv-sys %s: unexpected trap in %s-mode handler: cause %x tval %x epc %x status %x\n",
            test_name, level == PRIV_M ? "M" : "S", f->cause, f->tval, f->epc, f->status);
    rt_exit(255);
}

static int handle(struct frame *f, int level)
{
    if (f->cause & CAUSE_IRQ) {
        irq.count++;
        irq.cause = f->cause;
        irq.epc = f->epc;
        irq.status = f->status;
        irq.level = level;
        if (!irq_hook) unexpected(f, level);
        irq_hook(f->cause, level);
        return 0;
    }
    if (exc_hook && exc_hook(f, level))
        return 0;
    trap.count++;
    trap.cause = f->cause;
    trap.tval = f->tval;
    trap.epc = f->epc;
    trap.status = f->status;
    trap.level = level;
    switch (trap_mode) {
    case TRAP_SKIP: f->epc += 4; break;
    case TRAP_RA: f->epc = f->x[REG_RA]; break;
    default: unexpected(f, level);
    }
    return 0;
}

/* returns 1 to resume the M-mode caller of enter_lower() */
int m_trap(struct frame *f)
{
    if ((f->cause == EXC_ECALL_U || f->cause == EXC_ECALL_S) && f->x[REG_A7] == MAGIC_RET)
        return 1;
    return handle(f, PRIV_M);
}

/* returns 1 to pass a U-mode MAGIC_RET ecall on to M */
int s_trap(struct frame *f)
{
    if (f->cause == EXC_ECALL_U && f->x[REG_A7] == MAGIC_RET)
        return 1;
    return handle(f, PRIV_S);
}

void rt_init(void)
{
    trap_expect(TRAP_SKIP);
    (void)probe_lbu(UART_BASE + 5);
    have_uart = trap.count == 0;
    trap_done();
    trap.count = 0;
    if (have_uart) {
        volatile uint8_t *u = (volatile uint8_t *)UART_BASE;
        u[3] = 0x03;        /* 8N1 */
        u[2] = 0x01;        /* FIFO on */
    }
}

void vec_wrong_entry(uint64_t cause)
{
    printf_("riscv-sys %s: trap (cause %x) reached the wrong vectored mtvec entry\n", test_name, cause);
    rt_exit(250);
}

/* A secondary hart woken by hart 0's MSIP: clear it and run the program's
 * secondary_main, if it has one. */
__attribute__((weak)) void secondary_main(unsigned hartid) { (void)hartid; }

void secondary_entry(unsigned hartid)
{
    mmio_write32(CLINT_MSIP + 4 * hartid, 0);
    secondary_main(hartid);
    CSR_WRITE(mie, 0);
    for (;;)
        __asm__ volatile("wfi");
}
