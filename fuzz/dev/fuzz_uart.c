/* Fuzz the 8250 register interface as a guest drives it: every input byte
 * triple is (op, register, value) on a UART with reg_shift 0. The saved
 * state must always load back (it is self-consistent) and the interrupt
 * line must match what IIR reports. */
#include <fcntl.h>
#include <stdlib.h>

#include "base/base.h"
#include "dev/dev.h"

static int level;
static void irq_cb(void *o, unsigned n, int l) { level = l; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        log_set_level(LOG_ERROR);
        log_set_fd(open("/dev/null", O_WRONLY));
        init = true;
    }
    struct bus bus;
    bus_init(&bus);
    level = 0;
    struct uart8250 *u = uart8250_create(&bus, 0x3f8, 0, (struct irq_line){ irq_cb, NULL, 4 }, NULL);
    if (!u)
        abort();
    for (size_t i = 0; i + 3 <= size; i += 3) {
        uint64_t v = data[i + 2];
        unsigned reg = data[i + 1] % 9;     /* 8: just outside the range */
        unsigned sz = 1u << (data[i] >> 6); /* 1, 2, 4, 8 */
        bus_access(&bus, 0x3f8 + reg, &v, sz, data[i] & 1);
        struct uart8250_state st;
        uart8250_save(u, &st);
        if (st.rx_count > UART_FIFO_SIZE || uart8250_load(u, &st) != 0)
            abort();
        /* IIR bit 0 is 0 exactly when the line is raised (IIR read
         * acknowledges THRE: look through a copy) */
        struct uart8250_state keep;
        uart8250_save(u, &keep);
        uint64_t iir;
        bus_access(&bus, 0x3f8 + UART_IIR, &iir, 1, false);
        int want = !(iir & 1);
        uart8250_load(u, &keep);
        if (level != want)
            abort();
    }
    uart8250_destroy(u);
    bus_destroy(&bus);
    return 0;
}
