/* test_http_session.c - a connection's HTTP without the socket: request bytes in (whole, split
 * at every byte, pipelined), response bytes out, in order; errors and their closes, 100
 * Continue, asynchronous answers with input kept meanwhile, EOF, timeouts and upgrades. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_session.h"
#include "http_test_sink.h"

typedef struct fixture {
    test_sink sink;
    http_date_cache date;
    http_router *router;
    http_session_config cfg;
    http_session_ops ops;
    http_session s;
    int ends;
    int closes;            /* ends with keep_alive false */
    int pauses, resumes;
    int corks;
    bool corked;
    http_response *held;   /* the asynchronous handler's response */
    size_t output_budget;  /* output_full() once the sink holds this much (0: never) */
    int watch_events[2];
} fixture;

static void on_end(void *ctx, bool keep_alive)
{
    fixture *f = (fixture *)((char *)ctx - offsetof(fixture, sink));
    f->ends++;
    f->closes += !keep_alive;
}

static void on_read_pause(void *ctx, bool paused)
{
    fixture *f = (fixture *)((char *)ctx - offsetof(fixture, sink));
    if (paused)
        f->pauses++;
    else
        f->resumes++;
}

static void on_cork(void *ctx, bool on)
{
    fixture *f = (fixture *)((char *)ctx - offsetof(fixture, sink));
    assert_int_equal(f->corked, !on); /* strictly paired */
    f->corked = on;
    f->corks += on;
}

static bool on_output_full(void *ctx)
{
    fixture *f = (fixture *)((char *)ctx - offsetof(fixture, sink));
    return f->output_budget && f->sink.len >= f->output_budget;
}

static int h_path(http_request *req, http_response *res, void *arg)
{
    return http_res_send(res, 200, "text/plain", req->path, strlen(req->path));
}

static int h_echo(http_request *req, http_response *res, void *arg)
{
    assert_int_equal(req->body[req->body_len], '\0');
    return http_res_send(res, 200, "text/plain", req->body, req->body_len);
}

static void on_watch(http_response *res, enum http_res_event event, void *arg)
{
    fixture *f = arg;
    f->watch_events[event]++;
    if (event == HTTP_RES_CLOSED)
        f->held = NULL;
}

static int h_async(http_request *req, http_response *res, void *arg)
{
    fixture *f = arg;
    f->held = res;
    http_res_watch(res, on_watch, f);
    return HTTP_ASYNC;
}

static int h_ws(http_request *req, http_response *res, void *arg)
{
    if (!req->upgrade || !http_request_header(req, "Upgrade"))
        return http_res_send(res, 426, NULL, NULL, 0);
    http_res_header(res, "Upgrade", "websocket");
    return http_res_start(res, 101, NULL, 0);
}

static fixture *make(const http_limits *limits)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    http_date_cache_init(&f->date, TEST_UNIX_NS);
    assert_int_equal(http_router_create(&f->router), 0);
    assert_int_equal(http_route_prefix(f->router, HTTP_GET, "/r/", h_path, NULL), 0);
    assert_int_equal(http_route(f->router, HTTP_POST, "/echo", h_echo, NULL), 0);
    assert_int_equal(http_route(f->router, HTTP_GET, "/async", h_async, f), 0);
    assert_int_equal(http_route(f->router, HTTP_GET, "/ws", h_ws, NULL), 0);
    f->cfg = (http_session_config){.router = f->router, .date = &f->date};
    if (limits)
        f->cfg.limits = *limits;
    f->ops = (http_session_ops){
        .out = test_sink_ops, .end = on_end, .read_pause = on_read_pause, .cork = on_cork,
        .output_full = on_output_full};
    assert_int_equal(http_session_init(&f->s, &f->cfg, &f->ops, &f->sink), 0);
    return f;
}

static void destroy(fixture *f)
{
    http_session_fini(&f->s);
    http_router_destroy(f->router);
    free(f);
}

static void feed(fixture *f, const char *data, size_t len, size_t step)
{
    for (size_t at = 0; at < len; at += step)
        assert_int_equal(http_session_feed(&f->s, data + at, len - at < step ? len - at : step), 0);
}

static void feed_str(fixture *f, const char *data)
{
    feed(f, data, strlen(data), strlen(data));
}

/* The response h_path gives for path. */
static size_t path_response(char *out, size_t size, const char *path, const char *connection)
{
    return (size_t)snprintf(out, size,
                            "HTTP/1.1 200 OK\r\n" TEST_PREFIX "Content-Type: text/plain\r\n"
                            "Content-Length: %zu\r\n%s\r\n%s",
                            strlen(path), connection, path);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_simple_get(void **state)
{
    fixture *f = make(NULL);
    feed_str(f, "GET /r/hello HTTP/1.1\r\nHost: h\r\n\r\n");
    char want[512];
    path_response(want, sizeof(want), "/r/hello", "");
    assert_string_equal(f->sink.out, want);
    assert_int_equal(f->ends, 1);
    assert_int_equal(f->closes, 0);
    assert_int_equal(http_session_state(&f->s), HTTP_SESSION_READING);
    destroy(f);
}

static void test_hundred_pipelined_answered_in_order(void **state)
{
    static char in[100 * 64];
    size_t len = 0;
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(in + len, sizeof(in) - len, "GET /r/%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
    fixture *f = make(NULL);
    feed(f, in, len, len);
    assert_int_equal(f->ends, 100);
    static char want[100 * 256];
    size_t wlen = 0;
    for (int i = 0; i < 100; i++) {
        char path[16];
        snprintf(path, sizeof(path), "/r/%d", i);
        wlen += path_response(want + wlen, sizeof(want) - wlen, path, "");
    }
    assert_int_equal(f->sink.len, wlen);
    assert_memory_equal(f->sink.out, want, wlen);
    destroy(f);
}

static void test_split_at_every_byte_answers_the_same(void **state)
{
    const char *in = "GET /r/a HTTP/1.1\r\nHost: h\r\n\r\n"
                     "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
                     "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n"
                     "GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n"
                     "HEAD /r/b HTTP/1.1\r\nHost: h\r\n\r\n"
                     "PUT /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
    fixture *whole = make(NULL);
    feed_str(whole, in);
    assert_int_equal(whole->ends, 6);
    assert_int_equal(count(whole->sink.out, "HTTP/1.1 200 OK\r\n"), 4);
    assert_int_equal(count(whole->sink.out, "HTTP/1.1 404 Not Found\r\n"), 1);
    assert_int_equal(count(whole->sink.out, "HTTP/1.1 405 Method Not Allowed\r\n"), 1);
    assert_non_null(strstr(whole->sink.out, "\r\n\r\nhello"));
    assert_non_null(strstr(whole->sink.out, "Content-Length: 5\r\n\r\nabcde"));
    assert_non_null(strstr(whole->sink.out, "Content-Length: 4\r\n\r\nHTTP/1.1 405"));
    for (size_t step = 1; step <= 13; step += 12) {
        fixture *split = make(NULL);
        feed(split, in, strlen(in), step);
        assert_string_equal(split->sink.out, whole->sink.out);
        assert_int_equal(split->ends, whole->ends);
        destroy(split);
    }
    destroy(whole);
}

static void expect_error(const char *in, const http_limits *limits, int status)
{
    for (size_t step = 1; step <= strlen(in); step += strlen(in) - 1) {
        fixture *f = make(limits);
        feed(f, in, strlen(in), step);
        char want[128];
        snprintf(want, sizeof(want), "HTTP/1.1 %d ", status);
        if (strncmp(f->sink.out, want, strlen(want)) != 0)
            fail_msg("want %d, got: %s", status, f->sink.out);
        assert_non_null(strstr(f->sink.out, "Connection: close\r\n"));
        assert_int_equal(f->ends, 1);
        assert_int_equal(f->closes, 1);
        assert_int_equal(http_session_state(&f->s), HTTP_SESSION_CLOSING);
        /* Input after the decision to close is ignored. */
        size_t before = f->sink.len;
        feed_str(f, "GET /r/x HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_int_equal(f->sink.len, before);
        destroy(f);
        if (strlen(in) == 1)
            break;
    }
}

static void test_error_statuses(void **state)
{
    http_limits small = {.max_request_line = 32, .max_header_bytes = 64, .max_headers = 3,
                         .max_body = 8};
    expect_error("GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", NULL, 400);
    expect_error("GET /r/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n", &small, 414);
    expect_error("GET / HTTP/1.1\r\nHost: h\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
                 &small, 431);
    expect_error("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &small, 431);
    expect_error("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\n", &small, 413);
    expect_error("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n"
                 "5\r\n",
                 &small, 413);
    expect_error("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                 NULL, 400);
    expect_error("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", NULL, 501);
    expect_error("GET / HTTP/2.0\r\nHost: h\r\n\r\n", NULL, 505);
    /* llhttp 8.1's gaps (docs/http.md): chunk data without CRLF, obs-fold, a bad Host. */
    expect_error("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhelloXX0\r\n\r\n",
                 NULL, 400);
    expect_error("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n 3\r\n\r\nabc", NULL, 400);
    expect_error("GET /r/1 HTTP/1.1\r\nHost: a/b\r\n\r\n", NULL, 400);
}

static void test_answered_then_error(void **state)
{
    fixture *f = make(NULL);
    feed_str(f, "GET /r/1 HTTP/1.1\r\nHost: h\r\n\r\nGARBAGE\r\n\r\nGET /r/2 HTTP/1.1\r\nHost: h\r\n\r\n");
    char first[512];
    size_t n = path_response(first, sizeof(first), "/r/1", "");
    assert_memory_equal(f->sink.out, first, n);
    assert_memory_equal(f->sink.out + n, "HTTP/1.1 400 Bad Request\r\n", 26);
    assert_null(strstr(f->sink.out, "/r/2"));
    assert_int_equal(f->ends, 2);
    assert_int_equal(f->closes, 1);
    destroy(f);
}

static void test_timeouts(void **state)
{
    fixture *f = make(NULL);
    http_session_timeout(&f->s); /* idle: close without a word */
    assert_int_equal(f->sink.len, 0);
    assert_int_equal(f->closes, 1);
    assert_int_equal(http_session_state(&f->s), HTTP_SESSION_CLOSING);
    http_session_timeout(&f->s);
    assert_int_equal(f->ends, 1);
    destroy(f);

    f = make(NULL);
    feed_str(f, "GET /r/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /r/2 HTTP/1.1\r\nHo");
    assert_true(http_session_in_request(&f->s));
    http_session_timeout(&f->s);
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 408 Request Timeout\r\n"));
    assert_non_null(strstr(f->sink.out, "Connection: close\r\n\r\n408 Request Timeout\n"));
    assert_int_equal(f->ends, 2);
    assert_int_equal(f->closes, 1);
    destroy(f);
}

static void test_expect_continue(void **state)
{
    fixture *f = make(NULL);
    feed_str(f, "POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    assert_string_equal(f->sink.out, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_int_equal(f->ends, 0);
    feed_str(f, "abc");
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(f->sink.out, "\r\n\r\nabc"));
    destroy(f);

    /* Too large: refused before the client sends the body. */
    http_limits small = {.max_body = 2};
    f = make(&small);
    feed_str(f, "POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    assert_null(strstr(f->sink.out, "100 Continue"));
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 413 Content Too Large\r\n"));
    destroy(f);
}

static void test_bodies_reach_handler_whole(void **state)
{
    fixture *f = make(NULL);
    static char in[70000 + 256];
    static char body[70000];
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)('a' + i % 26);
    int n = snprintf(in, sizeof(in), "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n",
                     sizeof(body));
    memcpy(in + n, body, sizeof(body));
    feed(f, in, (size_t)n + sizeof(body), 1000);
    assert_int_equal(f->ends, 1);
    assert_memory_equal(f->sink.out + f->sink.len - sizeof(body), body, sizeof(body));
    /* A body buffer grown past the keep size is given back after its response. */
    assert_null(f->s.body);
    assert_int_equal(f->s.body_cap, 0);

    /* Small bodies reuse one buffer: nothing is allocated per request. */
    f->sink.len = 0;
    feed_str(f, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd");
    char *buffer = f->s.body;
    assert_non_null(buffer);
    for (int i = 0; i < 50; i++)
        feed_str(f, "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n");
    assert_ptr_equal(f->s.body, buffer);
    assert_int_equal(count(f->sink.out, "\r\n\r\nxy"), 50);
    destroy(f);
}

static void test_connection_close_and_http10(void **state)
{
    fixture *f = make(NULL);
    feed_str(f, "GET /r/1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /r/2 HTTP/1.1\r\nHost: h\r\n\r\n");
    char want[512];
    path_response(want, sizeof(want), "/r/1", "Connection: close\r\n");
    assert_string_equal(f->sink.out, want);
    assert_int_equal(f->closes, 1);
    assert_int_equal(http_session_state(&f->s), HTTP_SESSION_CLOSING);
    destroy(f);

    /* "close" then a TAB, which llhttp 8.1 reads as keep-alive. */
    f = make(NULL);
    feed_str(f, "GET /r/1 HTTP/1.1\r\nHost: h\r\nConnection: close\t\r\n\r\n"
                "GET /r/2 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_string_equal(f->sink.out, want);
    assert_int_equal(f->closes, 1);
    destroy(f);

    f = make(NULL);
    feed_str(f, "GET /r/1 HTTP/1.0\r\n\r\n");
    path_response(want, sizeof(want), "/r/1", "Connection: close\r\n");
    assert_string_equal(f->sink.out, want);
    assert_int_equal(f->closes, 1);
    destroy(f);

    f = make(NULL);
    feed_str(f, "GET /r/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /r/2 HTTP/1.0\r\n\r\n");
    assert_int_equal(count(f->sink.out, "Connection: keep-alive\r\n"), 1);
    assert_int_equal(count(f->sink.out, "Connection: close\r\n"), 1);
    assert_int_equal(f->ends, 2);
    assert_int_equal(f->closes, 1);
    destroy(f);
}

static void test_async_holds_later_requests(void **state)
{
    fixture *f = make(NULL);
    const char *in = "GET /async HTTP/1.1\r\nHost: h\r\n\r\nGET /r/2 HTTP/1.1\r\nHost: h\r\n\r\nGET /r/3 HT";
    feed_str(f, in);
    assert_non_null(f->held);
    assert_int_equal(f->sink.len, 0);
    assert_int_equal(http_session_state(&f->s), HTTP_SESSION_RESPONDING);
    feed_str(f, "TP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(f->sink.len, 0); /* still in order: nothing before the first answer */
    http_session_drain(&f->s);
    assert_int_equal(f->watch_events[HTTP_RES_DRAINED], 1);

    assert_int_equal(http_res_start(f->held, 200, "text/plain", 5), 0);
    assert_int_equal(http_res_write(f->held, "first", 5), 0);
    assert_int_equal(http_res_end(f->held), 0);
    /* Ending it answers the kept requests at once, corked: their answers leave together. */
    assert_int_equal(f->ends, 3);
    assert_int_equal(f->corks, 1);
    assert_false(f->corked);
    const char *a = strstr(f->sink.out, "\r\n\r\nfirst");
    const char *b = strstr(f->sink.out, "\r\n\r\n/r/2");
    const char *c = strstr(f->sink.out, "\r\n\r\n/r/3");
    assert_true(a && b && c && a < b && b < c);
    assert_int_equal(http_session_state(&f->s), HTTP_SESSION_READING);
    assert_int_equal(f->s.held_len, 0);
    destroy(f);
}

static void test_async_chain_and_pause(void **state)
{
    fixture *f = make(NULL);
    feed_str(f, "GET /async HTTP/1.1\r\nHost: h\r\n\r\nGET /async HTTP/1.1\r\nHost: h\r\n\r\n");
    http_response *first = f->held;
    /* A flood while the answer is pending: kept, and reading pauses past the threshold. */
    static char flood[HTTP_SESSION_HOLD_PAUSE + 4096];
    size_t len = 0;
    while (len + 64 < sizeof(flood))
        len += (size_t)snprintf(flood + len, sizeof(flood) - len, "GET /r/x HTTP/1.1\r\nHost: h\r\n\r\n");
    feed(f, flood, len, 4096);
    assert_int_equal(f->pauses, 1);
    assert_int_equal(f->sink.len, 0);
    assert_int_equal(http_res_send(first, 200, NULL, "1", 1), 0);
    /* The second request is asynchronous too: the rest stays kept, reading stays paused. */
    assert_int_equal(f->ends, 1);
    assert_ptr_equal(f->held, first); /* the same per-connection response, begun anew */
    assert_int_equal(f->resumes, 0);
    assert_int_equal(http_res_send(f->held, 200, NULL, "2", 1), 0);
    int floods = (int)(len / strlen("GET /r/x HTTP/1.1\r\nHost: h\r\n\r\n"));
    assert_int_equal(f->ends, 2 + floods);
    assert_int_equal(f->resumes, 1);
    assert_int_equal(count(f->sink.out, "\r\n\r\n/r/x"), floods);
    destroy(f);
}

/* Output over its budget: no further request starts; the rest is kept, reading pauses, and
 * the drain answers the kept requests in order -- an EOF meanwhile closes only after them. */
static void test_output_full_waits_for_drain(void **state)
{
    static char in[100 * 64];
    size_t len = 0;
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(in + len, sizeof(in) - len, "GET /r/%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
    fixture *f = make(NULL);
    char one[512];
    f->output_budget = 3 * path_response(one, sizeof(one), "/r/0", ""); /* three answers */
    feed(f, in, len, len);
    assert_int_equal(f->ends, 3);
    assert_int_equal(f->pauses, 1);
    assert_int_equal(http_session_state(&f->s), HTTP_SESSION_READING);
    assert_false(http_session_in_request(&f->s)); /* between requests: the idle deadline */
    feed_str(f, "GET /r/last HTTP/1.1\r\nHost: h\r\n\r\n"); /* late bytes: kept behind */
    http_session_eof(&f->s);
    assert_int_equal(f->ends, 3);
    assert_int_equal(f->closes, 0);
    for (int drains = 0; f->ends < 101 && drains < 100; drains++) {
        f->output_budget = f->sink.len + 3 * strlen(one); /* sent: room for three more */
        http_session_drain(&f->s);
    }
    assert_int_equal(f->ends, 101 + 1); /* the last end is the close after EOF */
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->resumes, 1); /* once everything kept was answered */
    static char want[101 * 256];
    size_t wlen = 0;
    for (int i = 0; i < 100; i++) {
        char path[16];
        snprintf(path, sizeof(path), "/r/%d", i);
        wlen += path_response(want + wlen, sizeof(want) - wlen, path, "");
    }
    wlen += path_response(want + wlen, sizeof(want) - wlen, "/r/last", "");
    assert_int_equal(f->sink.len, wlen);
    assert_memory_equal(f->sink.out, want, wlen);
    destroy(f);
}

static void test_eof(void **state)
{
    fixture *f = make(NULL);
    http_session_eof(&f->s);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->sink.len, 0);
    destroy(f);

    /* Requests received before EOF are answered, then the connection closes. */
    f = make(NULL);
    feed_str(f, "GET /async HTTP/1.1\r\nHost: h\r\n\r\nGET /r/2 HTTP/1.1\r\nHost: h\r\n\r\n");
    http_session_eof(&f->s);
    assert_int_equal(f->ends, 0);
    assert_int_equal(http_res_send(f->held, 200, NULL, "1", 1), 0);
    assert_non_null(strstr(f->sink.out, "\r\n\r\n/r/2"));
    assert_int_equal(f->closes, 1);
    assert_int_equal(http_session_state(&f->s), HTTP_SESSION_CLOSING);
    destroy(f);
}

static void test_fini_tells_pending_answer(void **state)
{
    fixture *f = make(NULL);
    feed_str(f, "GET /async HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_non_null(f->held);
    http_session_fini(&f->s);
    assert_int_equal(f->watch_events[HTTP_RES_CLOSED], 1);
    assert_null(f->held);
    http_router_destroy(f->router);
    free(f);

    f = make(NULL);
    feed_str(f, "GET /async HTTP/1.1\r\nHost: h\r\n\r\n");
    http_session_timeout(&f->s);
    assert_int_equal(f->watch_events[HTTP_RES_CLOSED], 1);
    assert_int_equal(f->closes, 1);
    destroy(f);
}

static void test_upgrade(void **state)
{
    fixture *f = make(NULL);
    feed_str(f, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                "\x81\x02hi");
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_non_null(strstr(f->sink.out, "Connection: Upgrade\r\n"));
    assert_int_equal(http_session_state(&f->s), HTTP_SESSION_UPGRADED);
    assert_int_equal(f->closes, 0);
    feed(f, "more", 4, 4);
    const char *rest;
    size_t n = http_session_leftover(&f->s, &rest);
    assert_int_equal(n, 8);
    assert_memory_equal(rest, "\x81\x02himore", 8);
    destroy(f);

    /* Asked to upgrade, answered otherwise: HTTP cannot go on. */
    f = make(NULL);
    feed_str(f, "GET /r/x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nxyz");
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(f->sink.out, "Connection: close\r\n"));
    assert_int_equal(f->closes, 1);
    const char *none;
    assert_int_equal(http_session_leftover(&f->s, &none), 0);
    destroy(f);

    /* CONNECT is an upgrade too: no route takes it here, and the connection closes. */
    f = make(NULL);
    feed_str(f, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01");
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 404 Not Found\r\n"));
    assert_non_null(strstr(f->sink.out, "Connection: close\r\n"));
    assert_int_equal(f->closes, 1);
    destroy(f);
}

static void test_sink_failure_closes(void **state)
{
    fixture *f = make(NULL);
    f->sink.fail_after = 1;
    feed_str(f, "GET /r/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /r/2 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(f->ends, 1);
    assert_int_equal(f->closes, 1);
    assert_int_equal(http_session_state(&f->s), HTTP_SESSION_CLOSING);
    destroy(f);
}

static void test_sink_failure_on_continue(void **state)
{
    fixture *f = make(NULL);
    f->sink.fail_after = 1; /* the "100 Continue" is the first write */
    feed_str(f, "POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc");
    assert_int_equal(http_session_state(&f->s), HTTP_SESSION_CLOSING);
    assert_int_equal(f->closes, 1);
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_hundred_pipelined_answered_in_order),
        cmocka_unit_test(test_split_at_every_byte_answers_the_same),
        cmocka_unit_test(test_error_statuses),
        cmocka_unit_test(test_answered_then_error),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_bodies_reach_handler_whole),
        cmocka_unit_test(test_connection_close_and_http10),
        cmocka_unit_test(test_async_holds_later_requests),
        cmocka_unit_test(test_async_chain_and_pause),
        cmocka_unit_test(test_output_full_waits_for_drain),
        cmocka_unit_test(test_eof),
        cmocka_unit_test(test_fini_tells_pending_answer),
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_sink_failure_closes),
        cmocka_unit_test(test_sink_failure_on_continue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
