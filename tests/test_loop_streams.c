/* test_loop_streams.c - the loop under real traffic: a thousand connections at once, 8 MB
 * each way, sends that complete short, resets, half-closes and clients that leave at once. */
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
#include "loop_echo.h"
#include "loop_tests.h"

/* ---- 1000 concurrent connections ---- */

#define MANY_CLIENTS 1000
#define MANY_MSG_MAX 128

struct many_clients {
    uint16_t port;
    size_t count; /* MANY_CLIENTS, or what fits under the loop's fd limit */
    struct check_log log;
    size_t echoes_ok;
    atomic_bool done;
};

/* Client i's message: distinct text, then pattern bytes, 40..100 bytes in all. */
static size_t many_message(size_t i, char *msg)
{
    size_t len = 40 + i % 61;
    int n = snprintf(msg, MANY_MSG_MAX, "client %zu of many:", i);
    tnet_pattern_fill(msg + n, len - (size_t)n, i * MANY_MSG_MAX);
    return len;
}

/* Read every client's echo with poll(); each client checks its own message. */
static void many_read_echoes(struct many_clients *mc, const int *fds, char (*got)[MANY_MSG_MAX + 1],
                             size_t *have)
{
    struct pollfd *pfds = calloc(mc->count, sizeof *pfds);
    if (!pfds) {
        check_failed(&mc->log, __LINE__, "out of memory");
        return;
    }
    for (size_t i = 0; i < mc->count; i++)
        pfds[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
    char want[MANY_MSG_MAX];
    size_t open = mc->count;
    uint64_t deadline = tnet_now_ms() + 10000;
    while (open > 0 && tnet_now_ms() < deadline && !mc->log.failures) {
        if (poll(pfds, mc->count, 100) < 0 && errno != EINTR)
            break;
        for (size_t i = 0; i < mc->count; i++) {
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
    int *fds = malloc(mc->count * sizeof *fds);
    char (*got)[MANY_MSG_MAX + 1] = calloc(mc->count, sizeof *got);
    size_t *have = calloc(mc->count, sizeof *have);
    size_t opened = 0;
    if (!fds || !got || !have) {
        check_failed(&mc->log, __LINE__, "out of memory");
        goto out;
    }
    /* Every connection is open before any message is sent: 1000 at once. */
    for (; opened < mc->count; opened++) {
        fds[opened] = tnet_connect(mc->port);
        if (fds[opened] < 0) {
            check_failed(&mc->log, __LINE__, "connect %zu: %s", opened, strerror(-fds[opened]));
            goto out;
        }
    }
    for (size_t i = 0; i < mc->count; i++) {
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

void test_thousand_connections(void **state)
{
    /* 1000 client and 1000 server sockets live in this one process: raise the soft
     * RLIMIT_NOFILE (often 1024) to the hard limit (20000 on the reference machine). */
    long limit = tnet_raise_nofile_limit();
    assert_true(limit >= 2 * MANY_CLIENTS + 100);

    io_loop *loop = loop_new(state, 0, 0);
    /* select waits on fds below FD_SETSIZE only: it gets as many as fit there (about 460),
     * which is its wall, not this test's. */
    size_t count = MANY_CLIENTS;
    if ((size_t)io_loop_fd_limit(loop) < 2 * MANY_CLIENTS + 100)
        count = ((size_t)io_loop_fd_limit(loop) - 100) / 2;
    uint16_t port;
    int listen_fd = tnet_listen((int)count, &port);
    assert_true(listen_fd >= 0);
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, loop, listen_fd, count, IO_DEFAULT_BUF_COUNT), 0);

    struct many_clients mc = { .port = port, .count = count };
    atomic_init(&mc.done, false);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, many_clients_main, &mc), 0);
    struct echo_wait wait = { .srv = &srv, .closed = count, .peer_done = &mc.done };
    int rc = run_until(loop, 20000, echo_wait_done, &wait);
    pthread_join(thread, NULL);

    assert_log_clean(&mc.log);
    assert_int_equal(rc, 0);
    assert_int_equal(mc.echoes_ok, count);
    assert_int_equal(srv.accepted, count);
    assert_int_equal(srv.eofs, count);
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

void test_eight_megabytes_both_ways(void **state)
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

void test_short_sends_are_continued(void **state)
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

void test_peer_reset_single_recv(void **state)
{
    peer_reset_case(state, 0);
}

void test_peer_reset_multishot_recv(void **state)
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

void test_half_close(void **state)
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

void test_clients_that_leave_at_once(void **state)
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
