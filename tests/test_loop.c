/* test_loop.c - the loop interface (src/loop.h) held to its rules over real loopback sockets.
 *
 * One program run once per backend: argv[1] is "uring", "uring-basic" (io_uring with every
 * optional feature disabled, i.e. the fallback paths), "epoll-lt" or "epoll-et".  It knows
 * loop.h only, never a backend's internals.  Every test creates its own loop, bounds every
 * wait, and ends with nothing pending in its loop.
 *
 * Callbacks and client threads record failures in a check_log rather than asserting: a
 * cmocka assert longjmps, which must happen neither inside the loop's dispatch nor on another
 * thread.  A test asserts its logs once its loop has stopped and its threads are joined.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "loop.h"
#include "net_helpers.h"

/* ---- recording failures outside the test's own frame ---- */

struct check_log {
    int failures;
    char first[256];
};

static void check_failed(struct check_log *log, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void check_failed(struct check_log *log, int line, const char *fmt, ...)
{
    if (log->failures++)
        return;
    int n = snprintf(log->first, sizeof log->first, "line %d: ", line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log->first + n, sizeof log->first - (size_t)n, fmt, ap);
    va_end(ap);
}

#define CHECK(log, cond)                                                  \
    do {                                                                  \
        if (!(cond))                                                      \
            check_failed((log), __LINE__, "%s", #cond);                   \
    } while (0)

#define CHECK_EQ(log, got, want)                                                       \
    do {                                                                               \
        long long got_ = (long long)(got), want_ = (long long)(want);                  \
        if (got_ != want_)                                                             \
            check_failed((log), __LINE__, "%s is %lld, expected %lld", #got, got_, want_); \
    } while (0)

#define assert_log_clean(log)                                                           \
    do {                                                                                \
        if ((log)->failures)                                                            \
            fail_msg("%d failed check(s); first at %s", (log)->failures, (log)->first); \
    } while (0)

/* ---- the backend under test, loops and bounded running ---- */

struct suite {
    const char *arg;          /* the backend as named on the command line */
    const char *backend_name; /* what io_loop_backend_name() must report for it */
    io_loop_config cfg;
};

/* buf_count / buf_size 0: the loop's defaults.  The test fails, never skips, when the backend
 * cannot be created: every backend is expected to work on the machines this suite runs on. */
static io_loop *loop_new(void **state, uint32_t buf_count, uint32_t buf_size)
{
    const struct suite *s = *state;
    io_loop_config cfg = s->cfg;
    cfg.buf_count = buf_count;
    cfg.buf_size = buf_size;
    io_loop *loop = NULL;
    int rc = io_loop_create(&loop, &cfg);
    if (rc != 0)
        fail_msg("io_loop_create(%s) failed: %s", s->arg, strerror(-rc));
    assert_string_equal(io_loop_backend_name(loop), s->backend_name);
    assert_int_equal(io_loop_pending(loop), 0);
    return loop;
}

static void loop_finish(io_loop *loop)
{
    assert_int_equal(io_loop_pending(loop), 0);
    io_loop_destroy(loop);
}

typedef bool (*until_fn)(void *ctx);

/* Run the loop until done(ctx) (which may also do a peer's work between iterations):
 * 0, -ETIMEDOUT after timeout_ms, or the loop's own error. */
static int run_until(io_loop *loop, int timeout_ms, until_fn done, void *ctx)
{
    uint64_t deadline = tnet_now_ms() + (uint64_t)timeout_ms;
    while (!done(ctx)) {
        if (tnet_now_ms() >= deadline)
            return -ETIMEDOUT;
        int rc = io_loop_run_once(loop, 5);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool never(void *unused)
{
    return false;
}

static bool nothing_pending(void *loop)
{
    return io_loop_pending(loop) == 0;
}

/* Run the loop for ms whatever happens: 0, or the loop's error. */
static int run_for(io_loop *loop, int ms)
{
    int rc = run_until(loop, ms, never, NULL);
    return rc == -ETIMEDOUT ? 0 : rc;
}

/* ---- a plain completion record ---- */

struct record {
    struct check_log *log;
    int calls;       /* completions delivered */
    int finals;      /* completions without IO_CQE_MORE */
    int res;         /* the last result */
    unsigned flags;  /* the last flags */
};

static void record_add(struct record *r, int res, unsigned flags)
{
    if (r->finals) /* rule 2: the final completion is the last one */
        check_failed(r->log, __LINE__, "a completion (%d) after the final one", res);
    r->calls++;
    r->finals += !(flags & IO_CQE_MORE);
    r->res = res;
    r->flags = flags;
}

/* The callback for ops whose data is a struct record. */
static void record_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    record_add(op->data, res, flags);
}

static void record_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    if (res > 0)
        io_buf_release(loop, op->buf);
    record_cb(loop, op, res, flags);
}

static bool record_final(void *r)
{
    return ((struct record *)r)->finals > 0;
}

static bool record_called(void *r)
{
    return ((struct record *)r)->calls > 0;
}

/* Close fd through the loop and wait for it: the close's result. */
static int close_through_loop(io_loop *loop, int fd)
{
    struct check_log log = {0};
    struct record rec = { .log = &log };
    io_op op = {0};
    int rc = io_close(loop, &op, fd, record_cb, &rec);
    if (rc < 0)
        return rc;
    rc = run_until(loop, 2000, record_final, &rec);
    if (rc < 0)
        return rc;
    return rec.calls == 1 && !log.failures ? rec.res : -EPROTO;
}

/* ---- an echo server built from multishot accept, multishot recv and send ----
 * Each connection echoes in order from the pool buffers themselves: a buffer lent by a recv
 * waits in the connection's queue, is sent, and goes back to the pool once its send is done.
 * The queue is linked through a table indexed by buffer id, so it needs no allocation. */

#define NO_BUF UINT32_MAX

struct echo_slot {
    io_buf buf;
    uint32_t len;
    uint32_t next;
};

struct echo_server;

struct echo_conn {
    struct echo_server *srv;
    int fd;
    io_op recv_op;
    io_op send_op;
    io_op close_op;
    uint32_t queue_head; /* buffer ids waiting to be echoed */
    uint32_t queue_tail;
    bool sending;
    bool recv_ended;
    bool closing;
};

struct echo_server {
    io_loop *loop;
    struct check_log log;
    int listen_fd;
    io_op accept_op;
    bool accept_ended;
    bool allow_reset; /* peers may reset: a recv ending in -ECONNRESET is expected */
    struct echo_conn *conns;
    size_t conn_cap;
    size_t accepted;
    size_t closed;
    size_t eofs;
    size_t resets;
    struct echo_slot *slots;
    uint32_t slot_count;
    uint64_t bytes_echoed;
};

static void echo_conn_pump(struct echo_conn *c);

static void echo_close_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct echo_conn *c = op->data;
    CHECK_EQ(&c->srv->log, res, 0);
    c->srv->closed++;
}

static void echo_release_queue(struct echo_conn *c)
{
    while (c->queue_head != NO_BUF) {
        struct echo_slot *s = &c->srv->slots[c->queue_head];
        c->queue_head = s->next;
        io_buf_release(c->srv->loop, s->buf);
    }
    c->queue_tail = NO_BUF;
}

static void echo_start_close(struct echo_conn *c)
{
    c->closing = true;
    echo_release_queue(c);
    int rc = io_close(c->srv->loop, &c->close_op, c->fd, echo_close_cb, c);
    if (rc < 0)
        check_failed(&c->srv->log, __LINE__, "io_close: %s", strerror(-rc));
}

static void echo_send_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct echo_conn *c = op->data;
    struct echo_server *srv = c->srv;
    struct echo_slot *s = &srv->slots[c->queue_head];
    c->sending = false;
    CHECK_EQ(&srv->log, res, s->len);
    CHECK_EQ(&srv->log, flags, 0);
    c->queue_head = s->next;
    if (c->queue_head == NO_BUF)
        c->queue_tail = NO_BUF;
    io_buf_release(loop, s->buf);
    if (res > 0)
        srv->bytes_echoed += (uint64_t)res;
    if (res < 0)
        echo_start_close(c);
    else
        echo_conn_pump(c);
}

/* Send the next queued buffer, or close once the peer is done and everything is echoed. */
static void echo_conn_pump(struct echo_conn *c)
{
    if (c->sending || c->closing)
        return;
    if (c->queue_head != NO_BUF) {
        struct echo_slot *s = &c->srv->slots[c->queue_head];
        int rc = io_send(c->srv->loop, &c->send_op, c->fd, s->buf.data, s->len, echo_send_cb, c);
        if (rc == 0) {
            c->sending = true;
            return;
        }
        check_failed(&c->srv->log, __LINE__, "io_send: %s", strerror(-rc));
        echo_start_close(c);
        return;
    }
    if (c->recv_ended)
        echo_start_close(c);
}

static void echo_queue_push(struct echo_conn *c, io_buf buf, uint32_t len)
{
    struct echo_server *srv = c->srv;
    if (buf.id >= srv->slot_count || c->closing) {
        CHECK(&srv->log, buf.id < srv->slot_count);
        io_buf_release(srv->loop, buf);
        return;
    }
    srv->slots[buf.id] = (struct echo_slot){ .buf = buf, .len = len, .next = NO_BUF };
    if (c->queue_tail == NO_BUF)
        c->queue_head = buf.id;
    else
        srv->slots[c->queue_tail].next = buf.id;
    c->queue_tail = buf.id;
}

static void echo_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct echo_conn *c = op->data;
    struct echo_server *srv = c->srv;
    if (c->recv_ended)
        check_failed(&srv->log, __LINE__, "recv completion (%d) after its final one", res);
    if (res > 0) {
        /* Rule 2: data never ends a multishot recv; only EOF, an error or a cancel does. */
        CHECK(&srv->log, flags & IO_CQE_MORE);
        CHECK(&srv->log, (uint32_t)res <= io_buf_size(loop));
        echo_queue_push(c, op->buf, (uint32_t)res);
    } else if (res == 0) {
        srv->eofs++;
    } else if (res == -ECONNRESET && srv->allow_reset) {
        srv->resets++;
    } else if (!(res == -ECANCELED && c->closing)) {
        check_failed(&srv->log, __LINE__, "recv: %s", strerror(-res));
    }
    if (res <= 0)
        CHECK(&srv->log, !(flags & IO_CQE_MORE));
    if (!(flags & IO_CQE_MORE))
        c->recv_ended = true;
    echo_conn_pump(c);
}

static void echo_conn_start(struct echo_server *srv, int fd)
{
    if (srv->accepted == srv->conn_cap) {
        check_failed(&srv->log, __LINE__, "more than %zu connections accepted", srv->conn_cap);
        close(fd);
        return;
    }
    struct echo_conn *c = &srv->conns[srv->accepted++];
    *c = (struct echo_conn){ .srv = srv, .fd = fd, .queue_head = NO_BUF, .queue_tail = NO_BUF };
    int rc = io_recv(srv->loop, &c->recv_op, fd, IO_MULTISHOT, echo_recv_cb, c);
    if (rc < 0) {
        check_failed(&srv->log, __LINE__, "io_recv: %s", strerror(-rc));
        c->recv_ended = true;
        echo_start_close(c);
    }
}

static void echo_accept_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct echo_server *srv = op->data;
    if (res >= 0)
        echo_conn_start(srv, res);
    else if (res != -ECANCELED)
        check_failed(&srv->log, __LINE__, "accept: %s", strerror(-res));
    if (!(flags & IO_CQE_MORE)) {
        /* Rule 2: a multishot accept ends only when cancelled here (no errors expected). */
        CHECK_EQ(&srv->log, res, -ECANCELED);
        srv->accept_ended = true;
    }
}

/* buf_count: the loop's pool size, so every lent buffer id has a queue slot. */
static int echo_server_start(struct echo_server *srv, io_loop *loop, int listen_fd, size_t conn_cap,
                             uint32_t buf_count)
{
    *srv = (struct echo_server){ .loop = loop, .listen_fd = listen_fd, .conn_cap = conn_cap,
                                 .slot_count = buf_count };
    srv->conns = calloc(conn_cap, sizeof *srv->conns);
    srv->slots = calloc(buf_count, sizeof *srv->slots);
    if (!srv->conns || !srv->slots)
        return -ENOMEM;
    return io_accept(loop, &srv->accept_op, listen_fd, IO_MULTISHOT, echo_accept_cb, srv);
}

static bool echo_accept_ended(void *srv)
{
    return ((struct echo_server *)srv)->accept_ended;
}

/* Cancel the accept, close the listener, let every op finish: 0 or -errno. */
static int echo_server_stop(struct echo_server *srv)
{
    int rc = io_cancel(srv->loop, &srv->accept_op);
    if (rc == 0)
        rc = run_until(srv->loop, 2000, echo_accept_ended, srv);
    close(srv->listen_fd);
    if (rc == 0)
        rc = run_until(srv->loop, 2000, nothing_pending, srv->loop);
    free(srv->conns);
    free(srv->slots);
    return rc;
}

struct echo_wait {
    struct echo_server *srv;
    size_t closed;                /* connections the server must have closed */
    const atomic_bool *peer_done; /* and the peer thread must have finished (NULL: none) */
};

static bool echo_wait_done(void *arg)
{
    struct echo_wait *w = arg;
    return w->srv->closed >= w->closed && (!w->peer_done || atomic_load(w->peer_done));
}

/* ---- the backend comes up as asked ---- */

static void test_backend_comes_up(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    const char *describe = io_loop_describe(loop);
    assert_non_null(describe);
    assert_true(describe[0] != '\0');
    print_message("%s: %s\n", ((const struct suite *)*state)->arg, describe);
    assert_int_equal(io_buf_size(loop), IO_DEFAULT_BUF_SIZE);
    loop_finish(loop);
}

/* ---- 1000 concurrent connections ---- */

#define MANY_CLIENTS 1000
#define MANY_MSG_MAX 128

struct many_clients {
    uint16_t port;
    struct check_log log;
    size_t echoes_ok;
    atomic_bool done;
};

/* Client i's message: distinct text, then pattern bytes, 40..100 bytes in all. */
static size_t many_message(size_t i, char *msg)
{
    size_t len = 40 + i % 61;
    int n = snprintf(msg, MANY_MSG_MAX, "client %zu of %d:", i, MANY_CLIENTS);
    tnet_pattern_fill(msg + n, len - (size_t)n, i * MANY_MSG_MAX);
    return len;
}

/* Read every client's echo with poll(); each client checks its own message. */
static void many_read_echoes(struct many_clients *mc, const int *fds, char (*got)[MANY_MSG_MAX + 1],
                             size_t *have)
{
    struct pollfd *pfds = calloc(MANY_CLIENTS, sizeof *pfds);
    if (!pfds) {
        check_failed(&mc->log, __LINE__, "out of memory");
        return;
    }
    for (size_t i = 0; i < MANY_CLIENTS; i++)
        pfds[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
    char want[MANY_MSG_MAX];
    size_t open = MANY_CLIENTS;
    uint64_t deadline = tnet_now_ms() + 10000;
    while (open > 0 && tnet_now_ms() < deadline && !mc->log.failures) {
        if (poll(pfds, MANY_CLIENTS, 100) < 0 && errno != EINTR)
            break;
        for (size_t i = 0; i < MANY_CLIENTS; i++) {
            if (pfds[i].fd < 0 || !pfds[i].revents)
                continue;
            size_t len = many_message(i, want);
            ssize_t n = recv(fds[i], got[i] + have[i], MANY_MSG_MAX + 1 - have[i], MSG_DONTWAIT);
            if (n <= 0) {
                if (n < 0 && errno == EAGAIN)
                    continue;
                check_failed(&mc->log, __LINE__, "client %zu: recv %zd (%s) after %zu bytes", i, n,
                             n ? strerror(errno) : "EOF", have[i]);
                pfds[i].fd = -1;
                open--;
                continue;
            }
            have[i] += (size_t)n;
            if (have[i] < len)
                continue;
            if (have[i] == len && memcmp(got[i], want, len) == 0)
                mc->echoes_ok++;
            else
                check_failed(&mc->log, __LINE__, "client %zu: wrong echo (%zu bytes)", i, have[i]);
            pfds[i].fd = -1;
            open--;
        }
    }
    if (open > 0)
        check_failed(&mc->log, __LINE__, "%zu clients got no full echo in time", open);
    free(pfds);
}

static void *many_clients_main(void *arg)
{
    struct many_clients *mc = arg;
    int *fds = malloc(MANY_CLIENTS * sizeof *fds);
    char (*got)[MANY_MSG_MAX + 1] = calloc(MANY_CLIENTS, sizeof *got);
    size_t *have = calloc(MANY_CLIENTS, sizeof *have);
    size_t opened = 0;
    if (!fds || !got || !have) {
        check_failed(&mc->log, __LINE__, "out of memory");
        goto out;
    }
    /* Every connection is open before any message is sent: 1000 at once. */
    for (; opened < MANY_CLIENTS; opened++) {
        fds[opened] = tnet_connect(mc->port);
        if (fds[opened] < 0) {
            check_failed(&mc->log, __LINE__, "connect %zu: %s", opened, strerror(-fds[opened]));
            goto out;
        }
    }
    for (size_t i = 0; i < MANY_CLIENTS; i++) {
        char msg[MANY_MSG_MAX];
        size_t len = many_message(i, msg);
        int rc = tnet_write_all(fds[i], msg, len, 5000);
        if (rc < 0) {
            check_failed(&mc->log, __LINE__, "client %zu: write: %s", i, strerror(-rc));
            goto out;
        }
    }
    many_read_echoes(mc, fds, got, have);
out:
    for (size_t i = 0; i < opened; i++)
        close(fds[i]);
    free(fds);
    free(got);
    free(have);
    atomic_store(&mc->done, true);
    return NULL;
}

static void test_thousand_connections(void **state)
{
    /* 1000 client and 1000 server sockets live in this one process: raise the soft
     * RLIMIT_NOFILE (often 1024) to the hard limit (20000 on the reference machine). */
    long limit = tnet_raise_nofile_limit();
    assert_true(limit >= 2 * MANY_CLIENTS + 100);

    io_loop *loop = loop_new(state, 0, 0);
    uint16_t port;
    int listen_fd = tnet_listen(MANY_CLIENTS, &port);
    assert_true(listen_fd >= 0);
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, loop, listen_fd, MANY_CLIENTS, IO_DEFAULT_BUF_COUNT), 0);

    struct many_clients mc = { .port = port };
    atomic_init(&mc.done, false);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, many_clients_main, &mc), 0);
    struct echo_wait wait = { .srv = &srv, .closed = MANY_CLIENTS, .peer_done = &mc.done };
    int rc = run_until(loop, 20000, echo_wait_done, &wait);
    pthread_join(thread, NULL);

    assert_log_clean(&mc.log);
    assert_int_equal(rc, 0);
    assert_int_equal(mc.echoes_ok, MANY_CLIENTS);
    assert_int_equal(srv.accepted, MANY_CLIENTS);
    assert_int_equal(srv.eofs, MANY_CLIENTS);
    assert_int_equal(echo_server_stop(&srv), 0);
    assert_log_clean(&srv.log);
    loop_finish(loop);
}

/* ---- 8 MB each way through one connection at once ---- */

#define BIG_BYTES (8u << 20)
#define BIG_CHUNK 65536u

struct stream_client {
    uint16_t port;
    struct check_log log;
    uint64_t sent;
    uint64_t received;
    atomic_bool done;
};

/* Read what is there and check it against the pattern; false once the stream went wrong. */
static bool stream_read_some(struct stream_client *sc, int fd, char *buf)
{
    ssize_t n = recv(fd, buf, BIG_CHUNK, MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN)
        return true;
    if (n <= 0) {
        check_failed(&sc->log, __LINE__, "recv %zd (%s) at byte %llu", n, n ? strerror(errno) : "EOF",
                     (unsigned long long)sc->received);
        return false;
    }
    size_t bad = tnet_pattern_mismatch(buf, (size_t)n, sc->received);
    if (bad < (size_t)n || sc->received + (uint64_t)n > BIG_BYTES) {
        check_failed(&sc->log, __LINE__, "echo wrong at byte %llu", (unsigned long long)(sc->received + bad));
        return false;
    }
    sc->received += (uint64_t)n;
    return true;
}

static bool stream_write_some(struct stream_client *sc, int fd, char *buf)
{
    size_t len = BIG_BYTES - sc->sent < BIG_CHUNK ? BIG_BYTES - sc->sent : BIG_CHUNK;
    tnet_pattern_fill(buf, len, sc->sent);
    ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN)
        return true;
    if (n < 0) {
        check_failed(&sc->log, __LINE__, "send: %s", strerror(errno));
        return false;
    }
    sc->sent += (uint64_t)n;
    if (sc->sent == BIG_BYTES && shutdown(fd, SHUT_WR) < 0) {
        check_failed(&sc->log, __LINE__, "shutdown: %s", strerror(errno));
        return false;
    }
    return true;
}

static void stream_run(struct stream_client *sc, int fd, char *rbuf, char *wbuf)
{
    uint64_t deadline = tnet_now_ms() + 15000;
    while (sc->received < BIG_BYTES) {
        if (tnet_now_ms() >= deadline) {
            check_failed(&sc->log, __LINE__, "timed out: sent %llu, received %llu",
                         (unsigned long long)sc->sent, (unsigned long long)sc->received);
            return;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN | (sc->sent < BIG_BYTES ? POLLOUT : 0) };
        if (poll(&p, 1, 100) <= 0)
            continue;
        if ((p.revents & POLLOUT) && !stream_write_some(sc, fd, wbuf))
            return;
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && !stream_read_some(sc, fd, rbuf))
            return;
    }
    /* Everything came back; the server closes once it saw our FIN and echoed it all. */
    int rc = tnet_expect_eof(fd, 5000);
    if (rc < 0)
        check_failed(&sc->log, __LINE__, "no EOF after the echo: %s", strerror(-rc));
}

static void *stream_client_main(void *arg)
{
    struct stream_client *sc = arg;
    char *rbuf = malloc(BIG_CHUNK), *wbuf = malloc(BIG_CHUNK);
    int fd = tnet_connect(sc->port);
    if (!rbuf || !wbuf || fd < 0)
        check_failed(&sc->log, __LINE__, "client setup failed (fd %d)", fd);
    else
        stream_run(sc, fd, rbuf, wbuf);
    if (fd >= 0)
        close(fd);
    free(rbuf);
    free(wbuf);
    atomic_store(&sc->done, true);
    return NULL;
}

static void test_eight_megabytes_both_ways(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    uint16_t port;
    int listen_fd = tnet_listen(16, &port);
    assert_true(listen_fd >= 0);
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, loop, listen_fd, 1, IO_DEFAULT_BUF_COUNT), 0);

    struct stream_client sc = { .port = port };
    atomic_init(&sc.done, false);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, stream_client_main, &sc), 0);
    struct echo_wait wait = { .srv = &srv, .closed = 1, .peer_done = &sc.done };
    int rc = run_until(loop, 20000, echo_wait_done, &wait);
    pthread_join(thread, NULL);

    assert_log_clean(&srv.log);
    assert_log_clean(&sc.log);
    assert_int_equal(rc, 0);
    assert_int_equal(sc.sent, BIG_BYTES);
    assert_int_equal(sc.received, BIG_BYTES);
    assert_int_equal(srv.bytes_echoed, BIG_BYTES);
    assert_int_equal(echo_server_stop(&srv), 0);
    assert_log_clean(&srv.log);
    loop_finish(loop);
}

/* ---- sends that complete short ---- */

#define SHORT_TOTAL (3u << 20)

struct slow_reader {
    int fd;
    struct check_log log;
    size_t received;
    atomic_bool done;
};

/* Read in small pieces with pauses, so the sender keeps finding its tiny buffer full. */
static void *slow_reader_main(void *arg)
{
    struct slow_reader *sr = arg;
    char buf[4096];
    uint64_t deadline = tnet_now_ms() + 15000;
    while (sr->received < SHORT_TOTAL) {
        if (tnet_now_ms() >= deadline) {
            check_failed(&sr->log, __LINE__, "timed out after %zu bytes", sr->received);
            break;
        }
        ssize_t n = tnet_read_full(sr->fd, buf, sizeof buf, 5000);
        if (n <= 0) {
            check_failed(&sr->log, __LINE__, "read %zd at byte %zu", n, sr->received);
            break;
        }
        size_t bad = tnet_pattern_mismatch(buf, (size_t)n, sr->received);
        if (bad < (size_t)n) {
            check_failed(&sr->log, __LINE__, "wrong byte at %zu", sr->received + bad);
            break;
        }
        sr->received += (size_t)n;
        if (sr->received % (64u * 1024) < sizeof buf)
            usleep(500);
    }
    if (sr->received == SHORT_TOTAL && tnet_expect_eof(sr->fd, 5000) < 0)
        check_failed(&sr->log, __LINE__, "no EOF after %u bytes", SHORT_TOTAL);
    atomic_store(&sr->done, true);
    return NULL;
}

struct short_send {
    struct record send;
    struct record close;
    io_op close_op;
    int fd;
    bool in_submit;
    const atomic_bool *reader_done;
};

static void short_send_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct short_send *ss = op->data;
    CHECK(ss->send.log, !ss->in_submit);
    record_add(&ss->send, res, flags);
    int rc = io_close(loop, &ss->close_op, ss->fd, record_cb, &ss->close);
    CHECK_EQ(ss->send.log, rc, 0);
}

static bool short_send_done(void *arg)
{
    struct short_send *ss = arg;
    return ss->close.calls > 0 && atomic_load(ss->reader_done);
}

static void test_short_sends_are_continued(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    int client, server;
    /* A tiny send buffer here and a small receive window there: no send can take it all. */
    assert_int_equal(tnet_tcp_pair_rcvbuf(&client, &server, 4096), 0);
    assert_int_equal(tnet_set_sndbuf(server, 4096), 0);

    char *data = malloc(SHORT_TOTAL);
    assert_non_null(data);
    tnet_pattern_fill(data, SHORT_TOTAL, 0);
    /* Uneven pieces, one of them tiny, so a short send may stop anywhere inside any of them. */
    size_t cut[] = { 0, (1u << 20) + 3, (1u << 20) + 20, (5u << 19) + 7, SHORT_TOTAL };
    struct iovec iov[4];
    for (int i = 0; i < 4; i++)
        iov[i] = (struct iovec){ .iov_base = data + cut[i], .iov_len = cut[i + 1] - cut[i] };

    struct check_log log = {0};
    struct slow_reader sr = { .fd = client };
    atomic_init(&sr.done, false);
    struct short_send ss = { .send.log = &log, .close.log = &log, .fd = server, .reader_done = &sr.done };
    io_op op = {0};
    ss.in_submit = true;
    int rc = io_sendv(loop, &op, server, iov, 4, short_send_cb, &ss);
    ss.in_submit = false;
    assert_int_equal(rc, 0);

    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, slow_reader_main, &sr), 0);
    rc = run_until(loop, 20000, short_send_done, &ss);
    pthread_join(thread, NULL);
    close(client);

    assert_log_clean(&sr.log);
    assert_log_clean(&log);
    assert_int_equal(rc, 0);
    assert_int_equal(ss.send.calls, 1);
    assert_int_equal(ss.send.res, SHORT_TOTAL);
    assert_int_equal(ss.send.flags, 0);
    assert_int_equal(ss.close.res, 0);
    assert_int_equal(sr.received, SHORT_TOTAL);
    free(data);
    loop_finish(loop);
}

/* ---- the peer resets the connection ---- */

static void peer_reset_case(void **state, unsigned recv_flags)
{
    io_loop *loop = loop_new(state, 0, 0);
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);
    struct check_log log = {0};
    struct record recv_rec = { .log = &log };
    io_op recv_op = {0};
    assert_int_equal(io_recv(loop, &recv_op, server, recv_flags, record_recv_cb, &recv_rec), 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(recv_rec.calls, 0);

    assert_int_equal(tnet_set_linger_reset(client), 0);
    close(client);
    assert_int_equal(run_until(loop, 2000, record_final, &recv_rec), 0);
    /* Linux reports the RST to the first receive as ECONNRESET (sk_err), then EOF after. */
    assert_int_equal(recv_rec.calls, 1);
    assert_int_equal(recv_rec.res, -ECONNRESET);
    assert_int_equal(recv_rec.flags, 0);

    /* The connection is closed now: a send fails with EPIPE (and raises no SIGPIPE). */
    struct record send_rec = { .log = &log };
    io_op send_op = {0};
    int rc = io_send(loop, &send_op, server, "late", 4, record_cb, &send_rec);
    if (rc == 0) {
        assert_int_equal(run_until(loop, 2000, record_final, &send_rec), 0);
        assert_int_equal(send_rec.calls, 1);
        rc = send_rec.res;
    } else {
        assert_int_equal(run_for(loop, 10), 0);
        assert_int_equal(send_rec.calls, 0); /* rule 1 */
    }
    assert_int_equal(rc, -EPIPE);
    assert_int_equal(close_through_loop(loop, server), 0);
    assert_int_equal(recv_rec.calls, 1);
    assert_log_clean(&log);
    loop_finish(loop);
}

static void test_peer_reset_single_recv(void **state)
{
    peer_reset_case(state, 0);
}

static void test_peer_reset_multishot_recv(void **state)
{
    peer_reset_case(state, IO_MULTISHOT);
}

/* ---- half-close: the peer stops sending, then reads our reply ---- */

#define HALF_REQUEST 3000u
#define HALF_REPLY 100000u

struct half_close {
    struct check_log log;
    int server;
    int client;
    io_op recv_op, send_op, close_op;
    char request[HALF_REQUEST];
    size_t request_len;
    int recv_calls, recv_finals;
    char *reply;
    struct record send, close;
    char *got;
    size_t got_len;
    bool client_eof;
};

static void half_send_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct half_close *h = op->data;
    record_add(&h->send, res, flags);
    CHECK_EQ(&h->log, res, HALF_REPLY);
    int rc = io_close(loop, &h->close_op, h->server, record_cb, &h->close);
    CHECK_EQ(&h->log, rc, 0);
}

static void half_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct half_close *h = op->data;
    h->recv_calls++;
    if (res > 0) {
        CHECK(&h->log, flags & IO_CQE_MORE);
        if (h->request_len + (size_t)res <= HALF_REQUEST)
            memcpy(h->request + h->request_len, op->buf.data, (size_t)res);
        h->request_len += (size_t)res;
        io_buf_release(loop, op->buf);
        return;
    }
    h->recv_finals++;
    CHECK_EQ(&h->log, res, 0);
    CHECK_EQ(&h->log, flags, 0);
    CHECK_EQ(&h->log, h->request_len, HALF_REQUEST);
    /* The peer's FIN closed its direction only: ours still carries the reply. */
    int rc = io_send(loop, &h->send_op, h->server, h->reply, HALF_REPLY, half_send_cb, h);
    CHECK_EQ(&h->log, rc, 0);
}

/* The client's side, between loop iterations: read the reply as it comes, until EOF. */
static bool half_client_step(void *arg)
{
    struct half_close *h = arg;
    while (!h->client_eof) {
        ssize_t n = recv(h->client, h->got + h->got_len, HALF_REPLY + 1 - h->got_len, MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0 || h->got_len + (size_t)n > HALF_REPLY) {
            check_failed(&h->log, __LINE__, "client read %zd at %zu", n, h->got_len);
            return true;
        }
        h->got_len += (size_t)n;
        h->client_eof = n == 0;
    }
    return h->client_eof && h->close.calls > 0;
}

static void test_half_close(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    struct half_close *h = calloc(1, sizeof *h);
    assert_non_null(h);
    h->send.log = h->close.log = &h->log;
    h->reply = malloc(HALF_REPLY);
    h->got = malloc(HALF_REPLY + 1);
    assert_true(h->reply && h->got);
    tnet_pattern_fill(h->reply, HALF_REPLY, 7);
    assert_int_equal(tnet_tcp_pair(&h->client, &h->server), 0);
    assert_int_equal(io_recv(loop, &h->recv_op, h->server, IO_MULTISHOT, half_recv_cb, h), 0);

    char request[HALF_REQUEST];
    tnet_pattern_fill(request, sizeof request, 1000);
    assert_int_equal(tnet_write_all(h->client, request, sizeof request, 2000), 0);
    assert_int_equal(shutdown(h->client, SHUT_WR), 0);
    assert_int_equal(tnet_set_nonblocking(h->client, 1), 0);
    int rc = run_until(loop, 5000, half_client_step, h);

    assert_log_clean(&h->log);
    assert_int_equal(rc, 0);
    assert_int_equal(h->recv_finals, 1);
    assert_memory_equal(h->request, request, HALF_REQUEST);
    assert_int_equal(h->send.calls, 1);
    assert_int_equal(h->close.res, 0);
    assert_int_equal(h->got_len, HALF_REPLY);
    assert_memory_equal(h->got, h->reply, HALF_REPLY);
    close(h->client);
    free(h->reply);
    free(h->got);
    free(h);
    loop_finish(loop);
}

/* ---- clients that connect and leave at once ---- */

#define FLEETING_CLIENTS 200
#define FLEETING_BATCH 25

static bool echo_all_closed(void *arg)
{
    struct echo_wait *w = arg;
    return w->srv->accepted >= w->closed && w->srv->closed >= w->closed;
}

struct ping_client {
    int fd;
    char got[5];
    size_t len;
    struct check_log *log;
};

static bool ping_step(void *arg)
{
    struct ping_client *p = arg;
    ssize_t n = recv(p->fd, p->got + p->len, sizeof p->got - p->len, MSG_DONTWAIT);
    if (n > 0)
        p->len += (size_t)n;
    else if (!(n < 0 && errno == EAGAIN))
        check_failed(p->log, __LINE__, "ping client: recv %zd", n);
    return p->len >= 4 || p->log->failures;
}

static void test_clients_that_leave_at_once(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    uint16_t port;
    int listen_fd = tnet_listen(FLEETING_CLIENTS + 10, &port);
    assert_true(listen_fd >= 0);
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, loop, listen_fd, FLEETING_CLIENTS + 1, IO_DEFAULT_BUF_COUNT), 0);
    srv.allow_reset = true;
    int fds_before = tnet_count_open_fds();
    assert_true(fds_before > 0);

    /* Half of them close with a FIN, half with a RST, in batches the server races with. */
    for (int i = 0; i < FLEETING_CLIENTS; i++) {
        int fd = tnet_connect(port);
        assert_true(fd >= 0);
        if (i % 2)
            assert_int_equal(tnet_set_linger_reset(fd), 0);
        close(fd);
        if (i % FLEETING_BATCH == FLEETING_BATCH - 1)
            assert_true(io_loop_run_once(loop, 0) >= 0);
    }
    struct echo_wait wait = { .srv = &srv, .closed = FLEETING_CLIENTS };
    int rc = run_until(loop, 5000, echo_all_closed, &wait);
    assert_log_clean(&srv.log);
    assert_int_equal(rc, 0);
    /* Linux queues even a reset connection for accept; its first recv then says ECONNRESET. */
    assert_int_equal(srv.accepted, FLEETING_CLIENTS);
    assert_int_equal(srv.eofs, FLEETING_CLIENTS / 2);
    assert_int_equal(srv.resets, FLEETING_CLIENTS / 2);
    assert_int_equal(tnet_count_open_fds(), fds_before);

    /* The listener still serves a well-behaved client. */
    struct ping_client ping = { .log = &srv.log };
    ping.fd = tnet_connect(port);
    assert_true(ping.fd >= 0);
    assert_int_equal(tnet_write_all(ping.fd, "ping", 4, 1000), 0);
    rc = run_until(loop, 2000, ping_step, &ping);
    assert_log_clean(&srv.log);
    assert_int_equal(rc, 0);
    assert_memory_equal(ping.got, "ping", 4);
    close(ping.fd);
    wait.closed = FLEETING_CLIENTS + 1;
    assert_int_equal(run_until(loop, 2000, echo_all_closed, &wait), 0);
    assert_int_equal(tnet_count_open_fds(), fds_before);
    assert_int_equal(echo_server_stop(&srv), 0);
    assert_log_clean(&srv.log);
    loop_finish(loop);
}

/* ---- timers ---- */

#define TIMER_COUNT 8
#define TIMER_CHAIN 3

struct timer_test;

struct timer_rec {
    struct timer_test *t;
    io_op op;
    int index;
    uint64_t deadline_ns; /* the loop's clock at submission plus the delay */
    uint64_t fired_ns;
    struct record rec;
};

struct timer_test {
    struct check_log log;
    struct timer_rec timers[TIMER_COUNT];
    int order[TIMER_COUNT];
    int fired;
    struct timer_rec cancelled;
    struct timer_rec chain;
    int chain_fires;
};

static void timer_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct timer_rec *tr = op->data;
    tr->fired_ns = tnet_now_ns();
    record_add(&tr->rec, res, flags);
    if (tr->index >= 0 && tr->t->fired < TIMER_COUNT)
        tr->t->order[tr->t->fired++] = tr->index;
}

/* Rule 3: an op may be submitted again from its own final callback. */
static void chain_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct timer_rec *tr = op->data;
    struct timer_test *t = tr->t;
    CHECK_EQ(&t->log, res, -ETIME);
    CHECK(&t->log, tnet_now_ns() >= tr->deadline_ns);
    if (++t->chain_fires < TIMER_CHAIN) {
        tr->deadline_ns = io_loop_now_ns(loop) + 1000000u;
        CHECK_EQ(&t->log, io_timeout(loop, op, 1, chain_cb, tr), 0);
    }
}

static bool timers_done(void *arg)
{
    struct timer_test *t = arg;
    return t->fired == TIMER_COUNT && t->chain_fires == TIMER_CHAIN && t->cancelled.rec.calls > 0;
}

static void timer_submit(io_loop *loop, struct timer_test *t, struct timer_rec *tr, int index, uint64_t ms)
{
    tr->t = t;
    tr->index = index;
    tr->rec.log = &t->log;
    tr->deadline_ns = io_loop_now_ns(loop) + ms * 1000000u;
    assert_int_equal(io_timeout(loop, &tr->op, ms, timer_cb, tr), 0);
    assert_int_equal(tr->rec.calls, 0); /* rule 1: never inside the submit, even at 0 ms */
}

static void test_timers(void **state)
{
    static const uint64_t delays[TIMER_COUNT] = { 40, 10, 25, 10, 0, 25, 10, 5 };
    /* Deadline order; equal deadlines in submission order. */
    static const int expected[TIMER_COUNT] = { 4, 7, 1, 3, 6, 2, 5, 0 };
    io_loop *loop = loop_new(state, 0, 0);
    struct timer_test *t = calloc(1, sizeof *t);
    assert_non_null(t);

    io_op idle = {0};
    assert_int_equal(io_cancel(loop, &idle), -ENOENT);
    for (int i = 0; i < TIMER_COUNT; i++)
        timer_submit(loop, t, &t->timers[i], i, delays[i]);
    timer_submit(loop, t, &t->cancelled, -1, 15);
    assert_int_equal(io_cancel(loop, &t->cancelled.op), 0);
    t->chain = (struct timer_rec){ .t = t, .index = -1, .deadline_ns = io_loop_now_ns(loop) + 1000000u };
    assert_int_equal(io_timeout(loop, &t->chain.op, 1, chain_cb, &t->chain), 0);
    assert_int_equal(io_loop_pending(loop), TIMER_COUNT + 2);

    int rc = run_until(loop, 3000, timers_done, t);
    assert_log_clean(&t->log);
    assert_int_equal(rc, 0);
    for (int i = 0; i < TIMER_COUNT; i++) {
        struct timer_rec *tr = &t->timers[i];
        assert_int_equal(tr->rec.calls, 1);
        assert_int_equal(tr->rec.res, -ETIME);
        assert_int_equal(tr->rec.flags, 0);
        assert_true(tr->fired_ns >= tr->deadline_ns);
        assert_true(tr->fired_ns < tr->deadline_ns + 2000000000ull);
        assert_int_equal(t->order[i], expected[i]);
    }
    /* The cancelled one completed once, cancelled, and stays quiet past its deadline. */
    assert_int_equal(t->cancelled.rec.calls, 1);
    assert_int_equal(t->cancelled.rec.res, -ECANCELED);
    assert_int_equal(t->cancelled.rec.flags, 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(t->cancelled.rec.calls, 1);
    /* Ops no longer in flight cannot be cancelled. */
    assert_int_equal(io_cancel(loop, &t->cancelled.op), -ENOENT);
    assert_int_equal(io_cancel(loop, &t->timers[0].op), -ENOENT);
    assert_int_equal(io_cancel(loop, &t->chain.op), -ENOENT);
    free(t);
    loop_finish(loop);
}

/* ---- io_loop_run: returns when idle, and on io_loop_stop ---- */

static void stop_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    record_cb(loop, op, res, flags);
    io_loop_stop(loop);
}

static void test_run_and_stop(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    struct check_log log = {0};
    struct record recs[3] = { { .log = &log }, { .log = &log }, { .log = &log } };
    io_op ops[3] = { {0} };
    for (int i = 0; i < 3; i++)
        assert_int_equal(io_timeout(loop, &ops[i], (uint64_t)i + 1, record_cb, &recs[i]), 0);
    /* io_loop_run has no timeout of its own: a watchdog turns a hang into a failure. */
    alarm(10);
    assert_int_equal(io_loop_run(loop), 0);
    alarm(0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(recs[i].res, -ETIME);
    assert_int_equal(io_loop_pending(loop), 0);

    struct record stopper = { .log = &log }, sleeper = { .log = &log };
    io_op stop_op = {0}, sleep_op = {0};
    assert_int_equal(io_timeout(loop, &stop_op, 1, stop_cb, &stopper), 0);
    assert_int_equal(io_timeout(loop, &sleep_op, 60000, record_cb, &sleeper), 0);
    alarm(10);
    assert_int_equal(io_loop_run(loop), 0);
    alarm(0);
    assert_int_equal(stopper.calls, 1);
    assert_int_equal(sleeper.calls, 0);
    assert_int_equal(io_loop_pending(loop), 1);
    assert_int_equal(io_cancel(loop, &sleep_op), 0);
    assert_int_equal(run_until(loop, 1000, record_final, &sleeper), 0);
    assert_int_equal(sleeper.res, -ECANCELED);
    assert_log_clean(&log);
    loop_finish(loop);
}

/* ---- cancelling a recv that has nothing to receive ---- */

static void cancel_recv_case(void **state, unsigned recv_flags)
{
    io_loop *loop = loop_new(state, 0, 0);
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);
    struct check_log log = {0};
    struct record rec = { .log = &log };
    io_op op = {0};
    assert_int_equal(io_recv(loop, &op, server, recv_flags, record_recv_cb, &rec), 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(io_cancel(loop, &op), 0);
    assert_int_equal(run_until(loop, 2000, record_called, &rec), 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.res, -ECANCELED);
    assert_int_equal(rec.flags, 0);
    assert_int_equal(io_cancel(loop, &op), -ENOENT);
    assert_int_equal(close_through_loop(loop, server), 0);
    close(client);
    assert_log_clean(&log);
    loop_finish(loop);
}

static void test_cancel_pending_recv(void **state)
{
    cancel_recv_case(state, 0);
}

static void test_cancel_pending_multishot_recv(void **state)
{
    cancel_recv_case(state, IO_MULTISHOT);
}

/* ---- a multishot recv that runs out of pool buffers ---- */

#define STARVE_BUFS 4u
#define STARVE_BUF_SIZE 1024u
#define STARVE_BYTES (1u << 20)
#define STARVE_RELEASE_BATCH 2u

struct starve_test {
    io_loop *loop;
    struct check_log log;
    io_op recv_op, timer_op;
    io_buf held[STARVE_BUFS];
    uint32_t held_count;
    uint32_t pool_empty_seen;
    uint64_t received;
    int recv_finals;
    int final_res;
    bool recv_ended;
    bool timer_armed;
    int client;
    char *data;
    size_t sent;
};

static void starve_timer_cb(io_loop *loop, io_op *op, int res, unsigned flags);

static void starve_arm_timer(struct starve_test *s)
{
    if (s->timer_armed || s->held_count == 0)
        return;
    s->timer_armed = io_timeout(s->loop, &s->timer_op, 1, starve_timer_cb, s) == 0;
    CHECK(&s->log, s->timer_armed);
}

/* Give back a batch, oldest first.  Before EOF the next batch waits until the pool runs dry
 * again: a buffer the loop failed to take back would then stall the stream (and the test). */
static void starve_timer_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct starve_test *s = op->data;
    s->timer_armed = false;
    CHECK_EQ(&s->log, res, -ETIME);
    uint32_t n = s->held_count < STARVE_RELEASE_BATCH ? s->held_count : STARVE_RELEASE_BATCH;
    for (uint32_t i = 0; i < n; i++)
        io_buf_release(loop, s->held[i]);
    memmove(s->held, s->held + n, (s->held_count - n) * sizeof *s->held);
    s->held_count -= n;
    if (s->recv_ended)
        starve_arm_timer(s);
}

static void starve_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct starve_test *s = op->data;
    CHECK(&s->log, res != -ENOBUFS);
    if (res > 0) {
        CHECK(&s->log, flags & IO_CQE_MORE);
        CHECK(&s->log, (uint32_t)res <= STARVE_BUF_SIZE);
        size_t bad = tnet_pattern_mismatch(op->buf.data, (size_t)res, s->received);
        if (bad < (size_t)res)
            check_failed(&s->log, __LINE__, "wrong byte at %llu", (unsigned long long)(s->received + bad));
        s->received += (uint64_t)res;
        if (s->held_count == STARVE_BUFS) {
            check_failed(&s->log, __LINE__, "a buffer lent beyond the pool of %u", STARVE_BUFS);
            io_buf_release(loop, op->buf);
            return;
        }
        s->held[s->held_count++] = op->buf;
        /* Hold on until the pool is dry, then give buffers back only from the timer. */
        if (s->held_count == STARVE_BUFS) {
            s->pool_empty_seen++;
            starve_arm_timer(s);
        }
        return;
    }
    CHECK(&s->log, !(flags & IO_CQE_MORE));
    if (!(flags & IO_CQE_MORE)) {
        s->recv_finals++;
        s->final_res = res;
        s->recv_ended = true;
        starve_arm_timer(s);
    }
}

/* The client side between iterations: push the megabyte, then close. */
static bool starve_step(void *arg)
{
    struct starve_test *s = arg;
    while (s->sent < STARVE_BYTES && s->client >= 0) {
        ssize_t n = send(s->client, s->data + s->sent, STARVE_BYTES - s->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN)
                check_failed(&s->log, __LINE__, "client send: %s", strerror(errno));
            break;
        }
        s->sent += (size_t)n;
    }
    if (s->sent == STARVE_BYTES && s->client >= 0) {
        close(s->client);
        s->client = -1;
    }
    return (s->recv_ended && s->held_count == 0 && !s->timer_armed) || s->log.failures;
}

static void test_recv_outlasts_an_empty_pool(void **state)
{
    io_loop *loop = loop_new(state, STARVE_BUFS, STARVE_BUF_SIZE);
    assert_int_equal(io_buf_size(loop), STARVE_BUF_SIZE);
    struct starve_test *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->loop = loop;
    s->data = malloc(STARVE_BYTES);
    assert_non_null(s->data);
    tnet_pattern_fill(s->data, STARVE_BYTES, 0);
    int server;
    assert_int_equal(tnet_tcp_pair(&s->client, &server), 0);
    assert_int_equal(tnet_set_nonblocking(s->client, 1), 0);
    assert_int_equal(io_recv(loop, &s->recv_op, server, IO_MULTISHOT, starve_recv_cb, s), 0);

    int rc = run_until(loop, 15000, starve_step, s);
    assert_log_clean(&s->log);
    assert_int_equal(rc, 0);
    assert_int_equal(s->received, STARVE_BYTES);
    assert_int_equal(s->recv_finals, 1);
    assert_int_equal(s->final_res, 0);
    assert_true(s->pool_empty_seen > 0);
    assert_int_equal(close_through_loop(loop, server), 0);
    free(s->data);
    free(s);
    loop_finish(loop);
}

/* ---- recvs of many connections waiting on one tiny pool: each gets its turn ---- */

#define SHARE_CONNS 16
#define SHARE_BYTES (16u * 1024)

struct share_test;

struct share_conn {
    struct share_test *t;
    io_op op;
    int server;
    int client; /* -1 once it sent everything and closed */
    size_t sent;
    uint64_t received;
    bool ended;
};

struct share_test {
    io_loop *loop;
    struct check_log log;
    struct share_conn conns[SHARE_CONNS];
    io_buf held[STARVE_BUFS];
    uint32_t held_count;
    io_op timer_op;
    bool timer_armed;
    int ended;
    char *data;
};

static void share_timer_cb(io_loop *loop, io_op *op, int res, unsigned flags);

/* Give every held buffer back a little later, so the pool keeps running dry. */
static void share_arm_timer(struct share_test *t)
{
    if (t->timer_armed || t->held_count == 0)
        return;
    t->timer_armed = io_timeout(t->loop, &t->timer_op, 1, share_timer_cb, t) == 0;
    CHECK(&t->log, t->timer_armed);
}

static void share_timer_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct share_test *t = op->data;
    t->timer_armed = false;
    for (uint32_t i = 0; i < t->held_count; i++)
        io_buf_release(loop, t->held[i]);
    t->held_count = 0;
}

static void share_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct share_conn *c = op->data;
    struct share_test *t = c->t;
    if (res <= 0) {
        CHECK_EQ(&t->log, res, 0);
        CHECK_EQ(&t->log, flags, 0);
        c->ended = true;
        t->ended++;
        return;
    }
    size_t bad = tnet_pattern_mismatch(op->buf.data, (size_t)res, c->received);
    if (bad < (size_t)res)
        check_failed(&t->log, __LINE__, "conn %td: wrong byte at %llu", c - t->conns,
                     (unsigned long long)(c->received + bad));
    c->received += (uint64_t)res;
    if (t->held_count == STARVE_BUFS) {
        check_failed(&t->log, __LINE__, "a buffer lent beyond the pool of %u", STARVE_BUFS);
        io_buf_release(loop, op->buf);
        return;
    }
    t->held[t->held_count++] = op->buf;
    share_arm_timer(t);
}

static bool share_step(void *arg)
{
    struct share_test *t = arg;
    for (int i = 0; i < SHARE_CONNS; i++) {
        struct share_conn *c = &t->conns[i];
        if (c->client < 0)
            continue;
        ssize_t n = send(c->client, t->data + c->sent, SHARE_BYTES - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            c->sent += (size_t)n;
        else if (!(n < 0 && errno == EAGAIN))
            check_failed(&t->log, __LINE__, "client %d: send %zd", i, n);
        if (c->sent == SHARE_BYTES) {
            close(c->client);
            c->client = -1;
        }
    }
    return (t->ended == SHARE_CONNS && !t->timer_armed) || t->log.failures;
}

static void test_recvs_share_a_dry_pool(void **state)
{
    io_loop *loop = loop_new(state, STARVE_BUFS, STARVE_BUF_SIZE);
    struct share_test *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->loop = loop;
    t->data = malloc(SHARE_BYTES);
    assert_non_null(t->data);
    tnet_pattern_fill(t->data, SHARE_BYTES, 0);
    for (int i = 0; i < SHARE_CONNS; i++) {
        struct share_conn *c = &t->conns[i];
        c->t = t;
        assert_int_equal(tnet_tcp_pair(&c->client, &c->server), 0);
        assert_int_equal(tnet_set_nonblocking(c->client, 1), 0);
        assert_int_equal(io_recv(loop, &c->op, c->server, IO_MULTISHOT, share_recv_cb, c), 0);
    }
    int rc = run_until(loop, 10000, share_step, t);
    assert_log_clean(&t->log);
    assert_int_equal(rc, 0);
    for (int i = 0; i < SHARE_CONNS; i++) {
        assert_int_equal(t->conns[i].received, SHARE_BYTES);
        close(t->conns[i].server);
    }
    free(t->data);
    free(t);
    loop_finish(loop);
}

/* ---- single-shot accept and recv, each resubmitted from its own final callback ---- */

#define CHAIN_CLIENTS 20
#define CHAIN_BYTES (256u * 1024)

struct chain_test {
    struct check_log log;
    int listen_fd;
    io_op accept_op;
    int accepted_fds[CHAIN_CLIENTS];
    int accepted;
    io_op recv_op;
    int stream_fd; /* the first connection accepted carries a stream */
    uint64_t received;
    bool recv_eof;
    int client;    /* the stream's client end, -1 once closed */
    char *data;
    size_t sent;
};

static void chain_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct chain_test *c = op->data;
    CHECK_EQ(&c->log, flags, 0);
    if (res <= 0) {
        CHECK_EQ(&c->log, res, 0);
        c->recv_eof = true;
        return;
    }
    size_t bad = tnet_pattern_mismatch(op->buf.data, (size_t)res, c->received);
    if (bad < (size_t)res)
        check_failed(&c->log, __LINE__, "wrong byte at %llu", (unsigned long long)(c->received + bad));
    c->received += (uint64_t)res;
    io_buf_release(loop, op->buf);
    CHECK_EQ(&c->log, io_recv(loop, op, c->stream_fd, 0, chain_recv_cb, c), 0);
}

static void chain_accept_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct chain_test *c = op->data;
    CHECK_EQ(&c->log, flags, 0);
    if (res < 0 || c->accepted == CHAIN_CLIENTS) {
        check_failed(&c->log, __LINE__, "accept %d gave %d", c->accepted, res);
        return;
    }
    c->accepted_fds[c->accepted++] = res;
    if (c->accepted == 1) {
        c->stream_fd = res;
        CHECK_EQ(&c->log, io_recv(loop, &c->recv_op, res, 0, chain_recv_cb, c), 0);
    }
    if (c->accepted < CHAIN_CLIENTS)
        CHECK_EQ(&c->log, io_accept(loop, op, c->listen_fd, 0, chain_accept_cb, c), 0);
}

static bool chain_step(void *arg)
{
    struct chain_test *c = arg;
    while (c->client >= 0 && c->sent < CHAIN_BYTES) {
        ssize_t n = send(c->client, c->data + c->sent, CHAIN_BYTES - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN)
                check_failed(&c->log, __LINE__, "client send: %s", strerror(errno));
            break;
        }
        c->sent += (size_t)n;
    }
    if (c->client >= 0 && c->sent == CHAIN_BYTES) {
        close(c->client);
        c->client = -1;
    }
    return (c->accepted == CHAIN_CLIENTS && c->recv_eof) || c->log.failures;
}

static void test_single_shot_ops_resubmitted_from_callbacks(void **state)
{
    io_loop *loop = loop_new(state, 16, 4096);
    struct chain_test *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->data = malloc(CHAIN_BYTES);
    assert_non_null(c->data);
    tnet_pattern_fill(c->data, CHAIN_BYTES, 99);
    c->received = 99;
    uint16_t port;
    c->listen_fd = tnet_listen(CHAIN_CLIENTS, &port);
    assert_true(c->listen_fd >= 0);
    assert_int_equal(io_accept(loop, &c->accept_op, c->listen_fd, 0, chain_accept_cb, c), 0);
    int clients[CHAIN_CLIENTS];
    for (int i = 0; i < CHAIN_CLIENTS; i++) {
        clients[i] = tnet_connect(port);
        assert_true(clients[i] >= 0);
    }
    c->client = clients[0];
    assert_int_equal(tnet_set_nonblocking(c->client, 1), 0);

    int rc = run_until(loop, 5000, chain_step, c);
    assert_log_clean(&c->log);
    assert_int_equal(rc, 0);
    assert_int_equal(c->accepted, CHAIN_CLIENTS);
    assert_int_equal(c->received, 99 + CHAIN_BYTES);
    for (int i = 0; i < CHAIN_CLIENTS; i++) {
        close(c->accepted_fds[i]);
        if (i > 0)
            close(clients[i]);
    }
    close(c->listen_fd);
    free(c->data);
    free(c);
    loop_finish(loop);
}

/* ---- many timers at once, a third of them cancelled ---- */

#define STRESS_TIMERS 2000

struct stress_test;

struct stress_timer {
    io_op op;
    struct stress_test *t;
    uint32_t index;
    uint64_t delay_ms;
    struct record rec;
};

struct stress_test {
    struct check_log log;
    struct stress_timer timers[STRESS_TIMERS];
    int completions;
    const struct stress_timer *last_fired;
};

static void stress_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct stress_timer *st = op->data;
    struct stress_test *t = st->t;
    record_add(&st->rec, res, flags);
    t->completions++;
    if (res != -ETIME)
        return;
    /* All were armed in one iteration: deadline order is (delay, submission) order. */
    const struct stress_timer *prev = t->last_fired;
    if (prev && (prev->delay_ms > st->delay_ms || (prev->delay_ms == st->delay_ms && prev->index > st->index)))
        check_failed(&t->log, __LINE__, "timer %u (%llu ms) fired after timer %u (%llu ms)", st->index,
                     (unsigned long long)st->delay_ms, prev->index, (unsigned long long)prev->delay_ms);
    t->last_fired = st;
}

static bool stress_done(void *arg)
{
    return ((struct stress_test *)arg)->completions >= STRESS_TIMERS;
}

static void test_many_timers(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    struct stress_test *t = calloc(1, sizeof *t);
    assert_non_null(t);
    for (uint32_t i = 0; i < STRESS_TIMERS; i++) {
        struct stress_timer *st = &t->timers[i];
        *st = (struct stress_timer){ .t = t, .index = i, .delay_ms = (i * 7919u) % 31u, .rec.log = &t->log };
        assert_int_equal(io_timeout(loop, &st->op, st->delay_ms, stress_cb, st), 0);
    }
    for (uint32_t i = 0; i < STRESS_TIMERS; i += 3)
        assert_int_equal(io_cancel(loop, &t->timers[i].op), 0);
    int rc = run_until(loop, 3000, stress_done, t);
    assert_log_clean(&t->log);
    assert_int_equal(rc, 0);
    for (uint32_t i = 0; i < STRESS_TIMERS; i++) {
        assert_int_equal(t->timers[i].rec.calls, 1);
        assert_int_equal(t->timers[i].rec.res, i % 3 ? -ETIME : -ECANCELED);
    }
    free(t);
    loop_finish(loop);
}

/* ---- cancelling at the edges: twice, after the result is known, from a sibling timer ---- */

struct sibling_timers {
    struct record first, second;
    io_op first_op, second_op;
    int cancel_rc;
};

static void cancel_sibling_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct sibling_timers *st = op->data;
    record_add(&st->first, res, flags);
    st->cancel_rc = io_cancel(loop, &st->second_op);
}

static void test_cancel_edges(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    struct check_log log = {0};
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);

    /* Already finished, not yet delivered: the cancel succeeds, the op keeps its result. */
    struct record sent = { .log = &log };
    io_op send_op = {0};
    assert_int_equal(io_send(loop, &send_op, server, "", 0, record_cb, &sent), 0);
    assert_int_equal(io_cancel(loop, &send_op), 0);
    assert_int_equal(run_until(loop, 1000, record_final, &sent), 0);
    assert_int_equal(sent.res, 0);

    /* Cancelled twice: one completion. */
    struct record rec = { .log = &log };
    io_op recv_op = {0};
    assert_int_equal(io_recv(loop, &recv_op, server, IO_MULTISHOT, record_recv_cb, &rec), 0);
    assert_int_equal(run_for(loop, 10), 0);
    assert_int_equal(io_cancel(loop, &recv_op), 0);
    assert_int_equal(io_cancel(loop, &recv_op), 0);
    assert_int_equal(run_until(loop, 2000, record_final, &rec), 0);
    assert_int_equal(run_for(loop, 10), 0);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.res, -ECANCELED);

    /* Two timers due together: the first one's callback cancels the second. */
    struct sibling_timers st = { .first.log = &log, .second.log = &log, .cancel_rc = 1 };
    assert_int_equal(io_timeout(loop, &st.first_op, 5, cancel_sibling_cb, &st), 0);
    assert_int_equal(io_timeout(loop, &st.second_op, 5, record_cb, &st.second), 0);
    assert_int_equal(run_until(loop, 1000, record_final, &st.second), 0);
    assert_int_equal(st.cancel_rc, 0);
    assert_int_equal(st.first.res, -ETIME);
    assert_int_equal(st.second.calls, 1);
    assert_int_equal(st.second.res, -ECANCELED);

    assert_int_equal(close_through_loop(loop, server), 0);
    close(client);
    assert_log_clean(&log);
    loop_finish(loop);
}

/* ---- an fd number reused by a new socket ---- */

/* One recv on fd (single-shot or multishot) that must bring exactly msg. */
static void recv_message(io_loop *loop, int client, int fd, unsigned flags, const char *msg)
{
    struct check_log log = {0};
    struct record rec = { .log = &log };
    io_op op = {0};
    assert_int_equal(io_recv(loop, &op, fd, flags, record_recv_cb, &rec), 0);
    assert_int_equal(run_for(loop, 10), 0);
    assert_int_equal(tnet_write_all(client, msg, strlen(msg), 1000), 0);
    assert_int_equal(run_until(loop, 2000, record_called, &rec), 0);
    assert_int_equal(rec.res, (int)strlen(msg));
    if (flags & IO_MULTISHOT) {
        assert_int_equal(io_cancel(loop, &op), 0);
        assert_int_equal(run_until(loop, 2000, record_final, &rec), 0);
        assert_int_equal(rec.res, -ECANCELED);
    }
    assert_log_clean(&log);
}

/* A new socket moved onto the number of the old one, which was closed outside the loop. */
static int socket_onto_number(int number, int *client)
{
    int server;
    if (tnet_tcp_pair(client, &server) < 0)
        return -1;
    if (server == number) /* the lowest free number often is the old one already */
        return server;
    int fd = dup3(server, number, O_CLOEXEC);
    close(server);
    return fd;
}

static void test_fd_number_reused(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);
    recv_message(loop, client, server, 0, "first");
    close(client);
    close(server);

    int number = server;
    assert_int_equal(socket_onto_number(number, &client), number);
    recv_message(loop, client, number, IO_MULTISHOT, "second");
    close(client);
    assert_int_equal(close_through_loop(loop, number), 0);

    assert_int_equal(socket_onto_number(number, &client), number);
    recv_message(loop, client, number, 0, "third");
    close(client);
    close(number);
    loop_finish(loop);
}

/* ---- rule 1: a submit that fails ---- */

static void test_failed_submit_never_calls_back(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);
    struct check_log log = {0};
    struct record rec = { .log = &log };
    io_op op = {0};
    char byte = 'x';
    struct iovec iov[IOV_MAX + 1];
    for (int i = 0; i <= IOV_MAX; i++)
        iov[i] = (struct iovec){ .iov_base = &byte, .iov_len = 1 };

    assert_int_equal(io_sendv(loop, &op, server, iov, IOV_MAX + 1, record_cb, &rec), -EINVAL);
    assert_int_equal(io_sendv(loop, &op, server, iov, 0, record_cb, &rec), -EINVAL);
    assert_int_equal(io_recv(loop, &op, -1, 0, record_recv_cb, &rec), -EINVAL);
    assert_int_equal(io_recv(loop, &op, server, 0x80, record_recv_cb, &rec), -EINVAL);
    assert_int_equal(io_close(loop, &op, -1, record_cb, &rec), -EBADF);
    assert_int_equal(io_loop_pending(loop), 0);

    /* An op still in flight cannot be submitted again; the one in flight is unharmed. */
    assert_int_equal(io_recv(loop, &op, server, 0, record_recv_cb, &rec), 0);
    struct record other = { .log = &log };
    assert_int_equal(io_send(loop, &op, server, "x", 1, record_cb, &other), -EBUSY);
    assert_int_equal(io_timeout(loop, &op, 1, record_cb, &other), -EBUSY);
    assert_int_equal(io_loop_pending(loop), 1);
    assert_int_equal(tnet_write_all(client, "hello", 5, 1000), 0);
    assert_int_equal(run_until(loop, 2000, record_final, &rec), 0);
    assert_int_equal(rec.res, 5);
    assert_int_equal(rec.calls, 1);

    /* After its failures the op is reusable at once, and a result known at submit time
     * (a zero-length send) still arrives later, not inside the call. */
    assert_int_equal(io_sendv(loop, &op, server, iov, IOV_MAX + 1, record_cb, &other), -EINVAL);
    assert_int_equal(io_send(loop, &op, server, "", 0, record_cb, &other), 0);
    assert_int_equal(other.calls, 0);
    assert_int_equal(run_until(loop, 1000, record_final, &other), 0);
    assert_int_equal(other.res, 0);
    assert_int_equal(run_for(loop, 10), 0);
    assert_int_equal(other.calls, 1);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(close_through_loop(loop, server), 0);
    close(client);
    assert_log_clean(&log);
    loop_finish(loop);
}

/* ---- rule 6: io_close cancels what is pending on the fd ---- */

struct close_race {
    struct record pending;
    struct record close;
};

static bool close_race_done(void *arg)
{
    struct close_race *cr = arg;
    return cr->pending.finals > 0 && cr->close.finals > 0;
}

/* Close fd while an op is pending on it: that op ends once (its result left in cr->pending)
 * and the close completes with 0. */
static void close_with_pending(io_loop *loop, struct close_race *cr, int fd)
{
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(cr->pending.calls, 0);
    io_op close_op = {0};
    assert_int_equal(io_close(loop, &close_op, fd, record_cb, &cr->close), 0);
    assert_int_equal(run_until(loop, 2000, close_race_done, cr), 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(cr->pending.calls, 1);
    assert_int_equal(cr->pending.flags, 0);
    assert_int_equal(cr->close.calls, 1);
    assert_int_equal(cr->close.res, 0);
    assert_int_equal(io_loop_pending(loop), 0);
}

static void test_close_cancels_multishot_recv(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);
    struct check_log log = {0};
    struct close_race cr = { .pending.log = &log, .close.log = &log };
    io_op op = {0};
    assert_int_equal(io_recv(loop, &op, server, IO_MULTISHOT, record_recv_cb, &cr.pending), 0);
    close_with_pending(loop, &cr, server);
    assert_int_equal(cr.pending.res, -ECANCELED);
    close(client);
    assert_log_clean(&log);
    loop_finish(loop);
}

static void test_close_cancels_multishot_accept(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    uint16_t port;
    int listen_fd = tnet_listen(4, &port);
    assert_true(listen_fd >= 0);
    struct check_log log = {0};
    struct close_race cr = { .pending.log = &log, .close.log = &log };
    io_op op = {0};
    assert_int_equal(io_accept(loop, &op, listen_fd, IO_MULTISHOT, record_cb, &cr.pending), 0);
    close_with_pending(loop, &cr, listen_fd);
    assert_int_equal(cr.pending.res, -ECANCELED);
    assert_log_clean(&log);
    loop_finish(loop);
}

#define STUCK_SEND_BYTES (4u << 20)

static void test_close_cancels_blocked_send(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    int client, server;
    assert_int_equal(tnet_tcp_pair_rcvbuf(&client, &server, 4096), 0);
    assert_int_equal(tnet_set_sndbuf(server, 4096), 0);
    char *data = calloc(1, STUCK_SEND_BYTES);
    assert_non_null(data);
    struct check_log log = {0};
    struct close_race cr = { .pending.log = &log, .close.log = &log };
    io_op op = {0};
    /* The client never reads: the send stays pending until the close cancels it.  Rule 6
     * says "usually -ECANCELED"; what must hold is one failed completion and a clean close. */
    assert_int_equal(io_send(loop, &op, server, data, STUCK_SEND_BYTES, record_cb, &cr.pending), 0);
    close_with_pending(loop, &cr, server);
    assert_true(cr.pending.res < 0);
    close(client);
    free(data);
    assert_log_clean(&log);
    loop_finish(loop);
}

/* ---- a recv waiting for a pool buffer can still be cancelled or closed ---- */

#define HOARD_BYTES (2 * STARVE_BUFS * STARVE_BUF_SIZE)

struct hoarder {
    struct check_log *log;
    io_op op;
    io_buf held[STARVE_BUFS];
    uint32_t held_count;
    struct record *end; /* the recv's final completion */
};

/* Keep every buffer lent, so the pool runs dry and the recv must wait for one. */
static void hoard_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct hoarder *h = op->data;
    if (res <= 0) {
        record_add(h->end, res, flags);
        return;
    }
    CHECK(h->log, flags & IO_CQE_MORE);
    if (h->held_count < STARVE_BUFS) {
        h->held[h->held_count++] = op->buf;
        return;
    }
    check_failed(h->log, __LINE__, "a buffer lent beyond the pool of %u", STARVE_BUFS);
    io_buf_release(loop, op->buf);
}

static bool hoard_full(void *h)
{
    return ((struct hoarder *)h)->held_count == STARVE_BUFS;
}

static void hoard_release(io_loop *loop, struct hoarder *h)
{
    for (uint32_t i = 0; i < h->held_count; i++)
        io_buf_release(loop, h->held[i]);
    h->held_count = 0;
}

/* A new connection whose multishot recv takes every buffer of the pool while more data
 * waits in the socket: afterwards that recv waits for a buffer. */
static void start_hoarding(io_loop *loop, struct hoarder *h, int *client, int *server)
{
    static const char data[HOARD_BYTES];
    assert_int_equal(tnet_tcp_pair(client, server), 0);
    assert_int_equal(tnet_write_all(*client, data, sizeof data, 1000), 0);
    assert_int_equal(io_recv(loop, &h->op, *server, IO_MULTISHOT, hoard_cb, h), 0);
    assert_int_equal(run_until(loop, 2000, hoard_full, h), 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(h->held_count, STARVE_BUFS);
}

static void starved_recv_case(void **state, bool by_close)
{
    io_loop *loop = loop_new(state, STARVE_BUFS, STARVE_BUF_SIZE);
    struct check_log log = {0};
    struct close_race cr = { .pending.log = &log, .close.log = &log };
    struct hoarder h = { .log = &log, .end = &cr.pending };
    int client, server;
    start_hoarding(loop, &h, &client, &server);
    if (by_close) {
        close_with_pending(loop, &cr, server);
    } else {
        assert_int_equal(io_cancel(loop, &h.op), 0);
        assert_int_equal(run_until(loop, 2000, record_final, &cr.pending), 0);
        assert_int_equal(close_through_loop(loop, server), 0);
    }
    assert_int_equal(cr.pending.calls, 1);
    assert_int_equal(cr.pending.res, -ECANCELED);
    hoard_release(loop, &h);
    close(client);

    /* Every buffer came back: a recv on another connection can hold them all again. */
    struct close_race again = { .pending.log = &log, .close.log = &log };
    struct hoarder h2 = { .log = &log, .end = &again.pending };
    start_hoarding(loop, &h2, &client, &server);
    close_with_pending(loop, &again, server);
    assert_int_equal(again.pending.res, -ECANCELED);
    hoard_release(loop, &h2);
    close(client);
    assert_int_equal(run_for(loop, 20), 0);
    /* The first recv ended for good: nothing more reached it once buffers were free. */
    assert_int_equal(cr.pending.calls, 1);
    assert_int_equal(h.held_count, 0);
    assert_log_clean(&log);
    loop_finish(loop);
}

static void test_cancel_recv_waiting_for_buffer(void **state)
{
    starved_recv_case(state, false);
}

static void test_close_recv_waiting_for_buffer(void **state)
{
    starved_recv_case(state, true);
}

/* ---- io_read on a regular file and on a pipe ---- */

#define FILE_BYTES 100000u

struct read_case {
    struct check_log log;
    struct record rec;
    char buf[FILE_BYTES];
};

/* Submit one read and wait for it: its result (the callback must not run inside the call). */
static int read_once(io_loop *loop, struct read_case *rc, int fd, size_t len, uint64_t offset)
{
    io_op op = {0};
    rc->rec = (struct record){ .log = &rc->log };
    int err = io_read(loop, &op, fd, rc->buf, len, offset, record_cb, &rc->rec);
    if (err < 0)
        return err;
    CHECK_EQ(&rc->log, rc->rec.calls, 0);
    err = run_until(loop, 2000, record_final, &rc->rec);
    CHECK_EQ(&rc->log, rc->rec.calls, 1);
    CHECK_EQ(&rc->log, rc->rec.flags, 0);
    return err < 0 ? err : rc->rec.res;
}

static void test_read_regular_file(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    struct read_case *rc = calloc(1, sizeof *rc);
    assert_non_null(rc);
    char path[] = "/tmp/ioserve-test-read-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    char *content = malloc(FILE_BYTES);
    assert_non_null(content);
    tnet_pattern_fill(content, FILE_BYTES, 0);
    assert_int_equal(pwrite(fd, content, FILE_BYTES, 0), FILE_BYTES);

    assert_int_equal(read_once(loop, rc, fd, FILE_BYTES, 0), FILE_BYTES);
    assert_memory_equal(rc->buf, content, FILE_BYTES);
    assert_int_equal(read_once(loop, rc, fd, 1000, 4099), 1000);
    assert_memory_equal(rc->buf, content + 4099, 1000);
    assert_int_equal(read_once(loop, rc, fd, 1000, FILE_BYTES - 10), 10);
    assert_memory_equal(rc->buf, content + FILE_BYTES - 10, 10);
    assert_int_equal(read_once(loop, rc, fd, 1000, 2 * FILE_BYTES), 0);
    /* IO_OFFSET_CURRENT reads at, and advances, the file position. */
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(read_once(loop, rc, fd, 777, IO_OFFSET_CURRENT), 777);
    assert_memory_equal(rc->buf, content, 777);
    assert_int_equal(read_once(loop, rc, fd, 777, IO_OFFSET_CURRENT), 777);
    assert_memory_equal(rc->buf, content + 777, 777);
    assert_log_clean(&rc->log);
    close(fd);
    free(content);
    free(rc);
    loop_finish(loop);
}

static void test_read_pipe(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    struct read_case *rc = calloc(1, sizeof *rc);
    assert_non_null(rc);
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);

    /* A read on an empty pipe waits for the writer. */
    io_op op = {0};
    rc->rec.log = &rc->log;
    assert_int_equal(io_read(loop, &op, p[0], rc->buf, 4096, IO_OFFSET_CURRENT, record_cb, &rc->rec), 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(rc->rec.calls, 0);
    assert_int_equal(write(p[1], "through the pipe", 16), 16);
    assert_int_equal(run_until(loop, 2000, record_final, &rc->rec), 0);
    assert_int_equal(rc->rec.calls, 1);
    assert_int_equal(rc->rec.res, 16);
    assert_memory_equal(rc->buf, "through the pipe", 16);

    /* Data already there, then EOF once the writer is gone. */
    assert_int_equal(write(p[1], "more", 4), 4);
    assert_int_equal(read_once(loop, rc, p[0], 4096, IO_OFFSET_CURRENT), 4);
    assert_memory_equal(rc->buf, "more", 4);
    close(p[1]);
    assert_int_equal(read_once(loop, rc, p[0], 4096, IO_OFFSET_CURRENT), 0);
    assert_log_clean(&rc->log);
    close(p[0]);
    free(rc);
    loop_finish(loop);
}

/* ---- the backend matrix ---- */

#define BASIC_DISABLE (IO_FEAT_MULTISHOT_ACCEPT | IO_FEAT_MULTISHOT_RECV | IO_FEAT_BUF_RING | \
                       IO_FEAT_DEFER_TASKRUN | IO_FEAT_REGISTERED_RING | IO_FEAT_CANCEL_FD)

static int suite_from_arg(const char *arg, struct suite *s)
{
    static const struct suite known[] = {
        { "uring", "uring", { .backend = IO_BACKEND_URING } },
        { "uring-basic", "uring", { .backend = IO_BACKEND_URING, .disable = BASIC_DISABLE } },
        { "epoll-lt", "epoll-lt", { .backend = IO_BACKEND_EPOLL, .epoll_mode = IO_EPOLL_LT } },
        { "epoll-et", "epoll-et", { .backend = IO_BACKEND_EPOLL, .epoll_mode = IO_EPOLL_ET } },
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(arg, known[i].arg) == 0) {
            *s = known[i];
            return 0;
        }
    }
    return -EINVAL;
}

int main(int argc, char **argv)
{
    struct suite s;
    if (argc != 2 || suite_from_arg(argv[1], &s) < 0) {
        fprintf(stderr, "usage: %s uring|uring-basic|epoll-lt|epoll-et\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_backend_comes_up, &s),
        cmocka_unit_test_prestate(test_thousand_connections, &s),
        cmocka_unit_test_prestate(test_eight_megabytes_both_ways, &s),
        cmocka_unit_test_prestate(test_short_sends_are_continued, &s),
        cmocka_unit_test_prestate(test_peer_reset_single_recv, &s),
        cmocka_unit_test_prestate(test_peer_reset_multishot_recv, &s),
        cmocka_unit_test_prestate(test_half_close, &s),
        cmocka_unit_test_prestate(test_clients_that_leave_at_once, &s),
        cmocka_unit_test_prestate(test_timers, &s),
        cmocka_unit_test_prestate(test_run_and_stop, &s),
        cmocka_unit_test_prestate(test_cancel_pending_recv, &s),
        cmocka_unit_test_prestate(test_cancel_pending_multishot_recv, &s),
        cmocka_unit_test_prestate(test_recv_outlasts_an_empty_pool, &s),
        cmocka_unit_test_prestate(test_recvs_share_a_dry_pool, &s),
        cmocka_unit_test_prestate(test_single_shot_ops_resubmitted_from_callbacks, &s),
        cmocka_unit_test_prestate(test_many_timers, &s),
        cmocka_unit_test_prestate(test_cancel_edges, &s),
        cmocka_unit_test_prestate(test_fd_number_reused, &s),
        cmocka_unit_test_prestate(test_failed_submit_never_calls_back, &s),
        cmocka_unit_test_prestate(test_close_cancels_multishot_recv, &s),
        cmocka_unit_test_prestate(test_close_cancels_multishot_accept, &s),
        cmocka_unit_test_prestate(test_close_cancels_blocked_send, &s),
        cmocka_unit_test_prestate(test_cancel_recv_waiting_for_buffer, &s),
        cmocka_unit_test_prestate(test_close_recv_waiting_for_buffer, &s),
        cmocka_unit_test_prestate(test_read_regular_file, &s),
        cmocka_unit_test_prestate(test_read_pipe, &s),
    };
    return cmocka_run_group_tests_name(argv[1], tests, NULL, NULL);
}
