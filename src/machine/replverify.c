/* Is the standby's RAM the primary's (machine/replverify.h)? */
#include "machine/replverify.h"
#include "base/base.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

const char *repl_verify_dir(void)
{
    const char *d = getenv("VESSEL_TEST_REPL_VERIFY");
    return d && *d ? d : NULL;
}

/* FNV-1a over the page's 64-bit words */
static uint64_t page_hash(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)(const void *)p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned k = 0; k < MEM_PAGE_SIZE / 8; k++)
        h = (h ^ w[k]) * 0x100000001b3ULL;
    return h;
}

static bool checked(const struct mem_region *r)
{
    return !(r->flags & MEM_F_READONLY);
}

void repl_verify_save(const char *dir, const struct guest_mem *mem, uint64_t epoch)
{
    if (!dir || epoch % REPL_VERIFY_EVERY)
        return;
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/%d.%llu", dir, (int)getpid(), (unsigned long long)epoch);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        log_once(LOG_WARN, "VESSEL_TEST_REPL_VERIFY: %s: %s", tmp, strerror(errno));
        return;
    }
    bool ok = true;
    for (unsigned i = 0; i < mem->nr; i++)
        for (uint64_t pg = 0; checked(&mem->r[i]) && pg < mem->r[i].size >> MEM_PAGE_SHIFT; pg++) {
            uint64_t h = page_hash(mem->r[i].host + (pg << MEM_PAGE_SHIFT));
            ok &= fwrite(&h, sizeof(h), 1, f) == 1;
        }
    if (fclose(f) != 0 || !ok || rename(tmp, path) < 0) {
        log_once(LOG_WARN, "VESSEL_TEST_REPL_VERIFY: writing %s failed", path);
        unlink(tmp);
    }
}

int repl_verify_check(const char *dir, const struct guest_mem *mem, int fd, uint64_t epoch)
{
    if (!dir || epoch % REPL_VERIFY_EVERY)
        return -EAGAIN;
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0)
        return -errno;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%d.%llu", dir, (int)cr.pid, (unsigned long long)epoch);
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    unsigned bad = 0, total = 0;
    char list[320] = "";
    size_t len = 0;
    for (unsigned i = 0; i < mem->nr; i++)
        for (uint64_t pg = 0; checked(&mem->r[i]) && pg < mem->r[i].size >> MEM_PAGE_SHIFT; pg++) {
            uint64_t h = page_hash(mem->r[i].host + (pg << MEM_PAGE_SHIFT)), want;
            total++;
            if (fread(&want, sizeof(want), 1, f) == 1 && want == h)
                continue;
            if (bad++ < 8)
                len += (size_t)snprintf(list + len, sizeof(list) - len, " %u:%#llx", i,
                                        (unsigned long long)(mem->r[i].gpa + (pg << MEM_PAGE_SHIFT)));
        }
    fclose(f);
    unlink(path);
    snprintf(path, sizeof(path), "%s/verify.log", dir);
    FILE *l = fopen(path, "a");
    if (l) {
        fprintf(l, "pid %d epoch %llu: %u of %u pages differ%s%s\n", (int)cr.pid, (unsigned long long)epoch, bad,
                total, bad ? ":" : "", list);
        fclose(l);
    }
    if (bad)
        log_warn("replication check: epoch %llu: %u of %u pages differ from the primary's:%s",
                 (unsigned long long)epoch, bad, total, list);
    return (int)bad;
}
