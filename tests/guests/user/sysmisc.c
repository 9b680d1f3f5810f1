/* file hints and flushes, timerfd, inotify and scheduling-policy calls, in
 * a temp dir given as argv[1], and a path the default sysroot has: what
 * each returns, printed the same way under any emulator (exec-basic.sh
 * compares with qemu-riscv64) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <unistd.h>

static void say(const char *what, long r)
{
    printf("%s=%ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
}

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) < 0) { perror("chdir"); return 1; }
    int fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0) { perror("open"); return 1; }
    char buf[8192];
    memset(buf, 'x', sizeof(buf));
    say("write", write(fd, buf, sizeof(buf)));
    /* posix_fadvise returns the error number, not -1 */
    printf("fadvise sequential=%d\n", posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL));
    printf("fadvise bad advice=%d\n", posix_fadvise(fd, 0, 0, 12345));
    printf("fadvise bad fd=%d\n", posix_fadvise(-1, 0, 0, POSIX_FADV_NORMAL));
    say("readahead", readahead(fd, 0, sizeof(buf)));
    say("sync_file_range", sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
    say("syncfs", syncfs(fd));
    say("syncfs bad fd", syncfs(-1));

    int tf = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    printf("timerfd_create %s\n", tf >= 0 ? "ok" : strerror(errno));
    struct itimerspec it = { .it_value = { 0, 20 * 1000 * 1000 } }, old;
    say("timerfd_settime", timerfd_settime(tf, 0, &it, &old));
    printf("old value %ld.%09ld\n", (long)old.it_value.tv_sec, old.it_value.tv_nsec);
    struct itimerspec cur;
    say("timerfd_gettime", timerfd_gettime(tf, &cur));
    printf("left at most 20 ms: %d\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec <= 20 * 1000 * 1000);
    uint64_t n = 0;
    say("read timerfd", read(tf, &n, sizeof(n)));
    printf("expirations at least 1: %d\n", n >= 1);
    close(tf);

    int in = inotify_init1(IN_CLOEXEC);
    printf("inotify_init1 %s\n", in >= 0 ? "ok" : strerror(errno));
    int w = inotify_add_watch(in, ".", IN_CREATE | IN_DELETE);
    printf("inotify_add_watch %s\n", w >= 0 ? "ok" : strerror(errno));
    int g = open("new", O_CREAT | O_WRONLY, 0644);
    close(g);
    unlink("new");
    char ev[4096] __attribute__((aligned(8)));
    ssize_t got = read(in, ev, sizeof(ev));
    for (char *p = ev; got > 0 && p < ev + got;) {
        struct inotify_event *e = (struct inotify_event *)p;
        printf("event %s%s %s\n", e->mask & IN_CREATE ? "create" : "", e->mask & IN_DELETE ? "delete" : "",
               e->len ? e->name : "");
        p += sizeof(*e) + e->len;
    }
    say("inotify_rm_watch", inotify_rm_watch(in, w));
    say("inotify_rm_watch again", inotify_rm_watch(in, w));
    say("inotify_add_watch missing", inotify_add_watch(in, "no-such-dir", IN_CREATE));
    close(in);

    say("sched_getscheduler", sched_getscheduler(0));
    struct sched_param sp = { .sched_priority = 7 };
    say("sched_getparam", sched_getparam(0, &sp));
    printf("priority %d\n", sp.sched_priority);
    say("sched_setscheduler other", sched_setscheduler(0, SCHED_OTHER, &sp));
    say("sched_setparam", sched_setparam(0, &sp));
    say("sched_get_priority_max fifo", sched_get_priority_max(SCHED_FIFO));
    say("sched_get_priority_min fifo", sched_get_priority_min(SCHED_FIFO));
    say("sched_get_priority_max bad", sched_get_priority_max(12345));
    /* a static program sees the host's /, not the cross sysroot vessel
     * uses by default for dynamic ones (it has an include directory) */
    say("access /include", access("/include", F_OK));
    close(fd);
    unlink("f");
    return 0;
}
