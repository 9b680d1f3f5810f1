/* execve another riscv64 program (argv[1]) with arguments; fork + wait too */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        char *av[] = { "child-argv0", "x", "y", "z", NULL };
        execv(argv[1], av);
        perror("execv");
        _exit(99);
    }
    int st;
    waitpid(p, &st, 0);
    printf("child exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));
    fflush(stdout);
    char *av[] = { "second", NULL };
    execv(argv[1], av);
    perror("execv");
    return 1;
}
