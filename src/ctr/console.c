/* ctr: the terminal of a foreground `run -t` / `exec -t` given no
 * --console-socket: the container's init sends its pty master over a
 * socketpair, as it would to a console socket, and we copy between our stdio
 * and that master (our terminal in raw mode, its size passed on) until the
 * process exits, as runc does. */
#include "ctr/ctr.h"
#include "base/base.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>

int ctr_console_recv(int sock)
{
    char dummy, buf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { &dummy, 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof(buf) };
    ssize_t n;
    do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n < 0 ? -errno : -EPIPE;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
        return -EPROTO;
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    return fd;
}

static volatile sig_atomic_t winch;
static void on_winch(int sig) { (void)sig; winch = 1; }

static void copy_winsize(int from, int to)
{
    struct winsize ws;
    if (ioctl(from, TIOCGWINSZ, &ws) == 0)
        ioctl(to, TIOCSWINSZ, &ws);
}

int ctr_console_proxy(int master, pid_t child)
{
    struct termios saved;
    bool raw = isatty(0) && tcgetattr(0, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        cfmakeraw(&t);
        tcsetattr(0, TCSANOW, &t);
        copy_winsize(0, master);
        struct sigaction sa = { .sa_handler = on_winch };
        sigaction(SIGWINCH, &sa, NULL);
    }
    bool in_open = true, out_open = true;
    int status = 0;
    bool exited = false;
    char buf[8192];
    while (out_open) {
        if (winch) {
            winch = 0;
            copy_winsize(0, master);
        }
        struct pollfd p[2] = { { master, POLLIN, 0 }, { in_open ? 0 : -1, POLLIN, 0 } };
        int r = poll(p, 2, exited ? 50 : 200);
        if (r < 0 && errno != EINTR)
            break;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(master, buf, sizeof(buf));
            if (n <= 0 && errno != EINTR && errno != EAGAIN)
                out_open = false;       /* EIO: every slave fd is closed */
            else if (n > 0 && write_full(1, buf, (size_t)n) < 0)
                out_open = false;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(0, buf, sizeof(buf));
            if (n <= 0)
                in_open = false;        /* our stdin ended: the container keeps its terminal */
            else
                write_full(master, buf, (size_t)n);
        }
        if (!exited && waitpid(child, &status, WNOHANG) == child)
            exited = true;
        else if (exited && r == 0)
            break;                      /* exited, and nothing more to read */
    }
    if (!exited)
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    if (raw) {
        tcsetattr(0, TCSANOW, &saved);
        signal(SIGWINCH, SIG_DFL);
    }
    close(master);
    return status;
}
