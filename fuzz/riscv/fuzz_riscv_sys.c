/* libFuzzer: system mode, translator against interpreter (issue 18), on
 * fuzzer-chosen programs and initial state: fuzz/riscv/sysdiff.h's two
 * machines (jit off; jit on, threshold 1) run the program five times from
 * the same state, and the exit, the whole hart state and all of RAM must
 * be the same after each run; a difference is a __builtin_trap (the
 * difference is printed first). The input:
 *   byte 0       mode (M, S on Sv39, M with MPRV) | FS << 2 | big_ro << 4 |
 *                deleg << 5 | ssip << 6 | mxr << 7
 *   byte 1       frm (low 3 bits) | fflags << 3
 *   bytes 2-9    data page i: permission (low 3 bits: RW, R, X only, RWX,
 *                unmapped), A clear (8), D clear (16); PA page (bits 5-7)
 *   bytes 10-13  the bases x31 and x29: a boundary (byte & 7) and an
 *                offset from it (the next byte, signed)
 *   byte 14      loop count (x30), byte 15 the last run's budget
 *   bytes 16-23  a seed for x1..x24 and f0..f31
 *   then         the body, raw instruction words (wfi; j -4 appended)
 * The body can do anything a guest can (CSRs, mret, satp, page tables,
 * self-modifying stores): every exit is fine, a difference is a bug. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "sysdiff.h"

#define HDR 24

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t base(uint8_t sel, uint8_t off)
{
    static const uint64_t at[8] = { 0x11000, 0x12000, 0x14000, 0x17000, 0x18000, 0x200000, 0x300000, 0x400000 };
    return at[sel & 7] + (uint64_t)(int64_t)(int8_t)off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sd_pair pair;
    static struct sd_prog pr;
    static bool ready;
    if (size < HDR + 4 || size > HDR + 4 * (SD_MAX_INSNS - 2))
        return 0;
    if (!ready) {
        if (sd_open(&pair))
            abort();
        pair.full_ram = true;
        log_set_level(LOG_ERROR);       /* the guests' MMIO warnings */
        ready = true;
    }
    memset(&pr, 0, sizeof(pr));
    pr.mode = (uint8_t)((data[0] & 3) % 3);
    pr.fs = (data[0] >> 2) & 3;
    pr.big_ro = (data[0] >> 4) & 1;
    pr.deleg = (data[0] >> 5) & 1;
    pr.ssip = (data[0] >> 6) & 1;
    pr.mxr = data[0] >> 7;
    pr.frm = data[1] & 7;
    pr.fflags = data[1] >> 3;
    for (unsigned i = 0; i < 8; i++) {
        pr.perm[i] = data[2 + i] & 31;
        pr.order[i] = data[2 + i] >> 5;
    }
    pr.base31 = base(data[10], data[11]);
    pr.base29 = base(data[12], data[13]);
    pr.loops = data[14] & 15;
    pr.budget_cut = 1 + data[15];
    pr.budget = 20000;
    uint64_t seed;
    memcpy(&seed, data + 16, 8);
    for (unsigned r = 1; r < 25; r++)
        pr.x[r] = r & 1 ? mix(&seed) : mix(&seed) & 0xfff;
    for (unsigned r = 0; r < 32; r++)
        pr.f[r] = mix(&seed);
    size_t n = (size - HDR) / 4;
    memcpy(pr.code, data + HDR, n * 4);
    pr.code[n++] = 0x10500073u;                 /* wfi */
    pr.code[n++] = 0xffdff06fu;                 /* j -4 */
    pr.n = (unsigned)n;
    bool translated;
    if (sd_run(&pair, &pr, &translated)) {
        fprintf(stderr, "fuzz_riscv_sys: %s\n", pair.msg);
        __builtin_trap();
    }
    return 0;
}
