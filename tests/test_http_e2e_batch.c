/* test_http_e2e_batch.c - HTTP on a connection in-process: the answers to one read leave in one
 * send, on one backend per run.
 *
 * usage: test_http_e2e_batch uring|epoll-lt|epoll-et|poll|select
 * The loop, a conn_set and http_proto run in this thread; the test plays the client on the other
 * end of a loopback pair.  100 pipelined requests go in one write (one segment on loopback, one
 * receive); the server socket's TCP_INFO segment counter then shows how many segments the 100
 * answers took: one send makes one or two (loopback's MSS is 64 KiB), a send per answer ~100.
 */
#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* tcpi_segs_out: glibc's struct tcp_info lacks it */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"
#include "http/http_builtin.h"
#include "http/http_conn.h"
#include "backend_config.h"
#include "net_helpers.h"

#define WAIT_MS 5000
#define PIPELINED 100
#define REQUEST "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
#define MAX_SEGMENTS 4 /* the answers' one or two, an ACK or two of the request */

/* Set once in main, read-only afterwards. */
static io_loop_config loop_config;

struct fixture {
    io_loop *loop;
    conn_set *set;
    http_router *router;
    http_app app;
    int client;
    int server_fd;
    char in[64 * 1024];
    size_t in_len;
};

static size_t count(const char *text, size_t len, const char *word)
{
    size_t n = 0, word_len = strlen(word);
    for (const char *at = text; (at = memmem(at, len - (size_t)(at - text), word, word_len)); at += word_len)
        n++;
    return n;
}

/* Turn the loop and read as the client until n answers arrived or the time is up. */
static size_t pump_answers(struct fixture *f, size_t n)
{
    uint64_t end = tnet_now_ms() + WAIT_MS;
    while (count(f->in, f->in_len, "Hello, World!") < n && tnet_now_ms() < end) {
        io_loop_run_once(f->loop, 5);
        ssize_t got = recv(f->client, f->in + f->in_len, sizeof(f->in) - f->in_len, MSG_DONTWAIT);
        if (got > 0)
            f->in_len += (size_t)got;
    }
    return count(f->in, f->in_len, "Hello, World!");
}

static uint32_t segments_out(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len), 0);
    return info.tcpi_segs_out;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f || io_loop_create(&f->loop, &loop_config) < 0 || conn_set_create(&f->set, f->loop, NULL) < 0)
        return -1;
    if (http_router_create(&f->router) < 0 || http_builtin_routes(f->router, NULL, NULL) < 0)
        return -1;
    http_app_init(&f->app, f->router, NULL, 0, 0);
    if (tnet_tcp_pair(&f->client, &f->server_fd) < 0 || tnet_set_nonblocking(f->client, 1) < 0)
        return -1;
    if (conn_accept(f->set, f->server_fd, &http_proto, &f->app) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close(f->client);
    uint64_t end = tnet_now_ms() + WAIT_MS;
    while (conn_set_get_stats(f->set).open > 0 && tnet_now_ms() < end)
        io_loop_run_once(f->loop, 5);
    int open = (int)conn_set_get_stats(f->set).open;
    conn_set_destroy(f->set);
    io_loop_destroy(f->loop);
    http_app_fini(&f->app);
    http_router_destroy(f->router);
    free(f);
    return open == 0 ? 0 : -1;
}

static void test_pipelined_answers_in_one_send(void **state)
{
    struct fixture *f = *state;
    /* Warm up: the connection's first answer, so the count below holds the batch alone. */
    assert_int_equal(tnet_write_all(f->client, REQUEST, strlen(REQUEST), WAIT_MS), 0);
    assert_int_equal(pump_answers(f, 1), 1);
    f->in_len = 0;
    uint32_t before = segments_out(f->server_fd);

    char batch[PIPELINED * sizeof(REQUEST)];
    size_t len = 0;
    for (int i = 0; i < PIPELINED; i++) {
        memcpy(batch + len, REQUEST, strlen(REQUEST));
        len += strlen(REQUEST);
    }
    assert_int_equal(tnet_write_all(f->client, batch, len, WAIT_MS), 0);
    assert_int_equal(pump_answers(f, PIPELINED), PIPELINED);
    assert_int_equal(count(f->in, f->in_len, "HTTP/1.1 200 OK\r\n"), PIPELINED);
    uint32_t segments = segments_out(f->server_fd) - before;
    print_message("100 answers left in %u segment(s)\n", segments);
    assert_true(segments >= 1 && segments <= MAX_SEGMENTS);
}

int main(int argc, char **argv)
{
    if (argc != 2 || backend_config(argv[1], &loop_config) < 0) {
        fprintf(stderr, "usage: %s " BACKEND_CONFIG_NAMES "\n", argv[0]);
        return 2;
    }
    loop_config.buf_count = 64;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipelined_answers_in_one_send, setup, teardown),
    };
    return cmocka_run_group_tests_name(argv[1], tests, NULL, NULL);
}
