/* poller_epoll.c - readiness from epoll: the interest lives in the kernel, level- or
 * edge-triggered as the reactor asks (EPOLLET in the wanted events), and a wait returns only
 * what is ready.  epoll_pwait2 where it works, for ns timeouts; else epoll_wait in ms.
 */
#include "reactor.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NS_PER_MS 1000000ll

struct epoll_set {
    int epfd;
    bool pwait2; /* epoll_pwait2 works here: ns timeouts */
    struct epoll_event events[EP_EVENT_BATCH];
};

static int wait_pwait2(int epfd, struct epoll_event *events, int max, int64_t timeout_ns)
{
#ifdef SYS_epoll_pwait2
    struct timespec ts;
    long n = syscall(SYS_epoll_pwait2, epfd, events, max, ep_timeout_ts(timeout_ns, &ts), NULL, (size_t)(_NSIG / 8));
    return n < 0 ? -errno : (int)n;
#else
    (void)epfd, (void)events, (void)max, (void)timeout_ns;
    return -ENOSYS;
#endif
}

/* 0 when epoll_pwait2 works on epfd, else -errno (ENOSYS: kernel or headers predate it). */
static int probe_pwait2(int epfd)
{
    struct epoll_event ev;
    int n = wait_pwait2(epfd, &ev, 1, 0);
    return n < 0 ? n : 0;
}

static int epoll_init(struct ep_state *st)
{
    struct epoll_set *set = calloc(1, sizeof(*set));
    if (!set)
        return -ENOMEM;
    set->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (set->epfd < 0) {
        int err = -errno;
        free(set);
        return err;
    }
    set->pwait2 = probe_pwait2(set->epfd) == 0;
    st->poller_state = set;
    return 0;
}

static void epoll_destroy(struct ep_state *st)
{
    struct epoll_set *set = st->poller_state;
    close(set->epfd);
    free(set);
}

static int epoll_watch(struct ep_state *st, int fd, uint32_t old, uint32_t want, uint64_t tag)
{
    struct epoll_set *set = st->poller_state;
    struct epoll_event ev = {.events = want, .data.u64 = tag};
    return epoll_ctl(set->epfd, old ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Explicitly, even before a close: a dup or a child may keep the file open, and epoll with it. */
static void epoll_unwatch(struct ep_state *st, int fd)
{
    struct epoll_set *set = st->poller_state;
    epoll_ctl(set->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static int epoll_wait_ready(struct ep_state *st, int64_t timeout_ns, const struct epoll_event **ready)
{
    struct epoll_set *set = st->poller_state;
    *ready = set->events;
    if (set->pwait2)
        return wait_pwait2(set->epfd, set->events, EP_EVENT_BATCH, timeout_ns);
    int ms = -1;
    if (timeout_ns >= 0) /* round up: waking early would only spin until the deadline */
        ms = timeout_ns >= (int64_t)INT_MAX * NS_PER_MS ? INT_MAX : (int)((timeout_ns + NS_PER_MS - 1) / NS_PER_MS);
    int n = epoll_wait(set->epfd, set->events, EP_EVENT_BATCH, ms);
    return n < 0 ? -errno : n;
}

static const char *epoll_describe(const struct ep_state *st)
{
    const struct epoll_set *set = st->poller_state;
    return set->pwait2 ? "pwait2" : "epoll_wait(ms)";
}

static void epoll_report(FILE *out)
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

const struct ep_poller ep_poller_epoll = {
    .name = "epoll", .init = epoll_init, .destroy = epoll_destroy, .watch = epoll_watch,
    .unwatch = epoll_unwatch, .wait = epoll_wait_ready, .describe = epoll_describe,
    .report = epoll_report, .fd_limit = INT_MAX,
};
