/* reactor.c - the reactor backend: its binding, its wait and its registrations, over any of
 * the pollers (poller.h) -- epoll, poll or select, as the config's backend says.
 *
 * One wait is one turn: first the fds on the ready list run what they may without an event,
 * then the registrations changed since the last turn are applied (ep_register), then one
 * poller wait and each event runs the syscalls its fd's pending ops need.  An event carries
 * the fd and its generation, so an event for an fd closed earlier in the same batch (and maybe
 * reused by an accept since) is dropped.
 */
#include "reactor.h"

#include "fault.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define NS_PER_SEC 1000000000ll

uint32_t ep_wanted_events(const struct ep_state *st, const struct ep_fd *f)
{
    bool reader = f->op[EP_SLOT_ACCEPT] || f->op[EP_SLOT_READ] || (f->op[EP_SLOT_RECV] && !f->starved);
    bool writer = f->op[EP_SLOT_SEND] != NULL;
    /* io_read fds and blocking listeners may block: each syscall there must follow an event. */
    bool level = !st->edge || f->op[EP_SLOT_READ] || (f->op[EP_SLOT_ACCEPT] && f->blocking);
    if (level) /* a starved recv drops EPOLLIN, or LT would report the unread bytes forever */
        return (reader ? EPOLLIN : 0u) | (writer ? EPOLLOUT : 0u);
    /* ET keeps EPOLLIN while anything is pending: an edge costs nothing and clears rd_dry. */
    bool pending = reader || writer || f->op[EP_SLOT_RECV];
    return pending ? EPOLLIN | EPOLLRDHUP | EPOLLET | (writer ? EPOLLOUT : 0u) : 0u;
}

void ep_interest_changed(struct ep_state *st, int fd, struct ep_fd *f)
{
    if (f->verify || ep_wanted_events(st, f) != f->kernel_events)
        ep_list_push(st, EP_LIST_DIRTY, fd, f);
}

int ep_register(struct ep_state *st, int fd, struct ep_fd *f)
{
    uint32_t want = ep_wanted_events(st, f);
    if (want == f->kernel_events && !f->verify)
        return 0;
    f->verify = false;
    if (!want) {
        if (f->kernel_events)
            st->poller->unwatch(st, fd);
        ep_fd_forget(f);
        return 0;
    }
    int err = st->poller->watch(st, fd, f->kernel_events, want, ep_event_tag(fd, f));
    if (err == -ENOENT && f->kernel_events) {
        /* The caller closed the fd itself and the number names another file now: nothing
         * known of the old one holds, and its events (if a dup keeps it alive) are stale.
         * (A listener's mode was learnt anew at submit: see claim().) */
        f->gen++;
        f->rd_dry = false;
        f->stream = false;
        f->peer_shut = false;
        f->kernel_events = 0;
        err = st->poller->watch(st, fd, 0, want, ep_event_tag(fd, f));
    }
    if (err < 0)
        return err;
    f->kernel_events = want;
    return 0;
}

/* Apply every registration changed this turn; an fd epoll refuses ends its ops with the error
 * (queued, so a callback that resubmits cannot loop here). */
static void flush_interest(io_loop *loop, struct ep_state *st)
{
    int fd;
    while ((fd = ep_list_pop(st, &st->lists[EP_LIST_DIRTY], EP_LIST_DIRTY)) >= 0) {
        struct ep_fd *f = ep_table_find(&st->table, fd);
        /* LT: a recv with bytes waiting and no buffer free would be reported only to starve. */
        if (!st->edge && f->op[EP_SLOT_RECV] && !f->starved && !f->rd_dry && !st->pool.free_count)
            ep_recv_starve(st, fd, f);
        int err = ep_register(st, fd, f);
        if (err < 0)
            ep_fd_retire(loop, st, fd, f, err);
    }
}

/* The fds that were ready when the turn began; what they push back waits for the next turn. */
static int run_ready(io_loop *loop, struct ep_state *st)
{
    struct ep_list batch = st->lists[EP_LIST_READY];
    ep_list_init(&st->lists[EP_LIST_READY]);
    int delivered = 0;
    int fd;
    while ((fd = ep_list_pop(st, &batch, EP_LIST_READY)) >= 0)
        delivered += ep_service_read(loop, st, fd, ep_table_find(&st->table, fd), false);
    return delivered;
}

static int dispatch(io_loop *loop, struct ep_state *st, const struct epoll_event *ev)
{
    int fd = (int)(uint32_t)ev->data.u64;
    struct ep_fd *f = ep_table_find(&st->table, fd);
    if (!f || f->gen != (uint32_t)(ev->data.u64 >> 32))
        return 0; /* stale: the fd was closed since, and the number may name a new file */
    uint32_t gen = f->gen;
    int delivered = 0;
    if ((ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && f->op[EP_SLOT_SEND]) {
        delivered += ep_service_write(loop, st, fd, f);
        if (f->gen != gen)
            return delivered;
    }
    if (ev->events & EPOLLRDHUP)
        f->peer_shut = true;
    if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
        f->rd_dry = false;
        delivered += ep_service_read(loop, st, fd, f, true);
    }
    return delivered;
}

struct epoll_event ep_ready_event(const struct ep_state *st, int fd, uint32_t events)
{
    return (struct epoll_event){.events = events, .data.u64 = ep_event_tag(fd, ep_table_find(&st->table, fd))};
}

struct timespec *ep_timeout_ts(int64_t timeout_ns, struct timespec *ts)
{
    if (timeout_ns < 0)
        return NULL;
    *ts = (struct timespec){.tv_sec = (time_t)(timeout_ns / NS_PER_SEC), .tv_nsec = (long)(timeout_ns % NS_PER_SEC)};
    return ts;
}

static int reactor_wait(io_loop *loop, int64_t timeout_ns)
{
    struct ep_state *st = loop->backend_data;
    int delivered = run_ready(loop, st);
    flush_interest(loop, st);
    /* Never sleep on work in hand: completions queued by callbacks, fds still ready. */
    if (delivered || loop->ready_head || st->lists[EP_LIST_READY].head >= 0)
        timeout_ns = 0;
    const struct epoll_event *events;
    int n = st->poller->wait(st, timeout_ns, &events);
    io_core_clock_update(loop);
    if (n < 0)
        return n == -EINTR || delivered ? delivered : n;
    for (int i = 0; i < n; i++) {
        delivered += dispatch(loop, st, &events[i]);
        if (FAULT_HIT(FAULT_EVENT)) /* test builds: the same readiness again, stale by now */
            delivered += dispatch(loop, st, &events[i]);
    }
    return delivered;
}

/* A buffer back in the pool, from the caller or from a recv that did not fill it, wakes the
 * recv that has waited longest for one. */
void ep_buf_put(struct ep_state *st, uint32_t id)
{
    if (!ep_pool_give(&st->pool, id))
        return;
    int fd;
    while ((fd = ep_list_pop(st, &st->lists[EP_LIST_STARVED], EP_LIST_STARVED)) >= 0) {
        struct ep_fd *f = ep_table_find(&st->table, fd);
        if (!f->starved)
            continue; /* its recv ended while it waited */
        f->starved = false;
        f->rd_dry = false;
        ep_list_push(st, EP_LIST_READY, fd, f);
        ep_interest_changed(st, fd, f);
        return;
    }
}

static void reactor_buf_release(io_loop *loop, uint32_t id)
{
    ep_buf_put(loop->backend_data, id);
}

static const struct ep_poller *poller_of(const io_loop_config *cfg)
{
    switch (cfg->backend) {
    case IO_BACKEND_POLL: return &ep_poller_poll;
    case IO_BACKEND_SELECT: return &ep_poller_select;
    default: return &ep_poller_epoll;
    }
}

static const char *backend_name(const struct ep_state *st)
{
    if (st->poller != &ep_poller_epoll)
        return st->poller->name;
    return st->edge ? "epoll-et" : "epoll-lt";
}

static int reactor_init(io_loop *loop, const io_loop_config *cfg)
{
    struct ep_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->poller = poller_of(cfg);
    int err = st->poller->init(st);
    if (err == 0) {
        err = ep_pool_init(&st->pool, loop->buf_count);
        if (err < 0)
            st->poller->destroy(st);
    }
    if (err < 0) {
        free(st);
        return err;
    }
    for (int i = 0; i < EP_LISTS; i++)
        ep_list_init(&st->lists[i]);
    st->edge = st->poller == &ep_poller_epoll && cfg->epoll_mode == IO_EPOLL_ET;
    loop->backend_data = st;
    loop->backend_name = backend_name(st);
    loop->fd_limit = st->poller->fd_limit;
    snprintf(loop->describe, sizeof(loop->describe), "%s: %s pool(%ux%u)", loop->backend_name,
             st->poller->describe(st), loop->buf_count, loop->buf_size);
    return 0;
}

static void reactor_destroy(io_loop *loop)
{
    struct ep_state *st = loop->backend_data;
    if (!st)
        return;
    st->poller->destroy(st);
    ep_table_free(&st->table);
    ep_pool_free(&st->pool);
    free(st);
    loop->backend_data = NULL;
}

static void reactor_report(FILE *out)
{
    ep_poller_epoll.report(out);
    ep_poller_poll.report(out);
    ep_poller_select.report(out);
}

/* Readiness has no way to reach another thread's loop: posts go through its inbox. */
static int reactor_post(io_loop *from, io_loop *to, io_post *post)
{
    return -EOPNOTSUPP;
}

/* Nothing is ever queued between iterations here. */
static void reactor_flush(io_loop *loop)
{
}

IO_BACKEND_DEFINE(io_backend_reactor, "reactor", reactor);
