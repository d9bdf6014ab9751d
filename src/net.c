/* net.c - address parsing and listening sockets (see net.h). */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int parse_v6(const char *text, net_addr *out, const char **why)
{
    const char *close = strchr(text, ']');
    char host[INET6_ADDRSTRLEN];
    size_t host_len = close ? (size_t)(close - text - 1) : 0;
    if (!close || close[1] != ':') {
        *why = "an IPv6 address is written [ADDR]:PORT";
        return -EINVAL;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
    if (host_len == 0 || host_len >= sizeof(host)) {
        *why = "not a numeric IPv6 address";
        return -EINVAL;
    }
    memcpy(host, text + 1, host_len);
    host[host_len] = '\0';
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
        *why = "not a numeric IPv6 address";
        return -EINVAL;
    }
    uint16_t port;
    if (port_parse(close + 2, &port) < 0) {
        *why = "the port must be a number from 0 to 65535";
        return -EINVAL;
    }
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    out->len = sizeof(*sin6);
    return 0;
}

static int parse_v4(const char *text, net_addr *out, const char **why)
{
    const char *colon = strrchr(text, ':');
    char host[INET_ADDRSTRLEN];
    if (!colon) {
        *why = "expected ADDR:PORT, e.g. 127.0.0.1:8080 or [::1]:8080";
        return -EINVAL;
    }
    size_t host_len = (size_t)(colon - text);
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
    if (host_len == 0 || host_len >= sizeof(host) || memchr(text, ':', host_len)) {
        *why = "not a numeric IPv4 address (write IPv6 as [ADDR]:PORT)";
        return -EINVAL;
    }
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
        *why = "not a numeric IPv4 address (write IPv6 as [ADDR]:PORT)";
        return -EINVAL;
    }
    uint16_t port;
    if (port_parse(colon + 1, &port) < 0) {
        *why = "the port must be a number from 0 to 65535";
        return -EINVAL;
    }
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    out->len = sizeof(*sin);
    return 0;
}

int net_addr_parse(const char *text, net_addr *out, const char **why)
{
    const char *ignored;
    if (!why)
        why = &ignored;
    *why = NULL;
    memset(out, 0, sizeof(*out));
    if (!text || !*text) {
        *why = "expected ADDR:PORT, e.g. 127.0.0.1:8080 or [::1]:8080";
        return -EINVAL;
    }
    return text[0] == '[' ? parse_v6(text, out, why) : parse_v4(text, out, why);
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

int net_listen(const net_addr *addr, unsigned flags)
{
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
