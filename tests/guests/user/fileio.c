/* files and directories in a temp dir given as argv[1] */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) < 0) { perror("chdir"); return 1; }
    int fd = open("a.txt", O_CREAT | O_RDWR | O_TRUNC, 0640);
    if (fd < 0) { perror("open"); return 1; }
    struct iovec iov[2] = { { "hello ", 6 }, { "world\n", 6 } };
    printf("writev=%zd\n", writev(fd, iov, 2));
    printf("pwrite=%zd\n", pwrite(fd, "W", 1, 6));
    char buf[64] = {0};
    printf("pread=%zd %s", pread(fd, buf, sizeof(buf) - 1, 0), buf);
    printf("lseek=%ld\n", (long)lseek(fd, 0, SEEK_END));
    struct stat st;
    fstat(fd, &st);
    printf("size=%ld mode=%o reg=%d nlink=%lu\n", (long)st.st_size, st.st_mode & 0777,
           S_ISREG(st.st_mode), (unsigned long)st.st_nlink);
    printf("ftruncate=%d\n", ftruncate(fd, 3));
    stat("a.txt", &st);
    printf("size after truncate=%ld\n", (long)st.st_size);
    close(fd);
    printf("mkdir=%d\n", mkdir("sub", 0755));
    printf("rename=%d\n", rename("a.txt", "sub/b.txt"));
    printf("symlink=%d\n", symlink("sub/b.txt", "ln"));
    char l[64] = {0};
    printf("readlink=%zd %s\n", readlink("ln", l, sizeof(l) - 1), l);
    printf("access=%d\n", access("sub/b.txt", R_OK));
    errno = 0;
    printf("open missing=%d errno=%d\n", open("nope", O_RDONLY), errno);
    DIR *d = opendir("sub");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') { printf("entry %s\n", e->d_name); n++; }
    closedir(d);
    int p[2];
    printf("pipe=%d\n", pipe(p));
    write(p[1], "xyz", 3);
    memset(buf, 0, sizeof(buf));
    printf("pipe read=%zd %s\n", read(p[0], buf, 10), buf);
    char cwd[256];
    printf("getcwd ok=%d\n", getcwd(cwd, sizeof(cwd)) != NULL && strstr(cwd, argv[1] + 1) != NULL);
    printf("unlink=%d %d %d\n", unlink("ln"), unlink("sub/b.txt"), rmdir("sub"));
    return 0;
}
