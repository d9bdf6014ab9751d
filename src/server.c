/* server.c - the loop, the listener, the connections and the signals of one server (server.h).
 *
 * Shutdown order: the first signal closes the listener (which cancels the accept, loop.h rule
 * 6), cancels an accept back-off, and asks the conn_set to close every connection; when the set
 * is empty the signal read is cancelled and the loop, with nothing left in flight, returns.
 */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* After an accept failed for want of fds or memory, wait this long before accepting again. */
#define ACCEPT_BACKOFF_MS 100u

struct server {
    io_loop *loop;
    conn_set *conns;
    const struct proto *proto;
    void *proto_arg;
    uint64_t grace_ms;
    int listen_fd;
    net_addr bound;
    int signal_fd;
    sigset_t old_mask;
    struct signalfd_siginfo siginfo;
    io_op accept_op, backoff_op, listen_close_op, signal_op;
    bool accept_armed, backoff_armed, backoff_wanted, signal_armed;
    bool stopping, drained;
};

static void start_accepting(server *s);

static bool accept_error_is_resource(int res)
{
    return res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM;
}

static void on_backoff(io_loop *loop, io_op *op, int res, unsigned flags)
{
    server *s = op->data;
    s->backoff_armed = false;
    if (!s->stopping)
        start_accepting(s);
}

static void on_accept(io_loop *loop, io_op *op, int res, unsigned flags)
{
    server *s = op->data;
    if (!(flags & IO_CQE_MORE))
        s->accept_armed = false;
    if (res >= 0) {
        conn_accept(s->conns, res, s->proto, s->proto_arg);
    } else if (accept_error_is_resource(res) && !s->stopping) {
        /* Retrying at once would spin while the limit lasts. */
        s->backoff_wanted = true;
        if (s->accept_armed)
            io_cancel(loop, op);
    }
    if (!s->accept_armed && !s->stopping)
        start_accepting(s);
}

static void start_accepting(server *s)
{
    if (s->backoff_wanted) {
        s->backoff_wanted = false;
        if (io_timeout(s->loop, &s->backoff_op, ACCEPT_BACKOFF_MS, on_backoff, s) == 0) {
            s->backoff_armed = true;
            return;
        }
    }
    if (io_accept(s->loop, &s->accept_op, s->listen_fd, IO_MULTISHOT, on_accept, s) == 0) {
        s->accept_armed = true;
        return;
    }
    /* The loop could not take the accept now: try again shortly rather than never. */
    if (io_timeout(s->loop, &s->backoff_op, ACCEPT_BACKOFF_MS, on_backoff, s) == 0)
        s->backoff_armed = true;
}

static void on_listen_closed(io_loop *loop, io_op *op, int res, unsigned flags)
{
}

static void on_drained(conn_set *set, void *arg)
{
    server *s = arg;
    s->drained = true;
    if (s->signal_armed)
        io_cancel(s->loop, &s->signal_op);
}

static void stop_accepting(server *s)
{
    if (s->backoff_armed)
        io_cancel(s->loop, &s->backoff_op);
    if (io_close(s->loop, &s->listen_close_op, s->listen_fd, on_listen_closed, s) < 0) {
        if (s->accept_armed)
            io_cancel(s->loop, &s->accept_op);
        close(s->listen_fd);
    }
    s->listen_fd = -1;
}

static void begin_shutdown(server *s)
{
    s->stopping = true;
    stop_accepting(s);
    if (conn_set_shutdown(s->conns, s->grace_ms, on_drained, s) < 0) {
        /* No timer for the grace period: close everything now instead. */
        conn_set_abort_all(s->conns);
        on_drained(s->conns, s);
    }
}

static void read_signal(server *s);

static void on_signal(io_loop *loop, io_op *op, int res, unsigned flags)
{
    server *s = op->data;
    s->signal_armed = false;
    if (res == -ECANCELED || s->drained)
        return;
    if (res == (int)sizeof(s->siginfo)) {
        if (s->stopping)
            conn_set_abort_all(s->conns); /* a second signal: stop waiting for peers */
        else
            begin_shutdown(s);
    }
    read_signal(s);
}

static void read_signal(server *s)
{
    if (io_read(s->loop, &s->signal_op, s->signal_fd, &s->siginfo, sizeof(s->siginfo), IO_OFFSET_CURRENT,
                on_signal, s) == 0)
        s->signal_armed = true;
}

static int signals_setup(server *s)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    int err = pthread_sigmask(SIG_BLOCK, &mask, &s->old_mask);
    if (err)
        return -err;
    s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->signal_fd < 0) {
        err = -errno;
        pthread_sigmask(SIG_SETMASK, &s->old_mask, NULL);
        return err;
    }
    /* A peer that goes away must not kill the server (sends use MSG_NOSIGNAL too). */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int fail(char *why, size_t why_len, int err, const char *what)
{
    char text[128];
    snprintf(why, why_len, "%s: %s", what, net_strerror(err, text, sizeof(text)));
    return err;
}

static int server_setup(server *s, const server_config *cfg, char *why, size_t why_len)
{
    char what[96];
    int err = io_loop_create(&s->loop, &cfg->loop);
    if (err < 0) {
        const char *name = cfg->loop.backend == IO_BACKEND_URING ? "io_uring"
                           : cfg->loop.backend == IO_BACKEND_EPOLL ? "epoll" : "any backend";
        snprintf(what, sizeof(what), "cannot set up %s", name);
        return fail(why, why_len, err, what);
    }
    conn_set_config set_cfg = {.max_conns = cfg->max_conns};
    err = conn_set_create(&s->conns, s->loop, &set_cfg);
    if (err < 0)
        return fail(why, why_len, err, "cannot set up connections");
    s->listen_fd = net_listen(&cfg->listen, 0);
    if (s->listen_fd < 0) {
        char addr[NET_ADDR_TEXT_MAX];
        snprintf(what, sizeof(what), "cannot listen on %s", net_addr_format(&cfg->listen, addr, sizeof(addr)));
        return fail(why, why_len, s->listen_fd, what);
    }
    err = net_addr_local(s->listen_fd, &s->bound);
    if (err < 0)
        return fail(why, why_len, err, "getsockname");
    err = signals_setup(s);
    if (err < 0)
        return fail(why, why_len, err, "cannot read signals");
    return 0;
}

int server_create(server **out, const server_config *cfg, char *why, size_t why_len)
{
    server *s = calloc(1, sizeof(*s));
    if (!s)
        return fail(why, why_len, -ENOMEM, "server");
    s->listen_fd = -1;
    s->signal_fd = -1;
    s->proto = cfg->proto;
    s->proto_arg = cfg->proto_arg;
    s->grace_ms = cfg->grace_ms ? cfg->grace_ms : SERVER_DEFAULT_GRACE_MS;
    int err = server_setup(s, cfg, why, why_len);
    if (err < 0) {
        server_destroy(s);
        return err;
    }
    *out = s;
    return 0;
}

void server_destroy(server *s)
{
    if (!s)
        return;
    if (s->signal_fd >= 0) {
        close(s->signal_fd);
        pthread_sigmask(SIG_SETMASK, &s->old_mask, NULL);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    conn_set_destroy(s->conns);
    io_loop_destroy(s->loop);
    free(s);
}

int server_run(server *s)
{
    read_signal(s);
    if (!s->signal_armed)
        return -ENOMEM;
    start_accepting(s);
    int err = 0;
    if (!s->accept_armed && !s->backoff_armed) {
        err = -ENOMEM; /* nothing will ever be accepted: wind down at once */
        begin_shutdown(s);
    }
    int run = io_loop_run(s->loop);
    return err ? err : run;
}

void server_describe(const server *s, char *line, size_t len)
{
    char addr[NET_ADDR_TEXT_MAX];
    const char *name = io_loop_backend_name(s->loop);
    const char *describe = io_loop_describe(s->loop);
    size_t name_len = strlen(name);
    /* The description usually starts with the backend's name already; say it once. */
    bool named = strncmp(describe, name, name_len) == 0 && describe[name_len] == ':';
    snprintf(line, len, "%s on %s, backend %s%s%s", s->proto->name,
             net_addr_format(&s->bound, addr, sizeof(addr)), named ? "" : name, named ? "" : ": ", describe);
}

conn_set_stats server_stats(const server *s)
{
    return conn_set_get_stats(s->conns);
}
