/* epoll.c - the epoll backend (reactor): its binding, its wait and its registrations.
 *
 * One wait is one turn: first the fds on the ready list run what they may without an event,
 * then the registrations changed since the last turn are applied (ep_register), then one
 * epoll_wait (epoll_pwait2 where it works, for ns timeouts) and each event runs the syscalls
 * its fd's pending ops need.  epoll_data carries the fd and its generation, so an event for an
 * fd closed earlier in the same batch (and maybe reused by an accept since) is dropped.
 *
 * The functions are prefixed reactor_, not epoll_: epoll_wait and friends are libc's.
 */
#include "reactor.h"

#include "fault.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_SEC 1000000000ll
#define NS_PER_MS 1000000ll

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

static uint64_t event_tag(int fd, const struct ep_fd *f)
{
    return (uint64_t)f->gen << 32 | (uint32_t)fd;
}

int ep_register(struct ep_state *st, int fd, struct ep_fd *f)
{
    uint32_t want = ep_wanted_events(st, f);
    if (want == f->kernel_events && !f->verify)
        return 0;
    f->verify = false;
    if (!want) {
        if (f->kernel_events)
            epoll_ctl(st->epfd, EPOLL_CTL_DEL, fd, NULL);
        ep_fd_forget(f);
        return 0;
    }
    struct epoll_event ev = {.events = want, .data.u64 = event_tag(fd, f)};
    if (f->kernel_events) {
        if (epoll_ctl(st->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) {
            f->kernel_events = want;
            return 0;
        }
        if (errno != ENOENT)
            return -errno;
        /* The caller closed the fd itself and the number names another file now: nothing
         * known of the old one holds, and its events (if a dup keeps it alive) are stale.
         * (A listener's mode was learnt anew at submit: see claim().) */
        f->gen++;
        f->rd_dry = false;
        f->stream = false;
        f->peer_shut = false;
        f->kernel_events = 0;
        ev.data.u64 = event_tag(fd, f);
    }
    if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
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
            ep_fd_retire(loop, f, err);
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

static int wait_pwait2(int epfd, struct epoll_event *events, int max, int64_t timeout_ns)
{
#ifdef SYS_epoll_pwait2
    struct timespec ts = {.tv_sec = (time_t)(timeout_ns / NS_PER_SEC), .tv_nsec = (long)(timeout_ns % NS_PER_SEC)};
    long n = syscall(SYS_epoll_pwait2, epfd, events, max, timeout_ns < 0 ? NULL : &ts, NULL, (size_t)(_NSIG / 8));
    return n < 0 ? -errno : (int)n;
#else
    (void)epfd, (void)events, (void)max, (void)timeout_ns;
    return -ENOSYS;
#endif
}

static int wait_events(struct ep_state *st, int64_t timeout_ns)
{
    if (st->pwait2)
        return wait_pwait2(st->epfd, st->events, EP_EVENT_BATCH, timeout_ns);
    int ms = -1;
    if (timeout_ns >= 0) /* round up: waking early would only spin until the deadline */
        ms = timeout_ns >= (int64_t)INT_MAX * NS_PER_MS ? INT_MAX : (int)((timeout_ns + NS_PER_MS - 1) / NS_PER_MS);
    int n = epoll_wait(st->epfd, st->events, EP_EVENT_BATCH, ms);
    return n < 0 ? -errno : n;
}

static int reactor_wait(io_loop *loop, int64_t timeout_ns)
{
    struct ep_state *st = loop->backend_data;
    int delivered = run_ready(loop, st);
    flush_interest(loop, st);
    /* Never sleep on work in hand: completions queued by callbacks, fds still ready. */
    if (delivered || loop->ready_head || st->lists[EP_LIST_READY].head >= 0)
        timeout_ns = 0;
    int n = wait_events(st, timeout_ns);
    io_core_clock_update(loop);
    if (n < 0)
        return n == -EINTR || delivered ? delivered : n;
    for (int i = 0; i < n; i++) {
        delivered += dispatch(loop, st, &st->events[i]);
        if (FAULT_HIT(FAULT_EVENT)) /* test builds: the same readiness again, stale by now */
            delivered += dispatch(loop, st, &st->events[i]);
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

/* 0 when epoll_pwait2 works on epfd, else -errno (ENOSYS: kernel or headers predate it). */
static void reactor_buf_release(io_loop *loop, uint32_t id)
{
    ep_buf_put(loop->backend_data, id);
}

static int probe_pwait2(int epfd)
{
    struct epoll_event ev;
    int n = wait_pwait2(epfd, &ev, 1, 0);
    return n < 0 ? n : 0;
}

static int reactor_init(io_loop *loop, const io_loop_config *cfg)
{
    struct ep_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    int err = st->epfd < 0 ? -errno : ep_pool_init(&st->pool, loop->buf_count);
    if (err < 0) {
        if (st->epfd >= 0)
            close(st->epfd);
        free(st);
        return err;
    }
    for (int i = 0; i < EP_LISTS; i++)
        ep_list_init(&st->lists[i]);
    st->edge = cfg->epoll_mode == IO_EPOLL_ET;
    st->pwait2 = probe_pwait2(st->epfd) == 0;
    loop->backend_data = st;
    loop->backend_name = st->edge ? "epoll-et" : "epoll-lt";
    snprintf(loop->describe, sizeof(loop->describe), "%s: %s pool(%ux%u)", loop->backend_name,
             st->pwait2 ? "pwait2" : "epoll_wait(ms)", loop->buf_count, loop->buf_size);
    return 0;
}

static void reactor_destroy(io_loop *loop)
{
    struct ep_state *st = loop->backend_data;
    if (!st)
        return;
    close(st->epfd);
    ep_table_free(&st->table);
    ep_pool_free(&st->pool);
    free(st);
    loop->backend_data = NULL;
}

static void reactor_report(FILE *out)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        fprintf(out, "  epoll: no (%s)\n", strerror(errno));
        return;
    }
    fprintf(out, "  epoll: yes (level- and edge-triggered)\n");
    int err = probe_pwait2(epfd);
    if (err == 0)
        fprintf(out, "  epoll_pwait2: yes (ns timeouts)\n");
    else
        fprintf(out, "  epoll_pwait2: no (%s: timeouts rounded up to ms)\n", strerror(-err));
    close(epfd);
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

IO_BACKEND_DEFINE(io_backend_epoll, "epoll", reactor);
