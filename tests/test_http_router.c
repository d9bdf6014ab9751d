/* test_http_router.c - route matching (exact, prefix at segment boundaries, specificity, HEAD,
 * any method), 404 and 405 with Allow, and the handler return-value rules of dispatch. */
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

#include "http/http_router.h"
#include "http_test_sink.h"

static int tag_a, tag_b, tag_c, tag_d;

static int noop(http_request *req, http_response *res, void *arg)
{
    return 0;
}

static int noop2(http_request *req, http_response *res, void *arg)
{
    return 0;
}

/* Which route matched: its arg. */
static void *matched(const http_router *r, int method, const char *path, int *status)
{
    http_route_match m;
    *status = http_router_match(r, method, path, &m);
    return *status ? NULL : m.arg;
}

static void expect_route(const http_router *r, int method, const char *path, void *want)
{
    int status;
    void *got = matched(r, method, path, &status);
    if (status != 0 || got != want)
        fail_msg("%s %s: status %d, arg %p, want %p", http_method_name(method), path, status, got,
                 want);
}

static void expect_status(const http_router *r, int method, const char *path, int want)
{
    int status;
    matched(r, method, path, &status);
    if (status != want)
        fail_msg("%s %s: status %d, want %d", http_method_name(method), path, status, want);
}

static void test_exact_and_prefix(void **state)
{
    http_router *r;
    assert_int_equal(http_router_create(&r), 0);
    assert_int_equal(http_route(r, HTTP_GET, "/api", noop, &tag_a), 0);
    assert_int_equal(http_route_prefix(r, HTTP_GET, "/api", noop, &tag_b), 0);
    assert_int_equal(http_route_prefix(r, HTTP_GET, "/api/v1/", noop, &tag_c), 0);
    assert_int_equal(http_route_prefix(r, HTTP_GET, "/static/", noop, &tag_d), 0);

    expect_route(r, HTTP_GET, "/api", &tag_a);       /* exact beats prefix */
    expect_route(r, HTTP_GET, "/api/", &tag_b);
    expect_route(r, HTTP_GET, "/api/users", &tag_b);
    expect_route(r, HTTP_GET, "/api/v1/", &tag_c);   /* the longest prefix wins */
    expect_route(r, HTTP_GET, "/api/v1/x/y", &tag_c);
    expect_route(r, HTTP_GET, "/api/v1", &tag_b);
    expect_status(r, HTTP_GET, "/apix", 404);        /* segment boundary */
    expect_route(r, HTTP_GET, "/static/", &tag_d);
    expect_route(r, HTTP_GET, "/static/a/b.css", &tag_d);
    expect_status(r, HTTP_GET, "/static", 404);
    expect_status(r, HTTP_GET, "/", 404);
    expect_status(r, HTTP_GET, "/API", 404);         /* case-sensitive */
    expect_status(r, HTTP_GET, "/api%2fusers", 404); /* compared as sent */
    http_router_destroy(r);
}

static void test_root_prefix_catches_all(void **state)
{
    http_router *r;
    assert_int_equal(http_router_create(&r), 0);
    assert_int_equal(http_route_prefix(r, HTTP_GET, "/", noop, &tag_a), 0);
    assert_int_equal(http_route(r, HTTP_GET, "/x", noop, &tag_b), 0);
    expect_route(r, HTTP_GET, "/", &tag_a);
    expect_route(r, HTTP_GET, "/anything/at/all", &tag_a);
    expect_route(r, HTTP_GET, "/x", &tag_b);
    expect_status(r, HTTP_OPTIONS, "*", 404); /* asterisk-form is not a path */
    http_router_destroy(r);
}

static void test_method_selection_and_405(void **state)
{
    http_router *r;
    assert_int_equal(http_router_create(&r), 0);
    assert_int_equal(http_route(r, HTTP_POST, "/api/users", noop, &tag_a), 0);
    assert_int_equal(http_route(r, HTTP_DELETE, "/api/users", noop, &tag_c), 0);
    assert_int_equal(http_route_prefix(r, HTTP_GET, "/api/", noop, &tag_b), 0);
    /* The exact route does not take GET: the prefix that does answers. */
    expect_route(r, HTTP_GET, "/api/users", &tag_b);
    expect_route(r, HTTP_POST, "/api/users", &tag_a);
    expect_route(r, HTTP_DELETE, "/api/users", &tag_c);
    http_route_match m;
    assert_int_equal(http_router_match(r, HTTP_PUT, "/api/users", &m), 405);
    char allow[128];
    http_allow_format(m.allow, allow, sizeof(allow));
    assert_string_equal(allow, "DELETE, GET, HEAD, POST");
    assert_int_equal(http_router_match(r, HTTP_PUT, "/api/other", &m), 405);
    http_allow_format(m.allow, allow, sizeof(allow));
    assert_string_equal(allow, "GET, HEAD");
    assert_int_equal(http_router_match(r, HTTP_PUT, "/elsewhere", &m), 404);
    assert_int_equal(m.allow, 0);
    http_router_destroy(r);
}

static void test_head_uses_get_unless_head_route(void **state)
{
    http_router *r;
    assert_int_equal(http_router_create(&r), 0);
    assert_int_equal(http_route(r, HTTP_GET, "/g", noop, &tag_a), 0);
    assert_int_equal(http_route(r, HTTP_GET, "/h", noop, &tag_a), 0);
    assert_int_equal(http_route(r, HTTP_HEAD, "/h", noop, &tag_b), 0);
    assert_int_equal(http_route(r, HTTP_POST, "/p", noop, &tag_c), 0);
    expect_route(r, HTTP_HEAD, "/g", &tag_a);
    expect_route(r, HTTP_HEAD, "/h", &tag_b);
    expect_status(r, HTTP_HEAD, "/p", 405);
    http_router_destroy(r);
}

static void test_any_method(void **state)
{
    http_router *r;
    assert_int_equal(http_router_create(&r), 0);
    assert_int_equal(http_route(r, HTTP_ANY_METHOD, "/any", noop, &tag_a), 0);
    assert_int_equal(http_route(r, HTTP_PATCH, "/any", noop, &tag_b), -EEXIST);
    expect_route(r, HTTP_GET, "/any", &tag_a);
    expect_route(r, HTTP_PATCH, "/any", &tag_a);
    expect_route(r, HTTP_MKCALENDAR, "/any", &tag_a);
    http_router_destroy(r);
}

static void test_registration_errors(void **state)
{
    http_router *r;
    assert_int_equal(http_router_create(&r), 0);
    assert_int_equal(http_route(r, HTTP_GET, "/a", noop, NULL), 0);
    assert_int_equal(http_route(r, HTTP_GET, "/a", noop2, NULL), -EEXIST);
    assert_int_equal(http_route(r, HTTP_POST, "/a", noop2, NULL), 0);
    assert_int_equal(http_route_prefix(r, HTTP_GET, "/a", noop2, NULL), 0); /* a prefix differs */
    assert_int_equal(http_route(r, HTTP_GET, "a", noop, NULL), -EINVAL);
    assert_int_equal(http_route(r, HTTP_GET, "", noop, NULL), -EINVAL);
    assert_int_equal(http_route(r, 99, "/b", noop, NULL), -EINVAL);
    assert_int_equal(http_route(r, -2, "/b", noop, NULL), -EINVAL);
    assert_int_equal(http_route(r, HTTP_GET, "/b", NULL, NULL), -EINVAL);
    /* Many routes: the table grows. */
    for (int i = 0; i < 100; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/many/%d", i);
        assert_int_equal(http_route(r, HTTP_GET, path, noop, (void *)(intptr_t)(i + 1)), 0);
    }
    expect_route(r, HTTP_GET, "/many/77", (void *)(intptr_t)78);
    http_router_destroy(r);
}

static void test_allow_format_bounds(void **state)
{
    char small[8];
    uint64_t all = ~(uint64_t)0;
    size_t n = http_allow_format(all, small, sizeof(small));
    assert_int_equal(n, strlen(small));
    assert_string_equal(small, "DELETE"); /* whole names only */
    char big[640];
    http_allow_format(all, big, sizeof(big));
    assert_non_null(strstr(big, "FLUSH"));
}

/* --- dispatch --- */

typedef struct fixture {
    test_sink sink;
    http_date_cache date;
    http_response res;
    http_router *router;
    int ends;
    bool keep_alive;
} fixture;

static void on_end(void *owner, bool keep_alive)
{
    fixture *f = owner;
    f->ends++;
    f->keep_alive = keep_alive;
}

static int h_hello(http_request *req, http_response *res, void *arg)
{
    assert_ptr_equal(arg, &tag_a);
    const char *who = http_request_header(req, "x-name");
    char text[64];
    int n = snprintf(text, sizeof(text), "hello %s %s", who ? who : "world", req->query);
    return http_res_send(res, 200, "text/plain", text, (size_t)n);
}

static int h_silent(http_request *req, http_response *res, void *arg)
{
    http_res_header(res, "X-Left-Behind", "1");
    return 0;
}

static int h_fails(http_request *req, http_response *res, void *arg)
{
    http_res_header(res, "X-Left-Behind", "1");
    return -EIO;
}

static int h_stream_open(http_request *req, http_response *res, void *arg)
{
    http_res_start(res, 200, NULL, HTTP_LENGTH_UNKNOWN);
    http_res_write(res, "part", 4);
    return 0;
}

static int h_stream_fails(http_request *req, http_response *res, void *arg)
{
    http_res_start(res, 200, NULL, HTTP_LENGTH_UNKNOWN);
    http_res_write(res, "part", 4);
    return -EIO;
}

static int h_async(http_request *req, http_response *res, void *arg)
{
    *(http_response **)arg = res;
    return HTTP_ASYNC;
}

static int h_async_but_done(http_request *req, http_response *res, void *arg)
{
    http_res_send(res, 204, NULL, NULL, 0);
    return HTTP_ASYNC;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    http_date_cache_init(&f->date, TEST_UNIX_NS);
    assert_int_equal(http_res_init(&f->res, &test_sink_ops, &f->sink, &f->date, on_end, f), 0);
    assert_int_equal(http_router_create(&f->router), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    http_router_destroy(f->router);
    http_res_fini(&f->res);
    free(f);
    return 0;
}

static int run(fixture *f, int method, const char *path, const http_header *headers,
               uint32_t header_count)
{
    http_request req = {.method = method, .version_major = 1, .version_minor = 1,
                        .keep_alive = true, .path = path, .query = "q=1", .headers = headers,
                        .header_count = header_count, .body = ""};
    f->sink.len = 0;
    f->sink.out[0] = '\0';
    f->ends = 0;
    http_res_begin(&f->res, &req);
    return http_router_dispatch(f->router, &req, &f->res);
}

static void test_dispatch_calls_handler(void **state)
{
    fixture *f = *state;
    assert_int_equal(http_route(f->router, HTTP_GET, "/hello", h_hello, &tag_a), 0);
    http_header h = {.name = "X-Name", .value = "ann", .name_len = 6, .value_len = 3};
    assert_int_equal(run(f, HTTP_GET, "/hello", &h, 1), 0);
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(f->sink.out, "\r\n\r\nhello ann q=1"));
    assert_int_equal(f->ends, 1);
    assert_true(f->keep_alive);
    /* HEAD through the GET route: same head, no body. */
    assert_int_equal(run(f, HTTP_HEAD, "/hello", &h, 1), 0);
    assert_non_null(strstr(f->sink.out, "Content-Length: 13\r\n\r\n"));
    assert_null(strstr(f->sink.out, "hello ann"));
}

static void test_dispatch_404_405(void **state)
{
    fixture *f = *state;
    assert_int_equal(http_route(f->router, HTTP_GET, "/only-get", h_hello, &tag_a), 0);
    assert_int_equal(http_route(f->router, HTTP_PUT, "/only-get", h_hello, &tag_a), 0);
    assert_int_equal(run(f, HTTP_GET, "/nope", NULL, 0), 0);
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 404 Not Found\r\n"));
    assert_non_null(strstr(f->sink.out, "\r\n\r\n404 Not Found\n"));
    assert_true(f->keep_alive);
    assert_int_equal(run(f, HTTP_POST, "/only-get", NULL, 0), 0);
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 405 Method Not Allowed\r\n"));
    assert_non_null(strstr(f->sink.out, "\r\nAllow: GET, HEAD, PUT\r\n"));
    assert_true(f->keep_alive);
}

static void test_dispatch_handler_without_answer_is_500(void **state)
{
    fixture *f = *state;
    assert_int_equal(http_route(f->router, HTTP_GET, "/silent", h_silent, NULL), 0);
    assert_int_equal(http_route(f->router, HTTP_GET, "/fails", h_fails, NULL), 0);
    assert_int_equal(run(f, HTTP_GET, "/silent", NULL, 0), 0);
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 500 Internal Server Error\r\n"));
    assert_null(strstr(f->sink.out, "X-Left-Behind")); /* the failed answer's headers go */
    assert_int_equal(run(f, HTTP_GET, "/fails", NULL, 0), 0);
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 500 Internal Server Error\r\n"));
    assert_int_equal(f->ends, 1);
}

static void test_dispatch_ends_open_stream(void **state)
{
    fixture *f = *state;
    assert_int_equal(http_route(f->router, HTTP_GET, "/open", h_stream_open, NULL), 0);
    assert_int_equal(http_route(f->router, HTTP_GET, "/broken", h_stream_fails, NULL), 0);
    assert_int_equal(run(f, HTTP_GET, "/open", NULL, 0), 0);
    assert_non_null(strstr(f->sink.out, "4\r\npart\r\n0\r\n\r\n"));
    assert_true(f->keep_alive);
    /* Failing after the head: the client cannot be told, so the connection closes. */
    assert_int_equal(run(f, HTTP_GET, "/broken", NULL, 0), 0);
    assert_int_equal(f->ends, 1);
    assert_false(f->keep_alive);
}

static void test_dispatch_async(void **state)
{
    fixture *f = *state;
    http_response *held = NULL;
    assert_int_equal(http_route(f->router, HTTP_GET, "/later", h_async, &held), 0);
    assert_int_equal(http_route(f->router, HTTP_GET, "/done", h_async_but_done, NULL), 0);
    assert_int_equal(run(f, HTTP_GET, "/later", NULL, 0), HTTP_ASYNC);
    assert_ptr_equal(held, &f->res);
    assert_int_equal(f->sink.len, 0);
    assert_int_equal(f->ends, 0);
    assert_int_equal(http_res_send(held, 200, NULL, "late", 4), 0);
    assert_int_equal(f->ends, 1);
    /* Claimed async but answered at once: nothing pending. */
    assert_int_equal(run(f, HTTP_GET, "/done", NULL, 0), 0);
    assert_int_equal(f->ends, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_and_prefix),
        cmocka_unit_test(test_root_prefix_catches_all),
        cmocka_unit_test(test_method_selection_and_405),
        cmocka_unit_test(test_head_uses_get_unless_head_route),
        cmocka_unit_test(test_any_method),
        cmocka_unit_test(test_registration_errors),
        cmocka_unit_test(test_allow_format_bounds),
        cmocka_unit_test_setup_teardown(test_dispatch_calls_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_404_405, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_handler_without_answer_is_500, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_ends_open_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_async, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
