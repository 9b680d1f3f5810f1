/* vessel binfmt install|remove|status: register vessel with the kernel's
 * binfmt_misc as the interpreter for riscv64 ELF programs, so that
 * ./riscv-program runs directly (like qemu-user-binfmt). */
#include "cli/cli.h"
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define BINFMT_DIR  "/proc/sys/fs/binfmt_misc"
#define ENTRY_NAME  "vessel-riscv64"
#define ENTRY_PATH  BINFMT_DIR "/" ENTRY_NAME

/* ELF64, little-endian, version 1, e_type ET_EXEC or ET_DYN (mask 0xfe),
 * e_machine EM_RISCV (0xf3). */
static const char magic[] =
    "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xf3\\x00";
static const char mask[] =
    "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff";

static void binfmt_usage(FILE *f)
{
    fprintf(f,
        "Usage: vessel binfmt install|remove|status\n"
        "\n"
        "Register vessel with binfmt_misc so riscv64 Linux programs run directly.\n"
        "  install  create the symlink 'vessel-riscv64' next to the vessel binary and\n"
        "           register it for riscv64 ELF files (magic EM_RISCV, ELFCLASS64,\n"
        "           ET_EXEC/ET_DYN) with flag F (the interpreter is opened at\n"
        "           registration, so it also works inside containers and chroots)\n"
        "  remove   unregister (the symlink is left in place)\n"
        "  status   show whether the entry is registered and enabled\n"
        "\n"
        "Needs root (writes " BINFMT_DIR "/register); mounts binfmt_misc there if it\n"
        "is not mounted yet. Dynamic programs find their libraries through\n"
        "VESSEL_LD_PREFIX or /usr/riscv64-linux-gnu.\n");
}

static int ensure_mounted(void)
{
    if (access(BINFMT_DIR "/register", F_OK) == 0)
        return 0;
    if (access(BINFMT_DIR, F_OK) < 0) {
        log_error("binfmt: %s does not exist (kernel without binfmt_misc?)", BINFMT_DIR);
        return -ENOENT;
    }
    if (mount("binfmt_misc", BINFMT_DIR, "binfmt_misc", 0, NULL) < 0) {
        log_error("binfmt: binfmt_misc is not mounted at %s and mounting it failed: %s%s",
                  BINFMT_DIR, strerror(errno), errno == EPERM ? " (needs root)" : "");
        return -errno;
    }
    return 0;
}

static char *interp_path(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return NULL;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    return xasprintf("%s/" ENTRY_NAME, self);
}

static int do_install(void)
{
    if (ensure_mounted() < 0)
        return 1;
    cleanup_free char *link = interp_path();
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (!link || n <= 0) {
        log_error("binfmt: cannot find the vessel binary through /proc/self/exe");
        return 1;
    }
    self[n] = 0;
    struct stat st;
    if (lstat(link, &st) == 0) {
        char cur[PATH_MAX];
        ssize_t k = readlink(link, cur, sizeof(cur) - 1);
        if (k < 0 || (cur[k] = 0, strcmp(cur, self) != 0 && strcmp(cur, "vessel") != 0)) {
            log_error("binfmt: %s exists and is not a symlink to %s; remove it first", link, self);
            return 1;
        }
    } else if (symlink(self, link) < 0) {
        log_error("binfmt: cannot create the symlink %s: %s", link, strerror(errno));
        return 1;
    }
    if (access(ENTRY_PATH, F_OK) == 0) {
        int rc = write_str(ENTRY_PATH, "-1");
        if (rc < 0) {
            log_error("binfmt: cannot replace the existing entry %s: %s", ENTRY_PATH, strerror(-rc));
            return 1;
        }
    }
    cleanup_free char *reg = xasprintf(":" ENTRY_NAME ":M::%s:%s:%s:F", magic, mask, link);
    int rc = write_str(BINFMT_DIR "/register", reg);
    if (rc < 0) {
        log_error("binfmt: cannot write %s/register: %s%s", BINFMT_DIR, strerror(-rc),
                  rc == -EACCES || rc == -EPERM ? " (needs root)" : "");
        return 1;
    }
    printf("registered %s: riscv64 ELF programs now run with %s\n", ENTRY_NAME, link);
    if (access(BINFMT_DIR "/qemu-riscv64", F_OK) == 0)
        printf("note: qemu-riscv64 is also registered; the most recent registration wins\n");
    return 0;
}

static int do_remove(void)
{
    if (ensure_mounted() < 0)
        return 1;
    if (access(ENTRY_PATH, F_OK) < 0) {
        printf("%s is not registered\n", ENTRY_NAME);
        return 0;
    }
    int rc = write_str(ENTRY_PATH, "-1");
    if (rc < 0) {
        log_error("binfmt: cannot remove %s: %s%s", ENTRY_PATH, strerror(-rc),
                  rc == -EACCES || rc == -EPERM ? " (needs root)" : "");
        return 1;
    }
    printf("removed %s\n", ENTRY_NAME);
    return 0;
}

static int do_status(void)
{
    if (access(BINFMT_DIR "/register", F_OK) < 0) {
        printf("binfmt_misc is not mounted at %s\n", BINFMT_DIR);
        return 3;
    }
    char *data = NULL;
    size_t len = 0;
    int rc = read_file(ENTRY_PATH, &data, &len, 1 << 16);
    if (rc < 0) {
        printf("%s is not registered\n", ENTRY_NAME);
        return 3;
    }
    printf("%s is registered:\n%s", ENTRY_NAME, data);
    bool enabled = strncmp(data, "enabled", 7) == 0;
    free(data);
    return enabled ? 0 : 3;
}

int cmd_binfmt(int argc, char **argv)
{
    if (argc < 2) {
        binfmt_usage(stderr);
        return 2;
    }
    const char *a = argv[1];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
        binfmt_usage(stdout);
        return 0;
    }
    if (argc > 2) {
        log_error("binfmt: unexpected argument '%s'", argv[2]);
        return 2;
    }
    if (!strcmp(a, "install"))
        return do_install();
    if (!strcmp(a, "remove"))
        return do_remove();
    if (!strcmp(a, "status"))
        return do_status();
    log_error("binfmt: unknown action '%s' (expected install, remove or status)", a);
    return 2;
}
