/* test_http_parser.c - the request parser: fields, bodies, every limit and its status, the
 * smuggling cases, keep-alive rules, pipelining, and input split at every byte parsing the same
 * as input given whole. */
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

#include "http/http_host.h"
#include "http/http_parser.h"

/* What the parser reported over one input, as text, so two feeds can be compared whole. */
typedef struct transcript {
    char text[1 << 16];
    size_t len;
    int requests;
    int heads;
    int body_calls;
    int status;        /* error status, 0 when the input ended cleanly */
    char body[1 << 14];
    size_t body_len;
    int refuse_head;   /* status on_head returns */
    int refuse_body;
    bool saw_expect;
    bool saw_upgrade;
} transcript;

static void note(transcript *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->text + t->len, sizeof(t->text) - t->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(t->text) - t->len);
    t->len += (size_t)n;
}

static int rec_head(void *ctx, http_request *req)
{
    transcript *t = ctx;
    t->heads++;
    t->body_len = 0;
    t->saw_expect = req->expect_continue;
    t->saw_upgrade = req->upgrade;
    return t->refuse_head;
}

static int rec_body(void *ctx, const char *data, size_t len)
{
    transcript *t = ctx;
    assert_true(len <= sizeof(t->body) - t->body_len);
    memcpy(t->body + t->body_len, data, len);
    t->body_len += len;
    t->body_calls++;
    return t->refuse_body;
}

static const http_parser_events rec_events = {.on_head = rec_head, .on_body = rec_body};

static void note_request(transcript *t, const http_request *req)
{
    t->requests++;
    note(t, "%s %s ?%s %d.%d ka=%d cl=%llu ch=%d |", http_method_name(req->method), req->path,
         req->query, req->version_major, req->version_minor, req->keep_alive,
         (unsigned long long)req->content_length, req->chunked);
    for (uint32_t i = 0; i < req->header_count; i++) {
        const http_header *h = &req->headers[i];
        assert_int_equal(strlen(h->name), h->name_len);
        assert_int_equal(strlen(h->value), h->value_len);
        note(t, "%s=%s|", h->name, h->value);
    }
    note(t, " body=%.*s\n", (int)t->body_len, t->body);
}

/* Feed input in slices of step bytes (answering each request at once, as a server does). */
static void run_parser(http_parser *p, const char *in, size_t len, size_t step, transcript *t)
{
    size_t at = 0;
    t->status = 0;
    for (size_t guard = 0; guard < 2 * len + 8; guard++) {
        size_t avail = len - at < step ? len - at : step;
        size_t used;
        http_parse_result r = http_parser_feed(p, in + at, avail, &used);
        assert_true(used <= avail);
        at += used;
        if (r == HTTP_PARSE_ERROR) {
            t->status = http_parser_error_status(p);
            return;
        }
        if (r == HTTP_PARSE_DONE) {
            note_request(t, http_parser_request(p));
            http_parser_next(p);
        }
        if (at == len && r == HTTP_PARSE_MORE)
            return;
        if (at == len && r == HTTP_PARSE_DONE) {
            assert_int_equal(http_parser_feed(p, in + at, 0, &used), HTTP_PARSE_MORE);
            return;
        }
    }
    fail_msg("the parser made no progress");
}

static transcript *parse_with(const char *in, size_t len, size_t step, const http_limits *limits)
{
    transcript *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    http_parser p;
    assert_int_equal(http_parser_init(&p, limits, &rec_events, t), 0);
    run_parser(&p, in, len, step, t);
    http_parser_fini(&p);
    return t;
}

/* Whole, then byte by byte, then in 7-byte slices: all three must agree.  Returns the whole
 * feed's transcript. */
static transcript *parse_all_ways(const char *in, const http_limits *limits)
{
    size_t len = strlen(in);
    transcript *whole = parse_with(in, len, len ? len : 1, limits);
    size_t steps[] = {1, 7};
    for (size_t i = 0; i < 2; i++) {
        transcript *split = parse_with(in, len, steps[i], limits);
        assert_int_equal(split->status, whole->status);
        assert_int_equal(split->requests, whole->requests);
        assert_string_equal(split->text, whole->text);
        free(split);
    }
    return whole;
}

static int status_of(const char *in, const http_limits *limits)
{
    transcript *t = parse_all_ways(in, limits);
    int status = t->status;
    free(t);
    return status;
}

/* The input whole, then in two slices cut at every position: the same status and transcript.
 * Returns the whole feed's transcript. */
static transcript *parse_every_cut(const char *in, const http_limits *limits)
{
    size_t len = strlen(in);
    transcript *whole = parse_with(in, len, len, limits);
    transcript *t = malloc(sizeof(*t));
    assert_non_null(t);
    for (size_t cut = 1; cut < len; cut++) {
        memset(t, 0, sizeof(*t));
        http_parser p;
        assert_int_equal(http_parser_init(&p, limits, &rec_events, t), 0);
        /* The first slice, then the second: run_parser keeps the parser between them. */
        run_parser(&p, in, cut, cut, t);
        if (!t->status)
            run_parser(&p, in + cut, len - cut, len - cut, t);
        http_parser_fini(&p);
        if (t->status != whole->status || strcmp(t->text, whole->text) != 0)
            fail_msg("cut at %zu: status %d\n%s\nwant %d\n%s", cut, t->status, t->text,
                     whole->status, whole->text);
    }
    free(t);
    return whole;
}

/* A stream that exercises every state. */
static void test_split_at_every_position(void **state)
{
    const char *in = "GET /a?b=c HTTP/1.1\r\nHost: h\r\nX:  v  \r\nE:\r\n\r\n"
                     "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody"
                     "\r\n"
                     "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "4;ext=\"q\"\r\nchun\r\n2;a=1;b=\"x y\";c\r\nks\r\n0\r\nTrail: x\r\n\r\n"
                     "GET http://h/abs HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    transcript *whole = parse_every_cut(in, NULL);
    assert_int_equal(whole->status, 0);
    assert_int_equal(whole->requests, 4);
    free(whole);
}

/* --- fields --- */

static void test_simple_get(void **state)
{
    transcript *t = parse_all_ways("GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example\r\n"
                                   "User-Agent: t\r\n\r\n",
                                   NULL);
    assert_int_equal(t->status, 0);
    assert_int_equal(t->requests, 1);
    assert_string_equal(t->text,
                        "GET /a/b ?x=1&y=2 1.1 ka=1 cl=0 ch=0 |Host=example|User-Agent=t| body=\n");
    free(t);
}

static void test_header_values_trimmed_and_empty(void **state)
{
    transcript *t = parse_all_ways("GET / HTTP/1.1\r\nHost: h\r\nA:   spaced  \t \r\nB:\r\n"
                                   "C: \r\nD: in ner\r\n\r\n",
                                   NULL);
    assert_int_equal(t->status, 0);
    assert_string_equal(t->text, "GET / ? 1.1 ka=1 cl=0 ch=0 |Host=h|A=spaced|B=|C=|D=in ner| body=\n");
    free(t);
}

/* RFC 9112 5.2: a server may refuse obs-fold anywhere; llhttp 8.1 took it, in framing fields
 * too.  Every input is also cut at every position: the fold may straddle two reads. */
static void test_obs_fold_refused(void **state)
{
    static const char *const folds[] = {
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n \r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n \r\n\r\n",
        "GET / HTTP/1.1\r\nHost:\r\n h\r\n\r\n",
        /* CVE-2024-27982: a space before a name made it part of the field above. */
        "POST / HTTP/1.1\r\nHost: h\r\nX: a\r\n Content-Length: 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\r\n b\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(folds) / sizeof(folds[0]); i++) {
        transcript *t = parse_every_cut(folds[i], NULL);
        if (t->status != 400)
            fail_msg("fold %zu: status %d", i, t->status);
        free(t);
    }
    /* Whitespace that folds nothing stays fine: around values, empty values, then a field. */
    transcript *t = parse_every_cut("GET / HTTP/1.1\r\nHost: h\r\nA: \t a \t\r\nB:\r\nC: \r\n"
                                    "D:\t\r\n\r\n",
                                    NULL);
    assert_int_equal(t->status, 0);
    assert_non_null(strstr(t->text, "|A=a|B=|C=|D=|"));
    free(t);
}

static void test_header_lookup(void **state)
{
    transcript t = {0};
    http_parser p;
    assert_int_equal(http_parser_init(&p, NULL, &rec_events, &t), 0);
    const char *in = "GET / HTTP/1.1\r\nHost: h\r\nX-Thing: one\r\nx-thing: two\r\n"
                     "Connection: keep-alive, Upgrade\r\n\r\n";
    size_t used;
    assert_int_equal(http_parser_feed(&p, in, strlen(in), &used), HTTP_PARSE_DONE);
    http_request *req = http_parser_request(&p);
    assert_string_equal(http_request_header(req, "x-THING"), "one");
    assert_string_equal(http_request_header(req, "HOST"), "h");
    assert_null(http_request_header(req, "X-Thin"));
    assert_null(http_request_header(req, "X-Things"));
    const char *conn = http_request_header(req, "connection");
    assert_true(http_header_has_token(conn, "upgrade"));
    assert_true(http_header_has_token(conn, "KEEP-ALIVE"));
    assert_false(http_header_has_token(conn, "keep"));
    assert_false(http_header_has_token(conn, "close"));
    http_parser_fini(&p);
}

static void test_targets(void **state)
{
    transcript *t = parse_all_ways("GET http://example.com/p/q?z=1 HTTP/1.1\r\nHost: h\r\n\r\n"
                                   "GET HTTPS://example.com HTTP/1.1\r\nHost: h\r\n\r\n"
                                   "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"
                                   "GET /f#frag HTTP/1.1\r\nHost: h\r\n\r\n"
                                   "GET /e? HTTP/1.1\r\nHost: h\r\n\r\n",
                                   NULL);
    assert_int_equal(t->status, 0);
    assert_int_equal(t->requests, 5);
    assert_string_equal(t->text, "GET /p/q ?z=1 1.1 ka=1 cl=0 ch=0 |Host=h| body=\n"
                                 "GET / ? 1.1 ka=1 cl=0 ch=0 |Host=h| body=\n"
                                 "OPTIONS * ? 1.1 ka=1 cl=0 ch=0 |Host=h| body=\n"
                                 "GET /f ? 1.1 ka=1 cl=0 ch=0 |Host=h| body=\n"
                                 "GET /e ? 1.1 ka=1 cl=0 ch=0 |Host=h| body=\n");
    free(t);
}

static void test_query_param(void **state)
{
    char out[16];
    assert_int_equal(http_query_param("a=1&name=x%20y+z&e=&f", "name", out, sizeof(out)), 5);
    assert_string_equal(out, "x y z");
    assert_int_equal(http_query_param("a=1&name=x%20y+z&e=&f", "a", out, sizeof(out)), 1);
    assert_string_equal(out, "1");
    assert_int_equal(http_query_param("a=1&e=&f", "e", out, sizeof(out)), 0);
    assert_int_equal(http_query_param("a=1&e=&f", "f", out, sizeof(out)), 0);
    assert_int_equal(http_query_param("a=1&e=&f", "g", out, sizeof(out)), -ENOENT);
    assert_int_equal(http_query_param("", "a", out, sizeof(out)), -ENOENT);
    assert_int_equal(http_query_param("aa=1", "a", out, sizeof(out)), -ENOENT);
    assert_int_equal(http_query_param("a=%zz", "a", out, sizeof(out)), -EINVAL);
    assert_int_equal(http_query_param("a=%4", "a", out, sizeof(out)), -EINVAL);
    assert_int_equal(http_query_param("a=%00", "a", out, sizeof(out)), -EINVAL);
    assert_int_equal(http_query_param("a=0123456789abcdef", "a", out, sizeof(out)), -ENOSPC);
}

/* --- bodies --- */

static void test_content_length_body_incremental(void **state)
{
    const char *in = "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
    transcript *t = parse_all_ways(in, NULL);
    assert_int_equal(t->status, 0);
    assert_string_equal(t->text, "POST /up ? 1.1 ka=1 cl=11 ch=0 |Host=h|Content-Length=11| "
                                 "body=hello world\n");
    free(t);
    transcript *bytes = parse_with(in, strlen(in), 1, NULL);
    assert_int_equal(bytes->body_calls, 11); /* delivered as it came, not buffered */
    free(bytes);
}

static void test_chunked_with_extensions_and_trailers(void **state)
{
    transcript *t = parse_all_ways("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "5;name=value\r\nhello\r\n"
                                   "1;quoted=\"a b\"\r\n \r\n"
                                   "5;flag\r\nworld\r\n"
                                   "0\r\nTrailer-One: 1\r\nTrailer-Two: 2\r\n\r\n"
                                   "GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
                                   NULL);
    assert_int_equal(t->status, 0);
    assert_int_equal(t->requests, 2);
    /* Trailers are accepted but not merged into the headers. */
    assert_string_equal(t->text,
                        "POST /c ? 1.1 ka=1 cl=11 ch=1 |Host=h|Transfer-Encoding=chunked| "
                        "body=hello world\n"
                        "GET /next ? 1.1 ka=1 cl=0 ch=0 |Host=h| body=\n");
    free(t);
}

/* RFC 9112 7.1.1: any number of extensions, unknown ones ignored (llhttp 8.1 refused a second
 * one after an unquoted value). */
static void test_chunk_extensions_any_number(void **state)
{
    static const char *const chunks[] = {
        "6;a=b;c=d\r\nhello!\r\n",
        "6;a=b;c=\"q d\"\r\nhello!\r\n",
        "6;a=\"x\";b=c;d;e=f\r\nhello!\r\n",
        "6;a;b=1;c;d=2;e=3;f\r\nhello!\r\n",
    };
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        char in[256];
        snprintf(in, sizeof(in),
                 "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n%s"
                 "2;z=9;y=8\r\n:)\r\n0;last=1;x\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n",
                 chunks[i]);
        transcript *t = parse_every_cut(in, NULL);
        if (t->status != 0)
            fail_msg("chunk %zu: status %d", i, t->status);
        assert_int_equal(t->requests, 2);
        assert_non_null(strstr(t->text, "body=hello!:)\n"));
        free(t);
    }
}

/* Extension bytes (and each ';' and '=') count against max_header_bytes per request, all
 * chunks together: 400 past it, however the bytes are spread. */
static void test_chunk_extension_limit(void **state)
{
    http_limits limits = {.max_header_bytes = 64};
    const char *head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    char in[512];
    snprintf(in, sizeof(in), "%s3;%070d\r\nabc\r\n0\r\n\r\n", head, 0);
    assert_int_equal(status_of(in, &limits), 400);
    snprintf(in, sizeof(in), "%s3;%035d\r\nabc\r\n0\r\n\r\n", head, 0);
    assert_int_equal(status_of(in, &limits), 0);
    snprintf(in, sizeof(in), "%s3;%035d\r\nabc\r\n3;%035d\r\nabc\r\n0\r\n\r\n", head, 0, 0);
    assert_int_equal(status_of(in, &limits), 400);
    snprintf(in, sizeof(in), "%s3;a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8;i=9;j=0;k=1;l=2;m=3;n=4;o=5;p=6;q=7"
             "\r\nabc\r\n0\r\n\r\n", head);
    assert_int_equal(status_of(in, &limits), 400);
    snprintf(in, sizeof(in), "%s3%s\r\nabc\r\n0\r\n\r\n", head,
             ";;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;");
    assert_int_equal(status_of(in, &limits), 400);
}

/* Padding llhttp skips without a callback -- leading zeros of a chunk size, whitespace before
 * a value, blank lines before a request -- is bounded like the rest: 400 past the budget of
 * head, extensions and chunk framing; honest framing, even of many tiny chunks, stays well in. */
static void test_padding_bounded(void **state)
{
    http_limits limits = {.max_request_line = 64, .max_header_bytes = 64};
    const char *head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    enum { PAD = 6000 };
    static char in[PAD + 4096];
    size_t n = (size_t)sprintf(in, "%s", head);
    memset(in + n, '0', PAD);
    n += PAD;
    strcpy(in + n, "5\r\nhello\r\n0\r\n\r\n");
    assert_int_equal(status_of(in, &limits), 400);
    n = (size_t)sprintf(in, "%s", head);
    memset(in + n, '0', PAD);
    n += PAD;
    strcpy(in + n, "0\r\n\r\n");
    assert_int_equal(status_of(in, &limits), 400);
    n = (size_t)sprintf(in, "GET / HTTP/1.1\r\nHost:");
    memset(in + n, ' ', PAD);
    strcpy(in + n + PAD, "h\r\n\r\n");
    assert_int_equal(status_of(in, &limits), 400);
    memset(in, '\n', PAD);
    strcpy(in + PAD, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(status_of(in, &limits), 400);
    /* 600 one-byte chunks: 3 KB of framing for 600 bytes of body. */
    n = (size_t)sprintf(in, "%s", head);
    for (int i = 0; i < 600; i++)
        n += (size_t)sprintf(in + n, "1\r\nx\r\n");
    strcpy(in + n, "0\r\n\r\n");
    transcript *t = parse_all_ways(in, &limits);
    assert_int_equal(t->status, 0);
    assert_int_equal(t->body_len, 600);
    free(t);
}

/* llhttp 8.1 skipped the two bytes after chunk data, whatever they were. */
static void test_chunk_data_needs_crlf(void **state)
{
    static const char *const bodies[] = {
        "5\r\nhelloXX0\r\n\r\n", "5\r\nhello\n0\r\n\r\n", "5\r\nhello\r0\r\n\r\n",
        "5\r\nhello\nX0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char in[256];
        snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n%s",
                 bodies[i]);
        transcript *t = parse_every_cut(in, NULL);
        if (t->status != 400)
            fail_msg("body %zu: status %d", i, t->status);
        assert_int_equal(t->requests, 0);
        free(t);
    }
}

/* A bare CR ends nothing: llhttp 8.1 skipped the byte after a CR at the end of an empty value
 * ("x:\rTransfer-Encoding: chunked" gave a field "ransfer-Encoding"), of the head, of a chunk
 * size line and of the last chunk. */
static void test_bare_cr_refused(void **state)
{
    static const char *const inputs[] = {
        "POST / HTTP/1.1\r\nHost: h\r\nx:\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\n\rX",
        "GET / HTTP/1.1\rHost: h\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\rXhello\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\rXhello\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\rX",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n\rX",
    };
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        int status = status_of(inputs[i], NULL);
        if (status != 400 && status != 505)
            fail_msg("input %zu: status %d", i, status);
    }
}

/* RFC 9112 3.2: Host is uri-host [":" port]. */
static void test_host_validated(void **state)
{
    static const char *const good[] = {
        "example.com", "example.com:8080", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:8080",
        "[2001:db8::7]", "[v1.fe80::a+b]", "xn--bcher-kva.example", "a%41b", "h:", "",
        "under_score~-.!$&'()*+,;=",
    };
    static const char *const bad[] = {
        "a/b", "user@host", "a?b", "a#b", "h:80x", "h:1:2", "[::1", "::1", "[::1]x", "[zz::1]",
        "[v1]", "[v.x]", "a%4", "a%zz", "a\"b", "[::1]:8a", "h h", "a\\b", "<x>",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!http_host_valid(good[i], strlen(good[i])))
            fail_msg("refused %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (http_host_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted %s", bad[i]);
    assert_false(http_host_valid("a\0b", 3));
    /* Through the parser: 400 and no request; a good Host still parses. */
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", NULL), 400);
    assert_int_equal(status_of("GET / HTTP/1.0\r\nHost: u@h\r\n\r\n", NULL), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", NULL), 0);
}

/* --- pipelining --- */

static void test_hundred_pipelined_in_one_slice(void **state)
{
    static char in[100 * 128];
    size_t len = 0;
    for (int i = 0; i < 100; i++) {
        if (i % 3 == 1)
            len += (size_t)snprintf(in + len, sizeof(in) - len,
                                    "POST /r/%d HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n%02d",
                                    i, i);
        else
            len += (size_t)snprintf(in + len, sizeof(in) - len,
                                    "GET /r/%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
    }
    transcript *t = parse_with(in, len, len, NULL);
    assert_int_equal(t->status, 0);
    assert_int_equal(t->requests, 100);
    const char *line = t->text;
    for (int i = 0; i < 100; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%s /r/%d ?", i % 3 == 1 ? "POST" : "GET", i);
        assert_memory_equal(line, want, strlen(want));
        if (i % 3 == 1) {
            char body[16];
            snprintf(body, sizeof(body), "body=%02d\n", i);
            assert_non_null(strstr(line, body));
        }
        line = strchr(line, '\n') + 1;
    }
    free(t);
}

static void test_done_stops_right_after_request(void **state)
{
    transcript t = {0};
    http_parser p;
    assert_int_equal(http_parser_init(&p, NULL, &rec_events, &t), 0);
    const char *first = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
    char in[256];
    snprintf(in, sizeof(in), "%sGET /2 HTTP/1.1\r\nHost: h\r\n\r\n", first);
    size_t used;
    assert_int_equal(http_parser_feed(&p, in, strlen(in), &used), HTTP_PARSE_DONE);
    assert_int_equal(used, strlen(first));
    /* Until next(), nothing more is parsed and the request stays intact. */
    size_t again;
    assert_int_equal(http_parser_feed(&p, in + used, strlen(in) - used, &again), HTTP_PARSE_DONE);
    assert_int_equal(again, 0);
    assert_string_equal(http_parser_request(&p)->path, "/1");
    http_parser_next(&p);
    assert_int_equal(http_parser_feed(&p, in + used, strlen(in) - used, &again), HTTP_PARSE_DONE);
    assert_int_equal(used + again, strlen(in));
    assert_string_equal(http_parser_request(&p)->path, "/2");
    http_parser_fini(&p);
}

static void test_leading_blank_lines_between_requests(void **state)
{
    transcript *t = parse_all_ways("GET /a HTTP/1.1\r\nHost: h\r\n\r\n\r\n\r\n"
                                   "GET /b HTTP/1.1\r\nHost: h\r\n\r\n",
                                   NULL);
    assert_int_equal(t->status, 0);
    assert_int_equal(t->requests, 2);
    free(t);
}

/* The arena and field table grow for a big head, then serve every smaller one in place. */
static void test_arena_grows_then_is_reused(void **state)
{
    transcript *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    http_parser p;
    assert_int_equal(http_parser_init(&p, NULL, &rec_events, t), 0);
    assert_int_equal(p.arena_cap, HTTP_PARSER_ARENA_START);
    static char big[12000];
    size_t n = (size_t)snprintf(big, sizeof(big), "GET /big HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "X-%d: %0200d\r\n", i, i);
    n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n");
    size_t used;
    assert_int_equal(http_parser_feed(&p, big, n, &used), HTTP_PARSE_DONE);
    http_request *req = http_parser_request(&p);
    assert_int_equal(req->header_count, 41);
    const char *last = http_request_header(req, "x-39");
    assert_int_equal(strlen(last), 200);
    assert_memory_equal(last, big + n - 4 - 200, 200);
    assert_string_equal(req->path, "/big");
    assert_true(p.arena_cap > HTTP_PARSER_ARENA_START);
    http_parser_next(&p);

    char *arena = p.arena;
    http_header *headers = p.headers;
    const char *small = "GET /same HTTP/1.1\r\nHost: h\r\nX: y\r\n\r\n";
    for (int i = 0; i < 1000; i++) {
        const char *in = i % 100 == 99 ? big : small;
        size_t len = i % 100 == 99 ? n : strlen(small);
        assert_int_equal(http_parser_feed(&p, in, len, &used), HTTP_PARSE_DONE);
        assert_int_equal(used, len);
        assert_ptr_equal(http_parser_request(&p)->path, arena);
        http_parser_next(&p);
    }
    assert_ptr_equal(p.arena, arena);
    assert_ptr_equal(p.headers, headers);
    http_parser_fini(&p);
    free(t);
}

/* --- limits --- */

static void test_request_line_limit_414(void **state)
{
    http_limits limits = {.max_request_line = 40};
    /* Counted: method + target + version ("GET" + target + "1.1"). */
    char in[256];
    char target[64];
    memset(target, 'a', sizeof(target));
    target[0] = '/';
    target[34] = '\0'; /* 3 + 34 + 3 = 40: at the limit */
    snprintf(in, sizeof(in), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
    assert_int_equal(status_of(in, &limits), 0);
    target[34] = 'a';
    target[35] = '\0'; /* one more */
    snprintf(in, sizeof(in), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
    assert_int_equal(status_of(in, &limits), 414);
}

static void test_header_bytes_limit_431(void **state)
{
    http_limits limits = {.max_header_bytes = 64};
    /* Counted: name + value + 4 per field.  Host: h = 9; X: 4 + 1 + 46 = 51; total 60. */
    char value[64];
    memset(value, 'v', sizeof(value));
    value[50] = '\0';
    char in[256];
    snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\nX: %s\r\n\r\n", value + 4);
    assert_int_equal(status_of(in, &limits), 0);
    value[50] = 'v';
    value[55] = '\0'; /* 65 */
    snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\nX: %s\r\n\r\n", value + 4);
    assert_int_equal(status_of(in, &limits), 431);
}

static void test_header_count_limit_431(void **state)
{
    http_limits limits = {.max_headers = 4};
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &limits),
                     0);
    assert_int_equal(
        status_of("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", &limits),
        431);
}

static void test_trailers_count_against_limits(void **state)
{
    http_limits limits = {.max_headers = 3};
    const char *head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n";
    char in[256];
    snprintf(in, sizeof(in), "%s0\r\nT: 1\r\n\r\n", head);
    assert_int_equal(status_of(in, &limits), 0);
    snprintf(in, sizeof(in), "%s0\r\nT: 1\r\nU: 2\r\n\r\n", head);
    assert_int_equal(status_of(in, &limits), 431);
}

static void test_body_limit_413(void **state)
{
    http_limits limits = {.max_body = 10};
    assert_int_equal(
        status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", &limits),
        0);
    /* Refused at the head, before any body byte is read. */
    transcript *t = parse_all_ways("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", &limits);
    assert_int_equal(t->status, 413);
    assert_int_equal(t->heads, 0);
    free(t);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: "
                               "18446744073709551615\r\n\r\n",
                               &limits),
                     413);
}

static void test_chunked_body_limit_413(void **state)
{
    http_limits limits = {.max_body = 10};
    const char *head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    char in[256];
    snprintf(in, sizeof(in), "%s5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n", head);
    assert_int_equal(status_of(in, &limits), 0);
    /* The chunk that would pass the limit is refused at its size line. */
    snprintf(in, sizeof(in), "%s5\r\n01234\r\n6\r\n", head);
    transcript *t = parse_all_ways(in, &limits);
    assert_int_equal(t->status, 413);
    assert_int_equal(t->body_len, 5);
    free(t);
}

/* --- framing and smuggling --- */

static void test_smuggling_refused(void **state)
{
    static const struct {
        const char *in;
        int status;
    } cases[] = {
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 3\r\n\r\nabc", 400},
        {"POST / HTTP/1.1\r\n Content-Length: 3\r\nHost: h\r\n\r\nabc", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", 400},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\nX: b\n\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        /* An empty Transfer-Encoding is no framing at all (llhttp 9.4.3 refuses it too). */
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\nContent-Length: 3\r\n\r\nabc", 400},
        /* An empty field name (llhttp 9.2.0 refuses it too), in the head or a trailer. */
        {"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n: v\r\n\r\n", 400},
        /* A LF alone in a field line or in chunk framing. */
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\nabc\r\n0\r\n\r\n", 400},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = status_of(cases[i].in, NULL);
        if (got != cases[i].status)
            fail_msg("case %zu: status %d, want %d: %s", i, got, cases[i].status, cases[i].in);
    }
}

static void test_malformed_400_and_versions_505(void **state)
{
    static const struct {
        const char *in;
        size_t len; /* 0: strlen */
        int status;
    } cases[] = {
        {"FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET / HTTX/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: v\r\n\r\n",
         0, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n", 0, 400},
        {"GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n", 24, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 30, 400},
        /* llhttp 8.1 (not strict) let TAB, FF and 8-bit bytes into the target. */
        {"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET /a\fb HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        /* A quoted-pair in a chunk extension's quoted value: llhttp 8.1 refuses it (9.1.3 reads
         * it); refusing a rare valid input is safe, the request never reaches a handler. */
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"x\\\"y\"\r\nabc\r\n0\r\n\r\n",
         0, 400},
        {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 0, 505},
        {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 0, 505},
        {"GET / HTTP/0.9\r\n\r\n", 0, 505},
        {"GET /\r\n\r\n", 0, 505},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
        for (size_t step = 1; step <= len; step += len - 1) {
            transcript *t = parse_with(cases[i].in, len, step, NULL);
            if (t->status != cases[i].status)
                fail_msg("case %zu step %zu: status %d, want %d", i, step, t->status,
                         cases[i].status);
            free(t);
        }
    }
}

/* RFC 9112 2.2 lets a recipient take a LF alone as a line end; llhttp 8.1 does so after the
 * request line and for the empty line ending the head (nowhere else: see the smuggling cases). */
static void test_lf_alone_ends_request_line_and_head(void **state)
{
    transcript *t = parse_every_cut("GET /a HTTP/1.1\nHost: h\r\n\nGET /b HTTP/1.0\n\n", NULL);
    assert_int_equal(t->status, 0);
    assert_string_equal(t->text, "GET /a ? 1.1 ka=1 cl=0 ch=0 |Host=h| body=\n"
                                 "GET /b ? 1.0 ka=0 cl=0 ch=0 | body=\n");
    free(t);
}

static void test_error_is_sticky(void **state)
{
    transcript t = {0};
    http_parser p;
    assert_int_equal(http_parser_init(&p, NULL, &rec_events, &t), 0);
    size_t used;
    assert_int_equal(http_parser_feed(&p, "BAD!", 4, &used), HTTP_PARSE_ERROR);
    const char *ok = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(http_parser_feed(&p, ok, strlen(ok), &used), HTTP_PARSE_ERROR);
    assert_int_equal(used, 0);
    assert_int_equal(http_parser_error_status(&p), 400);
    assert_true(strlen(http_parser_error_reason(&p)) > 0);
    http_parser_fini(&p);
}

/* --- keep-alive, expect, upgrade, events --- */

static void test_keep_alive_rules(void **state)
{
    static const struct {
        const char *in;
        int keep_alive;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", 0},
        /* llhttp 8.1 reads these as keep-alive (fixed upstream in 9.4.2). */
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\t\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\t, close\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\t\r\n\r\n", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        transcript *t = parse_all_ways(cases[i].in, NULL);
        assert_int_equal(t->status, 0);
        char want[16];
        snprintf(want, sizeof(want), "ka=%d", cases[i].keep_alive);
        if (!strstr(t->text, want))
            fail_msg("case %zu: %s", i, t->text);
        free(t);
    }
}

static void test_expect_continue(void **state)
{
    transcript *t = parse_all_ways(
        "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx", NULL);
    assert_true(t->saw_expect);
    free(t);
    t = parse_all_ways("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", NULL);
    assert_false(t->saw_expect); /* no body to wait for */
    free(t);
    t = parse_all_ways("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", NULL);
    assert_false(t->saw_expect); /* never to an HTTP/1.0 client (RFC 9110 10.1.1) */
    free(t);
    t = parse_all_ways("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue-ish\r\n"
                       "Content-Length: 1\r\n\r\nx",
                       NULL);
    assert_false(t->saw_expect);
    free(t);
}

static void test_upgrade_flag_and_bytes_after_it(void **state)
{
    transcript t = {0};
    http_parser p;
    assert_int_equal(http_parser_init(&p, NULL, &rec_events, &t), 0);
    const char *in = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                     "\x81\x05hello";
    size_t used;
    assert_int_equal(http_parser_feed(&p, in, strlen(in), &used), HTTP_PARSE_DONE);
    assert_true(http_parser_request(&p)->upgrade);
    assert_int_equal(used, strlen(in) - 7);
    /* The rest belongs to another protocol: parsing it as HTTP is refused. */
    http_parser_next(&p);
    assert_int_equal(http_parser_feed(&p, in + used, 7, &used), HTTP_PARSE_ERROR);
    http_parser_fini(&p);
}

static void test_event_refusals(void **state)
{
    transcript *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->refuse_head = 417;
    http_parser p;
    assert_int_equal(http_parser_init(&p, NULL, &rec_events, t), 0);
    const char *in = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    run_parser(&p, in, strlen(in), strlen(in), t);
    assert_int_equal(t->status, 417);
    http_parser_fini(&p);

    memset(t, 0, sizeof(*t));
    t->refuse_body = 500;
    assert_int_equal(http_parser_init(&p, NULL, &rec_events, t), 0);
    run_parser(&p, in, strlen(in), 1, t);
    assert_int_equal(t->status, 500);
    assert_int_equal(t->body_len, 1);
    http_parser_fini(&p);
    free(t);
}

static void test_in_request(void **state)
{
    transcript t = {0};
    http_parser p;
    assert_int_equal(http_parser_init(&p, NULL, &rec_events, &t), 0);
    assert_false(http_parser_in_request(&p));
    size_t used;
    assert_int_equal(http_parser_feed(&p, "\r\n", 2, &used), HTTP_PARSE_MORE);
    assert_false(http_parser_in_request(&p)); /* blank lines before a request are not one */
    assert_int_equal(http_parser_feed(&p, "GE", 2, &used), HTTP_PARSE_MORE);
    assert_true(http_parser_in_request(&p));
    const char *rest = "T / HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(http_parser_feed(&p, rest, strlen(rest), &used), HTTP_PARSE_DONE);
    assert_false(http_parser_in_request(&p));
    http_parser_fini(&p);
}

static void test_limits_resolve_defaults(void **state)
{
    http_limits l = http_limits_resolve(NULL);
    assert_int_equal(l.max_request_line, HTTP_DEFAULT_MAX_REQUEST_LINE);
    assert_int_equal(l.max_header_bytes, HTTP_DEFAULT_MAX_HEADER_BYTES);
    assert_int_equal(l.max_headers, HTTP_DEFAULT_MAX_HEADERS);
    assert_int_equal(l.max_body, HTTP_DEFAULT_MAX_BODY);
    http_parser p;
    http_limits huge = {.max_header_bytes = HTTP_MAX_LIMIT + 1};
    assert_int_equal(http_parser_init(&p, &huge, &rec_events, NULL), -EINVAL);
    http_limits some = {.max_body = 5};
    l = http_limits_resolve(&some);
    assert_int_equal(l.max_body, 5);
    assert_int_equal(l.max_headers, HTTP_DEFAULT_MAX_HEADERS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_at_every_position),
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_header_values_trimmed_and_empty),
        cmocka_unit_test(test_obs_fold_refused),
        cmocka_unit_test(test_header_lookup),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_query_param),
        cmocka_unit_test(test_content_length_body_incremental),
        cmocka_unit_test(test_chunked_with_extensions_and_trailers),
        cmocka_unit_test(test_chunk_extensions_any_number),
        cmocka_unit_test(test_chunk_extension_limit),
        cmocka_unit_test(test_padding_bounded),
        cmocka_unit_test(test_chunk_data_needs_crlf),
        cmocka_unit_test(test_bare_cr_refused),
        cmocka_unit_test(test_host_validated),
        cmocka_unit_test(test_hundred_pipelined_in_one_slice),
        cmocka_unit_test(test_done_stops_right_after_request),
        cmocka_unit_test(test_leading_blank_lines_between_requests),
        cmocka_unit_test(test_arena_grows_then_is_reused),
        cmocka_unit_test(test_request_line_limit_414),
        cmocka_unit_test(test_header_bytes_limit_431),
        cmocka_unit_test(test_header_count_limit_431),
        cmocka_unit_test(test_trailers_count_against_limits),
        cmocka_unit_test(test_body_limit_413),
        cmocka_unit_test(test_chunked_body_limit_413),
        cmocka_unit_test(test_smuggling_refused),
        cmocka_unit_test(test_malformed_400_and_versions_505),
        cmocka_unit_test(test_lf_alone_ends_request_line_and_head),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_keep_alive_rules),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_upgrade_flag_and_bytes_after_it),
        cmocka_unit_test(test_event_refusals),
        cmocka_unit_test(test_in_request),
        cmocka_unit_test(test_limits_resolve_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
