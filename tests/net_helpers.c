/* net_helpers.c - plain-socket helpers for the tests' peers (contract in net_helpers.h). */
#include "net_helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in loopback_addr(uint16_t port)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

static int close_with_error(int fd, int err)
{
    close(fd);
    return -err;
}

int tnet_listen(int backlog, uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    struct sockaddr_in addr = loopback_addr(0);
    socklen_t len = sizeof addr;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        return close_with_error(fd, errno);
    *port = ntohs(addr.sin_port);
    return fd;
}

int tnet_connect_rcvbuf(uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in addr = loopback_addr(port);
    int one = 1;
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
        return close_with_error(fd, errno);
    /* Small test messages should leave at once rather than wait on Nagle. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
        connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        return close_with_error(fd, errno);
    return fd;
}

int tnet_connect(uint16_t port)
{
    return tnet_connect_rcvbuf(port, 0);
}

int tnet_tcp_pair(int *client, int *server)
{
    return tnet_tcp_pair_rcvbuf(client, server, 0);
}

int tnet_tcp_pair_rcvbuf(int *client, int *server, int client_rcvbuf)
{
    uint16_t port;
    int listener = tnet_listen(1, &port);
    if (listener < 0)
        return listener;
    int c = tnet_connect_rcvbuf(port, client_rcvbuf);
    if (c < 0)
        return close_with_error(listener, -c);
    /* A loopback connect returns once the handshake is done, so the peer is queued. */
    int s = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int err = errno;
    close(listener);
    if (s < 0)
        return close_with_error(c, err);
    *client = c;
    *server = s;
    return 0;
}

int tnet_set_nonblocking(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

static int set_int_option(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

int tnet_set_sndbuf(int fd, int bytes)
{
    return set_int_option(fd, SOL_SOCKET, SO_SNDBUF, bytes);
}

int tnet_set_linger_reset(int fd)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0 ? -errno : 0;
}

uint64_t tnet_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t tnet_now_ms(void)
{
    return tnet_now_ns() / 1000000u;
}

/* Wait until fd is ready for `events` or the deadline passes: 0, -ETIMEDOUT or -errno. */
static int wait_ready(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = tnet_now_ms();
        if (now >= deadline_ms)
            return -ETIMEDOUT;
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, (int)(deadline_ms - now));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

int tnet_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
    const char *p = buf;
    uint64_t deadline = tnet_now_ms() + (uint64_t)timeout_ms;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        int rc = wait_ready(fd, POLLOUT, deadline);
        if (rc < 0)
            return rc;
    }
    return 0;
}

ssize_t tnet_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
    char *p = buf;
    size_t got = 0;
    uint64_t deadline = tnet_now_ms() + (uint64_t)timeout_ms;
    while (got < len) {
        ssize_t n = recv(fd, p + got, len - got, MSG_DONTWAIT);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0)
            break;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        int rc = wait_ready(fd, POLLIN, deadline);
        if (rc < 0)
            return rc;
    }
    return (ssize_t)got;
}

int tnet_expect_eof(int fd, int timeout_ms)
{
    char byte;
    ssize_t n = tnet_read_full(fd, &byte, 1, timeout_ms);
    if (n < 0)
        return (int)n;
    return n == 0 ? 0 : -EPROTO;
}

long tnet_raise_nofile_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
        return -errno;
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
        return -errno;
    return (long)lim.rlim_cur;
}

int tnet_count_open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return -errno;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        if (e->d_name[0] != '.')
            count++;
    closedir(dir);
    return count - 1; /* the directory's own fd */
}

uint8_t tnet_pattern_byte(uint64_t stream_offset)
{
    /* A multiplicative hash: neighbouring offsets and whole shifted blocks differ. */
    return (uint8_t)((stream_offset * 0x9E3779B97F4A7C15ull) >> 56);
}

void tnet_pattern_fill(void *buf, size_t len, uint64_t stream_offset)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = tnet_pattern_byte(stream_offset + i);
}

size_t tnet_pattern_mismatch(const void *buf, size_t len, uint64_t stream_offset)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i] != tnet_pattern_byte(stream_offset + i))
            return i;
    return len;
}
