/* 8250 UART: registers, FIFO, interrupts, loopback, input flow control
 * through a real chardev, save/load. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/base.h"
#include "dev/dev.h"

#define BASE 0x3f8

struct irqrec { int level, raises, lowers; };

static void irq_cb(void *opaque, unsigned n, int level)
{
    struct irqrec *r = opaque;
    assert_int_equal(n, 4);
    r->level = level;
    if (level)
        r->raises++;
    else
        r->lowers++;
}

struct fix {
    struct bus bus;
    struct irqrec irq;
    struct uart8250 *u;
    unsigned shift;
};

static struct fix *fix_new(unsigned shift, struct chardev *chr)
{
    struct fix *f = xzalloc(sizeof(*f));
    bus_init(&f->bus);
    f->shift = shift;
    f->u = uart8250_create(&f->bus, BASE, shift, (struct irq_line){ irq_cb, &f->irq, 4 }, chr);
    assert_non_null(f->u);
    return f;
}

static void fix_free(struct fix *f)
{
    uart8250_destroy(f->u);
    bus_destroy(&f->bus);
    free(f);
}

static uint8_t rd(struct fix *f, unsigned reg)
{
    uint64_t v = 0xdead;
    assert_int_equal(bus_access(&f->bus, BASE + ((uint64_t)reg << f->shift), &v, 1, false), 0);
    assert_true(v <= 0xff);
    return (uint8_t)v;
}

static void wr(struct fix *f, unsigned reg, uint8_t val)
{
    uint64_t v = val;
    assert_int_equal(bus_access(&f->bus, BASE + ((uint64_t)reg << f->shift), &v, 1, true), 0);
}

static void test_reset_state(void **state)
{
    struct fix *f = fix_new(0, NULL);
    assert_int_equal(rd(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
    assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
    assert_int_equal(rd(f, UART_IER), 0);
    assert_int_equal(rd(f, UART_MSR), UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
    assert_int_equal(rd(f, UART_RBR), 0);      /* empty FIFO */
    assert_int_equal(f->irq.raises, 0);
    /* the range is 8 registers; the next byte is not ours */
    uint64_t v;
    assert_int_equal(bus_access(&f->bus, BASE + 8, &v, 1, false), -ENOENT);
    /* a second UART on the same range is refused */
    assert_null(uart8250_create(&f->bus, BASE + 4, 0, (struct irq_line){ 0 }, NULL));
    fix_free(f);
}

static void test_scratch_and_dlab(void **state)
{
    struct fix *f = fix_new(0, NULL);
    wr(f, UART_SCR, 0x5a);
    assert_int_equal(rd(f, UART_SCR), 0x5a);
    wr(f, UART_IER, UART_IER_RDI);
    wr(f, UART_LCR, UART_LCR_DLAB | 0x03);
    assert_int_equal(rd(f, UART_DLL), 12);     /* 9600 baud default */
    wr(f, UART_DLL, 1);
    wr(f, UART_DLM, 0x80);
    assert_int_equal(rd(f, UART_DLL), 1);
    assert_int_equal(rd(f, UART_DLM), 0x80);
    /* with DLAB set the THR write is the divisor: nothing is transmitted */
    assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
    wr(f, UART_LCR, 0x03);
    assert_int_equal(rd(f, UART_LCR), 0x03);
    assert_int_equal(rd(f, UART_IER), UART_IER_RDI);   /* IER untouched by DLM */
    wr(f, UART_LCR, UART_LCR_DLAB);
    assert_int_equal(rd(f, UART_DLM), 0x80);
    fix_free(f);
}

static void test_thre_interrupt(void **state)
{
    struct fix *f = fix_new(0, NULL);
    /* enabling THRI with the THR empty raises it at once */
    wr(f, UART_IER, UART_IER_THRI);
    assert_int_equal(f->irq.level, 1);
    assert_int_equal(rd(f, UART_IIR), UART_IIR_THRI);
    /* reading IIR acknowledged it */
    assert_int_equal(f->irq.level, 0);
    assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
    /* every transmitted byte re-arms it */
    wr(f, UART_THR, 'a');
    assert_int_equal(f->irq.level, 1);
    assert_int_equal(rd(f, UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT), UART_LSR_THRE | UART_LSR_TEMT);
    /* masking lowers the line, unmasking with THR empty raises again */
    wr(f, UART_IER, 0);
    assert_int_equal(f->irq.level, 0);
    wr(f, UART_IER, UART_IER_THRI);
    assert_int_equal(f->irq.level, 1);
    /* a THR write also acknowledges the old one; with FIFOs IIR shows 0xc0 */
    wr(f, UART_FCR, UART_FCR_ENABLE);
    assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_THRI);
    assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
    fix_free(f);
}

static void test_loopback_fifo(void **state)
{
    struct fix *f = fix_new(0, NULL);
    wr(f, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX | UART_FCR_CLEAR_TX);
    wr(f, UART_MCR, UART_MCR_LOOP);
    for (int i = 0; i < UART_FIFO_SIZE + 1; i++)
        wr(f, UART_THR, (uint8_t)('A' + i));
    uint8_t lsr = rd(f, UART_LSR);
    assert_true(lsr & UART_LSR_DR);
    assert_true(lsr & UART_LSR_OE);             /* the 17th byte overran */
    assert_int_equal(rd(f, UART_LSR) & UART_LSR_OE, 0);   /* read clears OE */
    for (int i = 0; i < UART_FIFO_SIZE; i++) {
        assert_true(rd(f, UART_LSR) & UART_LSR_DR);
        assert_int_equal(rd(f, UART_RBR), 'A' + i);
    }
    assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
    /* FCR clear-RX empties the FIFO */
    wr(f, UART_THR, 'x');
    wr(f, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX);
    assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
    /* without FIFO the receiver holds one byte */
    wr(f, UART_FCR, 0);
    wr(f, UART_THR, '1');
    wr(f, UART_THR, '2');
    assert_true(rd(f, UART_LSR) & UART_LSR_OE);
    assert_int_equal(rd(f, UART_RBR), '1');
    assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
    fix_free(f);
}

static void test_rx_interrupts(void **state)
{
    struct fix *f = fix_new(0, NULL);
    wr(f, UART_MCR, UART_MCR_LOOP);
    wr(f, UART_FCR, UART_FCR_ENABLE | 0x40);    /* trigger level 4 */
    wr(f, UART_IER, UART_IER_RDI);
    assert_int_equal(f->irq.level, 0);
    wr(f, UART_THR, 'a');
    /* below the trigger: character timeout */
    assert_int_equal(f->irq.level, 1);
    assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_TIMEOUT);
    wr(f, UART_THR, 'b');
    wr(f, UART_THR, 'c');
    wr(f, UART_THR, 'd');
    assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_RDI);
    /* reading IIR does not clear RDI; draining the FIFO does */
    assert_int_equal(f->irq.level, 1);
    for (int i = 0; i < 4; i++)
        rd(f, UART_RBR);
    assert_int_equal(f->irq.level, 0);
    assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
    fix_free(f);
}

static void test_priorities(void **state)
{
    struct fix *f = fix_new(0, NULL);
    wr(f, UART_MCR, UART_MCR_LOOP);
    /* FIFO off: two bytes overrun */
    wr(f, UART_THR, 1);
    wr(f, UART_THR, 2);
    wr(f, UART_IER, UART_IER_RDI | UART_IER_THRI | UART_IER_RLSI);
    assert_int_equal(rd(f, UART_IIR), UART_IIR_RLSI);
    rd(f, UART_LSR);                            /* clears OE */
    assert_int_equal(rd(f, UART_IIR), UART_IIR_RDI);
    rd(f, UART_RBR);
    assert_int_equal(rd(f, UART_IIR), UART_IIR_THRI);
    assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
    assert_int_equal(f->irq.level, 0);
    fix_free(f);
}

static void test_modem_status(void **state)
{
    struct fix *f = fix_new(0, NULL);
    wr(f, UART_IER, UART_IER_MSI);
    assert_int_equal(f->irq.level, 0);
    /* loopback: MSR follows MCR (RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD) */
    wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS | UART_MCR_OUT1);
    assert_int_equal(f->irq.level, 1);
    assert_int_equal(rd(f, UART_IIR), UART_IIR_MSI);
    uint8_t msr = rd(f, UART_MSR);
    assert_int_equal(msr & 0xf0, UART_MSR_CTS | UART_MSR_RI);
    assert_true(msr & UART_MSR_DDSR);            /* DSR dropped */
    assert_true(msr & UART_MSR_DDCD);            /* DCD dropped */
    assert_int_equal(rd(f, UART_MSR) & 0x0f, 0);  /* deltas cleared by reading */
    assert_int_equal(f->irq.level, 0);
    wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS);
    assert_true(rd(f, UART_MSR) & UART_MSR_TERI); /* RI trailing edge */
    assert_int_equal(rd(f, UART_MCR), UART_MCR_LOOP | UART_MCR_RTS);
    fix_free(f);
}

static void test_reg_shift(void **state)
{
    struct fix *f = fix_new(2, NULL);
    wr(f, UART_SCR, 0x77);
    assert_int_equal(rd(f, UART_SCR), 0x77);
    uint64_t v = 0x11;
    /* misaligned and wide accesses are ignored / read 0 */
    assert_int_equal(bus_access(&f->bus, BASE + (UART_SCR << 2) + 1, &v, 1, true), 0);
    assert_int_equal(rd(f, UART_SCR), 0x77);
    assert_int_equal(bus_access(&f->bus, BASE + (UART_SCR << 2), &v, 4, false), 0);
    assert_int_equal(v, 0);
    assert_int_equal(bus_access(&f->bus, BASE + 31, &v, 1, false), 0);
    assert_int_equal(bus_access(&f->bus, BASE + 32, &v, 1, false), -ENOENT);
    assert_null(uart8250_create(&f->bus, 0x10000, 4, (struct irq_line){ 0 }, NULL));
    fix_free(f);
}

static void test_save_load(void **state)
{
    struct fix *a = fix_new(0, NULL), *b = fix_new(0, NULL);
    wr(a, UART_FCR, UART_FCR_ENABLE);
    wr(a, UART_MCR, UART_MCR_LOOP);
    wr(a, UART_THR, 'q');
    wr(a, UART_THR, 'r');
    wr(a, UART_SCR, 9);
    wr(a, UART_IER, UART_IER_RDI);
    struct uart8250_state st;
    uart8250_save(a->u, &st);
    assert_int_equal(uart8250_load(b->u, &st), 0);
    assert_int_equal(b->irq.level, 1);          /* line re-driven on load */
    assert_int_equal(rd(b, UART_SCR), 9);
    assert_int_equal(rd(b, UART_RBR), 'q');
    assert_int_equal(rd(b, UART_RBR), 'r');
    assert_int_equal(b->irq.level, 0);
    struct uart8250_state bad = st;
    bad.rx_count = 17;
    assert_int_equal(uart8250_load(b->u, &bad), -EINVAL);
    bad = st;
    bad.rx_head = 16;
    assert_int_equal(uart8250_load(b->u, &bad), -EINVAL);
    bad = st;
    bad.fcr = 0;                                /* 2 bytes without a FIFO */
    assert_int_equal(uart8250_load(b->u, &bad), -EINVAL);
    fix_free(a);
    fix_free(b);
}

/* Output and input through a real chardev (unix socket) and its loop. */
static void test_chardev_io(void **state)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/vessel-uart-test-%d.sock", (int)getpid());
    struct loop *l = loop_new();
    assert_non_null(l);
    char *spec = xasprintf("unix:%s", path);
    struct chardev *chr = chardev_open(spec, l);
    free(spec);
    assert_non_null(chr);
    struct fix *f = fix_new(0, chr);
    int cl = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, path);
    assert_int_equal(connect(cl, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(loop_run_once(l, 1000), 0);        /* accept */

    /* THR -> the client */
    wr(f, UART_THR, 'Z');
    char c = 0;
    assert_int_equal(read(cl, &c, 1), 1);
    assert_int_equal(c, 'Z');

    /* no FIFO: one byte at a time, the rest waits in the chardev */
    const char msg[] = "hello, 8250";
    assert_int_equal(write(cl, msg, sizeof(msg) - 1), (ssize_t)sizeof(msg) - 1);
    wr(f, UART_IER, UART_IER_RDI);
    char got[32] = "";
    unsigned n = 0;
    for (int round = 0; round < 100 && n < sizeof(msg) - 1; round++) {
        loop_run_once(l, 200);
        while (rd(f, UART_LSR) & UART_LSR_DR) {
            assert_int_equal(f->irq.level, 1);
            got[n++] = (char)rd(f, UART_RBR);
        }
    }
    assert_string_equal(got, msg);
    assert_int_equal(f->irq.level, 0);

    /* FIFO on: 20 bytes arrive as 16, then 4 after the guest reads */
    wr(f, UART_FCR, UART_FCR_ENABLE | 0xc0);    /* trigger 14 */
    const char msg2[] = "0123456789abcdefghij";
    assert_int_equal(write(cl, msg2, 20), 20);
    loop_run_once(l, 1000);
    assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_RDI);
    char got2[24] = "";
    for (n = 0; n < 16; n++)
        got2[n] = (char)rd(f, UART_RBR);
    assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
    loop_run_once(l, 1000);                     /* chardev_input_ready */
    assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_TIMEOUT);
    while (rd(f, UART_LSR) & UART_LSR_DR)
        got2[n++] = (char)rd(f, UART_RBR);
    assert_string_equal(got2, msg2);

    /* loopback disconnects the line: outside input waits */
    wr(f, UART_MCR, UART_MCR_LOOP);
    assert_int_equal(write(cl, "L", 1), 1);
    loop_run_once(l, 200);
    assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
    wr(f, UART_MCR, 0);
    loop_run_once(l, 1000);
    assert_int_equal(rd(f, UART_RBR), 'L');

    close(cl);
    fix_free(f);
    chardev_close(chr);
    loop_free(l);
    assert_int_equal(access(path, F_OK), -1);   /* socket file removed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_state),
        cmocka_unit_test(test_scratch_and_dlab),
        cmocka_unit_test(test_thre_interrupt),
        cmocka_unit_test(test_loopback_fifo),
        cmocka_unit_test(test_rx_interrupts),
        cmocka_unit_test(test_priorities),
        cmocka_unit_test(test_modem_status),
        cmocka_unit_test(test_reg_shift),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_chardev_io),
    };
    return cmocka_run_group_tests_name("uart8250", tests, NULL, NULL);
}
