/* emu/riscv internal: the translator's shared pieces, between jit.c (the
 * driver: register choice, entry, exits, memory accesses, stubs, chaining)
 * and jit_ops.c (one RISC-V op at a time). Private to jit*.c. */
#ifndef VESSEL_RISCV_JIT_H
#define VESSEL_RISCV_JIT_H

#include "emu/riscv/hart.h"
#include "emu/riscv/jit_x86.h"

#include <stddef.h>

/* the frame: [rsp] slow-path load result, [rsp+8] mode_data + 1, [rsp+16] va */
enum { SLOT_VAL = 0, SLOT_MODE = 8, SLOT_VA = 16, FRAME = 24 };
#define OFF_X(r) ((int32_t)(offsetof(struct rv_hart, x) + 8 * (r)))
#define OFF_F(r) ((int32_t)(offsetof(struct rv_hart, fp.f) + 8 * (r)))
#define OFF_PC ((int32_t)offsetof(struct rv_hart, pc))
#define OFF_INSTRET ((int32_t)offsetof(struct rv_hart, instret))
/* h->instret lives in this host register while translated code runs
 * (loaded at entry, stored by the epilogue): the counting at every block
 * transition and loop iteration is a register add, not a read-modify-write
 * of memory (those chain through store forwarding, one per transition).
 * Nothing translated code calls reads h->instret. */
#define JIT_ICOUNT R15
#define OFF_MODE ((int32_t)offsetof(struct rv_hart, mode_data))
#define OFF_DIRTY ((int32_t)offsetof(struct rv_hart, code_dirty))
#define OFF_REQ ((int32_t)offsetof(struct rv_hart, exit_req))
/* what instret is checked against: the budget, in system mode the next
 * timer poll when sooner, 0 while a request may be pending (hart.h:
 * rv_request), so one check stands for all three */
#define OFF_LIMIT ((int32_t)offsetof(struct rv_hart, jit_limit))
#define OFF_MIP ((int32_t)offsetof(struct rv_hart, mip))
#define OFF_MIE ((int32_t)offsetof(struct rv_hart, mie))
#define OFF_JTC ((int32_t)offsetof(struct rv_hart, jtc))
#define OFF_DSIZE ((int32_t)offsetof(struct rv_hart, direct_size))
#define OFF_MSTATUS ((int32_t)offsetof(struct rv_hart, mstatus))
#define OFF_PRIV ((int32_t)offsetof(struct rv_hart, priv))
#define OFF_JIT_LAST ((int32_t)offsetof(struct rv_hart, jit_last))
#define OFF_TLB(acc) ((int32_t)(offsetof(struct rv_hart, tlb) + (size_t)(acc) * sizeof(((struct rv_hart *)0)->tlb[0])))

enum { ST_BRANCH, ST_LOAD, ST_STORE, ST_FPU, ST_LOOP };
struct stub {
    uint8_t kind, size;
    bool sext;
    uint8_t k;                  /* instruction index in the block */
    uint8_t rs2;                /* store: the value's register */
    bool fp;                    /* store: rs2 is an f register */
    int8_t dst;                 /* load: the host register loaded */
    uint32_t dirty;             /* guest registers dirty at that point */
    uint32_t patch[2];          /* rel32s to point at the stub (0: none) */
    uint32_t back;              /* where the fast path goes on */
    uint32_t site;              /* direct: the host access (0: none) */
    int8_t areg;                /* direct: va = areg + adisp */
    int32_t adisp;
    uint32_t start;             /* where the stub was emitted */
};

/* the jumps of an F/D fast path to its exact path (jit_fp.c) */
struct jit_fp_slow {
    unsigned n;
    uint32_t site[12];
};

/* Host CPU features the translator uses where present */
enum { JIT_HOST_POPCNT = 1, JIT_HOST_BMI2 = 2, JIT_HOST_FMA = 4 };
uint8_t jit_host_features(void);

struct jt {
    struct jx e;
    uint8_t host;               /* JIT_HOST_* */
    const struct rv_block *b;   /* the decoded instructions (the hart's block or a copy) */
    struct rv_block *self;      /* the hart's block: what the code names */
    int8_t hreg[33];            /* guest -> host register, -1: in memory */
    uint32_t dirty;             /* guest registers written in host registers */
    uint32_t callers;           /* guest registers in caller-saved host registers */
    uint32_t epilogue;
    uint32_t top;               /* after the entry's loads: where a self-loop goes */
    bool user;
    const uint8_t *thunks;      /* the slow calls' thunks (jit.c): the arena's start */
    bool direct;                /* user mode: guest memory at base + va */
    uint64_t base;
    bool loop;                  /* a branch goes back to the block's start */
    bool nbp;                   /* breakpoints are set: every exit to the dispatcher */
    /* direct access, along the block's straight-line code: the guest
     * registers whose value passed the space check since they were last
     * written (an access through one needs no check again), and whether
     * rdx still holds the reservation's base (jit_emit_insn keeps both
     * across the ops known to leave them alone, else forgets them) */
    uint32_t checked;
    bool rdx_base;
    /* system mode, along the block's straight-line code: what is known of
     * mstatus.FS since the block's start (0 nothing, 1 checked not off,
     * 2 set dirty): later F/D instructions need no check (1, 2) and no
     * write (2). Nothing else in a block changes mstatus: a CSR
     * instruction ends its block (rv_op_ends_block), and one on a CSR
     * other than fflags/frm/fcsr forgets it as well (jit_emit_insn), should
     * a block ever go on after one. */
    uint8_t fs;
    uint64_t skip;              /* instructions already done by an earlier one */
    /* The host flags describe guest register flags_reg (0: none) as the
     * op just emitted left them: those of `test r, r` when flags_full,
     * else only ZF and SF (an add or sub: OF and CF are the operation's).
     * jit_emit_insn hands them to the next op as flags_in and forgets
     * them; only the op that set them says so again. */
    uint8_t flags_reg, flags_in;
    bool flags_full, flags_in_full;
    bool zext;                  /* the op being emitted may leave rd zero-extended (done()) */
    /* branches to an instruction of the block other than its first
     * (find_labels): the index each branch goes to (-1: none), the
     * instructions jumped to (bit k: index k), where their code starts
     * and what was dirty there. The translator forgets what it knew
     * (checked, rdx_base, the flags, fs) at each, and no fused group of
     * ops spans one. */
    int8_t into[RV_BLOCK_MAX];
    uint64_t labels;
    bool back;                  /* one of them goes backward: a loop */
    uint32_t lpos[RV_BLOCK_MAX];
    uint32_t ldirty[RV_BLOCK_MAX];   /* t->dirty where each label's code starts */
    uint32_t jsite;             /* jalr's per-site cache: its jump (0: none) */
    uint32_t jout[3];           /* its jumps to jit_jalr_site_out's exit */
    unsigned nstub;
    struct stub stub[2 * RV_BLOCK_MAX + 2];
    struct jit_fp_slow fpslow[RV_BLOCK_MAX];   /* by instruction index */
};

/* ---- guest register operands ---- */

static inline struct jrm gx(const struct jt *t, unsigned r)
{
    return t->hreg[r] >= 0 ? jr(t->hreg[r]) : jm(RBX, OFF_X(r));
}
/* rax (or another scratch) = guest register r */
static inline void get(struct jt *t, int d, unsigned r, bool w)
{
    if (t->hreg[r] >= 0 && w)
        jx_mov_rr(&t->e, d, t->hreg[r]);
    else
        jx_mov_r_rm(&t->e, w, d, gx(t, r));
}
/* guest rd = host register s */
static inline void put(struct jt *t, unsigned rd, int s)
{
    if (rd == 0 || rd >= 32)
        return;
    if (t->hreg[rd] >= 0) {
        jx_mov_rr(&t->e, t->hreg[rd], s);
        t->dirty |= 1u << rd;
    } else {
        jx_mov_rm_r(&t->e, true, jm(RBX, OFF_X(rd)), s);
    }
}
static inline void put_imm(struct jt *t, unsigned rd, uint64_t v)
{
    if (rd == 0 || rd >= 32)
        return;
    if (t->hreg[rd] >= 0) {
        jx_mov_imm(&t->e, t->hreg[rd], v);
        t->dirty |= 1u << rd;
        return;
    }
    if ((int64_t)v == (int32_t)v) {
        jx_mov_rm_imm32(&t->e, jm(RBX, OFF_X(rd)), (int32_t)v);
        return;
    }
    jx_mov_imm(&t->e, RAX, v);
    put(t, rd, RAX);
}

/* jit.c */
void jit_writeback(struct jt *t, uint32_t mask);
void jit_reload(struct jt *t, uint32_t mask);
void jit_exit(struct jt *t, uint32_t wb, int pc_reg, uint64_t pc, uint32_t unretired,
              unsigned code, uint64_t aux);
void jit_exit_to(struct jt *t, uint32_t wb, uint64_t pc, uint32_t unretired);
/* jalr in user mode: the per-site cache in front of the h->jtc lookup
 * (jit.c), and its way out to the dispatcher (which links the site) */
void jit_jalr_site(struct jt *t, uint32_t unretired);
void jit_jalr_site_out(struct jt *t, uint32_t unretired);
struct stub *jit_new_stub(struct jt *t, unsigned kind, unsigned k);
/* user mode: instruction k branches back to instruction t->into[k] of
 * the block (0: its start) under the x86 condition cc (the flags are
 * set): the taken side inline */
void jit_into_back(struct jt *t, unsigned k, unsigned cc);
void jit_load(struct jt *t, const struct rv_insn *i, unsigned k, unsigned size, bool sext, bool fp);
void jit_store(struct jt *t, const struct rv_insn *i, unsigned k, unsigned size, bool fp);
/* jit_ops.c: is op translated (user: in user mode); emit one; which x
 * register an RV_OP_FPU instruction touches */
enum { FPU_XNONE, FPU_XREAD, FPU_XWRITE, FPU_XALL };
unsigned jit_fpu_xuse(uint32_t raw);
bool jit_op_ok(const struct rv_insn *i, bool user, uint8_t host);
/* an F/D instruction's exact path: the call into fpu.c (ST_FPU stubs) */
void jit_fpu_call(struct jt *t, const struct rv_insn *i, unsigned k);
/* jit_fp.c: an F/D instruction's inline fast path (user mode), when it
 * has one: emitted, with the jumps to take for every other case in *s
 * (the caller emits the exact path there); false: none, nothing emitted */
bool jit_fp_fast(struct jt *t, const struct rv_insn *i, struct jit_fp_slow *s);
/* a csr instruction on fflags, frm or fcsr (kind 0 write, 1 set, 2
 * clear; imm: the uimm forms); system mode: the mstatus.FS check before
 * an F/D instruction k (illegal when off), and FS dirty after one */
void jit_emit_fcsr(struct jt *t, const struct rv_insn *i, unsigned k, unsigned kind, bool imm);
void jit_fs_check(struct jt *t, const struct rv_insn *i, unsigned k);
void jit_fs_written(struct jt *t);
/* i = insn[k], `left` of the prefix from it on: the instructions done (2
 * for a pair done as one, such as slli 32 + srli 32) */
unsigned jit_emit_insn(struct jt *t, const struct rv_insn *i, unsigned k, unsigned left);

#endif
