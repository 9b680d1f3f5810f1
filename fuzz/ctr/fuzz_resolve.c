/* libFuzzer: resolving a path inside a container root (the rootfs is the
 * image's: its symlinks and the config's paths are attacker input). The
 * input is "LINK\0PATH": LINK becomes the target of the symlink x in a fixed
 * tree, PATH is resolved by both ctr_open_in_root (openat2) and the
 * component-wise walk. Whatever they open must be inside the root. */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "ctr/ctr.h"

struct tree { char root[64]; int rootfd; };

static void inside(const struct tree *t, int fd)
{
    if (fd < 0)
        return;
    char link[64], real[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, sizeof(real) - 1);
    close(fd);
    if (n < 0)
        return;
    real[n] = 0;
    size_t l = strlen(t->root);
    if (strncmp(real, t->root, l) || (real[l] && real[l] != '/'))
        abort();                     /* resolved outside the root */
}

static struct tree *tree_get(void)
{
    static struct tree *t;           /* the fixed tree, made once per process */
    if (t)
        return t;
    t = calloc(1, sizeof(*t));
    snprintf(t->root, sizeof(t->root), "/tmp/vessel-fuzz-root.XXXXXX");
    if (!mkdtemp(t->root))
        abort();
    char p[128];
    snprintf(p, sizeof(p), "%s/a", t->root); mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/a/b", t->root); mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/up", t->root); if (symlink("../../..", p)) {}
    snprintf(p, sizeof(p), "%s/a/abs", t->root); if (symlink("/a", p)) {}
    snprintf(p, sizeof(p), "%s/a/loop", t->root); if (symlink("loop", p)) {}
    snprintf(p, sizeof(p), "%s/host", t->root); if (symlink("/etc", p)) {}
    t->rootfd = open(t->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    log_set_fd(open("/dev/null", O_WRONLY));
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tree *t = tree_get();
    if (size > 4000)
        return 0;
    char *buf = calloc(1, size + 2);
    memcpy(buf, data, size);
    const char *target = buf, *path = buf + strlen(buf) + 1;
    if (path > buf + size)
        path = "";
    char x[128];
    snprintf(x, sizeof(x), "%s/x", t->root);
    unlink(x);
    if (*target && symlink(target, x)) {}
    inside(t, ctr_open_in_root(t->rootfd, path, O_PATH));
    inside(t, ctr_walk_in_root(t->rootfd, path, O_PATH));
    inside(t, ctr_walk_in_root(t->rootfd, path, O_PATH | O_NOFOLLOW));
    free(buf);
    return 0;
}
