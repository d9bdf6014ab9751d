/* test_loop_post.c - io_loop_post, the cross-thread hand-off (loop.h), with real threads.
 *
 * argv[1] names the backend under test ("uring", "uring-basic" -- every optional feature off,
 * MSG_RING included, so posts take the inbox --, "uring-coop" -- no DEFER_TASKRUN --,
 * "epoll-lt", "epoll-et").  Each loop here is
 * created on the main thread and run on a thread of its own, kept open by io_loop_keepalive
 * and stopped by a post.  Checked: every post runs exactly once, on its target's thread, in
 * each sender's order (plain threads and a loop sending at once); ping-pong and an accepted
 * socket handed from one loop to another, against partners of every backend; a post wakes a
 * loop blocked with nothing else to do.  Loop threads are joined with a deadline: on expiry
 * the test stops them by a post and fails.  Results are read after the joins, which order
 * them after the loop threads' writes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "loop.h"
#include "net_helpers.h"

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define JOIN_DEADLINE_S 30
#define BASIC_DISABLE (IO_FEAT_MULTISHOT_ACCEPT | IO_FEAT_MULTISHOT_RECV | IO_FEAT_BUF_RING | \
                       IO_FEAT_DEFER_TASKRUN | IO_FEAT_REGISTERED_RING | IO_FEAT_CANCEL_FD | IO_FEAT_SPLICE | \
                       IO_FEAT_FILE_OPS | IO_FEAT_MSG_RING)

struct backend {
    const char *arg;
    io_loop_config cfg;
};

static const struct backend backends[] = {
    { "uring", { .backend = IO_BACKEND_URING } },
    { "uring-basic", { .backend = IO_BACKEND_URING, .disable = BASIC_DISABLE } },
    { "uring-coop", { .backend = IO_BACKEND_URING, .disable = IO_FEAT_DEFER_TASKRUN } },
    { "epoll-lt", { .backend = IO_BACKEND_EPOLL, .epoll_mode = IO_EPOLL_LT } },
    { "epoll-et", { .backend = IO_BACKEND_EPOLL, .epoll_mode = IO_EPOLL_ET } },
    { "poll", { .backend = IO_BACKEND_POLL } },
    { "select", { .backend = IO_BACKEND_SELECT } },
};
#define BACKEND_COUNT (sizeof backends / sizeof backends[0])

/* ---- a loop on its own thread ---- */

struct loop_thread {
    io_loop *loop;
    pthread_t thread;
    pthread_t self;   /* written by the thread before its loop runs anything */
    int run_err;
    io_post stop;     /* the ordinary stop */
    io_post rescue;   /* the stop of a test that ran out of time */
};

static void stop_fn(io_loop *loop, io_post *post)
{
    io_loop_stop(loop);
}

static void *loop_thread_main(void *arg)
{
    struct loop_thread *t = arg;
    t->self = pthread_self();
    io_loop_keepalive(t->loop, 1);
    t->run_err = io_loop_run(t->loop);
    io_loop_keepalive(t->loop, 0);
    return NULL;
}

static int loop_thread_start(struct loop_thread *t, const io_loop_config *cfg)
{
    memset(t, 0, sizeof(*t));
    t->stop.fn = stop_fn;
    t->rescue.fn = stop_fn;
    int err = io_loop_create(&t->loop, cfg);
    if (err < 0)
        return err;
    err = pthread_create(&t->thread, NULL, loop_thread_main, t);
    if (err) {
        io_loop_destroy(t->loop);
        return -err;
    }
    return 0;
}

static bool on_thread(const struct loop_thread *t)
{
    return pthread_equal(pthread_self(), t->self) != 0;
}

/* Join within the deadline; past it, stop the loop by a post and report -ETIMEDOUT. */
static int loop_thread_join(struct loop_thread *t, const struct timespec *deadline)
{
    int err = pthread_timedjoin_np(t->thread, NULL, deadline);
    if (err == ETIMEDOUT) {
        io_loop_post(NULL, t->loop, &t->rescue);
        pthread_join(t->thread, NULL);
        return -ETIMEDOUT;
    }
    return -err;
}

static struct timespec deadline_in(int seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    return ts;
}

/* Joined, ended cleanly, nothing left pending: then destroyed. */
static void loop_thread_finish(struct loop_thread *t, int join_err)
{
    assert_int_equal(join_err, 0);
    assert_int_equal(t->run_err, 0);
    assert_int_equal(io_loop_pending(t->loop), 0);
    io_loop_destroy(t->loop);
}

static const struct backend *under_test(void **state)
{
    return *state;
}

/* ---- many senders, one target: exactly once, each sender in order ---- */

#define PLAIN_SENDERS 4
#define SENDERS (PLAIN_SENDERS + 1) /* the last one is a loop */
#define PER_SENDER 100000u
#define LOOP_SENDER_BURST 1000u     /* posts per iteration of the sending loop */

struct fanin_msg {
    io_post post;
    uint32_t sender;
    uint32_t seq;
    struct fanin *fanin;
};

struct fanin {
    struct loop_thread target;
    struct loop_thread loop_sender;
    struct fanin_msg *msgs;         /* SENDERS * PER_SENDER */
    /* the target's: */
    uint32_t next_seq[SENDERS];
    uint64_t delivered;
    uint64_t out_of_order;
    uint64_t wrong_thread;
    /* the sending loop's: */
    io_post burst;
    uint32_t sent_by_loop;
    uint32_t post_errors;
};

static void fanin_deliver(io_loop *loop, io_post *post)
{
    struct fanin_msg *m = container_of(post, struct fanin_msg, post);
    struct fanin *f = m->fanin;
    if (!on_thread(&f->target) || loop != f->target.loop)
        f->wrong_thread++;
    if (m->seq != f->next_seq[m->sender])
        f->out_of_order++;
    f->next_seq[m->sender] = m->seq + 1;
    if (++f->delivered == (uint64_t)SENDERS * PER_SENDER)
        io_loop_stop(loop);
}

static void *plain_sender(void *arg)
{
    struct fanin_msg *msgs = arg;
    struct fanin *f = msgs[0].fanin;
    for (uint32_t i = 0; i < PER_SENDER; i++) {
        if (io_loop_post(NULL, f->target.loop, &msgs[i].post) != 0)
            __atomic_fetch_add(&f->post_errors, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* A burst a turn, so the sending loop also completes its own sends (MSG_RING's) meanwhile. */
static void loop_sender_burst(io_loop *loop, io_post *post)
{
    struct fanin *f = container_of(post, struct fanin, burst);
    struct fanin_msg *msgs = f->msgs + (size_t)PLAIN_SENDERS * PER_SENDER;
    for (uint32_t n = 0; n < LOOP_SENDER_BURST && f->sent_by_loop < PER_SENDER; n++) {
        if (io_loop_post(loop, f->target.loop, &msgs[f->sent_by_loop++].post) != 0)
            __atomic_fetch_add(&f->post_errors, 1, __ATOMIC_RELAXED);
    }
    if (f->sent_by_loop < PER_SENDER)
        io_loop_post(loop, loop, &f->burst);
    else
        io_loop_post(loop, loop, &f->loop_sender.stop);
}

static void test_many_senders_in_order(void **state)
{
    const struct backend *b = under_test(state);
    struct fanin *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->msgs = calloc((size_t)SENDERS * PER_SENDER, sizeof(*f->msgs));
    assert_non_null(f->msgs);
    for (uint32_t s = 0; s < SENDERS; s++) {
        for (uint32_t i = 0; i < PER_SENDER; i++) {
            struct fanin_msg *m = &f->msgs[(size_t)s * PER_SENDER + i];
            *m = (struct fanin_msg){ .post = { .fn = fanin_deliver }, .sender = s, .seq = i, .fanin = f };
        }
    }
    f->burst.fn = loop_sender_burst;
    assert_int_equal(loop_thread_start(&f->target, &b->cfg), 0);
    assert_int_equal(loop_thread_start(&f->loop_sender, &b->cfg), 0);

    pthread_t plain[PLAIN_SENDERS];
    for (int s = 0; s < PLAIN_SENDERS; s++)
        assert_int_equal(pthread_create(&plain[s], NULL, plain_sender, f->msgs + (size_t)s * PER_SENDER), 0);
    assert_int_equal(io_loop_post(NULL, f->loop_sender.loop, &f->burst), 0);
    for (int s = 0; s < PLAIN_SENDERS; s++)
        pthread_join(plain[s], NULL);

    struct timespec deadline = deadline_in(JOIN_DEADLINE_S);
    int sender_err = loop_thread_join(&f->loop_sender, &deadline);
    int target_err = loop_thread_join(&f->target, &deadline);
    assert_int_equal(f->post_errors, 0);
    assert_int_equal(f->sent_by_loop, PER_SENDER);
    assert_int_equal(f->delivered, (uint64_t)SENDERS * PER_SENDER);
    assert_int_equal(f->out_of_order, 0);
    assert_int_equal(f->wrong_thread, 0);
    for (int s = 0; s < SENDERS; s++)
        assert_int_equal(f->next_seq[s], PER_SENDER);
    loop_thread_finish(&f->loop_sender, sender_err);
    loop_thread_finish(&f->target, target_err);
    free(f->msgs);
    free(f);
}

/* ---- ping-pong between two loop threads ---- */

#define ROUND_TRIPS 10000u

struct pingpong {
    struct loop_thread a, b;
    io_post ball;
    uint32_t trips;       /* counted by b, read by a: the ball carries the order */
    uint32_t wrong_thread;
    uint32_t post_errors;
};

static void ball_at_b(io_loop *loop, io_post *post);

static void ball_at_a(io_loop *loop, io_post *post)
{
    struct pingpong *p = container_of(post, struct pingpong, ball);
    if (!on_thread(&p->a))
        p->wrong_thread++;
    if (p->trips == ROUND_TRIPS) {
        io_loop_stop(loop);
        if (io_loop_post(loop, p->b.loop, &p->b.stop) != 0)
            p->post_errors++;
        return;
    }
    post->fn = ball_at_b;
    if (io_loop_post(loop, p->b.loop, post) != 0)
        p->post_errors++;
}

static void ball_at_b(io_loop *loop, io_post *post)
{
    struct pingpong *p = container_of(post, struct pingpong, ball);
    if (!on_thread(&p->b))
        p->wrong_thread++;
    p->trips++;
    post->fn = ball_at_a;
    if (io_loop_post(loop, p->a.loop, post) != 0)
        p->post_errors++;
}

static bool takes_msg_ring(const struct backend *b)
{
    return strcmp(b->arg, "uring") == 0 || strcmp(b->arg, "uring-coop") == 0;
}

static void ping_pong(const struct backend *a, const struct backend *b)
{
    struct pingpong p = { .ball = { .fn = ball_at_a } };
    assert_int_equal(loop_thread_start(&p.a, &a->cfg), 0);
    assert_int_equal(loop_thread_start(&p.b, &b->cfg), 0);
    if (takes_msg_ring(a) && takes_msg_ring(b)) {
        /* Both rings take messages: the posts go by MSG_RING, into a DEFER_TASKRUN ring
         * (queued as task work for its issuer) as well as into a COOP_TASKRUN one. */
        assert_non_null(strstr(io_loop_describe(p.a.loop), "msg_ring"));
        assert_non_null(strstr(io_loop_describe(p.b.loop), "msg_ring"));
        const char *setup = strcmp(b->arg, "uring") == 0 ? "defer_taskrun" : "coop_taskrun";
        assert_non_null(strstr(io_loop_describe(p.b.loop), setup));
    }
    assert_int_equal(io_loop_post(NULL, p.a.loop, &p.ball), 0);
    struct timespec deadline = deadline_in(JOIN_DEADLINE_S);
    int a_err = loop_thread_join(&p.a, &deadline);
    int b_err = loop_thread_join(&p.b, &deadline);
    if (p.trips != ROUND_TRIPS)
        fail_msg("%s -> %s: %u round trips of %u", a->arg, b->arg, p.trips, ROUND_TRIPS);
    assert_int_equal(p.wrong_thread, 0);
    assert_int_equal(p.post_errors, 0);
    loop_thread_finish(&p.a, a_err);
    loop_thread_finish(&p.b, b_err);
}

static void test_ping_pong_with_every_backend(void **state)
{
    for (size_t i = 0; i < BACKEND_COUNT; i++)
        ping_pong(under_test(state), &backends[i]);
}

/* ---- a post wakes a loop blocked with nothing else to do ---- */

#define BLOCKED_FOR_MS 300
#define WAKE_BOUND_NS 2000000000ull

struct wake {
    struct loop_thread target;
    io_post post;
    uint64_t delivered_ns;
    int deliveries;
};

static void wake_fn(io_loop *loop, io_post *post)
{
    struct wake *w = container_of(post, struct wake, post);
    w->delivered_ns = tnet_now_ns();
    w->deliveries++;
    io_loop_stop(loop);
}

static void test_post_wakes_a_blocked_loop(void **state)
{
    struct wake w = { .post = { .fn = wake_fn } };
    assert_int_equal(loop_thread_start(&w.target, &under_test(state)->cfg), 0);
    /* Long enough for the loop to be waiting with no limit: it has nothing in flight. */
    usleep(BLOCKED_FOR_MS * 1000);
    uint64_t posted_ns = tnet_now_ns();
    assert_int_equal(io_loop_post(NULL, w.target.loop, &w.post), 0);
    struct timespec deadline = deadline_in(JOIN_DEADLINE_S);
    int err = loop_thread_join(&w.target, &deadline);
    assert_int_equal(w.deliveries, 1);
    assert_true(w.delivered_ns - posted_ns < WAKE_BOUND_NS);
    loop_thread_finish(&w.target, err);
}

/* ---- an accepted socket handed from one loop to another ---- */

#define HANDOFF_MSG "handed over, then echoed"

struct handoff {
    struct loop_thread acceptor, io;
    int listen_fd;
    int fd;               /* accepted by the acceptor, used by the io loop */
    io_post arm_accept;   /* to the acceptor: start */
    io_post adopt;        /* to the io loop: the fd is yours */
    io_op accept_op, recv_op, send_op, close_op;
    char echo[64];
    size_t echo_len;
    int accept_res, recv_res, send_res, close_res;
    uint32_t wrong_thread;
};

static void handoff_closed(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct handoff *h = op->data;
    h->close_res = res;
    io_loop_stop(loop);
    io_loop_post(loop, h->acceptor.loop, &h->acceptor.stop);
}

static void handoff_sent(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct handoff *h = op->data;
    h->send_res = res;
    if (io_close(loop, &h->close_op, h->fd, handoff_closed, h) != 0)
        h->close_res = -1000;
}

static void handoff_received(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct handoff *h = op->data;
    h->recv_res = res;
    if (!on_thread(&h->io))
        h->wrong_thread++;
    if (res > 0) {
        size_t n = (size_t)res < sizeof(h->echo) ? (size_t)res : sizeof(h->echo);
        memcpy(h->echo, op->buf.data, n);
        h->echo_len = n;
        io_buf_release(loop, op->buf);
    }
    if (io_send(loop, &h->send_op, h->fd, h->echo, h->echo_len, handoff_sent, h) != 0)
        h->send_res = -1000;
}

static void handoff_adopt(io_loop *loop, io_post *post)
{
    struct handoff *h = container_of(post, struct handoff, adopt);
    if (!on_thread(&h->io))
        h->wrong_thread++;
    if (io_recv(loop, &h->recv_op, h->fd, 0, handoff_received, h) != 0)
        h->recv_res = -1000;
}

static void handoff_accepted(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct handoff *h = op->data;
    h->accept_res = res;
    if (res < 0) {
        io_loop_stop(loop);
        io_loop_post(loop, h->io.loop, &h->io.stop);
        return;
    }
    h->fd = res;
    io_loop_post(loop, h->io.loop, &h->adopt);
}

static void handoff_arm_accept(io_loop *loop, io_post *post)
{
    struct handoff *h = container_of(post, struct handoff, arm_accept);
    if (!on_thread(&h->acceptor))
        h->wrong_thread++;
    int err = io_accept(loop, &h->accept_op, h->listen_fd, 0, handoff_accepted, h);
    if (err < 0)
        handoff_accepted(loop, &h->accept_op, err, 0);
}

static void hand_off(const struct backend *a, const struct backend *b)
{
    struct handoff h = { .arm_accept = { .fn = handoff_arm_accept }, .adopt = { .fn = handoff_adopt },
                         .fd = -1 };
    h.accept_op.data = h.recv_op.data = &h;
    uint16_t port;
    h.listen_fd = tnet_listen(16, &port);
    assert_true(h.listen_fd >= 0);
    assert_int_equal(loop_thread_start(&h.acceptor, &a->cfg), 0);
    assert_int_equal(loop_thread_start(&h.io, &b->cfg), 0);
    assert_int_equal(io_loop_post(NULL, h.acceptor.loop, &h.arm_accept), 0);

    int client = tnet_connect(port);
    assert_true(client >= 0);
    assert_int_equal(tnet_write_all(client, HANDOFF_MSG, strlen(HANDOFF_MSG), 5000), 0);
    char back[sizeof(HANDOFF_MSG)] = {0};
    ssize_t got = tnet_read_full(client, back, strlen(HANDOFF_MSG), 5000);
    int eof = tnet_expect_eof(client, 5000);
    close(client);

    struct timespec deadline = deadline_in(JOIN_DEADLINE_S);
    int io_err = loop_thread_join(&h.io, &deadline);
    int acceptor_err = loop_thread_join(&h.acceptor, &deadline);
    close(h.listen_fd);
    if (got != (ssize_t)strlen(HANDOFF_MSG) || memcmp(back, HANDOFF_MSG, strlen(HANDOFF_MSG)) != 0)
        fail_msg("%s -> %s: echoed %zd bytes \"%s\"", a->arg, b->arg, got, back);
    assert_int_equal(eof, 0);
    assert_true(h.accept_res >= 0);
    assert_int_equal(h.recv_res, (int)strlen(HANDOFF_MSG));
    assert_int_equal(h.send_res, (int)strlen(HANDOFF_MSG));
    assert_int_equal(h.close_res, 0);
    assert_int_equal(h.wrong_thread, 0);
    loop_thread_finish(&h.io, io_err);
    loop_thread_finish(&h.acceptor, acceptor_err);
}

static void test_accepted_fd_handed_to_every_backend(void **state)
{
    for (size_t i = 0; i < BACKEND_COUNT; i++)
        hand_off(under_test(state), &backends[i]);
}

/* ---- the contract's edges ---- */

static void count_fn(io_loop *loop, io_post *post)
{
    (*(int *)post->data)++;
}

/* Never inside the call, even to the caller's own loop; a loop with only posts waiting
 * runs them before io_loop_run returns; no fn: -EINVAL. */
static void test_post_to_self_and_refusals(void **state)
{
    io_loop *loop;
    assert_int_equal(io_loop_create(&loop, &under_test(state)->cfg), 0);
    int runs = 0;
    io_post posts[3];
    for (int i = 0; i < 3; i++)
        posts[i] = (io_post){ .fn = count_fn, .data = &runs };
    assert_int_equal(io_loop_post(loop, loop, &posts[0]), 0);
    assert_int_equal(io_loop_post(NULL, loop, &posts[1]), 0);
    assert_int_equal(runs, 0);
    assert_int_equal(io_loop_pending(loop), 0);
    assert_int_equal(io_loop_run(loop), 0);
    assert_int_equal(runs, 2);
    assert_int_equal(io_loop_post(loop, loop, &posts[2]), 0);
    assert_int_equal(io_loop_run(loop), 0);
    assert_int_equal(runs, 3);
    io_post no_fn = {0};
    assert_int_equal(io_loop_post(loop, loop, &no_fn), -EINVAL);
    assert_int_equal(io_loop_post(NULL, loop, NULL), -EINVAL);
    assert_int_equal(io_loop_run(loop), 0);
    assert_int_equal(runs, 3);
    assert_int_equal(io_loop_pending(loop), 0);
    io_loop_destroy(loop);
}

int main(int argc, char **argv)
{
    const struct backend *b = NULL;
    for (size_t i = 0; argc == 2 && i < BACKEND_COUNT; i++)
        if (strcmp(argv[1], backends[i].arg) == 0)
            b = &backends[i];
    if (!b) {
        fprintf(stderr, "usage: %s uring|uring-basic|uring-coop|epoll-lt|epoll-et|poll|select\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_post_to_self_and_refusals, (void *)b),
        cmocka_unit_test_prestate(test_post_wakes_a_blocked_loop, (void *)b),
        cmocka_unit_test_prestate(test_many_senders_in_order, (void *)b),
        cmocka_unit_test_prestate(test_ping_pong_with_every_backend, (void *)b),
        cmocka_unit_test_prestate(test_accepted_fd_handed_to_every_backend, (void *)b),
    };
    return cmocka_run_group_tests_name(b->arg, tests, NULL, NULL);
}
