/* server.c - the loops, their listeners, connections and threads, and the signals (server.h).
 *
 * Each loop is set up and destroyed on its own thread: a ring may be entered only by the task
 * that created it (SINGLE_ISSUER), and loop.h rule 7 wants one thread per loop anyway.  The only
 * thing threads share after start-up is the eventfds: a write() from any thread wakes a loop.
 *
 * Shutdown order on one loop: the signal (loop 0 reads it, the others hear it through their
 * eventfd) closes the listener (which cancels the accept, loop.h rule 6), cancels an accept
 * back-off and asks the conn_set to stop every connection; when the set is empty the wake read
 * is cancelled and the loop, with nothing left in flight, returns.  Loop 0 goes on reading
 * signals until every loop is empty, so that a second signal reaches the stragglers too.
 */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* After an accept failed for want of fds or memory, wait this long before accepting again. */
#define ACCEPT_BACKOFF_MS 100u

struct server_loop {
    server *s;
    unsigned index;
    io_loop *loop;
    conn_set *conns;
    void *proto_arg;
    int listen_fd;        /* -1 on the loops that only serve (--accept dispatch) */
    unsigned next_loop;   /* dispatch: the loop the next connection goes to */
    int wake_fd;          /* eventfd: each unit is one signal for this loop */
    uint64_t wakes;
    io_op accept_op, backoff_op, listen_close_op, wake_op;
    bool accept_armed, backoff_armed, backoff_wanted, wake_armed;
    bool stopping, drained;
    bool announced;       /* on_loop told that this loop serves */
    pthread_t thread;
    bool thread_started;
    int setup_result;     /* the thread's loop_setup(), read once every thread has reported */
    int result;           /* the loop's run: 0 or -errno */
    conn_set_stats stats; /* kept when the thread tears its loop down */
    char why[256];        /* start-up failure, in words */
};

struct server {
    const struct proto *proto;
    enum server_accept accept_mode;
    io_loop_config loop_cfg;
    uint32_t max_conns;   /* for the whole server: open_conns is shared by the loops */
    atomic_uint open_conns;
    uint64_t shutdown_timeout_ms;
    bool share_port;
    void (*on_stopping)(void *arg);
    void *on_stopping_arg;
    bool own_signals;          /* the application's: no signalfd, server_stop() instead */
    atomic_uint stop_calls;    /* server_stop(): the first two each post a stop to loop 0 */
    io_post stop_posts[2];
    uint64_t send_timeout_ms;
    void (*on_loop)(void *arg, unsigned index, io_loop *loop);
    void *on_loop_arg;
    net_addr bound;
    bool adopting;        /* the loops serve the config's listener_fds, not ones they bind */
    unsigned nloops;
    struct server_loop *loops;
    int signal_fd;
    sigset_t old_mask;
    bool signals_blocked;
    struct signalfd_siginfo siginfo;
    io_op signal_op;
    bool signal_armed;
    bool finished;             /* loop 0: every loop has drained, stop reading signals */
    atomic_uint loops_drained; /* loops whose connections are all gone */
    bool ran, joined;
    int start_err;             /* server_start: 0, or why loop 0 cannot serve */
    /* threads report their setup, and their loop's end, here; they keep their loop until
     * released, so that a worker still inside io_loop_post() never meets a destroyed one */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned reported, stopped;
    bool released;
};

/* ---- accepting ---- */

static void start_accepting(struct server_loop *l);

/* ---- dispatch: the accepting loop deals connections round-robin ---- */

struct handoff {
    io_post post;
    struct server_loop *to;
    int fd;
};

static void on_handoff(io_loop *loop, io_post *post)
{
    struct handoff *h = post->data;
    conn_accept(h->to->conns, h->fd, h->to->s->proto, h->to->proto_arg);
    free(h);
}

/* Once stopping, the other loops may be gone: what is still accepted is refused here. */
static void hand_over(struct server_loop *l, int fd)
{
    server *s = l->s;
    struct server_loop *to = l;
    if (s->accept_mode == SERVER_ACCEPT_DISPATCH && !l->stopping) {
        to = &s->loops[l->next_loop];
        l->next_loop = (l->next_loop + 1) % s->nloops;
    }
    struct handoff *h = to == l ? NULL : malloc(sizeof(*h));
    if (h) {
        *h = (struct handoff){.post = {.fn = on_handoff, .data = h}, .to = to, .fd = fd};
        if (io_loop_post(l->loop, to->loop, &h->post) == 0)
            return;
        free(h);
    }
    conn_accept(l->conns, fd, s->proto, l->proto_arg);
}

static bool accept_error_is_resource(int res)
{
    return res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM;
}

static void on_backoff(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct server_loop *l = op->data;
    l->backoff_armed = false;
    if (!l->stopping)
        start_accepting(l);
}

static void on_accept(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct server_loop *l = op->data;
    if (!(flags & IO_CQE_MORE))
        l->accept_armed = false;
    if (res >= 0) {
        hand_over(l, res);
    } else if (accept_error_is_resource(res) && !l->stopping) {
        /* Retrying at once would spin while the limit lasts. */
        l->backoff_wanted = true;
        if (l->accept_armed)
            io_cancel(loop, op);
    }
    if (!l->accept_armed && !l->stopping)
        start_accepting(l);
}

static void start_accepting(struct server_loop *l)
{
    if (l->backoff_wanted) {
        l->backoff_wanted = false;
        if (io_timeout(l->loop, &l->backoff_op, ACCEPT_BACKOFF_MS, on_backoff, l) == 0) {
            l->backoff_armed = true;
            return;
        }
    }
    /* A handed-over listener outlives this process: a multishot accept would let the kernel take
     * every queued connection into this process's ring, even as it dies; one at a time, a
     * crash takes at most the one being accepted, and the rest wait for the next worker. */
    unsigned flags = l->s->adopting ? 0 : IO_MULTISHOT;
    if (io_accept(l->loop, &l->accept_op, l->listen_fd, flags, on_accept, l) == 0) {
        l->accept_armed = true;
        return;
    }
    /* The loop could not take the accept now: try again shortly rather than never. */
    if (io_timeout(l->loop, &l->backoff_op, ACCEPT_BACKOFF_MS, on_backoff, l) == 0)
        l->backoff_armed = true;
}

/* ---- stopping ---- */

/* Safe from any thread: the eventfd is the only thing touched. */
static void wake(struct server_loop *l)
{
    uint64_t one = 1;
    ssize_t n = write(l->wake_fd, &one, sizeof(one));
    (void)n; /* only EAGAIN at a counter near 2^64: the loop is woken already */
}


static void on_listen_closed(io_loop *loop, io_op *op, int res, unsigned flags)
{
}

static bool all_drained(server *s)
{
    return atomic_load(&s->loops_drained) == s->nloops;
}

/* Loop 0 is the last to end: until then it reads the signals, so that a second one still
 * reaches the loops that have connections left. */
static void finish_first(server *s)
{
    struct server_loop *first = &s->loops[0];
    s->finished = true;
    if (first->wake_armed)
        io_cancel(first->loop, &first->wake_op);
    if (s->signal_armed)
        io_cancel(first->loop, &s->signal_op);
}

/* server_config.on_loop, on l's thread: up once set up, down once it serves no more. */
static void announce(struct server_loop *l, bool up)
{
    server *s = l->s;
    if (!s->on_loop || l->announced == up)
        return;
    l->announced = up;
    s->on_loop(s->on_loop_arg, l->index, up ? l->loop : NULL);
}

static void on_drained(conn_set *set, void *arg)
{
    struct server_loop *l = arg;
    server *s = l->s;
    l->drained = true;
    announce(l, false);
    bool last = atomic_fetch_add(&s->loops_drained, 1) + 1 == s->nloops;
    if (l->index == 0) {
        if (last)
            finish_first(s);
        return;
    }
    if (l->wake_armed)
        io_cancel(l->loop, &l->wake_op);
    if (last)
        wake(&s->loops[0]); /* loop 0 may end now */
}

static void stop_accepting(struct server_loop *l)
{
    if (l->listen_fd < 0)
        return;
    if (l->backoff_armed)
        io_cancel(l->loop, &l->backoff_op);
    if (io_close(l->loop, &l->listen_close_op, l->listen_fd, on_listen_closed, l) < 0) {
        if (l->accept_armed)
            io_cancel(l->loop, &l->accept_op);
        close(l->listen_fd);
    }
    l->listen_fd = -1;
}

static void begin_shutdown(struct server_loop *l)
{
    l->stopping = true;
    stop_accepting(l);
    if (conn_set_shutdown(l->conns, l->s->shutdown_timeout_ms, on_drained, l) < 0) {
        /* No timer for the grace period: close everything now instead. */
        conn_set_abort_all(l->conns);
        on_drained(l->conns, l);
    }
}

/* One signal for this loop: the first starts the shutdown, a later one stops waiting for peers. */
static void take_signal(struct server_loop *l)
{
    if (l->drained)
        return;
    if (l->stopping)
        conn_set_abort_all(l->conns);
    else
        begin_shutdown(l);
}

static void read_wake(struct server_loop *l);

static void on_wake(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct server_loop *l = op->data;
    server *s = l->s;
    l->wake_armed = false;
    if (res == -ECANCELED)
        return;
    if (res == (int)sizeof(l->wakes))
        for (uint64_t i = 0; i < l->wakes && i < 2; i++)
            take_signal(l);
    if (l->index == 0) {
        if (all_drained(s))
            finish_first(s);
        else if (!s->finished)
            read_wake(l);
    } else if (!l->drained) {
        read_wake(l);
    }
}

static void read_wake(struct server_loop *l)
{
    if (io_read(l->loop, &l->wake_op, l->wake_fd, &l->wakes, sizeof(l->wakes), IO_OFFSET_CURRENT, on_wake,
                l) == 0)
        l->wake_armed = true;
}

static void read_signal(server *s);

/* A stop on loop 0, by a signal or server_stop(): the first starts the shutdown, a later one
 * aborts what is left.  Loop 0 stops accepting before any other loop may end: it never posts
 * to a gone one. */
static void take_stop(server *s)
{
    if (!s->loops[0].stopping && s->on_stopping)
        s->on_stopping(s->on_stopping_arg);
    take_signal(&s->loops[0]);
    for (unsigned i = 1; i < s->nloops; i++)
        wake(&s->loops[i]);
}

static void on_stop_post(io_loop *loop, io_post *post)
{
    server *s = post->data;
    if (!s->finished)
        take_stop(s);
}

int server_stop(server *s)
{
    unsigned call = atomic_fetch_add(&s->stop_calls, 1);
    if (call >= 2)
        return 0; /* the second one aborts everything already */
    s->stop_posts[call] = (io_post){.fn = on_stop_post, .data = s};
    return io_loop_post(NULL, s->loops[0].loop, &s->stop_posts[call]);
}

static void on_signal(io_loop *loop, io_op *op, int res, unsigned flags)
{
    server *s = op->data;
    s->signal_armed = false;
    if (res == -ECANCELED || s->finished)
        return;
    if (res == (int)sizeof(s->siginfo) && (s->siginfo.ssi_signo == SIGHUP || s->siginfo.ssi_signo == SIGUSR1)) {
        fprintf(stderr, "ioserve: SIG%s: no log file to reopen; serving on\n", sigabbrev_np((int)s->siginfo.ssi_signo));
    } else if (res == (int)sizeof(s->siginfo)) {
        take_stop(s);
    }
    if (!s->finished)
        read_signal(s);
}

static void read_signal(server *s)
{
    if (io_read(s->loops[0].loop, &s->signal_op, s->signal_fd, &s->siginfo, sizeof(s->siginfo),
                IO_OFFSET_CURRENT, on_signal, s) == 0)
        s->signal_armed = true;
}

/* Arm the wake read and the accept; a loop that cannot do either winds down at once. */
static int start_loop(struct server_loop *l)
{
    read_wake(l);
    if (!l->wake_armed)
        return -ENOMEM;
    if (l->listen_fd < 0)
        return 0;
    start_accepting(l);
    if (!l->accept_armed && !l->backoff_armed) {
        begin_shutdown(l);
        return -ENOMEM;
    }
    return 0;
}

/* ---- setting up ---- */

static int fail(char *why, size_t why_len, int err, const char *what)
{
    char text[128];
    snprintf(why, why_len, "%s: %s", what, net_strerror(err, text, sizeof(text)));
    return err;
}

static int signals_setup(server *s)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    /* logrotate and `systemctl reload` send these: by default they would kill the server. */
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGUSR1);
    int err = pthread_sigmask(SIG_BLOCK, &mask, &s->old_mask);
    if (err)
        return -err;
    s->signals_blocked = true;
    s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->signal_fd < 0)
        return -errno;
    return 0;
}

/* The loop, its connections and its listener, on the thread that will run it. */
static int loop_setup(struct server_loop *l, const net_addr *addr)
{
    server *s = l->s;
    char what[96];
    int err = io_loop_create(&l->loop, &s->loop_cfg);
    if (err < 0) {
        static const char *const names[] = {[IO_BACKEND_AUTO] = "any backend", [IO_BACKEND_URING] = "io_uring",
            [IO_BACKEND_EPOLL] = "epoll", [IO_BACKEND_POLL] = "poll", [IO_BACKEND_SELECT] = "select"};
        const char *name = names[s->loop_cfg.backend];
        snprintf(what, sizeof(what), "cannot set up %s", name);
        return fail(l->why, sizeof(l->why), err, what);
    }
    conn_set_config set_cfg = {.max_conns = s->max_conns, .shared_open = s->nloops > 1 ? &s->open_conns : NULL,
                               .send_timeout_ms = s->send_timeout_ms};
    err = conn_set_create(&l->conns, l->loop, &set_cfg);
    if (err < 0)
        return fail(l->why, sizeof(l->why), err, "cannot set up connections");
    if ((s->accept_mode == SERVER_ACCEPT_DISPATCH && l->index > 0) || s->adopting)
        return 0; /* loop 0 accepts for everyone, or the listener was handed over */
    /* Loop 0 binds first: the others join its port, which nobody else may hold unless shared. */
    unsigned flags = s->nloops > 1 || s->share_port ? NET_REUSEPORT : 0;
    if (l->index == 0 && !s->share_port)
        flags |= NET_EXCLUSIVE;
    l->listen_fd = net_listen(addr, flags);
    if (l->listen_fd < 0) {
        char text[NET_ADDR_TEXT_MAX];
        snprintf(what, sizeof(what), "cannot listen on %s%s", net_addr_format(addr, text, sizeof(text)),
                 l->listen_fd == -EADDRINUSE && !s->share_port ? " (--reuseport-share to share it)" : "");
        return fail(l->why, sizeof(l->why), l->listen_fd, what);
    }
    return 0;
}

static void loop_teardown(struct server_loop *l)
{
    if (l->conns)
        l->stats = conn_set_get_stats(l->conns);
    if (l->listen_fd >= 0)
        close(l->listen_fd);
    l->listen_fd = -1;
    conn_set_destroy(l->conns);
    l->conns = NULL;
    io_loop_destroy(l->loop);
    l->loop = NULL;
}

static void report_setup(server *s)
{
    pthread_mutex_lock(&s->lock);
    s->reported++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void *loop_thread(void *arg)
{
    struct server_loop *l = arg;
    server *s = l->s;
    l->setup_result = loop_setup(l, &s->bound);
    bool ok = l->setup_result == 0;
    if (ok)
        announce(l, true);
    report_setup(s); /* after this, only this thread touches l until it is joined */
    if (ok) {
        int err = start_loop(l);
        int run = io_loop_run(l->loop);
        l->result = err ? err : run;
        announce(l, false); /* a run that failed never drained */
    }
    pthread_mutex_lock(&s->lock);
    s->stopped++;
    pthread_cond_broadcast(&s->cond);
    while (!s->released)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    loop_teardown(l);
    return NULL;
}

/* Start threads 1..N-1 and wait until each has said whether its loop is up. */
static int start_threads(server *s, char *why, size_t why_len)
{
    unsigned started = 1;
    for (unsigned i = 1; i < s->nloops; i++) {
        struct server_loop *l = &s->loops[i];
        int err = pthread_create(&l->thread, NULL, loop_thread, l);
        if (err) {
            fail(why, why_len, -err, "cannot start a thread");
            break;
        }
        l->thread_started = true;
        started++;
    }
    pthread_mutex_lock(&s->lock);
    while (s->reported < started - 1)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    if (started < s->nloops)
        return -EAGAIN;
    for (unsigned i = 1; i < s->nloops; i++) {
        if (s->loops[i].setup_result < 0) {
            snprintf(why, why_len, "loop %u: %s", i, s->loops[i].why);
            return s->loops[i].setup_result;
        }
    }
    return 0;
}

static int server_setup(server *s, const server_config *cfg, char *why, size_t why_len)
{
    for (unsigned i = 0; i < s->nloops; i++) {
        struct server_loop *l = &s->loops[i];
        l->s = s;
        l->index = i;
        l->proto_arg = cfg->proto_args ? cfg->proto_args[i] : cfg->proto_arg;
        l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (l->wake_fd < 0)
            return fail(why, why_len, -errno, "eventfd");
    }
    /* Before any thread starts, so that every thread inherits the blocked signals. */
    /* A peer that goes away must not kill the server (sends use MSG_NOSIGNAL too). */
    signal(SIGPIPE, SIG_IGN);
    int err = s->own_signals ? 0 : signals_setup(s);
    if (err < 0)
        return fail(why, why_len, err, "cannot read signals");
    struct server_loop *first = &s->loops[0];
    err = loop_setup(first, &cfg->listen);
    if (err < 0) {
        snprintf(why, why_len, "%s", first->why);
        return err;
    }
    announce(first, true);
    /* The others bind where the first did: the real port when 0 was asked. */
    err = net_addr_local(first->listen_fd, &s->bound);
    if (err < 0)
        return fail(why, why_len, err, "getsockname");
    return start_threads(s, why, why_len);
}

int server_create(server **out, const server_config *cfg, char *why, size_t why_len)
{
    unsigned n = cfg->threads ? cfg->threads : 1;
    unsigned accepting = cfg->accept == SERVER_ACCEPT_DISPATCH ? 1 : n;
    bool fits = n <= SERVER_MAX_THREADS && (cfg->listener_count == 0 || cfg->listener_count == accepting);
    server *s = fits ? calloc(1, sizeof(*s)) : NULL;
    struct server_loop *loops = s ? calloc(n, sizeof(*loops)) : NULL;
    if (!loops) {
        for (unsigned i = 0; i < cfg->listener_count; i++)
            close(cfg->listener_fds[i]); /* owned whatever the outcome */
        free(s);
        return fits ? fail(why, why_len, -ENOMEM, "server")
                    : fail(why, why_len, -EINVAL, "threads or listeners handed over");
    }
    for (unsigned i = 0; i < n; i++) {
        loops[i].wake_fd = -1;
        loops[i].listen_fd = i < cfg->listener_count ? cfg->listener_fds[i] : -1;
    }
    s->loops = loops;
    s->nloops = n;
    s->signal_fd = -1;
    s->adopting = cfg->listener_count > 0;
    s->proto = cfg->proto;
    s->accept_mode = cfg->accept;
    s->loop_cfg = cfg->loop;
    s->max_conns = cfg->max_conns;
    s->share_port = cfg->share_port;
    s->on_stopping = cfg->on_stopping;
    s->on_stopping_arg = cfg->on_stopping_arg;
    s->own_signals = cfg->own_signals;
    s->send_timeout_ms = cfg->send_timeout_ms;
    s->shutdown_timeout_ms = cfg->shutdown_timeout_ms ? cfg->shutdown_timeout_ms : SERVER_DEFAULT_SHUTDOWN_TIMEOUT_MS;
    s->on_loop = cfg->on_loop;
    s->on_loop_arg = cfg->on_loop_arg;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    int err = server_setup(s, cfg, why, why_len);
    if (err < 0) {
        server_destroy(s);
        return err;
    }
    *out = s;
    return 0;
}

static unsigned threads_started(const server *s)
{
    unsigned n = 0;
    for (unsigned i = 1; i < s->nloops; i++)
        n += s->loops[i].thread_started;
    return n;
}

/* Until every other loop has stopped; wake them first when no signal did. */
static void wait_loops(server *s, bool wake_them)
{
    if (wake_them)
        for (unsigned i = 1; i < s->nloops; i++)
            wake(&s->loops[i]);
    unsigned started = threads_started(s);
    pthread_mutex_lock(&s->lock);
    while (s->stopped < started)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

/* Let the threads destroy their loops (each on its own thread) and end. */
static void join_threads(server *s)
{
    if (s->joined)
        return;
    s->joined = true;
    pthread_mutex_lock(&s->lock);
    s->released = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    for (unsigned i = 1; i < s->nloops; i++)
        if (s->loops[i].thread_started)
            pthread_join(s->loops[i].thread, NULL);
}

void server_destroy(server *s)
{
    if (!s)
        return;
    if (!s->ran) {
        announce(&s->loops[0], false); /* it never served: the others must not post to it */
        wait_loops(s, true);
    }
    join_threads(s);
    loop_teardown(&s->loops[0]);
    for (unsigned i = 0; i < s->nloops; i++)
        if (s->loops[i].wake_fd >= 0)
            close(s->loops[i].wake_fd);
    if (s->signal_fd >= 0)
        close(s->signal_fd);
    for (unsigned i = 1; i < s->nloops; i++) /* handed over to threads that never ran */
        if (!s->loops[i].thread_started && s->loops[i].listen_fd >= 0)
            close(s->loops[i].listen_fd);
    if (s->signals_blocked)
        pthread_sigmask(SIG_SETMASK, &s->old_mask, NULL);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s->loops);
    free(s);
}

int server_start(server *s)
{
    if (s->ran)
        return s->start_err;
    s->ran = true;
    if (!s->own_signals)
        read_signal(s);
    s->start_err = s->signal_armed || s->own_signals ? start_loop(&s->loops[0]) : -ENOMEM;
    return s->start_err;
}

int server_run(server *s)
{
    struct server_loop *first = &s->loops[0];
    int err = server_start(s);
    if (!s->signal_armed && !s->own_signals) {
        wait_loops(s, true);
        return err;
    }
    if (err < 0) /* this loop cannot serve: stop the others too */
        for (unsigned i = 1; i < s->nloops; i++)
            wake(&s->loops[i]);
    int run = io_loop_run(first->loop);
    announce(first, false);
    first->stats = conn_set_get_stats(first->conns);
    /* Loop 0 returns once every loop has drained (or when it failed: then wake the others). */
    wait_loops(s, run < 0);
    if (err == 0)
        err = run;
    for (unsigned i = 1; i < s->nloops && err == 0; i++)
        err = s->loops[i].result;
    return err;
}

void server_describe(const server *s, char *line, size_t len)
{
    char addr[NET_ADDR_TEXT_MAX];
    const io_loop *loop = s->loops[0].loop;
    const char *name = io_loop_backend_name(loop);
    const char *describe = io_loop_describe(loop);
    size_t name_len = strlen(name);
    /* The description usually starts with the backend's name already; say it once. */
    bool named = strncmp(describe, name, name_len) == 0 && describe[name_len] == ':';
    const char *accepting = s->nloops == 1                              ? ""
                            : s->accept_mode == SERVER_ACCEPT_DISPATCH ? " (loop 0 accepts and deals round-robin)"
                            : s->adopting                              ? " (an inherited SO_REUSEPORT listener each)"
                                                                       : " (a SO_REUSEPORT listener each)";
    snprintf(line, len, "%s on %s, backend %s%s%s; %u thread%s%s", s->proto->name,
             net_addr_format(&s->bound, addr, sizeof(addr)), named ? "" : name, named ? "" : ": ", describe,
             s->nloops, s->nloops == 1 ? "" : "s", accepting);
}

conn_set_stats server_stats(const server *s)
{
    conn_set_stats sum = {0};
    for (unsigned i = 0; i < s->nloops; i++) {
        const struct server_loop *l = &s->loops[i];
        conn_set_stats one = l->conns ? conn_set_get_stats(l->conns) : l->stats;
        sum.open += one.open;
        sum.accepted += one.accepted;
        sum.rejected += one.rejected;
    }
    return sum;
}
