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
    MEM_F_MERGE = 1 << 3,    /* offered to KSM (mem_set_merge) */
    MEM_F_HUGE = 1 << 4,     /* set by mem_add_ram: anonymous, MADV_HUGEPAGE (transparent huge pages) */
};

/* Anonymous RAM of at least this size is mapped at a host address aligned
 * to it and offered to transparent huge pages (as QEMU does): one host
 * fault per 2 MiB instead of per 4 KiB on first touch. */
#define MEM_HUGE_SIZE (2ULL << 20)

struct mem_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *host;
    int fd;                  /* memfd or -1 */
    unsigned flags;
    uint64_t *dirty;         /* one bit per page, NULL unless dirty logging */
    uint64_t *dirty_buf;     /* the bitmap, kept until mem_destroy (a late marker may still hold it) */
};

struct guest_mem {
    struct mem_region r[MEM_MAX_REGIONS];
    unsigned nr;
    /* Writes into RAM from outside the CPUs' own store paths (devices,
     * loaders: everything that calls mem_write, mem_mark_dirty,
     * mem_discard or mem_map_file) are told to on_write before the guest
     * can see them done; an emulator uses it to keep decoded code right
     * across fence.i. A writer that bypasses these calls (the host
     * kernel, vhost) sets `untracked` for good: mem_note_untracked. */
    void (*on_write)(void *opaque, uint64_t gpa, uint64_t len);
    void *on_write_opaque;
    bool untracked;
};

void mem_init(struct guest_mem *m);
/* Map `size` bytes (page multiple) at guest physical `gpa`. 0 or -errno;
 * -EEXIST for an overlap, -ENOMEM when the host refuses the mapping.
 * Anonymous (not memfd, not read-only) regions of MEM_HUGE_SIZE or more
 * get MEM_F_HUGE when the host accepts MADV_HUGEPAGE (THP built in; the
 * host's .../transparent_hugepage/enabled "never" still wins). */
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

/* Give the pages of [gpa, gpa+len) back to the host (a balloon, free page
 * reporting): the range must lie inside one writable region; only whole
 * host pages inside it are released (the rest is left alone). Anonymous
 * RAM: MADV_DONTNEED (reads as zero next time); a memfd (shared): punch a
 * hole in the file (fallocate, so the memory leaves the page cache too).
 * A release that is not whole huge pages in a MEM_F_HUGE region (balloon
 * pages of 4 KiB) first turns the region to MADV_NOHUGEPAGE for good, so
 * that khugepaged never fills the released holes again.
 * The pages are marked dirty. Returns the bytes released (0 when no whole
 * host page fits), -EFAULT outside RAM, -EPERM for a read-only region,
 * -errno from the host. */
int64_t mem_discard(struct guest_mem *m, uint64_t gpa, uint64_t len);
/* A guest past its boot (the RISC-V board calls it when a hart first goes
 * mostly idle): huge pages only where the guest filled them. Every
 * MEM_F_HUGE region turns to MADV_NOHUGEPAGE for good (no new huge page,
 * no khugepaged collapse, which would fill a range with zeros around one
 * touched page) and loses MEM_F_HUGE; each of its resident 2 MiB ranges
 * with MEM_HUGE_SPARSE or more zero-filled 4 KiB pages is split, so the
 * kernel maps those pages to its shared zero page and they leave the
 * process (Linux 6.12 or later; an older kernel only splits it). The
 * zero test is a read: a page the guest writes meanwhile only makes the
 * split a worse choice, never changes its content. Returns the ranges
 * split, or -errno. */
#define MEM_HUGE_SPARSE 64
int mem_huge_settle(struct guest_mem *m);
/* KSM: mark every region mergeable (QEMU's mem-merge=on) or not. Returns
 * 0, or -errno when the host refuses (a kernel without KSM: -EINVAL). */
int mem_set_merge(struct guest_mem *m, bool on);
/* Put the first `len` bytes of the file `fd` (a kernel, an initrd) at gpa
 * as a private file mapping instead of a copy: guests booted from the same
 * file share its page cache until they write a page (copy on write). gpa
 * must be page aligned and [gpa, gpa+len rounded up to a page) inside one
 * anonymous writable region (-EINVAL otherwise: copy instead). What was in
 * RAM there is gone; the pages read as the file (its last page zero past
 * the end). The file must not shrink while mapped (a read of a page past
 * its new end would be SIGBUS): callers map only files nobody may write. */
int mem_map_file(struct guest_mem *m, uint64_t gpa, int fd, uint64_t len);
/* Total bytes of RAM (every region but read-only ones). */
uint64_t mem_ram_size(const struct guest_mem *m);

/* Dirty page tracking (for snapshot and migration). One bit per 4 KiB
 * page of each region. enable: every region's bitmap (all clear) and
 * r->dirty set: from then on mem_write, mem_discard, mem_map_file and
 * mem_mark_dirty set bits (the RISC-V emulator marks a page on a store's
 * slow path before it fills the write TLB entry, and drops its write
 * entries at each sync: rv_dirty_log_sync). disable:
 * r->dirty NULL again; the bitmap stays allocated until mem_destroy, so a
 * thread that loaded the pointer just before may still set a bit in it. */
int mem_dirty_enable(struct guest_mem *m);
/* Whether the MEM_PAGE_SIZE bytes at p (8-byte aligned) are all zero:
 * snapshot, migration and replication send or write such pages as holes. */
bool mem_page_is_zero(const uint8_t *p);
void mem_dirty_disable(struct guest_mem *m);
void mem_mark_dirty(struct guest_mem *m, uint64_t gpa, uint64_t len);
/* Guest RAM is written by someone who calls none of the above (vhost). */
void mem_note_untracked(struct guest_mem *m);
/* Every page of every writable region dirty (a reset reloaded the images). */
void mem_mark_all_dirty(struct guest_mem *m);
/* OR region i's bitmap into `out` (size/4096 bits, 64-bit words) and clear
 * it. Returns the number of pages newly set in out. */
uint64_t mem_dirty_collect(struct guest_mem *m, unsigned i, uint64_t *out);
/* Words of a bitmap for a region of `size` bytes. */
static inline uint64_t mem_bitmap_words(uint64_t size)
{
    return ((size >> MEM_PAGE_SHIFT) + 63) / 64;
}

#endif
