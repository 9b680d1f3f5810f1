/* Guest address space for user mode: one host reservation, a per-page
 * protection byte map, mmap/munmap/mprotect/mremap/brk in guest terms. */
#include "emu/riscv/user/user.h"
#include "base/base.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define PG USER_PAGE
/* Never-mapped host space after the guest space: a host syscall that runs
 * past the end of a guest buffer at the very top faults there (EFAULT)
 * instead of touching vessel's own memory. */
#define GUARD (64ULL << 20)
/* and before it: translated code checks only an access's base register
 * against the size, so base + offset may fall up to 2 KiB below */
#define GUARD_LO (64ULL << 10)
#define HUGE_MIN (2ULL << 20)
#define PG_DOWN(x) ((x) & ~(PG - 1))
#define PG_UP(x)   (((x) + PG - 1) & ~(PG - 1))

int user_mem_init(struct user_mem *m, uint64_t size)
{
    memset(m, 0, sizeof(*m));
    uint8_t *p = mmap(NULL, GUARD_LO + size + GUARD, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    p += GUARD_LO;
    void *pm = mmap(NULL, size / PG, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (pm == MAP_FAILED) {
        int e = -errno;
        munmap(p - GUARD_LO, GUARD_LO + size + GUARD);
        return e;
    }
    m->host = p;
    m->size = size;
    m->prot = pm;
    pthread_mutex_init(&m->lock, NULL);
    return 0;
}

void user_mem_free(struct user_mem *m)
{
    if (m->host)
        munmap(m->host - GUARD_LO, GUARD_LO + m->size + GUARD);
    if (m->prot)
        munmap(m->prot, m->size / PG);
    m->host = NULL;
    m->prot = NULL;
}

static bool range_ok(const struct user_mem *m, uint64_t g, uint64_t len)
{
    return g <= m->size && len <= m->size - g;
}

/* Callers write through the pointer (syscalls, signal frames): pages kept
 * read-only for code become writable again and their code is dropped. */
void *user_mem_ptr(struct user_mem *m, uint64_t g, uint64_t len)
{
    if (!range_ok(m, g, len))
        return NULL;
    if (__atomic_load_n(&m->ncodeprot, __ATOMIC_RELAXED) && len)
        user_mem_code_unprotect(m, g, len, true);
    return m->host + g;
}

int user_mem_prot_of(struct user_mem *m, uint64_t g)
{
    if (g >= m->size)
        return 0;
    return m->prot[g / PG];
}

bool user_mem_ok(struct user_mem *m, uint64_t g, uint64_t len, int prot)
{
    if (!range_ok(m, g, len))
        return false;
    if (len == 0)
        return true;
    for (uint64_t p = g / PG; p <= (g + len - 1) / PG; p++) {
        uint8_t b = m->prot[p];
        if (!(b & USER_MAPPED) || (b & prot) != prot)
            return false;
    }
    return true;
}

const char *user_mem_str(struct user_mem *m, uint64_t g, size_t max)
{
    for (size_t i = 0; i < max; i++) {
        if (i == 0 || ((g + i) % PG) == 0)
            if (!user_mem_ok(m, g + i, 1, PROT_READ))
                return NULL;
        if (m->host[g + i] == 0)
            return (const char *)m->host + g;
    }
    return NULL;
}

static void forget_codeprot(struct user_mem *m, uint64_t g, uint64_t len);
/* the host protection of [g, g+len) was just set from b */
static void set_prot(struct user_mem *m, uint64_t g, uint64_t len, uint8_t b)
{
    forget_codeprot(m, g, len);
    memset(m->prot + g / PG, b, len / PG);
}

/* Host protection: the interpreter reads code through the host mapping, so
 * PROT_EXEC pages stay host-readable; guest permissions live in m->prot. */
static int host_prot(int prot)
{
    int hp = prot & (PROT_READ | PROT_WRITE);
    if (prot & PROT_EXEC)
        hp |= PROT_READ;
    return hp;
}

void user_mem_code_protect(struct user_mem *m, uint64_t g)
{
    if (g >= m->size)
        return;
    uint8_t *b = &m->prot[g / PG];
    if ((__atomic_load_n(b, __ATOMIC_RELAXED) & (USER_MAPPED | PROT_WRITE | USER_CODEPROT)) !=
        (USER_MAPPED | PROT_WRITE))
        return;
    pthread_mutex_lock(&m->lock);
    if ((*b & (USER_MAPPED | PROT_WRITE | USER_CODEPROT)) == (USER_MAPPED | PROT_WRITE) &&
        mprotect(m->host + PG_DOWN(g), PG, host_prot(*b & 7) & ~PROT_WRITE) == 0) {
        __atomic_or_fetch(b, USER_CODEPROT, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&m->ncodeprot, 1, __ATOMIC_SEQ_CST);
    }
    pthread_mutex_unlock(&m->lock);
}

/* the lock held: page p's host protection back to the guest's */
static bool unprotect_page(struct user_mem *m, uint64_t p)
{
    uint8_t b = m->prot[p];
    if (!(b & USER_CODEPROT))
        return false;
    mprotect(m->host + p * PG, PG, host_prot(b & 7));
    __atomic_and_fetch(&m->prot[p], (uint8_t)~USER_CODEPROT, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(&m->ncodeprot, 1, __ATOMIC_SEQ_CST);
    return true;
}

bool user_mem_code_unprotect(struct user_mem *m, uint64_t g, uint64_t len, bool notify)
{
    if (!len || !range_ok(m, g, len) || !__atomic_load_n(&m->ncodeprot, __ATOMIC_RELAXED))
        return false;
    bool any = false;
    pthread_mutex_lock(&m->lock);
    for (uint64_t p = g / PG; p <= (g + len - 1) / PG; p++)
        any |= unprotect_page(m, p);
    pthread_mutex_unlock(&m->lock);
    if (any && notify && m->code_dropped)
        m->code_dropped(m->code_arg, g, len);
    return any;
}

bool user_mem_code_unprotect_async(struct user_mem *m, uint64_t g)
{
    if (g >= m->size)
        return false;
    uint8_t *b = &m->prot[g / PG];
    uint8_t old = __atomic_fetch_and(b, (uint8_t)~USER_CODEPROT, __ATOMIC_SEQ_CST);
    if (!(old & USER_CODEPROT))
        return false;
    __atomic_sub_fetch(&m->ncodeprot, 1, __ATOMIC_SEQ_CST);
    return mprotect(m->host + PG_DOWN(g), PG, host_prot(old & 7)) == 0;
}

/* The prot bytes of [g, g+len) are about to be rewritten with the host
 * protection: forget the code-protected ones (the lock held). */
static void forget_codeprot(struct user_mem *m, uint64_t g, uint64_t len)
{
    if (!__atomic_load_n(&m->ncodeprot, __ATOMIC_RELAXED))
        return;
    for (uint64_t p = g / PG; p < (g + len) / PG; p++)
        if (m->prot[p] & USER_CODEPROT)
            __atomic_sub_fetch(&m->ncodeprot, 1, __ATOMIC_SEQ_CST);
}

uint64_t user_mem_find_free(struct user_mem *m, uint64_t len, uint64_t top)
{
    len = PG_UP(len);
    if (len == 0 || len > top)
        return 0;
    uint64_t end = PG_DOWN(top);
    while (end >= len + 0x10000) {
        uint64_t start = end - len, p;
        /* scan down for a mapped page inside [start, end) */
        for (p = end / PG; p > start / PG; p--)
            if (m->prot[p - 1] & USER_MAPPED)
                break;
        if (p == start / PG)
            return start;
        end = (p - 1) * PG;
    }
    return 0;
}

int64_t user_mem_mmap(struct user_mem *m, uint64_t g, uint64_t len, int prot,
                      int flags, int fd, uint64_t off)
{
    if (len == 0 || (off & (PG - 1)))
        return -EINVAL;
    if (g & (PG - 1)) {
        if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))
            return -EINVAL;
        g &= ~(PG - 1);          /* a hint: round it */
    }
    if (len > m->size)
        return -ENOMEM;
    len = PG_UP(len);
    pthread_mutex_lock(&m->lock);
    bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
    if (fixed) {
        if (!range_ok(m, g, len) || g < PG) {
            pthread_mutex_unlock(&m->lock);
            return -ENOMEM;
        }
        if (flags & MAP_FIXED_NOREPLACE) {
            for (uint64_t p = g / PG; p < (g + len) / PG; p++)
                if (m->prot[p] & USER_MAPPED) {
                    pthread_mutex_unlock(&m->lock);
                    return -EEXIST;
                }
        }
    } else {
        uint64_t a = 0;
        if (g && range_ok(m, g, len)) {
            bool free_ = true;
            for (uint64_t p = g / PG; p < (g + len) / PG && free_; p++)
                free_ = !(m->prot[p] & USER_MAPPED);
            if (free_)
                a = g;
        }
        if (!a && m->mmap_hint && m->mmap_hint < USER_MMAP_TOP)
            a = user_mem_find_free(m, len, m->mmap_hint);   /* below the last one */
        if (!a)
            a = user_mem_find_free(m, len, USER_MMAP_TOP);
        if (a)
            m->mmap_hint = a;
        if (!a) {
            pthread_mutex_unlock(&m->lock);
            return -ENOMEM;
        }
        g = a;
    }
    int hflags = MAP_FIXED | (flags & (MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS |
                                       MAP_NORESERVE | MAP_POPULATE));
#ifdef MAP_SHARED_VALIDATE
    if ((flags & MAP_SHARED_VALIDATE) == MAP_SHARED_VALIDATE)
        hflags |= MAP_SHARED;
#endif
    if (!(hflags & (MAP_SHARED | MAP_PRIVATE)))
        hflags |= MAP_PRIVATE;
    void *r = mmap(m->host + g, len, host_prot(prot), hflags,
                   (flags & MAP_ANONYMOUS) ? -1 : fd, (off_t)off);
    if (r == MAP_FAILED) {
        int e = errno;
        pthread_mutex_unlock(&m->lock);
        return -e;
    }
    set_prot(m, g, len, USER_MAPPED | (prot & 7));
    pthread_mutex_unlock(&m->lock);
    /* large anonymous memory in huge pages where the host allows (THP
     * "madvise"): random access over megabytes (a BWT, a hash table) then
     * misses the host TLB far less; the guest sees nothing of it */
    if ((flags & MAP_ANONYMOUS) && len >= HUGE_MIN)
        madvise(m->host + g, len, MADV_HUGEPAGE);
    return (int64_t)g;
}

int user_mem_munmap(struct user_mem *m, uint64_t g, uint64_t len)
{
    if ((g & (PG - 1)) || len == 0)
        return -EINVAL;
    len = PG_UP(len);
    if (!range_ok(m, g, len))
        return -EINVAL;
    pthread_mutex_lock(&m->lock);
    void *r = mmap(m->host + g, len, PROT_NONE,
                   MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r != MAP_FAILED) {
        set_prot(m, g, len, 0);
        if (g + len > m->mmap_hint && g + len <= USER_MMAP_TOP)
            m->mmap_hint = g + len;      /* the hole can be reused */
    }
    pthread_mutex_unlock(&m->lock);
    return r == MAP_FAILED ? -ENOMEM : 0;
}

int user_mem_mprotect(struct user_mem *m, uint64_t g, uint64_t len, int prot)
{
    if (g & (PG - 1))
        return -EINVAL;
    len = PG_UP(len);
    if (!range_ok(m, g, len))
        return -ENOMEM;
    pthread_mutex_lock(&m->lock);
    for (uint64_t p = g / PG; p < (g + len) / PG; p++)
        if (!(m->prot[p] & USER_MAPPED)) {
            pthread_mutex_unlock(&m->lock);
            return -ENOMEM;
        }
    int rc = 0;
    if (len && mprotect(m->host + g, len, host_prot(prot)) < 0)
        rc = -errno;
    else
        set_prot(m, g, len, USER_MAPPED | (prot & 7));
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int64_t user_mem_mremap(struct user_mem *m, uint64_t old, uint64_t oldlen,
                        uint64_t newlen, int flags, uint64_t newaddr)
{
    if ((old & (PG - 1)) || newlen == 0)
        return -EINVAL;
    oldlen = PG_UP(oldlen);
    newlen = PG_UP(newlen);
    if (!range_ok(m, old, oldlen) || newlen > m->size)
        return -EINVAL;
    if (!user_mem_ok(m, old, oldlen, 0))
        return -EFAULT;
    pthread_mutex_lock(&m->lock);
    uint8_t b = oldlen ? m->prot[old / PG] & ~USER_CODEPROT : (USER_MAPPED | PROT_READ | PROT_WRITE);
    for (uint64_t p = old / PG; p < (old + oldlen) / PG; p++)
        unprotect_page(m, p);      /* what moves keeps its host protection */
    uint64_t dst;
    if (flags & MREMAP_FIXED) {
        dst = newaddr;
        if ((dst & (PG - 1)) || !range_ok(m, dst, newlen) || dst < PG) {
            pthread_mutex_unlock(&m->lock);
            return -EINVAL;
        }
    } else if (newlen <= oldlen) {
        pthread_mutex_unlock(&m->lock);
        if (newlen < oldlen)
            user_mem_munmap(m, old + newlen, oldlen - newlen);
        return (int64_t)old;
    } else {
        bool grow = range_ok(m, old, newlen);
        for (uint64_t p = (old + oldlen) / PG; grow && p < (old + newlen) / PG; p++)
            grow = !(m->prot[p] & USER_MAPPED);
        if (grow) {
            dst = old;
        } else if (flags & MREMAP_MAYMOVE) {
            dst = user_mem_find_free(m, newlen, USER_MMAP_TOP);
            if (!dst) {
                pthread_mutex_unlock(&m->lock);
                return -ENOMEM;
            }
        } else {
            pthread_mutex_unlock(&m->lock);
            return -ENOMEM;
        }
    }
    void *r;
    if (dst == old) {
        /* grow in place: the host pages after it belong to the reservation,
         * so map the new tail instead (anonymous, same protection) */
        r = mmap(m->host + old + oldlen, newlen - oldlen, host_prot(b & 7),
                 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (r != MAP_FAILED)
            r = m->host + old;
    } else {
        r = mremap(m->host + old, oldlen, newlen, MREMAP_MAYMOVE | MREMAP_FIXED, m->host + dst);
    }
    if (r == MAP_FAILED) {
        int e = errno;
        pthread_mutex_unlock(&m->lock);
        return -e;
    }
    if (dst != old) {
        /* the host unmapped the old range: put the reservation back */
        mmap(m->host + old, oldlen, PROT_NONE,
             MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        set_prot(m, old, oldlen, 0);
    }
    set_prot(m, dst, newlen, b);
    pthread_mutex_unlock(&m->lock);
    return (int64_t)dst;
}

uint64_t user_mem_brk(struct user_mem *m, uint64_t newbrk)
{
    if (newbrk < m->brk_start || newbrk > m->size / 2)
        return m->brk_cur;
    uint64_t need = PG_UP(newbrk);
    if (need > m->brk_mapped) {
        /* never clobber an existing mapping */
        for (uint64_t p = m->brk_mapped / PG; p < need / PG; p++)
            if (m->prot[p] & USER_MAPPED)
                return m->brk_cur;
        int64_t r = user_mem_mmap(m, m->brk_mapped, need - m->brk_mapped,
                                  PROT_READ | PROT_WRITE,
                                  MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (r < 0)
            return m->brk_cur;
        m->brk_mapped = need;
    } else if (newbrk < m->brk_cur) {
        /* Linux zeroes what is given back: keep pages, clear the bytes */
        uint64_t n = MIN(m->brk_cur, m->brk_mapped) - newbrk;
        memset(user_mem_ptr(m, newbrk, n), 0, n);
    }
    m->brk_cur = newbrk;
    return m->brk_cur;
}
