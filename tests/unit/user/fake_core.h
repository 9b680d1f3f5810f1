/* Test-only additions the user-mode run loop needs from the core. */
#include <stdint.h>
struct rv_machine; struct rv_hart; struct rv_mem_ops;
struct rv_machine *rv_machine_new_user(const struct rv_mem_ops *ops);
void rv_hart_exception(const struct rv_hart *h, uint64_t *cause, uint64_t *tval);
/* The gdb stub needs the real core's debug API: left out with the test core. */
#define VESSEL_NO_GDB 1
