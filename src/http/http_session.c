/* http_session.c - parse, route, answer in order; keep what arrives while an answer is pending.
 *
 * Flow: process() runs the parser over a slice until it needs more bytes or the session stops
 * reading (an asynchronous answer, an error, an upgrade).  A response's end comes back through
 * on_response_end(); outside the handler call that is an asynchronous answer finishing, so the
 * session moves on and parses what it kept meanwhile.
 */
#include "http/http_session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Grow *buf to hold at least need bytes (doubling, at most cap_max); 0 or -ENOMEM. */
static int reserve(char **buf, size_t *cap, size_t need, size_t cap_max)
{
    if (need <= *cap)
        return 0;
    if (need > SIZE_MAX / 2)
        return -ENOMEM;
    size_t cap_new = *cap ? *cap : 1024;
    while (cap_new < need)
        cap_new *= 2;
    if (cap_new > cap_max && need <= cap_max)
        cap_new = cap_max;
    char *grown = realloc(*buf, cap_new);
    if (!grown)
        return -ENOMEM;
    *buf = grown;
    *cap = cap_new;
    return 0;
}

static size_t body_cap_max(const http_session *s)
{
    return (size_t)s->parser.limits.max_body + 1; /* + the NUL after the body */
}

static int on_head(void *ctx, http_request *req)
{
    http_session *s = ctx;
    s->body_len = 0;
    s->ended = false; /* a new exchange: its answer has not ended (or failed) yet */
    http_res_begin(&s->res, req);
    if (!req->chunked && req->content_length &&
        reserve(&s->body, &s->body_cap, req->content_length + 1, body_cap_max(s)))
        return 500;
    if (req->expect_continue)
        http_res_continue(&s->res); /* a failing sink fails the answer too */
    return 0;
}

static int on_body(void *ctx, const char *data, size_t len)
{
    http_session *s = ctx;
    if (reserve(&s->body, &s->body_cap, s->body_len + len + 1, body_cap_max(s)))
        return 500;
    memcpy(s->body + s->body_len, data, len);
    s->body_len += len;
    return 0;
}

static const http_parser_events parser_events = {.on_head = on_head, .on_body = on_body};

static void close_now(http_session *s)
{
    s->state = HTTP_SESSION_CLOSING;
    s->ops->end(s->ctx, false);
}

static void answer_error(http_session *s, int status)
{
    http_res_begin(&s->res, NULL);
    http_res_error(&s->res, status);
    close_now(s);
}

/* The response ended: decide what the connection does next. */
static void after_response(http_session *s)
{
    if (s->body_cap > HTTP_SESSION_BODY_KEEP) {
        free(s->body);
        s->body = NULL;
        s->body_cap = 0;
    }
    s->body_len = 0;
    if (http_res_status(&s->res) == 101 && s->end_keep_alive) {
        s->state = HTTP_SESSION_UPGRADED;
        s->ops->end(s->ctx, true);
    } else if (!s->end_keep_alive) {
        close_now(s);
    } else {
        http_parser_next(&s->parser);
        s->state = HTTP_SESSION_READING;
        s->ops->end(s->ctx, true);
    }
}

static void dispatch(http_session *s)
{
    http_request *req = http_parser_request(&s->parser);
    if (s->body)
        s->body[s->body_len] = '\0';
    req->body = s->body_len ? s->body : "";
    req->body_len = s->body_len;
    s->dispatching = true;
    http_router_dispatch(s->cfg->router, req, &s->res);
    s->dispatching = false;
    if (s->ended)
        after_response(s);
    else
        s->state = HTTP_SESSION_RESPONDING;
}

/* The connection's output is over its budget: a pipelined request waiting for its turn would
 * only add to it (and a file response would hold one more open file). */
static bool output_full(const http_session *s)
{
    return s->ops->output_full && s->ops->output_full(s->ctx);
}

/* Parse and answer while the session reads; returns the bytes used.  A new request is not
 * started while the output is full: the session waits for http_session_drain(). */
static size_t process(http_session *s, const char *data, size_t len)
{
    size_t off = 0;
    while (s->state == HTTP_SESSION_READING) {
        if (off < len && !http_parser_in_request(&s->parser) && output_full(s)) {
            s->output_wait = true;
            break;
        }
        size_t used;
        http_parse_result r = http_parser_feed(&s->parser, data + off, len - off, &used);
        off += used;
        if (r == HTTP_PARSE_MORE)
            break;
        if (r == HTTP_PARSE_ERROR)
            answer_error(s, http_parser_error_status(&s->parser));
        else
            dispatch(s);
    }
    return off;
}

static void set_read_paused(http_session *s, bool paused)
{
    if (s->read_paused == paused || !s->ops->read_pause)
        return;
    s->read_paused = paused;
    s->ops->read_pause(s->ctx, paused);
}

static int hold(http_session *s, const char *data, size_t len)
{
    if (s->held_off) { /* drop what was parsed already */
        memmove(s->held, s->held + s->held_off, s->held_len - s->held_off);
        s->held_len -= s->held_off;
        s->held_off = 0;
    }
    if (reserve(&s->held, &s->held_cap, s->held_len + len, SIZE_MAX))
        return -ENOMEM;
    memcpy(s->held + s->held_len, data, len);
    s->held_len += len;
    if (s->output_wait || (s->held_len > HTTP_SESSION_HOLD_PAUSE && s->state == HTTP_SESSION_RESPONDING))
        set_read_paused(s, true);
    return 0;
}

/* Parse what was kept while a response was pending. */
static void drain_held(http_session *s)
{
    while (s->state == HTTP_SESSION_READING && !s->output_wait && s->held_off < s->held_len)
        s->held_off += process(s, s->held + s->held_off, s->held_len - s->held_off);
    if (s->state == HTTP_SESSION_CLOSING || s->held_off == s->held_len)
        s->held_off = s->held_len = 0;
    if (s->state != HTTP_SESSION_RESPONDING && !s->output_wait) /* kept bytes no longer grow */
        set_read_paused(s, false);
    if (s->state == HTTP_SESSION_READING && !s->output_wait && s->eof)
        close_now(s);
}

static void on_response_end(void *owner, bool keep_alive)
{
    http_session *s = owner;
    s->ended = true;
    s->end_keep_alive = keep_alive;
    if (s->dispatching || s->state != HTTP_SESSION_RESPONDING)
        return; /* dispatch() or answer_error() takes it from here */
    if (s->ops->cork)
        s->ops->cork(s->ctx, true);
    after_response(s);
    drain_held(s);
    if (s->ops->cork)
        s->ops->cork(s->ctx, false);
}

int http_session_init(http_session *s, const http_session_config *cfg,
                      const http_session_ops *ops, void *ctx)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->ops = ops;
    s->ctx = ctx;
    int rc = http_parser_init(&s->parser, &cfg->limits, &parser_events, s);
    if (rc)
        return rc;
    rc = http_res_init(&s->res, &ops->out, ctx, cfg->date, on_response_end, s);
    if (rc) {
        http_parser_fini(&s->parser);
        return rc;
    }
    return 0;
}

void http_session_fini(http_session *s)
{
    if (s->state == HTTP_SESSION_RESPONDING)
        http_res_notify(&s->res, HTTP_RES_CLOSED);
    http_res_fini(&s->res);
    http_parser_fini(&s->parser);
    free(s->body);
    free(s->held);
    s->body = s->held = NULL;
}

bool http_session_idle(const http_session *s)
{
    return s->state == HTTP_SESSION_READING && !http_parser_in_request(&s->parser) &&
           s->held_off == s->held_len && !s->read_paused && !s->eof;
}

void http_session_reuse(http_session *s, void *ctx)
{
    http_parser_reuse(&s->parser);
    http_res_rebind(&s->res, ctx);
    s->ctx = ctx;
    s->body_len = 0;
    s->held_off = s->held_len = 0;
    s->state = HTTP_SESSION_READING;
    s->dispatching = s->ended = s->end_keep_alive = s->eof = s->read_paused = false;
}

int http_session_feed(http_session *s, const char *data, size_t len)
{
    if (s->state == HTTP_SESSION_READING && !s->output_wait) { /* else kept bytes go first */
        size_t used = process(s, data, len);
        data += used;
        len -= used;
    }
    if (!len || s->state == HTTP_SESSION_CLOSING)
        return 0;
    int rc = hold(s, data, len);
    if (rc) {
        if (s->state == HTTP_SESSION_RESPONDING)
            http_res_notify(&s->res, HTTP_RES_CLOSED);
        close_now(s);
    }
    return rc;
}

void http_session_eof(http_session *s)
{
    s->eof = true;
    if (s->state == HTTP_SESSION_READING && !s->output_wait)
        close_now(s); /* a partial request cannot be finished: nothing to answer */
}

void http_session_timeout(http_session *s)
{
    if (s->state == HTTP_SESSION_CLOSING)
        return;
    if (s->state == HTTP_SESSION_READING && http_parser_in_request(&s->parser)) {
        answer_error(s, 408);
        return;
    }
    if (s->state == HTTP_SESSION_RESPONDING)
        http_res_notify(&s->res, HTTP_RES_CLOSED);
    close_now(s);
}

void http_session_drain(http_session *s)
{
    if (s->state == HTTP_SESSION_RESPONDING) {
        http_res_notify(&s->res, HTTP_RES_DRAINED);
    } else if (s->output_wait) {
        s->output_wait = false;
        if (s->ops->cork)
            s->ops->cork(s->ctx, true);
        drain_held(s);
        if (s->ops->cork)
            s->ops->cork(s->ctx, false);
    }
}

enum http_session_state http_session_state(const http_session *s)
{
    return s->state;
}

bool http_session_in_request(const http_session *s)
{
    return s->state == HTTP_SESSION_READING && http_parser_in_request(&s->parser);
}

bool http_session_in_head(const http_session *s)
{
    return http_session_in_request(s) && !s->parser.head_done;
}

size_t http_session_leftover(const http_session *s, const char **data)
{
    bool kept = s->state == HTTP_SESSION_UPGRADED || s->state == HTTP_SESSION_RESPONDING;
    if (!kept || !s->held) {
        *data = "";
        return 0;
    }
    *data = s->held + s->held_off;
    return s->held_len - s->held_off;
}
