/* test_loop_pool.c - recvs outlast an empty receive-buffer pool (rule 5): no byte lost or
 * reordered, no -ENOBUFS, every waiting recv gets its turn, and a waiting recv can still be
 * cancelled or closed without losing a buffer. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop_harness.h"
#include "loop_tests.h"

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

void test_recv_outlasts_an_empty_pool(void **state)
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

void test_recvs_share_a_dry_pool(void **state)
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

void test_cancel_recv_waiting_for_buffer(void **state)
{
    starved_recv_case(state, false);
}

void test_close_recv_waiting_for_buffer(void **state)
{
    starved_recv_case(state, true);
}
