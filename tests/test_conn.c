/* test_conn.c - the connection layer (src/conn.h) in-process, on one backend per run.
 *
 * usage: test_conn uring|epoll-lt|epoll-et|poll|select
 * Each test runs a loop and a conn_set in this thread and plays the peer on the other end of a
 * loopback socket pair, non-blocking, read between loop turns.  The test protocol only counts
 * and records inside callbacks (a cmocka assert must not longjmp out of the loop's dispatch);
 * the asserts come after the loop has been turned.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"
#include "backend_config.h"
#include "net_helpers.h"

#define WAIT_MS 5000
#define BIG (4u * 1024u * 1024u)
#define PEER_MAX (BIG + 4096u)

/* Set once in main, read-only afterwards. */
static io_loop_config loop_config;

struct ctx {
    io_loop *loop;
    conn_set *set;
    conn *c;
    int peer;
    int opened, closed, drained, timers, released, set_done;
    uint64_t timer_at_ns;
    bool hold_on_open;
    char *peer_buf; /* what the peer received */
    size_t peer_len;
    bool peer_eof;
    bool peer_deaf; /* the peer reads nothing */
};

static const char BODY[] = "-body-";
static char big[BIG];

static void release(void *arg)
{
    ((struct ctx *)arg)->released++;
}

static int t_open(conn *c, void *arg)
{
    struct ctx *x = arg;
    x->c = c;
    x->opened++;
    conn_set_state(c, x);
    if (x->hold_on_open)
        conn_hold(c);
    return 0;
}

/* Each byte received is a command. */
static void t_data(conn *c, const char *data, size_t len)
{
    struct ctx *x = conn_state(c);
    for (size_t i = 0; i < len; i++) {
        switch (data[i]) {
        case 'r': /* a copy then the caller's memory: they must arrive in order */
            conn_write(c, "head", 4);
            conn_write_ref(c, BODY, sizeof(BODY) - 1, release, x);
            conn_write(c, "tail", 4);
            break;
        case 'b': conn_write_ref(c, big, BIG, release, x); break;
        case 'c': /* a large copy, then close: all of it must arrive before the EOF */
            conn_write(c, big, BIG);
            conn_close(c);
            break;
        case 'a': conn_abort(c); break;
        case 't': conn_timer_set(c, 3000); conn_timer_set(c, 20); break;  /* brought forward */
        case 'T': conn_timer_set(c, 20); conn_timer_set(c, 200); break;  /* pushed back */
        case 'x': conn_timer_set(c, 20); conn_timer_clear(c); break;
        default: break;
        }
    }
}

static void t_drain(conn *c)
{
    ((struct ctx *)conn_state(c))->drained++;
}

static void t_timer(conn *c)
{
    struct ctx *x = conn_state(c);
    x->timers++;
    x->timer_at_ns = tnet_now_ns();
}

static void t_close(conn *c)
{
    ((struct ctx *)conn_state(c))->closed++;
}

static const struct proto test_proto = {
    .name = "test",
    .on_open = t_open,
    .on_data = t_data,
    .on_drain = t_drain,
    .on_timer = t_timer,
    .on_close = t_close,
};

static void peer_read(struct ctx *x)
{
    while (!x->peer_deaf && !x->peer_eof && x->peer_len < PEER_MAX) {
        ssize_t n = recv(x->peer, x->peer_buf + x->peer_len, PEER_MAX - x->peer_len, MSG_DONTWAIT);
        if (n > 0)
            x->peer_len += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            x->peer_eof = true;
        else
            return;
    }
}

/* Turn the loop and read as the peer until done(x) or the time is up. */
static bool pump(struct ctx *x, bool (*done)(const struct ctx *), int timeout_ms)
{
    uint64_t end = tnet_now_ms() + (uint64_t)timeout_ms;
    while (!done(x) && tnet_now_ms() < end) {
        io_loop_run_once(x->loop, 5);
        peer_read(x);
    }
    return done(x);
}

static bool is_closed(const struct ctx *x)
{
    return x->closed > 0 && conn_set_get_stats(x->set).open == 0;
}

static bool close_seen(const struct ctx *x)
{
    return x->closed > 0;
}

/* For turning the loop a while: nothing more may happen meanwhile. */
static bool never(const struct ctx *x)
{
    return false;
}

static bool peer_eof(const struct ctx *x)
{
    return x->peer_eof;
}

static int setup(void **state)
{
    struct ctx *x = calloc(1, sizeof(*x));
    if (!x || !(x->peer_buf = malloc(PEER_MAX)))
        return -1;
    if (io_loop_create(&x->loop, &loop_config) < 0 || conn_set_create(&x->set, x->loop, NULL) < 0)
        return -1;
    int server_fd;
    if (tnet_tcp_pair(&x->peer, &server_fd) < 0 || tnet_set_nonblocking(x->peer, 1) < 0)
        return -1;
    if (conn_accept(x->set, server_fd, &test_proto, x) < 0)
        return -1;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *x = *state;
    close(x->peer);
    conn_set_abort_all(x->set);
    pump(x, is_closed, WAIT_MS);
    int pending = (int)io_loop_pending(x->loop);
    conn_set_destroy(x->set);
    io_loop_destroy(x->loop);
    free(x->peer_buf);
    free(x);
    return pending == 0 ? 0 : -1;
}

static void peer_send(struct ctx *x, const char *text)
{
    assert_int_equal(tnet_write_all(x->peer, text, strlen(text), WAIT_MS), 0);
}

static bool got_14(const struct ctx *x)
{
    return x->peer_len >= 14;
}

static void test_write_ref_in_order_and_released(void **state)
{
    struct ctx *x = *state;
    assert_int_equal(x->opened, 1);
    peer_send(x, "r");
    assert_true(pump(x, got_14, WAIT_MS));
    assert_memory_equal(x->peer_buf, "head-body-tail", 14);
    assert_int_equal(x->released, 1);
    assert_true(x->drained >= 1);
    assert_int_equal(x->closed, 0);
}

static bool got_big(const struct ctx *x)
{
    return x->peer_len >= BIG;
}

static void test_close_flushes_first(void **state)
{
    struct ctx *x = *state;
    tnet_pattern_fill(big, BIG, 7);
    peer_send(x, "c");
    assert_true(pump(x, peer_eof, WAIT_MS));
    assert_int_equal(x->peer_len, BIG);
    assert_int_equal(tnet_pattern_mismatch(x->peer_buf, BIG, 7), BIG);
    assert_true(pump(x, is_closed, WAIT_MS));
    assert_int_equal(x->closed, 1);
}

/* A large reference the peer does not read, then an abort from outside any callback (the
 * connection reads nothing more meanwhile: its queue is over the high watermark): the memory
 * is released once, on_close runs once, and the peer gets less than all of it. */
static void test_abort_releases_refs(void **state)
{
    struct ctx *x = *state;
    x->peer_deaf = true;
    /* A small send buffer, and a peer whose receive window cannot grow while it does not
     * read: the 4 MB cannot all leave. */
    assert_int_equal(tnet_set_sndbuf(conn_fd(x->c), 16384), 0);
    peer_send(x, "b");
    pump(x, never, 100);
    assert_true(conn_queued(x->c) > 0); /* still stuck in the queue */
    assert_int_equal(x->released, 0);
    conn_abort(x->c);
    assert_true(pump(x, is_closed, WAIT_MS));
    assert_int_equal(x->released, 1);
    assert_int_equal(x->closed, 1);
    x->peer_deaf = false;
    assert_true(pump(x, peer_eof, WAIT_MS));
    assert_true(x->peer_len < BIG);
}

static void test_ref_sent_whole(void **state)
{
    struct ctx *x = *state;
    tnet_pattern_fill(big, BIG, 99);
    peer_send(x, "b");
    assert_true(pump(x, got_big, WAIT_MS));
    assert_int_equal(tnet_pattern_mismatch(x->peer_buf, BIG, 99), BIG);
    assert_int_equal(x->released, 1);
}

static bool timer_fired(const struct ctx *x)
{
    return x->timers > 0;
}

static void test_timer_brought_forward(void **state)
{
    struct ctx *x = *state;
    uint64_t start = tnet_now_ns();
    peer_send(x, "t");
    assert_true(pump(x, timer_fired, WAIT_MS));
    uint64_t ms = (x->timer_at_ns - start) / 1000000u;
    assert_true(ms >= 15 && ms < 2000); /* well before the 3 s it was first set to, even on a loaded machine */
    pump(x, never, 300); /* nothing more may fire */
    assert_int_equal(x->timers, 1);
}

static void test_timer_pushed_back(void **state)
{
    struct ctx *x = *state;
    uint64_t start = tnet_now_ns();
    peer_send(x, "T");
    assert_true(pump(x, timer_fired, WAIT_MS));
    uint64_t ms = (x->timer_at_ns - start) / 1000000u;
    assert_true(ms >= 195);
    pump(x, never, 300);
    assert_int_equal(x->timers, 1);
}

static void test_timer_cleared(void **state)
{
    struct ctx *x = *state;
    peer_send(x, "x");
    pump(x, timer_fired, 200);
    assert_int_equal(x->timers, 0);
}

static void test_peer_eof_closes(void **state)
{
    struct ctx *x = *state;
    assert_int_equal(shutdown(x->peer, SHUT_WR), 0);
    assert_true(pump(x, is_closed, WAIT_MS));
    assert_true(pump(x, peer_eof, WAIT_MS));
    assert_int_equal(x->closed, 1);
}

/* A hold keeps the memory past on_close; the set counts it open until the unhold. */
static void test_hold_outlives_close(void **state)
{
    struct ctx *x = *state;
    conn_hold(x->c);
    peer_send(x, "a");
    assert_true(pump(x, close_seen, WAIT_MS));
    pump(x, never, 50);
    assert_int_equal(conn_set_get_stats(x->set).open, 1);
    conn_unhold(x->c);
    assert_int_equal(conn_set_get_stats(x->set).open, 0);
}

static void on_set_done(conn_set *set, void *arg)
{
    ((struct ctx *)arg)->set_done++;
}

static bool set_done(const struct ctx *x)
{
    return x->set_done > 0;
}

static void test_set_limit_and_shutdown(void **state)
{
    struct ctx *x = *state;
    conn_set *limited;
    conn_set_config cfg = {.max_conns = 1};
    assert_int_equal(conn_set_create(&limited, x->loop, &cfg), 0);
    int peers[2], fds[2];
    assert_int_equal(tnet_tcp_pair(&peers[0], &fds[0]), 0);
    assert_int_equal(tnet_tcp_pair(&peers[1], &fds[1]), 0);
    assert_int_equal(conn_accept(limited, fds[0], &test_proto, x), 0);
    assert_int_equal(conn_accept(limited, fds[1], &test_proto, x), -EBUSY);
    assert_int_equal(tnet_expect_eof(peers[1], WAIT_MS), 0);
    conn_set_stats stats = conn_set_get_stats(limited);
    assert_int_equal(stats.open, 1);
    assert_int_equal(stats.rejected, 1);
    assert_int_equal(conn_set_shutdown(limited, 1000, on_set_done, x), 0);
    assert_int_equal(conn_set_shutdown(limited, 1000, on_set_done, x), -EALREADY);
    assert_true(pump(x, set_done, WAIT_MS));
    assert_int_equal(conn_set_get_stats(limited).open, 0);
    assert_int_equal(tnet_expect_eof(peers[0], WAIT_MS), 0);
    conn_set_destroy(limited);
    close(peers[0]);
    close(peers[1]);
}

int main(int argc, char **argv)
{
    if (argc != 2 || backend_config(argv[1], &loop_config) < 0) {
        fprintf(stderr, "usage: %s " BACKEND_CONFIG_NAMES "\n", argv[0]);
        return 2;
    }
    loop_config.buf_count = 64; /* a small pool: each test has one connection */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_ref_in_order_and_released, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_flushes_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_releases_refs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ref_sent_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_brought_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_pushed_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_cleared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_eof_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_outlives_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_limit_and_shutdown, setup, teardown),
    };
    return cmocka_run_group_tests_name(argv[1], tests, NULL, NULL);
}
