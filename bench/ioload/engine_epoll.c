/* engine_epoll.c - the readiness engine: one epoll per worker, every socket registered once,
 * edge-triggered for both directions, so no epoll_ctl() is needed per request.
 *
 * A readiness event costs one recv() into the engine's read buffer (a short read means the
 * socket is drained, so there is no extra recv() that only returns EAGAIN) and the worker's
 * answer to it one send().  Write interest is always registered: an EPOLLOUT edge comes only
 * when a full send buffer drains, which is exactly when the worker wants to hear of it.
 */
#include "engine.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EVENTS_MAX 512
#define READ_BUFFER_BYTES (64 * 1024)

struct engine {
    struct worker *w;
    int epfd;
    uint8_t rbuf[READ_BUFFER_BYTES];
    struct epoll_event events[EVENTS_MAX];
};

/* The generation rides in the event so an event for a replaced connection is dropped. */
static uint64_t event_tag(const struct conn *c)
{
    return (uint64_t)c->generation << 32 | c->index;
}

static int epoll_create_engine(struct engine **out, struct worker *w, uint32_t connections)
{
    (void)connections;
    struct engine *e = malloc(sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->w = w;
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0) {
        int rc = -errno;
        free(e);
        return rc;
    }
    *out = e;
    return 0;
}

static int epoll_start(struct engine *e)
{
    (void)e;
    return 0;
}

static void epoll_destroy(struct engine *e)
{
    close(e->epfd);
    free(e);
}

static int epoll_connect(struct engine *e, struct conn *c, const struct sockaddr *addr,
                         socklen_t len)
{
    if (connect(c->fd, addr, len) < 0 && errno != EINPROGRESS)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = event_tag(c)};
    return epoll_ctl(e->epfd, EPOLL_CTL_ADD, c->fd, &ev) == 0 ? 0 : -errno;
}

static long epoll_send(struct engine *e, struct conn *c, const uint8_t *data, size_t len)
{
    (void)e;
    for (;;) {
        ssize_t put = send(c->fd, data, len, MSG_NOSIGNAL);
        if (put >= 0)
            return put;
        if (errno != EINTR)
            return -errno;
    }
}

static void epoll_close(struct engine *e, struct conn *c)
{
    (void)e;
    close(c->fd);          /* also leaves the epoll set: nobody else holds the file */
}

static void report_connect(struct engine *e, struct conn *c, uint32_t events)
{
    int error = 0;
    socklen_t len = sizeof(error);
    if (events & (EPOLLERR | EPOLLHUP)) {
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0 || error == 0)
            error = ECONNREFUSED;
        worker_on_connected(e->w, c, -error);
    } else if (events & EPOLLOUT) {
        worker_on_connected(e->w, c, 0);
    }
}

/* Edge-triggered: a short read means drained, unless the peer also hung up, in which case
 * only reading on to EOF reports it. */
static void report_readable(struct engine *e, struct conn *c, uint32_t events)
{
    uint16_t generation = c->generation;
    bool hangup = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    while (conn_current(c, generation)) {
        ssize_t got = recv(c->fd, e->rbuf, sizeof(e->rbuf), 0);
        if (got > 0) {
            worker_on_data(e->w, c, e->rbuf, (size_t)got);
            if ((size_t)got < sizeof(e->rbuf) && !hangup)
                return;
        } else if (got == 0) {
            worker_on_eof(e->w, c);
            return;
        } else if (errno == EAGAIN) {
            return;
        } else if (errno != EINTR) {
            worker_on_error(e->w, c, -errno);
            return;
        }
    }
}

static void report(struct engine *e, const struct epoll_event *ev)
{
    struct conn *c = worker_conn(e->w, (uint32_t)ev->data.u64);
    uint16_t generation = (uint16_t)(ev->data.u64 >> 32);
    if (!conn_current(c, generation))
        return;
    if (c->state == CONN_CONNECTING) {
        report_connect(e, c, ev->events);
        if (!conn_current(c, generation) || c->state == CONN_CONNECTING)
            return;
    }
    if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        report_readable(e, c, ev->events);
        if (!conn_current(c, generation))
            return;
    }
    if ((ev->events & EPOLLOUT) && c->out_bytes > 0)
        worker_on_writable(e->w, c);
}

static int epoll_wait_engine(struct engine *e, uint64_t timeout_ns)
{
    struct timespec wait = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
                            .tv_nsec = (long)(timeout_ns % 1000000000u)};
    int ready = epoll_pwait2(e->epfd, e->events, EVENTS_MAX, &wait, NULL);
    if (ready < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < ready; i++)
        report(e, &e->events[i]);
    return 0;
}

const struct engine_ops engine_epoll = {
    .name = "epoll",
    .socket_flags = SOCK_NONBLOCK,
    .create = epoll_create_engine,
    .start = epoll_start,
    .destroy = epoll_destroy,
    .connect = epoll_connect,
    .send = epoll_send,
    .close = epoll_close,
    .wait = epoll_wait_engine,
};
