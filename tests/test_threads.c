/* test_threads.c - the real ioserve binary with several loops, and its graceful shutdown.
 *
 * usage: test_threads IOSERVE_PATH uring|epoll reuseport|dispatch
 * Echo, ETX and HTTP with --threads 2 and the --accept mode given; then SIGTERM with
 * 200 requests half-received: each response arrives whole, idle keep-alive connections close
 * at once, new connections are refused, WebSockets hear close 1001, and the server exits 0.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioserve_proc.h"
#include "net_helpers.h"
#include "tcp_watch.h"

#define IO_TIMEOUT_MS 5000
#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 8000
#define CLIENTS 8
#define INFLIGHT 200
#define IDLE 5
#define BODY_LEN 1000
#define BODY_FIRST 400

/* Set once in main from argv, read-only afterwards. */
static const char *ioserve_path;
static const char *backend;
static const char *accept_mode;

static void server_start(ioserve_proc *p, const char *protocol, const char *extra1, const char *extra2)
{
    const char *argv[14] = {ioserve_path, "--protocol", protocol, "--backend", backend, "--threads", "2",
                            "--accept", accept_mode};
    size_t n = 9;
    if (extra1)
        argv[n++] = extra1;
    if (extra2)
        argv[n++] = extra2;
    argv[n] = NULL;
    int err = proc_start(p, argv, START_TIMEOUT_MS);
    if (err < 0)
        fprintf(stderr, "ioserve did not start (%s); it said:\n%s\n", strerror(-err), p->err);
    assert_int_equal(err, 0);
    assert_non_null(strstr(p->start_line, "2 threads"));
    assert_non_null(strstr(p->start_line, strcmp(accept_mode, "dispatch") == 0 ? "round-robin" : "SO_REUSEPORT"));
}

/* Read a response head (up to its blank line) into buf; its length. */
static size_t read_head(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len < cap - 1) {
        assert_int_equal(tnet_read_full(fd, buf + len, 1, IO_TIMEOUT_MS), 1);
        len++;
        buf[len] = '\0';
        if (len >= 4 && memcmp(buf + len - 4, "\r\n\r\n", 4) == 0)
            return len;
    }
    fail_msg("no end of head in %zu bytes", len);
    return 0;
}

/* ---- the flags ---- */

static void expect_usage_error(const char *const *args, const char *says)
{
    const char *argv[12] = {ioserve_path};
    size_t n = 1;
    for (; args[n - 1]; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    static proc_output out; /* large: off the stack */
    assert_int_equal(proc_run(argv, START_TIMEOUT_MS, &out), 0);
    assert_true(WIFEXITED(out.status));
    assert_int_equal(WEXITSTATUS(out.status), 2);
    if (!strstr(out.err, says))
        fprintf(stderr, "expected '%s' in: %s\n", says, out.err);
    assert_non_null(strstr(out.err, says));
}

static void test_flags_refused(void **state)
{
    (void)state;
    expect_usage_error((const char *[]){"--threads", "0", NULL}, "--threads '0'");
    expect_usage_error((const char *[]){"--threads", "1025", NULL}, "--threads '1025'");
    expect_usage_error((const char *[]){"--accept", "fork", NULL}, "reuseport dispatch");
    expect_usage_error((const char *[]){"--shutdown-timeout-ms", "0", NULL}, "--shutdown-timeout-ms '0'");
    expect_usage_error((const char *[]){"--ack-mode", "worker", NULL}, "--ack-mode: applies to --protocol etx");
    expect_usage_error((const char *[]){"--etx-ack", "ack", NULL}, "--etx-ack: applies to --protocol etx");
    expect_usage_error((const char *[]){"--protocol", "etx", "--etx-ack", "ack03", NULL}, "ack ack-etx");
    expect_usage_error((const char *[]){"--protocol", "etx", "--workers", "2", NULL},
                       "--workers: applies to --ack-mode worker");
    expect_usage_error((const char *[]){"--protocol", "etx", "--ack-mode", "worker", "--workers", "0", NULL},
                       "--workers '0'");
}

/* ---- several loops serving ---- */

static void test_echo_two_threads(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "echo", NULL, NULL);
    int fds[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        fds[i] = connect_to(p);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < CLIENTS; i++) {
            char text[32];
            snprintf(text, sizeof(text), "client %d round %d", i, round);
            send_text(fds[i], text);
            expect_text(fds[i], text);
        }
    }
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
    assert_non_null(strstr(p->err, "stopped after 8 connections"));
}

static void test_etx_two_threads(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "etx", "--ack-delay-ms", "20");
    int fds[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = connect_to(p);
        send_text(fds[i], "one\x03two\x03three\x03");
    }
    for (int i = 0; i < CLIENTS; i++) {
        expect_text(fds[i], "ackackack");
        send_text(fds[i], "goodbye\x03");
        assert_int_equal(tnet_expect_eof(fds[i], IO_TIMEOUT_MS), 0);
        close(fds[i]);
    }
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
}

static void test_http_two_threads(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "http", NULL, NULL);
    for (int i = 0; i < CLIENTS; i++) {
        int fd = connect_to(p);
        for (int round = 0; round < 2; round++) {
            send_text(fd, "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
            char head[1024];
            read_head(fd, head, sizeof(head));
            assert_non_null(strstr(head, "HTTP/1.1 200"));
            assert_non_null(strstr(head, "Content-Length: 13\r\n"));
            expect_text(fd, "Hello, World!");
        }
        close(fd);
    }
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
}

/* ---- the worker pool ---- */

#define WORKER_CLIENTS 20
#define WORKER_MESSAGES 3
#define WORKER_DELAY_MS 200

/* Each ack is a 200 ms blocking sleep on one of 4 workers: 60 of them take 3 s with 4 workers,
 * 12 s one after another.  Every client gets its 3 acks, then goodbye closes it. */
static void test_etx_worker_pool(void **state)
{
    ioserve_proc *p = *state;
    const char *argv[16] = {ioserve_path, "--protocol", "etx", "--backend", backend, "--threads", "2",
                            "--accept", accept_mode, "--ack-mode", "worker", "--workers", "4",
                            "--ack-delay-ms", "200", NULL};
    int err = proc_start(p, argv, START_TIMEOUT_MS);
    if (err < 0)
        fprintf(stderr, "ioserve did not start (%s); it said:\n%s\n", strerror(-err), p->err);
    assert_int_equal(err, 0);
    int fds[WORKER_CLIENTS];
    uint64_t start = tnet_now_ms();
    for (int i = 0; i < WORKER_CLIENTS; i++) {
        fds[i] = connect_to(p);
        send_text(fds[i], "first\x03second\x03third\x03");
    }
    for (int i = 0; i < WORKER_CLIENTS; i++) {
        expect_text(fds[i], "ackackack");
        send_text(fds[i], "goodbye\x03");
        assert_int_equal(tnet_expect_eof(fds[i], IO_TIMEOUT_MS), 0);
        close(fds[i]);
    }
    uint64_t took = tnet_now_ms() - start;
    uint64_t serial = (uint64_t)WORKER_CLIENTS * WORKER_MESSAGES * WORKER_DELAY_MS;
    fprintf(stderr, "60 worker acks took %llu ms (serial: %llu ms)\n", (unsigned long long)took,
            (unsigned long long)serial);
    assert_true(took >= serial / 4);
    assert_true(took < serial / 2);
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
}

/* ---- graceful shutdown ---- */

static char body[BODY_LEN];

static void start_post(int fd)
{
    char head[128];
    snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", BODY_LEN);
    send_text(fd, head);
    assert_int_equal(tnet_write_all(fd, body, BODY_FIRST, IO_TIMEOUT_MS), 0);
}

static void expect_echoed_then_closed(int fd)
{
    char head[1024];
    read_head(fd, head, sizeof(head));
    assert_non_null(strstr(head, "HTTP/1.1 200"));
    char got[BODY_LEN];
    assert_int_equal(tnet_read_full(fd, got, sizeof(got), IO_TIMEOUT_MS), BODY_LEN);
    assert_memory_equal(got, body, BODY_LEN);
    int err = tnet_expect_eof(fd, IO_TIMEOUT_MS);
    assert_true(err == 0 || err == -ECONNRESET);
}

/* After the signal the listeners close: a connect is refused within a bounded wait. */
static void expect_refused(const ioserve_proc *p)
{
    uint64_t deadline = tnet_now_ms() + IO_TIMEOUT_MS;
    for (;;) {
        int fd = tnet_connect(p->port);
        if (fd < 0)
            return;
        close(fd);
        assert_true(tnet_now_ms() < deadline);
        usleep(20000);
    }
}

static void test_shutdown_finishes_inflight(void **state)
{
    ioserve_proc *p = *state;
    assert_true(tnet_raise_nofile_limit() > INFLIGHT + IDLE + 64);
    server_start(p, "http", "--shutdown-timeout-ms", "8000");
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)('a' + i % 26);
    int idle[IDLE], busy[INFLIGHT];
    for (int i = 0; i < IDLE; i++) {
        idle[i] = connect_to(p);
        send_text(idle[i], "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
        char head[1024];
        read_head(idle[i], head, sizeof(head));
        expect_text(idle[i], "Hello, World!");
    }
    for (int i = 0; i < INFLIGHT; i++) {
        busy[i] = connect_to(p);
        start_post(busy[i]);
    }
    /* Every half request has been read by the server before the signal. */
    assert_int_equal(tcp_wait_consumed(busy, INFLIGHT, IO_TIMEOUT_MS), 0);
    assert_int_equal(kill(p->pid, SIGTERM), 0);
    uint64_t start = tnet_now_ms();
    for (int i = 0; i < IDLE; i++) {
        int err = tnet_expect_eof(idle[i], IO_TIMEOUT_MS);
        assert_true(err == 0 || err == -ECONNRESET);
        close(idle[i]);
    }
    assert_true(tnet_now_ms() - start < 1000);
    expect_refused(p);
    for (int i = 0; i < INFLIGHT; i++)
        assert_int_equal(tnet_write_all(busy[i], body + BODY_FIRST, BODY_LEN - BODY_FIRST, IO_TIMEOUT_MS), 0);
    for (int i = 0; i < INFLIGHT; i++) {
        expect_echoed_then_closed(busy[i]);
        close(busy[i]);
    }
    expect_clean_exit(p, 0, STOP_TIMEOUT_MS);
}

/* ETX acks owed when the signal comes still leave, timer or worker alike, then the close. */
static void etx_acks_owed_at_shutdown(ioserve_proc *p, const char *mode)
{
    const char *argv[16] = {ioserve_path, "--protocol", "etx", "--backend", backend, "--threads", "2",
                            "--accept", accept_mode, "--ack-mode", mode, "--ack-delay-ms", "400", NULL};
    assert_int_equal(proc_start(p, argv, START_TIMEOUT_MS), 0);
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = connect_to(p);
        send_text(fds[i], "a\x03" "b\x03");
    }
    assert_int_equal(tcp_wait_consumed(fds, 4, IO_TIMEOUT_MS), 0); /* read: their acks are owed */
    assert_int_equal(kill(p->pid, SIGTERM), 0);
    for (int i = 0; i < 4; i++) {
        expect_text(fds[i], "ackack");
        assert_int_equal(tnet_expect_eof(fds[i], IO_TIMEOUT_MS), 0);
        close(fds[i]);
    }
    expect_clean_exit(p, 0, STOP_TIMEOUT_MS);
}

static void test_shutdown_etx_timer_acks(void **state)
{
    etx_acks_owed_at_shutdown(*state, "timer");
}

static void test_shutdown_etx_worker_acks(void **state)
{
    etx_acks_owed_at_shutdown(*state, "worker");
}

/* A request that never completes is cut off when --shutdown-timeout-ms runs out: exit 0 then. */
/* A POST the server has provably begun: its head parsed (it answered 100 Continue) and part of
 * the body in, so at SIGTERM it is a request in flight, not an idle connection -- whatever the
 * machine's load. */
static void start_post_seen(int fd)
{
    char head[160];
    snprintf(head, sizeof(head),
             "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n",
             BODY_LEN);
    send_text(fd, head);
    char interim[256];
    read_head(fd, interim, sizeof(interim));
    assert_non_null(strstr(interim, "HTTP/1.1 100"));
    assert_int_equal(tnet_write_all(fd, body, BODY_FIRST, IO_TIMEOUT_MS), 0);
}

static void test_shutdown_timeout_forces_close(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "http", "--shutdown-timeout-ms", "500");
    int fd = connect_to(p);
    start_post_seen(fd);
    uint64_t start = tnet_now_ms();
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
    uint64_t took = tnet_now_ms() - start;
    assert_true(took >= 400);
    assert_true(took < 3000);
    int err = tnet_expect_eof(fd, IO_TIMEOUT_MS);
    assert_true(err == 0 || err == -ECONNRESET);
    close(fd);
}

/* A second signal cuts the wait short on every loop, whichever loop read it.  With dispatch the
 * connections alternate between the loops: loop 0 gets the silent ones, which close at once,
 * so it is done before the second signal and the half POSTs wait on loop 1. */
static void test_second_signal_cuts_short(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "http", "--shutdown-timeout-ms", "8000");
    int fds[8];
    for (int i = 0; i < 8; i++) {
        fds[i] = connect_to(p);
        /* accepted, and so dealt, in connect order */
        assert_int_equal(tcp_wait_accepted(p->port, IO_TIMEOUT_MS), 0);
        if (i % 2) {
            start_post(fds[i]);
            assert_int_equal(tcp_wait_consumed(&fds[i], 1, IO_TIMEOUT_MS), 0);
        }
    }
    uint64_t start = tnet_now_ms();
    assert_int_equal(kill(p->pid, SIGTERM), 0);
    /* The silent connections close at once: then only the half POSTs hold the server. */
    for (int i = 0; i < 8; i += 2) {
        int err = tnet_expect_eof(fds[i], IO_TIMEOUT_MS);
        assert_true(err == 0 || err == -ECONNRESET);
    }
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
    assert_true(tnet_now_ms() - start < 3000);
    for (int i = 0; i < 8; i++) {
        int err = tnet_expect_eof(fds[i], IO_TIMEOUT_MS);
        assert_true(err == 0 || err == -ECONNRESET);
        close(fds[i]);
    }
}

/* A WebSocket open when the signal comes hears close 1001, answers it, and the server exits 0. */
static void test_shutdown_websocket_going_away(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "http", NULL, NULL);
    int fd = connect_to(p);
    send_text(fd, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    char head[1024];
    read_head(fd, head, sizeof(head));
    assert_non_null(strstr(head, "HTTP/1.1 101"));
    assert_int_equal(kill(p->pid, SIGTERM), 0);
    unsigned char frame[2 + 125];
    assert_int_equal(tnet_read_full(fd, frame, 2, IO_TIMEOUT_MS), 2);
    assert_int_equal(frame[0], 0x88); /* FIN, close */
    size_t len = frame[1] & 0x7f;
    assert_true(len >= 2 && len <= 125);
    assert_int_equal(tnet_read_full(fd, frame + 2, len, IO_TIMEOUT_MS), (ssize_t)len);
    assert_int_equal((frame[2] << 8) | frame[3], 1001);
    /* Our close, masked with a zero key, echoing the code. */
    static const unsigned char reply[] = {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9};
    assert_int_equal(tnet_write_all(fd, reply, sizeof(reply), IO_TIMEOUT_MS), 0);
    int err = tnet_expect_eof(fd, IO_TIMEOUT_MS);
    assert_true(err == 0 || err == -ECONNRESET);
    close(fd);
    expect_clean_exit(p, 0, STOP_TIMEOUT_MS);
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[2], "uring") != 0 && strcmp(argv[2], "epoll") != 0) ||
        (strcmp(argv[3], "reuseport") != 0 && strcmp(argv[3], "dispatch") != 0)) {
        fprintf(stderr, "usage: %s IOSERVE_PATH uring|epoll reuseport|dispatch\n", argv[0]);
        return 2;
    }
    ioserve_path = argv[1];
    backend = argv[2];
    accept_mode = argv[3];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_refused),
        cmocka_unit_test_setup_teardown(test_echo_two_threads, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_etx_two_threads, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_http_two_threads, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_etx_worker_pool, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_finishes_inflight, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_etx_timer_acks, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_etx_worker_acks, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_timeout_forces_close, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_second_signal_cuts_short, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_websocket_going_away, proc_fixture_setup, proc_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
