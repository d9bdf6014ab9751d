/* test_http_static.c - the pure parts of static files: path resolution against traversal,
 * Content-Type, ETag and If-None-Match, If-Modified-Since, Range / If-Range, and the heads
 * http_static_start() sends. */
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

#include "http/http_mime.h"
#include "http/http_path.h"
#include "http/http_static.h"
#include "http_test_sink.h"

/* --- paths --- */

static void expect_path(const char *in, const char *want)
{
    char out[256];
    int n = http_path_resolve(in, out, sizeof(out));
    if (n < 0)
        fail_msg("%s: refused (%d), want %s", in, n, want);
    assert_int_equal(n, strlen(want));
    if (strcmp(out, want) != 0)
        fail_msg("%s: got %s, want %s", in, out, want);
}

static void expect_refused(const char *in, int want)
{
    char out[256];
    int n = http_path_resolve(in, out, sizeof(out));
    if (n != want)
        fail_msg("%s: got %d, want %d", in, n, want);
}

static void test_path_plain(void **state)
{
    expect_path("/", "index.html");
    expect_path("/a.html", "a.html");
    expect_path("/dir/", "dir/index.html");
    expect_path("/dir/sub/file.css", "dir/sub/file.css");
    expect_path("//a///b//", "a/b/index.html");
    expect_path("/./a/./b", "a/b");
    expect_path("/a/.", "a/index.html");
    expect_path("/.", "index.html");
    expect_path("/hello%20world.txt", "hello world.txt");
    expect_path("/%7Euser/x", "~user/x");
    expect_path("/100%25.txt", "100%.txt");
    expect_path("/...", "...");
    expect_path("/..a/b..", "..a/b..");
    expect_path("/.well-known/x", ".well-known/x");
    expect_path("/caf%C3%A9", "caf\xc3\xa9");
}

static void test_path_traversal_refused(void **state)
{
    static const char *cases[] = {
        "/..",
        "/../etc/passwd",
        "/a/../../etc/passwd",
        "/a/..",
        "/a/../b", /* harmless here, but a ".." segment is never needed */
        "//..//x",
        "/%2e%2e/etc/passwd",
        "/%2E%2E/etc/passwd",
        "/.%2e/x",
        "/%2e./x",
        "/a%2fb",
        "/a%2F..%2Fb",
        "/..%2fetc",
        "/a%5cb",
        "/..%5c..%5cwindows",
        "/%252e%252e/etc/passwd",
        "/%252E%252e/x",
        "/a%252fb",
        "/a%255cb",
        "/a%2500b",
        "/a%00b",
        "/a%0ab",
        "/a%7fb",
        "/a\\b",
        "/a\tb",
        "/a%2ehtml",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_refused(cases[i], -EACCES);
}

static void test_path_malformed(void **state)
{
    expect_refused("", -EINVAL);
    expect_refused("a/b", -EINVAL);
    expect_refused("*", -EINVAL);
    expect_refused("/a%zz", -EINVAL);
    expect_refused("/a%4", -EINVAL);
    expect_refused("/a%", -EINVAL);
    expect_refused("/a%g0", -EINVAL);
}

static void test_path_too_long(void **state)
{
    char out[16];
    assert_int_equal(http_path_resolve("/abcdefghijklmno", out, sizeof(out)), 15);
    assert_int_equal(http_path_resolve("/abcdefghijklmnop", out, sizeof(out)), -ENAMETOOLONG);
    assert_int_equal(http_path_resolve("/abcde/", out, sizeof(out)), -ENAMETOOLONG);
    assert_int_equal(http_path_resolve("/abcd/", out, sizeof(out)), 15);
    assert_string_equal(out, "abcd/index.html");
    assert_int_equal(http_path_resolve("/", out, 10), -ENAMETOOLONG);
    assert_int_equal(http_path_resolve("/", out, 11), 10);
    assert_int_equal(http_path_resolve("/a", out, 0), -ENAMETOOLONG);
}

/* Dotfiles are hidden by default (the handler answers 404); /.well-known/ is not. */
static void test_path_dotfiles_hidden(void **state)
{
    static const char *const hidden[] = {
        "/.env", "/.git/config", "/a/.htpasswd", "/a/b/.ssh/id_rsa", "/...", "/..a/b",
        "/.well-known/.secret", "/a/.well-known/x", "/.well-knownx", "/.git/",
    };
    static const char *const shown[] = {
        "/", "/a.txt", "/a/b.c", "/.well-known/x", "/.well-known/", "/.well-known",
        "/.well-known/acme-challenge/t", "/a./b", "/a/b..", "/./a",
    };
    char rel[256];
    for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
        assert_true(http_path_resolve(hidden[i], rel, sizeof(rel)) >= 0);
        if (!http_path_is_hidden(rel))
            fail_msg("%s (%s) not hidden", hidden[i], rel);
    }
    for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
        assert_true(http_path_resolve(shown[i], rel, sizeof(rel)) >= 0);
        if (http_path_is_hidden(rel))
            fail_msg("%s (%s) hidden", shown[i], rel);
    }
}

/* A directory's redirect never becomes a network-path reference ("//host/"). */
static void test_dir_location(void **state)
{
    static const struct {
        const char *path, *query, *want;
    } cases[] = {
        {"/sub", "", "/sub/"},
        {"/sub", "a=1", "/sub/?a=1"},
        {"//example.com", "", "/example.com/"},
        {"///example.com//x", "", "/example.com/x/"},
        {"/a//b", "q", "/a/b/?q"},
        {"/my%20dir", "", "/my%20dir/"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = http_path_dir_location(cases[i].path, cases[i].query, out, sizeof(out));
        assert_int_equal(n, strlen(cases[i].want));
        assert_string_equal(out, cases[i].want);
        assert_false(out[0] == '/' && out[1] == '/');
    }
    assert_int_equal(http_path_dir_location("/abcdef", "", out, 8), -ENAMETOOLONG);
    assert_int_equal(http_path_dir_location("/abcdef", "", out, 9), 8);
    assert_int_equal(http_path_dir_location("/a", "xyz", out, 7), -ENAMETOOLONG);
}

/* --- content types --- */

static void test_mime(void **state)
{
    assert_string_equal(http_mime_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(http_mime_type("a/b/STYLE.CSS"), "text/css; charset=utf-8");
    assert_string_equal(http_mime_type("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(http_mime_type("x.tar.gz"), "application/gzip");
    assert_string_equal(http_mime_type("logo.svg"), "image/svg+xml");
    assert_string_equal(http_mime_type("f.woff2"), "font/woff2");
    assert_string_equal(http_mime_type("m.wasm"), "application/wasm");
    assert_string_equal(http_mime_type("README"), HTTP_MIME_DEFAULT);
    assert_string_equal(http_mime_type(".bashrc"), HTTP_MIME_DEFAULT);
    assert_string_equal(http_mime_type("dir.html/file"), HTTP_MIME_DEFAULT);
    assert_string_equal(http_mime_type("x.exe"), HTTP_MIME_DEFAULT);
    assert_string_equal(http_mime_type("x."), HTTP_MIME_DEFAULT);
    assert_string_equal(http_mime_type("x.htmlx"), HTTP_MIME_DEFAULT);
}

/* --- validators --- */

static const http_file_meta meta = {.size = 1000, .inode = 0xabc, .mtime_sec = 784111777,
                                    .mtime_nsec = 5};

static void test_etag(void **state)
{
    char etag[HTTP_ETAG_MAX];
    size_t n = http_etag_format(&meta, etag);
    assert_int_equal(n, strlen(etag));
    assert_string_equal(etag, "\"abc-3e8-ae1b981bc490a05\"");
    http_file_meta touched = meta;
    touched.mtime_nsec = 6;
    char other[HTTP_ETAG_MAX];
    http_etag_format(&touched, other);
    assert_string_not_equal(etag, other);
    touched = meta;
    touched.size = 1001;
    http_etag_format(&touched, other);
    assert_string_not_equal(etag, other);
    touched = meta;
    touched.inode = 1;
    http_etag_format(&touched, other);
    assert_string_not_equal(etag, other);
}

static void test_if_none_match_lists(void **state)
{
    const char *etag = "\"abc\"";
    assert_true(http_etag_list_matches("\"abc\"", etag));
    assert_true(http_etag_list_matches("W/\"abc\"", etag)); /* weak comparison */
    assert_true(http_etag_list_matches("\"x\", \"abc\"", etag));
    assert_true(http_etag_list_matches("\"x\",W/\"abc\"", etag));
    assert_true(http_etag_list_matches("*", etag));
    assert_true(http_etag_list_matches("  *", etag));
    assert_false(http_etag_list_matches("\"abcd\"", etag));
    assert_false(http_etag_list_matches("\"ab\"", etag));
    assert_false(http_etag_list_matches("abc", etag));
    assert_false(http_etag_list_matches("\"abc", etag));
    assert_false(http_etag_list_matches("", etag));
    assert_false(http_etag_list_matches("\"x\", junk, \"abc\"", etag));
}

/* --- ranges --- */

typedef struct range_case {
    const char *value;
    uint64_t size;
    http_range_result result;
    uint64_t first, last;
} range_case;

static void test_range_parse(void **state)
{
    static const range_case cases[] = {
        {"bytes=0-0", 1000, HTTP_RANGE_ONE, 0, 0},
        {"bytes=0-499", 1000, HTTP_RANGE_ONE, 0, 499},
        {"bytes=500-999", 1000, HTTP_RANGE_ONE, 500, 999},
        {"bytes=500-", 1000, HTTP_RANGE_ONE, 500, 999},
        {"bytes=999-", 1000, HTTP_RANGE_ONE, 999, 999},
        {"bytes=-1", 1000, HTTP_RANGE_ONE, 999, 999},
        {"bytes=-500", 1000, HTTP_RANGE_ONE, 500, 999},
        {"bytes=-1000", 1000, HTTP_RANGE_ONE, 0, 999},
        {"bytes=-5000", 1000, HTTP_RANGE_ONE, 0, 999},
        {"bytes=0-5000", 1000, HTTP_RANGE_ONE, 0, 999},
        {"bytes=10-99999999999999999999999", 1000, HTTP_RANGE_ONE, 10, 999},
        {"Bytes=1-2", 1000, HTTP_RANGE_ONE, 1, 2},
        {"bytes= 1-2 ", 1000, HTTP_RANGE_ONE, 1, 2},
        {"bytes=1000-", 1000, HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=1000-2000", 1000, HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=99999999999999999999999-", 1000, HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=-0", 1000, HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=0-0", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=-5", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=0-1,5-6", 1000, HTTP_RANGE_MULTIPLE, 0, 1},
        {"bytes=2000-,5-6", 1000, HTTP_RANGE_MULTIPLE, 5, 6},
        {"bytes=2000-,3000-", 1000, HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=5-4", 1000, HTTP_RANGE_NONE, 0, 0},
        {"bytes=", 1000, HTTP_RANGE_NONE, 0, 0},
        {"bytes=-", 1000, HTTP_RANGE_NONE, 0, 0},
        {"bytes=a-b", 1000, HTTP_RANGE_NONE, 0, 0},
        {"bytes=1-2,", 1000, HTTP_RANGE_NONE, 0, 0},
        {"bytes=1-2;3-4", 1000, HTTP_RANGE_NONE, 0, 0},
        {"bytes=--1", 1000, HTTP_RANGE_NONE, 0, 0},
        {"bytes=1", 1000, HTTP_RANGE_NONE, 0, 0},
        {"items=0-1", 1000, HTTP_RANGE_NONE, 0, 0},
        {"bytes 0-1", 1000, HTTP_RANGE_NONE, 0, 0},
        {"", 1000, HTTP_RANGE_NONE, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const range_case *c = &cases[i];
        uint64_t first = 77, last = 77;
        http_range_result r = http_range_parse(c->value, c->size, &first, &last);
        if (r != c->result)
            fail_msg("\"%s\" size %llu: result %d, want %d", c->value,
                     (unsigned long long)c->size, r, c->result);
        if ((r == HTTP_RANGE_ONE || r == HTTP_RANGE_MULTIPLE) && (first != c->first || last != c->last))
            fail_msg("\"%s\": %llu-%llu, want %llu-%llu", c->value, (unsigned long long)first,
                     (unsigned long long)last, (unsigned long long)c->first,
                     (unsigned long long)c->last);
    }
}

/* --- plans --- */

static int64_t test_now = 784111777 + 3600; /* an hour after the file's mtime */

static http_static_plan plan_for(int method, const char *const *headers)
{
    http_header h[8];
    uint32_t n = 0;
    for (; headers && headers[2 * n]; n++)
        h[n] = (http_header){.name = headers[2 * n], .value = headers[2 * n + 1],
                             .name_len = (uint32_t)strlen(headers[2 * n]),
                             .value_len = (uint32_t)strlen(headers[2 * n + 1])};
    http_request req = {.method = method, .version_major = 1, .version_minor = 1, .path = "/",
                        .query = "", .headers = h, .header_count = n, .body = ""};
    http_static_plan plan;
    http_static_plan_for(&req, "dir/page.html", &meta, test_now, &plan);
    return plan;
}

static void test_plan_full(void **state)
{
    http_static_plan p = plan_for(HTTP_GET, NULL);
    assert_int_equal(p.status, 200);
    assert_int_equal(p.offset, 0);
    assert_int_equal(p.length, 1000);
    assert_string_equal(p.content_type, "text/html; charset=utf-8");
    assert_string_equal(p.last_modified, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_string_equal(p.content_range, "");
}

static void test_plan_not_modified(void **state)
{
    char etag[HTTP_ETAG_MAX];
    http_etag_format(&meta, etag);
    const char *inm[] = {"If-None-Match", etag, NULL};
    assert_int_equal(plan_for(HTTP_GET, inm).status, 304);
    assert_int_equal(plan_for(HTTP_HEAD, inm).status, 304);
    assert_int_equal(plan_for(HTTP_POST, inm).status, 200);
    const char *inm_other[] = {"If-None-Match", "\"other\"", NULL};
    assert_int_equal(plan_for(HTTP_GET, inm_other).status, 200);

    const char *ims_same[] = {"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT", NULL};
    assert_int_equal(plan_for(HTTP_GET, ims_same).status, 304);
    const char *ims_later[] = {"If-Modified-Since", "Sunday, 06-Nov-94 09:00:00 GMT", NULL};
    assert_int_equal(plan_for(HTTP_GET, ims_later).status, 304);
    const char *ims_asctime[] = {"If-Modified-Since", "Sun Nov  6 08:49:37 1994", NULL};
    assert_int_equal(plan_for(HTTP_GET, ims_asctime).status, 304);
    const char *ims_earlier[] = {"If-Modified-Since", "Sun, 06 Nov 1994 08:49:36 GMT", NULL};
    assert_int_equal(plan_for(HTTP_GET, ims_earlier).status, 200);
    const char *ims_future[] = {"If-Modified-Since", "Sun, 06 Nov 1994 10:00:00 GMT", NULL};
    assert_int_equal(plan_for(HTTP_GET, ims_future).status, 200); /* ignored: after now */
    const char *ims_bad[] = {"If-Modified-Since", "yesterday", NULL};
    assert_int_equal(plan_for(HTTP_GET, ims_bad).status, 200);
    /* If-None-Match decides when present, even against a matching If-Modified-Since. */
    const char *both[] = {"If-None-Match", "\"other\"", "If-Modified-Since",
                          "Sun, 06 Nov 1994 08:49:37 GMT", NULL};
    assert_int_equal(plan_for(HTTP_GET, both).status, 200);
}

static void test_plan_ranges(void **state)
{
    const char *one[] = {"Range", "bytes=100-199", NULL};
    http_static_plan p = plan_for(HTTP_GET, one);
    assert_int_equal(p.status, 206);
    assert_int_equal(p.offset, 100);
    assert_int_equal(p.length, 100);
    assert_string_equal(p.content_range, "bytes 100-199/1000");

    const char *suffix[] = {"Range", "bytes=-10", NULL};
    p = plan_for(HTTP_GET, suffix);
    assert_int_equal(p.status, 206);
    assert_int_equal(p.offset, 990);
    assert_string_equal(p.content_range, "bytes 990-999/1000");

    const char *beyond[] = {"Range", "bytes=1000-", NULL};
    p = plan_for(HTTP_GET, beyond);
    assert_int_equal(p.status, 416);
    assert_int_equal(p.length, 0);
    assert_string_equal(p.content_range, "bytes */1000");

    const char *multi[] = {"Range", "bytes=0-1,10-20", NULL};
    p = plan_for(HTTP_GET, multi);
    assert_int_equal(p.status, 200);
    assert_int_equal(p.length, 1000);

    assert_int_equal(plan_for(HTTP_HEAD, one).status, 200);

    char etag[HTTP_ETAG_MAX];
    http_etag_format(&meta, etag);
    const char *if_range_ok[] = {"Range", "bytes=0-9", "If-Range", etag, NULL};
    assert_int_equal(plan_for(HTTP_GET, if_range_ok).status, 206);
    const char *if_range_date[] = {"Range", "bytes=0-9", "If-Range",
                                   "Sun, 06 Nov 1994 08:49:37 GMT", NULL};
    assert_int_equal(plan_for(HTTP_GET, if_range_date).status, 206);
    const char *if_range_stale[] = {"Range", "bytes=0-9", "If-Range", "\"old\"", NULL};
    assert_int_equal(plan_for(HTTP_GET, if_range_stale).status, 200);
    char weak[HTTP_ETAG_MAX + 2];
    snprintf(weak, sizeof(weak), "W/%s", etag);
    const char *if_range_weak[] = {"Range", "bytes=0-9", "If-Range", weak, NULL};
    assert_int_equal(plan_for(HTTP_GET, if_range_weak).status, 200);
    const char *if_range_newer[] = {"Range", "bytes=0-9", "If-Range",
                                    "Sun, 06 Nov 1994 08:49:38 GMT", NULL};
    assert_int_equal(plan_for(HTTP_GET, if_range_newer).status, 200);
}

/* --- heads --- */

typedef struct fixture {
    test_sink sink;
    http_date_cache date;
    http_response res;
    int ends;
} fixture;

static void on_end(void *owner, bool keep_alive)
{
    ((fixture *)owner)->ends++;
}

static void start_plan(fixture *f, int method, const http_static_plan *plan)
{
    http_request req = {.method = method, .version_major = 1, .version_minor = 1,
                        .keep_alive = true, .path = "/", .query = "", .body = ""};
    f->sink.len = 0;
    f->ends = 0;
    http_res_begin(&f->res, &req);
    assert_int_equal(http_static_start(&f->res, plan), 0);
}

static void test_static_start_heads(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    http_date_cache_init(&f->date, TEST_UNIX_NS);
    assert_int_equal(http_res_init(&f->res, &test_sink_ops, &f->sink, &f->date, on_end, f), 0);

    const char *one[] = {"Range", "bytes=100-199", NULL};
    http_static_plan p = plan_for(HTTP_GET, one);
    start_plan(f, HTTP_GET, &p);
    assert_int_equal(http_res_sendfile(&f->res, 9, p.offset, p.length, NULL, NULL), 0);
    assert_int_equal(http_res_end(&f->res), 0);
    char want[1024];
    snprintf(want, sizeof(want),
             "HTTP/1.1 206 Partial Content\r\n" TEST_PREFIX "ETag: %s\r\n"
             "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nAccept-Ranges: bytes\r\n"
             "Content-Range: bytes 100-199/1000\r\nContent-Type: text/html; charset=utf-8\r\n"
             "Content-Length: 100\r\n\r\n[file 9 100 100]",
             p.etag);
    assert_string_equal(f->sink.out, want);

    const char *beyond[] = {"Range", "bytes=5000-", NULL};
    p = plan_for(HTTP_GET, beyond);
    start_plan(f, HTTP_GET, &p);
    assert_int_equal(f->ends, 1);
    assert_non_null(strstr(f->sink.out, "HTTP/1.1 416 Range Not Satisfiable\r\n"));
    assert_non_null(strstr(f->sink.out, "Content-Range: bytes */1000\r\n"));

    char etag[HTTP_ETAG_MAX];
    http_etag_format(&meta, etag);
    const char *inm[] = {"If-None-Match", etag, NULL};
    p = plan_for(HTTP_GET, inm);
    start_plan(f, HTTP_GET, &p);
    assert_int_equal(f->ends, 1);
    snprintf(want, sizeof(want),
             "HTTP/1.1 304 Not Modified\r\n" TEST_PREFIX "ETag: %s\r\n"
             "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
             etag);
    assert_string_equal(f->sink.out, want);

    /* HEAD: the GET head, and the file is never read. */
    p = plan_for(HTTP_HEAD, NULL);
    start_plan(f, HTTP_HEAD, &p);
    assert_int_equal(http_res_sendfile(&f->res, 9, 0, p.length, NULL, NULL), 0);
    assert_int_equal(http_res_end(&f->res), 0);
    assert_non_null(strstr(f->sink.out, "Content-Length: 1000\r\n\r\n"));
    assert_null(strstr(f->sink.out, "[file"));

    /* An empty file is complete at once. */
    http_file_meta empty = meta;
    empty.size = 0;
    http_request req = {.method = HTTP_GET, .version_major = 1, .version_minor = 1, .path = "/",
                        .query = "", .body = ""};
    http_static_plan_for(&req, "e.txt", &empty, test_now, &p);
    start_plan(f, HTTP_GET, &p);
    assert_int_equal(f->ends, 1);
    assert_non_null(strstr(f->sink.out, "Content-Length: 0\r\n\r\n"));

    http_res_fini(&f->res);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_plain),
        cmocka_unit_test(test_path_traversal_refused),
        cmocka_unit_test(test_path_malformed),
        cmocka_unit_test(test_path_too_long),
        cmocka_unit_test(test_path_dotfiles_hidden),
        cmocka_unit_test(test_dir_location),
        cmocka_unit_test(test_mime),
        cmocka_unit_test(test_etag),
        cmocka_unit_test(test_if_none_match_lists),
        cmocka_unit_test(test_range_parse),
        cmocka_unit_test(test_plan_full),
        cmocka_unit_test(test_plan_not_modified),
        cmocka_unit_test(test_plan_ranges),
        cmocka_unit_test(test_static_start_heads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
