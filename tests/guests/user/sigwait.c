/* sigwaitinfo / sigtimedwait on a blocked signal, and the timeout */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <time.h>
int main(void){ sigset_t s; sigemptyset(&s); sigaddset(&s,SIGUSR1); sigprocmask(SIG_BLOCK,&s,0);
 kill(getpid(),SIGUSR1); siginfo_t si; int r=sigwaitinfo(&s,&si); printf("got %d code=%d pid_ok=%d\n",r,si.si_code,si.si_pid==getpid());
 struct timespec ts={0,20000000}; r=sigtimedwait(&s,&si,&ts); printf("timeout %d\n",r); return 0;}
