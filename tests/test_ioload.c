/* test_ioload.c - runs the ioload load generator (bench/ioload/) against tiny servers that
 * live in this test, and checks what it reports.
 *
 * Usage: test_ioload IOLOAD ENGINE (uring or epoll: every run uses that I/O engine, so the
 * same assertions hold for both).  Each test starts a peer thread (one poll() loop on 127.0.0.1,
 * port 0) speaking just enough HTTP, echo, ETX, WebSocket or msgpack-rpc (through msgpack-c,
 * an encoder independent of ioload's hand-made bytes), runs ioload --json against it,
 * and checks the counts in the JSON against what the peer saw: requests, errors by kind,
 * pipelining depth, an open-loop rate, and latency counted from intended send times.  Every
 * wait is bounded (RUN_TIMEOUT_MS per ioload run, POLL_MS per peer wakeup).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "net_helpers.h"

#define RUN_TIMEOUT_MS 10000
#define POLL_MS 5
#define PEER_CLIENTS 16
#define PEER_BUF 65536
#define SLOW_ANSWER_MS 100
#define OUTPUT_MAX 8192

enum peer_mode {
    PEER_HTTP_OK,       /* 200 with Content-Length */
    PEER_HTTP_CHUNKED,  /* 200, chunked body */
    PEER_HTTP_500,
    PEER_HTTP_CLOSE,    /* reads a request, closes without answering */
    PEER_HTTP_SILENT,   /* reads, never answers */
    PEER_HTTP_BATCH4,   /* answers only once 4 requests are waiting: needs pipelining */
    PEER_HTTP_SLOW,     /* one answer per SLOW_ANSWER_MS per connection */
    PEER_HTTP_10_EOF,   /* HTTP/1.0 after a 100 Continue, body ends at close, then closes */
    PEER_ECHO,
    PEER_ECHO_CORRUPT,  /* echoes with the first byte of every read flipped */
    PEER_ETX,           /* "ack" for every 0x03 */
    PEER_WS,            /* upgrade, then echo each frame unmasked */
    PEER_RPC,           /* msgpack-rpc: echo(x) answers x, any other method nil */
};

struct peer_client {
    int fd;
    size_t have;
    bool upgraded;
    unsigned pending;         /* requests read, not answered yet */
    uint64_t next_answer_ms;  /* PEER_HTTP_SLOW */
    uint8_t buf[PEER_BUF];
};

struct peer {
    enum peer_mode mode;
    int listen_fd;
    uint16_t port;
    pthread_t thread;
    atomic_bool stop;
    /* read only after the thread is joined: peer_stop() returns them */
    unsigned requests;        /* complete requests or messages read */
    unsigned max_batch;       /* most requests answered at once */
    uint64_t sources;         /* bit x set: a client connected from 127.0.0.x (x < 64) */
    struct peer_client clients[PEER_CLIENTS];
    uint8_t frame_out[4 + PEER_BUF];
};

static const char http_ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: peer\r\n\r\nhello";
static const char http_chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "5;x=y\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
static const char http_500[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n"
                               "\r\noops";
static const char http_10_eof[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nbody to EOF";

static void client_drop(struct peer_client *c)
{
    close(c->fd);
    c->fd = -1;
}

static bool send_text(struct peer_client *c, const void *data, size_t len)
{
    if (tnet_write_all(c->fd, data, len, RUN_TIMEOUT_MS) == 0)
        return true;
    client_drop(c);
    return false;
}

static void answer_http(struct peer *p, struct peer_client *c, unsigned count)
{
    const char *reply = p->mode == PEER_HTTP_CHUNKED ? http_chunked
                      : p->mode == PEER_HTTP_500     ? http_500
                      : p->mode == PEER_HTTP_10_EOF  ? http_10_eof
                                                     : http_ok;
    for (unsigned i = 0; i < count && c->fd >= 0; i++)
        send_text(c, reply, strlen(reply));
    if (count > p->max_batch)
        p->max_batch = count;
}

/* Whole requests (GET, no body) at the front of the buffer. */
static unsigned take_http_requests(struct peer_client *c)
{
    unsigned count = 0;
    for (;;) {
        uint8_t *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
        if (!end)
            return count;
        size_t used = (size_t)(end - c->buf) + 4;
        memmove(c->buf, c->buf + used, c->have - used);
        c->have -= used;
        count++;
    }
}

static void on_http(struct peer *p, struct peer_client *c)
{
    unsigned count = take_http_requests(c);
    p->requests += count;
    if (count == 0)
        return;
    switch (p->mode) {
    case PEER_HTTP_CLOSE:
        client_drop(c);
        break;
    case PEER_HTTP_SILENT:
        break;
    case PEER_HTTP_BATCH4:
        c->pending += count;
        if (c->pending >= 4) {
            answer_http(p, c, c->pending);
            c->pending = 0;
        }
        break;
    case PEER_HTTP_10_EOF:
        answer_http(p, c, 1);
        if (c->fd >= 0)
            client_drop(c);
        break;
    case PEER_HTTP_SLOW:
        if (c->pending == 0)
            c->next_answer_ms = tnet_now_ms() + SLOW_ANSWER_MS;
        c->pending += count;
        break;
    default:
        answer_http(p, c, count);
        break;
    }
}

static void on_stream(struct peer *p, struct peer_client *c)
{
    if (p->mode == PEER_ETX) {
        for (size_t i = 0; i < c->have && c->fd >= 0; i++) {
            if (c->buf[i] == 0x03) {
                p->requests++;
                send_text(c, "ack", 3);
            }
        }
    } else {
        if (p->mode == PEER_ECHO_CORRUPT)
            c->buf[0] ^= 0x20;
        send_text(c, c->buf, c->have);
    }
    c->have = 0;
}

static bool is_echo(const msgpack_object *method)
{
    return method->type == MSGPACK_OBJECT_STR && method->via.str.size == 4 &&
           memcmp(method->via.str.ptr, "echo", 4) == 0;
}

static void answer_rpc(struct peer_client *c, const msgpack_object *request)
{
    const msgpack_object *item = request->via.array.ptr;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_object(&pk, item[1]);
    msgpack_pack_nil(&pk);
    if (is_echo(&item[2]))
        msgpack_pack_object(&pk, item[3].via.array.ptr[0]);
    else
        msgpack_pack_nil(&pk);
    send_text(c, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* Every complete request [0, msgid, method, [arg]] in the buffer is answered; a partial one
 * waits for more bytes, anything else drops the client. */
static void on_rpc(struct peer *p, struct peer_client *c)
{
    size_t off = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    while (c->fd >= 0 && off < c->have) {
        size_t at = off;
        msgpack_unpack_return rc = msgpack_unpack_next(&u, (const char *)c->buf, c->have, &off);
        if (rc == MSGPACK_UNPACK_CONTINUE) {
            off = at;
            break;
        }
        const msgpack_object *o = &u.data;
        if (rc != MSGPACK_UNPACK_SUCCESS || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4 ||
            o->via.array.ptr[0].via.u64 != 0 || o->via.array.ptr[3].type != MSGPACK_OBJECT_ARRAY ||
            o->via.array.ptr[3].via.array.size != 1) {
            client_drop(c);
            break;
        }
        p->requests++;
        answer_rpc(c, o);
    }
    msgpack_unpacked_destroy(&u);
    if (c->fd >= 0) {
        memmove(c->buf, c->buf + off, c->have - off);
        c->have -= off;
    }
}

static bool ws_upgrade(struct peer_client *c)
{
    uint8_t *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
    if (!end)
        return true;
    *end = '\0';
    const char *key = strstr((char *)c->buf, "Sec-WebSocket-Key: ");
    if (!key || strncmp((char *)c->buf, "GET /ws HTTP/1.1\r\n", 18) != 0)
        return false;
    key += strlen("Sec-WebSocket-Key: ");
    char joined[128];
    int len = snprintf(joined, sizeof(joined), "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
                       (int)strcspn(key, "\r"), key);
    unsigned char digest[SHA_DIGEST_LENGTH];
    unsigned char accept[64];
    SHA1((const unsigned char *)joined, (size_t)len, digest);
    EVP_EncodeBlock(accept, digest, SHA_DIGEST_LENGTH);
    char reply[256];
    int reply_len = snprintf(reply, sizeof(reply), "HTTP/1.1 101 Switching Protocols\r\n"
                             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    size_t used = (size_t)(end - c->buf) + 4;
    memmove(c->buf, c->buf + used, c->have - used);
    c->have -= used;
    c->upgraded = true;
    return send_text(c, reply, (size_t)reply_len);
}

/* Echoes every whole frame in the buffer, unmasked. */
static void ws_echo_frames(struct peer *p, struct peer_client *c)
{
    for (;;) {
        if (c->have < 2)
            return;
        size_t len = c->buf[1] & 0x7f, header = 2;
        if (len == 126) {
            if (c->have < 4)
                return;
            len = (size_t)c->buf[2] << 8 | c->buf[3];
            header = 4;
        } else if (len == 127) {
            client_drop(c);       /* the tests never send frames this big */
            return;
        }
        if (!(c->buf[1] & 0x80) || c->have < header + 4 + len) {
            if (!(c->buf[1] & 0x80))
                client_drop(c);   /* clients must mask */
            return;
        }
        uint8_t *mask = c->buf + header, *payload = mask + 4;
        for (size_t i = 0; i < len; i++)
            payload[i] ^= mask[i % 4];
        /* One write per frame: header and payload in separate small writes would meet Nagle
         * and delayed ACKs, 40 ms a message. */
        uint8_t *out = p->frame_out;
        size_t out_header = len < 126 ? 2 : 4;
        out[0] = c->buf[0];
        out[1] = (uint8_t)(len < 126 ? len : 126);
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        memcpy(out + out_header, payload, len);
        p->requests++;
        if (!send_text(c, out, out_header + len))
            return;
        size_t used = header + 4 + len;
        memmove(c->buf, c->buf + used, c->have - used);
        c->have -= used;
    }
}

static void on_readable(struct peer *p, struct peer_client *c)
{
    ssize_t got = recv(c->fd, c->buf + c->have, PEER_BUF - c->have, MSG_DONTWAIT);
    if (got <= 0) {
        if (got == 0 || (errno != EAGAIN && errno != EINTR))
            client_drop(c);
        return;
    }
    c->have += (size_t)got;
    if (p->mode == PEER_ECHO || p->mode == PEER_ECHO_CORRUPT || p->mode == PEER_ETX)
        on_stream(p, c);
    else if (p->mode == PEER_WS && !c->upgraded && !ws_upgrade(c))
        client_drop(c);
    else if (p->mode == PEER_WS)
        ws_echo_frames(p, c);
    else if (p->mode == PEER_RPC)
        on_rpc(p, c);
    else
        on_http(p, c);
    if (c->fd >= 0 && c->have == PEER_BUF)
        client_drop(c);           /* nothing a test sends fills the buffer */
}

static void accept_clients(struct peer *p)
{
    for (;;) {
        struct sockaddr_in from;
        socklen_t from_len = sizeof(from);
        int fd = accept4(p->listen_fd, (struct sockaddr *)&from, &from_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        uint32_t source = ntohl(from.sin_addr.s_addr);
        if ((source >> 8) == 0x7f0000 && (source & 0xff) < 64)
            p->sources |= 1ull << (source & 0xff);
        struct peer_client *slot = NULL;
        for (int i = 0; i < PEER_CLIENTS && !slot; i++)
            if (p->clients[i].fd < 0)
                slot = &p->clients[i];
        if (!slot) {
            close(fd);
            continue;
        }
        slot->fd = fd;
        slot->have = 0;
        slot->upgraded = false;
        slot->pending = 0;
    }
}

static void answer_slow(struct peer *p)
{
    uint64_t now = tnet_now_ms();
    for (int i = 0; i < PEER_CLIENTS; i++) {
        struct peer_client *c = &p->clients[i];
        if (c->fd >= 0 && c->pending > 0 && now >= c->next_answer_ms) {
            answer_http(p, c, 1);
            c->pending--;
            c->next_answer_ms = now + SLOW_ANSWER_MS;
        }
    }
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd fds[PEER_CLIENTS + 1] = {{.fd = p->listen_fd, .events = POLLIN}};
        for (int i = 0; i < PEER_CLIENTS; i++)
            fds[i + 1] = (struct pollfd){.fd = p->clients[i].fd, .events = POLLIN};
        if (poll(fds, PEER_CLIENTS + 1, POLL_MS) < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            accept_clients(p);
        for (int i = 0; i < PEER_CLIENTS; i++)
            if (fds[i + 1].fd >= 0 && fds[i + 1].revents && p->clients[i].fd == fds[i + 1].fd)
                on_readable(p, &p->clients[i]);
        if (p->mode == PEER_HTTP_SLOW)
            answer_slow(p);
    }
    return NULL;
}

static struct peer *peer_start(enum peer_mode mode)
{
    struct peer *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    p->mode = mode;
    for (int i = 0; i < PEER_CLIENTS; i++)
        p->clients[i].fd = -1;
    p->listen_fd = tnet_listen(64, &p->port);
    assert_true(p->listen_fd >= 0);
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
    return p;
}

/* What a peer saw, read once its thread is joined. */
struct peer_seen {
    unsigned requests, max_batch;
    uint64_t sources;
};

/* Stop and free the peer, returning what it saw. */
static struct peer_seen peer_stop(struct peer *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    struct peer_seen seen = { p->requests, p->max_batch, p->sources };
    for (int i = 0; i < PEER_CLIENTS; i++)
        if (p->clients[i].fd >= 0)
            close(p->clients[i].fd);
    close(p->listen_fd);
    free(p);
    return seen;
}

/* ---- running ioload ---- */

struct outcome {
    int status;               /* exit status, or -1 if it had to be killed */
    char out[OUTPUT_MAX];     /* stdout */
    char err[OUTPUT_MAX];     /* stderr */
};

/* Drains both pipes until EOF on each or the deadline. */
static void collect(int out_fd, int err_fd, struct outcome *o, uint64_t deadline)
{
    size_t have[2] = {0, 0};
    int fds[2] = {out_fd, err_fd};
    char *bufs[2] = {o->out, o->err};
    while ((fds[0] >= 0 || fds[1] >= 0) && tnet_now_ms() < deadline) {
        struct pollfd pfd[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
        if (poll(pfd, 2, 50) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (fds[i] < 0 || !pfd[i].revents)
                continue;
            ssize_t got = read(fds[i], bufs[i] + have[i], OUTPUT_MAX - 1 - have[i]);
            if (got <= 0) {
                fds[i] = -1;
                continue;
            }
            have[i] += (size_t)got;
            bufs[i][have[i]] = '\0';
        }
    }
}

struct ioload {
    const char *path;
    const char *engine;
};

/* Runs IOLOAD --engine ENGINE ARGS... --json 127.0.0.1:PORT (port 0: no target appended). */
static void run_ioload(const struct ioload *ioload, uint16_t port, struct outcome *o, ...)
{
    const char *argv[32] = {ioload->path, "--engine", ioload->engine};
    int argc = 3;
    va_list ap;
    va_start(ap, o);
    for (const char *arg; (arg = va_arg(ap, const char *)) != NULL && argc < 28;)
        argv[argc++] = arg;
    va_end(ap);
    char target[32];
    if (port) {
        snprintf(target, sizeof(target), "127.0.0.1:%u", port);
        argv[argc++] = "--json";
        argv[argc++] = target;
    }
    argv[argc] = NULL;

    memset(o, 0, sizeof(*o));
    int out_pipe[2], err_pipe[2];
    assert_int_equal(pipe2(out_pipe, O_CLOEXEC), 0);
    assert_int_equal(pipe2(err_pipe, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out_pipe[1], STDOUT_FILENO);
        dup2(err_pipe[1], STDERR_FILENO);
        execv(ioload->path, (char *const *)argv);
        _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    uint64_t deadline = tnet_now_ms() + RUN_TIMEOUT_MS;
    collect(out_pipe[0], err_pipe[0], o, deadline);
    close(out_pipe[0]);
    close(err_pipe[0]);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, WNOHANG) == 0) {
        if (tnet_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &wstatus, 0);
            o->status = -1;
            return;
        }
        struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    o->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
}

/* Checks the exit status, showing what ioload said when it is not the expected one. */
static void assert_exit(const struct outcome *o, int expected)
{
    if (o->status != expected)
        fail_msg("ioload exited %d, not %d\nstdout: %s\nstderr: %s", o->status, expected, o->out,
                 o->err);
}

/* The number after "key": in the JSON (keys are unique in ioload's output). */
static double json_number(const struct outcome *o, const char *key)
{
    char quoted[64];
    snprintf(quoted, sizeof(quoted), "\"%s\":", key);
    const char *at = strstr(o->out, quoted);
    if (!at) {
        fail_msg("key %s missing from: %s", key, o->out);
        return 0;
    }
    return strtod(at + strlen(quoted), NULL);
}

static const struct ioload *ioload_of(void **state)
{
    return *state;
}

/* ---- tests ---- */

static void http_counts_every_request(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_OK);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-n", "300", "-c", "3", NULL);
    peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 300);
    assert_int_equal((int)json_number(&o, "total"), 0);
    assert_int_equal((int)json_number(&o, "connects"), 3);
    assert_string_equal(o.err, "");     /* no progress line when stderr is not a terminal */
}

/* Requests during the warm-up reach the server but not the report. */
static void warmup_is_not_measured(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_OK);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-n", "50", "-c", "2", "--warmup", "0.2", NULL);
    struct peer_seen seen = peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 50);
    assert_true(seen.requests > 50);
}

/* Past --conns-per-source, connections come from 127.0.0.2, 127.0.0.3, ... */
static void connections_spread_over_loopback_sources(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_OK);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-n", "60", "-c", "6", "--conns-per-source", "2",
               NULL);
    struct peer_seen seen = peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 60);
    assert_int_equal(seen.sources, (1u << 1) | (1u << 2) | (1u << 3));
    assert_non_null(strstr(o.err, "from 3 loopback sources"));
}

/* --idle: the silent connections are there (from their own sources, after the load's), send
 * nothing, and are still open at the end. */
static void idle_connections_are_held_silent(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_OK);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-n", "40", "-c", "2", "--idle", "10", "--conns-per-source", "4",
               NULL);
    struct peer_seen seen = peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 40);
    assert_int_equal(seen.requests, 40);
    assert_non_null(strstr(o.out, "\"idle\":{\"connections\":10,\"lost\":0}"));
    assert_int_equal(seen.sources, (1u << 1) | (1u << 2) | (1u << 3));
}

/* --hold: every connection is answered once, then sends one request per --every for
 * --duration, from the sources at --first-source on; with --server-pid the server's memory is
 * read (this test's own process stands in for the server). */
static void hold_answers_once_then_sparse(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_OK);
    struct outcome o;
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    run_ioload(ioload_of(state), p->port, &o, "--hold", "8", "--every", "0.2", "-d", "0.5",
               "--conns-per-source", "4", "--first-source", "2", "--server-pid", pid, NULL);
    struct peer_seen seen = peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "connections"), 8);
    assert_int_equal((int)json_number(&o, "answered"), 8); /* the first requests' */
    /* 8 connections, one turn each per 0.2 s: a turn every 25 ms, 20 before 0.5 s (a late
     * wake-up at the end may cost the last ones) */
    int sent = (int)json_number(&o, "sent");
    assert_in_range(sent, 16, 20);
    assert_non_null(strstr(o.out, "\"errors\":0,\"latency_us\""));
    assert_int_equal(seen.requests, 8 + (unsigned)sent);
    assert_int_equal((int)json_number(&o, "lost"), 0);
    assert_non_null(strstr(o.out, "\"server_rss\":{\"before\":"));
    /* 127.0.0.3 and .4: slots 2 and 3; 127.0.0.1 is the start-up probe's (no request) */
    assert_int_equal(seen.sources, (1u << 1) | (1u << 3) | (1u << 4));
}

static void http_json_has_every_field(void **state)
{
    static const char *const keys[] = {
        "protocol", "target", "connections", "idle", "lost", "threads", "depth", "mode", "rate", "tick_us",
        "requests",
        "seconds", "req_per_s", "latency_us", "min", "mean", "p50", "p90", "p99", "p99_9", "max",
        "errors", "connect", "handshake", "reset", "closed", "timeout", "status", "mismatch",
        "protocol", "total", "connects", "bytes_in", "bytes_out", "cpu", "user_s", "system_s",
        "total_s", "us_per_request", "process_s",
    };
    struct peer *p = peer_start(PEER_HTTP_OK);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-n", "50", "-c", "2", "-t", "2", NULL);
    peer_stop(p);
    assert_exit(&o, 0);
    assert_true(o.out[0] == '{' && strstr(o.out, "}\n") == o.out + strlen(o.out) - 2);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "\"%s\":", keys[i]);
        if (!strstr(o.out, quoted))
            fail_msg("no %s in %s", quoted, o.out);
    }
    assert_non_null(strstr(o.out, "\"protocol\":\"http\""));
    assert_non_null(strstr(o.out, "\"mode\":\"closed\""));
    assert_int_equal((int)json_number(&o, "requests"), 50);
    double p50 = json_number(&o, "p50"), p99 = json_number(&o, "p99"), max = json_number(&o, "max");
    assert_true(p50 > 0 && p50 <= p99 && p99 <= max);
    assert_true(json_number(&o, "total_s") > 0);
}

static void http_chunked_bodies_are_parsed(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_CHUNKED);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-n", "100", "-c", "2", "--depth", "2", NULL);
    peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 100);
    assert_int_equal((int)json_number(&o, "total"), 0);
}

/* Interim 1xx skipped, HTTP/1.0 means the server closes, a body without length ends at EOF:
 * every answer counts, nothing is an error, and each request gets a new connection. */
static void http_1_0_body_to_eof_is_one_answer(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_10_EOF);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-n", "30", "-c", "2", NULL);
    peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 30);
    assert_int_equal((int)json_number(&o, "total"), 0);
    assert_true(json_number(&o, "connects") >= 29);
}

static void http_500_counts_as_status_error(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_500);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-n", "40", "-c", "2", NULL);
    peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 40);
    assert_int_equal((int)json_number(&o, "status"), 40);
    assert_int_equal((int)json_number(&o, "total"), 40);
}

static void http_server_closing_counts_closed(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_CLOSE);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-n", "12", "-c", "2", "--timeout-ms", "100",
               NULL);
    struct peer_seen seen = peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 0);
    assert_int_equal((int)json_number(&o, "closed"), 12);
    assert_int_equal(seen.requests, 12);
}

static void http_unanswered_requests_time_out(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_SILENT);
    struct outcome o;
    uint64_t start = tnet_now_ms();
    run_ioload(ioload_of(state), p->port, &o, "-n", "2", "-c", "1", "--timeout-ms", "100",
               NULL);
    uint64_t took = tnet_now_ms() - start;
    peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 0);
    assert_int_equal((int)json_number(&o, "timeout"), 2);
    assert_true(took >= 200 && took < 3000);
}

static void http_pipelining_keeps_depth_in_flight(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_BATCH4);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-n", "40", "-c", "1", "--depth", "4",
               "--timeout-ms", "2000", NULL);
    struct peer_seen seen = peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 40);
    assert_int_equal((int)json_number(&o, "total"), 0);
    assert_int_equal(seen.requests, 40);
    assert_int_equal(seen.max_batch, 4);   /* the peer only answers when 4 are waiting */
}

static void open_loop_honours_the_rate(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_OK);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-r", "400", "-d", "1", "-c", "4", NULL);
    peer_stop(p);
    assert_exit(&o, 0);
    assert_non_null(strstr(o.out, "\"mode\":\"open\""));
    double rate = json_number(&o, "req_per_s");
    assert_true(rate > 400 * 0.8 && rate < 400 * 1.2);
    assert_int_equal((int)json_number(&o, "total"), 0);
}

/* One connection, a server that takes 100 ms per answer, requests intended every 20 ms: the
 * k-th answer comes at 100 (k + 1) ms, so latency from the intended time grows to ~800 ms,
 * while the time from the actual send stays at 100 ms.  The median must show the former. */
static void open_loop_latency_counts_from_intended_time(void **state)
{
    struct peer *p = peer_start(PEER_HTTP_SLOW);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-r", "50", "-d", "1", "-c", "1",
               "--timeout-ms", "5000", NULL);
    peer_stop(p);
    assert_exit(&o, 0);
    double answered = json_number(&o, "requests");
    assert_true(answered >= 7 && answered <= 11);
    assert_true(json_number(&o, "p50") > 2.5 * SLOW_ANSWER_MS * 1000);
    assert_true(json_number(&o, "max") > 6 * SLOW_ANSWER_MS * 1000);
}

static void echo_is_verified(void **state)
{
    struct peer *p = peer_start(PEER_ECHO);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-p", "echo", "-s", "3000", "-n", "200", "-c",
               "2", "--depth", "3", NULL);
    peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 200);
    assert_int_equal((int)json_number(&o, "total"), 0);
}

static void echo_mismatch_is_an_error(void **state)
{
    struct peer *p = peer_start(PEER_ECHO_CORRUPT);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-p", "echo", "-n", "5", "-c", "1",
               "--timeout-ms", "100", NULL);
    peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 0);
    assert_int_equal((int)json_number(&o, "mismatch"), 5);
}

static void etx_acks_are_counted(void **state)
{
    struct peer *p = peer_start(PEER_ETX);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-p", "etx", "-n", "100", "-c", "2", "--depth",
               "2", NULL);
    struct peer_seen seen = peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 100);
    assert_int_equal((int)json_number(&o, "total"), 0);
    assert_int_equal(seen.requests, 100);
}

static void etx_reply_flag_sets_the_expected_answer(void **state)
{
    struct peer *p = peer_start(PEER_ETX);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-p", "etx", "--etx-reply", "nak", "-n",
               "3", "-c", "1", "--timeout-ms", "100", NULL);
    peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 0);
    assert_int_equal((int)json_number(&o, "mismatch"), 3);
}

static void websocket_echo_is_verified(void **state)
{
    struct peer *p = peer_start(PEER_WS);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-p", "ws", "-s", "300", "-n", "100", "-c", "2",
               NULL);
    struct peer_seen seen = peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 100);
    assert_int_equal((int)json_number(&o, "total"), 0);
    assert_int_equal((int)json_number(&o, "connects"), 2);
    assert_int_equal(seen.requests, 100);
}

static void rpc_echo_is_verified(void **state)
{
    struct peer *p = peer_start(PEER_RPC);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-p", "rpc", "-s", "300", "-n", "100", "-c", "2",
               "--depth", "4", NULL);
    struct peer_seen seen = peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 100);
    assert_int_equal((int)json_number(&o, "total"), 0);
    assert_int_equal(seen.requests, 100);
}

/* sleep(300), a 16-bit argument, answers nil; a bin of 40,000 bytes needs a 16-bit length. */
static void rpc_sleep_and_large_echo_are_counted(void **state)
{
    struct peer *p = peer_start(PEER_RPC);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-p", "rpc", "--rpc-method", "sleep", "--rpc-sleep-ms",
               "300", "-n", "20", "-c", "2", NULL);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 20);
    assert_int_equal((int)json_number(&o, "total"), 0);
    run_ioload(ioload_of(state), p->port, &o, "-p", "rpc", "-s", "40000", "-n", "10", "-c", "1", NULL);
    struct peer_seen seen = peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 10);
    assert_int_equal((int)json_number(&o, "total"), 0);
    assert_int_equal(seen.requests, 30);
}

/* An echo server sends the request itself back: not the response, so each is a mismatch. */
static void rpc_wrong_answer_is_a_mismatch(void **state)
{
    struct peer *p = peer_start(PEER_ECHO);
    struct outcome o;
    run_ioload(ioload_of(state), p->port, &o, "-p", "rpc", "-n", "3", "-c", "1", "--timeout-ms",
               "100", NULL);
    peer_stop(p);
    assert_exit(&o, 0);
    assert_int_equal((int)json_number(&o, "requests"), 0);
    assert_int_equal((int)json_number(&o, "mismatch"), 3);
}

static void bad_flags_exit_2(void **state)
{
    static const char *const bad[][3] = {
        {"--connections", "0", "127.0.0.1:1"},
        {"--protocol", "smtp", "127.0.0.1:1"},
        {"--depth", "x", "127.0.0.1:1"},
        {"--rpc-method", "nap", "127.0.0.1:1"},
        {"--rpc-sleep-ms", "60001", "127.0.0.1:1"},
        {"--bogus", "127.0.0.1:1", NULL},
        {"-c", "5", NULL},                   /* no target */
        {"-c", "2", "no-port-here"},
        {"--every", "1", "127.0.0.1:1"},     /* --hold's own flags without --hold */
        {"--hold", "0", "127.0.0.1:1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct outcome o;
        run_ioload(ioload_of(state), 0, &o, bad[i][0], bad[i][1], bad[i][2], NULL);
        assert_exit(&o, 2);
        assert_string_equal(o.out, "");
        assert_non_null(strstr(o.err, "ioload: "));
    }
}

static void unreachable_target_exits_1(void **state)
{
    uint16_t port;
    int fd = tnet_listen(1, &port);
    assert_true(fd >= 0);
    close(fd);                    /* nobody listens there now */
    char target[32];
    snprintf(target, sizeof(target), "127.0.0.1:%u", port);
    struct outcome o;
    run_ioload(ioload_of(state), 0, &o, "-n", "1", target, NULL);
    assert_exit(&o, 1);
    assert_non_null(strstr(o.err, "cannot connect"));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s IOLOAD uring|epoll\n", argv[0]);
        return 2;
    }
    struct ioload program = {.path = argv[1], .engine = argv[2]};
    void *ioload = &program;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(http_counts_every_request, ioload),
        cmocka_unit_test_prestate(http_json_has_every_field, ioload),
        cmocka_unit_test_prestate(warmup_is_not_measured, ioload),
        cmocka_unit_test_prestate(connections_spread_over_loopback_sources, ioload),
        cmocka_unit_test_prestate(idle_connections_are_held_silent, ioload),
        cmocka_unit_test_prestate(hold_answers_once_then_sparse, ioload),
        cmocka_unit_test_prestate(http_chunked_bodies_are_parsed, ioload),
        cmocka_unit_test_prestate(http_1_0_body_to_eof_is_one_answer, ioload),
        cmocka_unit_test_prestate(http_500_counts_as_status_error, ioload),
        cmocka_unit_test_prestate(http_server_closing_counts_closed, ioload),
        cmocka_unit_test_prestate(http_unanswered_requests_time_out, ioload),
        cmocka_unit_test_prestate(http_pipelining_keeps_depth_in_flight, ioload),
        cmocka_unit_test_prestate(open_loop_honours_the_rate, ioload),
        cmocka_unit_test_prestate(open_loop_latency_counts_from_intended_time, ioload),
        cmocka_unit_test_prestate(echo_is_verified, ioload),
        cmocka_unit_test_prestate(echo_mismatch_is_an_error, ioload),
        cmocka_unit_test_prestate(etx_acks_are_counted, ioload),
        cmocka_unit_test_prestate(etx_reply_flag_sets_the_expected_answer, ioload),
        cmocka_unit_test_prestate(websocket_echo_is_verified, ioload),
        cmocka_unit_test_prestate(rpc_echo_is_verified, ioload),
        cmocka_unit_test_prestate(rpc_sleep_and_large_echo_are_counted, ioload),
        cmocka_unit_test_prestate(rpc_wrong_answer_is_a_mismatch, ioload),
        cmocka_unit_test_prestate(bad_flags_exit_2, ioload),
        cmocka_unit_test_prestate(unreachable_target_exits_1, ioload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
