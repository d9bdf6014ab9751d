/* net.c - address parsing and listening sockets (see net.h). */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h> /* SIOCOUTQ */
#include <linux/tcp.h>     /* tcpi_bytes_acked, which glibc's netinet/tcp.h lacks */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Port text: decimal digits only, 0..65535. */
static int port_parse(const char *text, uint16_t *port)
{
    if (!*text || strlen(text) > 5)
        return -EINVAL;
    unsigned long value = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        value = value * 10 + (unsigned long)(*p - '0');
    }
    if (value > 65535)
        return -EINVAL;
    *port = (uint16_t)value;
    return 0;
}

#define WHY_FORM "expected ADDR:PORT, e.g. 127.0.0.1:8080 or [::1]:8080"

/* Split "HOST:PORT" or "[HOST]:PORT"; *v6 tells which form it was. */
static int split_host_port(const char *text, char *host, size_t cap, uint16_t *port, bool *v6,
                           const char **why)
{
    const char *host_start = text, *host_end;
    *v6 = text[0] == '[';
    if (*v6) {
        host_start = text + 1;
        host_end = strchr(host_start, ']');
        if (!host_end || host_end[1] != ':') {
            *why = "an IPv6 address is written [ADDR]:PORT";
            return -EINVAL;
        }
    } else {
        host_end = strrchr(text, ':');
        if (!host_end) {
            *why = WHY_FORM;
            return -EINVAL;
        }
    }
    size_t len = (size_t)(host_end - host_start);
    if (len == 0 || len >= cap) {
        *why = *v6 ? "not a numeric IPv6 address" : "not a numeric IPv4 address (write IPv6 as [ADDR]:PORT)";
        return -EINVAL;
    }
    memcpy(host, host_start, len);
    host[len] = '\0';
    if (port_parse(host_end + (*v6 ? 2 : 1), port) < 0) {
        *why = "the port must be a number from 0 to 65535";
        return -EINVAL;
    }
    return 0;
}

int net_addr_parse(const char *text, net_addr *out, const char **why)
{
    const char *ignored;
    if (!why)
        why = &ignored;
    *why = NULL;
    memset(out, 0, sizeof(*out));
    char host[INET6_ADDRSTRLEN];
    uint16_t port;
    bool v6;
    if (!text || split_host_port(text, host, sizeof(host), &port, &v6, why) < 0) {
        if (!*why)
            *why = WHY_FORM;
        return -EINVAL;
    }
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            *why = "not a numeric IPv6 address";
            return -EINVAL;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        out->len = sizeof(*sin6);
        return 0;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
        *why = "not a numeric IPv4 address (write IPv6 as [ADDR]:PORT)";
        return -EINVAL;
    }
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    out->len = sizeof(*sin);
    return 0;
}

char *net_addr_format(const net_addr *addr, char *text, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (addr->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&addr->ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(text, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&addr->ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(text, len, "%s:%u", host, ntohs(sin->sin_port));
    }
    return text;
}

static int set_flag(int fd, int level, int option)
{
    int one = 1;
    return setsockopt(fd, level, option, &one, sizeof(one)) < 0 ? -errno : 0;
}

static uint16_t addr_port(const net_addr *addr)
{
    return ntohs(addr->ss.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&addr->ss)->sin6_port
                                                : ((const struct sockaddr_in *)&addr->ss)->sin_port);
}

/* A socket without SO_REUSEPORT cannot bind where another listens, with or without it. */
static int check_unclaimed(const net_addr *addr)
{
    if (addr_port(addr) == 0)
        return 0; /* the kernel picks a free one */
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int err = set_flag(fd, SOL_SOCKET, SO_REUSEADDR);
    if (!err && bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0)
        err = -errno;
    close(fd);
    return err;
}

int net_listen(const net_addr *addr, unsigned flags)
{
    if (flags & NET_EXCLUSIVE) {
        int err = check_unclaimed(addr);
        if (err < 0)
            return err;
    }
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int err = set_flag(fd, SOL_SOCKET, SO_REUSEADDR);
    if (!err && (flags & NET_REUSEPORT))
        err = set_flag(fd, SOL_SOCKET, SO_REUSEPORT);
    if (!err && bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0)
        err = -errno;
    if (!err && listen(fd, NET_BACKLOG) < 0)
        err = -errno;
    if (err) {
        close(fd);
        return err;
    }
    return fd;
}

int net_tcp_progress_get(int fd, net_tcp_progress *out)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);
    int unacked = 0;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0 || ioctl(fd, SIOCOUTQ, &unacked) < 0)
        return -errno;
    if (len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(info.tcpi_bytes_acked))
        return -ENOPROTOOPT;
    out->acked = info.tcpi_bytes_acked;
    out->last_ack_ms = info.tcpi_last_ack_recv;
    out->unacked = unacked > 0 ? (uint64_t)unacked : 0;
    return 0;
}

int net_addr_local(int fd, net_addr *out)
{
    memset(out, 0, sizeof(*out));
    out->len = sizeof(out->ss);
    if (getsockname(fd, (struct sockaddr *)&out->ss, &out->len) < 0)
        return -errno;
    return 0;
}

const char *net_strerror(int err, char *text, size_t len)
{
    int code = err < 0 ? -err : err;
    const char *name = strerrorname_np(code);
    snprintf(text, len, "%s (%s)", strerror(code), name ? name : "?");
    return text;
}
