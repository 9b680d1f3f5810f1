/* mem: guest physical memory. A small list of RAM regions backed by mmap
 * (MAP_NORESERVE, optionally a memfd so it can be shared or snapshotted).
 * Every guest-supplied address goes through mem_translate(), which checks
 * that [gpa, gpa+len) lies wholly inside one region. */
#ifndef VESSEL_MEM_H
#define VESSEL_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEM_MAX_REGIONS 8
#define MEM_PAGE_SHIFT 12
#define MEM_PAGE_SIZE (1ULL << MEM_PAGE_SHIFT)

enum {
    MEM_F_MEMFD = 1 << 0,    /* back the region with a memfd (shareable) */
    MEM_F_READONLY = 1 << 1, /* guest may not write (ROM) */
    MEM_F_FILE = 1 << 2,     /* mapped MAP_PRIVATE from a file (a restored snapshot) */
};

struct mem_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *host;
    int fd;                  /* memfd or -1 */
    unsigned flags;
    uint64_t *dirty;         /* one bit per page, NULL unless dirty logging */
};

struct guest_mem {
    struct mem_region r[MEM_MAX_REGIONS];
    unsigned nr;
};

void mem_init(struct guest_mem *m);
/* Map `size` bytes (page multiple) at guest physical `gpa`. 0 or -errno;
 * -EEXIST for an overlap, -ENOMEM when the host refuses the mapping. */
int mem_add_ram(struct guest_mem *m, uint64_t gpa, uint64_t size, unsigned flags);
void mem_destroy(struct guest_mem *m);

static inline struct mem_region *mem_region_of(struct guest_mem *m, uint64_t gpa)
{
    for (unsigned i = 0; i < m->nr; i++)
        if (gpa - m->r[i].gpa < m->r[i].size)
            return &m->r[i];
    return NULL;
}

/* Host pointer for [gpa, gpa+len), or NULL if any byte is outside RAM. */
static inline void *mem_translate(struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    struct mem_region *r = mem_region_of(m, gpa);
    if (!r)
        return NULL;
    uint64_t off = gpa - r->gpa;
    if (len > r->size - off)
        return NULL;
    return r->host + off;
}

/* Copy helpers; return 0 or -EFAULT. Writes mark pages dirty. */
int mem_read(struct guest_mem *m, uint64_t gpa, void *buf, uint64_t len);
int mem_write(struct guest_mem *m, uint64_t gpa, const void *buf, uint64_t len);

/* Dirty page tracking (for snapshot and migration). */
int mem_dirty_enable(struct guest_mem *m);
void mem_mark_dirty(struct guest_mem *m, uint64_t gpa, uint64_t len);
/* Copy region i's bitmap into `out` (size/4096 bits) and clear it. */
void mem_dirty_collect(struct guest_mem *m, unsigned i, uint64_t *out);

#endif
