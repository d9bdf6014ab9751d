/* test_http_e2e.c - the real ioserve serving HTTP over loopback, on one backend per run.
 *
 * usage: test_http_e2e IOSERVE_PATH uring|epoll-lt|epoll-et|poll|select
 * One server (started once for the group, port 0) serves a temporary document root holding a
 * page, a subdirectory, a directory named like a host, dotfiles (.env, .git/config,
 * .well-known/), a 16 MiB file of a known pattern and a symlink that leads out of the root.
 * Short limits (--max-body 1024, --header-timeout-ms 400, --keepalive-timeout-ms 600) keep the
 * timeout tests quick.  Every bad input is checked for its status, for the close that
 * follows, and for a bystander connection that keeps being served.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioserve_proc.h"
#include "net_helpers.h"
#include "tcp_watch.h"

#define IO_TIMEOUT_MS 5000
#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 5000
#define BIG_FILE_BYTES (16u * 1024u * 1024u)
#define HEAD_MAX 8192
#define PIPELINED 100
#define HEADER_TIMEOUT_MS 400
#define KEEPALIVE_TIMEOUT_MS 600
/* The slow reader: 2 MiB of the big file, 8 KiB every 8 ms (1 MB/s, several keep-alive
 * timeouts in all) through a small receive window. */
#define SLOW_READER_BYTES (2u * 1024u * 1024u)
#define SLOW_READER_STEP (8u * 1024u)
#define SLOW_READER_PAUSE_US 8000
#define SLOW_READER_RCVBUF (8 * 1024)

/* Set once in main and the group setup, read-only afterwards. */
static const char *ioserve_path;
static const char *backend_args[5];
static char root_dir[64];
static char outside_file[96];
static ioserve_proc server;

/* ---- the document root ---- */

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void make_root(void)
{
    char path[160];
    strcpy(root_dir, "/tmp/ioserve-http-XXXXXX");
    assert_non_null(mkdtemp(root_dir));
    snprintf(path, sizeof(path), "%s/index.html", root_dir);
    write_file(path, "<h1>root</h1>\n", 14);
    snprintf(path, sizeof(path), "%s/a.txt", root_dir);
    write_file(path, "0123456789", 10);
    snprintf(path, sizeof(path), "%s/sub", root_dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/sub/index.html", root_dir);
    write_file(path, "<p>sub</p>\n", 11);
    snprintf(path, sizeof(path), "%s/example.com", root_dir);
    assert_int_equal(mkdir(path, 0755), 0);
    static const char *const dirs[] = {".git", ".well-known"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", root_dir, dirs[i]);
        assert_int_equal(mkdir(path, 0755), 0);
    }
    snprintf(path, sizeof(path), "%s/.env", root_dir);
    write_file(path, "DOTSECRET", 9);
    snprintf(path, sizeof(path), "%s/.git/config", root_dir);
    write_file(path, "DOTSECRET", 9);
    snprintf(path, sizeof(path), "%s/.well-known/security.txt", root_dir);
    write_file(path, "Contact: x", 10);
    char *big = malloc(BIG_FILE_BYTES);
    assert_non_null(big);
    tnet_pattern_fill(big, BIG_FILE_BYTES, 0);
    snprintf(path, sizeof(path), "%s/big.bin", root_dir);
    write_file(path, big, BIG_FILE_BYTES);
    free(big);
    /* A secret next to the root, and a symlink inside pointing at it. */
    snprintf(outside_file, sizeof(outside_file), "%s-secret.txt", root_dir);
    write_file(outside_file, "SECRET", 6);
    snprintf(path, sizeof(path), "%s/leak.txt", root_dir);
    assert_int_equal(symlink(outside_file, path), 0);
}

static void remove_root(void)
{
    static const char *const names[] = {"index.html", "a.txt", "sub/index.html", "sub", "big.bin",
                                        "leak.txt", "example.com", ".env", ".git/config", ".git",
                                        ".well-known/security.txt", ".well-known", NULL};
    char path[160];
    for (const char *const *n = names; *n; n++) {
        snprintf(path, sizeof(path), "%s/%s", root_dir, *n);
        remove(path);
    }
    rmdir(root_dir);
    unlink(outside_file);
}

/* ---- the server ---- */

/* extra: one more flag, or NULL. */
static int start_server(ioserve_proc *p, bool with_root, const char *extra)
{
    const char *argv[20] = {ioserve_path};
    size_t n = 1;
    for (size_t i = 0; backend_args[i]; i++)
        argv[n++] = backend_args[i];
    if (with_root) {
        argv[n++] = "--root";
        argv[n++] = root_dir;
    }
    argv[n++] = "--max-body=1024";
    argv[n++] = "--header-timeout-ms=400";
    argv[n++] = "--keepalive-timeout-ms=600";
    if (extra)
        argv[n++] = extra;
    argv[n] = NULL;
    p->err_fd = -1;
    int err = proc_start(p, argv, START_TIMEOUT_MS);
    if (err < 0)
        fprintf(stderr, "ioserve did not start (%s); it said:\n%s\n", strerror(-err), p->err);
    return err;
}

static void stop_server(ioserve_proc *p)
{
    int status = -1;
    assert_int_equal(proc_stop(p, SIGTERM, STOP_TIMEOUT_MS, &status), 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "ioserve stderr:\n%s\n", p->err);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int group_setup(void **state)
{
    make_root();
    return start_server(&server, true, NULL);
}

/* Releases only: cmocka ignores a failing group teardown, so the group's final check (the
 * server that took every bad input exits 0, sanitizers quiet) is the last test. */
static int group_teardown(void **state)
{
    proc_kill(&server);
    remove_root();
    return 0;
}

/* ---- the client side ---- */

typedef struct response {
    int status;
    char head[HEAD_MAX]; /* NUL-terminated, the blank line included */
    char *body;          /* malloc'd, NUL-terminated */
    size_t body_len;
} response;

static int connect_server(void)
{
    int fd = tnet_connect(server.port);
    assert_true(fd >= 0);
    return fd;
}

/* The value of header name in r's head, copied into out; false when absent. */
static bool header(const response *r, const char *name, char *out, size_t out_size)
{
    size_t name_len = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *field = line + 2;
        if (strncasecmp(field, name, name_len) == 0 && field[name_len] == ':') {
            const char *value = field + name_len + 1;
            while (*value == ' ')
                value++;
            size_t len = (size_t)(strstr(value, "\r\n") - value);
            assert_true(len < out_size);
            memcpy(out, value, len);
            out[len] = '\0';
            return true;
        }
    }
    return false;
}

/* Read one response; bodyless for HEAD, 1xx, 204, 304. */
static void read_response(int fd, response *r, bool head_request)
{
    size_t n = 0;
    memset(r, 0, sizeof(*r));
    while (n < 4 || memcmp(r->head + n - 4, "\r\n\r\n", 4) != 0) {
        assert_true(n < HEAD_MAX - 1);
        assert_int_equal(tnet_read_full(fd, r->head + n, 1, IO_TIMEOUT_MS), 1);
        n++;
    }
    r->head[n] = '\0';
    assert_int_equal(sscanf(r->head, "HTTP/1.%*1d %d ", &r->status), 1);
    char value[64];
    uint64_t len = 0;
    if (header(r, "Content-Length", value, sizeof(value)))
        len = strtoull(value, NULL, 10);
    else
        assert_true(head_request || r->status < 200 || r->status == 204 || r->status == 304);
    if (head_request || r->status == 304)
        len = 0;
    r->body = malloc(len + 1);
    assert_non_null(r->body);
    if (len)
        assert_int_equal(tnet_read_full(fd, r->body, len, IO_TIMEOUT_MS), (ssize_t)len);
    r->body[len] = '\0';
    r->body_len = len;
}

static void response_free(response *r)
{
    free(r->body);
    r->body = NULL;
}

/* One request on a fresh connection: the response, the connection left open in *fd_out (or
 * closed when fd_out is NULL). */
static void exchange(const char *request, response *r, bool head_request, int *fd_out)
{
    int fd = connect_server();
    send_text(fd, request);
    read_response(fd, r, head_request);
    if (fd_out)
        *fd_out = fd;
    else
        close(fd);
}

static void expect_closed(int fd)
{
    int err = tnet_expect_eof(fd, IO_TIMEOUT_MS);
    assert_true(err == 0 || err == -ECONNRESET);
}

static void expect_header(const response *r, const char *name, const char *want)
{
    char value[256];
    if (!header(r, name, value, sizeof(value)))
        fail_msg("no %s in:\n%s", name, r->head);
    assert_string_equal(value, want);
}

static void expect_no_header(const response *r, const char *name)
{
    char value[256];
    if (header(r, name, value, sizeof(value)))
        fail_msg("unexpected %s: %s", name, value);
}

/* A request answered on a connection that stays usable. */
static void expect_plaintext(int fd)
{
    response r;
    send_text(fd, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(fd, &r, false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "Hello, World!");
    response_free(&r);
}

/* A bad request: the status, "Connection: close", then the close; a bystander is unaffected. */
static void expect_refused(const char *request, size_t len, int status)
{
    int bystander = connect_server();
    expect_plaintext(bystander);
    int fd = connect_server();
    assert_int_equal(tnet_write_all(fd, request, len, IO_TIMEOUT_MS), 0);
    response r;
    read_response(fd, &r, false);
    if (r.status != status)
        fail_msg("expected %d, got:\n%s", status, r.head);
    expect_header(&r, "Connection", "close");
    expect_closed(fd);
    close(fd);
    response_free(&r);
    expect_plaintext(bystander);
    close(bystander);
}

/* ---- behaviour ---- */

static void test_plaintext_keep_alive(void **state)
{
    int fd = connect_server();
    for (int i = 0; i < 3; i++)
        expect_plaintext(fd);
    response r;
    send_text(fd, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(fd, &r, false);
    expect_header(&r, "Content-Type", "text/plain");
    expect_header(&r, "Content-Length", "13");
    expect_header(&r, "Server", "ioserve");
    expect_no_header(&r, "Connection");
    char date[64];
    assert_true(header(&r, "Date", date, sizeof(date)));
    assert_int_equal(strlen(date), 29); /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    assert_non_null(strstr(date, " GMT"));
    response_free(&r);
    close(fd);
}

static void test_connection_close(void **state)
{
    int fd;
    response r;
    exchange("GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r, false, &fd);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Connection", "close");
    expect_closed(fd);
    close(fd);
    response_free(&r);
}

static void test_http10(void **state)
{
    int fd;
    response r;
    exchange("GET /plaintext HTTP/1.0\r\n\r\n", &r, false, &fd);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "Hello, World!");
    expect_closed(fd);
    close(fd);
    response_free(&r);
    exchange("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r, false, &fd);
    expect_header(&r, "Connection", "keep-alive");
    response_free(&r);
    send_text(fd, "GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    read_response(fd, &r, false);
    assert_string_equal(r.body, "Hello, World!");
    response_free(&r);
    close(fd);
}

static void test_head(void **state)
{
    int fd;
    response r;
    exchange("HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", &r, true, &fd);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Length", "13");
    response_free(&r);
    expect_plaintext(fd); /* no body bytes were left on the stream */
    send_text(fd, "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(fd, &r, true);
    expect_header(&r, "Content-Length", "16777216");
    response_free(&r);
    expect_plaintext(fd);
    close(fd);
}

/* 100 requests in one write: 100 responses, in order. */
static void test_pipelining(void **state)
{
    char *batch = malloc(PIPELINED * 128);
    assert_non_null(batch);
    size_t len = 0;
    for (int i = 0; i < PIPELINED; i++) {
        char body[16];
        int body_len = snprintf(body, sizeof(body), "req-%03d", i);
        len += (size_t)sprintf(batch + len, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s",
                               body_len, body);
    }
    int fd = connect_server();
    assert_int_equal(tnet_write_all(fd, batch, len, IO_TIMEOUT_MS), 0);
    for (int i = 0; i < PIPELINED; i++) {
        response r;
        char want[16];
        snprintf(want, sizeof(want), "req-%03d", i);
        read_response(fd, &r, false);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, want);
        response_free(&r);
    }
    close(fd);
    free(batch);
}

static void test_echo_bodies(void **state)
{
    int fd = connect_server();
    response r;
    /* Content-Length, split across writes. */
    send_text(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/x-test\r\nContent-Len");
    assert_int_equal(tcp_wait_consumed(&fd, 1, IO_TIMEOUT_MS), 0); /* read on its own */
    send_text(fd, "gth: 11\r\n\r\nhello");
    assert_int_equal(tcp_wait_consumed(&fd, 1, IO_TIMEOUT_MS), 0);
    send_text(fd, " world");
    read_response(fd, &r, false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world");
    expect_header(&r, "Content-Type", "text/x-test");
    response_free(&r);
    /* Chunked, with a trailer. */
    send_text(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n6\r\n chunk\r\n0\r\nX-Trailer: yes\r\n\r\n");
    read_response(fd, &r, false);
    assert_string_equal(r.body, "hello chunk");
    response_free(&r);
    /* Expect: 100-continue: the interim answer comes before the body is sent. */
    send_text(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    read_response(fd, &r, false);
    assert_int_equal(r.status, 100);
    response_free(&r);
    send_text(fd, "ping");
    read_response(fd, &r, false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ping");
    response_free(&r);
    close(fd);
}

/* ---- static files ---- */

static void test_static_file(void **state)
{
    int fd;
    response r;
    exchange("GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r, false, &fd);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "<h1>root</h1>\n");
    expect_header(&r, "Content-Type", "text/html; charset=utf-8");
    char etag[64], modified[64], request[256];
    assert_true(header(&r, "ETag", etag, sizeof(etag)));
    assert_true(header(&r, "Last-Modified", modified, sizeof(modified)));
    response_free(&r);

    snprintf(request, sizeof(request), "GET /index.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n", etag);
    send_text(fd, request);
    read_response(fd, &r, false);
    assert_int_equal(r.status, 304);
    response_free(&r);
    snprintf(request, sizeof(request), "GET /index.html HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: %s\r\n\r\n",
             modified);
    send_text(fd, request);
    read_response(fd, &r, false);
    assert_int_equal(r.status, 304);
    response_free(&r);
    send_text(fd, "GET /index.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"other\"\r\n\r\n");
    read_response(fd, &r, false);
    assert_int_equal(r.status, 200);
    response_free(&r);

    send_text(fd, "GET /a.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=2-5\r\n\r\n");
    read_response(fd, &r, false);
    assert_int_equal(r.status, 206);
    assert_string_equal(r.body, "2345");
    expect_header(&r, "Content-Range", "bytes 2-5/10");
    response_free(&r);
    send_text(fd, "GET /a.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=-3\r\n\r\n");
    read_response(fd, &r, false);
    assert_string_equal(r.body, "789");
    response_free(&r);
    send_text(fd, "GET /a.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=10-\r\n\r\n");
    read_response(fd, &r, false);
    assert_int_equal(r.status, 416);
    expect_header(&r, "Content-Range", "bytes */10");
    response_free(&r);

    send_text(fd, "GET /sub HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(fd, &r, false);
    assert_int_equal(r.status, 301);
    expect_header(&r, "Location", "/sub/");
    response_free(&r);
    send_text(fd, "GET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(fd, &r, false);
    assert_string_equal(r.body, "<p>sub</p>\n");
    response_free(&r);
    send_text(fd, "GET /missing.html HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(fd, &r, false);
    assert_int_equal(r.status, 404);
    response_free(&r);
    expect_plaintext(fd);
    close(fd);
}

/* Files and memory answers interleaved in one write keep their order. */
static void test_static_pipelined(void **state)
{
    int fd = connect_server();
    send_text(fd, "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                  "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
                  "GET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n"
                  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nend");
    static const char *const bodies[] = {"0123456789", "Hello, World!", "<p>sub</p>\n", "end"};
    for (int i = 0; i < 4; i++) {
        response r;
        read_response(fd, &r, false);
        assert_string_equal(r.body, bodies[i]);
        response_free(&r);
    }
    close(fd);
}

static void test_big_file(void **state)
{
    int fd;
    response r;
    exchange("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n", &r, false, &fd);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, BIG_FILE_BYTES);
    assert_int_equal(tnet_pattern_mismatch(r.body, r.body_len, 0), r.body_len);
    response_free(&r);
    /* A range from the middle, on the same connection. */
    send_text(fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000000-1999999\r\n\r\n");
    read_response(fd, &r, false);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.body_len, 1000000);
    assert_int_equal(tnet_pattern_mismatch(r.body, r.body_len, 1000000), r.body_len);
    response_free(&r);
    expect_plaintext(fd);
    close(fd);
}

/* Nothing outside the root is ever served, however the path is spelled. */
static void test_traversal(void **state)
{
    static const char *const paths[] = {
        "/../secret.txt", "/sub/../../x", "/%2e%2e/x", "/%2E%2E/%2e%2e/etc/passwd", "/sub%2f..%2findex.html",
        "/a%2fb", "/..%5c..%5cx", "/%252e%252e/x", "/leak.txt", "/./../x",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char request[256];
        snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", paths[i]);
        response r;
        exchange(request, &r, false, NULL);
        if (r.status != 403 && r.status != 404 && r.status != 400)
            fail_msg("%s answered %d", paths[i], r.status);
        assert_null(strstr(r.body, "SECRET"));
        response_free(&r);
    }
}

static void test_method_not_allowed(void **state)
{
    int fd;
    response r;
    exchange("DELETE /index.html HTTP/1.1\r\nHost: t\r\n\r\n", &r, false, &fd);
    assert_int_equal(r.status, 405);
    expect_header(&r, "Allow", "GET, HEAD");
    response_free(&r);
    expect_plaintext(fd);
    close(fd);
}

static void test_no_root_says_hello(void **state)
{
    ioserve_proc plain = {.err_fd = -1};
    assert_int_equal(start_server(&plain, false, NULL), 0);
    int fd = tnet_connect(plain.port);
    assert_true(fd >= 0);
    send_text(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    response r;
    read_response(fd, &r, false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "Hello, World!");
    response_free(&r);
    close(fd);
    stop_server(&plain);
    proc_kill(&plain);
}

/* ---- WebSocket upgrade ---- */

#define WS_UPGRADE "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

/* Behind a file answer in the same write, with a first frame right after the head: the 101
 * follows the file, and the frame (left over from HTTP's read) is echoed by WebSocket. */
static void test_websocket_upgrade(void **state)
{
    static const unsigned char mask[4] = {1, 2, 3, 4};
    char request[512];
    int n = snprintf(request, sizeof(request), "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n" WS_UPGRADE);
    request[n++] = (char)0x81;       /* FIN, text */
    request[n++] = (char)(0x80 | 5); /* masked, 5 bytes */
    memcpy(request + n, mask, 4);
    n += 4;
    for (int i = 0; i < 5; i++)
        request[n++] = (char)("hello"[i] ^ mask[i % 4]);
    int fd = connect_server();
    assert_int_equal(tnet_write_all(fd, request, (size_t)n, IO_TIMEOUT_MS), 0);
    response r;
    read_response(fd, &r, false);
    assert_string_equal(r.body, "0123456789");
    response_free(&r);
    read_response(fd, &r, false);
    assert_int_equal(r.status, 101);
    expect_header(&r, "Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    response_free(&r);
    char frame[7];
    assert_int_equal(tnet_read_full(fd, frame, sizeof(frame), IO_TIMEOUT_MS), (ssize_t)sizeof(frame));
    assert_memory_equal(frame, "\x81\x05hello", sizeof(frame));
    close(fd);
}

static void test_websocket_refused(void **state)
{
    const char *plain = "GET /ws HTTP/1.1\r\nHost: t\r\n\r\n";
    expect_refused(plain, strlen(plain), 400);
    const char *http10 = "GET /ws HTTP/1.0\r\n\r\n";
    expect_refused(http10, strlen(http10), 400);
    const char *old = "GET /ws/broadcast HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    expect_refused(old, strlen(old), 426);
}

/* ---- bad input ---- */

static void test_bad_requests(void **state)
{
    expect_refused("GARBAGE\r\n\r\n", 11, 400);
    expect_refused("GET / HTTP/1.1\r\nBad Header\r\n\r\n", 30, 400);
    expect_refused("GET / HTTP/1.1\r\n\r\n", 18, 400); /* no Host */
    /* Smuggling: both framings, or two lengths that differ. */
    const char *both = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\n\r\n";
    expect_refused(both, strlen(both), 400);
    const char *two = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
    expect_refused(two, strlen(two), 400);
}

static void test_too_large(void **state)
{
    enum { BIG = 20000, ROOM = BIG + 256 };
    static char request[ROOM], filler[BIG + 1];
    memset(filler, 'a', BIG);
    filler[BIG] = '\0';
    /* 414: a URI past the request-line limit. */
    snprintf(request, ROOM, "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n", filler);
    expect_refused(request, strlen(request), 414);
    /* 431: one header too large, then too many headers. */
    snprintf(request, ROOM, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n", filler);
    expect_refused(request, strlen(request), 431);
    size_t n;
    n = (size_t)sprintf(request, "GET / HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 150; i++)
        n += (size_t)sprintf(request + n, "X-%d: v\r\n", i);
    strcpy(request + n, "\r\n");
    expect_refused(request, strlen(request), 431);
    /* 413: a body over --max-body, declared and counted. */
    const char *declared = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n";
    expect_refused(declared, strlen(declared), 413);
    n = (size_t)sprintf(request, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        n += (size_t)sprintf(request + n, "200\r\n");
        memset(request + n, 'c', 512);
        n += 512;
        n += (size_t)sprintf(request + n, "\r\n");
    }
    expect_refused(request, n, 413);
}

/* ---- llhttp 8.1's gaps (docs/http.md) ---- */

#define CHUNKED_ECHO "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"

static void expect_refused_text(const char *request, int status)
{
    expect_refused(request, strlen(request), status);
}

/* llhttp 8.1 skipped the two bytes after chunk data: "helloXX" read as "hello". */
static void test_chunk_data_needs_crlf(void **state)
{
    expect_refused_text(CHUNKED_ECHO "5\r\nhelloXX0\r\n\r\n", 400);
    expect_refused_text(CHUNKED_ECHO "5\r\nhello\n0\r\n\r\n", 400);
}

/* obs-fold, in framing fields or any other: 400 and close. */
static void test_obs_fold_refused(void **state)
{
    expect_refused_text("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n 3\r\n\r\nabc", 400);
    expect_refused_text("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
                        "3\r\nabc\r\n0\r\n\r\n",
                        400);
    expect_refused_text("GET /plaintext HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tb\r\n\r\n", 400);
    expect_refused_text("POST /echo HTTP/1.1\r\nHost: t\r\nX-A: a\r\n Content-Length: 3\r\n\r\nabc",
                        400);
}

/* Bare CR, whitespace in or before a field name, TAB in the target: llhttp's strict mode. */
static void test_bare_cr_and_loose_bytes_refused(void **state)
{
    expect_refused_text("POST /echo HTTP/1.1\r\nHost: t\r\nx:\rTransfer-Encoding: chunked\r\n\r\n"
                        "0\r\n\r\n",
                        400);
    expect_refused_text(CHUNKED_ECHO "5\rXhello\r\n0\r\n\r\n", 400);
    expect_refused_text("GET /plaintext HTTP/1.1\r\nHost : t\r\n\r\n", 400);
    expect_refused_text("GET /plain\ttext HTTP/1.1\r\nHost: t\r\n\r\n", 400);
}

/* Any number of chunk extensions is read and ignored; too many extension bytes is 400. */
static void test_chunk_extensions(void **state)
{
    static const char *const firsts[] = {"6;a=b;c=d", "6;a=b;c=\"q d\"", "6;a;b=\"x\";c=1;d"};
    int fd = connect_server();
    for (size_t i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++) {
        char request[256];
        snprintf(request, sizeof(request),
                 CHUNKED_ECHO "%s\r\nhello!\r\n3;x=y;z\r\n:-)\r\n0;e=f;g\r\n\r\n", firsts[i]);
        send_text(fd, request);
        response r;
        read_response(fd, &r, false);
        if (r.status != 200)
            fail_msg("%s: %d", firsts[i], r.status);
        assert_string_equal(r.body, "hello!:-)");
        response_free(&r);
    }
    expect_plaintext(fd);
    close(fd);
    /* Over the bound (the head's, 16 KiB, per request): whole in one chunk, or spread. */
    enum { EXT = 20000 };
    static char request[EXT + 512];
    size_t n = (size_t)sprintf(request, CHUNKED_ECHO "1;");
    memset(request + n, 'e', EXT);
    n += EXT;
    n += (size_t)sprintf(request + n, "\r\nx\r\n0\r\n\r\n");
    expect_refused(request, n, 400);
    n = (size_t)sprintf(request, CHUNKED_ECHO);
    for (int i = 0; i < 40; i++) {
        n += (size_t)sprintf(request + n, "1;");
        memset(request + n, 'e', 500);
        n += 500;
        n += (size_t)sprintf(request + n, "\r\nx\r\n");
    }
    n += (size_t)sprintf(request + n, "0\r\n\r\n");
    expect_refused(request, n, 400);
}

/* Leading zeros in a chunk size are read without any callback: bounded all the same. */
static void test_chunk_size_padding(void **state)
{
    enum { PAD = 100000 };
    static char request[PAD + 256];
    size_t n = (size_t)sprintf(request, CHUNKED_ECHO);
    memset(request + n, '0', PAD);
    n += PAD;
    n += (size_t)sprintf(request + n, "5\r\nhello\r\n0\r\n\r\n");
    expect_refused(request, n, 400);
}

/* Host: uri-host [":" port], exactly one in HTTP/1.1. */
static void test_invalid_host(void **state)
{
    expect_refused_text("GET /plaintext HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    expect_refused_text("GET /plaintext HTTP/1.1\r\nHost: user@t\r\n\r\n", 400);
    expect_refused_text("GET /plaintext HTTP/1.1\r\nHost: t:80x\r\n\r\n", 400);
    expect_refused_text("GET /plaintext HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n", 400);
    expect_refused_text("GET /plaintext HTTP/1.1\r\n\r\n", 400);
    int fd;
    response r;
    exchange("GET /plaintext HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", &r, false, &fd);
    assert_int_equal(r.status, 200);
    response_free(&r);
    close(fd);
}

/* A directory asked for with "//name" is redirected to "/name/", never to "//name/": a
 * browser reads a Location starting with "//" as another host. */
static void test_dir_redirect_not_network_path(void **state)
{
    static const struct {
        const char *target, *location;
    } cases[] = {
        {"//example.com", "/example.com/"},
        {"///example.com?a=1", "/example.com/?a=1"},
        {"/example.com", "/example.com/"},
        {"//sub", "/sub/"},
    };
    int fd = connect_server();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char request[256];
        snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", cases[i].target);
        send_text(fd, request);
        response r;
        read_response(fd, &r, false);
        assert_int_equal(r.status, 301);
        expect_header(&r, "Location", cases[i].location);
        response_free(&r);
    }
    close(fd);
}

static int status_of_get(int fd, const char *path, response *r)
{
    char request[256];
    snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    send_text(fd, request);
    read_response(fd, r, false);
    return r->status;
}

/* Dotfiles are 404 unless --serve-dotfiles; /.well-known/ is always served. */
static void test_dotfiles(void **state)
{
    static const char *const hidden[] = {"/.env", "/.git/config", "/.git/", "/sub/../.env", "/.git"};
    int fd = connect_server();
    response r;
    for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
        int status = status_of_get(fd, hidden[i], &r);
        if (status != 404 && status != 403)
            fail_msg("%s: %d", hidden[i], status);
        assert_null(strstr(r.body, "DOTSECRET"));
        response_free(&r);
    }
    assert_int_equal(status_of_get(fd, "/.env", &r), 404);
    response_free(&r);
    assert_int_equal(status_of_get(fd, "/.well-known/security.txt", &r), 200);
    assert_string_equal(r.body, "Contact: x");
    response_free(&r);
    close(fd);

    ioserve_proc open_server = {.err_fd = -1};
    assert_int_equal(start_server(&open_server, true, "--serve-dotfiles"), 0);
    fd = tnet_connect(open_server.port);
    assert_true(fd >= 0);
    assert_int_equal(status_of_get(fd, "/.env", &r), 200);
    assert_string_equal(r.body, "DOTSECRET");
    response_free(&r);
    assert_int_equal(status_of_get(fd, "/.git/config", &r), 200);
    response_free(&r);
    close(fd);
    stop_server(&open_server);
    proc_kill(&open_server);
}

/* Slowloris: a head trickling in gets 408 once --header-timeout-ms has passed since its start. */
static void test_slow_header_408(void **state)
{
    int fd = connect_server();
    uint64_t start = tnet_now_ms();
    send_text(fd, "GET /plaintext HTTP/1.1\r\n");
    for (int i = 0; i < 6; i++) { /* a header line every 100 ms keeps the bytes coming */
        char line[32];
        snprintf(line, sizeof(line), "X-%d: v\r\n", i);
        if (tnet_write_all(fd, line, strlen(line), IO_TIMEOUT_MS) < 0)
            break; /* already closed by the server */
        usleep(100000);
    }
    response r;
    read_response(fd, &r, false);
    uint64_t took = tnet_now_ms() - start;
    assert_int_equal(r.status, 408);
    expect_header(&r, "Connection", "close");
    assert_true(took >= HEADER_TIMEOUT_MS - 50 && took < HEADER_TIMEOUT_MS + 2000);
    expect_closed(fd);
    response_free(&r);
    close(fd);
}

static void test_slow_body_408(void **state)
{
    int fd = connect_server();
    send_text(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab");
    response r;
    read_response(fd, &r, false);
    assert_int_equal(r.status, 408);
    expect_closed(fd);
    response_free(&r);
    close(fd);
}

/* An idle keep-alive connection is closed without a word after --keepalive-timeout-ms. */
static void test_keepalive_idle_close(void **state)
{
    int fd = connect_server();
    expect_plaintext(fd);
    uint64_t start = tnet_now_ms();
    char byte;
    assert_int_equal(tnet_read_full(fd, &byte, 1, IO_TIMEOUT_MS), 0); /* EOF, no bytes */
    uint64_t took = tnet_now_ms() - start;
    assert_true(took >= KEEPALIVE_TIMEOUT_MS - 50 && took < KEEPALIVE_TIMEOUT_MS + 2000);
    close(fd);
}

/* The head of a response read alone (the body is the caller's to read): its status. */
static int read_head_only(int fd)
{
    char head[HEAD_MAX];
    size_t n = 0;
    while (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0) {
        assert_true(n < sizeof(head) - 1);
        assert_int_equal(tnet_read_full(fd, head + n, 1, IO_TIMEOUT_MS), 1);
        n++;
    }
    head[n] = '\0';
    int status = 0;
    assert_int_equal(sscanf(head, "HTTP/1.1 %d ", &status), 1);
    return status;
}

/* A slow but steady reader of a large answer keeps its connection, however much longer than
 * --keepalive-timeout-ms it takes: the deadline must see it take bytes, whether they are still
 * in the server's queue (a file range leaves in one send op, which ends only once all of it is
 * in the socket) or already in the kernel's send buffer (the server has sent everything and
 * waits for the next request, while the reader still has megabytes to take).  It used to look
 * only at the queue: such a connection was closed under the reader, as stalled or as idle.
 * Once the body is in, the next request on the connection is answered. */
static void test_slow_reader_keeps_connection(void **state)
{
    int fd = tnet_connect_rcvbuf(server.port, SLOW_READER_RCVBUF);
    assert_true(fd >= 0);
    send_text(fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-2097151\r\n\r\n");
    assert_int_equal(read_head_only(fd), 206);
    char *body = malloc(SLOW_READER_BYTES);
    assert_non_null(body);
    uint64_t start = tnet_now_ms();
    for (size_t got = 0; got < SLOW_READER_BYTES; got += SLOW_READER_STEP) {
        usleep(SLOW_READER_PAUSE_US);
        assert_int_equal(tnet_read_full(fd, body + got, SLOW_READER_STEP, IO_TIMEOUT_MS), SLOW_READER_STEP);
    }
    assert_true(tnet_now_ms() - start > 2 * KEEPALIVE_TIMEOUT_MS); /* slow, as meant */
    assert_int_equal(tnet_pattern_mismatch(body, SLOW_READER_BYTES, 0), SLOW_READER_BYTES);
    free(body);
    /* Quiet for half the keep-alive timeout after taking the last byte (this sleep is the
     * duration under test): the connection is idle since then, not since the server last
     * looked at it, so a deadline that falls in the pause must not close it. */
    usleep(KEEPALIVE_TIMEOUT_MS / 2 * 1000);
    expect_plaintext(fd);
    close(fd);
}

/* The group's server, which every test above fed (bad input included), stops on SIGTERM with
 * exit 0: under the sanitizer build a leak or an error report makes that status non-zero. */
static void test_group_server_stops_cleanly(void **state)
{
    stop_server(&server);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    if (argc != 3 || proc_backend_args(argv[2], backend_args) < 0) {
        fprintf(stderr, "usage: %s IOSERVE_PATH uring|epoll-lt|epoll-et|poll|select\n", argv[0]);
        return 2;
    }
    ioserve_path = argv[1];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plaintext_keep_alive),
        cmocka_unit_test(test_connection_close),
        cmocka_unit_test(test_http10),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_echo_bodies),
        cmocka_unit_test(test_static_file),
        cmocka_unit_test(test_static_pipelined),
        cmocka_unit_test(test_big_file),
        cmocka_unit_test(test_traversal),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_no_root_says_hello),
        cmocka_unit_test(test_websocket_upgrade),
        cmocka_unit_test(test_websocket_refused),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_chunk_data_needs_crlf),
        cmocka_unit_test(test_obs_fold_refused),
        cmocka_unit_test(test_bare_cr_and_loose_bytes_refused),
        cmocka_unit_test(test_chunk_extensions),
        cmocka_unit_test(test_chunk_size_padding),
        cmocka_unit_test(test_invalid_host),
        cmocka_unit_test(test_dir_redirect_not_network_path),
        cmocka_unit_test(test_dotfiles),
        cmocka_unit_test(test_slow_header_408),
        cmocka_unit_test(test_slow_body_408),
        cmocka_unit_test(test_keepalive_idle_close),
        cmocka_unit_test(test_slow_reader_keeps_connection),
        cmocka_unit_test(test_group_server_stops_cleanly), /* last: after every other input */
    };
    return cmocka_run_group_tests_name(argv[2], tests, group_setup, group_teardown);
}
