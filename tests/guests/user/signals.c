/* guest faults and signals: handlers with siginfo, sigreturn, altstack */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static sigjmp_buf jb;
static volatile int got, code;
static void *volatile addr;
static void h(int sig, siginfo_t *si, void *uc)
{
    got = sig; code = si->si_code; addr = si->si_addr;
    siglongjmp(jb, 1);
}
static void usr(int sig) { got = sig; }
int main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGTRAP, &sa, NULL);
    if (!sigsetjmp(jb, 1)) *(volatile int *)0x1234 = 1;
    printf("SIGSEGV: sig=%d code=%d addr=%p\n", got, code, addr);
    got = 0;
    if (!sigsetjmp(jb, 1)) __asm__ volatile(".word 0");
    printf("SIGILL: sig=%d code=%d\n", got, code);
    got = 0;
    if (!sigsetjmp(jb, 1)) raise(SIGFPE);
    printf("SIGFPE (raise): sig=%d code=%d\n", got, code);
    got = 0;
    if (!sigsetjmp(jb, 1)) __asm__ volatile("ebreak");
    printf("SIGTRAP: sig=%d\n", got);
    /* a handler that returns (rt_sigreturn) */
    signal(SIGUSR1, usr);
    got = 0;
    kill(getpid(), SIGUSR1);
    printf("SIGUSR1 returned: sig=%d\n", got);
    /* blocked then unblocked */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigprocmask(SIG_BLOCK, &s, NULL);
    got = 0;
    raise(SIGUSR1);
    printf("while blocked: %d\n", got);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    printf("after unblock: %d\n", got);
    /* on an alternate stack */
    static char alt[65536];
    stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) };
    sigaltstack(&ss, NULL);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    got = 0;
    if (!sigsetjmp(jb, 1)) *(volatile int *)8 = 1;
    printf("SIGSEGV on altstack: sig=%d\n", got);
    fflush(stdout);
    if (argc > 1) {   /* uncaught: the emulator reports it */
        signal(SIGSEGV, SIG_DFL);
        *(volatile int *)16 = 1;
    }
    return 0;
}
