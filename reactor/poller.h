/* poller.h - the readiness half of the reactor: where each fd's wanted events are kept, and
 * the wait that says which fds are ready.  The reactor (reactor.h) does the I/O and keeps the
 * per-fd state; a poller only carries interest to the wait and reports readiness back, as
 * epoll events (epoll and poll(2) share their bit values on Linux) whose data is the tag the
 * reactor gave (gen << 32 | fd), so a stale event is recognised by the reactor alone.
 *
 * Three of them.  epoll keeps the interest in the kernel: one epoll_ctl per change, and a wait
 * costs what is ready.  poll and select keep it here and hand the whole set to every wait: the
 * kernel walks every watched fd, and so does the scan after it, so a wait costs every fd
 * watched, idle or not -- the C10K wall.  Both are level-triggered.  select cannot name an fd
 * at or above FD_SETSIZE: watching one is refused with -EMFILE, never put in an fd_set.
 *
 * Files: poller_epoll.c, poller_poll.c, poller_select.c.
 */
#ifndef IOSERVE_POLLER_H
#define IOSERVE_POLLER_H

#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>

struct ep_state;

struct ep_poller {
    const char *name;
    /* Set up st->poller_state; 0 or -errno.  destroy undoes it. */
    int (*init)(struct ep_state *st);
    void (*destroy)(struct ep_state *st);
    /* Wait for want (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLET) on fd, which had old (0: not
     * watched).  0, or -errno; -ENOENT (epoll only): the number no longer names the file
     * watched under it, so old no longer holds. */
    int (*watch)(struct ep_state *st, int fd, uint32_t old, uint32_t want, uint64_t tag);
    /* Stop watching fd (it was watched). */
    void (*unwatch)(struct ep_state *st, int fd);
    /* Wait at most timeout_ns (-1: no limit); *ready then holds the events: their count, or
     * -errno. */
    int (*wait)(struct ep_state *st, int64_t timeout_ns, const struct epoll_event **ready);
    /* The mechanism in a few words, for io_loop_describe(). */
    const char *(*describe)(const struct ep_state *st);
    /* Print, one "  feature: yes|no (why)" line each, what it can use here. */
    void (*report)(FILE *out);
    int fd_limit; /* fds it can watch are below this */
};

extern const struct ep_poller ep_poller_epoll;
extern const struct ep_poller ep_poller_poll;
extern const struct ep_poller ep_poller_select;

/* The timeout of a wait as a timespec (NULL for -1, no limit), for the p- calls. */
struct timespec *ep_timeout_ts(int64_t timeout_ns, struct timespec *ts);

#endif
