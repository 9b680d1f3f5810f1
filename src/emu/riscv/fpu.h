/* emu/riscv internal: the F and D extensions (IEEE 754 exact).
 * The core keeps a struct rv_fpstate in each hart, executes FP loads and
 * stores itself (flw NaN-boxes: upper 32 bits all ones), and hands every
 * other F/D instruction to rv_fpu_exec(). */
#ifndef VESSEL_RISCV_FPU_H
#define VESSEL_RISCV_FPU_H

#include <stdint.h>

struct rv_fpstate {
    uint64_t f[32];     /* singles are NaN-boxed in the low 32 bits */
    uint32_t fflags;    /* NV=16 DZ=8 OF=4 UF=2 NX=1, accrued */
    uint32_t frm;       /* dynamic rounding mode 0..4 (RNE RTZ RDN RUP RMM) */
};

/* Execute one instruction whose major opcode is OP-FP (0x53), MADD (0x43),
 * MSUB (0x47), NMSUB (0x4b) or NMADD (0x4f). `x` is the integer register
 * file (x[0] reads 0; writes to x0 are discarded by the callee).
 * Returns 0, or -1 for an illegal instruction (bad rm incl. a dynamic rm
 * when frm is invalid, unknown funct). Compressed FP ops are expanded by the
 * core first. */
int rv_fpu_exec(struct rv_fpstate *fs, uint64_t *x, uint32_t insn);

#endif
