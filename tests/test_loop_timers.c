/* test_loop_timers.c - timers fire in deadline order (equal deadlines: submission order), at
 * or after their deadline and within a lateness bound (both by an independent clock), cancel
 * cleanly, and io_loop_run returns when idle or stopped. */
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

/* ---- timers ---- */

#define TIMER_COUNT 8
#define TIMER_CHAIN 3

struct timer_test;

struct timer_rec {
    struct timer_test *t;
    io_op op;
    int index;
    uint64_t deadline_ns; /* independent clock: a time the loop's clock had reached by submission,
                             plus the delay; firing before it is early */
    uint64_t latest_ns;   /* independent clock: after submission, plus the delay and LATE_BOUND_NS */
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
    uint64_t armed_from_ns; /* independent clock, read before the iteration the timers were armed in */
};

/* How late a timer may fire by the independent clock: generous, for sanitizers on two busy
 * cores, yet far below what a lost wake-up (a timer left to the next unrelated event) costs. */
#define LATE_BOUND_NS 500000000ull

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
    /* Each link is armed from a loop clock at least as late as its predecessor's deadline, so
     * link k fires no earlier than k ms after the first was armed. */
    uint64_t now = tnet_now_ns();
    CHECK(&t->log, now >= tr->deadline_ns);
    CHECK(&t->log, now < tr->latest_ns);
    if (++t->chain_fires < TIMER_CHAIN) {
        tr->deadline_ns += 1000000u;
        tr->latest_ns = now + 1000000u + LATE_BOUND_NS;
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
    tr->deadline_ns = t->armed_from_ns + ms * 1000000u;
    assert_int_equal(io_timeout(loop, &tr->op, ms, timer_cb, tr), 0);
    tr->latest_ns = tnet_now_ns() + ms * 1000000u + LATE_BOUND_NS;
    assert_int_equal(tr->rec.calls, 0); /* rule 1: never inside the submit, even at 0 ms */
}

void test_timers(void **state)
{
    static const uint64_t delays[TIMER_COUNT] = { 40, 10, 25, 10, 0, 25, 10, 5 };
    /* Deadline order; equal deadlines in submission order. */
    static const int expected[TIMER_COUNT] = { 4, 7, 1, 3, 6, 2, 5, 0 };
    io_loop *loop = loop_new(state, 0, 0);
    struct timer_test *t = calloc(1, sizeof *t);
    assert_non_null(t);

    io_op idle = {0};
    assert_int_equal(io_cancel(loop, &idle), -ENOENT);
    /* The loop's clock is sampled in every iteration: after this one it is at least
     * armed_from_ns, so "never early" is checked on a clock the loop does not own. */
    t->armed_from_ns = tnet_now_ns();
    assert_true(io_loop_run_once(loop, 0) >= 0);
    for (int i = 0; i < TIMER_COUNT; i++)
        timer_submit(loop, t, &t->timers[i], i, delays[i]);
    timer_submit(loop, t, &t->cancelled, -1, 15);
    assert_int_equal(io_cancel(loop, &t->cancelled.op), 0);
    t->chain = (struct timer_rec){ .t = t, .index = -1, .deadline_ns = t->armed_from_ns + 1000000u };
    assert_int_equal(io_timeout(loop, &t->chain.op, 1, chain_cb, &t->chain), 0);
    t->chain.latest_ns = tnet_now_ns() + 1000000u + LATE_BOUND_NS;
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
        assert_true(tr->fired_ns < tr->latest_ns);
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

void test_run_and_stop(void **state)
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

void test_many_timers(void **state)
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

/* ---- a timer armed from a completion counts from that completion ---- */

/* The loop sleeps in its backend with a recv pending; a peer sends after SLEEP_MS; the recv's
 * callback arms a timer.  It must count from the wake-up, not from when the loop went to
 * sleep: a stale clock would make it fire at once. */
#define LATE_SLEEP_MS 300
#define LATE_TIMER_MS 100

struct late_arm {
    struct check_log log;
    int client;
    io_op recv_op, timer_op;
    uint64_t recv_ns, fired_ns;
    int timer_res;
};

static void *late_sender(void *arg)
{
    struct late_arm *t = arg;
    usleep(LATE_SLEEP_MS * 1000);
    if (write(t->client, "x", 1) != 1)
        check_failed(&t->log, __LINE__, "the peer's write failed");
    return NULL;
}

static void late_timer_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct late_arm *t = op->data;
    t->fired_ns = tnet_now_ns();
    t->timer_res = res;
}

static void late_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct late_arm *t = op->data;
    CHECK_EQ(&t->log, res, 1);
    if (res > 0)
        io_buf_release(loop, op->buf);
    t->recv_ns = tnet_now_ns();
    CHECK_EQ(&t->log, io_timeout(loop, &t->timer_op, LATE_TIMER_MS, late_timer_cb, t), 0);
}

void test_timer_armed_after_a_sleep(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    int server;
    struct late_arm t = {0};
    assert_int_equal(tnet_tcp_pair(&t.client, &server), 0);
    assert_int_equal(io_recv(loop, &t.recv_op, server, 0, late_recv_cb, &t), 0);
    pthread_t peer;
    assert_int_equal(pthread_create(&peer, NULL, late_sender, &t), 0);
    alarm(10); /* io_loop_run has no timeout of its own */
    assert_int_equal(io_loop_run(loop), 0); /* one long wait, the recv, then the timer */
    alarm(0);
    pthread_join(peer, NULL);
    assert_log_clean(&t.log);
    assert_int_equal(t.timer_res, -ETIME);
    uint64_t waited_ms = (t.fired_ns - t.recv_ns) / 1000000u;
    if (waited_ms < LATE_TIMER_MS - 5)
        fail_msg("a %d ms timer armed after a %d ms sleep fired after %llu ms", LATE_TIMER_MS,
                 LATE_SLEEP_MS, (unsigned long long)waited_ms);
    close(t.client);
    assert_int_equal(close_through_loop(loop, server), 0);
    loop_finish(loop);
}
