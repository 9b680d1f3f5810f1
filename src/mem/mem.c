#include "mem/mem.h"
#include "base/base.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

void mem_init(struct guest_mem *m)
{
    memset(m, 0, sizeof(*m));
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
    int mflags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (flags & MEM_F_MEMFD) {
        fd = memfd_create("vessel-ram", MFD_CLOEXEC);
        if (fd < 0)
            return -errno;
        if (ftruncate(fd, (off_t)size) < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        mflags = MAP_SHARED | MAP_NORESERVE;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, mflags, fd, 0);
    if (p == MAP_FAILED) {
        int e = -errno;
        if (fd >= 0)
            close(fd);
        return e;
    }
    madvise(p, size, MADV_MERGEABLE);
    struct mem_region *r = &m->r[m->nr++];
    r->gpa = gpa;
    r->size = size;
    r->host = p;
    r->fd = fd;
    r->flags = flags;
    r->dirty = NULL;
    return 0;
}

void mem_destroy(struct guest_mem *m)
{
    for (unsigned i = 0; i < m->nr; i++) {
        munmap(m->r[i].host, m->r[i].size);
        if (m->r[i].fd >= 0)
            close(m->r[i].fd);
        free(m->r[i].dirty);
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

int mem_dirty_enable(struct guest_mem *m)
{
    for (unsigned i = 0; i < m->nr; i++) {
        if (m->r[i].dirty)
            continue;
        uint64_t pages = m->r[i].size >> MEM_PAGE_SHIFT;
        m->r[i].dirty = calloc((pages + 63) / 64, sizeof(uint64_t));
        if (!m->r[i].dirty)
            return -ENOMEM;
    }
    return 0;
}

void mem_mark_dirty(struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    struct mem_region *r = mem_region_of(m, gpa);
    if (!r || !r->dirty || !len)
        return;
    uint64_t first = (gpa - r->gpa) >> MEM_PAGE_SHIFT;
    uint64_t last = (gpa - r->gpa + len - 1) >> MEM_PAGE_SHIFT;
    uint64_t max = (r->size >> MEM_PAGE_SHIFT) - 1;
    if (last > max)
        last = max;
    for (uint64_t p = first; p <= last; p++)
        __atomic_fetch_or(&r->dirty[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
}

void mem_dirty_collect(struct guest_mem *m, unsigned i, uint64_t *out)
{
    if (i >= m->nr || !m->r[i].dirty)
        return;
    uint64_t words = ((m->r[i].size >> MEM_PAGE_SHIFT) + 63) / 64;
    for (uint64_t w = 0; w < words; w++)
        out[w] = __atomic_exchange_n(&m->r[i].dirty[w], 0, __ATOMIC_RELAXED);
}
