/* test_server.c - the echo and ETX servers over real sockets, on one backend per run.
 *
 * usage: test_server IOSERVE_PATH uring|epoll-lt|epoll-et|poll|select
 * Every test starts the real binary on a port the kernel picks, talks to it over loopback,
 * then stops it with SIGTERM and checks that it exits 0.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioserve_proc.h"
#include "net_helpers.h"
#include "tcp_watch.h"

#define IO_TIMEOUT_MS 5000
#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 5000
#define ACK "ack" /* the protocol's acknowledgement: three bytes, nothing after them */
#define ACK_LEN 3

/* Set once in main from argv, read-only afterwards. */
static const char *ioserve_path;
static const char *backend_args[5];

static void server_start(ioserve_proc *p, const char *protocol, const char *extra1, const char *extra2)
{
    const char *argv[12] = {ioserve_path, "--protocol", protocol};
    size_t n = 3;
    for (size_t i = 0; backend_args[i]; i++)
        argv[n++] = backend_args[i];
    if (extra1)
        argv[n++] = extra1;
    if (extra2)
        argv[n++] = extra2;
    argv[n] = NULL;
    int err = proc_start(p, argv, START_TIMEOUT_MS);
    if (err < 0)
        fprintf(stderr, "ioserve did not start (%s); it said:\n%s\n", strerror(-err), p->err);
    assert_int_equal(err, 0);
}

/* SIGTERM must end the server cleanly: exit 0 and a stop line. */
static void server_stop(ioserve_proc *p)
{
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
}

/* An EOF, or a reset: either way the server closed the connection. */
static void expect_closed(int fd)
{
    int err = tnet_expect_eof(fd, IO_TIMEOUT_MS);
    assert_true(err == 0 || err == -ECONNRESET);
}

/* ---- echo ---- */

static void test_echo_small_and_eof(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "echo", NULL, NULL);
    int fd = connect_to(p);
    send_text(fd, "hello");
    expect_text(fd, "hello");
    send_text(fd, "a");
    send_text(fd, "bc");
    expect_text(fd, "abc");
    /* Half-close: what was sent comes back, then the server closes. */
    send_text(fd, "last words");
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    expect_text(fd, "last words");
    expect_closed(fd);
    close(fd);
    server_stop(p);
}

/* Several clients at once, each checking its own stream's every byte. */
static void test_echo_many_clients(void **state)
{
    enum { CLIENTS = 20, ROUNDS = 8, CHUNK = 32 * 1024 };
    ioserve_proc *p = *state;
    server_start(p, "echo", NULL, NULL);
    int fds[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        fds[i] = connect_to(p);
    static char out[CHUNK], in[CHUNK];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < CLIENTS; i++) {
            tnet_pattern_fill(out, CHUNK, (uint64_t)r * CHUNK + (uint64_t)i);
            assert_int_equal(tnet_write_all(fds[i], out, CHUNK, IO_TIMEOUT_MS), 0);
        }
        for (int i = 0; i < CLIENTS; i++) {
            assert_int_equal(tnet_read_full(fds[i], in, CHUNK, IO_TIMEOUT_MS), CHUNK);
            assert_int_equal(tnet_pattern_mismatch(in, CHUNK, (uint64_t)r * CHUNK + (uint64_t)i), CHUNK);
        }
    }
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    server_stop(p);
}

/* Where the bytes a client wrote to an echo server (and has not read back) are: the kernels'
 * queues at both ends, each way, and what is left -- what the server process itself holds. */
struct echo_ledger {
    uint64_t written;
    unsigned long client_out, client_in, server_tx, server_rx;
};

static struct echo_ledger echo_ledger_read(int fd, uint64_t written)
{
    struct echo_ledger l = {.written = written};
    int out = 0, in = 0;
    assert_int_equal(ioctl(fd, SIOCOUTQ, &out), 0);
    assert_int_equal(ioctl(fd, SIOCINQ, &in), 0);
    l.client_out = (unsigned long)out;
    l.client_in = (unsigned long)in;
    assert_int_equal(tcp_server_queues(fd, &l.server_tx, &l.server_rx), 0);
    return l;
}

/* Bytes in the server's own memory.  A byte in flight shows in two queues at once (the
 * sender's, until acknowledged, and the receiver's), so this never overstates what the server
 * holds, and is exact once the connection is still. */
static int64_t echo_ledger_held(const struct echo_ledger *l)
{
    return (int64_t)l->written - (int64_t)(l->client_out + l->client_in + l->server_tx + l->server_rx);
}

static bool echo_ledger_same(const struct echo_ledger *a, const struct echo_ledger *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

static long status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kib = -1;
    size_t n = strlen(field);
    while (kib < 0 && fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kib = atol(line + n + 1);
    fclose(f);
    assert_true(kib >= 0);
    return kib;
}

/* Write without reading: the server stops reading once its output queue passes the high
 * watermark, and what it holds -- written, less every kernel queue between us -- stays within
 * that watermark plus one receive buffer at every look (on io_uring too, whose multishot recv
 * would run on), and sits between the two watermarks once the connection is still: it stopped
 * at the bound, not merely slowly.  Its RSS grows by far less than was offered.  Then every
 * byte comes back in order once we read. */
static void test_echo_backpressure(void **state)
{
    enum { OFFER = 64 * 1024 * 1024, CHUNK = 64 * 1024, STILL_LOOKS = 10, LOOK_MS = 20,
           ATTACK_MS = 10000 };
    const int64_t high = 256 * 1024, low = 64 * 1024; /* CONN_DEFAULT_*_WATERMARK */
    const int64_t recv_buf = 16384;                    /* IO_DEFAULT_BUF_SIZE */
    const long pool_kib = 1024 * 16, slack_kib = 8 * 1024; /* the loop's receive buffers */
    ioserve_proc *p = *state;
    server_start(p, "echo", "--threads", "1");
    long rss_before = status_kib(p->pid, "VmRSS");
    int fd = connect_to(p);
    assert_int_equal(tnet_set_nonblocking(fd, 1), 0);
    static char buf[CHUNK];
    uint64_t written = 0;
    struct echo_ledger last = {0};
    int still = 0;
    int64_t most = 0;
    uint64_t deadline = tnet_now_ms() + ATTACK_MS;
    while (still < STILL_LOOKS && written < OFFER && tnet_now_ms() < deadline) {
        tnet_pattern_fill(buf, CHUNK, written);
        ssize_t n = send(fd, buf, CHUNK, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            written += (uint64_t)n;
            continue;
        }
        assert_true(n < 0 && errno == EAGAIN);
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        poll(&pfd, 1, LOOK_MS);
        struct echo_ledger now = echo_ledger_read(fd, written);
        int64_t held = echo_ledger_held(&now);
        most = held > most ? held : most;
        if (held > high + recv_buf)
            fail_msg("the server holds %lld bytes, over the watermark %lld + a buffer", (long long)held,
                     (long long)high);
        still = echo_ledger_same(&now, &last) && now.server_rx > 0 ? still + 1 : 0;
        last = now;
    }
    assert_true(written < OFFER);
    assert_int_equal(still, STILL_LOOKS); /* the connection came to rest, the server not reading */
    int64_t held = echo_ledger_held(&last);
    long growth = status_kib(p->pid, "VmHWM") - rss_before;
    printf("echo backpressure: %llu bytes written; at rest the server holds %lld (most seen %lld); "
           "kernel queues: client out %lu in %lu, server tx %lu rx %lu; peak RSS growth %ld KiB\n",
           (unsigned long long)written, (long long)held, (long long)most, last.client_out, last.client_in,
           last.server_tx, last.server_rx, growth);
    assert_true(held > low && held <= high + recv_buf);
    if (growth > pool_kib + slack_kib)
        fail_msg("the server's RSS grew %ld KiB", growth);
    uint64_t got = 0;
    while (got < written) {
        size_t want = written - got < CHUNK ? (size_t)(written - got) : CHUNK;
        ssize_t n = tnet_read_full(fd, buf, want, IO_TIMEOUT_MS);
        assert_int_equal(n, (ssize_t)want);
        assert_int_equal(tnet_pattern_mismatch(buf, want, got), want);
        got += want;
    }
    /* Reading resumed: the connection still echoes. */
    tnet_pattern_fill(buf, 100, got);
    assert_int_equal(tnet_write_all(fd, buf, 100, IO_TIMEOUT_MS), 0);
    assert_int_equal(tnet_read_full(fd, buf, 100, IO_TIMEOUT_MS), 100);
    assert_int_equal(tnet_pattern_mismatch(buf, 100, got), 100);
    close(fd);
    server_stop(p);
}

/* Over --max-conns: closed at once, counted, and the open ones keep working. */
static void test_echo_max_conns(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "echo", "--max-conns", "2");
    int a = connect_to(p), b = connect_to(p);
    send_text(a, "a");
    expect_text(a, "a");
    send_text(b, "b");
    expect_text(b, "b");
    int c = connect_to(p);
    expect_closed(c);
    close(c);
    send_text(a, "still");
    expect_text(a, "still");
    close(a);
    close(b);
    server_stop(p);
    assert_non_null(strstr(p->err, "(1 refused)"));
}

/* How many times needle occurs in haystack. */
static size_t occurrences(const char *haystack, const char *needle)
{
    size_t n = 0;
    for (const char *at = strstr(haystack, needle); at; at = strstr(at + 1, needle))
        n++;
    return n;
}

/* 1100 connections open at once take the server's fds past FD_SETSIZE (1024).  select cannot
 * wait on those: each is closed on arrival and counted as refused, the first one says why on
 * stderr (once), and the connections below the limit are served throughout.  Every other
 * backend serves them all. */
static void test_echo_beyond_fd_setsize(void **state)
{
    enum { CLIENTS = 1100, FD_SETSIZE_GLIBC = 1024 };
    ioserve_proc *p = *state;
    assert_true(tnet_raise_nofile_limit() >= CLIENTS + 100); /* the server inherits it */
    bool select = strcmp(backend_args[1], "select") == 0;
    server_start(p, "echo", "--threads", "1");
    int *fds = malloc(CLIENTS * sizeof(*fds));
    assert_non_null(fds);
    for (int i = 0; i < CLIENTS; i++)
        fds[i] = connect_to(p);
    int served = 0, refused = 0;
    for (int i = 0; i < CLIENTS; i++) {
        char msg[16], got[16];
        int len = snprintf(msg, sizeof(msg), "c%d", i);
        int wrote = tnet_write_all(fds[i], msg, (size_t)len, IO_TIMEOUT_MS);
        ssize_t n = wrote < 0 ? wrote : tnet_read_full(fds[i], got, (size_t)len, IO_TIMEOUT_MS);
        if (n == len && memcmp(got, msg, (size_t)len) == 0)
            served++;
        else if (n == 0 || n == -ECONNRESET || n == -EPIPE)
            refused++;
        else
            fail_msg("client %d: neither echoed nor closed: %zd", i, n);
    }
    /* The first connection still works after every refusal. */
    send_text(fds[0], "still");
    expect_text(fds[0], "still");
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    free(fds);
    server_stop(p);
    char stop_line[64];
    snprintf(stop_line, sizeof(stop_line), "(%d refused)", refused);
    assert_non_null(strstr(p->err, stop_line));
    if (select) {
        assert_true(refused > 0);
        assert_true(served > FD_SETSIZE_GLIBC - 64 && served < FD_SETSIZE_GLIBC);
        assert_int_equal(occurrences(p->err, "waits on fds below 1024 only"), 1);
    } else {
        assert_int_equal(served, CLIENTS);
        assert_int_equal(occurrences(p->err, "waits on fds below"), 0);
    }
}

/* SIGTERM with clients connected: they are closed and the server exits 0. */
static void test_shutdown_closes_clients(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "echo", NULL, NULL);
    int fds[5];
    for (int i = 0; i < 5; i++) {
        fds[i] = connect_to(p);
        send_text(fds[i], "x");
        expect_text(fds[i], "x");
    }
    uint64_t start = tnet_now_ms();
    server_stop(p);
    assert_true(tnet_now_ms() - start < 2000);
    for (int i = 0; i < 5; i++) {
        expect_closed(fds[i]);
        close(fds[i]);
    }
}

/* ---- ETX ---- */

static void test_etx_split_and_batched(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "etx", NULL, NULL);
    int fd = connect_to(p);
    send_text(fd, "hello\x03");
    expect_text(fd, ACK);
    /* One message across three writes. */
    send_text(fd, "hel");
    assert_int_equal(tcp_wait_consumed(&fd, 1, IO_TIMEOUT_MS), 0); /* each piece read on its own */
    send_text(fd, "lo wor");
    assert_int_equal(tcp_wait_consumed(&fd, 1, IO_TIMEOUT_MS), 0);
    send_text(fd, "ld\x03");
    expect_text(fd, ACK);
    /* Many messages in one write, an empty one among them. */
    send_text(fd, "a\x03" "bb\x03" "\x03" "ccc\x03");
    expect_text(fd, ACK ACK ACK ACK);
    /* "goodbye" split across writes still counts; the acks before it arrive first. */
    send_text(fd, "last\x03good");
    assert_int_equal(tcp_wait_consumed(&fd, 1, IO_TIMEOUT_MS), 0);
    send_text(fd, "bye\x03ignored after goodbye\x03");
    expect_text(fd, ACK);
    expect_closed(fd);
    close(fd);
    server_stop(p);
}

static void test_etx_goodbye_exact(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "etx", NULL, NULL);
    int fd = connect_to(p);
    send_text(fd, "goodbye!\x03" "Goodbye\x03" "goodby\x03" " goodbye\x03");
    expect_text(fd, ACK ACK ACK ACK);
    send_text(fd, "goodbye\x03");
    expect_closed(fd);
    close(fd);
    server_stop(p);
}

static void test_etx_oversized_message(void **state)
{
    enum { SIZE = 70 * 1024 };
    ioserve_proc *p = *state;
    server_start(p, "etx", NULL, NULL);
    int fd = connect_to(p);
    static char big[SIZE];
    memset(big, 'x', sizeof(big));
    send_text(fd, "fine\x03");
    expect_text(fd, ACK);
    /* The server may close while we still write: a reset is as good as the EOF. */
    int err = tnet_write_all(fd, big, sizeof(big), IO_TIMEOUT_MS);
    assert_true(err == 0 || err == -ECONNRESET || err == -EPIPE);
    expect_closed(fd);
    close(fd);
    int other = connect_to(p); /* other clients are unaffected */
    send_text(other, "ok\x03");
    expect_text(other, ACK);
    close(other);
    server_stop(p);
    assert_non_null(strstr(p->err, "over 65536 bytes"));
}

/* 50 clients x 5 messages, each sent after the previous ack, with a 500 ms ack delay: the
 * delays overlap (about 2.5 s in all), they are not served one after another (125 s). */
static void test_etx_delay_concurrent(void **state)
{
    enum { CLIENTS = 50, MESSAGES = 5, DELAY_MS = 500, LIMIT_MS = 10000 };
    ioserve_proc *p = *state;
    server_start(p, "etx", "--ack-delay-ms", "500");
    struct pollfd pfds[CLIENTS];
    int acked[CLIENTS] = {0}, partial[CLIENTS] = {0};
    for (int i = 0; i < CLIENTS; i++) {
        pfds[i] = (struct pollfd){.fd = connect_to(p), .events = POLLIN};
        assert_int_equal(tnet_set_nonblocking(pfds[i].fd, 1), 0);
    }
    uint64_t start = tnet_now_ms();
    for (int i = 0; i < CLIENTS; i++)
        send_text(pfds[i].fd, "message\x03");
    int done = 0;
    while (done < CLIENTS && tnet_now_ms() - start < LIMIT_MS) {
        if (poll(pfds, CLIENTS, 100) <= 0)
            continue;
        for (int i = 0; i < CLIENTS; i++) {
            if (!pfds[i].revents)
                continue;
            char buf[64];
            ssize_t n = recv(pfds[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
            assert_true(n > 0);
            for (ssize_t k = 0; k < n; k++) {
                assert_int_equal(buf[k], ACK[partial[i]]);
                if (++partial[i] < ACK_LEN)
                    continue;
                partial[i] = 0;
                if (++acked[i] == MESSAGES)
                    done++;
                else
                    send_text(pfds[i].fd, "message\x03");
            }
        }
    }
    uint64_t elapsed = tnet_now_ms() - start;
    print_message("50 clients x 5 messages, 500 ms ack delay: %llu ms\n", (unsigned long long)elapsed);
    assert_int_equal(done, CLIENTS);
    assert_true(elapsed >= (uint64_t)MESSAGES * DELAY_MS - 100);
    assert_true(elapsed < 5000);
    for (int i = 0; i < CLIENTS; i++)
        close(pfds[i].fd);
    server_stop(p);
}

/* A client written to the protocol: it reads exactly three bytes per message and compares them
 * with "ack"; nothing else may arrive before goodbye closes the connection.  Many at once, each
 * message sent only after the previous ack. */
static void test_etx_protocol_client(void **state)
{
    enum { CLIENTS = 20, MESSAGES = 5 };
    ioserve_proc *p = *state;
    server_start(p, "etx", NULL, NULL);
    int fds[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        fds[i] = connect_to(p);
    for (int m = 0; m < MESSAGES; m++) {
        for (int i = 0; i < CLIENTS; i++)
            send_text(fds[i], "a message\x03");
        for (int i = 0; i < CLIENTS; i++) {
            char ack[ACK_LEN];
            assert_int_equal(tnet_read_full(fds[i], ack, sizeof(ack), IO_TIMEOUT_MS), ACK_LEN);
            assert_memory_equal(ack, "ack", ACK_LEN);
        }
    }
    for (int i = 0; i < CLIENTS; i++) {
        send_text(fds[i], "goodbye\x03");
        assert_int_equal(tnet_expect_eof(fds[i], IO_TIMEOUT_MS), 0); /* -EPROTO: a stray byte */
        close(fds[i]);
    }
    server_stop(p);
}

/* --etx-ack ack-etx, the extension: each ack is framed like a message. */
static void test_etx_ack_framed(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "etx", "--etx-ack", "ack-etx");
    int fd = connect_to(p);
    send_text(fd, "one\x03two\x03");
    expect_text(fd, "ack\x03" "ack\x03");
    send_text(fd, "goodbye\x03");
    expect_closed(fd);
    close(fd);
    server_stop(p);
}

/* With a delay, goodbye waits for the acks before it, then closes. */
static void test_etx_delay_goodbye_order(void **state)
{
    ioserve_proc *p = *state;
    server_start(p, "etx", "--ack-delay-ms", "100");
    int fd = connect_to(p);
    uint64_t start = tnet_now_ms();
    send_text(fd, "one\x03two\x03goodbye\x03");
    expect_text(fd, ACK ACK);
    assert_true(tnet_now_ms() - start >= 90);
    expect_closed(fd);
    close(fd);
    server_stop(p);
}

int main(int argc, char **argv)
{
    if (argc != 3 || proc_backend_args(argv[2], backend_args) < 0) {
        fprintf(stderr, "usage: %s IOSERVE_PATH uring|epoll-lt|epoll-et|poll|select\n", argv[0]);
        return 2;
    }
    ioserve_path = argv[1];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo_small_and_eof, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_echo_many_clients, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_echo_backpressure, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_echo_max_conns, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_echo_beyond_fd_setsize, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_closes_clients, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_etx_split_and_batched, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_etx_goodbye_exact, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_etx_oversized_message, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_etx_delay_concurrent, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_etx_delay_goodbye_order, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_etx_protocol_client, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_etx_ack_framed, proc_fixture_setup, proc_fixture_teardown),
    };
    return cmocka_run_group_tests_name(argv[2], tests, NULL, NULL);
}
