/* poller_poll.c - readiness from poll(2): the interest is an array of pollfd kept here, handed
 * whole to every ppoll and scanned whole after it, so each wait costs every watched fd.  An fd
 * has its place in the array by a per-number index; leaving fills the hole with the last one.
 * A closed fd still watched comes back as POLLNVAL: reported as an error, its op then fails
 * with EBADF.
 */
#include "reactor.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>

_Static_assert(POLLIN == EPOLLIN && POLLOUT == EPOLLOUT && POLLERR == EPOLLERR && POLLHUP == EPOLLHUP &&
                   POLLRDHUP == EPOLLRDHUP,
               "poll and epoll share their event bits");

struct poll_set {
    struct pollfd *fds;        /* the watched fds, in no order */
    /* Room for cap ready events.  A watch that grows the set allocates the larger array as
     * ready_next, which the next wait takes: dispatch reads `ready` while callbacks watch, and
     * the wait itself never allocates, so running short of memory fails one fd's op (the
     * watch), never the loop. */
    struct epoll_event *ready, *ready_next;
    uint32_t count, cap;
    uint32_t *place;           /* per fd number: its index in fds + 1; 0: not watched */
    uint32_t place_cap;
};

static int poll_init(struct ep_state *st)
{
    struct poll_set *set = calloc(1, sizeof(*set));
    if (!set)
        return -ENOMEM;
    st->poller_state = set;
    return 0;
}

static void poll_destroy(struct ep_state *st)
{
    struct poll_set *set = st->poller_state;
    free(set->fds);
    free(set->ready);
    free(set->ready_next);
    free(set->place);
    free(set);
}

static int grow_places(struct poll_set *set, int fd)
{
    if ((uint32_t)fd < set->place_cap)
        return 0;
    uint32_t n = set->place_cap ? set->place_cap : 64;
    while (n <= (uint32_t)fd)
        n *= 2;
    uint32_t *place = realloc(set->place, n * sizeof(*place));
    if (!place)
        return -ENOMEM;
    for (uint32_t i = set->place_cap; i < n; i++)
        place[i] = 0;
    set->place = place;
    set->place_cap = n;
    return 0;
}

static int grow_fds(struct poll_set *set)
{
    if (set->count < set->cap)
        return 0;
    uint32_t n = set->cap ? set->cap * 2 : 64;
    struct epoll_event *ready = malloc(n * sizeof(*ready));
    if (!ready)
        return -ENOMEM;
    struct pollfd *fds = realloc(set->fds, n * sizeof(*fds));
    if (!fds) {
        free(ready);
        return -ENOMEM;
    }
    free(set->ready_next);
    set->ready_next = ready;
    set->fds = fds;
    set->cap = n;
    return 0;
}

static int poll_watch(struct ep_state *st, int fd, uint32_t old, uint32_t want, uint64_t tag)
{
    struct poll_set *set = st->poller_state;
    short events = (short)(want & (EPOLLIN | EPOLLOUT | EPOLLRDHUP));
    int err = grow_places(set, fd);
    if (err < 0)
        return err;
    if (set->place[fd]) {
        set->fds[set->place[fd] - 1].events = events;
        return 0;
    }
    err = grow_fds(set);
    if (err < 0)
        return err;
    set->fds[set->count++] = (struct pollfd){.fd = fd, .events = events};
    set->place[fd] = set->count;
    return 0;
}

static void poll_unwatch(struct ep_state *st, int fd)
{
    struct poll_set *set = st->poller_state;
    if ((uint32_t)fd >= set->place_cap || !set->place[fd])
        return;
    uint32_t i = set->place[fd] - 1;
    struct pollfd last = set->fds[--set->count];
    set->fds[i] = last;
    set->place[last.fd] = i + 1;
    set->place[fd] = 0;
}

static int poll_wait_ready(struct ep_state *st, int64_t timeout_ns, const struct epoll_event **ready)
{
    struct poll_set *set = st->poller_state;
    struct timespec ts;
    if (set->ready_next) {
        free(set->ready);
        set->ready = set->ready_next;
        set->ready_next = NULL;
    }
    *ready = set->ready;
    int n = ppoll(set->fds, set->count, ep_timeout_ts(timeout_ns, &ts), NULL);
    if (n < 0)
        return -errno;
    int found = 0;
    for (uint32_t i = 0; i < set->count && found < n; i++) {
        const struct pollfd *p = &set->fds[i];
        if (!p->revents)
            continue;
        uint32_t events = (uint32_t)(p->revents & ~POLLNVAL) | (p->revents & POLLNVAL ? EPOLLERR : 0u);
        set->ready[found++] = ep_ready_event(st, p->fd, events);
    }
    return found;
}

static const char *poll_describe(const struct ep_state *st)
{
    return "ppoll";
}

static void poll_report(FILE *out)
{
    fprintf(out, "  poll: yes (level-triggered; each wait hands the kernel every watched fd)\n");
}

const struct ep_poller ep_poller_poll = {
    .name = "poll", .init = poll_init, .destroy = poll_destroy, .watch = poll_watch,
    .unwatch = poll_unwatch, .wait = poll_wait_ready, .describe = poll_describe,
    .report = poll_report, .fd_limit = INT_MAX,
};
