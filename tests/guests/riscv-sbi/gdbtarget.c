/* A target for the debugger tests (tests/integration/run-gdb-sys.sh): an
 * S-mode program under the built-in SBI whose hart 0 loops over a few
 * globals (written, read, both) while hart 1 stays stopped (HSM) all along:
 * it is never started. */
#include <stdint.h>

volatile long counter, watched, readme = 7;

void main(void)
{
    for (;;) {
        counter++;
        watched = counter * 2;
        long v = readme;
        if (v != 7)
            counter = 0;
    }
}

void secondary(void)
{
    for (;;)
        __asm__ volatile("wfi");
}

void resumed(void)
{
    for (;;)
        __asm__ volatile("wfi");
}

void unexpected_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    (void)cause; (void)epc; (void)tval;
    for (;;)
        __asm__ volatile("wfi");
}
