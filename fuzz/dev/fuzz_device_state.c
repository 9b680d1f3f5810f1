/* Fuzz what a snapshot file would hand the machine's devices: the input is
 * cut into states loaded into an 8250 and a goldfish RTC (load must refuse
 * what does not fit, never crash), each followed by guest accesses to the
 * registers and a machine reset; a state saved after any of that must load
 * back, and after a reset the 8250's interrupt line must be low. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

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
    struct uart8250 *u = uart8250_create(&bus, 0x1000, 0, (struct irq_line){ irq_cb, NULL, 4 }, NULL);
    struct goldfish_rtc *r = goldfish_rtc_create(&bus, 0x2000, (struct irq_line){ irq_cb, NULL, 11 }, NULL);
    if (!u || !r)
        abort();
    const size_t rec = sizeof(struct uart8250_state) + sizeof(struct goldfish_rtc_state) + 4;
    for (size_t i = 0; i + rec <= size; i += rec) {
        struct uart8250_state us;
        struct goldfish_rtc_state rs;
        memcpy(&us, data + i, sizeof(us));
        memcpy(&rs, data + i + sizeof(us), sizeof(rs));
        const uint8_t *op = data + i + sizeof(us) + sizeof(rs);
        uart8250_load(u, &us);
        goldfish_rtc_load(r, &rs);
        uint64_t v = op[2];
        bus_access(&bus, 0x1000 + op[1] % 8, &v, 1, op[0] & 1);
        v = op[2];
        bus_access(&bus, 0x2000 + (op[1] & 0x1c), &v, 4, op[0] & 2);
        if (op[3] & 1) {
            uart8250_reset(u);
            goldfish_rtc_reset(r);
            if (level)
                abort();        /* a reset lowers the line */
        }
        uart8250_save(u, &us);
        goldfish_rtc_save(r, &rs);
        if (uart8250_load(u, &us) != 0 || goldfish_rtc_load(r, &rs) != 0)
            abort();            /* what was saved loads back */
    }
    uart8250_destroy(u);
    goldfish_rtc_destroy(r);
    bus_destroy(&bus);
    return 0;
}
