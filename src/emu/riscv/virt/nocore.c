/* STAND-IN, built only while the RV64GC core (the src/emu/riscv sources) is not in
 * the tree: the system-mode entry points of riscv.h that the board uses, so
 * that everything else builds and `vessel run` says what is missing. Weak,
 * so a test core linked beside libvessel (tests/unit/user/fake_core.c) wins. */
#define WEAK __attribute__((weak))
#include "base/base.h"
#include "emu/riscv/riscv.h"

WEAK struct rv_machine *rv_machine_new_sys(const struct rv_sys_config *cfg)
{
    log_error("this build has no RISC-V CPU core yet (src/emu/riscv): cannot run a machine");
    return NULL;
}
WEAK void *rv_machine_opaque(const struct rv_machine *m) { return NULL; }
WEAK void rv_machine_free(struct rv_machine *m) { }
WEAK uint64_t rv_machine_time(const struct rv_machine *m) { return 0; }
WEAK struct rv_machine *rv_hart_machine(const struct rv_hart *h) { return NULL; }
WEAK unsigned rv_hart_id(const struct rv_hart *h) { return 0; }
WEAK void rv_set_priv(struct rv_hart *h, enum rv_priv p) { }
WEAK void rv_set_mtimecmp(struct rv_hart *h, uint64_t v) { }
WEAK uint64_t rv_get_mtimecmp(const struct rv_hart *h) { return 0; }
WEAK void rv_hart_halt(struct rv_hart *h) { }
WEAK void rv_hart_resume(struct rv_hart *h) { }
WEAK void rv_hart_wait(struct rv_hart *h) { }
WEAK struct rv_hart *rv_hart_new(struct rv_machine *m, unsigned hartid) { return NULL; }
WEAK void rv_hart_free(struct rv_hart *h) { }
WEAK void rv_hart_reset(struct rv_hart *h, uint64_t pc) { }
WEAK uint64_t rv_get_x(const struct rv_hart *h, unsigned r) { return 0; }
WEAK void rv_set_x(struct rv_hart *h, unsigned r, uint64_t v) { }
WEAK uint64_t rv_get_pc(const struct rv_hart *h) { return 0; }
WEAK int rv_csr_read(struct rv_hart *h, unsigned csr, uint64_t *val) { return -1; }
WEAK int rv_csr_write(struct rv_hart *h, unsigned csr, uint64_t val) { return -1; }
WEAK enum rv_exit rv_run(struct rv_hart *h, uint64_t budget) { return RV_EXIT_HALT; }
WEAK void rv_kick(struct rv_hart *h) { }
WEAK void rv_set_irq(struct rv_hart *h, unsigned bit, bool level) { }
WEAK void rv_invalidate_code(struct rv_machine *m, uint64_t addr, uint64_t len) { }
WEAK void rv_flush_tlb(struct rv_hart *h) { }
