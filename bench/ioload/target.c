/* target.c - resolving the target, planning loopback sources, probing reachability. */
#include "target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Ports other sockets (TIME_WAIT leftovers of an earlier run, other clients) may hold. */
#define PORT_RANGE_MARGIN 1000
#define PORT_RANGE_DEFAULT 28232 /* Linux's default 32768-60999 */

int target_resolve(struct target *t, const char *spec, char *err, size_t err_len)
{
    memset(t, 0, sizeof(*t));
    char host[256];
    const char *colon = strrchr(spec, ':');
    size_t host_len = colon ? (size_t)(colon - spec) : 0;
    const char *host_start = spec;
    if (host_len >= 2 && spec[0] == '[' && spec[host_len - 1] == ']') {
        host_start++;
        host_len -= 2;
    }
    if (!colon || host_len == 0 || host_len >= sizeof(host) || !colon[1]) {
        snprintf(err, err_len, "target '%s' is not HOST:PORT", spec);
        return -EINVAL;
    }
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *found;
    int rc = getaddrinfo(host, colon + 1, &hints, &found);
    if (rc != 0) {
        snprintf(err, err_len, "cannot resolve '%s': %s", spec, gai_strerror(rc));
        return -EINVAL;
    }
    memcpy(&t->addr, found->ai_addr, found->ai_addrlen);
    t->addr_len = found->ai_addrlen;
    freeaddrinfo(found);
    return 0;
}

static uint64_t ports_per_source(void)
{
    unsigned low, high;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    int got = f ? fscanf(f, "%u %u", &low, &high) : 0;
    if (f)
        fclose(f);
    uint64_t ports = (got == 2 && high > low) ? high - low + 1 : PORT_RANGE_DEFAULT;
    return ports > 2 * PORT_RANGE_MARGIN ? ports - PORT_RANGE_MARGIN : ports / 2;
}

static bool is_loopback_v4(const struct target *t)
{
    if (t->addr.ss_family != AF_INET)
        return false;
    const struct sockaddr_in *in = (const struct sockaddr_in *)&t->addr;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
}

int target_plan_sources(struct target *t, uint64_t connections, uint64_t per_source,
                        char *err, size_t err_len)
{
    t->per_source = per_source ? per_source : ports_per_source();
    t->sources = 0;
    if (connections <= t->per_source)
        return 0;
    if (!is_loopback_v4(t)) {
        snprintf(err, err_len, "%llu connections need more than one source address, which "
                 "ioload only rotates for 127.x.y.z targets (at most %llu here)",
                 (unsigned long long)connections, (unsigned long long)t->per_source);
        return -EADDRNOTAVAIL;
    }
    t->sources = (uint32_t)((connections + t->per_source - 1) / t->per_source);
    return 0;
}

bool target_source(const struct target *t, uint64_t index, struct sockaddr_storage *src,
                   socklen_t *src_len)
{
    if (t->sources == 0)
        return false;
    struct sockaddr_in *in = (struct sockaddr_in *)src;
    memset(src, 0, sizeof(*src));
    in->sin_family = AF_INET;
    /* 127.0.0.1, 127.0.0.2, ...: 16 million choices, far more than a port range needs */
    in->sin_addr.s_addr = htonl((uint32_t)(0x7f000001u + index / t->per_source));
    *src_len = sizeof(*in);
    return true;
}

int target_socket(const struct target *t, uint64_t index, int flags)
{
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_storage src;
    socklen_t src_len;
    if (target_source(t, index, &src, &src_len)) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, src_len) < 0) {
            int err = -errno;
            close(fd);
            return err;
        }
    }
    return fd;
}

int target_probe(const struct target *t, unsigned timeout_ms)
{
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (connect(fd, (const struct sockaddr *)&t->addr, t->addr_len) < 0) {
        rc = -errno;
        if (rc == -EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int ready = poll(&p, 1, (int)timeout_ms);
            int so_error = 0;
            socklen_t len = sizeof(so_error);
            if (ready == 0)
                rc = -ETIMEDOUT;
            else if (ready < 0)
                rc = -errno;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
                rc = -errno;
            else
                rc = -so_error;
        }
    }
    close(fd);
    return rc;
}
