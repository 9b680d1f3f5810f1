/* ELF loader for riscv64 Linux programs: ET_EXEC, static-pie / PIE ET_DYN,
 * and PT_INTERP (ld.so) looked up under a sysroot. Everything in the file
 * is validated before a byte is mapped. */
#include "emu/riscv/user/user.h"
#include "base/base.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define PG USER_PAGE
#define PG_DOWN(x) ((x) & ~(PG - 1))
#define PG_UP(x)   (((x) + PG - 1) & ~(PG - 1))
#define MAX_PHNUM  512
#define MAX_HDR    (1u << 20)   /* the furthest a program header table may end */
#define HDR_FIRST  4096u

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -ENOEXEC; } while (0)

static const char *machine_name(unsigned m)
{
    switch (m) {
    case EM_X86_64: return "x86-64";
    case EM_386: return "i386";
    case EM_AARCH64: return "aarch64";
    case EM_ARM: return "arm";
    case EM_PPC64: return "ppc64";
    case EM_S390: return "s390";
    case EM_MIPS: return "mips";
    case EM_LOONGARCH: return "loongarch";
    default: return NULL;
    }
}

int user_elf_check(const uint8_t *buf, size_t len, uint64_t file_size,
                   char *err, size_t errlen)
{
    if (len < EI_NIDENT || memcmp(buf, ELFMAG, SELFMAG) != 0)
        FAIL("is not an ELF file");
    if (buf[EI_CLASS] == ELFCLASS32) {
        if (len >= sizeof(Elf32_Ehdr)) {
            const Elf32_Ehdr *e32 = (const void *)buf;
            const char *n = machine_name(e32->e_machine);
            if (e32->e_machine == EM_RISCV)
                FAIL("is a riscv32 ELF, not riscv64");
            if (n)
                FAIL("is a 32-bit %s ELF, not riscv64", n);
        }
        FAIL("is a 32-bit ELF, not riscv64");
    }
    if (buf[EI_CLASS] != ELFCLASS64)
        FAIL("has a bad ELF class %u", buf[EI_CLASS]);
    if (len < sizeof(Elf64_Ehdr) || file_size < sizeof(Elf64_Ehdr))
        FAIL("is truncated (ELF header incomplete)");
    const Elf64_Ehdr *eh = (const void *)buf;
    if (eh->e_machine != EM_RISCV) {
        const char *n = machine_name(eh->e_machine);
        if (n)
            FAIL("is an %s ELF, not riscv64", n);
        FAIL("is an ELF for machine %u, not riscv64", eh->e_machine);
    }
    if (buf[EI_DATA] != ELFDATA2LSB)
        FAIL("is big-endian, not riscv64");
    if (buf[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
        FAIL("has a bad ELF version");
    if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
        FAIL("is not an executable (ELF type %u)", eh->e_type);
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        FAIL("has a bad program header size %u", eh->e_phentsize);
    if (eh->e_phnum == 0 || eh->e_phnum > MAX_PHNUM)
        FAIL("has a bad program header count %u", eh->e_phnum);
    uint64_t tab = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
    if (eh->e_phoff > file_size || tab > file_size - eh->e_phoff)
        FAIL("is truncated (program headers past the end of the file)");
    if (eh->e_phoff > len || tab > len - eh->e_phoff)
        FAIL("has its program headers too far into the file");
    if (eh->e_phoff % 8)
        FAIL("has a misaligned program header table");

    const Elf64_Phdr *ph = (const void *)(buf + eh->e_phoff);
    uint64_t lo = UINT64_MAX, hi = 0;
    unsigned nload = 0, ninterp = 0;
    bool entry_ok = false;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *p = &ph[i];
        if (p->p_type == PT_INTERP) {
            if (ninterp++)
                FAIL("has more than one PT_INTERP");
            if (p->p_filesz < 2 || p->p_filesz > 4096 || p->p_offset > file_size ||
                p->p_filesz > file_size - p->p_offset)
                FAIL("has a bad PT_INTERP");
            if (p->p_offset + p->p_filesz <= len &&
                buf[p->p_offset + p->p_filesz - 1] != 0)
                FAIL("has a PT_INTERP that is not NUL-terminated");
            continue;
        }
        if (p->p_type != PT_LOAD)
            continue;
        if (p->p_filesz > p->p_memsz)       /* an empty segment with file bytes too */
            FAIL("has segment %u with file size > memory size", i);
        if (p->p_memsz == 0)
            continue;
        nload++;
        if (p->p_offset > file_size || p->p_filesz > file_size - p->p_offset)
            FAIL("is truncated (segment %u past the end of the file)", i);
        if (p->p_memsz > USER_SPACE_SIZE || p->p_vaddr > USER_SPACE_SIZE ||
            p->p_vaddr + p->p_memsz > USER_SPACE_SIZE)
            FAIL("has segment %u outside the riscv64 address space (0x%llx+0x%llx)",
                 i, (unsigned long long)p->p_vaddr, (unsigned long long)p->p_memsz);
        if (p->p_align > 1 && (p->p_align & (p->p_align - 1)))
            FAIL("has segment %u with a bad alignment 0x%llx", i,
                 (unsigned long long)p->p_align);
        lo = MIN(lo, PG_DOWN(p->p_vaddr));
        hi = MAX(hi, PG_UP(p->p_vaddr + p->p_memsz));
        if (eh->e_entry >= p->p_vaddr && eh->e_entry < p->p_vaddr + p->p_memsz &&
            (p->p_flags & PF_X))
            entry_ok = true;
    }
    if (nload == 0)
        FAIL("has no loadable segment");
    if (eh->e_type == ET_EXEC) {
        if (lo < PG)
            FAIL("maps page zero");
        if (hi > USER_PIE_BASE)
            FAIL("has segments above 0x%llx (ends at 0x%llx)",
                 (unsigned long long)USER_PIE_BASE, (unsigned long long)hi);
    } else if (hi - lo > USER_INTERP_BASE - USER_PIE_BASE) {
        FAIL("is too large (0x%llx bytes of segments)", (unsigned long long)(hi - lo));
    }
    if (!entry_ok)
        FAIL("has its entry point 0x%llx outside any executable segment",
             (unsigned long long)eh->e_entry);
    return 0;
}

static int prot_of(uint32_t f)
{
    return ((f & PF_R) ? PROT_READ : 0) | ((f & PF_W) ? PROT_WRITE : 0) |
           ((f & PF_X) ? PROT_EXEC : 0);
}

/* Load one ELF from fd at `base` (ET_DYN) into m. interp: out, malloc'd. */
/* The protection of [pg, pg + PG): the union of the segments on it. */
static int page_prot(const Elf64_Ehdr *eh, const Elf64_Phdr *ph, uint64_t pg)
{
    int prot = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_memsz && pg + PG > ph[i].p_vaddr &&
            pg < ph[i].p_vaddr + ph[i].p_memsz)
            prot |= prot_of(ph[i].p_flags);
    return prot;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Page protections over [lo, hi): pages shared by two segments get the
 * union. The protection only changes at a segment's first or last page, so
 * one mprotect per run between those boundaries (not one per page: an 8 GiB
 * bss would be two million calls). */
static void protect_segments(struct user_mem *m, const Elf64_Ehdr *eh, const Elf64_Phdr *ph,
                             uint64_t lo, uint64_t hi, uint64_t bias)
{
    cleanup_free uint64_t *cut = xmalloc(sizeof(uint64_t) * (2u * eh->e_phnum + 2));
    unsigned n = 0;
    cut[n++] = lo;
    cut[n++] = hi;
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_memsz) {
            cut[n++] = PG_DOWN(ph[i].p_vaddr);
            cut[n++] = PG_UP(ph[i].p_vaddr + ph[i].p_memsz);
        }
    qsort(cut, n, sizeof(*cut), cmp_u64);
    for (unsigned i = 0; i + 1 < n; i++)
        if (cut[i] < cut[i + 1])
            user_mem_mprotect(m, cut[i] + bias, cut[i + 1] - cut[i], page_prot(eh, ph, cut[i]));
}

static int load_one(struct user_mem *m, int fd, uint64_t base, bool want_dyn,
                    struct user_image *img, char **interp, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "is not a regular file");
        return -EACCES;
    }
    /* the ELF header and the program headers only: the first page, more
     * when the table lies further in (up to MAX_HDR). Reading the whole
     * file (up to 1 MiB) into a fresh buffer was a tenth of a static
     * hello's start-up, its segments being read again below. */
    size_t len = (size_t)MIN((uint64_t)st.st_size, HDR_FIRST);
    cleanup_free uint8_t *buf = xmalloc(len ? len : 1);
    ssize_t n = pread(fd, buf, len, 0);
    if (n < 0)
        return -errno;
    if ((size_t)n >= sizeof(Elf64_Ehdr) && !memcmp(buf, ELFMAG, SELFMAG)) {
        const Elf64_Ehdr *e0 = (const void *)buf;
        uint64_t need = e0->e_phoff + (uint64_t)e0->e_phnum * sizeof(Elf64_Phdr);
        if (e0->e_phoff < MAX_HDR && need > (uint64_t)n && need <= MIN((uint64_t)st.st_size, MAX_HDR)) {
            uint8_t *nb = xrealloc(buf, need);
            buf = nb;
            n = pread(fd, buf, need, 0);
            if (n < 0)
                return -errno;
        }
    }
    int rc = user_elf_check(buf, (size_t)n, (uint64_t)st.st_size, err, errlen);
    if (rc < 0)
        return rc;
    const Elf64_Ehdr *eh = (const void *)buf;
    const Elf64_Phdr *ph = (const void *)(buf + eh->e_phoff);
    if (want_dyn && eh->e_type != ET_DYN)
        FAIL("is not a shared object (ELF type %u)", eh->e_type);

    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_memsz) {
            lo = MIN(lo, PG_DOWN(ph[i].p_vaddr));
            hi = MAX(hi, PG_UP(ph[i].p_vaddr + ph[i].p_memsz));
        }
    uint64_t bias = 0;
    if (eh->e_type == ET_DYN)
        bias = base - lo;
    if (!user_mem_ptr(m, lo + bias, hi - lo))
        FAIL("does not fit in the guest address space");
    for (uint64_t p = (lo + bias) / PG; p < (hi + bias) / PG; p++)
        if (m->prot[p] & USER_MAPPED)
            FAIL("overlaps memory already mapped at 0x%llx", (unsigned long long)(p * PG));

    int64_t r = user_mem_mmap(m, lo + bias, hi - lo, PROT_READ | PROT_WRITE,
                              MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r < 0) {
        snprintf(err, errlen, "cannot map 0x%llx bytes: %s",
                 (unsigned long long)(hi - lo), strerror((int)-r));
        return (int)r;
    }
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *p = &ph[i];
        if (p->p_type != PT_LOAD || !p->p_filesz || !p->p_memsz)
            continue;
        uint8_t *dst = m->host + (p->p_vaddr + bias);   /* the sum wraps as an integer, never as a pointer */
        uint64_t done = 0;
        while (done < p->p_filesz) {
            ssize_t k = pread(fd, dst + done, p->p_filesz - done, (off_t)(p->p_offset + done));
            if (k <= 0) {
                snprintf(err, errlen, "is truncated (read of segment %u failed)", i);
                return -ENOEXEC;
            }
            done += (uint64_t)k;
        }
    }
    protect_segments(m, eh, ph, lo, hi, bias);

    memset(img, 0, sizeof(*img));
    img->load_bias = bias;
    img->entry = img->prog_entry = eh->e_entry + bias;
    img->phnum = eh->e_phnum;
    img->phent = sizeof(Elf64_Phdr);
    img->lo = lo + bias;
    img->hi = hi + bias;
    img->brk = hi + bias;
    img->is_pie = eh->e_type == ET_DYN;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_PHDR)
            img->phdr = ph[i].p_vaddr + bias;
        else if (ph[i].p_type == PT_INTERP && interp) {
            *interp = xmalloc(ph[i].p_filesz);
            if (pread(fd, *interp, ph[i].p_filesz, (off_t)ph[i].p_offset) !=
                (ssize_t)ph[i].p_filesz || (*interp)[ph[i].p_filesz - 1] != 0 ||
                strlen(*interp) == 0) {
                free(*interp);
                *interp = NULL;
                FAIL("has an unreadable PT_INTERP");
            }
        }
    }
    if (!img->phdr) {
        for (unsigned i = 0; i < eh->e_phnum; i++)
            if (ph[i].p_type == PT_LOAD && eh->e_phoff >= ph[i].p_offset &&
                eh->e_phoff - ph[i].p_offset < ph[i].p_filesz)
                img->phdr = ph[i].p_vaddr + (eh->e_phoff - ph[i].p_offset) + bias;
    }
    return 0;
}

int user_elf_load_fd(struct user_mem *m, int fd, const char *sysroot,
                     struct user_image *img, char *err, size_t errlen)
{
    char *interp = NULL;
    err[0] = 0;
    int rc = load_one(m, fd, USER_PIE_BASE, false, img, &interp, err, errlen);
    if (rc < 0)
        return rc;
    m->brk_start = m->brk_cur = m->brk_mapped = img->brk;
    if (!interp)
        return 0;
    cleanup_free char *ipath = NULL;
    if (sysroot && *sysroot)
        ipath = xasprintf("%s/%s", sysroot, interp);
    else
        ipath = xstrdup(interp);
    int ifd = open(ipath, O_RDONLY | O_CLOEXEC);
    if (ifd < 0) {
        int e = errno;
        snprintf(err, errlen, "needs the dynamic loader %s: %s: %s%s", interp, ipath,
                 strerror(e), sysroot && *sysroot ? "" : " (pass -L SYSROOT)");
        free(interp);
        return -ENOEXEC;
    }
    struct user_image ii;
    char ierr[200] = "";
    rc = load_one(m, ifd, USER_INTERP_BASE, true, &ii, NULL, ierr, sizeof(ierr));
    close(ifd);
    if (rc < 0) {
        snprintf(err, errlen, "dynamic loader %s %s", ipath, ierr[0] ? ierr : strerror(-rc));
        free(interp);
        return -ENOEXEC;
    }
    free(interp);
    img->dynamic = true;
    img->interp_base = ii.lo;
    img->entry = ii.entry;
    return 0;
}

int user_elf_load(struct user_mem *m, const char *path, const char *sysroot,
                  struct user_image *img, char *err, size_t errlen)
{
    err[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = user_elf_load_fd(m, fd, sysroot, img, err, errlen);
    close(fd);
    return rc;
}
