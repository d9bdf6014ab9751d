/* test_http_response.c - the response writer byte for byte: the Date cache, heads, framing
 * (Content-Length, chunked, close-delimited, HEAD, 1xx/204/304), Connection, the error
 * responses, header validation and sink failures. */
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

#include "http/http_response.h"
#include "http_test_sink.h"

typedef struct fixture {
    test_sink sink;
    http_date_cache date;
    http_response res;
    int ends;
    bool end_keep_alive;
} fixture;

static void on_end(void *owner, bool keep_alive)
{
    fixture *f = owner;
    f->ends++;
    f->end_keep_alive = keep_alive;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    http_date_cache_init(&f->date, TEST_UNIX_NS);
    assert_int_equal(http_res_init(&f->res, &test_sink_ops, &f->sink, &f->date, on_end, f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    http_res_fini(&f->res);
    free(f);
    return 0;
}

static http_request request(int method, int minor, bool keep_alive)
{
    return (http_request){.method = method, .version_major = 1, .version_minor = (uint8_t)minor,
                          .keep_alive = keep_alive, .path = "/", .query = "", .body = ""};
}

static void begin(fixture *f, int method, int minor, bool keep_alive)
{
    http_request req = request(method, minor, keep_alive);
    f->sink.len = 0;
    f->sink.out[0] = '\0';
    f->ends = 0;
    http_res_begin(&f->res, &req);
}

/* --- the Date cache --- */

static void test_date_cache_formats_once_per_second(void **state)
{
    http_date_cache c;
    http_date_cache_init(&c, TEST_UNIX_NS);
    assert_int_equal(c.len, strlen(TEST_PREFIX));
    assert_memory_equal(c.prefix, TEST_PREFIX, c.len);
    char before[sizeof(c.prefix)];
    memcpy(before, c.prefix, sizeof(before));
    /* A thousand ticks within the same second format nothing. */
    for (uint64_t i = 0; i < 1000; i++)
        assert_false(http_date_cache_tick(&c, TEST_UNIX_NS + i * 999999u));
    assert_memory_equal(c.prefix, before, sizeof(before));
    assert_true(http_date_cache_tick(&c, TEST_UNIX_NS + 1000000000u));
    assert_memory_equal(c.prefix, "Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n", 37);
    assert_false(http_date_cache_tick(&c, TEST_UNIX_NS + 1999999999u));
    assert_true(http_date_cache_tick(&c, TEST_UNIX_NS + 86400ull * 1000000000u));
    assert_memory_equal(c.prefix, "Date: Mon, 07 Nov 1994 08:49:37 GMT\r\n", 37);
}

/* --- whole responses --- */

static void test_send_whole(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_GET, 1, true);
    assert_int_equal(http_res_header(&f->res, "X-One", "1"), 0);
    assert_int_equal(http_res_send(&f->res, 200, "text/plain", "hello", 5), 0);
    assert_string_equal(f->sink.out, "HTTP/1.1 200 OK\r\n" TEST_PREFIX "X-One: 1\r\n"
                                     "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
    assert_int_equal(f->sink.writes, 1); /* a small body rides with the head */
    assert_int_equal(f->ends, 1);
    assert_true(f->end_keep_alive);
    assert_true(http_res_ended(&f->res));
    assert_int_equal(http_res_status(&f->res), 200);
    /* Over: nothing more may be written. */
    assert_int_equal(http_res_send(&f->res, 200, NULL, "x", 1), -EINVAL);
    assert_int_equal(http_res_header(&f->res, "X", "y"), -EINVAL);
}

static void test_send_large_body(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_GET, 1, true);
    static char body[20000];
    memset(body, 'b', sizeof(body));
    assert_int_equal(http_res_send(&f->res, 200, NULL, body, sizeof(body)), 0);
    const char *head = "HTTP/1.1 200 OK\r\n" TEST_PREFIX "Content-Length: 20000\r\n\r\n";
    assert_int_equal(f->sink.len, strlen(head) + sizeof(body));
    assert_memory_equal(f->sink.out, head, strlen(head));
    assert_memory_equal(f->sink.out + strlen(head), body, sizeof(body));
}

static void test_head_request_gets_no_body(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_HEAD, 1, true);
    assert_int_equal(http_res_send(&f->res, 200, "text/plain", "hello", 5), 0);
    assert_string_equal(f->sink.out, "HTTP/1.1 200 OK\r\n" TEST_PREFIX
                                     "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
    begin(f, HTTP_HEAD, 1, true);
    assert_int_equal(http_res_start(&f->res, 200, NULL, HTTP_LENGTH_UNKNOWN), 0);
    assert_int_equal(http_res_write(&f->res, "abc", 3), 0);
    assert_int_equal(http_res_end(&f->res), 0);
    assert_string_equal(f->sink.out, "HTTP/1.1 200 OK\r\n" TEST_PREFIX
                                     "Transfer-Encoding: chunked\r\n\r\n");
    assert_true(f->end_keep_alive);
}

static void test_connection_header_follows_request(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_GET, 0, false);
    assert_int_equal(http_res_send(&f->res, 200, NULL, "x", 1), 0);
    assert_string_equal(f->sink.out, "HTTP/1.1 200 OK\r\n" TEST_PREFIX
                                     "Content-Length: 1\r\nConnection: close\r\n\r\nx");
    assert_false(f->end_keep_alive);

    begin(f, HTTP_GET, 0, true);
    assert_int_equal(http_res_send(&f->res, 200, NULL, "x", 1), 0);
    assert_string_equal(f->sink.out, "HTTP/1.1 200 OK\r\n" TEST_PREFIX
                                     "Content-Length: 1\r\nConnection: keep-alive\r\n\r\nx");
    assert_true(f->end_keep_alive);

    begin(f, HTTP_GET, 1, false);
    assert_int_equal(http_res_send(&f->res, 200, NULL, "x", 1), 0);
    assert_string_equal(f->sink.out, "HTTP/1.1 200 OK\r\n" TEST_PREFIX
                                     "Content-Length: 1\r\nConnection: close\r\n\r\nx");
    assert_false(f->end_keep_alive);

    begin(f, HTTP_GET, 1, true);
    http_res_close(&f->res);
    assert_int_equal(http_res_send(&f->res, 200, NULL, "x", 1), 0);
    assert_non_null(strstr(f->sink.out, "Connection: close\r\n"));
    assert_false(f->end_keep_alive);
}

/* --- streamed responses --- */

static void test_chunked_stream(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_GET, 1, true);
    assert_int_equal(http_res_start(&f->res, 200, "text/plain", HTTP_LENGTH_UNKNOWN), 0);
    assert_true(http_res_head_sent(&f->res));
    assert_int_equal(http_res_header(&f->res, "Late", "x"), -EINVAL);
    assert_int_equal(http_res_write(&f->res, "hello", 5), 0);
    assert_int_equal(http_res_write(&f->res, "", 0), 0); /* not a last-chunk */
    static char big[300];
    memset(big, 'z', sizeof(big));
    assert_int_equal(http_res_write_ref(&f->res, big, sizeof(big), NULL, NULL), 0);
    assert_int_equal(f->ends, 0);
    assert_int_equal(http_res_end(&f->res), 0);
    char want[1024];
    snprintf(want, sizeof(want),
             "HTTP/1.1 200 OK\r\n" TEST_PREFIX "Content-Type: text/plain\r\n"
             "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n12c\r\n%.300s\r\n0\r\n\r\n",
             big);
    assert_string_equal(f->sink.out, want);
    assert_int_equal(f->ends, 1);
    assert_true(f->end_keep_alive);
}

static void test_http10_stream_is_close_delimited(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_GET, 0, true);
    assert_int_equal(http_res_start(&f->res, 200, NULL, HTTP_LENGTH_UNKNOWN), 0);
    assert_int_equal(http_res_write(&f->res, "abc", 3), 0);
    assert_int_equal(http_res_end(&f->res), 0);
    assert_string_equal(f->sink.out,
                        "HTTP/1.1 200 OK\r\n" TEST_PREFIX "Connection: close\r\n\r\nabc");
    assert_false(f->end_keep_alive);
}

static void test_known_length_stream(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_GET, 1, true);
    assert_int_equal(http_res_start(&f->res, 200, NULL, 6), 0);
    assert_int_equal(http_res_write(&f->res, "abc", 3), 0);
    assert_int_equal(http_res_write(&f->res, "defg", 4), -EMSGSIZE);
    assert_int_equal(http_res_write(&f->res, "def", 3), 0);
    assert_int_equal(http_res_end(&f->res), 0);
    assert_string_equal(f->sink.out,
                        "HTTP/1.1 200 OK\r\n" TEST_PREFIX "Content-Length: 6\r\n\r\nabcdef");
    assert_true(f->end_keep_alive);

    /* Ending short: the client would wait forever, so the connection closes. */
    begin(f, HTTP_GET, 1, true);
    assert_int_equal(http_res_start(&f->res, 200, NULL, 6), 0);
    assert_int_equal(http_res_write(&f->res, "abc", 3), 0);
    assert_int_equal(http_res_end(&f->res), -EPROTO);
    assert_int_equal(f->ends, 1);
    assert_false(f->end_keep_alive);
}

static void test_bodiless_statuses(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_GET, 1, true);
    assert_int_equal(http_res_send(&f->res, 204, NULL, "x", 1), -EINVAL);
    assert_int_equal(http_res_send(&f->res, 204, NULL, NULL, 0), 0);
    assert_string_equal(f->sink.out, "HTTP/1.1 204 No Content\r\n" TEST_PREFIX "\r\n");

    begin(f, HTTP_GET, 1, true);
    assert_int_equal(http_res_header(&f->res, "ETag", "\"x\""), 0);
    assert_int_equal(http_res_start(&f->res, 304, NULL, 1234), 0);
    assert_int_equal(http_res_write(&f->res, "x", 1), -EINVAL);
    assert_int_equal(http_res_end(&f->res), 0);
    assert_string_equal(f->sink.out, "HTTP/1.1 304 Not Modified\r\n" TEST_PREFIX
                                     "ETag: \"x\"\r\n\r\n");
    assert_true(f->end_keep_alive);
}

static void test_switching_protocols(void **state)
{
    fixture *f = *state;
    http_request req = request(HTTP_GET, 1, true);
    req.upgrade = true;
    f->sink.len = 0;
    f->ends = 0;
    http_res_begin(&f->res, &req);
    assert_int_equal(http_res_header(&f->res, "Upgrade", "websocket"), 0);
    assert_int_equal(http_res_start(&f->res, 101, NULL, 0), 0);
    assert_string_equal(f->sink.out, "HTTP/1.1 101 Switching Protocols\r\n" TEST_PREFIX
                                     "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    assert_int_equal(f->ends, 1); /* the head is the whole response */
    assert_true(f->end_keep_alive);

    /* Asked to upgrade but answered otherwise: the connection cannot go on as HTTP. */
    f->sink.len = 0;
    http_res_begin(&f->res, &req);
    assert_int_equal(http_res_send(&f->res, 200, NULL, "no", 2), 0);
    assert_non_null(strstr(f->sink.out, "Connection: close\r\n"));
    assert_false(f->end_keep_alive);
}

static void test_continue_and_unknown_status(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_POST, 1, true);
    assert_int_equal(http_res_continue(&f->res), 0);
    assert_string_equal(f->sink.out, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_int_equal(http_res_send(&f->res, 100, NULL, NULL, 0), -EINVAL);
    assert_int_equal(http_res_send(&f->res, 600, NULL, NULL, 0), -EINVAL);
    assert_int_equal(http_res_send(&f->res, 299, NULL, NULL, 0), 0);
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 299 \r\n"));
    assert_int_equal(f->ends, 1);
}

/* --- errors --- */

static void test_error_responses(void **state)
{
    fixture *f = *state;
    static const struct {
        int status;
        const char *body;
    } cases[] = {
        {400, "400 Bad Request\n"},
        {404, "404 Not Found\n"},
        {405, "405 Method Not Allowed\n"},
        {408, "408 Request Timeout\n"},
        {413, "413 Content Too Large\n"},
        {414, "414 URI Too Long\n"},
        {431, "431 Request Header Fields Too Large\n"},
        {500, "500 Internal Server Error\n"},
        {501, "501 Not Implemented\n"},
        {505, "505 HTTP Version Not Supported\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        begin(f, HTTP_GET, 1, true);
        assert_int_equal(http_res_error(&f->res, cases[i].status), 0);
        char want[512];
        snprintf(want, sizeof(want),
                 "HTTP/1.1 %d %s\r\n" TEST_PREFIX "Content-Type: text/plain; charset=utf-8\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 cases[i].status, http_status_reason(cases[i].status), strlen(cases[i].body),
                 cases[i].body);
        assert_string_equal(f->sink.out, want);
    }
    /* A request too broken to read: HTTP/1.1 framing, then close. */
    f->sink.len = 0;
    http_res_begin(&f->res, NULL);
    assert_int_equal(http_res_error(&f->res, 400), 0);
    assert_non_null(strstr(f->sink.out, "Connection: close\r\n\r\n400 Bad Request\n"));
    assert_false(f->end_keep_alive);
}

/* --- headers --- */

static void test_header_validation(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_GET, 1, true);
    assert_int_equal(http_res_header(&f->res, "X", "a\r\nInjected: 1"), -EINVAL);
    assert_int_equal(http_res_header(&f->res, "X", "a\nb"), -EINVAL);
    assert_int_equal(http_res_header(&f->res, "X", "a\x01"), -EINVAL);
    assert_int_equal(http_res_header(&f->res, "Bad Name", "v"), -EINVAL);
    assert_int_equal(http_res_header(&f->res, "Bad:Name", "v"), -EINVAL);
    assert_int_equal(http_res_header(&f->res, "", "v"), -EINVAL);
    assert_int_equal(http_res_header(&f->res, "content-length", "5"), -EINVAL);
    assert_int_equal(http_res_header(&f->res, "Transfer-Encoding", "chunked"), -EINVAL);
    assert_int_equal(http_res_header(&f->res, "CONNECTION", "close"), -EINVAL);
    assert_int_equal(http_res_header(&f->res, "X-Tab", "a\tb"), 0);
    assert_int_equal(http_res_send(&f->res, 200, "text/plain\r\nX: y", NULL, 0), -EINVAL);
    assert_int_equal(http_res_send(&f->res, 200, NULL, NULL, 0), 0);
    assert_string_equal(f->sink.out, "HTTP/1.1 200 OK\r\n" TEST_PREFIX
                                     "X-Tab: a\tb\r\nContent-Length: 0\r\n\r\n");
}

static void test_header_space_is_bounded(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_GET, 1, true);
    char value[1000];
    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    int added = 0, rc;
    while ((rc = http_res_header(&f->res, "X-Fill", value)) == 0)
        added++;
    assert_int_equal(rc, -ENOSPC);
    assert_true(added >= 3);
    /* Framing still fits after the headers that did. */
    assert_int_equal(http_res_send(&f->res, 200, "text/plain", "ok", 2), 0);
    assert_true(f->sink.len < HTTP_RES_HEAD_MAX);
    assert_non_null(strstr(f->sink.out, "Content-Length: 2\r\n\r\nok"));

    begin(f, HTTP_GET, 1, true);
    http_res_header(&f->res, "X-Gone", "1");
    http_res_clear_headers(&f->res);
    assert_int_equal(http_res_send(&f->res, 200, NULL, NULL, 0), 0);
    assert_null(strstr(f->sink.out, "X-Gone"));
}

/* --- the sink --- */

static void test_sink_failure_ends_response(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_GET, 1, true);
    f->sink.fail_after = 2;
    f->sink.writes = 0;
    assert_int_equal(http_res_start(&f->res, 200, NULL, HTTP_LENGTH_UNKNOWN), 0);
    assert_int_equal(http_res_write(&f->res, "abc", 3), -EPIPE);
    assert_int_equal(f->ends, 1);
    assert_false(f->end_keep_alive);
    assert_true(http_res_ended(&f->res));
    assert_int_equal(http_res_write(&f->res, "abc", 3), -EPIPE);
    assert_int_equal(http_res_end(&f->res), -EPIPE);
    f->sink.fail_after = 0;
}

static int releases;
static void count_release(void *arg)
{
    releases += *(int *)arg;
}

static void test_write_ref_release(void **state)
{
    fixture *f = *state;
    int one = 1;
    releases = 0;
    begin(f, HTTP_HEAD, 1, true);
    assert_int_equal(http_res_start(&f->res, 200, NULL, 3), 0);
    /* HEAD: nothing will hold the memory, so it is released at once. */
    assert_int_equal(http_res_write_ref(&f->res, "abc", 3, count_release, &one), 0);
    assert_int_equal(releases, 1);
    assert_int_equal(http_res_end(&f->res), 0);

    begin(f, HTTP_GET, 1, true);
    assert_int_equal(http_res_start(&f->res, 200, NULL, 3), 0);
    assert_int_equal(http_res_write_ref(&f->res, "abc", 3, count_release, &one), 0);
    assert_int_equal(releases, 2); /* by the sink, once "sent" */
    assert_int_equal(http_res_end(&f->res), 0);
    assert_non_null(strstr(f->sink.out, "\r\n\r\nabc"));
}

static void test_sendfile(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_GET, 1, true);
    assert_int_equal(http_res_start(&f->res, 206, "text/plain", 100), 0);
    assert_int_equal(http_res_sendfile(&f->res, 7, 50, 101, NULL, NULL), -EMSGSIZE);
    assert_int_equal(http_res_sendfile(&f->res, 7, 50, 100, NULL, NULL), 0);
    assert_int_equal(http_res_end(&f->res), 0);
    assert_non_null(strstr(f->sink.out, "Content-Length: 100\r\n\r\n[file 7 50 100]"));

    http_sink_ops no_file = test_sink_ops;
    no_file.sendfile = NULL;
    http_response res;
    assert_int_equal(http_res_init(&res, &no_file, &f->sink, &f->date, NULL, NULL), 0);
    http_request req = request(HTTP_GET, 1, true);
    http_res_begin(&res, &req);
    assert_int_equal(http_res_start(&res, 200, NULL, 10), 0);
    assert_int_equal(http_res_sendfile(&res, 7, 0, 10, NULL, NULL), -ENOTSUP);
    http_res_fini(&res);
}

static int watched;
static void on_watch(http_response *res, enum http_res_event event, void *arg)
{
    watched = event == HTTP_RES_DRAINED ? 1 : 2;
}

static void test_watch_events(void **state)
{
    fixture *f = *state;
    begin(f, HTTP_GET, 1, true);
    http_res_watch(&f->res, on_watch, NULL);
    assert_int_equal(http_res_start(&f->res, 200, NULL, HTTP_LENGTH_UNKNOWN), 0);
    watched = 0;
    http_res_notify(&f->res, HTTP_RES_DRAINED);
    assert_int_equal(watched, 1);
    http_res_notify(&f->res, HTTP_RES_CLOSED);
    assert_int_equal(watched, 2);
    assert_int_equal(http_res_write(&f->res, "x", 1), -EPIPE);
    watched = 0;
    http_res_notify(&f->res, HTTP_RES_DRAINED); /* over: no more events */
    assert_int_equal(watched, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date_cache_formats_once_per_second),
        cmocka_unit_test_setup_teardown(test_send_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_large_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_request_gets_no_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_header_follows_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http10_stream_is_close_delimited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_length_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bodiless_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_switching_protocols, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continue_and_unknown_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_responses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_space_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_failure_ends_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_ref_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sendfile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_events, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
