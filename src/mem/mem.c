#include "mem/mem.h"
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_COLD
#define MADV_COLD 20
#endif

void mem_init(struct guest_mem *m)
{
    memset(m, 0, sizeof(*m));
}

/* Anonymous RAM for a region: at a MEM_HUGE_SIZE-aligned host address
 * (over-map, then trim both ends) so that every 2 MiB of guest physical
 * memory can be one host huge page, with MADV_HUGEPAGE; *huge says whether
 * the host took the advice. Read-only and small regions stay plain. */
static void *map_anon(uint64_t size, unsigned flags, bool *huge)
{
    int mflags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    *huge = false;
    if (size < MEM_HUGE_SIZE || (flags & MEM_F_READONLY) || size + MEM_HUGE_SIZE < size)
        return mmap(NULL, size, PROT_READ | PROT_WRITE, mflags, -1, 0);
    uint64_t span = size + MEM_HUGE_SIZE;
    uint8_t *p = mmap(NULL, span, PROT_READ | PROT_WRITE, mflags, -1, 0);
    if (p == MAP_FAILED)
        return p;
    uint8_t *a = (uint8_t *)(((uintptr_t)p + MEM_HUGE_SIZE - 1) & ~(uintptr_t)(MEM_HUGE_SIZE - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    if (p + span > a + size)
        munmap(a + size, (size_t)(p + span - (a + size)));
    *huge = madvise(a, size, MADV_HUGEPAGE) == 0;
    return a;
}

int mem_add_ram(struct guest_mem *m, uint64_t gpa, uint64_t size, unsigned flags)
{
    if (m->nr >= MEM_MAX_REGIONS)
        return -ENOSPC;
    if (!size || (size | gpa) & (MEM_PAGE_SIZE - 1) || gpa + size < gpa)
        return -EINVAL;
    for (unsigned i = 0; i < m->nr; i++)
        if (gpa < m->r[i].gpa + m->r[i].size && m->r[i].gpa < gpa + size)
            return -EEXIST;
    int fd = -1;
    bool huge = false;
    void *p;
    flags &= ~(unsigned)MEM_F_HUGE;
    if (flags & MEM_F_MEMFD) {
        fd = memfd_create("vessel-ram", MFD_CLOEXEC);
        if (fd < 0)
            return -errno;
        if (ftruncate(fd, (off_t)size) < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    } else {
        p = map_anon(size, flags, &huge);
    }
    if (p == MAP_FAILED) {
        int e = -errno;
        if (fd >= 0)
            close(fd);
        return e;
    }
    struct mem_region *r = &m->r[m->nr++];
    r->gpa = gpa;
    r->size = size;
    r->host = p;
    r->fd = fd;
    r->flags = huge ? flags | MEM_F_HUGE : flags;
    r->dirty = NULL;
    r->dirty_buf = NULL;
    return 0;
}

void mem_destroy(struct guest_mem *m)
{
    for (unsigned i = 0; i < m->nr; i++) {
        munmap(m->r[i].host, m->r[i].size);
        if (m->r[i].fd >= 0)
            close(m->r[i].fd);
        free(m->r[i].dirty_buf);
    }
    m->nr = 0;
}

int mem_read(struct guest_mem *m, uint64_t gpa, void *buf, uint64_t len)
{
    void *p = mem_translate(m, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(buf, p, len);
    return 0;
}

int mem_write(struct guest_mem *m, uint64_t gpa, const void *buf, uint64_t len)
{
    void *p = mem_translate(m, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(p, buf, len);
    mem_mark_dirty(m, gpa, len);
    return 0;
}

int64_t mem_discard(struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    struct mem_region *r = mem_region_of(m, gpa);
    if (!r || len > r->size - (gpa - r->gpa))
        return -EFAULT;
    if (r->flags & MEM_F_READONLY)
        return -EPERM;
    long ps = sysconf(_SC_PAGESIZE);
    uint64_t hp = ps > 0 ? (uint64_t)ps : MEM_PAGE_SIZE;
    uint64_t off = gpa - r->gpa;
    uint64_t start = (off + hp - 1) & ~(hp - 1), end = (off + len) & ~(hp - 1);
    if (start >= end)
        return 0;
    int ret;
    /* Balloon pages of 4 KiB in a huge-page region: each release splits a
     * huge page, and khugepaged (max_ptes_none) would collapse the range
     * again, filling the holes the guest gave back. From the first such
     * release on, the region stays on small pages (those already huge
     * are split as the guest releases parts of them). */
    if ((__atomic_load_n(&r->flags, __ATOMIC_RELAXED) & MEM_F_HUGE) && ((start | end) & (MEM_HUGE_SIZE - 1))) {
        if (madvise(r->host, r->size, MADV_NOHUGEPAGE) < 0)
            return -errno;
        __atomic_fetch_and(&r->flags, ~(unsigned)MEM_F_HUGE, __ATOMIC_RELAXED);   /* harts read flags meanwhile */
    }
    /* A region mapped privately from a snapshot's RAM file: dropping the
     * private copies returns the memory (the pages read the file's
     * content again, never zeros); punching the old backing fd would not. */
    if (r->fd >= 0 && !(r->flags & MEM_F_FILE))
        ret = fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)start, (off_t)(end - start));
    else
        ret = madvise(r->host + start, end - start, MADV_DONTNEED);
    if (ret < 0)
        return -errno;
    mem_mark_dirty(m, r->gpa + start, end - start);
    return (int64_t)(end - start);
}

/* How many of the 4 KiB pages at p (MEM_HUGE_SIZE bytes) read as zeros. */
static unsigned zero_pages(const uint8_t *p)
{
    unsigned n = 0;
    for (uint64_t off = 0; off < MEM_HUGE_SIZE; off += MEM_PAGE_SIZE) {
        const uint64_t *w = (const uint64_t *)(const void *)(p + off);
        uint64_t acc = 0;
        for (unsigned i = 0; i < MEM_PAGE_SIZE / sizeof(*w) && !acc; i += 8)
            acc = w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7];
        n += !acc;
    }
    return n;
}

int mem_huge_settle(struct guest_mem *m)
{
    int split = 0;
    for (unsigned i = 0; i < m->nr; i++) {
        struct mem_region *r = &m->r[i];
        if (!(__atomic_load_n(&r->flags, __ATOMIC_RELAXED) & MEM_F_HUGE))
            continue;
        /* no new huge page from now on, and khugepaged leaves it alone */
        if (madvise(r->host, r->size, MADV_NOHUGEPAGE) < 0)
            return -errno;
        __atomic_fetch_and(&r->flags, ~(unsigned)MEM_F_HUGE, __ATOMIC_RELAXED);
        for (uint64_t off = 0; off + MEM_HUGE_SIZE <= r->size; off += MEM_HUGE_SIZE) {
            unsigned char vec[MEM_HUGE_SIZE / MEM_PAGE_SIZE];
            if (mincore(r->host + off, MEM_HUGE_SIZE, vec) < 0)
                return -errno;
            unsigned res = 0;
            for (unsigned k = 0; k < sizeof(vec); k++)
                res += vec[k] & 1;
            /* a huge page is resident whole; read only those */
            if (res < sizeof(vec) || zero_pages(r->host + off) < MEM_HUGE_SPARSE)
                continue;
            /* MADV_COLD on part of a huge page splits it (and moves that
             * one 4 KiB page to the inactive list); the split maps the
             * zero-filled pages to the shared zero page (Linux 6.12 on) */
            if (madvise(r->host + off, MEM_PAGE_SIZE, MADV_COLD) < 0)
                return errno == EINVAL ? split : -errno;   /* a kernel before 5.4 */
            split++;
        }
    }
    return split;
}

int mem_set_merge(struct guest_mem *m, bool on)
{
    for (unsigned i = 0; i < m->nr; i++) {
        if (madvise(m->r[i].host, m->r[i].size, on ? MADV_MERGEABLE : MADV_UNMERGEABLE) < 0)
            return -errno;
        m->r[i].flags = on ? m->r[i].flags | MEM_F_MERGE : m->r[i].flags & ~MEM_F_MERGE;
    }
    return 0;
}

int mem_map_file(struct guest_mem *m, uint64_t gpa, int fd, uint64_t len)
{
    struct mem_region *r = mem_region_of(m, gpa);
    uint64_t span = (len + MEM_PAGE_SIZE - 1) & ~(MEM_PAGE_SIZE - 1);
    long ps = sysconf(_SC_PAGESIZE);
    if (!r || !len || r->fd >= 0 || (r->flags & MEM_F_READONLY) || (gpa & (MEM_PAGE_SIZE - 1)) ||
        (ps > 0 && (uint64_t)ps != MEM_PAGE_SIZE) || span > r->size - (gpa - r->gpa))
        return -EINVAL;
    uint8_t *host = r->host + (gpa - r->gpa);
    void *p = mmap(host, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        /* MAP_FIXED failing may have left the range unmapped: put RAM back */
        int e = -errno;
        if (mmap(host, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                 -1, 0) == MAP_FAILED) {
            log_error("guest RAM at 0x%llx: cannot map it again: %s", (unsigned long long)gpa, strerror(errno));
            abort();
        }
        return e;
    }
    if (r->flags & MEM_F_MERGE)
        madvise(host, span, MADV_MERGEABLE);
    mem_mark_dirty(m, gpa, span);
    return 0;
}

uint64_t mem_ram_size(const struct guest_mem *m)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < m->nr; i++)
        if (!(m->r[i].flags & MEM_F_READONLY))
            n += m->r[i].size;
    return n;
}

int mem_dirty_enable(struct guest_mem *m)
{
    for (unsigned i = 0; i < m->nr; i++) {
        struct mem_region *r = &m->r[i];
        uint64_t words = mem_bitmap_words(r->size);
        if (!r->dirty_buf) {
            r->dirty_buf = calloc(words, sizeof(uint64_t));
            if (!r->dirty_buf)
                return -ENOMEM;
        } else {
            for (uint64_t w = 0; w < words; w++)
                __atomic_store_n(&r->dirty_buf[w], 0, __ATOMIC_RELAXED);
        }
        __atomic_store_n(&r->dirty, r->dirty_buf, __ATOMIC_RELEASE);
    }
    return 0;
}

void mem_dirty_disable(struct guest_mem *m)
{
    for (unsigned i = 0; i < m->nr; i++)
        __atomic_store_n(&m->r[i].dirty, NULL, __ATOMIC_RELEASE);
}

void mem_note_untracked(struct guest_mem *m)
{
    __atomic_store_n(&m->untracked, true, __ATOMIC_SEQ_CST);
}

void mem_mark_dirty(struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    if (m->on_write && len)
        m->on_write(m->on_write_opaque, gpa, len);
    struct mem_region *r = mem_region_of(m, gpa);
    uint64_t *bits = r ? __atomic_load_n(&r->dirty, __ATOMIC_ACQUIRE) : NULL;
    if (!bits || !len)
        return;
    uint64_t first = (gpa - r->gpa) >> MEM_PAGE_SHIFT;
    uint64_t last = (gpa - r->gpa + len - 1) >> MEM_PAGE_SHIFT;
    uint64_t max = (r->size >> MEM_PAGE_SHIFT) - 1;
    if (last > max || gpa - r->gpa + len - 1 < gpa - r->gpa)
        last = max;
    for (uint64_t p = first; p <= last; p++)
        if (!(__atomic_load_n(&bits[p / 64], __ATOMIC_RELAXED) & (1ULL << (p % 64))))
            __atomic_fetch_or(&bits[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
}

void mem_mark_all_dirty(struct guest_mem *m)
{
    for (unsigned i = 0; i < m->nr; i++)
        if (!(m->r[i].flags & MEM_F_READONLY))
            mem_mark_dirty(m, m->r[i].gpa, m->r[i].size);
}

uint64_t mem_dirty_collect(struct guest_mem *m, unsigned i, uint64_t *out)
{
    if (i >= m->nr || !m->r[i].dirty_buf)
        return 0;
    uint64_t words = mem_bitmap_words(m->r[i].size), n = 0;
    for (uint64_t w = 0; w < words; w++) {
        uint64_t v = __atomic_exchange_n(&m->r[i].dirty_buf[w], 0, __ATOMIC_ACQ_REL);
        n += (uint64_t)__builtin_popcountll(v & ~out[w]);
        out[w] |= v;
    }
    return n;
}

bool mem_page_is_zero(const uint8_t *p)
{
    const uint64_t *q = (const uint64_t *)p;
    uint64_t acc = 0;
    for (unsigned i = 0; i < MEM_PAGE_SIZE / 8; i++)
        acc |= q[i];
    return acc == 0;
}
