/* sockets: socketpair + sendmsg/recvmsg (iovecs, SCM_RIGHTS), TCP loopback,
 * poll, epoll. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
int main(void)
{
    int sv[2];
    printf("socketpair=%d\n", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    int p[2];
    pipe(p);
    write(p[1], "via fd", 6);
    struct iovec iov[2] = { { "ab", 2 }, { "cde", 3 } };
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof(cbuf));
    struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = cbuf,
                        .msg_controllen = sizeof(cbuf) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[0], sizeof(int));
    printf("sendmsg=%zd\n", sendmsg(sv[0], &m, 0));
    char b1[3] = {0}, b2[8] = {0}, rc[CMSG_SPACE(sizeof(int))];
    struct iovec riov[2] = { { b1, 2 }, { b2, 7 } };
    struct msghdr r = { .msg_iov = riov, .msg_iovlen = 2, .msg_control = rc,
                        .msg_controllen = sizeof(rc) };
    printf("recvmsg=%zd %s %s\n", recvmsg(sv[1], &r, 0), b1, b2);
    struct cmsghdr *rc1 = CMSG_FIRSTHDR(&r);
    int fd = -1;
    if (rc1 && rc1->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(rc1), sizeof(int));
    char vb[8] = {0};
    printf("passed fd reads=%zd %s\n", fd >= 0 ? read(fd, vb, 6) : -1, vb);

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    printf("bind=%d listen=%d\n", bind(ls, (void *)&a, sizeof(a)), listen(ls, 1));
    socklen_t al = sizeof(a);
    getsockname(ls, (void *)&a, &al);
    printf("port assigned=%d\n", ntohs(a.sin_port) != 0);
    int cs = socket(AF_INET, SOCK_STREAM, 0);
    printf("connect=%d\n", connect(cs, (void *)&a, sizeof(a)));
    int as = accept(ls, NULL, NULL);
    printf("accept ok=%d\n", as >= 0);
    send(cs, "ping", 4, 0);
    struct pollfd pf = { .fd = as, .events = POLLIN };
    printf("poll=%d revents=%d\n", poll(&pf, 1, 1000), pf.revents & POLLIN);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1122334455667788ULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, as, &ev);
    struct epoll_event out[2];
    int n = epoll_wait(ep, out, 2, 1000);
    printf("epoll=%d data_ok=%d\n", n, n == 1 && out[0].data.u64 == 0x1122334455667788ULL);
    char rb[8] = {0};
    printf("recv=%zd %s\n", recv(as, rb, sizeof(rb) - 1, 0), rb);
    int sndbuf = 0;
    socklen_t sl = sizeof(sndbuf);
    printf("getsockopt=%d positive=%d\n", getsockopt(cs, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl), sndbuf > 0);
    return 0;
}
