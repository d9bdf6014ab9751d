/* poller_select.c - readiness from select(2): the interest is two fd_sets kept here, copied
 * for every pselect (which overwrites them) and scanned up to the highest watched fd after it,
 * so each wait costs every fd number up to that one.  An fd_set holds fds below FD_SETSIZE
 * only (1024 with glibc; FD_SET on a higher one writes past it): such an fd is refused with
 * -EMFILE and never touches a set.  A watched fd closed behind the reactor's back fails the
 * whole pselect with EBADF: the closed ones are found and reported as errors, so their ops
 * end with EBADF and the others go on.
 */
#include "reactor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

struct select_set {
    fd_set read, write;        /* watched */
    fd_set read_out, write_out;
    int max_fd;                /* the highest watched; -1: none */
    struct epoll_event ready[FD_SETSIZE];
};

static int select_init(struct ep_state *st)
{
    struct select_set *set = calloc(1, sizeof(*set));
    if (!set)
        return -ENOMEM;
    FD_ZERO(&set->read);
    FD_ZERO(&set->write);
    set->max_fd = -1;
    st->poller_state = set;
    return 0;
}

static void select_destroy(struct ep_state *st)
{
    free(st->poller_state);
}

static bool watched(const struct select_set *set, int fd)
{
    return FD_ISSET(fd, &set->read) || FD_ISSET(fd, &set->write);
}

static int select_watch(struct ep_state *st, int fd, uint32_t old, uint32_t want, uint64_t tag)
{
    struct select_set *set = st->poller_state;
    if (fd < 0 || fd >= FD_SETSIZE)
        return -EMFILE;
    if (want & EPOLLIN)
        FD_SET(fd, &set->read);
    else
        FD_CLR(fd, &set->read);
    if (want & EPOLLOUT)
        FD_SET(fd, &set->write);
    else
        FD_CLR(fd, &set->write);
    if (fd > set->max_fd)
        set->max_fd = fd;
    return 0;
}

static void select_unwatch(struct ep_state *st, int fd)
{
    struct select_set *set = st->poller_state;
    if (fd < 0 || fd >= FD_SETSIZE)
        return;
    FD_CLR(fd, &set->read);
    FD_CLR(fd, &set->write);
    while (set->max_fd >= 0 && !watched(set, set->max_fd))
        set->max_fd--;
}

/* After EBADF: the watched fds that are closed, as errors. */
static int report_closed(struct ep_state *st, struct select_set *set)
{
    int found = 0;
    for (int fd = 0; fd <= set->max_fd; fd++)
        if (watched(set, fd) && fcntl(fd, F_GETFD) < 0 && errno == EBADF)
            set->ready[found++] = ep_ready_event(st, fd, EPOLLERR);
    return found;
}

static int select_wait_ready(struct ep_state *st, int64_t timeout_ns, const struct epoll_event **ready)
{
    struct select_set *set = st->poller_state;
    struct timespec ts;
    *ready = set->ready;
    set->read_out = set->read;
    set->write_out = set->write;
    int n = pselect(set->max_fd + 1, &set->read_out, &set->write_out, NULL, ep_timeout_ts(timeout_ns, &ts), NULL);
    if (n < 0)
        return errno == EBADF ? report_closed(st, set) : -errno;
    int found = 0;
    for (int fd = 0; fd <= set->max_fd && found < n; fd++) {
        uint32_t events = (FD_ISSET(fd, &set->read_out) ? EPOLLIN : 0u) | (FD_ISSET(fd, &set->write_out) ? EPOLLOUT : 0u);
        if (events)
            set->ready[found++] = ep_ready_event(st, fd, events);
    }
    return found;
}

static const char *select_describe(const struct ep_state *st)
{
    return "pselect, fds below FD_SETSIZE";
}

static void select_report(FILE *out)
{
    fprintf(out, "  select: yes (level-triggered; fds below FD_SETSIZE = %d only)\n", FD_SETSIZE);
}

const struct ep_poller ep_poller_select = {
    .name = "select", .init = select_init, .destroy = select_destroy, .watch = select_watch,
    .unwatch = select_unwatch, .wait = select_wait_ready, .describe = select_describe,
    .report = select_report, .fd_limit = FD_SETSIZE,
};
