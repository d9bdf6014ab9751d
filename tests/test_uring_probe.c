/* test_uring_probe.c - the io_uring proactor's own promises, beyond the shared loop suite.
 *
 * argv[1] names a feature set: "uring" (all the kernel has) or one with IO_FEAT_* bits
 * disabled, so each fallback path runs on its own as well as all together ("uring-basic").
 * Checked here: describe and report agree with each other and with cfg->disable; the report
 * keeps its line format; a loop created on one thread runs on another; recvs starved of pool
 * buffers on several connections lose and reorder nothing, and can be cancelled or closed
 * while they wait; a CQ far too small for a burst of connections loses none of them; and when
 * seccomp refuses io_uring_setup, creating the loop fails cleanly and AUTO picks epoll.
 */
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kernel_probe.h"
#include "loop_backend.h"
#include "net_helpers.h"

struct feature_set {
    const char *arg;
    unsigned disable;
    int sqpoll; /* SQPOLL idle ms: the kernel thread submits, so no task-run flags */
};

static const struct feature_set *features;

static io_loop *loop_new(uint32_t buf_count, uint32_t buf_size, uint32_t max_inflight)
{
    io_loop_config cfg = { .backend = IO_BACKEND_URING, .disable = features->disable, .buf_count = buf_count,
                           .buf_size = buf_size, .max_inflight = max_inflight, .sqpoll = features->sqpoll };
    io_loop *loop = NULL;
    int rc = io_loop_create(&loop, &cfg);
    if (rc != 0)
        fail_msg("io_loop_create(%s): %s", features->arg, strerror(-rc));
    assert_string_equal(io_loop_backend_name(loop), "uring");
    return loop;
}

static void loop_finish(io_loop *loop)
{
    for (int i = 0; i < 200 && io_loop_pending(loop); i++)
        assert_true(io_loop_run_once(loop, 10) >= 0);
    assert_int_equal(io_loop_pending(loop), 0);
    io_loop_destroy(loop);
}

/* Run until *flag or timeout_ms: 0 or -ETIMEDOUT. */
static int run_until_flag(io_loop *loop, const bool *flag, int timeout_ms)
{
    uint64_t deadline = tnet_now_ms() + (uint64_t)timeout_ms;
    while (!*flag) {
        if (tnet_now_ms() >= deadline)
            return -ETIMEDOUT;
        if (io_loop_run_once(loop, 5) < 0)
            return -EIO;
    }
    return 0;
}

static void run_for(io_loop *loop, int ms)
{
    uint64_t deadline = tnet_now_ms() + (uint64_t)ms;
    while (tnet_now_ms() < deadline)
        assert_true(io_loop_run_once(loop, 2) >= 0);
}

static char *report_text(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    io_backend_uring.report(out);
    fclose(out);
    return text;
}

/* ---- describe and report ---- */

struct feature_word {
    unsigned feat;
    const char *in_describe;
    const char *report_yes;
};

static const struct feature_word words[] = {
    { IO_FEAT_DEFER_TASKRUN, " defer_taskrun", "  setup defer_taskrun: yes\n" },
    { IO_FEAT_REGISTERED_RING, " registered_ring", "  registered ring fd: yes\n" },
    { IO_FEAT_MULTISHOT_ACCEPT, " multishot_accept", "  multishot accept: yes\n" },
    { IO_FEAT_MULTISHOT_RECV, " multishot_recv", "  multishot recv (with the buffer ring): yes\n" },
    { IO_FEAT_BUF_RING, " buf_ring(", "  provided buffer ring: yes\n" },
    { IO_FEAT_CANCEL_FD, " cancel_fd", "  cancel by fd (all): yes\n" },
};

/* A feature is in use exactly when the kernel has it, it is not disabled, and what it
 * rests on is in use too (multishot recvs take their buffers from the ring). */
static void test_describe_matches_report(void **state)
{
    char *report = report_text();
    io_loop *loop = loop_new(64, 2048, 0);
    const char *describe = io_loop_describe(loop);
    assert_true(strncmp(describe, "uring: ", 7) == 0);
    unsigned in_use = 0;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        bool kernel_has = strstr(report, words[i].report_yes) != NULL;
        bool wanted = kernel_has && !(features->disable & words[i].feat);
        if (words[i].feat == IO_FEAT_MULTISHOT_RECV)
            wanted = wanted && !(features->disable & IO_FEAT_BUF_RING);
        if (words[i].feat == IO_FEAT_DEFER_TASKRUN && features->sqpoll)
            wanted = wanted && !strstr(report, "  setup sqpoll: yes\n");
        bool described = strstr(describe, words[i].in_describe) != NULL;
        if (wanted != described)
            fail_msg("'%s' %s in \"%s\"", words[i].in_describe, wanted ? "missing" : "unexpected", describe);
        in_use |= described ? words[i].feat : 0;
    }
    assert_non_null(strstr(describe, (in_use & IO_FEAT_BUF_RING) ? "buf_ring(64x2048)" : "poll_then_recv(64x2048)"));
    assert_non_null(strstr(describe, (in_use & IO_FEAT_CANCEL_FD) ? "cancel_fd" : "cancel_each"));
    if (features->sqpoll) /* main() skipped the set where the kernel refuses SQPOLL */
        assert_true(strncmp(describe, "uring: sqpoll ", 14) == 0);
    free(report);
    loop_finish(loop);
}

static void test_report_format(void **state)
{
    char *report = report_text();
    regex_t line_re;
    assert_int_equal(regcomp(&line_re, "^  [a-z0-9_ ()]+: (yes|no \\([A-Z0-9]+: [^)]+\\))$", REG_EXTENDED | REG_NOSUB), 0);
    int lines = 0;
    for (char *save = NULL, *line = strtok_r(report, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (regexec(&line_re, line, 0, NULL, 0) != 0)
            fail_msg("report line \"%s\" is not \"  feature: yes|no (ERRNO: why)\"", line);
        lines++;
    }
    regfree(&line_re);
    free(report);
    report = report_text();
    static const char *const expected[] = { "  setup plain: ", "  opcode accept: ", "  opcode recv: ",
                                            "  opcode send: ", "  opcode sendmsg: ", "  opcode read: ", "  opcode close: ",
                                            "  opcode async_cancel: ", "  opcode poll_add: " };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        assert_non_null(strstr(report, expected[i]));
    assert_true(lines >= 17);
    free(report);
}

/* ---- a loop created on one thread and run on another ---- */

struct moved {
    io_loop *loop;
    int recv_res;
    bool done;
    char got[8];
    int failure_line;
};

static void moved_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct moved *m = op->data;
    m->recv_res = res;
    if (res > 0) {
        memcpy(m->got, op->buf.data, (size_t)res < sizeof(m->got) ? (size_t)res : sizeof(m->got));
        io_buf_release(loop, op->buf);
    }
    m->done = true;
}

static void *moved_main(void *arg)
{
    struct moved *m = arg;
    int client, server;
    io_op op = {0};
    if (tnet_tcp_pair(&client, &server) < 0) {
        m->failure_line = __LINE__;
        return NULL;
    }
    if (io_recv(m->loop, &op, server, 0, moved_recv_cb, m) != 0 || tnet_write_all(client, "moved", 5, 1000) != 0)
        m->failure_line = __LINE__;
    else if (run_until_flag(m->loop, &m->done, 2000) != 0)
        m->failure_line = __LINE__;
    close(client);
    close(server);
    return NULL;
}

static void test_loop_runs_on_another_thread(void **state)
{
    io_loop *loop = loop_new(0, 0, 0);
    struct moved m = { .loop = loop };
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, moved_main, &m), 0);
    pthread_join(thread, NULL);
    assert_int_equal(m.failure_line, 0);
    assert_int_equal(m.recv_res, 5);
    assert_memory_equal(m.got, "moved", 5);
    loop_finish(loop);
}

/* ---- several connections starved of pool buffers ---- */

#define STARVE_CONNS 4
#define STARVE_POOL 4u
#define STARVE_BUF 512u
#define STARVE_BYTES (96u * 1024)
#define STREAM_BASE(i) ((uint64_t)(i) << 24)

struct starve;

struct starve_conn {
    struct starve *s;
    int client, server;
    io_op recv_op;
    uint64_t received;
    int finals;
    int final_res;
};

struct starve {
    struct starve_conn conns[STARVE_CONNS];
    io_buf held[STARVE_POOL];
    uint32_t held_count;
    io_op timer_op;
    bool timer_armed;
    int ended;
    bool all_ended;
    int failure_line;
};

static void starve_fail(struct starve *s, int line)
{
    if (!s->failure_line)
        s->failure_line = line;
}

static void starve_timer_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct starve *s = op->data;
    s->timer_armed = false;
    /* Give back every buffer at once: several parked recvs compete for them. */
    for (uint32_t i = 0; i < s->held_count; i++)
        io_buf_release(loop, s->held[i]);
    s->held_count = 0;
}

static void starve_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct starve_conn *c = op->data;
    struct starve *s = c->s;
    if (res > 0) {
        if (!(flags & IO_CQE_MORE) || (uint32_t)res > STARVE_BUF || s->held_count == STARVE_POOL)
            starve_fail(s, __LINE__);
        if (tnet_pattern_mismatch(op->buf.data, (size_t)res, STREAM_BASE(c - s->conns) + c->received) < (size_t)res)
            starve_fail(s, __LINE__);
        c->received += (uint64_t)res;
        s->held[s->held_count++] = op->buf;
        if (!s->timer_armed && s->held_count == STARVE_POOL)
            s->timer_armed = io_timeout(loop, &s->timer_op, 1, starve_timer_cb, s) == 0;
        return;
    }
    c->finals++;
    c->final_res = res;
    if (flags & IO_CQE_MORE)
        starve_fail(s, __LINE__);
    if (++s->ended == STARVE_CONNS)
        s->all_ended = true;
    /* Nothing more will come: whatever is held goes back now. */
    if (s->all_ended && !s->timer_armed)
        starve_timer_cb(loop, &s->timer_op, 0, 0);
}

static void test_starved_recvs_keep_every_byte(void **state)
{
    io_loop *loop = loop_new(STARVE_POOL, STARVE_BUF, 0);
    struct starve *s = calloc(1, sizeof(*s));
    char *data = malloc(STARVE_BYTES);
    assert_true(s && data);
    for (int i = 0; i < STARVE_CONNS; i++) {
        struct starve_conn *c = &s->conns[i];
        c->s = s;
        assert_int_equal(tnet_tcp_pair(&c->client, &c->server), 0);
        assert_int_equal(io_recv(loop, &c->recv_op, c->server, IO_MULTISHOT, starve_recv_cb, c), 0);
    }
    /* Everything is queued in the sockets before the loop runs: all recvs want buffers at once. */
    for (int i = 0; i < STARVE_CONNS; i++) {
        tnet_pattern_fill(data, STARVE_BYTES, STREAM_BASE(i));
        assert_int_equal(tnet_write_all(s->conns[i].client, data, STARVE_BYTES, 2000), 0);
        assert_int_equal(shutdown(s->conns[i].client, SHUT_WR), 0);
    }
    assert_int_equal(run_until_flag(loop, &s->all_ended, 15000), 0);
    assert_int_equal(s->failure_line, 0);
    for (int i = 0; i < STARVE_CONNS; i++) {
        struct starve_conn *c = &s->conns[i];
        assert_int_equal(c->received, STARVE_BYTES);
        assert_int_equal(c->finals, 1);
        assert_int_equal(c->final_res, 0);
        close(c->client);
        close(c->server);
    }
    free(data);
    free(s);
    loop_finish(loop);
}

/* ---- a recv waiting for a buffer can be cancelled, or closed ---- */

struct waiter {
    int calls;
    int res;
    unsigned flags;
    io_buf buf;
    bool got;
};

static void waiter_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct waiter *w = op->data;
    w->calls++;
    w->res = res;
    w->flags = flags;
    if (res > 0)
        w->buf = op->buf; /* held: the pool has one buffer, and this is it */
    w->got = true;
}

/* With a one-buffer pool held by connection A, connection B's recv waits; then B is ended by
 * io_cancel or by io_close, once, with -ECANCELED, and gets nothing after. */
static void parked_recv_case(bool by_close)
{
    io_loop *loop = loop_new(1, 256, 0);
    int a_client, a_server, b_client, b_server;
    assert_int_equal(tnet_tcp_pair(&a_client, &a_server), 0);
    assert_int_equal(tnet_tcp_pair(&b_client, &b_server), 0);
    struct waiter a = {0}, b = {0}, closed = {0};
    io_op a_op = {0}, b_op = {0}, close_op = {0};
    assert_int_equal(io_recv(loop, &a_op, a_server, IO_MULTISHOT, waiter_cb, &a), 0);
    assert_int_equal(io_recv(loop, &b_op, b_server, IO_MULTISHOT, waiter_cb, &b), 0);
    assert_int_equal(tnet_write_all(a_client, "a", 1, 1000), 0);
    assert_int_equal(run_until_flag(loop, &a.got, 2000), 0);
    assert_int_equal(a.res, 1);
    assert_int_equal(tnet_write_all(b_client, "b", 1, 1000), 0);
    run_for(loop, 30);
    assert_int_equal(b.calls, 0);

    if (by_close) {
        assert_int_equal(io_close(loop, &close_op, b_server, waiter_cb, &closed), 0);
        assert_int_equal(run_until_flag(loop, &closed.got, 2000), 0);
        assert_int_equal(closed.res, 0);
    } else {
        assert_int_equal(io_cancel(loop, &b_op), 0);
    }
    assert_int_equal(run_until_flag(loop, &b.got, 2000), 0);
    io_buf_release(loop, a.buf);
    run_for(loop, 30);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.res, -ECANCELED);
    assert_int_equal(b.flags, 0);
    assert_int_equal(io_cancel(loop, &b_op), -ENOENT);

    assert_int_equal(io_cancel(loop, &a_op), 0);
    a.got = false;
    assert_int_equal(run_until_flag(loop, &a.got, 2000), 0);
    assert_int_equal(a.res, -ECANCELED);
    close(a_client);
    close(a_server);
    close(b_client);
    if (!by_close)
        close(b_server);
    loop_finish(loop);
}

static void test_cancel_a_recv_waiting_for_a_buffer(void **state)
{
    parked_recv_case(false);
}

static void test_close_a_recv_waiting_for_a_buffer(void **state)
{
    parked_recv_case(true);
}

/* ---- a burst of connections into a tiny completion queue ---- */

#define BURST 300

struct burst {
    int accepted;
    int with_more;
    int finals;
    int final_res;
    bool ended;
};

static void burst_accept_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct burst *b = op->data;
    if (res >= 0) {
        close(res);
        b->accepted++;
    }
    if (flags & IO_CQE_MORE) {
        b->with_more++;
        return;
    }
    b->finals++;
    b->final_res = res;
    b->ended = true;
}

static void test_accept_burst_overflows_nothing(void **state)
{
    assert_true(tnet_raise_nofile_limit() >= 2 * BURST + 100);
    int fds_before = tnet_count_open_fds();
    /* max_inflight 1 and 2 buffers: the smallest ring this backend makes (a 128-entry CQ). */
    io_loop *loop = loop_new(2, 256, 1);
    uint16_t port;
    int listener = tnet_listen(BURST + 10, &port);
    assert_true(listener >= 0);
    int clients[BURST];
    for (int i = 0; i < BURST; i++) {
        clients[i] = tnet_connect(port);
        assert_true(clients[i] >= 0);
    }
    struct burst b = {0};
    io_op op = {0};
    assert_int_equal(io_accept(loop, &op, listener, IO_MULTISHOT, burst_accept_cb, &b), 0);
    uint64_t deadline = tnet_now_ms() + 5000;
    while (b.accepted < BURST && !b.ended && tnet_now_ms() < deadline)
        assert_true(io_loop_run_once(loop, 5) >= 0);
    assert_int_equal(b.accepted, BURST);
    assert_int_equal(b.with_more, BURST);
    assert_int_equal(b.finals, 0);
    assert_int_equal(io_cancel(loop, &op), 0);
    assert_int_equal(run_until_flag(loop, &b.ended, 2000), 0);
    assert_int_equal(b.finals, 1);
    assert_int_equal(b.final_res, -ECANCELED);
    for (int i = 0; i < BURST; i++)
        close(clients[i]);
    close(listener);
    loop_finish(loop);
    assert_int_equal(tnet_count_open_fds(), fds_before);
}

/* ---- io_uring_setup refused ---- */

/* In a child: seccomp makes io_uring_setup fail with EPERM.  Returns 0, or the number of
 * the first check that failed (no cmocka asserts in a forked child). */
static int refused_child(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_uring_setup), 0) < 0 ||
        seccomp_load(ctx) < 0)
        return 1;
    seccomp_release(ctx);
    int fds = tnet_count_open_fds();
    io_loop *loop = NULL;
    io_loop_config cfg = { .backend = IO_BACKEND_URING, .disable = features->disable };
    if (io_loop_create(&loop, &cfg) != -EPERM)
        return 2;
    if (tnet_count_open_fds() != fds)
        return 3;
    cfg.backend = IO_BACKEND_AUTO;
    if (io_loop_create(&loop, &cfg) != 0)
        return 4;
    int bad = strcmp(io_loop_backend_name(loop), "epoll-lt") != 0 ||
              !strstr(io_loop_describe(loop), "io_uring_setup: Operation not permitted");
    io_loop_destroy(loop);
    if (bad)
        return 5;
    char *report = report_text();
    bad = !strstr(report, "  io_uring (io_uring_setup): no (EPERM: Operation not permitted)\n") ||
          !strstr(report, "  setup plain: no (EPERM: ");
    free(report);
    return bad ? 6 : 0;
}

static void test_refused_setup_leaves_nothing(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(refused_child());
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("check %d of refused_child() failed", WEXITSTATUS(status));
}

#define ALL_FEATURES (IO_FEAT_DEFER_TASKRUN | IO_FEAT_REGISTERED_RING | IO_FEAT_MULTISHOT_ACCEPT | \
                      IO_FEAT_MULTISHOT_RECV | IO_FEAT_BUF_RING | IO_FEAT_CANCEL_FD | IO_FEAT_SPLICE | \
                      IO_FEAT_FILE_OPS)

int main(int argc, char **argv)
{
    static const struct feature_set sets[] = {
        { "uring", 0, 0 },
        { "uring-basic", ALL_FEATURES, 0 },
        { "uring-coop", IO_FEAT_DEFER_TASKRUN | IO_FEAT_REGISTERED_RING, 0 },
        { "uring-single-accept", IO_FEAT_MULTISHOT_ACCEPT, 0 },
        { "uring-single-recv", IO_FEAT_MULTISHOT_RECV, 0 },
        { "uring-no-buf-ring", IO_FEAT_BUF_RING, 0 },
        { "uring-cancel-each", IO_FEAT_CANCEL_FD, 0 },
        { "uring-sqpoll", 0, 10 },
    };
    for (size_t i = 0; argc == 2 && i < sizeof(sets) / sizeof(sets[0]); i++)
        if (strcmp(argv[1], sets[i].arg) == 0)
            features = &sets[i];
    if (!features) {
        fprintf(stderr, "usage: %s uring|uring-basic|uring-coop|uring-single-accept|uring-single-recv|"
                        "uring-no-buf-ring|uring-cancel-each|uring-sqpoll\n", argv[0]);
        return 2;
    }
    char why[128];
    if (features->sqpoll && kernel_probe_sqpoll(why, sizeof why) < 0) {
        printf("SKIP %s: %s\n", features->arg, why);
        return TEST_SKIP_STATUS;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe_matches_report),
        cmocka_unit_test(test_report_format),
        cmocka_unit_test(test_loop_runs_on_another_thread),
        cmocka_unit_test(test_starved_recvs_keep_every_byte),
        cmocka_unit_test(test_cancel_a_recv_waiting_for_a_buffer),
        cmocka_unit_test(test_close_a_recv_waiting_for_a_buffer),
        cmocka_unit_test(test_accept_burst_overflows_nothing),
        cmocka_unit_test(test_refused_setup_leaves_nothing),
    };
    return cmocka_run_group_tests_name(argv[1], tests, NULL, NULL);
}
