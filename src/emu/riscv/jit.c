/* emu/riscv: the binary translator (RISC-V -> x86-64) behind the block cache.
 *
 * A decoded block (cache.c) that has run VESSEL_JIT_THRESHOLD times is
 * translated into host code in the hart's code arena; exec.c then calls
 * that code instead of interpreting. The code runs a prefix of the block:
 * when it meets an op it does not translate it returns RV_JIT_RESUME with
 * the block and that instruction's index and the interpreter goes on from
 * there, with the same instret accounting (exec.c added b->n at block entry).
 *
 * Host code: rbx = the hart; r15 = h->instret (JIT_ICOUNT: loaded at
 * entry, stored by the epilogue); up to 10 guest registers of the block
 * live in host registers (rbp, r12-r14, which calls keep, then rsi, rdi,
 * r8-r11, which a slow-path call saves first and reloads after); rax, rcx,
 * rdx are scratch. Every exit writes back the guest registers written so
 * far, sets h->pc, takes back the instructions not retired from instret,
 * and returns { code, aux } in rax:rdx (enum rv_jit_code).
 *
 * Loads and stores in system mode check the same TLB entry as the
 * interpreter's LOAD/STORE (slot, tag with h->mode_data, access inside the
 * page) and otherwise call rv_load_slow/rv_store_slow out of line: a cause
 * returns RV_JIT_EXC (pc at the access, not retired), a store that dirtied
 * code (h->code_dirty) leaves after it. In user mode with direct access
 * (rv_mem_ops.direct_base), an access below direct_size is one host
 * access at base + va; the host faults on what the guest may not do
 * (unmapped, protection, a page holding decoded code for stores), and
 * rv_jit_host_fault sends the faulting access to the same slow path, which
 * raises the guest's exception or makes the store and drops the code.
 * With data watchpoints on, user mode uses the TLB path as well.
 *
 * Exits to a known pc take a jump that rv_jit_link later points at the
 * next block's chain entry (instret, checked against h->jit_limit: the
 * budget, in system mode the next timer poll when sooner, or 0 while a
 * request is pending, so one compare stands for the dispatcher's three;
 * in system mode through a stub of the fetch TLB and interrupt checks);
 * dropping a block unlinks the exits chained to it
 * (rv_jit_unlink), so no chain checks its target's validity. A branch to
 * one of the block's own instructions (back to its start, a loop inside
 * it, forward over a few of them) jumps there without leaving host
 * registers; jalr looks its target up in h->jtc (in user mode after its
 * site's own cache).
 *
 * F/D instructions take an inline SSE fast path for the common case and
 * call fpu.c out of line for the rest (jit_fp.c; an ST_FPU stub); the CSR
 * instructions on fflags, frm and fcsr are translated; AMOs, LR and SC
 * call the interpreter's operation (rv_exec_amo). In system mode every
 * F/D instruction checks mstatus.FS first and sets it dirty after.
 *
 * The arena is reset with the block arena (rv_cache_flush), so a dropped
 * block's code is never entered again. Op lowering is in jit_ops.c. */
#include "emu/riscv/hart.h"
#include "emu/riscv/ops.h"
#include "emu/riscv/jit.h"
#include "base/base.h"

#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <cpuid.h>
#include <ucontext.h>

#define JIT_ARENA (32u << 20)        /* host code per hart */
/* translated blocks take the arena's first three quarters, the chain
 * stubs (rv_jit_link) the rest: the translator thread adds blocks while
 * the hart adds stubs */
#define JIT_CODE_ROOM (24u << 20)
#define JIT_BLOCK_ROOM (32u << 10)   /* the most one block may take */
/* Runs that make a block hot, by default. A system guest's boot runs
 * most of its code a few times only: translating at 16 runs cost more
 * than it saved (hart CPU to the default guest's init marker, medians of
 * 9 interleaved boots, three sets: 16 runs 0.224-0.255 s, 64 0.213-0.218 s,
 * 128 0.189-0.199 s, 256 0.199 s); with a cheaper translator (smaller
 * slow paths) 64 did better than 128 (medians of 21 interleaved boots,
 * four sets: 0.138 / 0.144, 0.134 / 0.135, 0.128 / 0.130, 0.128 / 0.131
 * s; 32 0.137 s against 0.135 s). User-mode programs keep 16. */
#define JIT_DEFAULT_THRESHOLD 16
#define JIT_SYS_THRESHOLD 64
/* With the translation on a thread of its own (m->jit_async) the hart
 * pays for it only with the copy of the block: a block is handed over
 * sooner. Hart-thread CPU to the default guest's marker, medians of 15
 * interleaved boots: 64 runs 134.5 ms, 32 132.8 ms, 16 131.6 ms (on the
 * hart's thread at 64: 143.4 ms); 8 and 4 no better in another set. */
#define JIT_ASYNC_THRESHOLD 32

/* host registers for guest registers; the first NCALLEE survive calls */
static const int8_t pool[] = { RBP, R12, R13, R14, RSI, RDI, R8, R9, R10, R11 };
#define NPOOL ((unsigned)sizeof(pool))
#define NCALLEE 4

/* popcnt, bmi2 and fma (with the AVX state the OS saves): three CPUID
 * leaves read when a machine is set up. GCC's __builtin_cpu_supports
 * instead linked libgcc's constructor, which walks a dozen leaves in
 * every vessel process at start-up; CPUID exits to the hypervisor in a
 * VM, and that walk was a twentieth of a static hello's `vessel exec`. */
uint8_t jit_host_features(void)
{
    unsigned a, b, c, d, f = 0, max;
    __cpuid(0, max, b, c, d);           /* (__get_cpuid asks leaf 0 again for each leaf) */
    if (max >= 1) {
        __cpuid(1, a, b, c, d);
        if (c & bit_POPCNT)
            f |= JIT_HOST_POPCNT;
        if ((c & bit_FMA) && (c & bit_OSXSAVE) && (c & bit_AVX)) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            if ((lo & 6) == 6)          /* XMM and YMM state enabled */
                f |= JIT_HOST_FMA;
        }
    }
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        if (b & bit_BMI2)
            f |= JIT_HOST_BMI2;
    }
    return (uint8_t)f;
}

void rv_jit_configure(struct rv_machine *m, unsigned nharts)
{
    const char *s = getenv("VESSEL_JIT");
    m->jit = !(s && s[0] == '0' && !s[1]);
    /* translation on a thread of each hart's own: system mode, and a
     * host CPU beyond one per hart to run them on, as the threads poll
     * for work before they sleep (VESSEL_JIT_ASYNC=0: on the hart's) */
    s = getenv("VESSEL_JIT_ASYNC");
    cpu_set_t cpus;
    m->jit_async = !m->user && !(s && s[0] == '0' && !s[1]) &&
                   sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && (unsigned)CPU_COUNT(&cpus) > MAX(nharts, 1u);
    s = getenv("VESSEL_JIT_THRESHOLD");
    m->jit_threshold = s && *s ? (uint32_t)strtoul(s, NULL, 10)
                       : m->user ? JIT_DEFAULT_THRESHOLD : m->jit_async ? JIT_ASYNC_THRESHOLD : JIT_SYS_THRESHOLD;
    m->jit_host = jit_host_features();
    /* perf's map of JIT code (what `perf report` reads for the symbols of
     * anonymous executable memory): one line per translated block */
    m->perf_map_fd = -1;
    s = getenv("VESSEL_PERF_MAP");
    if (s && s[0] == '1' && !s[1]) {
        char path[64];
        snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
        m->perf_map_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (m->perf_map_fd < 0)
            log_warn("riscv: VESSEL_PERF_MAP: cannot open %s: %s", path, strerror(errno));
    }
}

static void jit_async_stop(struct rv_hart *h);

void rv_jit_free(struct rv_hart *h)
{
    jit_async_stop(h);
    if (h->jit_code)
        munmap(h->jit_code, JIT_ARENA);
    h->jit_code = NULL;
    free(h->jit_sites);
    h->jit_sites = NULL;
    free(h->jit_scratch);
    h->jit_scratch = NULL;
    h->jit_nsites = h->jit_sites_cap = 0;
}

bool rv_jit_host_fault(struct rv_hart *h, void *uc)
{
    ucontext_t *u = uc;
    uintptr_t rip = (uintptr_t)u->uc_mcontext.gregs[REG_RIP];
    uintptr_t code = (uintptr_t)h->jit_code;
    if (!code || rip < code || rip - code >= h->jit_used)
        return false;
    uint32_t at = (uint32_t)(rip - code);
    unsigned lo = 0, hi = h->jit_nsites;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (h->jit_sites[mid].at < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == h->jit_nsites || h->jit_sites[lo].at != at)
        return false;
    u->uc_mcontext.gregs[REG_RIP] = (greg_t)(code + h->jit_sites[lo].stub);
    return true;
}

/* Record the direct accesses of the block just emitted at buf (offsets
 * from the arena's start; those of code dropped since go first). */
static void record_sites(struct rv_hart *h, const struct jt *t)
{
    uint32_t off = (uint32_t)(t->e.buf - h->jit_code);
    while (h->jit_nsites && h->jit_sites[h->jit_nsites - 1].at >= off)
        h->jit_nsites--;
    for (unsigned k = 0; k < t->nstub; k++) {
        const struct stub *s = &t->stub[k];
        if (!s->site)
            continue;
        if (h->jit_nsites == h->jit_sites_cap) {
            h->jit_sites_cap = h->jit_sites_cap ? 2 * h->jit_sites_cap : 1024;
            h->jit_sites = xrealloc(h->jit_sites, h->jit_sites_cap * sizeof(*h->jit_sites));
        }
        h->jit_sites[h->jit_nsites++] = (struct rv_jit_site){ off + s->site, off + s->start };
    }
}

/* Give the arena's pages back to the host (a trim: the blocks that owned
 * the code are gone with rv_cache_flush). */
static void jit_async_release(struct rv_hart *h);

void rv_jit_release(struct rv_hart *h)
{
    if (h->jit_code)
        madvise(h->jit_code, JIT_ARENA, MADV_DONTNEED);
    jit_async_release(h);
}

/* write the guest registers in mask from their host registers to memory
 * (ascending; only the set bits are visited: every exit and stub calls
 * these, 8% of the translator's time when they tested all 31) */
void jit_writeback(struct jt *t, uint32_t mask)
{
    for (mask &= ~1u; mask; mask &= mask - 1) {
        unsigned r = (unsigned)__builtin_ctz(mask);
        if (t->hreg[r] >= 0)
            jx_mov_rm_r(&t->e, true, jm(RBX, OFF_X(r)), t->hreg[r]);
    }
}
void jit_reload(struct jt *t, uint32_t mask)
{
    for (mask &= ~1u; mask; mask &= mask - 1) {
        unsigned r = (unsigned)__builtin_ctz(mask);
        if (t->hreg[r] >= 0)
            jx_mov_r_rm(&t->e, true, t->hreg[r], jm(RBX, OFF_X(r)));
    }
}

/* Leave: pc = imm (pc_reg < 0) or pc_reg, instret -= unretired, return code/aux. */
void jit_exit(struct jt *t, uint32_t wb, int pc_reg, uint64_t pc, uint32_t unretired,
                      unsigned code, uint64_t aux)
{
    struct jx *e = &t->e;
    jit_writeback(t, wb);
    if (pc_reg < 0) {
        jx_mov_imm(e, RAX, pc);
        pc_reg = RAX;
    }
    jx_mov_rm_r(e, true, jm(RBX, OFF_PC), pc_reg);
    if (unretired)
        jx_alu_rm_imm(e, true, ALU_SUB, jr(JIT_ICOUNT), (int32_t)unretired);
    jx_mov_imm(e, RAX, code);
    jx_mov_imm(e, RDX, aux);
    jx_jmp_to(e, t->epilogue);
}

/* The exit to a known pc: the instructions not retired taken back, then
 * a jump that rv_jit_link may point at the next block's chain entry
 * (which counts that block and checks it against h->jit_limit: the
 * budget, or a pending request, which leaves there with instret exact)
 * or, in system mode, at a stub of the checks that depend on the target;
 * else it falls through to a return of RV_JIT_NEXT with the jump's
 * address. Once linked, a transition in user mode is two jumps and one
 * check. */
void jit_exit_to(struct jt *t, uint32_t wb, uint64_t pc, uint32_t unretired)
{
    struct jx *e = &t->e;
    jit_writeback(t, wb);
    if (unretired)
        jx_alu_rm_imm(e, true, ALU_SUB, jr(JIT_ICOUNT), (int32_t)unretired);
    uint32_t site = jx_jmp(e);                 /* rel32 0: falls through */
    /* h->pc only on the way out: translated code never reads it */
    jx_mov_imm(e, RAX, pc);
    jx_mov_rm_r(e, true, jm(RBX, OFF_PC), RAX);
    jx_mov_imm(e, RAX, RV_JIT_NEXT);
    jx_mov_imm(e, RDX, (uint64_t)(uintptr_t)(e->buf + site));
    jx_jmp_to(e, t->epilogue);
}

/* jalr's per-site cache (user mode), in front of the h->jtc lookup:
 *
 *     mov  rax, imm64          ; the target pc last linked (JALR_NONE: none)
 *     cmp  rdx, rax            ; jne  miss
 *     sub  r15, unretired      ; (imm32 form always)
 *     jmp  rel32               ; the site: to the target's chain entry
 *     add  r15, unretired      ; jmp  out   (not reached: unlinked is JALR_NONE)
 * miss:
 *     cmp  rax, JALR_NONE      ; je   out   (unlinked: the dispatcher links it)
 *     ... the h->jtc lookup ...
 * out: instret exact, return RV_JIT_NEXT with aux = the site | JIT_SITE_JALR
 *
 * rv_jit_link writes the target's pc into imm64 (JALR_IMM bytes before
 * the site) with the jump; a site stays with the first target it was
 * linked to (other targets go through h->jtc) until that block is dropped
 * (rv_jit_unlink resets both). A hit is a compare and two direct jumps
 * instead of the table's loads and an indirect jump. */
#define JALR_NONE 1u                 /* no target pc is odd: rdx has bit 0 clear */
#define JALR_IMM 25u
#define JIT_SITE_JALR (1ULL << 63)   /* in an exit's aux: the site is a jalr's */

void jit_jalr_site(struct jt *t, uint32_t unretired)
{
    struct jx *e = &t->e;
    t->jout[0] = 0;
    jx_byte(e, 0x48);                           /* mov rax, imm64 (always this form) */
    jx_byte(e, 0xb8);
    uint32_t imm = jx_pos(e);
    jx_u64(e, JALR_NONE);
    jx_alu_r_rm(e, true, ALU_CMP, RDX, jr(RAX));
    uint32_t miss = jx_jcc(e, CC_NE);
    jx_byte(e, 0x49);                           /* sub r15, imm32 */
    jx_byte(e, 0x81);
    jx_byte(e, 0xef);
    jx_u32(e, unretired);
    t->jsite = jx_jmp(e);
    jx_byte(e, 0x49);                           /* add r15, imm32 */
    jx_byte(e, 0x81);
    jx_byte(e, 0xc7);
    jx_u32(e, unretired);
    t->jout[1] = jx_jmp(e);
    jx_patch(e, miss, jx_pos(e));
    jx_alu_rm_imm(e, true, ALU_CMP, jr(RAX), JALR_NONE);
    t->jout[2] = jx_jcc(e, CC_E);
    if (t->jsite - imm != JALR_IMM)             /* the layout rv_jit_link writes into */
        e->p = e->end + 1;                      /* (cannot happen): not translated */
}

void jit_jalr_site_out(struct jt *t, uint32_t unretired)
{
    struct jx *e = &t->e;
    for (unsigned k = 0; k < 3; k++)
        if (t->jout[k])
            jx_patch(e, t->jout[k], jx_pos(e));
    if (unretired)
        jx_alu_rm_imm(e, true, ALU_SUB, jr(JIT_ICOUNT), (int32_t)unretired);
    jx_mov_imm(e, RAX, RV_JIT_NEXT);
    jx_mov_imm(e, RDX, (uint64_t)(uintptr_t)(e->buf + t->jsite) | JIT_SITE_JALR);
    jx_jmp_to(e, t->epilogue);
}

struct stub *jit_new_stub(struct jt *t, unsigned kind, unsigned k)
{
    struct stub *s = &t->stub[t->nstub++];
    memset(s, 0, sizeof(*s));
    s->kind = (uint8_t)kind;
    s->k = (uint8_t)k;
    s->dirty = t->dirty;
    return s;
}

/* ---- memory ---- */

/* rax = rs1 + imm */
static void emit_addr(struct jt *t, const struct rv_insn *i)
{
    struct jx *e = &t->e;
    if (i->rs1 == 0) {
        jx_mov_imm(e, RAX, (uint64_t)i->imm);
    } else if (t->hreg[i->rs1] >= 0) {
        jx_lea(e, RAX, jm(t->hreg[i->rs1], (int32_t)i->imm));
    } else {
        jx_mov_r_rm(e, true, RAX, gx(t, i->rs1));
        if (i->imm)
            jx_alu_rm_imm(e, true, ALU_ADD, jr(RAX), (int32_t)i->imm);
    }
}

/* The fast path's address check; returns the host operand of the access.
 * TLB: rax = rs1 + imm; rdx = TLB slot offset; jumps to the stub on a
 * miss. The tag is computed from the access's last byte and the slot from
 * its first: an access that crosses the page never matches (the next
 * page's tag lives in another slot), which is the interpreter's in-page
 * check. Direct: va below direct_size, rdx = base; an access that runs
 * past the end faults in the reservation's guard. */
static struct jrm emit_mem_check(struct jt *t, const struct rv_insn *i, int acc, unsigned size, struct stub *s)
{
    struct jx *e = &t->e;
    if (t->direct) {
        /* the check is on rs1 alone: rs1 + imm then lies within 2 KiB of
         * the space, where the reservation's guards fault; the stub makes
         * rax = rs1 + imm first */
        int b = RAX;
        int32_t disp = (int32_t)i->imm;
        if (i->rs1 == 0) {
            jx_mov_imm(e, RAX, (uint64_t)i->imm);
            disp = 0;
        } else if (t->hreg[i->rs1] >= 0) {
            b = t->hreg[i->rs1];
        } else {
            jx_mov_r_rm(e, true, RAX, gx(t, i->rs1));
        }
        s->areg = (int8_t)b;
        s->adisp = disp;
        /* a register checked before (and not written since) is still
         * inside the space (or, when the check failed and the slow path
         * made the access, within 2 KiB of it): base + rs1 + imm then
         * lies in the reservation or its guards, where a host fault
         * reaches this access's slow path as well */
        if (i->rs1 == 0 || !((t->checked >> i->rs1) & 1)) {
            jx_alu_r_rm(e, true, ALU_CMP, b, jm(RBX, OFF_DSIZE));
            s->patch[0] = jx_jcc(e, CC_AE);
            if (i->rs1)
                t->checked |= 1u << i->rs1;
        }
        if (!t->rdx_base)
            jx_mov_imm(e, RDX, t->base);
        t->rdx_base = true;
        return jmi(b, RDX, 0, disp);
    }
    emit_addr(t, i);
    jx_lea(e, RCX, jm(RAX, (int32_t)size - 1));
    jx_shift_imm(e, true, SH_SHR, jr(RCX), 12);
    if (t->user) {
        /* user mode runs in U (mode 0) only: tag = vpn * 4 + 1 */
        jx_lea(e, RCX, jmi(-1, RCX, 2, 1));
    } else {
        jx_shift_imm(e, true, SH_SHL, jr(RCX), 2);
        jx_alu_r_rm(e, true, ALU_ADD, RCX, jm(RSP, SLOT_MODE));
    }
    jx_mov_r_rm(e, false, RDX, jr(RAX));
    jx_shift_imm(e, false, SH_SHR, jr(RDX), 12 - 4);
    jx_alu_rm_imm(e, false, ALU_AND, jr(RDX), (RV_TLB_SIZE - 1) << 4);
    jx_alu_r_rm(e, true, ALU_CMP, RCX, jmi(RBX, RDX, 0, OFF_TLB(acc)));
    s->patch[0] = jx_jcc(e, CC_NE);
    jx_alu_r_rm(e, true, ALU_ADD, RAX, jmi(RBX, RDX, 0, OFF_TLB(acc) + 8));
    return jm(RAX, 0);
}

/* fp: the destination is f[rd] (flw NaN-boxes) */
void jit_load(struct jt *t, const struct rv_insn *i, unsigned k, unsigned size, bool sext, bool fp)
{
    struct stub *s = jit_new_stub(t, ST_LOAD, k);
    s->size = (uint8_t)size;
    s->sext = sext;
    int d = !fp && i->rd < 32 && t->hreg[i->rd] >= 0 ? t->hreg[i->rd] : RAX;
    s->dst = (int8_t)d;
    struct jrm at = emit_mem_check(t, i, RV_ACC_READ, size, s);
    if (t->direct)
        s->site = jx_pos(&t->e);
    jx_load(&t->e, size, sext, d, at);
    s->back = jx_pos(&t->e);
    if (!fp) {
        if (d == RAX)
            put(t, i->rd, RAX);
        else
            t->dirty |= 1u << i->rd;
        return;
    }
    if (size == 4) {
        jx_mov_imm(&t->e, RCX, 0xffffffff00000000ULL);
        jx_alu_r_rm(&t->e, true, ALU_OR, RAX, jr(RCX));
    }
    jx_mov_rm_r(&t->e, true, jm(RBX, OFF_F(i->rd)), RAX);
}

void jit_store(struct jt *t, const struct rv_insn *i, unsigned k, unsigned size, bool fp)
{
    struct stub *s = jit_new_stub(t, ST_STORE, k);
    s->size = (uint8_t)size;
    s->rs2 = i->rs2;
    s->fp = fp;
    struct jrm at = emit_mem_check(t, i, RV_ACC_WRITE, size, s);
    int v = fp ? -1 : t->hreg[i->rs2];
    if (v < 0) {
        jx_mov_r_rm(&t->e, true, RCX, fp ? jm(RBX, OFF_F(i->rs2)) : gx(t, i->rs2));
        v = RCX;
    }
    if (t->direct)
        s->site = jx_pos(&t->e);
    jx_store(&t->e, size, at, v);
    s->back = jx_pos(&t->e);
}

/* save the caller-saved guest registers, call fn(h, va = rax, size, rcx),
 * then test eax */
static void emit_slow_call(struct jt *t, const struct stub *s, const void *fn)
{
    struct jx *e = &t->e;
    jx_mov_rm_r(e, true, jm(RSP, SLOT_VA), RAX);
    if (s->kind == ST_STORE) {
        if (s->fp)
            jx_mov_r_rm(e, true, RCX, jm(RBX, OFF_F(s->rs2)));
        else
            get(t, RCX, s->rs2, true);
        if (s->size < 8)
            jx_load(e, s->size, false, RCX, jr(RCX));
    } else {
        jx_lea(e, RCX, jm(RSP, SLOT_VAL));
    }
    jit_writeback(t, s->dirty & t->callers);
    jx_mov_rr(e, RSI, RAX);
    jx_mov_rr(e, RDI, RBX);
    jx_mov_imm(e, RDX, s->size);
    jx_call_abs(e, fn);
    jx_test_rm_r(e, false, jr(RAX), RAX);
}

/* The way out of a slow path's fault; wb: the dirty registers not yet
 * written back (the thunk path keeps the caller-saved ones in their
 * host registers: all of them) */
static void emit_fault(struct jt *t, const struct stub *s, uint32_t wb)
{
    struct jx *e = &t->e;
    const struct rv_insn *i = &t->b->insn[s->k];
    jit_writeback(t, wb);
    jx_mov_imm(e, RCX, rv_insn_pc(t->b, i));
    jx_mov_rm_r(e, true, jm(RBX, OFF_PC), RCX);
    jx_alu_rm_imm(e, true, ALU_SUB, jr(JIT_ICOUNT), (int32_t)(t->b->n - s->k));
    jx_alu_rm_imm(e, false, ALU_ADD, jr(RAX), RV_JIT_EXC);
    jx_mov_r_rm(e, true, RDX, jm(RSP, SLOT_VA));
    jx_jmp_to(e, t->epilogue);
}

/* The TLB path's slow calls (system mode; user mode with watchpoints)
 * go through two thunks at the start of the code arena, which keep the
 * caller-saved host registers (guest registers of the block) across the
 * call, so a stub is `mov edx, size; call thunk; jne fault; ...` instead
 * of writing those registers back, calling and loading them again: in a
 * boot of the default guest the slow paths were most of the 1.5 KB of
 * host code per block (about 170 bytes per access). In: rax = va, edx =
 * size, a store's rcx = the value; out: eax = 0 or the cause (flags
 * set), [rsp + SLOT_VA] = va, a load's value at [rsp + SLOT_VAL] (the
 * block's frame). */
#define THUNK_LOAD 0u
#define THUNK_STORE 64u
#define THUNKS_LEN 128u
static const int8_t thunk_saved[] = { RSI, RDI, R8, R9, R10, R11 };
/* the thunk's rsp: the frame's - 8 (its return address) - 48 - 8 */
#define THUNK_FRAME 64

static void emit_thunk(struct jx *e, bool store)
{
    for (unsigned k = 0; k < ARRAY_SIZE(thunk_saved); k++)
        jx_push(e, thunk_saved[k]);
    jx_alu_rm_imm(e, true, ALU_SUB, jr(RSP), 8);
    jx_mov_rm_r(e, true, jm(RSP, THUNK_FRAME + SLOT_VA), RAX);
    if (!store)
        jx_lea(e, RCX, jm(RSP, THUNK_FRAME + SLOT_VAL));
    jx_mov_rr(e, RSI, RAX);
    jx_mov_rr(e, RDI, RBX);
    jx_call_abs(e, store ? (const void *)rv_store_slow : (const void *)rv_load_slow);
    jx_alu_rm_imm(e, true, ALU_ADD, jr(RSP), 8);
    for (int k = (int)ARRAY_SIZE(thunk_saved) - 1; k >= 0; k--)
        jx_pop(e, thunk_saved[k]);
    jx_test_rm_r(e, false, jr(RAX), RAX);
    jx_ret(e);
}

/* At the start of a fresh arena (the first translation after a flush). */
static bool emit_thunks(struct rv_hart *h, size_t *used)
{
    struct jx e = { .buf = h->jit_code, .p = h->jit_code, .end = h->jit_code + THUNK_STORE };
    emit_thunk(&e, false);
    if (jx_overflow(&e))
        return false;
    e.p = e.buf + THUNK_STORE;
    e.end = e.buf + THUNKS_LEN;
    emit_thunk(&e, true);
    if (jx_overflow(&e))
        return false;
    if (h->m->perf_map_fd >= 0)
        dprintf(h->m->perf_map_fd, "%lx %x rv_thunks\n", (unsigned long)(uintptr_t)h->jit_code, THUNKS_LEN);
    *used = THUNKS_LEN;
    return true;
}

static void emit_thunk_stub(struct jt *t, const struct stub *s)
{
    struct jx *e = &t->e;
    const struct rv_insn *i = &t->b->insn[s->k];
    bool store = s->kind == ST_STORE;
    if (store) {
        if (s->fp)
            jx_mov_r_rm(e, true, RCX, jm(RBX, OFF_F(s->rs2)));
        else
            get(t, RCX, s->rs2, true);
        if (s->size < 8)
            jx_load(e, s->size, false, RCX, jr(RCX));
    }
    jx_mov_imm(e, RDX, s->size);
    jx_byte(e, 0xe8);                                   /* call rel32 */
    const uint8_t *thunk = t->thunks + (store ? THUNK_STORE : THUNK_LOAD);
    jx_u32(e, (uint32_t)(int32_t)(thunk - (e->buf + jx_pos(e) + 4)));
    uint32_t fault = jx_jcc(e, CC_NE);
    if (!store) {
        jx_load(e, s->size, s->sext, s->dst, jm(RSP, SLOT_VAL));
        jx_jmp_to(e, s->back);
    } else {
        jx_insn(e, 0, 0, 0x80, ALU_CMP, jm(RBX, OFF_DIRTY));   /* cmp byte [code_dirty], 0 */
        jx_byte(e, 0);
        jx_jcc_to(e, CC_E, s->back);
        jx_insn(e, 0, 0, 0xc6, 0, jm(RBX, OFF_DIRTY));         /* mov byte [code_dirty], 0 */
        jx_byte(e, 0);
        jit_exit(t, s->dirty, -1, rv_insn_pc(t->b, i) + i->len, t->b->n - 1 - s->k, RV_JIT_NOCHAIN, 0);
    }
    jx_patch(e, fault, jx_pos(e));
    emit_fault(t, s, s->dirty);
}

/* The dispatcher's checks between two blocks, with instret counting the
 * next block (delta: one add to JIT_ICOUNT per transition): instret
 * within h->jit_limit (the budget, and no request pending), in system
 * mode no timer poll due and no interrupt pending. The returned number
 * of undo[] jumps are left for the caller to point (delta added: to be
 * taken back). */
static unsigned emit_checks(struct jx *e, bool user, int32_t delta, uint32_t undo[3])
{
    unsigned nu = 0;
    jx_alu_rm_imm(e, true, ALU_ADD, jr(JIT_ICOUNT), delta);
    jx_alu_r_rm(e, true, ALU_CMP, JIT_ICOUNT, jm(RBX, OFF_LIMIT));
    undo[nu++] = jx_jcc(e, CC_A);
    if (!user) {
        jx_mov_r_rm(e, true, RAX, jm(RBX, OFF_MIP));
        jx_test_rm_r(e, true, jm(RBX, OFF_MIE), RAX);
        undo[nu++] = jx_jcc(e, CC_NE);
    }
    return nu;
}

/* A taken branch to instruction j of the block itself (find_labels; j 0:
 * the block's start, a self-loop), with the guest registers still in host
 * registers. Forward, the instructions jumped over were counted (instret
 * counts all n of the block at its entry): they are taken back.
 * Backward, a loop (every register the block writes is dirty from its
 * start, so t->dirty is the same at j and at k): instret gets the
 * k - j + 1 instructions of the iteration, which makes it count the next
 * one from j on, within h->jit_limit and, in system mode, with no
 * interrupt pending; else the branch's own exit (into_exit), with the
 * exact count. */
static void into_exit(struct jt *t, const struct stub *s)
{
    unsigned j = (unsigned)t->into[s->k];
    jx_alu_rm_imm(&t->e, true, ALU_SUB, jr(JIT_ICOUNT), (int32_t)(s->k - j + 1));
    jit_exit_to(t, s->dirty, (uint64_t)t->b->insn[s->k].imm, t->b->n - 1 - s->k);
}

static void emit_into(struct jt *t, const struct stub *s)
{
    struct jx *e = &t->e;
    unsigned j = (unsigned)t->into[s->k];
    if (j > s->k) {
        /* the code from j on takes for dirty, so valid in host registers,
         * what the instructions jumped over write: here, they hold what
         * they held at the block's entry (perhaps nothing), and memory
         * the guest's value */
        jit_reload(t, t->ldirty[j] & ~s->dirty);
        if (j - s->k - 1)
            jx_alu_rm_imm(e, true, ALU_SUB, jr(JIT_ICOUNT), (int32_t)(j - s->k - 1));
        jx_jmp_to(e, t->lpos[j]);
        return;
    }
    uint32_t undo[3];
    int32_t delta = (int32_t)(s->k - j + 1);
    jit_writeback(t, s->dirty & ~t->ldirty[j]);    /* none: the same set (kept should that change) */
    if (j == 0 && t->direct)
        jx_mov_imm(e, RDX, t->base);                /* the top expects it */
    unsigned nu = emit_checks(e, t->user, delta, undo);
    jx_jmp_to(e, t->lpos[j]);
    for (unsigned f = 0; f < nu; f++)
        jx_patch(e, undo[f], jx_pos(e));
    into_exit(t, s);
}

/* User mode: a branch back checks inline after the branch, which jumps
 * over it when not taken: instret += k - j + 1, then back to j while
 * within h->jit_limit (one taken jump per iteration), else the ST_LOOP
 * stub (patch[0]), which into_exit ends. */
void jit_into_back(struct jt *t, unsigned k, unsigned cc)
{
    struct jx *e = &t->e;
    unsigned j = (unsigned)t->into[k];
    uint32_t skip = jx_jcc(e, cc ^ 1);              /* x86 conditions pair by the low bit */
    struct stub *s = jit_new_stub(t, ST_LOOP, k);
    jit_writeback(t, t->dirty & ~t->ldirty[j]);    /* as in emit_into */
    if (j == 0 && t->direct && !t->rdx_base)
        jx_mov_imm(e, RDX, t->base);                /* the top expects it */
    jx_alu_rm_imm(e, true, ALU_ADD, jr(JIT_ICOUNT), (int32_t)(k - j + 1));
    jx_alu_r_rm(e, true, ALU_CMP, JIT_ICOUNT, jm(RBX, OFF_LIMIT));
    jx_jcc_to(e, CC_BE, t->lpos[j]);
    s->patch[0] = jx_jmp(e);
    jx_patch(e, skip, jx_pos(e));
}

static void emit_stub(struct jt *t, struct stub *s)
{
    struct jx *e = &t->e;
    const struct rv_insn *i = &t->b->insn[s->k];
    uint32_t start = jx_pos(e);
    s->start = start;
    if (s->kind == ST_LOOP) {
        jx_patch(e, s->patch[0], start);
        into_exit(t, s);
        return;
    }
    for (unsigned k = 0; k < 2; k++)
        if (s->patch[k])
            jx_patch(e, s->patch[k], start);
    if (s->kind == ST_FPU) {
        for (unsigned n = 0; n < t->fpslow[s->k].n; n++)
            jx_patch(e, t->fpslow[s->k].site[n], start);
        t->dirty = s->dirty;
        jit_fpu_call(t, i, s->k);
        jx_jmp_to(e, s->back);
        return;
    }
    if (t->direct && s->kind != ST_BRANCH)
        jx_lea(e, RAX, jm(s->areg, s->adisp));
    if (s->kind == ST_BRANCH && t->into[s->k] >= 0) {
        emit_into(t, s);
        return;
    }
    if (s->kind == ST_BRANCH) {
        jit_exit_to(t, s->dirty, (uint64_t)i->imm, t->b->n - 1 - s->k);
        return;
    }
    if (!t->direct && (s->kind == ST_LOAD || s->kind == ST_STORE)) {
        emit_thunk_stub(t, s);
        return;
    }
    if (s->kind == ST_LOAD) {
        emit_slow_call(t, s, (const void *)rv_load_slow);
        uint32_t fault = jx_jcc(e, CC_NE);
        jit_reload(t, t->callers);
        jx_load(e, s->size, s->sext, s->dst, jm(RSP, SLOT_VAL));
        if (t->direct)
            jx_mov_imm(e, RDX, t->base);    /* t->rdx_base after the access */
        jx_jmp_to(e, s->back);
        jx_patch(e, fault, jx_pos(e));
        emit_fault(t, s, s->dirty & ~t->callers);
        return;
    }
    emit_slow_call(t, s, (const void *)rv_store_slow);
    uint32_t fault = jx_jcc(e, CC_NE);
    jx_insn(e, 0, 0, 0x80, ALU_CMP, jm(RBX, OFF_DIRTY));   /* cmp byte [code_dirty], 0 */
    jx_byte(e, 0);
    uint32_t dirty = jx_jcc(e, CC_NE);
    jit_reload(t, t->callers);
    if (t->direct)
        jx_mov_imm(e, RDX, t->base);
    jx_jmp_to(e, s->back);
    jx_patch(e, dirty, jx_pos(e));
    jx_insn(e, 0, 0, 0xc6, 0, jm(RBX, OFF_DIRTY));         /* mov byte [code_dirty], 0 */
    jx_byte(e, 0);
    jit_exit(t, s->dirty & ~t->callers, -1, rv_insn_pc(t->b, i) + i->len, t->b->n - 1 - s->k, RV_JIT_NOCHAIN, 0);
    jx_patch(e, fault, jx_pos(e));
    emit_fault(t, s, s->dirty & ~t->callers);
}

/* Does op write x[rd] (as its only x result)? Only these end a guest
 * register's live-in range in alloc_regs; any other op is taken as
 * writing none. */
static bool writes_rd(unsigned op)
{
    return (op >= RV_OP_LI && op <= RV_OP_JALR) || (op >= RV_OP_LB && op <= RV_OP_LWU) ||
           (op >= RV_OP_ADDI && op <= RV_OP_AMOMAXU_D) || (op >= RV_OP_ADD_UW && op <= RV_OP_BSETI);
}

/* Choose the guest registers to keep in host registers: the most used,
 * a use counting 4 times as much up to the last branch back to the
 * block's start (that part may run many times per entry). *read: the
 * registers the entry must load, those read before the block writes
 * them (a register the block writes first needs no load). */
static void alloc_regs(struct jt *t, unsigned n, uint32_t *read)
{
    unsigned uses[33] = { 0 }, loop_end = 0;
    uint32_t written = 0;
    *read = 0;
    for (unsigned k = 0; k < n; k++) {
        const struct rv_insn *i = &t->b->insn[k];
        if (i->op >= RV_OP_BEQ && i->op <= RV_OP_BGEU && (uint64_t)i->imm == t->b->vpc)
            loop_end = k + 1;
    }
    for (unsigned k = 0; k < n; k++) {
        const struct rv_insn *i = &t->b->insn[k];
        unsigned w = k < loop_end ? 8 : 2;
        if (i->op == RV_OP_FPU) {
            unsigned use = jit_fpu_xuse(i->raw);
            if (use == FPU_XREAD) {
                uses[i->rs1] += w;
                *read |= (1u << i->rs1) & ~written;
            } else if (use == FPU_XWRITE) {
                uses[i->rd] += w;
            } else if (use == FPU_XALL) {
                *read = ~1u;    /* any x through memory */
            }
            continue;
        }
        bool fp = i->op >= RV_OP_FLW && i->op <= RV_OP_FSD;
        uses[i->rs1] += w;
        if (!fp) {
            uses[i->rs2] += w;
            uses[i->rd] += w;
            *read |= (1u << i->rs2) & ~written;
        }
        *read |= (1u << i->rs1) & ~written;
        if (writes_rd(i->op) && i->rd < 32)
            written |= 1u << i->rd;
    }
    memset(t->hreg, -1, sizeof(t->hreg));
    t->callers = 0;
    /* the used registers by uses, most first, ties to the lowest number:
     * keys uses << 5 | (31 - r), sorted by insertion (a block uses a few
     * registers; ten scans of all 31 were a quarter of the translator's
     * time) */
    uint32_t key[31];
    unsigned nk = 0;
    for (unsigned r = 1; r < 32; r++) {
        if (!uses[r])
            continue;
        uint32_t v = (uint32_t)uses[r] << 5 | (31 - r);
        unsigned j = nk++;
        for (; j > 0 && key[j - 1] < v; j--)
            key[j] = key[j - 1];
        key[j] = v;
    }
    for (unsigned p = 0; p < NPOOL && p < nk; p++) {
        unsigned best = 31 - (key[p] & 31);
        t->hreg[best] = pool[p];
        if (p >= NCALLEE)
            t->callers |= 1u << best;
    }
}

/* Branches among the first n instructions whose target is one of them:
 * the block's start (a self-loop: t->loop), a loop inside the block, or
 * a forward branch over a few instructions (an if without an else). The
 * last two left the block before, for a block of its own decoded at the
 * target, at the cost of writing back and loading again the guest
 * registers in host registers on every such transition. Fills t->into,
 * t->labels (the targets past the start), t->loop and t->back; none
 * while breakpoints are set (t->nbp: these jumps skip the dispatcher's
 * breakpoint and execute-trigger check; setting one flushes the caches). */
static void find_labels(struct jt *t, unsigned n)
{
    const struct rv_block *b = t->b;
    memset(t->into, -1, sizeof(t->into));
    t->labels = 0;
    t->loop = t->back = false;
    if (t->nbp)
        return;
    for (unsigned k = 0; k < n; k++) {
        const struct rv_insn *i = &b->insn[k];
        if (i->op < RV_OP_BEQ || i->op > RV_OP_BGEU)
            continue;
        if ((uint64_t)i->imm == b->vpc) {
            t->into[k] = 0;
            t->loop = t->back = true;
            continue;
        }
        for (unsigned j = 1; j < n; j++)
            if (rv_insn_pc(b, &b->insn[j]) == (uint64_t)i->imm) {
                t->into[k] = (int8_t)j;
                t->labels |= 1ULL << j;
                t->back |= j <= k;
                break;
            }
    }
}

static const int8_t saved[] = { RBX, RBP, R12, R13, R14, R15 };

/* The code arena, mapped at the first translation; false when the host
 * gives no executable memory (the hart interprets from then on). */
static bool jit_arena(struct rv_hart *h)
{
    if (h->jit_code)
        return true;
    void *p = mmap(NULL, JIT_ARENA, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        log_warn("riscv: no executable memory for the translator: interpreting only");
        h->m->jit = false;
        return false;
    }
    h->jit_huge = false;                     /* huge pages past RV_HUGE_AT, as the block arena */
    h->jit_code = p;
    h->jit_used = 0;
    h->jit_stubs = 0;
    return true;
}

/* What one translation made: its entries (offsets from the arena's start). */
struct jit_made {
    uint32_t entry, body, chain;
};
enum jit_res { JIT_OK, JIT_FAILED, JIT_FULL, JIT_NONE, JIT_DROPPED };

/* Translate the decoded block b into the arena at *used (advanced past
 * the code). b is the hart's block, or the translator thread's copy of it
 * (rv_jit_queue): the code names `self`, the hart's block (the block whose
 * code leaves, a resume's block). nbp: breakpoints or execute triggers
 * are set. Reads of the hart are of what stays while it runs (its
 * machine's configuration, the arena's base); in system mode nothing of
 * it is written but *used and the arena's advice, so the translator
 * thread may run this while the hart runs. JIT_FAILED: b never will be
 * translated; JIT_FULL: the arena is full; JIT_NONE: not now. */
static enum jit_res translate(struct rv_hart *h, struct jt *t, const struct rv_block *b,
                              struct rv_block *self, bool nbp, size_t *used, struct jit_made *out)
{
    unsigned n = 0;
    while (n < b->n && jit_op_ok(&b->insn[n], h->m->user, h->m->jit_host))
        n++;
    if (n == 0)
        return JIT_FAILED;
    if (*used + JIT_BLOCK_ROOM > JIT_CODE_ROOM)
        return JIT_FULL;
    if (*used == 0 && !emit_thunks(h, used))
        return JIT_NONE;
    /* the working state (8.7 KB) is kept between translations: only its
     * head is cleared (jit_new_stub clears each stub it hands out;
     * jit_fp_fast, each fpslow entry it fills) */
    memset(t, 0, offsetof(struct jt, stub));
    struct jx *e = &t->e;
    e->buf = e->p = h->jit_code + *used;
    e->end = e->buf + JIT_BLOCK_ROOM;
    t->b = b;
    t->self = self;
    t->user = h->m->user;
    t->host = h->m->jit_host;
    t->thunks = h->jit_code;
    /* data watchpoints need every access checked: the TLB path (setting
     * one flushes the code) */
    if (t->user && h->m->uops->direct_base && !rv_debug_data_on(h)) {
        t->direct = true;
        t->base = (uint64_t)(uintptr_t)h->m->uops->direct_base;
        h->direct_size = h->m->uops->direct_size;
    }
    uint32_t read;
    alloc_regs(t, n, &read);
    /* jalr lookups skip the dispatcher's breakpoint and execute-trigger
     * check too: see find_labels */
    t->nbp = nbp;
    find_labels(t, n);
    /* with a loop in the block, every register it writes counts as dirty
     * from its start (and is loaded at its entry): an exit after the
     * branch back writes back what the iteration wrote */
    if (t->back) {
        for (unsigned k = 0; k < n; k++) {
            const struct rv_insn *i = &b->insn[k];
            bool fp = i->op >= RV_OP_FLW && i->op <= RV_OP_FSD;
            if (!fp && i->rd > 0 && i->rd < 32 && t->hreg[i->rd] >= 0)
                t->dirty |= 1u << i->rd;
        }
        read |= t->dirty;
    }

    /* the shared epilogue comes first, the entry point after it; it
     * notes the block whose code leaves (h->jit_last), which chained
     * code may have reached from the one the dispatcher entered */
    t->epilogue = jx_pos(e);
    jx_mov_rm_r(e, true, jm(RBX, OFF_INSTRET), JIT_ICOUNT);
    jx_mov_imm(e, RCX, (uint64_t)(uintptr_t)self);
    jx_mov_rm_r(e, true, jm(RBX, OFF_JIT_LAST), RCX);
    jx_alu_rm_imm(e, true, ALU_ADD, jr(RSP), FRAME);
    for (int k = (int)ARRAY_SIZE(saved) - 1; k >= 0; k--)
        jx_pop(e, saved[k]);
    jx_ret(e);
    uint32_t entry = jx_pos(e);
    for (unsigned k = 0; k < ARRAY_SIZE(saved); k++)
        jx_push(e, saved[k]);
    jx_alu_rm_imm(e, true, ALU_SUB, jr(RSP), FRAME);
    jx_mov_rr(e, RBX, RDI);
    jx_mov_r_rm(e, true, JIT_ICOUNT, jm(RBX, OFF_INSTRET));
    jx_mov_r_rm(e, false, RAX, jm(RBX, OFF_MODE));
    jx_alu_rm_imm(e, false, ALU_ADD, jr(RAX), 1);
    jx_mov_rm_r(e, true, jm(RSP, SLOT_MODE), RAX);
    uint32_t to_body = jx_jmp(e);
    /* the entry from a chained exit (rv_jit_link): instret counts this
     * block, within h->jit_limit, else back to the dispatcher at its start */
    uint32_t chain = jx_pos(e);
    jx_alu_rm_imm(e, true, ALU_ADD, jr(JIT_ICOUNT), (int32_t)b->n);
    jx_alu_r_rm(e, true, ALU_CMP, JIT_ICOUNT, jm(RBX, OFF_LIMIT));
    uint32_t over = jx_jcc(e, CC_A);
    uint32_t body = jx_pos(e);
    jx_patch(e, to_body, body);
    jit_reload(t, read);
    /* a loop with direct accesses: rdx holds the base at its top (set
     * here and before every branch back that may have lost it), so an
     * iteration does not load it again */
    if (t->loop && t->direct)
        jx_mov_imm(e, RDX, t->base);
    if (t->loop) {
        /* a loop's top on a 32-byte boundary (blocks start at 16): the
         * same loop ran mips.c 25-40% slower or not depending on where
         * it fell; the entry jumps over the padding */
        unsigned pad = (unsigned)(-(uintptr_t)e->p & 31);
        if (pad == 1) {
            jx_byte(e, 0x90);
        } else if (pad >= 2) {
            jx_byte(e, 0xeb);                   /* jmp rel8 over int3s */
            jx_byte(e, pad - 2);
            for (pad -= 2; pad > 0; pad--)
                jx_byte(e, 0xcc);
        }
    }
    t->top = jx_pos(e);
    t->rdx_base = t->loop && t->direct;
    t->lpos[0] = t->top;
    t->ldirty[0] = t->dirty;

    bool ended = false;
    for (unsigned k = 0; k < n;) {
        unsigned left = n - k;
        if (t->labels) {
            if ((t->labels >> k) & 1) {
                /* reached by a jump as well: nothing known of the state */
                t->lpos[k] = jx_pos(e);
                t->ldirty[k] = t->dirty;
                t->checked = 0;
                t->rdx_base = false;
                t->flags_reg = 0;
                t->fs = 0;
            }
            uint64_t later = t->labels & ~((2ULL << k) - 1);
            if (later)
                left = MIN(left, (unsigned)__builtin_ctzll(later) - k);
        }
        unsigned used_insns = jit_emit_insn(t, &b->insn[k], k, left);
        k += used_insns;
        unsigned op = b->insn[k - 1].op;
        ended = op == RV_OP_JAL || op == RV_OP_JALR || op == RV_OP_FENCE_I;
    }
    if (n == b->n) {
        if (!ended)
            jit_exit_to(t, t->dirty, rv_insn_pc(b, &b->insn[n]), 0);
    } else {
        jit_exit(t, t->dirty, -1, rv_insn_pc(b, &b->insn[n]), 0, RV_JIT_RESUME | n << 8, (uintptr_t)self);
    }
    for (unsigned k = 0; k < t->nstub; k++)
        emit_stub(t, &t->stub[k]);
    jx_patch(e, over, jx_pos(e));
    jx_alu_rm_imm(e, true, ALU_SUB, jr(JIT_ICOUNT), (int32_t)b->n);
    jit_exit(t, 0, -1, b->vpc, 0, RV_JIT_NEXT, 0);

    if (jx_overflow(e))
        return JIT_FAILED;
    out->entry = (uint32_t)*used + entry;
    out->body = (uint32_t)*used + body;
    out->chain = (uint32_t)*used + chain;
    if (t->direct)
        record_sites(h, t);
    if (h->m->perf_map_fd >= 0)
        dprintf(h->m->perf_map_fd, "%lx %x rv_%llx\n", (unsigned long)(uintptr_t)e->buf,
                jx_pos(e), (unsigned long long)b->vpc);
    *used += (jx_pos(e) + 15) & ~15u;
    if (unlikely(*used >= RV_HUGE_AT && !h->jit_huge)) {
        madvise(h->jit_code, JIT_ARENA, MADV_HUGEPAGE);
        h->jit_huge = true;
    }
    return JIT_OK;
}

/* A translation's outcome into its block (the hart's thread). */
static bool jit_take(struct rv_hart *h, struct rv_block *b, enum jit_res r, const struct jit_made *o)
{
    switch (r) {
    case JIT_OK:
        b->jit_body = h->jit_code + o->body;
        b->jit_chain = h->jit_code + o->chain;
        b->jit = (rv_jit_fn)(void *)(h->jit_code + o->entry);
        return true;
    case JIT_FAILED:
        b->jit_failed = true;
        return false;
    case JIT_FULL:
        /* full: start again after the next block boundary's flush */
        rv_request(h, RV_REQ_CODE);
        return false;
    default:
        return false;
    }
}

bool rv_jit_translate(struct rv_hart *h, struct rv_block *b)
{
    if (!jit_arena(h))
        return false;
    if (!h->jit_scratch)
        h->jit_scratch = xzalloc(sizeof(struct jt));
    struct jit_made o;
    enum jit_res r = translate(h, h->jit_scratch, b, b, rv_debug_exec_on(h), &h->jit_used, &o);
    return jit_take(h, b, r, &o);
}

/* ---- the translator thread (system mode, m->jit_async) ----
 *
 * A boot of the default guest spends about a tenth of its hart's time
 * translating; with a second host CPU that time need not be the guest's.
 * A hot block is copied into a ring of JQ_SLOTS jobs (its decoded
 * instructions: the hart may drop or re-decode its own meanwhile) and goes
 * on being interpreted; the hart's thread of translation (one per hart,
 * started with its first hot block) emits the code into the hart's arena
 * past h->jit_used, as rv_jit_translate would, and the hart installs it
 * at its next entry of an untranslated block (rv_jit_poll) if the block
 * is still the one copied: still valid and no flush since (flush_count).
 * Chaining stays with the hart (rv_jit_link), so only the thread writes
 * new code and only the hart patches installed code.
 *
 * Jobs [taken, done) are finished, [done, put) queued; the thread owns
 * the slot at `done` while busy, and h->jit_used (under the lock: it
 * publishes a translation's end with `done`). A flush or trim first
 * calls rv_jit_quiesce: the queue is emptied and a translation in
 * progress is waited for and dropped, so the arena is the hart's again
 * until the next job. The code is new bytes written by another thread
 * and entered after the hart acquires `done`; x86 keeps instruction
 * fetch coherent with stores (no arena address is entered before its
 * code is installed, and after a flush the old code there never again). */
#define JQ_SLOTS 32u

struct jq_job {
    struct rv_block *b;          /* the hart's block */
    uint64_t flush;              /* h->flush_count when queued */
    bool nbp;
    enum jit_res res;
    struct jit_made made;
    union {                      /* b's header and instructions, copied */
        struct rv_block copy;
        uint8_t room[sizeof(struct rv_block) + (RV_BLOCK_MAX + 1) * sizeof(struct rv_insn)];
    };
};

/* How the thread waits for the next job: it polls for JQ_SPIN_NS (a boot
 * makes a block hot every 40 us or so), then naps JQ_NAP_NS at a time
 * for JQ_NAPS naps, looking again after each, and only then sleeps until
 * the hart signals it. A wake-up through the kernel costs the hart's
 * thread tens of microseconds on a virtual host (a futex wake, an IPI to
 * a halted vCPU): 2% of a boot's hart samples when the thread slept
 * after its spin; the naps are the thread's to pay. */
#define JQ_SPIN_NS 200000u
#define JQ_NAP_NS 250000u
#define JQ_NAPS 80u

struct rv_jit_async {
    struct rv_hart *h;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    /* each on a cache line of its own: the thread polls put, the hart
     * reads done at every entry of an untranslated block */
    _Alignas(64) _Atomic unsigned put;    /* the hart's next slot */
    _Alignas(64) _Atomic unsigned done;   /* the jobs before it are finished */
    _Alignas(64) _Atomic bool sleeping, stop;
    bool busy, cancel;           /* under lock */
    struct jt t;                 /* the thread's working state */
    struct jq_job job[JQ_SLOTS];
};

/* Wait for a job past `d` (polling, then napping): true if one came (or stop). */
static bool jit_spin(struct rv_jit_async *q, unsigned d)
{
    uint64_t t0 = time_ns();
    do {
        for (unsigned k = 0; k < 64; k++) {
            if (atomic_load_explicit(&q->put, memory_order_acquire) != d || atomic_load(&q->stop))
                return true;
            __builtin_ia32_pause();
        }
    } while (time_ns() - t0 < JQ_SPIN_NS);
    for (unsigned k = 0; k < JQ_NAPS; k++) {
        struct timespec ts = { 0, JQ_NAP_NS };
        nanosleep(&ts, NULL);
        if (atomic_load_explicit(&q->put, memory_order_acquire) != d || atomic_load(&q->stop))
            return true;
    }
    return false;
}

static void *jit_thread(void *arg)
{
    struct rv_jit_async *q = arg;
    struct rv_hart *h = q->h;
    pthread_mutex_lock(&q->lock);
    while (!atomic_load(&q->stop)) {
        unsigned d = atomic_load_explicit(&q->done, memory_order_relaxed);
        if (d == atomic_load(&q->put)) {
            pthread_mutex_unlock(&q->lock);
            bool got = jit_spin(q, d);
            pthread_mutex_lock(&q->lock);
            if (got)
                continue;
            /* asleep: the hart signals after its store of put when it
             * sees `sleeping` (both sequentially consistent), and this
             * looks at put again after its store of `sleeping` */
            atomic_store(&q->sleeping, true);
            while (atomic_load_explicit(&q->done, memory_order_relaxed) == atomic_load(&q->put) &&
                   !atomic_load(&q->stop))
                pthread_cond_wait(&q->wake, &q->lock);
            atomic_store(&q->sleeping, false);
            continue;
        }
        struct jq_job *j = &q->job[d % JQ_SLOTS];
        size_t used = h->jit_used;
        q->busy = true;
        pthread_mutex_unlock(&q->lock);
        j->res = translate(h, &q->t, &j->copy, j->b, j->nbp, &used, &j->made);
        pthread_mutex_lock(&q->lock);
        if (q->cancel)
            j->res = JIT_DROPPED;        /* the arena is being reset: used not kept */
        else
            h->jit_used = used;
        q->cancel = false;
        q->busy = false;
        atomic_store_explicit(&q->done, d + 1, memory_order_release);
        pthread_cond_broadcast(&q->idle);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static struct rv_jit_async *jit_async_start(struct rv_hart *h)
{
    /* mapped, not allocated and cleared: the ring's pages (64 KiB) are
     * the process's only once jobs use them, and a restored guest that
     * goes idle soon uses few (bench/snapshot/many.sh: a cleared ring
     * added about 100 KiB to each of 50 restored guests) */
    void *mem = mmap(NULL, sizeof(struct rv_jit_async), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        h->m->jit_async = false;
        return NULL;
    }
    struct rv_jit_async *q = mem;
    q->h = h;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    pthread_cond_init(&q->idle, NULL);
    /* no signal for it: the process's handlers run on the others */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256u << 10);
    int e = pthread_create(&q->thread, &a, jit_thread, q);
    pthread_attr_destroy(&a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        log_warn("riscv: no translator thread (%s): translating on the hart's", strerror(e));
        pthread_cond_destroy(&q->idle);
        pthread_cond_destroy(&q->wake);
        pthread_mutex_destroy(&q->lock);
        munmap(q, sizeof(*q));
        h->m->jit_async = false;
        return NULL;
    }
    pthread_setname_np(q->thread, "vessel-jit");
    h->jit_async = q;
    h->jit_taken = 0;
    h->jit_done = &q->done;
    return q;
}

bool rv_jit_queue(struct rv_hart *h, struct rv_block *b)
{
    if (!jit_arena(h))
        return false;
    struct rv_jit_async *q = h->jit_async;
    if (!q && !(q = jit_async_start(h)))
        return rv_jit_translate(h, b);
    if (q->put - h->jit_taken == JQ_SLOTS)
        return false;                    /* all taken: at a later run */
    struct jq_job *j = &q->job[q->put % JQ_SLOTS];
    memcpy(&j->copy, b, sizeof(*b) + (b->n + 1) * sizeof(b->insn[0]));
    j->b = b;
    j->flush = h->flush_count;
    j->nbp = rv_debug_exec_on(h);
    b->jit_queued = true;
    atomic_store(&q->put, q->put + 1);
    if (atomic_load(&q->sleeping)) {
        pthread_mutex_lock(&q->lock);
        pthread_cond_signal(&q->wake);
        pthread_mutex_unlock(&q->lock);
    }
    return true;
}

void rv_jit_install(struct rv_hart *h)
{
    struct rv_jit_async *q = h->jit_async;
    unsigned d = atomic_load_explicit(&q->done, memory_order_acquire);
    for (; h->jit_taken != d; h->jit_taken++) {
        struct jq_job *j = &q->job[h->jit_taken % JQ_SLOTS];
        struct rv_block *b = j->b;
        if (j->flush != h->flush_count)
            continue;                    /* b is gone with its arena */
        b->jit_queued = false;
        if (b->valid && !b->jit)
            jit_take(h, b, j->res, &j->made);
    }
}

/* The queue emptied, the translation in progress waited for and dropped;
 * blocks: the blocks still exist (not at the hart's end), their
 * jit_queued is cleared. */
static void jit_drain(struct rv_hart *h, bool blocks)
{
    struct rv_jit_async *q = h->jit_async;
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    unsigned d = atomic_load_explicit(&q->done, memory_order_relaxed);
    for (unsigned k = h->jit_taken; blocks && k != q->put; k++) {
        struct jq_job *j = &q->job[k % JQ_SLOTS];
        if (j->flush == h->flush_count)
            j->b->jit_queued = false;
    }
    atomic_store(&q->put, q->busy ? d + 1 : d);   /* the queued ones go */
    if (q->busy) {
        q->cancel = true;
        while (q->busy)
            pthread_cond_wait(&q->idle, &q->lock);
    }
    h->jit_taken = atomic_load_explicit(&q->done, memory_order_relaxed);
    pthread_mutex_unlock(&q->lock);
}

void rv_jit_quiesce(struct rv_hart *h)
{
    jit_drain(h, true);
}

/* A trim (after rv_jit_quiesce: no job, the thread idle): the working
 * state's and the ring's whole pages go back to the host (60 KiB of an
 * idle guest's ring otherwise stay; the thread, polling or asleep, reads
 * only the fields before them). Read as zeros next time: the working
 * state is cleared where a translation needs it, a job written whole. */
static void jit_async_release(struct rv_hart *h)
{
    struct rv_jit_async *q = h->jit_async;
    if (!q)
        return;
    uintptr_t lo = ((uintptr_t)&q->t + 4095) & ~(uintptr_t)4095;
    uintptr_t hi = ((uintptr_t)q + sizeof(*q)) & ~(uintptr_t)4095;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* The hart's arena in use: the thread may be adding to it. */
size_t rv_jit_used(struct rv_hart *h)
{
    struct rv_jit_async *q = h->jit_async;
    if (!q)
        return h->jit_used;
    pthread_mutex_lock(&q->lock);
    size_t u = h->jit_used;
    pthread_mutex_unlock(&q->lock);
    return u;
}

static void jit_async_stop(struct rv_hart *h)
{
    struct rv_jit_async *q = h->jit_async;
    if (!q)
        return;
    jit_drain(h, false);                 /* the blocks may be unmapped already */
    pthread_mutex_lock(&q->lock);
    atomic_store(&q->stop, true);
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    pthread_cond_destroy(&q->idle);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->lock);
    munmap(q, sizeof(*q));
    h->jit_async = NULL;
    h->jit_done = NULL;
}

/* System mode: does the fetch TLB map vpc to `key` (the host address of
 * the block decoded there) in the current fetch mode? Jumps to *fail if
 * not (rax, rsi free: the guest registers are in memory). */
static void emit_fetch_check(struct jx *e, uint64_t vpc, uint64_t key, uint32_t fail[2])
{
    int32_t slot = OFF_TLB(RV_ACC_EXEC) + (int32_t)(((vpc >> 12) & (RV_TLB_SIZE - 1)) * sizeof(struct rv_tlb_entry));
    jx_mov_imm(e, RSI, ((vpc >> 12) << 2) + 1);
    jx_mov_r_rm(e, false, RAX, jm(RBX, (int32_t)offsetof(struct rv_hart, mode_fetch)));
    jx_alu_r_rm(e, true, ALU_ADD, RSI, jr(RAX));
    jx_alu_r_rm(e, true, ALU_CMP, RSI, jm(RBX, slot));
    fail[0] = jx_jcc(e, CC_NE);
    jx_mov_imm(e, RSI, vpc);
    jx_alu_r_rm(e, true, ALU_ADD, RSI, jm(RBX, slot + 8));
    jx_mov_imm(e, RAX, key);
    jx_alu_r_rm(e, true, ALU_CMP, RSI, jr(RAX));
    fail[1] = jx_jcc(e, CC_NE);
}

/* Chaining. A linked exit (jit_exit_to) jumps to the next block's chain
 * entry, which counts it and checks h->jit_limit (the budget, the next
 * timer poll and requests); in system mode through a stub of the checks
 * that depend on the target (that the fetch TLB still maps its pc to the
 * block's code; no interrupt pending), either of which failing goes back to
 * the exit's own way out, after the jump. Kernel code calls across pages
 * all the time: with chains only inside a page, each such call was a
 * round trip through the dispatcher.
 *
 * No check of the target's validity: each link is recorded on the target
 * (a struct rv_jit_in in the code arena), and dropping the block
 * (rv_jit_unlink, from cache.c's drop_page, on the hart that owns the
 * code) points its linked exits back at their way out. Other harts drop
 * code only through their own requests (RV_REQ_CODE), which lower
 * h->jit_limit: the chain entry (or the self-loop's check) leaves for the
 * dispatcher before the next block's body runs, as an exit's check of
 * exit_req did before. */
struct rv_jit_in {
    struct rv_jit_in *next;
    uintptr_t site;
};

#define JIT_STUB_ROOM 224u
bool rv_jit_link(struct rv_hart *h, uintptr_t site, struct rv_block *to)
{
    uintptr_t tag = site & JIT_SITE_JALR;
    uint8_t *sp = (uint8_t *)(site & ~JIT_SITE_JALR);
    int32_t rel;
    memcpy(&rel, sp, 4);
    if (rel)                                    /* linked, to a block not dropped */
        return false;
    if (!to->jit || (tag && !h->m->user))
        return false;
    if (JIT_CODE_ROOM + h->jit_stubs + JIT_STUB_ROOM > JIT_ARENA) {
        rv_request(h, RV_REQ_CODE);             /* full: start again at the next boundary */
        return false;
    }
    site = (uintptr_t)sp;
    uint8_t *at = h->jit_code + JIT_CODE_ROOM + h->jit_stubs;
    struct rv_jit_in *in = (struct rv_jit_in *)(void *)at;
    struct jx ex = { .buf = at + sizeof(*in) };
    struct jx *e = &ex;
    e->p = e->buf;
    e->end = e->buf + JIT_STUB_ROOM - sizeof(*in);
    uintptr_t target = (uintptr_t)to->jit_chain;
    if (!h->m->user) {
        uint32_t back = (uint32_t)(site + 4 - (uintptr_t)e->buf);
        uint32_t fail[2];
        emit_fetch_check(e, to->vpc, to->key, fail);
        jx_patch(e, fail[0], back);
        jx_patch(e, fail[1], back);
        jx_mov_r_rm(e, true, RAX, jm(RBX, OFF_MIP));
        jx_test_rm_r(e, true, jm(RBX, OFF_MIE), RAX);
        jx_jcc_to(e, CC_NE, back);
        jx_jmp_to(e, (uint32_t)(target - (uintptr_t)e->buf));
        if (jx_overflow(e))
            return false;
        if (h->m->perf_map_fd >= 0)
            dprintf(h->m->perf_map_fd, "%lx %x rv_chain_%llx\n", (unsigned long)(uintptr_t)e->buf,
                    jx_pos(e), (unsigned long long)to->vpc);
        target = (uintptr_t)e->buf;
    }
    h->jit_stubs += (uint32_t)((sizeof(*in) + jx_pos(e) + 15) & ~(size_t)15);
    in->site = site | tag;
    if (tag)
        memcpy(sp - JALR_IMM, &to->vpc, 8);
    in->next = to->jit_in;
    to->jit_in = in;
    rel = (int32_t)(target - (site + 4));
    memcpy(sp, &rel, 4);
    return true;
}

void rv_jit_unlink(struct rv_block *b)
{
    int32_t none = 0;
    uint64_t nopc = JALR_NONE;
    for (struct rv_jit_in *in = b->jit_in; in; in = in->next) {
        uint8_t *sp = (uint8_t *)(in->site & ~JIT_SITE_JALR);
        memcpy(sp, &none, 4);
        if (in->site & JIT_SITE_JALR)
            memcpy(sp - JALR_IMM, &nopc, 8);
    }
    b->jit_in = NULL;
}
