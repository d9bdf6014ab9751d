/* epoll.c - the floor: the smallest honest epoll server, one thread, level-triggered.
 *
 * What any epoll server must pay per request and no more: one epoll_wait per batch of ready
 * sockets, one recv per readable socket, one send per recv.  No framework, no timers, no
 * parser beyond what correctness needs.  Echo writes back every byte read.  HTTP counts
 * complete request heads (a CRLFCRLF, found across reads, so a head split over two reads is
 * answered once, when it is complete) and answers each with the same 200 "Hello, World!" as
 * the other baselines, the answers to one read in one send: pipelined requests are answered in
 * order.  It does not parse the request: bodies, methods and paths are not looked at, which is
 * why it is a floor and not a server.  A send the socket cannot take whole keeps the rest and
 * waits for EPOLLOUT, reading nothing from that client until it is gone.  End of stream or an
 * error closes the connection.  ETX is not spoken (exit status 2). */
#include "baseline.h"
#include "floor.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256

struct conn {
    unsigned matched;            /* bytes of a CRLFCRLF matched at the end of the last read */
    char *pending;               /* what a short send left over, or NULL */
    size_t pending_len, pending_sent;
};

struct floor_server {
    struct floor_base base;
    int epoll_fd;
    struct conn *conns;          /* indexed by fd */
    char in[FLOOR_READ_BUFFER];
};

static void close_conn(struct floor_server *s, int fd)
{
    struct conn *c = &s->conns[fd];
    free(c->pending);
    *c = (struct conn){0};
    close(fd);   /* also drops it from the epoll set */
}

static void watch(struct floor_server *s, int fd, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(s->epoll_fd, op, fd, &ev) != 0)
        close_conn(s, fd);
}

/* Sends what can go now; the rest waits for EPOLLOUT, with reading paused meanwhile. */
static void reply(struct floor_server *s, int fd, const char *bytes, size_t len)
{
    ssize_t sent = send(fd, bytes, len, MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN && errno != EINTR) {
        close_conn(s, fd);
        return;
    }
    size_t done = sent > 0 ? (size_t)sent : 0;
    if (done == len)
        return;
    struct conn *c = &s->conns[fd];
    c->pending = malloc(len - done);
    if (c->pending == NULL) {
        close_conn(s, fd);
        return;
    }
    memcpy(c->pending, bytes + done, len - done);
    c->pending_len = len - done;
    c->pending_sent = 0;
    watch(s, fd, EPOLLOUT, EPOLL_CTL_MOD);
}

static void on_writable(struct floor_server *s, int fd)
{
    struct conn *c = &s->conns[fd];
    ssize_t sent = send(fd, c->pending + c->pending_sent, c->pending_len - c->pending_sent, MSG_NOSIGNAL);
    if (sent < 0) {
        if (errno != EAGAIN && errno != EINTR)
            close_conn(s, fd);
        return;
    }
    c->pending_sent += (size_t)sent;
    if (c->pending_sent < c->pending_len)
        return;
    free(c->pending);
    c->pending = NULL;
    watch(s, fd, EPOLLIN, EPOLL_CTL_MOD);
}

static void on_readable(struct floor_server *s, int fd)
{
    ssize_t n = recv(fd, s->in, sizeof s->in, 0);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            close_conn(s, fd);
        return;
    }
    if (!s->base.http) {
        reply(s, fd, s->in, (size_t)n);
        return;
    }
    size_t heads = floor_count_heads(&s->conns[fd].matched, s->in, (size_t)n);
    if (heads == 0)
        return;
    reply(s, fd, s->base.answers, floor_answer(&s->base, heads));
}

static void accept_all(struct floor_server *s)
{
    int fd;
    while ((fd = accept4(s->base.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        if ((size_t)fd >= s->base.conn_slots) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        watch(s, fd, EPOLLIN, EPOLL_CTL_ADD);
    }
}

static int serve(struct floor_server *s)
{
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int ready = epoll_wait(s->epoll_fd, events, MAX_EVENTS, -1);
        if (ready < 0 && errno != EINTR)
            return -errno;
        for (int i = 0; i < ready; i++) {
            int fd = events[i].data.fd;
            if (fd == s->base.listen_fd)
                accept_all(s);
            else if (s->conns[fd].pending != NULL)
                on_writable(s, fd);
            else
                on_readable(s, fd);
        }
    }
}

/* One slot per possible descriptor, so a connection's state is found by its fd. */
static int setup(struct floor_server *s, int listen_fd, bool http)
{
    int err = floor_base_init(&s->base, listen_fd, http, 1u << 20);
    if (err)
        return err;
    s->conns = calloc(s->base.conn_slots, sizeof *s->conns);
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (s->conns == NULL)
        return -ENOMEM;
    if (s->epoll_fd < 0)
        return -errno;
    int flags = fcntl(listen_fd, F_GETFL);
    if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) != 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listen_fd};
    return epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) == 0 ? 0 : -errno;
}

static int run(int listen_fd, bool http)
{
    struct floor_server server = {0};
    int err = setup(&server, listen_fd, http);
    return err ? err : serve(&server);
}

int main(int argc, char **argv)
{
    return floor_main(argc, argv, "baseline-epoll", run);
}
