/* riscv-sys: Sv39/Sv48 page tables built by M-mode in a static pool. */
#include "sys.h"

#define POOL 64
static uint64_t pool[POOL][512] __attribute__((aligned(4096), section(".pages")));
static unsigned used;
static int nlevels;

static uint64_t *alloc(void)
{
    uint64_t *p;
    unsigned i;
    if (used >= POOL) check_fail(__LINE__, "page-table pool exhausted", 0, 0);
    p = pool[used++];
    for (i = 0; i < 512; i++) p[i] = 0;
    return p;
}

void pt_init(int levels)
{
    used = 0;
    nlevels = levels;
    (void)alloc();
}

void *pt_page(void) { return alloc(); }

static unsigned vpn(uint64_t va, int level) { return (va >> (12 + 9 * level)) & 511; }

volatile uint64_t *pt_pte(uint64_t va, int level)
{
    uint64_t *t = pool[0];
    int l;
    for (l = nlevels - 1; l > level; l--) {
        uint64_t *e = &t[vpn(va, l)];
        if (!(*e & PTE_V)) {
            uint64_t *n = alloc();
            *e = (((uint64_t)n >> 12) << 10) | PTE_V;
        }
        t = (uint64_t *)((*e >> 10) << 12);
    }
    return &t[vpn(va, level)];
}

void pt_map(uint64_t va, uint64_t pa, int level, uint64_t flags)
{
    *pt_pte(va, level) = ((pa >> 12) << 10) | flags | PTE_V;
}

uint64_t pt_satp(void)
{
    return (nlevels == 4 ? SATP_SV48 : SATP_SV39) | ((uint64_t)pool[0] >> 12);
}
