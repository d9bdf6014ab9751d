/* idle.c - silent connections beside the load (idle.h). */
#include "idle.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Waits until every connect of fds[0..n) finished: 0, or -errno of the first that failed. */
static int connects_finish(const int *fds, uint64_t n, unsigned timeout_ms)
{
    struct pollfd *p = calloc(n, sizeof(*p));
    if (!p)
        return -ENOMEM;
    for (uint64_t i = 0; i < n; i++)
        p[i] = (struct pollfd){.fd = fds[i], .events = POLLOUT};
    int rc = 0;
    for (uint64_t done = 0; done < n && rc == 0;) {
        int ready = poll(p, n, (int)timeout_ms);
        if (ready <= 0) {
            rc = ready == 0 ? -ETIMEDOUT : errno == EINTR ? 0 : -errno;
            continue;
        }
        for (uint64_t i = 0; i < n && rc == 0; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            int so_error = 0;
            socklen_t len = sizeof(so_error);
            if (getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
                so_error = errno;
            rc = -so_error;
            p[i].fd = -1;
            done++;
        }
    }
    free(p);
    return rc;
}

/* One non-blocking connect started: the fd, or -errno. */
static int idle_connect(const struct target *t, uint64_t index)
{
    int fd = target_socket(t, index, SOCK_NONBLOCK);
    if (fd >= 0 && connect(fd, (const struct sockaddr *)&t->addr, t->addr_len) < 0 && errno != EINPROGRESS) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int idle_open(struct idle_conns *idle, const struct target *t, uint64_t first, uint64_t count,
              unsigned window, unsigned timeout_ms, char *err, size_t err_len)
{
    idle->fds = calloc(count ? count : 1, sizeof(*idle->fds));
    idle->count = 0;
    if (!idle->fds) {
        snprintf(err, err_len, "out of memory for %llu idle connections", (unsigned long long)count);
        return -ENOMEM;
    }
    int rc = 0;
    while (rc == 0 && idle->count < count) {
        uint64_t batch = idle->count;
        while (rc == 0 && idle->count < count && idle->count - batch < window) {
            int fd = idle_connect(t, first + idle->count);
            if (fd < 0)
                rc = fd;
            else
                idle->fds[idle->count++] = fd;
        }
        if (rc == 0)
            rc = connects_finish(idle->fds + batch, idle->count - batch, timeout_ms);
    }
    if (rc < 0) {
        snprintf(err, err_len, "idle connection %llu of %llu: %s", (unsigned long long)idle->count + 1,
                 (unsigned long long)count, strerror(-rc));
        idle_close(idle);
    }
    return rc;
}

uint64_t idle_lost(const struct idle_conns *idle)
{
    uint64_t lost = 0;
    for (uint64_t i = 0; i < idle->count; i++) {
        struct pollfd p = {.fd = idle->fds[i], .events = POLLIN | POLLRDHUP};
        if (poll(&p, 1, 0) != 0)
            lost++;
    }
    return lost;
}

void idle_close(struct idle_conns *idle)
{
    for (uint64_t i = 0; i < idle->count; i++)
        close(idle->fds[i]);
    free(idle->fds);
    idle->fds = NULL;
    idle->count = 0;
}
