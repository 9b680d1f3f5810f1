/* emu/riscv/user: ELF validation and loading, address space, initial stack,
 * struct stat translation, rt_sigframe layout. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emu/riscv/user/user.h"

/* A minimal riscv64 ELF: header, 2 phdrs (text RX with the header, data RW
 * with bss), code at 0x10000+0x1000. */
struct mini { Elf64_Ehdr eh; Elf64_Phdr ph[3]; uint8_t pad[4096 - 64 - 3 * 56]; uint8_t code[64]; uint8_t data[32]; };

static void mini_init(struct mini *m)
{
    memset(m, 0, sizeof(*m));
    memcpy(m->eh.e_ident, ELFMAG, SELFMAG);
    m->eh.e_ident[EI_CLASS] = ELFCLASS64;
    m->eh.e_ident[EI_DATA] = ELFDATA2LSB;
    m->eh.e_ident[EI_VERSION] = EV_CURRENT;
    m->eh.e_type = ET_EXEC;
    m->eh.e_machine = EM_RISCV;
    m->eh.e_version = EV_CURRENT;
    m->eh.e_entry = 0x11000;
    m->eh.e_phoff = 64;
    m->eh.e_ehsize = 64;
    m->eh.e_phentsize = 56;
    m->eh.e_phnum = 2;
    m->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0,
                             .p_vaddr = 0x10000, .p_filesz = 4096 + 64, .p_memsz = 4096 + 64,
                             .p_align = 4096 };
    m->ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
                             .p_offset = offsetof(struct mini, data), .p_vaddr = 0x20000,
                             .p_filesz = 32, .p_memsz = 0x3000, .p_align = 4096 };
    for (int i = 0; i < 64; i++)
        m->code[i] = (uint8_t)i;
    memset(m->data, 0xab, sizeof(m->data));
}

static int check(const struct mini *m, size_t len, char *err)
{
    return user_elf_check((const uint8_t *)m, len, len, err, 200);
}

static void test_elf_check(void **state)
{
    struct mini m;
    char err[200];
    mini_init(&m);
    assert_int_equal(check(&m, sizeof(m), err), 0);

    mini_init(&m);
    m.eh.e_machine = EM_X86_64;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);
    assert_string_equal(err, "is an x86-64 ELF, not riscv64");

    mini_init(&m);
    m.eh.e_ident[EI_CLASS] = ELFCLASS32;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);
    assert_string_equal(err, "is a riscv32 ELF, not riscv64");

    assert_int_equal(user_elf_check((const uint8_t *)"#!/bin/sh\n", 10, 10, err, 200), -ENOEXEC);
    assert_string_equal(err, "is not an ELF file");

    mini_init(&m);   /* truncated inside the header */
    assert_int_equal(check(&m, 40, err), -ENOEXEC);
    assert_non_null(strstr(err, "truncated"));

    mini_init(&m);   /* phdr table past EOF */
    m.eh.e_phnum = 500;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);
    assert_non_null(strstr(err, "program headers"));

    mini_init(&m);
    m.eh.e_phentsize = 32;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);

    mini_init(&m);   /* segment file range past EOF */
    m.ph[1].p_filesz = 1 << 20;
    m.ph[1].p_memsz = 1 << 20;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);
    assert_non_null(strstr(err, "truncated"));

    mini_init(&m);   /* offset + filesz overflow */
    m.ph[1].p_offset = UINT64_MAX - 8;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);

    mini_init(&m);   /* vaddr + memsz wraps */
    m.ph[1].p_memsz = UINT64_MAX - 0x1000;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);
    assert_non_null(strstr(err, "address space"));

    mini_init(&m);   /* outside the 256 GiB space */
    m.ph[1].p_vaddr = 1ULL << 40;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);

    mini_init(&m);
    m.ph[1].p_filesz = 0x4000;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);

    mini_init(&m);   /* entry in a non-executable segment */
    m.eh.e_entry = 0x20000;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);
    assert_non_null(strstr(err, "entry"));

    mini_init(&m);
    m.eh.e_type = ET_REL;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);

    mini_init(&m);   /* no PT_LOAD at all */
    m.ph[0].p_type = PT_NOTE;
    m.ph[1].p_type = PT_NOTE;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);

    mini_init(&m);   /* page zero */
    m.ph[0].p_vaddr = 0;
    m.eh.e_entry = 0x1000;
    assert_int_equal(check(&m, sizeof(m), err), -ENOEXEC);
}

static int memfd_with(const void *d, size_t n)
{
    int fd = memfd_create("elf", 0);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, d, n), (ssize_t)n);
    return fd;
}

static void test_elf_load(void **state)
{
    struct mini m;
    mini_init(&m);
    struct user_mem mem;
    assert_int_equal(user_mem_init(&mem, USER_SPACE_SIZE), 0);
    int fd = memfd_with(&m, sizeof(m));
    struct user_image img;
    char err[200];
    assert_int_equal(user_elf_load_fd(&mem, fd, NULL, &img, err, sizeof(err)), 0);
    close(fd);
    assert_int_equal(img.entry, 0x11000);
    assert_int_equal(img.prog_entry, 0x11000);
    assert_int_equal(img.phdr, 0x10040);
    assert_int_equal(img.phnum, 2);
    assert_int_equal(img.phent, 56);
    assert_int_equal(img.interp_base, 0);
    assert_int_equal(img.brk, 0x23000);
    assert_int_equal(mem.brk_start, 0x23000);
    assert_memory_equal(mem.host + 0x11000, m.code, 64);
    assert_int_equal(mem.host[0x20000], 0xab);
    assert_int_equal(mem.host[0x20020], 0);          /* bss zeroed */
    assert_int_equal(mem.host[0x22fff], 0);
    assert_true(user_mem_ok(&mem, 0x10000, 0x2000, PROT_READ | PROT_EXEC));
    assert_false(user_mem_ok(&mem, 0x10000, 1, PROT_WRITE));
    assert_true(user_mem_ok(&mem, 0x20000, 0x3000, PROT_READ | PROT_WRITE));
    assert_false(user_mem_ok(&mem, 0x20000, 1, PROT_EXEC));
    assert_false(user_mem_ok(&mem, 0x23000, 1, 0));
    /* loading on top of existing mappings is refused */
    fd = memfd_with(&m, sizeof(m));
    assert_int_equal(user_elf_load_fd(&mem, fd, NULL, &img, err, sizeof(err)), -ENOEXEC);
    close(fd);
    user_mem_free(&mem);

    /* a 1 GiB bss, then a read-only segment starting inside its last page:
     * protections change exactly at the segment pages, a shared page gets
     * the union */
    mini_init(&m);
    m.eh.e_phnum = 3;
    m.ph[1].p_memsz = 0x40000000 - 0x800;                  /* ends at 0x4001f800 */
    m.ph[2] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R, .p_vaddr = 0x4001f800,
                            .p_memsz = 0x1800, .p_align = 4096 };
    assert_int_equal(user_mem_init(&mem, USER_SPACE_SIZE), 0);
    fd = memfd_with(&m, sizeof(m));
    assert_int_equal(user_elf_load_fd(&mem, fd, NULL, &img, err, sizeof(err)), 0);
    close(fd);
    assert_int_equal(img.brk, 0x40021000);
    assert_true(user_mem_ok(&mem, 0x10000, 0x2000, PROT_READ | PROT_EXEC));
    assert_true(user_mem_ok(&mem, 0x20000, 0x40000000, PROT_READ | PROT_WRITE));   /* to 0x40020000 */
    assert_int_equal(user_mem_prot_of(&mem, 0x4001f000) & 7, PROT_READ | PROT_WRITE);
    assert_int_equal(user_mem_prot_of(&mem, 0x40020000) & 7, PROT_READ);
    assert_false(user_mem_ok(&mem, 0x40020000, 1, PROT_WRITE));
    assert_int_equal(user_mem_prot_of(&mem, 0x12000) & 7, PROT_NONE);   /* between text and data */
    assert_false(user_mem_ok(&mem, 0x40021000, 1, 0));
    user_mem_free(&mem);

    /* the same as ET_DYN goes to the PIE base */
    mini_init(&m);
    m.eh.e_type = ET_DYN;
    assert_int_equal(user_mem_init(&mem, USER_SPACE_SIZE), 0);
    fd = memfd_with(&m, sizeof(m));
    assert_int_equal(user_elf_load_fd(&mem, fd, NULL, &img, err, sizeof(err)), 0);
    close(fd);
    assert_int_equal(img.load_bias, USER_PIE_BASE - 0x10000);
    assert_int_equal(img.entry, USER_PIE_BASE + 0x1000);
    assert_memory_equal(mem.host + USER_PIE_BASE + 0x1000, m.code, 64);
    user_mem_free(&mem);

    /* a PT_INTERP that is missing from the sysroot: clear error */
    struct { struct mini m; char interp[32]; } mi;
    mini_init(&mi.m);
    mi.m.eh.e_phnum = 3;
    strcpy(mi.interp, "/lib/ld-missing.so.1");
    mi.m.ph[2] = (Elf64_Phdr){ .p_type = PT_INTERP, .p_offset = sizeof(struct mini),
                               .p_filesz = strlen(mi.interp) + 1 };
    assert_int_equal(user_mem_init(&mem, USER_SPACE_SIZE), 0);
    fd = memfd_with(&mi, sizeof(mi));
    assert_int_equal(user_elf_load_fd(&mem, fd, "/nonexistent-sysroot", &img, err, sizeof(err)), -ENOEXEC);
    close(fd);
    assert_non_null(strstr(err, "/lib/ld-missing.so.1"));
    user_mem_free(&mem);
}

static void test_mem(void **state)
{
    struct user_mem mem;
    assert_int_equal(user_mem_init(&mem, USER_SPACE_SIZE), 0);
    int64_t a = user_mem_mmap(&mem, 0, 3 * 4096, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(a > 0 && a < (int64_t)USER_MMAP_TOP);
    assert_int_equal(a % 4096, 0);
    mem.host[a] = 1;
    int64_t b = user_mem_mmap(&mem, 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(b > 0 && (b + 4096 <= a || b >= a + 3 * 4096));
    assert_int_equal(user_mem_mmap(&mem, (uint64_t)a, 4096, PROT_READ,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0), -EEXIST);
    assert_int_equal(user_mem_mprotect(&mem, (uint64_t)a, 4096, PROT_READ), 0);
    assert_false(user_mem_ok(&mem, (uint64_t)a, 1, PROT_WRITE));
    assert_true(user_mem_ok(&mem, (uint64_t)a + 4096, 1, PROT_WRITE));
    assert_int_equal(user_mem_munmap(&mem, (uint64_t)a + 4096, 4096), 0);
    assert_false(user_mem_ok(&mem, (uint64_t)a + 4096, 1, 0));
    assert_int_equal(user_mem_mprotect(&mem, (uint64_t)a, 3 * 4096, PROT_READ), -ENOMEM);
    assert_int_equal(user_mem_munmap(&mem, (uint64_t)a + 1, 4096), -EINVAL);
    assert_int_equal(user_mem_mmap(&mem, USER_SPACE_SIZE, 4096, PROT_READ,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), -ENOMEM);
    assert_int_equal(user_mem_mmap(&mem, 0, 1ULL << 50, PROT_READ,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), -ENOMEM);
    /* mremap grows in place or moves, keeping the contents */
    int64_t c = user_mem_mmap(&mem, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mem.host[c] = 42;
    int64_t d = user_mem_mremap(&mem, (uint64_t)c, 4096, 64 * 4096, MREMAP_MAYMOVE, 0);
    assert_true(d > 0);
    assert_int_equal(mem.host[d], 42);
    assert_true(user_mem_ok(&mem, (uint64_t)d, 64 * 4096, PROT_READ | PROT_WRITE));
    /* brk */
    mem.brk_start = mem.brk_cur = mem.brk_mapped = 0x100000;
    assert_int_equal(user_mem_brk(&mem, 0), 0x100000);
    assert_int_equal(user_mem_brk(&mem, 0x100000 + 10000), 0x100000 + 10000);
    assert_true(user_mem_ok(&mem, 0x100000, 10000, PROT_READ | PROT_WRITE));
    mem.host[0x100000 + 9999] = 7;
    assert_int_equal(user_mem_brk(&mem, 0x100000 + 9000), 0x100000 + 9000);
    assert_int_equal(user_mem_brk(&mem, 0x100000 + 10000), 0x100000 + 10000);
    assert_int_equal(mem.host[0x100000 + 9999], 0);   /* shrunk then regrown: zero */
    assert_int_equal(user_mem_brk(&mem, 0x1000), 0x100000 + 10000);   /* below start: refused */
    user_mem_free(&mem);
}

static void test_stack(void **state)
{
    struct user_mem mem;
    assert_int_equal(user_mem_init(&mem, USER_SPACE_SIZE), 0);
    struct user_image img = { .entry = 0x10100, .prog_entry = 0x10100, .phdr = 0x10040,
                              .phnum = 7, .phent = 56 };
    char *argv[] = { "prog", "a b", "", NULL };
    char *envp[] = { "A=1", "PATH=/bin", NULL };
    uint8_t rnd[16];
    for (int i = 0; i < 16; i++)
        rnd[i] = (uint8_t)(0xa0 + i);
    uint64_t sp;
    assert_int_equal(user_stack_build(&mem, USER_STACK_TOP, 1 << 20, &img, 3, argv, envp,
                                      "/x/prog", rnd, &sp), 0);
    assert_int_equal(sp % 16, 0);
    assert_true(sp < USER_STACK_TOP && sp > USER_STACK_TOP - 4096);
    uint64_t *w = (uint64_t *)(mem.host + sp);
    assert_int_equal(w[0], 3);
    assert_string_equal((char *)mem.host + w[1], "prog");
    assert_string_equal((char *)mem.host + w[2], "a b");
    assert_string_equal((char *)mem.host + w[3], "");
    assert_int_equal(w[4], 0);
    assert_string_equal((char *)mem.host + w[5], "A=1");
    assert_string_equal((char *)mem.host + w[6], "PATH=/bin");
    assert_int_equal(w[7], 0);
    uint64_t *av = &w[8];
    int seen = 0;
    for (; av[0] != USER_AT_NULL; av += 2) {
        switch (av[0]) {
        case USER_AT_PHDR: assert_int_equal(av[1], 0x10040); seen |= 1; break;
        case USER_AT_PHNUM: assert_int_equal(av[1], 7); seen |= 2; break;
        case USER_AT_PHENT: assert_int_equal(av[1], 56); break;
        case USER_AT_PAGESZ: assert_int_equal(av[1], 4096); seen |= 4; break;
        case USER_AT_ENTRY: assert_int_equal(av[1], 0x10100); seen |= 8; break;
        case USER_AT_RANDOM:
            assert_memory_equal(mem.host + av[1], rnd, 16); seen |= 16; break;
        case USER_AT_EXECFN:
            assert_string_equal((char *)mem.host + av[1], "/x/prog"); seen |= 32; break;
        case USER_AT_HWCAP:
            assert_int_equal(av[1], (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12));
            seen |= 64; break;
        case USER_AT_UID: assert_int_equal(av[1], getuid()); seen |= 128; break;
        case USER_AT_PLATFORM:
            assert_string_equal((char *)mem.host + av[1], "riscv64"); seen |= 256; break;
        case USER_AT_BASE: assert_int_equal(av[1], 0); seen |= 512; break;
        }
    }
    assert_int_equal(seen, 1023);
    /* strings sit above the vectors, below the top */
    assert_true(w[1] > sp && w[1] < USER_STACK_TOP);
    /* a stack too small for the strings */
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    char *bigv[] = { big, NULL };
    assert_int_equal(user_stack_build(&mem, 0x1000000, 4 * 4096, &img, 1, bigv, bigv,
                                      "p", rnd, &sp), 0);
    char *biggerv[] = { big, big, big, big, NULL };
    assert_int_equal(user_stack_build(&mem, 0x2000000, 4 * 4096, &img, 4, biggerv, biggerv,
                                      "p", rnd, &sp), -E2BIG);
    user_mem_free(&mem);
}

static void test_stat(void **state)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_dev = 0x1122; st.st_ino = 0x33445566778899ULL; st.st_mode = 0100644;
    st.st_nlink = 3; st.st_uid = 1000; st.st_gid = 100; st.st_rdev = 0x501;
    st.st_size = 123456789012LL; st.st_blksize = 4096; st.st_blocks = 77;
    st.st_atim.tv_sec = 1700000000; st.st_atim.tv_nsec = 5;
    st.st_mtim.tv_sec = 1700000001; st.st_mtim.tv_nsec = 6;
    st.st_ctim.tv_sec = 1700000002; st.st_ctim.tv_nsec = 7;
    uint8_t o[USER_STAT_SIZE];
    user_stat_to_guest(&st, o);
    /* offsets from riscv64-linux-gnu-gcc: offsetof(struct stat, ...) */
    uint64_t v64; uint32_t v32;
    memcpy(&v64, o + 0, 8); assert_int_equal(v64, 0x1122);
    memcpy(&v64, o + 8, 8); assert_int_equal(v64, 0x33445566778899ULL);
    memcpy(&v32, o + 16, 4); assert_int_equal(v32, 0100644);
    memcpy(&v32, o + 20, 4); assert_int_equal(v32, 3);
    memcpy(&v32, o + 24, 4); assert_int_equal(v32, 1000);
    memcpy(&v32, o + 28, 4); assert_int_equal(v32, 100);
    memcpy(&v64, o + 32, 8); assert_int_equal(v64, 0x501);
    memcpy(&v64, o + 48, 8); assert_int_equal(v64, 123456789012ULL);
    memcpy(&v32, o + 56, 4); assert_int_equal(v32, 4096);
    memcpy(&v64, o + 64, 8); assert_int_equal(v64, 77);
    memcpy(&v64, o + 72, 8); assert_int_equal(v64, 1700000000);
    memcpy(&v64, o + 80, 8); assert_int_equal(v64, 5);
    memcpy(&v64, o + 88, 8); assert_int_equal(v64, 1700000001);
    memcpy(&v64, o + 104, 8); assert_int_equal(v64, 1700000002);
    memcpy(&v64, o + 112, 8); assert_int_equal(v64, 7);
}

static void test_sigframe(void **state)
{
    struct user_mem mem;
    assert_int_equal(user_mem_init(&mem, USER_SPACE_SIZE), 0);
    assert_true(user_mem_mmap(&mem, 0x100000, 0x10000, PROT_READ | PROT_WRITE,
                              MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) > 0);
    struct user_regs r, saved;
    memset(&r, 0, sizeof(r));
    r.pc = 0x10abc;
    for (int i = 1; i < 32; i++)
        r.x[i] = 0x1000 + (uint64_t)i;
    for (int i = 0; i < 32; i++)
        r.f[i] = 0xf000 + (uint64_t)i;
    r.fcsr = 0x65;
    r.x[2] = 0x10f008;
    saved = r;
    struct user_siginfo si = { .signo = SIGSEGV, .code = 1, .addr = 0xdead };
    assert_int_equal(user_sigframe_setup(&mem, &r, SIGSEGV, &si, 0x12345, 0x5, NULL, false), 0);
    uint64_t f = r.x[2];
    assert_int_equal(f % 16, 0);
    assert_true(f + USER_SIGFRAME_SIZE <= 0x10f008);
    assert_true(0x10f008 - f < USER_SIGFRAME_SIZE + 16);
    assert_int_equal(r.pc, 0x12345);
    assert_int_equal(r.x[10], SIGSEGV);
    assert_int_equal(r.x[11], f);
    assert_int_equal(r.x[12], f + 128);
    assert_int_equal(r.x[1], USER_SIGTRAMP);
    uint8_t *o = mem.host + f;
    int32_t i32; uint64_t u64;
    memcpy(&i32, o, 4); assert_int_equal(i32, SIGSEGV);
    memcpy(&i32, o + 8, 4); assert_int_equal(i32, 1);
    memcpy(&u64, o + 16, 8); assert_int_equal(u64, 0xdead);
    /* ucontext: mask at 40, mcontext at 176 (pc, then x1..x31), fp at +256 */
    memcpy(&u64, o + 128 + 40, 8); assert_int_equal(u64, 0x5);
    memcpy(&u64, o + 128 + 176, 8); assert_int_equal(u64, 0x10abc);
    memcpy(&u64, o + 128 + 176 + 8, 8); assert_int_equal(u64, 0x1001);     /* ra */
    memcpy(&u64, o + 128 + 176 + 8 * 10, 8); assert_int_equal(u64, 0x100a); /* a0 */
    memcpy(&u64, o + 128 + 176 + 256 + 8 * 3, 8); assert_int_equal(u64, 0xf003);
    memcpy(&i32, o + 128 + 176 + 256 + 256, 4); assert_int_equal(i32, 0x65);
    /* handler edits the saved pc and mask; sigreturn restores all */
    u64 = 0x20000;
    memcpy(o + 128 + 176, &u64, 8);
    u64 = 0x3 | (1ULL << (SIGKILL - 1));
    memcpy(o + 128 + 40, &u64, 8);
    r.x[5] = 999;
    uint64_t blocked = 0;
    assert_int_equal(user_sigframe_restore(&mem, &r, &blocked), 0);
    assert_int_equal(blocked, 0x3);          /* SIGKILL cannot be blocked */
    assert_int_equal(r.pc, 0x20000);
    saved.pc = 0x20000;
    assert_memory_equal(r.x, saved.x, sizeof(r.x));
    assert_memory_equal(r.f, saved.f, sizeof(r.f));
    assert_int_equal(r.fcsr, 0x65);
    /* alternate stack */
    struct user_altstack alt = { .sp = 0x104000, .flags = 0, .size = 0x4000 };
    r.x[2] = 0x10f000;
    assert_int_equal(user_sigframe_setup(&mem, &r, SIGUSR1, NULL, 0x12345, 0, &alt, true), 0);
    assert_true(r.x[2] >= 0x104000 && r.x[2] < 0x108000);
    /* a frame below mapped memory: -EFAULT, registers untouched */
    r.x[2] = 0x100100;
    r.pc = 0x777;
    assert_int_equal(user_sigframe_setup(&mem, &r, SIGUSR1, NULL, 0x12345, 0, NULL, false), -EFAULT);
    assert_int_equal(r.pc, 0x777);
    /* trampoline: li a7,139; ecall */
    assert_int_equal(user_sigtramp_map(&mem), 0);
    uint32_t ins[2];
    memcpy(ins, mem.host + USER_SIGTRAMP, 8);
    assert_int_equal(ins[0], 0x08b00893);
    assert_int_equal(ins[1], 0x00000073);
    assert_true(user_mem_ok(&mem, USER_SIGTRAMP, 8, PROT_EXEC));
    user_mem_free(&mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elf_check),
        cmocka_unit_test(test_elf_load),
        cmocka_unit_test(test_mem),
        cmocka_unit_test(test_stack),
        cmocka_unit_test(test_stat),
        cmocka_unit_test(test_sigframe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
