/* test_alloc_steady.c - no heap allocation per request in steady state (issue 7), counted.
 *
 * usage: test_alloc_steady IOSERVE_PATH uring|epoll-lt|epoll-et PATH/alloc_count.so
 * Each test starts the real binary (--threads 1) with the allocation interposer preloaded
 * (alloc_count.c; the counts live in a file both processes map), opens CLIENTS keep-alive
 * connections, warms them up, then runs MEASURED_ROUNDS more rounds over the same connections
 * and requires the allocation count not to move.  A loaded machine can time a round so that a
 * pool meets a new high-water mark (more responses in flight at once than in the warm-up),
 * which allocates once and then never again; so up to WINDOWS windows are measured and one
 * must be clean.  An allocation per request, or per anything that recurs, fouls every window.  A round writes one request (or one
 * pipelined batch) on every connection, then reads and checks every answer.  That the
 * interposer counts at all is checked on each start: ioserve allocates while it sets up.
 * New connections may allocate; only the hot path on open connections is held to zero.
 * WebSocket runs plain and with permessage-deflate, with context takeover (the zlib streams
 * stay from message to message) and without (they end after every message, their memory going
 * to the loop's cache, from which the next message's streams are made: still no allocation).
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "alloc_count.h"
#include "ioserve_proc.h"
#include "net_helpers.h"

#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 5000
#define IO_TIMEOUT_MS 5000
#define MEASURE_TIMEOUT_MS 30000
#define CLIENTS 16
#define WARMUP_ROUNDS 32
#define MEASURED_ROUNDS 320 /* x CLIENTS: 5,120 requests, or batches when pipelined */
#define PIPELINE_DEPTH 8
#define PACE_MS 10
#define WINDOWS 3 /* measured windows, one of which must be clean */
#define TRACED_PER_WINDOW 8 /* allocations whose call stacks the server prints */
#define CLIENT_BUF 16384

#define WS_UPGRADE "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
#define PLAINTEXT_GET "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
#define STATIC_BODY "0123456789abcdef"

/* Set once in main (and the group setup), read-only afterwards; the counts themselves are
 * written by the server through the shared mapping. */
static const char *ioserve_path;
static const char *preload_path;
static const char *backend_args[5];
static char count_path[64];
static alloc_counts *counts;
static char root_dir[64];

/* The running test's server and connections, file-wide so that its teardown can end them when
 * an assertion jumps out of the test body. */
typedef struct client {
    int fd;
    size_t len; /* bytes read but not yet checked */
    char buf[CLIENT_BUF];
    z_stream inflater; /* permessage-deflate answers, one stream for the connection */
    bool inflating;
} client;
static ioserve_proc server;
static client clients[CLIENTS];

/* How a connection's answers are checked: as exact bytes, as HTTP responses, or as compressed
 * WebSocket messages inflating to the answer. */
typedef enum answer_kind { ANSWER_BYTES, ANSWER_HTTP, ANSWER_WS_DEFLATE } answer_kind;

typedef struct scenario {
    const char *protocol; /* --protocol */
    bool with_root;       /* --root root_dir */
    bool websocket;       /* upgrade each connection at /ws first */
    const char *ws_extensions; /* the upgrade's Sec-WebSocket-Extensions, or NULL */
    const char *request;  /* what one round writes on a connection */
    size_t request_len;
    answer_kind kind;
    const char *answer;   /* the bytes back, or each HTTP response's body */
    size_t answer_len;
    size_t answers;       /* HTTP responses per round */
} scenario;

/* ---- the counts ---- */

static uint64_t total_allocations(void)
{
    uint64_t total = 0;
    for (int kind = 0; kind < ALLOC_KINDS; kind++)
        total += atomic_load(&counts->calls[kind]);
    return total;
}

static void print_counts(const char *when)
{
    fprintf(stderr, "%s: malloc %llu, calloc %llu, realloc %llu, aligned %llu\n", when,
            (unsigned long long)atomic_load(&counts->calls[ALLOC_MALLOC]),
            (unsigned long long)atomic_load(&counts->calls[ALLOC_CALLOC]),
            (unsigned long long)atomic_load(&counts->calls[ALLOC_REALLOC]),
            (unsigned long long)atomic_load(&counts->calls[ALLOC_ALIGNED]));
}

static void reset_counts(void)
{
    for (int kind = 0; kind < ALLOC_KINDS; kind++)
        atomic_store(&counts->calls[kind], 0);
}

static void map_counts(void)
{
    strcpy(count_path, "/tmp/ioserve-alloc-XXXXXX");
    int fd = mkstemp(count_path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, sizeof(alloc_counts)), 0);
    void *shared = mmap(NULL, sizeof(alloc_counts), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(shared != MAP_FAILED);
    counts = shared;
}

/* ---- the document root: one small file ---- */

static char static_file_path[96];

static void make_root(void)
{
    strcpy(root_dir, "/tmp/ioserve-alloc-root-XXXXXX");
    assert_non_null(mkdtemp(root_dir));
    snprintf(static_file_path, sizeof(static_file_path), "%s/small.txt", root_dir);
    int fd = open(static_file_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, STATIC_BODY, strlen(STATIC_BODY)), (ssize_t)strlen(STATIC_BODY));
    close(fd);
}

/* ---- the server ---- */

static void server_start(ioserve_proc *p, const scenario *s)
{
    const char *argv[16] = {ioserve_path, "--protocol", s->protocol, "--threads", "1"};
    size_t n = 5;
    for (size_t i = 0; backend_args[i]; i++)
        argv[n++] = backend_args[i];
    if (s->with_root) {
        argv[n++] = "--root";
        argv[n++] = root_dir;
    }
    argv[n] = NULL;
    reset_counts();
    int err = proc_start(p, argv, START_TIMEOUT_MS);
    if (err < 0)
        fprintf(stderr, "ioserve did not start (%s); it said:\n%s\n", strerror(-err), p->err);
    assert_int_equal(err, 0);
    /* The interposer is in and counting: setting up loops and connection tables allocates. */
    if (total_allocations() == 0)
        print_counts("after start-up (the interposer counted nothing)");
    assert_true(total_allocations() > 0);
}

/* ---- the client side ---- */

/* Read what arrives (at least one byte) into c's buffer. */
static void client_fill(client *c)
{
    assert_true(c->len < sizeof(c->buf));
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, IO_TIMEOUT_MS), 1);
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
    assert_true(n > 0);
    c->len += (size_t)n;
}

static void client_consume(client *c, size_t len)
{
    memmove(c->buf, c->buf + len, c->len - len);
    c->len -= len;
}

/* Read until c's buffer holds a whole response head: its length, the blank line included. */
static size_t read_head(client *c)
{
    char *end;
    while (c->len < 4 || !(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
        client_fill(c);
    return (size_t)(end - c->buf) + 4;
}

/* One complete "HTTP/1.1 200" response with s's body, taken off the front of c's buffer. */
static void read_http_response(client *c, const scenario *s)
{
    size_t head_len = read_head(c);
    assert_memory_equal(c->buf, "HTTP/1.1 200 ", 13);
    char *length = memmem(c->buf, head_len, "\r\nContent-Length: ", 18);
    assert_non_null(length);
    assert_int_equal(strtoul(length + 18, NULL, 10), s->answer_len);
    while (c->len < head_len + s->answer_len)
        client_fill(c);
    assert_memory_equal(c->buf + head_len, s->answer, s->answer_len);
    client_consume(c, head_len + s->answer_len);
}

/* One unfragmented compressed text frame (under 126 bytes), inflated on c's stream (so context
 * takeover works) to s's answer. */
static void read_ws_deflate_message(client *c, const scenario *s)
{
    while (c->len < 2)
        client_fill(c);
    assert_int_equal((unsigned char)c->buf[0], 0xc1); /* FIN, RSV1, text */
    size_t len = (unsigned char)c->buf[1];
    assert_true(len < 126);
    while (c->len < 2 + len)
        client_fill(c);
    static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};
    unsigned char in[128 + sizeof tail], out[256];
    memcpy(in, c->buf + 2, len);
    memcpy(in + len, tail, sizeof tail);
    c->inflater.next_in = in;
    c->inflater.avail_in = (uInt)(len + sizeof tail);
    c->inflater.next_out = out;
    c->inflater.avail_out = sizeof out;
    assert_int_equal(inflate(&c->inflater, Z_SYNC_FLUSH), Z_OK);
    assert_int_equal(c->inflater.avail_in, 0);
    assert_int_equal(sizeof out - c->inflater.avail_out, s->answer_len);
    assert_memory_equal(out, s->answer, s->answer_len);
    client_consume(c, 2 + len);
}

static void read_answers(client *c, const scenario *s)
{
    if (s->kind == ANSWER_WS_DEFLATE) {
        read_ws_deflate_message(c, s);
        return;
    }
    if (s->kind == ANSWER_HTTP) {
        for (size_t i = 0; i < s->answers; i++)
            read_http_response(c, s);
        return;
    }
    while (c->len < s->answer_len)
        client_fill(c);
    assert_memory_equal(c->buf, s->answer, s->answer_len);
    client_consume(c, s->answer_len);
}

/* Connect; for WebSocket, upgrade and take the 101 off the stream. */
static void client_open(client *c, const ioserve_proc *p, const scenario *s)
{
    c->len = 0;
    c->fd = connect_to(p);
    if (!s->websocket)
        return;
    char upgrade[512];
    snprintf(upgrade, sizeof upgrade, "%s%s%s%s\r\n", WS_UPGRADE,
             s->ws_extensions ? "Sec-WebSocket-Extensions: " : "",
             s->ws_extensions ? s->ws_extensions : "", s->ws_extensions ? "\r\n" : "");
    send_text(c->fd, upgrade);
    size_t head_len = read_head(c);
    assert_memory_equal(c->buf, "HTTP/1.1 101 ", 13);
    if (s->ws_extensions)
        assert_non_null(memmem(c->buf, head_len, "permessage-deflate", 18));
    client_consume(c, head_len);
    if (s->kind == ANSWER_WS_DEFLATE) {
        memset(&c->inflater, 0, sizeof c->inflater);
        assert_int_equal(inflateInit2(&c->inflater, -15), Z_OK);
        c->inflating = true;
    }
}

static void close_clients(void)
{
    for (int i = 0; i < CLIENTS; i++) {
        if (clients[i].fd >= 0)
            close(clients[i].fd);
        clients[i].fd = -1;
        if (clients[i].inflating)
            inflateEnd(&clients[i].inflater);
        clients[i].inflating = false;
    }
}

static void run_rounds(const scenario *s, int rounds, uint64_t deadline_ms)
{
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < CLIENTS; i++)
            assert_int_equal(tnet_write_all(clients[i].fd, s->request, s->request_len, IO_TIMEOUT_MS), 0);
        for (int i = 0; i < CLIENTS; i++)
            read_answers(&clients[i], s);
        assert_true(tnet_now_ms() < deadline_ms);
    }
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(clients[i].len, 0); /* nothing more than was asked for */
}

/* One measured window: the allocations it saw, reported when there were any. */
static uint64_t measure_window(const scenario *s, uint64_t deadline)
{
    atomic_store(&counts->trace, TRACED_PER_WINDOW);
    uint64_t before = total_allocations();
    time_t measure_start = time(NULL);
    run_rounds(s, MEASURED_ROUNDS, deadline);
    int rounds = MEASURED_ROUNDS;
    /* Past a wall-clock second too, so whatever ioserve does once a second (the Date header)
     * is inside the count; a slow round every PACE_MS is enough for that. */
    for (; time(NULL) == measure_start; rounds++) {
        usleep(PACE_MS * 1000);
        run_rounds(s, 1, deadline);
    }
    uint64_t after = total_allocations();
    atomic_store(&counts->trace, 0);
    if (after != before) {
        print_counts("after a measured window");
        fprintf(stderr, "%llu allocations over %d rounds x %d connections (%zu requests each)\n",
                (unsigned long long)(after - before), rounds, CLIENTS,
                s->kind == ANSWER_HTTP ? s->answers : (size_t)1);
    }
    return after - before;
}

/* The test body every scenario shares: start, warm up, count, stop cleanly. */
static void test_steady_state(void **state)
{
    const scenario *s = *state;
    server_start(&server, s);
    for (int i = 0; i < CLIENTS; i++)
        client_open(&clients[i], &server, s);
    uint64_t deadline = tnet_now_ms() + MEASURE_TIMEOUT_MS;
    run_rounds(s, WARMUP_ROUNDS, deadline);
    print_counts("after warm-up");
    uint64_t fouled = 1;
    for (int w = 0; w < WINDOWS && fouled; w++)
        fouled = measure_window(s, deadline);
    if (fouled) { /* the server printed where it allocated: show it */
        int status;
        proc_stop(&server, SIGTERM, STOP_TIMEOUT_MS, &status);
        fprintf(stderr, "ioserve stderr:\n%s\n", server.err);
    }
    assert_int_equal(fouled, 0);
    close_clients();
    expect_clean_exit(&server, SIGTERM, STOP_TIMEOUT_MS);
}

static int test_setup(void **state)
{
    server.err_fd = -1;
    for (int i = 0; i < CLIENTS; i++) {
        clients[i].fd = -1;
        clients[i].inflating = false;
    }
    return 0;
}

static int test_teardown(void **state)
{
    close_clients();
    proc_kill(&server);
    return 0;
}

/* ---- the scenarios ---- */

static char pipelined[PIPELINE_DEPTH * sizeof(PLAINTEXT_GET)];
static char echo_message[128];
static char ws_frame[6 + 32];
static char ws_answer[2 + 32];
static char ws_deflate_frame[6 + 64];
static char ws_text[32];

static scenario plaintext = {.protocol = "http", .request = PLAINTEXT_GET, .kind = ANSWER_HTTP,
                             .answer = "Hello, World!", .answers = 1};
static scenario plaintext_pipelined = {.protocol = "http", .request = pipelined, .kind = ANSWER_HTTP,
                                       .answer = "Hello, World!", .answers = PIPELINE_DEPTH};
static scenario http_echo = {.protocol = "http",
                             .request = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
                             .kind = ANSWER_HTTP, .answer = "hello", .answers = 1};
static scenario static_file = {.protocol = "http", .with_root = true,
                               .request = "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n", .kind = ANSWER_HTTP,
                               .answer = STATIC_BODY, .answers = 1};
static scenario websocket = {.protocol = "http", .websocket = true, .request = ws_frame,
                             .request_len = sizeof(ws_frame), .kind = ANSWER_BYTES, .answer = ws_answer,
                             .answer_len = sizeof(ws_answer)};
static scenario websocket_deflate = {
    .protocol = "http", .websocket = true, .ws_extensions = "permessage-deflate",
    .request = ws_deflate_frame, .kind = ANSWER_WS_DEFLATE, .answer = ws_text,
    .answer_len = sizeof(ws_text)};
static scenario websocket_deflate_no_takeover = {
    .protocol = "http", .websocket = true,
    .ws_extensions = "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    .request = ws_deflate_frame, .kind = ANSWER_WS_DEFLATE, .answer = ws_text,
    .answer_len = sizeof(ws_text)};
static scenario echo = {.protocol = "echo", .request = echo_message, .request_len = sizeof(echo_message),
                        .kind = ANSWER_BYTES, .answer = echo_message, .answer_len = sizeof(echo_message)};
static scenario etx = {.protocol = "etx", .request = "one message\x03", .kind = ANSWER_BYTES,
                       .answer = "ack"};

/* A masked compressed text frame holding ws_text, deflated on its own (so it refers to no
 * earlier message and suits context takeover too). */
static void build_ws_deflate_frame(const unsigned char mask[4])
{
    memset(ws_text, 'w', sizeof ws_text);
    memcpy(ws_text, "a compressed WebSocket message", 30);
    unsigned char out[64];
    z_stream zs = {0};
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (unsigned char *)ws_text;
    zs.avail_in = sizeof ws_text;
    zs.next_out = out;
    zs.avail_out = sizeof out;
    assert_int_equal(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
    size_t len = sizeof out - zs.avail_out - 4; /* without the 00 00 FF FF tail */
    deflateEnd(&zs);
    ws_deflate_frame[0] = (char)0xc1; /* FIN, RSV1, text */
    ws_deflate_frame[1] = (char)(0x80 | len);
    memcpy(ws_deflate_frame + 2, mask, 4);
    for (size_t i = 0; i < len; i++)
        ws_deflate_frame[6 + i] = (char)(out[i] ^ mask[i % 4]);
    websocket_deflate.request_len = websocket_deflate_no_takeover.request_len = 6 + len;
}

/* The requests that are built rather than written out: the pipelined batch, the 128-byte
 * echo message, a masked text frame and its unmasked echo. */
static void build_scenarios(void)
{
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    const size_t payload = sizeof(ws_answer) - 2;
    size_t n = 0;
    for (int i = 0; i < PIPELINE_DEPTH; i++) {
        memcpy(pipelined + n, PLAINTEXT_GET, strlen(PLAINTEXT_GET));
        n += strlen(PLAINTEXT_GET);
    }
    plaintext_pipelined.request_len = n;
    plaintext_pipelined.answer_len = strlen(plaintext_pipelined.answer);
    tnet_pattern_fill(echo_message, sizeof(echo_message), 0);
    ws_frame[0] = ws_answer[0] = (char)0x81; /* FIN, text */
    ws_frame[1] = (char)(0x80 | payload);
    ws_answer[1] = (char)payload;
    memcpy(ws_frame + 2, mask, 4);
    for (size_t i = 0; i < payload; i++) {
        ws_answer[2 + i] = (char)('a' + i % 26);
        ws_frame[6 + i] = (char)(ws_answer[2 + i] ^ mask[i % 4]);
    }
    build_ws_deflate_frame(mask);
    scenario *sized[] = {&plaintext, &http_echo, &static_file, &etx};
    for (size_t i = 0; i < sizeof(sized) / sizeof(sized[0]); i++) {
        sized[i]->request_len = strlen(sized[i]->request);
        sized[i]->answer_len = strlen(sized[i]->answer);
    }
}

static int group_setup(void **state)
{
    map_counts();
    make_root();
    /* Only the servers this test starts inherit these: the test itself is not counted. */
    setenv("LD_PRELOAD", preload_path, 1);
    setenv(ALLOC_COUNT_FILE_ENV, count_path, 1);
    return 0;
}

static int group_teardown(void **state)
{
    unlink(static_file_path);
    rmdir(root_dir);
    unlink(count_path);
    return 0;
}

#define SCENARIO_TEST(s) {.name = #s, .test_func = test_steady_state, .setup_func = test_setup, \
                         .teardown_func = test_teardown, .initial_state = &(s)}

int main(int argc, char **argv)
{
    if (argc != 4 || proc_backend_args(argv[2], backend_args) < 0) {
        fprintf(stderr, "usage: %s IOSERVE_PATH uring|epoll-lt|epoll-et PATH/alloc_count.so\n", argv[0]);
        return 2;
    }
    ioserve_path = argv[1];
    preload_path = argv[3];
    build_scenarios();
    const struct CMUnitTest tests[] = {
        SCENARIO_TEST(plaintext), SCENARIO_TEST(plaintext_pipelined), SCENARIO_TEST(http_echo),
        SCENARIO_TEST(static_file), SCENARIO_TEST(websocket), SCENARIO_TEST(websocket_deflate),
        SCENARIO_TEST(websocket_deflate_no_takeover), SCENARIO_TEST(echo), SCENARIO_TEST(etx),
    };
    return cmocka_run_group_tests_name(argv[2], tests, group_setup, group_teardown);
}
