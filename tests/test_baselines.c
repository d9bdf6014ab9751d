/* test_baselines.c - runs one baseline server (bench/baselines/) and checks its protocols over
 * real sockets on 127.0.0.1.
 *
 * Usage: test_baselines SERVER [SERVER-ARGS...].  Each test starts SERVER on port 0 with the
 * protocol it needs (plus SERVER-ARGS, e.g. --workers 4), reads the bound port from the
 * server's "listening on" line, and at teardown sends SIGTERM and requires exit status 0 and
 * the port closed.  Every wait is bounded by IO_TIMEOUT_MS or a loop count. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "net_helpers.h"

#define IO_TIMEOUT_MS 5000
#define CONCURRENT_CLIENTS 20
#define MAX_SERVER_ARGS 32

struct fixture {
    int extra_argc;        /* SERVER-ARGS from the command line */
    char **extra_argv;
    const char *server;
    const char *protocol;
    const char *ack_delay_ms;
    pid_t pid;
    int stderr_fd;
    uint16_t port;
};

static void sleep_ms(long ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
        ;
}

/* Reads the server's stderr until its "listening on 127.0.0.1:PORT" line. */
static int read_port(int fd, uint16_t *port)
{
    char line[512];
    size_t have = 0;
    uint64_t deadline = tnet_now_ms() + IO_TIMEOUT_MS;
    while (have < sizeof line - 1 && tnet_now_ms() < deadline) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, line + have, sizeof line - 1 - have);
        if (n <= 0)
            return -EPIPE;
        have += (size_t)n;
        line[have] = '\0';
        const char *at = strstr(line, "listening on 127.0.0.1:");
        if (at != NULL && strchr(at, '\n') != NULL) {
            *port = (uint16_t)atoi(at + strlen("listening on 127.0.0.1:"));
            return *port != 0 ? 0 : -EINVAL;
        }
    }
    return -ETIMEDOUT;
}

static int start_server(void **state)
{
    struct fixture *fx = *state;
    char *argv[MAX_SERVER_ARGS];
    int argc = 0;
    argv[argc++] = (char *)fx->server;
    argv[argc++] = "--listen";
    argv[argc++] = "127.0.0.1:0";
    argv[argc++] = "--protocol";
    argv[argc++] = (char *)fx->protocol;
    if (fx->ack_delay_ms != NULL) {
        argv[argc++] = "--ack-delay-ms";
        argv[argc++] = (char *)fx->ack_delay_ms;
    }
    for (int i = 0; i < fx->extra_argc && argc < MAX_SERVER_ARGS - 1; i++)
        argv[argc++] = fx->extra_argv[i];
    argv[argc] = NULL;
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0)
        return -1;
    fx->pid = fork();
    if (fx->pid == 0) {
        dup2(pipe_fds[1], STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipe_fds[1]);
    fx->stderr_fd = pipe_fds[0];
    if (fx->pid < 0 || read_port(fx->stderr_fd, &fx->port) != 0) {
        fprintf(stderr, "cannot start %s\n", fx->server);
        return -1;
    }
    return 0;
}

/* Whatever the server said on stderr after start-up, for the test log. */
static void forward_server_stderr(int fd)
{
    char buf[1024];
    ssize_t n;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (poll(&pfd, 1, 0) > 0 && (n = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, stderr);
}

static int stop_server(void **state)
{
    struct fixture *fx = *state;
    int status = -1;
    pid_t done = 0;
    kill(fx->pid, SIGTERM);
    for (int i = 0; i < 300 && done == 0; i++) {
        done = waitpid(fx->pid, &status, WNOHANG);
        if (done == 0)
            sleep_ms(10);
    }
    if (done == 0) {
        kill(fx->pid, SIGKILL);
        waitpid(fx->pid, &status, 0);
    }
    forward_server_stderr(fx->stderr_fd);
    close(fx->stderr_fd);
    assert_int_equal(done, fx->pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* No process of the server (prefork's workers included) may keep the port open. */
    int refused = 0;
    for (int i = 0; i < 200 && !refused; i++) {
        int fd = tnet_connect(fx->port);
        refused = fd == -ECONNREFUSED;
        if (fd >= 0)
            close(fd);
        if (!refused)
            sleep_ms(10);
    }
    assert_true(refused);
    return 0;
}

static int connect_server(const struct fixture *fx)
{
    int fd = tnet_connect(fx->port);
    assert_true(fd >= 0);
    return fd;
}

static void send_text(int fd, const char *text)
{
    assert_int_equal(tnet_write_all(fd, text, strlen(text), IO_TIMEOUT_MS), 0);
}

static void expect_text(int fd, const char *text)
{
    char buf[256];
    size_t len = strlen(text);
    assert_true(len < sizeof buf);
    assert_int_equal(tnet_read_full(fd, buf, len, IO_TIMEOUT_MS), (ssize_t)len);
    buf[len] = '\0';
    assert_string_equal(buf, text);
}

/* ---- echo ---- */

static void test_echo_roundtrips(void **state)
{
    int fd = connect_server(*state);
    send_text(fd, "hello");
    expect_text(fd, "hello");
    send_text(fd, "one\ntwo\n");
    send_text(fd, "three\n");
    expect_text(fd, "one\ntwo\nthree\n");
    close(fd);
}

/* 1 MiB through a server that echoes as it reads: a writer thread keeps sending while this
 * thread reads, since neither side's socket buffers could hold it all. */
struct stream { int fd; size_t len; int result; };

static void *write_stream(void *arg)
{
    struct stream *s = arg;
    char chunk[16384];
    s->result = 0;
    for (size_t off = 0; off < s->len && s->result == 0; off += sizeof chunk) {
        tnet_pattern_fill(chunk, sizeof chunk, off);
        s->result = tnet_write_all(s->fd, chunk, sizeof chunk, IO_TIMEOUT_MS);
    }
    return NULL;
}

static void test_echo_large_stream(void **state)
{
    struct stream s = {.fd = connect_server(*state), .len = 64 * 16384};
    pthread_t writer;
    assert_int_equal(pthread_create(&writer, NULL, write_stream, &s), 0);
    char chunk[16384];
    size_t mismatches = 0;
    for (size_t off = 0; off < s.len; off += sizeof chunk) {
        assert_int_equal(tnet_read_full(s.fd, chunk, sizeof chunk, IO_TIMEOUT_MS), (ssize_t)sizeof chunk);
        mismatches += tnet_pattern_mismatch(chunk, sizeof chunk, off) != sizeof chunk;
    }
    pthread_join(writer, NULL);
    assert_int_equal(s.result, 0);
    assert_int_equal(mismatches, 0);
    close(s.fd);
}

/* One client of the concurrent echo test: a few round trips of its own bytes, then it leaves. */
static void *echo_client(void *arg)
{
    const struct fixture *fx = arg;
    int fd = tnet_connect(fx->port);
    if (fd < 0)
        return (void *)0;
    bool ok = true;
    char sent[64], got[64];
    for (int round = 0; round < 5 && ok; round++) {
        int len = snprintf(sent, sizeof sent, "client %d round %d", fd, round);
        ok = tnet_write_all(fd, sent, (size_t)len, IO_TIMEOUT_MS) == 0 &&
             tnet_read_full(fd, got, (size_t)len, IO_TIMEOUT_MS) == len && memcmp(sent, got, (size_t)len) == 0;
    }
    close(fd);
    return (void *)(intptr_t)ok;
}

/* Runs CONCURRENT_CLIENTS copies of client at once; each reports success as a non-NULL result. */
static void run_concurrent_clients(void *(*client)(void *), void *fixture)
{
    pthread_t clients[CONCURRENT_CLIENTS];
    for (int i = 0; i < CONCURRENT_CLIENTS; i++)
        assert_int_equal(pthread_create(&clients[i], NULL, client, fixture), 0);
    int succeeded = 0;
    for (int i = 0; i < CONCURRENT_CLIENTS; i++) {
        void *ok;
        pthread_join(clients[i], &ok);
        succeeded += ok != NULL;
    }
    assert_int_equal(succeeded, CONCURRENT_CLIENTS);
}

static void test_echo_concurrent_clients(void **state)
{
    run_concurrent_clients(echo_client, *state);
}

static void test_echo_survives_reset(void **state)
{
    int fd = connect_server(*state);
    send_text(fd, "half a conversation");
    assert_int_equal(tnet_set_linger_reset(fd), 0);
    close(fd);
    fd = connect_server(*state);
    send_text(fd, "still here");
    expect_text(fd, "still here");
    close(fd);
}

/* ---- ETX ---- */

static void test_etx_split_messages(void **state)
{
    int fd = connect_server(*state);
    send_text(fd, "hel");
    sleep_ms(20);
    send_text(fd, "lo\x03");
    expect_text(fd, "ack");
    send_text(fd, "terminator apart");
    sleep_ms(20);
    send_text(fd, "\x03");
    expect_text(fd, "ack");
    send_text(fd, "good");
    sleep_ms(20);
    send_text(fd, "bye\x03");
    assert_int_equal(tnet_expect_eof(fd, IO_TIMEOUT_MS), 0);
    close(fd);
}

static void test_etx_many_in_one_write(void **state)
{
    int fd = connect_server(*state);
    send_text(fd, "a\x03" "bb\x03" "\x03" "goodbyes\x03" "goodby\x03");
    expect_text(fd, "ackackackackack");
    send_text(fd, "last\x03" "goodbye\x03" "never answered\x03");
    expect_text(fd, "ack");
    assert_int_equal(tnet_expect_eof(fd, IO_TIMEOUT_MS), 0);
    close(fd);
}

/* One client of the concurrent test: a few exchanges, one split message, then goodbye. */
static void *etx_client(void *arg)
{
    const struct fixture *fx = arg;
    int fd = tnet_connect(fx->port);
    if (fd < 0)
        return (void *)0;
    bool ok = true;
    char ack[3]; /* exactly the protocol's acknowledgement */
    for (int round = 0; round < 5 && ok; round++) {
        const char *msg = round == 2 ? "split " : "message\x03";
        ok = tnet_write_all(fd, msg, strlen(msg), IO_TIMEOUT_MS) == 0;
        if (ok && round == 2)
            ok = tnet_write_all(fd, "in two\x03", 7, IO_TIMEOUT_MS) == 0;
        ok = ok && tnet_read_full(fd, ack, sizeof ack, IO_TIMEOUT_MS) == (ssize_t)sizeof ack &&
             memcmp(ack, "ack", sizeof ack) == 0;
    }
    ok = ok && tnet_write_all(fd, "goodbye\x03", 8, IO_TIMEOUT_MS) == 0 && tnet_expect_eof(fd, IO_TIMEOUT_MS) == 0;
    close(fd);
    return (void *)(intptr_t)ok;
}

static void test_etx_concurrent_clients(void **state)
{
    run_concurrent_clients(etx_client, *state);
}

static void test_etx_ack_delay(void **state)
{
    int fd = connect_server(*state);
    uint64_t start = tnet_now_ms();
    send_text(fd, "slow\x03");
    expect_text(fd, "ack");
    assert_true(tnet_now_ms() - start >= 50);
    start = tnet_now_ms();
    send_text(fd, "one\x03two\x03");
    expect_text(fd, "ackack");
    assert_true(tnet_now_ms() - start >= 100);
    close(fd);
}

/* ---- HTTP ---- */

struct http_reader { int fd; size_t have; char buf[8192]; };

static ssize_t read_some(int fd, char *buf, size_t cap)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, IO_TIMEOUT_MS) <= 0)
        return -ETIMEDOUT;
    ssize_t n = recv(fd, buf, cap, 0);
    return n < 0 ? -errno : n;
}

/* Reads until r holds count bytes; any bytes past them stay for the next response. */
static void fill_to(struct http_reader *r, size_t count)
{
    assert_true(count <= sizeof r->buf);
    for (int reads = 0; r->have < count; reads++) {
        assert_true(reads < 100);
        ssize_t n = read_some(r->fd, r->buf + r->have, sizeof r->buf - r->have);
        assert_true(n > 0);
        r->have += (size_t)n;
    }
}

/* Reads one response, checks it carries a Date, returns its status, and its body in body. */
static int read_response(struct http_reader *r, char *body, size_t body_cap)
{
    char *head_end;
    while ((head_end = memmem(r->buf, r->have, "\r\n\r\n", 4)) == NULL)
        fill_to(r, r->have + 1);
    *head_end = '\0';
    int status = 0;
    assert_int_equal(sscanf(r->buf, "HTTP/1.1 %d ", &status), 1);
    assert_non_null(strcasestr(r->buf, "\r\nDate: "));
    const char *length = strcasestr(r->buf, "\r\nContent-Length: ");
    assert_non_null(length);
    size_t body_len = (size_t)strtoul(length + strlen("\r\nContent-Length: "), NULL, 10);
    size_t head_len = (size_t)(head_end + 4 - r->buf);
    assert_true(body_len < body_cap);
    fill_to(r, head_len + body_len);
    memcpy(body, r->buf + head_len, body_len);
    body[body_len] = '\0';
    r->have -= head_len + body_len;
    memmove(r->buf, r->buf + head_len + body_len, r->have);
    return status;
}

static void expect_response(struct http_reader *r, int status, const char *body)
{
    char got[256];
    assert_int_equal(read_response(r, got, sizeof got), status);
    assert_string_equal(got, body);
}

static void expect_closed(struct http_reader *r)
{
    assert_int_equal(r->have, 0);
    assert_int_equal(tnet_expect_eof(r->fd, IO_TIMEOUT_MS), 0);
}

static void test_http_keep_alive_and_pipelining(void **state)
{
    struct http_reader r = {.fd = connect_server(*state)};
    send_text(r.fd, "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"
                    "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n"
                    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                    "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n");
    expect_response(&r, 200, "Hello, World!");
    expect_response(&r, 404, "Not Found");
    expect_response(&r, 404, "Not Found");
    expect_response(&r, 200, "Hello, World!");
    /* The same connection, one request split across writes, then one that asks to close. */
    send_text(r.fd, "GET /plaintext HT");
    sleep_ms(20);
    send_text(r.fd, "TP/1.1\r\nHost: a\r\n\r\n");
    expect_response(&r, 200, "Hello, World!");
    send_text(r.fd, "GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    expect_response(&r, 200, "Hello, World!");
    expect_closed(&r);
    close(r.fd);
}

static void test_http_10_keep_alive_only_when_asked(void **state)
{
    struct http_reader r = {.fd = connect_server(*state)};
    send_text(r.fd, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    expect_response(&r, 200, "Hello, World!");
    send_text(r.fd, "GET /plaintext HTTP/1.0\r\n\r\n");
    expect_response(&r, 200, "Hello, World!");
    expect_closed(&r);
    close(r.fd);
}

static void test_http_malformed_is_400_and_closes(void **state)
{
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: five\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct http_reader r = {.fd = connect_server(*state)};
        send_text(r.fd, "GET / HTTP/1.1\r\n\r\n");
        expect_response(&r, 200, "Hello, World!");
        send_text(r.fd, bad[i]);
        expect_response(&r, 400, "Bad Request");
        expect_closed(&r);
        close(r.fd);
    }
}

static void test_http_oversized_head_is_400(void **state)
{
    struct http_reader r = {.fd = connect_server(*state)};
    /* Exactly the server's head limit, so it has read every byte when it answers and closes:
     * unread bytes would turn its close into a reset that could beat the 400 to the client. */
    char big[8192];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET / HTTP/1.1\r\nX-Long: ", 24);
    assert_int_equal(tnet_write_all(r.fd, big, sizeof big, IO_TIMEOUT_MS), 0);
    expect_response(&r, 400, "Bad Request");
    close(r.fd);
}

#define FIXTURE_TEST(fn, fx) cmocka_unit_test_prestate_setup_teardown(fn, start_server, stop_server, &(fx))

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SERVER [SERVER-ARGS...]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct fixture base = {.server = argv[1], .extra_argc = argc - 2, .extra_argv = argv + 2};
    struct fixture echo = base, etx = base, etx_slow = base, http = base;
    echo.protocol = "echo";
    etx.protocol = etx_slow.protocol = "etx";
    etx_slow.ack_delay_ms = "50";
    http.protocol = "http";
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_echo_roundtrips, echo),
        FIXTURE_TEST(test_echo_large_stream, echo),
        FIXTURE_TEST(test_echo_concurrent_clients, echo),
        FIXTURE_TEST(test_echo_survives_reset, echo),
        FIXTURE_TEST(test_etx_split_messages, etx),
        FIXTURE_TEST(test_etx_many_in_one_write, etx),
        FIXTURE_TEST(test_etx_concurrent_clients, etx),
        FIXTURE_TEST(test_etx_ack_delay, etx_slow),
        FIXTURE_TEST(test_http_keep_alive_and_pipelining, http),
        FIXTURE_TEST(test_http_10_keep_alive_only_when_asked, http),
        FIXTURE_TEST(test_http_malformed_is_400_and_closes, http),
        FIXTURE_TEST(test_http_oversized_head_is_400, http),
    };
    return cmocka_run_group_tests_name(argv[1], tests, NULL, NULL);
}
