/* tcp_watch.c - see tcp_watch.h. */
#include "tcp_watch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_helpers.h"

#define TCP_LISTEN 0x0A
#define LOOPBACK_HEX 0x0100007Fu /* 127.0.0.1 as /proc/net/tcp prints it (host order of the raw word) */

/* What a /proc/net/tcp line says about one socket. */
struct tcp_row {
    unsigned laddr, lport, raddr, rport, state;
    unsigned long txq, rxq; /* for a listener, rxq is its accept queue */
};

/* Calls match(row, arg) on each row until it returns false ("stop: condition fails"):
 * 1 when every row matched, 0 when one did not, -errno when the table cannot be read. */
static int every_row(bool (*match)(const struct tcp_row *, const void *), const void *arg)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return -errno;
    char line[512];
    int all = 1;
    if (!fgets(line, sizeof line, f)) /* the header */
        all = -EIO;
    while (all == 1 && fgets(line, sizeof line, f)) {
        struct tcp_row r;
        if (sscanf(line, " %*d: %8X:%4X %8X:%4X %2X %8lX:%8lX", &r.laddr, &r.lport, &r.raddr, &r.rport,
                   &r.state, &r.txq, &r.rxq) == 7 && !match(&r, arg))
            all = 0;
    }
    fclose(f);
    return all;
}

static int wait_until(bool (*match)(const struct tcp_row *, const void *), const void *arg, int timeout_ms)
{
    uint64_t deadline = tnet_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int all = every_row(match, arg);
        if (all != 0)
            return all < 0 ? all : 0;
        if (tnet_now_ms() >= deadline)
            return -ETIMEDOUT;
        usleep(1000);
    }
}

static bool listener_drained(const struct tcp_row *r, const void *arg)
{
    const uint16_t *port = arg;
    return !(r->state == TCP_LISTEN && r->lport == *port && r->rxq > 0);
}

int tcp_wait_accepted(uint16_t port, int timeout_ms)
{
    return wait_until(listener_drained, &port, timeout_ms);
}

struct conn_ends {
    unsigned server_port, client_port;
};

struct conn_set {
    const struct conn_ends *ends;
    int n;
};

static bool servers_read(const struct tcp_row *r, const void *arg)
{
    const struct conn_set *set = arg;
    if (r->state == TCP_LISTEN || r->laddr != LOOPBACK_HEX || r->rxq == 0)
        return true;
    for (int i = 0; i < set->n; i++)
        if (r->lport == set->ends[i].server_port && r->rport == set->ends[i].client_port)
            return false;
    return true;
}

/* Every byte must first have left the client's end: the server's kernel acknowledged it. */
static int wait_sent(int fd, uint64_t deadline)
{
    int unsent;
    for (;;) {
        if (ioctl(fd, SIOCOUTQ, &unsent) < 0)
            return -errno;
        if (unsent == 0)
            return 0;
        if (tnet_now_ms() >= deadline)
            return -ETIMEDOUT;
        usleep(1000);
    }
}

static int conn_ends_of(int fd, struct conn_ends *e)
{
    struct sockaddr_in self, peer;
    socklen_t len = sizeof self;
    if (getsockname(fd, (struct sockaddr *)&self, &len) < 0)
        return -errno;
    len = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
        return -errno;
    *e = (struct conn_ends){ ntohs(peer.sin_port), ntohs(self.sin_port) };
    return 0;
}

int tcp_wait_consumed(const int *client_fds, int n, int timeout_ms)
{
    uint64_t deadline = tnet_now_ms() + (uint64_t)timeout_ms;
    struct conn_ends *ends = calloc((size_t)n, sizeof *ends);
    if (!ends)
        return -ENOMEM;
    int err = 0;
    for (int i = 0; i < n && !err; i++) {
        err = conn_ends_of(client_fds[i], &ends[i]);
        if (!err)
            err = wait_sent(client_fds[i], deadline);
    }
    if (!err) {
        uint64_t now = tnet_now_ms();
        struct conn_set set = { ends, n };
        err = wait_until(servers_read, &set, now < deadline ? (int)(deadline - now) : 0);
    }
    free(ends);
    return err;
}

struct server_end {
    struct conn_ends ends;
    struct tcp_row found;
    bool seen;
};

static bool find_server_end(const struct tcp_row *r, const void *arg)
{
    struct server_end *e = (struct server_end *)arg;
    if (r->state != TCP_LISTEN && r->laddr == LOOPBACK_HEX && r->lport == e->ends.server_port &&
        r->rport == e->ends.client_port) {
        e->found = *r;
        e->seen = true;
        return false; /* stop: found */
    }
    return true;
}

int tcp_server_queues(int client_fd, unsigned long *tx, unsigned long *rx)
{
    struct server_end e = {.seen = false};
    int err = conn_ends_of(client_fd, &e.ends);
    if (err < 0)
        return err;
    err = every_row(find_server_end, &e);
    if (err < 0)
        return err;
    if (!e.seen)
        return -ENOENT;
    *tx = e.found.txq;
    *rx = e.found.rxq;
    return 0;
}
