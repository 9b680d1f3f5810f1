/* Initial process stack, laid out as Linux's create_elf_tables() does:
 *   sp -> argc, argv[0..argc-1], NULL, envp[..], NULL, auxv pairs, AT_NULL
 *   ...  16 random bytes (AT_RANDOM), platform string, argv/envp strings,
 *   top: the exec file name (AT_EXECFN). */
#include "emu/riscv/user/user.h"
#include "base/base.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int push_bytes(struct user_mem *m, uint64_t *p, uint64_t lo, const void *d, size_t n)
{
    if (*p - lo < n)
        return -E2BIG;
    *p -= n;
    memcpy(m->host + *p, d, n);
    return 0;
}

int user_stack_build(struct user_mem *m, uint64_t top, uint64_t size,
                     const struct user_image *img, int argc, char *const *argv,
                     char *const *envp, const char *execfn,
                     const uint8_t random[16], uint64_t *sp)
{
    if (size < 4 * USER_PAGE || size > top || (top % USER_PAGE) || (size % USER_PAGE))
        return -EINVAL;
    uint64_t lo = top - size;
    int64_t r = user_mem_mmap(m, lo, size, PROT_READ | PROT_WRITE,
                              MAP_FIXED_NOREPLACE | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r < 0)
        return (int)r;
    int envc = 0;
    while (envp && envp[envc])
        envc++;
    uint64_t p = top - 8;      /* 8 bytes of zero at the very top, like Linux */
    uint64_t *aptr = xmalloc(sizeof(uint64_t) * ((size_t)argc + (size_t)envc + 2));
    uint64_t *eptr = aptr + argc + 1;
    int rc = push_bytes(m, &p, lo, execfn, strlen(execfn) + 1);
    uint64_t execfn_g = p;
    for (int i = envc - 1; rc == 0 && i >= 0; i--) {
        rc = push_bytes(m, &p, lo, envp[i], strlen(envp[i]) + 1);
        eptr[i] = p;
    }
    for (int i = argc - 1; rc == 0 && i >= 0; i--) {
        rc = push_bytes(m, &p, lo, argv[i], strlen(argv[i]) + 1);
        aptr[i] = p;
    }
    static const char platform[] = "riscv64";
    if (rc == 0)
        rc = push_bytes(m, &p, lo, platform, sizeof(platform));
    uint64_t platform_g = p;
    p &= ~15ULL;
    if (rc == 0)
        rc = push_bytes(m, &p, lo, random, 16);
    uint64_t random_g = p;
    if (rc < 0) {
        free(aptr);
        return rc;
    }
    uint64_t auxv[][2] = {
        { USER_AT_PHDR, img->phdr },
        { USER_AT_PHENT, img->phent },
        { USER_AT_PHNUM, img->phnum },
        { USER_AT_PAGESZ, USER_PAGE },
        { USER_AT_BASE, img->interp_base },
        { USER_AT_FLAGS, 0 },
        { USER_AT_ENTRY, img->prog_entry },
        { USER_AT_UID, getuid() },
        { USER_AT_EUID, geteuid() },
        { USER_AT_GID, getgid() },
        { USER_AT_EGID, getegid() },
        { USER_AT_SECURE, 0 },
        { USER_AT_RANDOM, random_g },
        { USER_AT_HWCAP, USER_HWCAP_IMAFDC },
        { USER_AT_CLKTCK, (uint64_t)sysconf(_SC_CLK_TCK) },
        { USER_AT_EXECFN, execfn_g },
        { USER_AT_PLATFORM, platform_g },
        { USER_AT_MINSIGSTKSZ, 2048 },
        { USER_AT_NULL, 0 },
    };
    uint64_t words = 1 + (uint64_t)argc + 1 + (uint64_t)envc + 1 + 2 * ARRAY_SIZE(auxv);
    if (p - lo < words * 8 + 16) {
        free(aptr);
        return -E2BIG;
    }
    p = (p - words * 8) & ~15ULL;
    uint64_t *w = (uint64_t *)(m->host + p);
    *w++ = (uint64_t)argc;
    for (int i = 0; i < argc; i++)
        *w++ = aptr[i];
    *w++ = 0;
    for (int i = 0; i < envc; i++)
        *w++ = eptr[i];
    *w++ = 0;
    for (size_t i = 0; i < ARRAY_SIZE(auxv); i++) {
        *w++ = auxv[i][0];
        *w++ = auxv[i][1];
    }
    free(aptr);
    *sp = p;
    return 0;
}
