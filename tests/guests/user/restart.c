/* A signal interrupting a blocking read: restarted with SA_RESTART,
 * EINTR without it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile int hits;
static void on_alarm(int sig) { hits++; }
static void one(int flags)
{
    int p[2];
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        usleep(400000);
        write(p[1], "x", 1);
        _exit(0);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sa.sa_flags = flags;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 0 }, { 0, 100000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    char b;
    errno = 0;
    ssize_t n = read(p[0], &b, 1);
    printf("%s: read=%zd errno=%s hits=%d\n", flags ? "SA_RESTART" : "no restart", n,
           errno == EINTR ? "EINTR" : errno ? "other" : "0", hits);
    waitpid(c, NULL, 0);
    close(p[0]);
    close(p[1]);
    hits = 0;
}
int main(void)
{
    one(SA_RESTART);
    one(0);
    return 0;
}
