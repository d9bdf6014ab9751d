/* fuzz_http_session.c - one HTTP/1.1 connection without the socket (http_session.h): request
 * bytes in, response bytes out.
 *
 * The first byte chooses small or default limits and whether EOF follows the input; the next
 * two the cuts.  A catch-all route answers every request with its method, path, query and
 * body ("/async..." later, "/stream..." chunked, "/ws" with 101 to an upgrade).  The input is
 * fed once whole and once in cut pieces, asynchronous answers completing after each piece.
 * Invariants: both give the same output byte for byte (but for the status of a last refusal,
 * see http_frames_same_refusal), the same ends and closes and the same bytes left after an
 * upgrade; the output reads back as well-framed responses, one per
 * request (plus at most one refusal) in order, the last saying close when the session closed.
 */
#include <llhttp.h>

#include "fuzz.h"
#include "http/http_session.h"
#include "http_frames.h"

#define FIXED_UNIX_NS (784111777ull * 1000000000ull)

typedef struct conn_double {
    fuzz_buf out;
    http_session s;
    http_response *held; /* an asynchronous answer to give */
    int ends, closes;
} conn_double;

static int sink_write(void *ctx, const void *data, size_t len)
{
    fuzz_buf_put(&((conn_double *)ctx)->out, data, len);
    return 0;
}

static int sink_write_ref(void *ctx, const void *data, size_t len, void (*release)(void *),
                          void *arg)
{
    sink_write(ctx, data, len);
    if (release)
        release(arg);
    return 0;
}

static void on_end(void *ctx, bool keep_alive)
{
    conn_double *c = ctx;
    c->ends++;
    c->closes += !keep_alive;
}

static const http_session_ops ops = {
    .out = {.write = sink_write, .write_ref = sink_write_ref},
    .end = on_end,
};

static void on_watch(http_response *res, enum http_res_event event, void *arg)
{
    conn_double *c = arg;
    if (event == HTTP_RES_CLOSED)
        c->held = NULL;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int answer(http_request *req, http_response *res, void *arg)
{
    conn_double *c = http_res_sink_ctx(res);
    if (starts(req->path, "/async")) {
        c->held = res;
        http_res_watch(res, on_watch, c);
        return HTTP_ASYNC;
    }
    if (req->upgrade && starts(req->path, "/ws")) {
        http_res_header(res, "Upgrade", "websocket");
        return http_res_start(res, 101, NULL, 0);
    }
    fuzz_buf text = {0};
    const char *method = http_method_name(req->method);
    fuzz_buf_put(&text, method, strlen(method));
    fuzz_buf_put(&text, req->path, strlen(req->path));
    fuzz_buf_put(&text, "?", 1);
    fuzz_buf_put(&text, req->query, strlen(req->query));
    fuzz_buf_put(&text, "\n", 1);
    fuzz_buf_put(&text, req->body, req->body_len);
    int rc;
    if (starts(req->path, "/stream")) {
        rc = http_res_start(res, 200, "text/plain", HTTP_LENGTH_UNKNOWN);
        if (!rc)
            rc = http_res_write(res, text.data, text.len / 2);
        if (!rc)
            rc = http_res_write(res, text.data + text.len / 2, text.len - text.len / 2);
        if (!rc)
            rc = http_res_end(res);
    } else {
        rc = http_res_send(res, 200, "text/plain", text.data, text.len);
    }
    fuzz_buf_free(&text);
    return rc;
}

static void complete_async(conn_double *c)
{
    while (c->held) {
        http_response *res = c->held;
        c->held = NULL;
        http_res_send(res, 200, "text/plain", "later", 5);
    }
}

/* Feeds in[0..len) in cut pieces (one piece when cut is NULL). */
static void serve(const http_session_config *cfg, const uint8_t *in, size_t len, bool eof,
                  fuzz_cut *cut, conn_double *c)
{
    FUZZ_CHECK(http_session_init(&c->s, cfg, &ops, c) == 0, "init");
    for (size_t at = 0; at < len;) {
        size_t n = cut ? fuzz_cut_next(cut, len - at) : len - at;
        FUZZ_CHECK(http_session_feed(&c->s, (const char *)in + at, n) == 0, "feed");
        complete_async(c);
        at += n;
    }
    if (eof) {
        http_session_eof(&c->s);
        complete_async(c);
    }
}

static int method_seen(void *ctx, http_request *req)
{
    fuzz_buf *methods = ctx;
    fuzz_buf_put(methods, &req->method, sizeof(req->method));
    return 0;
}

static int body_skipped(void *ctx, const char *data, size_t len)
{
    return 0;
}

/* The method of each request in the input, in order, as the session's own parser reads them. */
static fuzz_buf request_methods(const http_limits *limits, const uint8_t *in, size_t len)
{
    static const http_parser_events events = {.on_head = method_seen, .on_body = body_skipped};
    fuzz_buf methods = {0};
    http_parser p;
    FUZZ_CHECK(http_parser_init(&p, limits, &events, &methods) == 0, "parser init");
    size_t at = 0, used;
    while (at < len && http_parser_feed(&p, (const char *)in + at, len - at, &used) == HTTP_PARSE_DONE) {
        at += used;
        http_parser_next(&p);
    }
    http_parser_fini(&p);
    return methods;
}

/* The cut input was answered as the whole was: same bytes (but for the status of a last
 * refusal), same ends and closes, same state and bytes after an upgrade. */
static void check_cut_changes_nothing(conn_double *whole, conn_double *pieces, const http_frames *f,
                                      const fuzz_buf *methods)
{
    if (!fuzz_buf_equal(&whole->out, &pieces->out)) {
        http_frames g = http_frames_check(pieces->out.data, pieces->out.len,
                                          (const int *)methods->data, methods->len / sizeof(int));
        FUZZ_CHECK(f->last_at == g.last_at && memcmp(whole->out.data, pieces->out.data, f->last_at) == 0 &&
                       f->closed && g.closed && http_frames_same_refusal(f->last_status, g.last_status),
                   "cut input answered differently");
    }
    FUZZ_CHECK(whole->ends == pieces->ends && whole->closes == pieces->closes,
               "ends %d/%d, closes %d/%d", whole->ends, pieces->ends, whole->closes, pieces->closes);
    const char *left_whole, *left_pieces;
    size_t n_whole = http_session_leftover(&whole->s, &left_whole);
    size_t n_pieces = http_session_leftover(&pieces->s, &left_pieces);
    FUZZ_CHECK(http_session_state(&whole->s) == http_session_state(&pieces->s), "state");
    if (http_session_state(&whole->s) == HTTP_SESSION_UPGRADED)
        FUZZ_CHECK(n_whole == n_pieces && memcmp(left_whole, left_pieces, n_whole) == 0,
                   "bytes after the upgrade differ");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode;
    fuzz_cut cut;
    if (!fuzz_take_prefix(&data, &size, &mode, &cut))
        return 0;
    http_router *router;
    FUZZ_CHECK(http_router_create(&router) == 0, "router");
    FUZZ_CHECK(http_route_prefix(router, HTTP_ANY_METHOD, "/", answer, NULL) == 0, "route");
    http_date_cache date;
    http_date_cache_init(&date, FIXED_UNIX_NS);
    http_session_config cfg = {.router = router, .date = &date};
    if (mode & 1)
        cfg.limits = (http_limits){.max_request_line = 64, .max_header_bytes = 256,
                                   .max_headers = 8, .max_body = 64};
    bool eof = mode & 2;

    conn_double *whole = calloc(1, sizeof(*whole)), *pieces = calloc(1, sizeof(*pieces));
    FUZZ_CHECK(whole && pieces, "out of memory");
    serve(&cfg, data, size, eof, NULL, whole);
    serve(&cfg, data, size, eof, &cut, pieces);
    fuzz_buf methods = request_methods(&cfg.limits, data, size);
    size_t requests = methods.len / sizeof(int);
    http_frames f = http_frames_check(whole->out.data, whole->out.len, (const int *)methods.data,
                                      requests);
    check_cut_changes_nothing(whole, pieces, &f, &methods);

    FUZZ_CHECK(f.finals <= requests + 1, "%zu responses to %zu requests", f.finals, requests);
    FUZZ_CHECK(!f.closed || whole->closes > 0, "said close, did not close");
    FUZZ_CHECK(!eof || whole->closes > 0 || f.upgraded, "EOF did not end the session");

    http_session_fini(&whole->s);
    http_session_fini(&pieces->s);
    fuzz_buf_free(&whole->out);
    fuzz_buf_free(&pieces->out);
    fuzz_buf_free(&methods);
    free(whole);
    free(pieces);
    http_router_destroy(router);
    return 0;
}
