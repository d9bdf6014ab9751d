/* test_ws_e2e.c - WebSocket end to end: a server in this process, an independent client.
 *
 * usage: test_ws_e2e uring|epoll|poll|select PATH/ws_client.py [TEST-NAME-PATTERN]
 * A thread runs a loop, a conn_set and a listener; each connection speaks a minimal HTTP/1.1
 * request head (enough to route the upgrade) and is handed to ws_conn_upgrade_to() with one of
 * the endpoints below.  Each test runs one scenario of ws_client.py under Debian's
 * /usr/bin/python3 (python3-websockets for conforming traffic, raw sockets for broken frames)
 * and asserts it passed; the server's own counters are checked after it.
 *   /ws, /ws/broadcast      the built-in endpoints (16 MiB messages, deflate on)
 *   /ws/limited, /ws/limited-broadcast
 *                           a hub with 1 MiB messages and a 256 KiB queue limit
 *   /ws/pinged              an echo whose idle connections are pinged every 300 ms
 *   /ws/plain               the echo with deflate off
 *   /ws/api                 handlers of this test on the handler API (ws_send, ws_close,
 *                           ws_group_broadcast, on_open/on_close)
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"
#include "net_helpers.h"
#include "ws/ws_conn.h"
#include "ws/ws_internal.h"

#define HEAD_MAX 8192
#define HEADERS_MAX 64
#define SCENARIO_TIMEOUT_S 40

static io_loop_config loop_config;
static const char *client_script;

struct server {
    io_loop *loop;
    conn_set *set;
    int listen_fd;
    uint16_t port;
    io_op accept_op;
    bool accept_armed;
    ws_builtin *builtin;     /* /ws, /ws/broadcast */
    ws_builtin *limited;     /* /ws/limited* */
    ws_builtin *plain;       /* /ws/plain */
    ws_builtin *pinged;      /* /ws/pinged */
    pthread_t thread;
    bool joined;             /* by the last test */
    atomic_bool stop;
    ws_group *api_group;
    ws_endpoint api;
    atomic_uint api_opened, api_closed, api_last_code;
    atomic_size_t peak_chunks; /* of the builtin hub's pool, across the run */
    atomic_uint refused;     /* upgrades answered with a refusal */
};

static struct server srv;

/* ---- an application on the handler API ---- */

static int api_open(ws_conn *ws, void *arg)
{
    ws_group_join(srv.api_group, ws);
    atomic_fetch_add(&srv.api_opened, 1);
    return ws_send(ws, WS_OP_TEXT, "welcome", 7);
}

/* "close": we close with 4000; "all": a copy to the whole group; "quiet": to the others;
 * anything else comes back reversed as binary. */
static void api_message(ws_conn *ws, ws_message *msg, void *arg)
{
    char text[256];
    size_t n = ws_chain_copy_out(msg->chain, 0, (uint8_t *)text, sizeof text);
    if (n == 5 && memcmp(text, "close", 5) == 0) {
        ws_close(ws, 4000, "asked to");
    } else if (n == 3 && memcmp(text, "all", 3) == 0) {
        ws_group_broadcast(srv.api_group, WS_OP_TEXT, "to all", 6, NULL);
    } else if (n == 5 && memcmp(text, "quiet", 5) == 0) {
        ws_group_broadcast(srv.api_group, WS_OP_TEXT, "not to you", 10, ws);
    } else {
        char reversed[256];
        for (size_t i = 0; i < n; i++)
            reversed[i] = text[n - 1 - i];
        ws_send(ws, WS_OP_BINARY, reversed, n);
    }
}

static void api_close(ws_conn *ws, unsigned code, void *arg)
{
    atomic_store(&srv.api_last_code, code);
    atomic_fetch_add(&srv.api_closed, 1);
}

static const ws_handlers api_handlers = {
    .on_open = api_open, .on_message = api_message, .on_close = api_close};

/* ---- a minimal HTTP request head, for routing the upgrade ---- */

struct head {
    size_t len;
    char buf[HEAD_MAX];
};

static int h_open(conn *c, void *arg)
{
    struct head *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    conn_set_state(c, h);
    return 0;
}

static int parse_head(char *buf, http_request *req, http_header *headers)
{
    char *line_end = strstr(buf, "\r\n");
    *line_end = '\0';
    char *method = buf, *sp1 = strchr(method, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp2)
        return -EINVAL;
    *sp1 = *sp2 = '\0';
    req->method = strcmp(method, "GET") == 0 ? HTTP_GET : HTTP_POST;
    req->path = sp1 + 1;
    req->query = "";
    req->version_major = 1;
    req->version_minor = strcmp(sp2 + 1, "HTTP/1.0") == 0 ? 0 : 1;
    req->headers = headers;
    for (char *line = line_end + 2; *line && req->header_count < HEADERS_MAX;) {
        char *end = strstr(line, "\r\n");
        *end = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            char *value = colon + 1;
            while (*value == ' ')
                value++;
            headers[req->header_count++] = (http_header){
                .name = line, .name_len = (uint32_t)strlen(line),
                .value = value, .value_len = (uint32_t)strlen(value)};
        }
        line = end + 2;
    }
    return 0;
}

static ws_endpoint *route(const char *path)
{
    if (strcmp(path, "/ws") == 0)
        return &srv.builtin->echo;
    if (strcmp(path, "/ws/broadcast") == 0)
        return &srv.builtin->broadcast;
    if (strcmp(path, "/ws/limited") == 0)
        return &srv.limited->echo;
    if (strcmp(path, "/ws/limited-broadcast") == 0)
        return &srv.limited->broadcast;
    if (strcmp(path, "/ws/plain") == 0)
        return &srv.plain->echo;
    if (strcmp(path, "/ws/api") == 0)
        return &srv.api;
    if (strcmp(path, "/ws/pinged") == 0)
        return &srv.pinged->echo;
    return NULL;
}

static void h_data(conn *c, const char *data, size_t len)
{
    struct head *h = conn_state(c);
    size_t n = len < HEAD_MAX - 1 - h->len ? len : HEAD_MAX - 1 - h->len;
    memcpy(h->buf + h->len, data, n);
    h->len += n;
    h->buf[h->len] = '\0';
    char *end = strstr(h->buf, "\r\n\r\n");
    if (!end) {
        if (h->len == HEAD_MAX - 1)
            conn_abort(c);
        return;
    }
    size_t head_len = (size_t)(end + 4 - h->buf);
    /* What followed the head: the rest of this buffer and of the input not yet copied. */
    size_t leftover_len = h->len - head_len + (len - n);
    char *leftover = malloc(leftover_len + 1);
    memcpy(leftover, h->buf + head_len, h->len - head_len);
    memcpy(leftover + h->len - head_len, data + n, len - n);
    end[2] = '\0';
    http_request req = {0};
    http_header headers[HEADERS_MAX];
    ws_endpoint *ep = NULL;
    if (parse_head(h->buf, &req, headers) == 0)
        ep = route(req.path);
    if (!ep) {
        conn_write(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 66);
        conn_close(c);
    } else if (ws_conn_upgrade_to(c, &req, leftover, leftover_len, ep) == 0) {
        free(h); /* the connection is WebSocket's now */
    } else {
        atomic_fetch_add(&srv.refused, 1);
    }
    free(leftover);
}

static void h_close(conn *c)
{
    free(conn_state(c));
}

static const struct proto head_proto = {
    .name = "test-http-head", .on_open = h_open, .on_data = h_data, .on_close = h_close};

/* ---- the server thread ---- */

static void on_accept(io_loop *loop, io_op *op, int res, unsigned flags)
{
    if (!(flags & IO_CQE_MORE))
        srv.accept_armed = false;
    if (res >= 0)
        conn_accept(srv.set, res, &head_proto, NULL);
    if (!srv.accept_armed && !atomic_load(&srv.stop) &&
        io_accept(loop, &srv.accept_op, srv.listen_fd, IO_MULTISHOT, on_accept, NULL) == 0)
        srv.accept_armed = true;
}

static void *serve(void *arg)
{
    while (!atomic_load(&srv.stop)) {
        io_loop_run_once(srv.loop, 20);
        size_t live = srv.builtin->hub->pool.live;
        if (live > atomic_load(&srv.peak_chunks))
            atomic_store(&srv.peak_chunks, live);
    }
    if (srv.accept_armed)
        io_cancel(srv.loop, &srv.accept_op);
    conn_set_abort_all(srv.set);
    uint64_t end = tnet_now_ms() + 5000;
    while ((conn_set_get_stats(srv.set).open > 0 || srv.accept_armed) && tnet_now_ms() < end)
        io_loop_run_once(srv.loop, 20);
    return NULL;
}

static int server_start(void **state)
{
    memset(&srv, 0, sizeof srv);
    assert_int_equal(io_loop_create(&srv.loop, &loop_config), 0);
    assert_int_equal(conn_set_create(&srv.set, srv.loop, &(conn_set_config){0}), 0);
    assert_int_equal(ws_builtin_create(&srv.builtin, &(ws_hub_config){0}), 0);
    assert_int_equal(ws_builtin_create(&srv.limited, &(ws_hub_config){
        .max_message = 1u << 20, .max_queued = 256u * 1024u}), 0);
    assert_int_equal(ws_builtin_create(&srv.plain, &(ws_hub_config){.no_deflate = true}), 0);
    assert_int_equal(ws_builtin_create(&srv.pinged, &(ws_hub_config){.ping_ms = 300}), 0);
    assert_int_equal(ws_group_create(&srv.api_group, srv.plain->hub), 0);
    srv.api = (ws_endpoint){.hub = srv.plain->hub, .handlers = &api_handlers};
    srv.listen_fd = tnet_listen(1024, &srv.port);
    assert_true(srv.listen_fd >= 0);
    assert_int_equal(io_accept(srv.loop, &srv.accept_op, srv.listen_fd, IO_MULTISHOT, on_accept, NULL), 0);
    srv.accept_armed = true;
    assert_int_equal(pthread_create(&srv.thread, NULL, serve, NULL), 0);
    return 0;
}

/* The group's last test: the server thread drains, and nothing is left behind: no connection
 * open, every message chunk back in its pool, no hub or group still counting a member.  This
 * is what shows the "peer vanishes" steps of the scenarios left nothing behind. */
static void test_server_drains_clean(void **state)
{
    atomic_store(&srv.stop, true);
    assert_int_equal(pthread_join(srv.thread, NULL), 0);
    srv.joined = true;
    assert_int_equal(conn_set_get_stats(srv.set).open, 0);
    assert_int_equal(srv.builtin->hub->pool.live, srv.builtin->hub->pool.idle_count);
    assert_int_equal(srv.limited->hub->pool.live, srv.limited->hub->pool.idle_count);
    assert_int_equal(srv.builtin->hub->conns + srv.limited->hub->conns + srv.plain->hub->conns +
                     srv.pinged->hub->conns, 0);
    assert_int_equal(ws_group_size(srv.api_group), 0);
}

/* Releases only: cmocka ignores a failing group teardown, so the checks are the test above. */
static int server_stop(void **state)
{
    if (!srv.joined) {
        atomic_store(&srv.stop, true);
        pthread_join(srv.thread, NULL);
    }
    ws_builtin_destroy(srv.builtin);
    ws_builtin_destroy(srv.limited);
    ws_group_destroy(srv.api_group);
    ws_builtin_destroy(srv.plain);
    ws_builtin_destroy(srv.pinged);
    conn_set_destroy(srv.set);
    close(srv.listen_fd);
    io_loop_destroy(srv.loop);
    return 0;
}

/* ---- the client ---- */

/* Runs one scenario of the client script; 0 when it passed. */
static int run_client(const char *scenario)
{
    char port[16], timeout[16];
    snprintf(port, sizeof port, "%u", srv.port);
    snprintf(timeout, sizeof timeout, "%d", SCENARIO_TIMEOUT_S);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/usr/bin/timeout", "timeout", "-k", "2", timeout, "/usr/bin/python3", client_script,
              scenario, port, (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        return -errno;
    int status;
    if (waitpid(pid, &status, 0) < 0)
        return -errno;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "scenario %s: status %d\n", scenario, status);
        return -1;
    }
    return 0;
}

#define SCENARIO(name)                                       \
    static void test_##name(void **state)                    \
    {                                                        \
        assert_int_equal(run_client(#name), 0);              \
    }

/* Every refusal was the server's own answer (the client checks the status and headers). */
static void test_handshake(void **state)
{
    unsigned before = atomic_load(&srv.refused);
    assert_int_equal(run_client("handshake"), 0);
    assert_int_equal(atomic_load(&srv.refused) - before, 10);
}

SCENARIO(upgrade)
SCENARIO(echo_sizes)
SCENARIO(echo_16mb)
SCENARIO(fragmented)
SCENARIO(ping_pong)
SCENARIO(idle_ping)
SCENARIO(close_codes)
SCENARIO(framing_raw)
SCENARIO(reserved_bits)
SCENARIO(opcodes)
SCENARIO(fragmentation_raw)
SCENARIO(utf8)
SCENARIO(limits)
SCENARIO(deflate)
SCENARIO(concurrent)
SCENARIO(slow_receiver)

/* The fan-out shares one frame: a 1 MiB message to 100 clients must not hold 100 copies. */
static void test_broadcast_100(void **state)
{
    atomic_store(&srv.peak_chunks, 0);
    assert_int_equal(run_client("broadcast_100"), 0);
    size_t peak = atomic_load(&srv.peak_chunks) * WS_DEFAULT_CHUNK_SIZE;
    assert_true(peak < 8u * 1024u * 1024u);
}

/* The handler API: welcome on open, our own close (4000, answered by the peer), group sends
 * with and without the sender, and on_close once per connection with the right code. */
static void test_api(void **state)
{
    unsigned opened = atomic_load(&srv.api_opened), closed = atomic_load(&srv.api_closed);
    assert_int_equal(run_client("api"), 0);
    uint64_t end = tnet_now_ms() + 5000;
    while (atomic_load(&srv.api_closed) - closed < 3 && tnet_now_ms() < end)
        usleep(10000);
    assert_int_equal(atomic_load(&srv.api_opened) - opened, 3);
    assert_int_equal(atomic_load(&srv.api_closed) - closed, 3);
    assert_int_equal(atomic_load(&srv.api_last_code), 4000); /* the last one closed by us */
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "uring") == 0)
        loop_config = (io_loop_config){.backend = IO_BACKEND_URING};
    else if (argc >= 3 && strcmp(argv[1], "epoll") == 0)
        loop_config = (io_loop_config){.backend = IO_BACKEND_EPOLL, .epoll_mode = IO_EPOLL_LT};
    else if (argc >= 3 && strcmp(argv[1], "poll") == 0)
        loop_config = (io_loop_config){.backend = IO_BACKEND_POLL};
    else if (argc >= 3 && strcmp(argv[1], "select") == 0) {
        loop_config = (io_loop_config){.backend = IO_BACKEND_SELECT};
        /* 1000 clients and this process's own fds come within a few of FD_SETSIZE, select's
         * wall (test_server shows those beyond it refused): 900 leave a margin. */
        setenv("WS_CONCURRENT", "900", 0); /* unless the caller sized it */
    } else {
        fprintf(stderr, "usage: %s uring|epoll|poll|select PATH/ws_client.py\n", argv[0]);
        return 2;
    }
    client_script = argv[2];
    tnet_raise_nofile_limit();
    if (argc == 4)
        cmocka_set_test_filter(argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_echo_sizes),
        cmocka_unit_test(test_echo_16mb),
        cmocka_unit_test(test_fragmented),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_idle_ping),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_framing_raw),
        cmocka_unit_test(test_reserved_bits),
        cmocka_unit_test(test_opcodes),
        cmocka_unit_test(test_fragmentation_raw),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_deflate),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_broadcast_100),
        cmocka_unit_test(test_slow_receiver),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_server_drains_clean), /* last */
    };
    return cmocka_run_group_tests_name(argv[1], tests, server_start, server_stop);
}
