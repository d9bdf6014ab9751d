/* http_conn.c - the HTTP session on a connection: sink, timers, upgrades (http_conn.h).
 *
 * A connection holds its session only from the first byte of a request until it is idle again
 * (http_session_idle): then the session goes back to the loop's app, whose few spares serve
 * the next connection that speaks.  So a connection idle between requests costs this small
 * struct and nothing of the parser, the arena or the response head.
 *
 * Every entry into the session (a conn callback, or an asynchronous handler's own callback)
 * is bracketed by http_conn_enter()/http_conn_leave(): the connection stays corked inside, so
 * what the session writes leaves in one send, and leave() is the one place that looks at the
 * session afterwards -- to run a due upgrade, free a connection handed to another protocol, or
 * move the deadline.
 */
#include "http/http_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net.h"

struct http_conn {
    http_session *session; /* NULL while idle between requests */
    http_app *app;
    conn *c;
    unsigned depth;        /* http_conn_enter() nesting */
    bool head_timing;      /* the header deadline runs for the request being read */
    bool upgrade_due;
    bool gone;             /* handed to another protocol: freed on the outermost leave */
    bool stopping;         /* the server is stopping: close once the response in flight ends */
    http_upgrade_fn upgrade;
    void *upgrade_arg;
    size_t queued_at_arm;  /* output queued when the idle deadline was set */
    uint64_t acked_at_check; /* bytes the peer had acknowledged at the last deadline */
    uint32_t idle_for_ms;  /* how long the peer has been idle already when the deadline is set */
    uint64_t body_since_ms; /* loop time the body being read began at (0: none) */
};

static uint64_t wall_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void http_app_fini(http_app *app)
{
    while (app->spare_count) {
        http_session *s = app->spare[--app->spare_count];
        http_session_fini(s);
        free(s);
    }
}

void http_app_init(http_app *app, const http_router *router, const http_limits *limits,
                   uint64_t header_timeout_ms, uint64_t keepalive_timeout_ms)
{
    memset(app, 0, sizeof(*app));
    app->session.router = router;
    if (limits)
        app->session.limits = *limits;
    http_date_cache_init(&app->date, wall_clock_ns());
    app->session.date = &app->date;
    app->header_timeout_ms = header_timeout_ms ? header_timeout_ms : HTTP_DEFAULT_HEADER_TIMEOUT_MS;
    app->keepalive_timeout_ms =
        keepalive_timeout_ms ? keepalive_timeout_ms : HTTP_DEFAULT_KEEPALIVE_TIMEOUT_MS;
    app->min_body_rate = HTTP_DEFAULT_MIN_BODY_RATE;
}

/* ---- the session's side ---- */

static int sink_write(void *ctx, const void *data, size_t len)
{
    http_conn *hc = ctx;
    return conn_write(hc->c, data, len);
}

static int sink_write_ref(void *ctx, const void *data, size_t len, void (*release)(void *arg),
                          void *arg)
{
    http_conn *hc = ctx;
    return conn_write_ref(hc->c, data, len, release, arg);
}

static int sink_sendfile(void *ctx, int fd, uint64_t offset, uint64_t len,
                         void (*release)(void *arg), void *arg)
{
    http_conn *hc = ctx;
    return conn_write_file(hc->c, fd, offset, len, release, arg);
}

static void session_end(void *ctx, bool keep_alive)
{
    http_conn *hc = ctx;
    if (!keep_alive || (hc->stopping && http_session_state(hc->session) != HTTP_SESSION_UPGRADED))
        conn_close(hc->c);
}

static void session_read_pause(void *ctx, bool paused)
{
    http_conn *hc = ctx;
    if (paused)
        conn_read_pause(hc->c);
    else
        conn_read_resume(hc->c);
}

static void session_cork(void *ctx, bool on)
{
    http_conn *hc = ctx;
    if (on)
        conn_cork(hc->c);
    else
        conn_uncork(hc->c);
}

static bool session_output_full(void *ctx)
{
    http_conn *hc = ctx;
    return conn_output_full(hc->c);
}

static const http_session_ops session_ops = {
    .out = {.write = sink_write, .write_ref = sink_write_ref, .sendfile = sink_sendfile},
    .end = session_end,
    .read_pause = session_read_pause,
    .cork = session_cork,
    .output_full = session_output_full,
};

/* ---- the session: taken on a request's first byte, given back once idle ---- */

static http_session *session_take(http_conn *hc)
{
    http_app *app = hc->app;
    if (app->spare_count) {
        http_session *s = app->spare[--app->spare_count];
        http_session_reuse(s, hc);
        return s;
    }
    http_session *s = malloc(sizeof(*s));
    if (s && http_session_init(s, &app->session, &session_ops, hc) < 0) {
        free(s);
        s = NULL;
    }
    return s;
}

/* The session goes: kept for another connection when idle and there is room, else freed
 * (telling an unfinished response the connection is gone). */
static void session_drop(http_conn *hc)
{
    http_session *s = hc->session;
    http_app *app = hc->app;
    hc->session = NULL;
    if (!s)
        return;
    if (http_session_idle(s) && app->spare_count < HTTP_APP_SPARE_SESSIONS) {
        app->spare[app->spare_count++] = s;
        return;
    }
    http_session_fini(s);
    free(s);
}

/* ---- deadlines ---- */

static void set_deadline(http_conn *hc, uint64_t ms)
{
    /* -EPIPE: the connection is closing already (a refused upgrade) and keeps its own deadline. */
    int err = conn_timer_set(hc->c, ms);
    if (err < 0 && err != -EPIPE)
        conn_abort(hc->c);
}

/* A body must keep coming: silent for the header timeout, or behind min_body_rate on average
 * once its first header timeout is over, it gets 408.  Moved by every read, but each byte
 * moves the rate's deadline by 1/rate s only: a one-byte-a-second trickle runs out. */
static uint64_t body_deadline_ms(http_conn *hc)
{
    uint64_t now_ms = io_loop_now_ns(conn_loop(hc->c)) / 1000000u;
    if (!hc->body_since_ms)
        hc->body_since_ms = now_ms;
    uint64_t due_ms = hc->body_since_ms + hc->app->header_timeout_ms +
                      (uint64_t)hc->session->body_len * 1000u / hc->app->min_body_rate;
    uint64_t rate_ms = due_ms > now_ms ? due_ms - now_ms : 0;
    return rate_ms < hc->app->header_timeout_ms ? rate_ms : hc->app->header_timeout_ms;
}

static void update_timer(http_conn *hc)
{
    const http_session *s = hc->session;
    uint32_t idle_for_ms = hc->idle_for_ms; /* meant for this arm only, whichever it is */
    hc->idle_for_ms = 0;
    if (s && http_session_state(s) == HTTP_SESSION_CLOSING)
        return; /* conn_close() set its own deadline */
    if (!s || !http_session_in_request(s) || http_session_in_head(s))
        hc->body_since_ms = 0;
    if (s && http_session_in_head(s)) {
        /* Armed once per head, not moved by its bytes: a trickle cannot keep it alive. */
        if (!hc->head_timing)
            set_deadline(hc, hc->app->header_timeout_ms);
        hc->head_timing = true;
        return;
    }
    hc->head_timing = false;
    uint64_t ms = s && http_session_in_request(s) ? body_deadline_ms(hc)
                                             : hc->app->keepalive_timeout_ms - idle_for_ms;
    hc->queued_at_arm = conn_queued(hc->c);
    set_deadline(hc, ms);
}

/* ---- upgrades ---- */

static void free_conn(http_conn *hc)
{
    session_drop(hc);
    free(hc);
}

static void run_upgrade(http_conn *hc)
{
    hc->upgrade_due = false;
    const char *leftover;
    size_t leftover_len = http_session_leftover(hc->session, &leftover);
    const http_request *req = http_parser_request(&hc->session->parser);
    conn_timer_clear(hc->c); /* HTTP's deadline must not reach the next protocol's on_timer */
    int rc = hc->upgrade(hc->c, req, leftover, leftover_len, hc->upgrade_arg);
    if (rc == 0 && conn_proto(hc->c) != &http_proto) {
        hc->gone = true;
        return;
    }
    conn_close(hc->c); /* refused: the error response is written; nothing more is read */
}

void http_conn_upgrade_later(http_conn *hc, http_upgrade_fn fn, void *arg)
{
    hc->upgrade_due = true;
    hc->upgrade = fn;
    hc->upgrade_arg = arg;
}

/* ---- entering and leaving the session ---- */

http_conn *http_conn_of(http_response *res)
{
    return http_res_sink_ctx(res);
}

conn *http_conn_conn(const http_conn *hc)
{
    return hc->c;
}

int64_t http_conn_now(http_conn *hc)
{
    http_date_cache_tick(&hc->app->date, wall_clock_ns());
    return hc->app->date.second;
}

void http_conn_enter(http_conn *hc)
{
    conn_cork(hc->c);
    if (hc->depth++ == 0)
        http_date_cache_tick(&hc->app->date, wall_clock_ns());
}

void http_conn_leave(http_conn *hc)
{
    conn *c = hc->c;
    if (--hc->depth == 0) {
        if (hc->upgrade_due)
            run_upgrade(hc);
        if (hc->gone) {
            free_conn(hc);
        } else {
            if (hc->session && http_session_idle(hc->session))
                session_drop(hc);
            update_timer(hc);
        }
    }
    conn_uncork(c);
}

/* ---- the protocol ---- */

static int on_open(conn *c, void *arg)
{
    http_conn *hc = calloc(1, sizeof(*hc));
    if (!hc)
        return -ENOMEM;
    hc->app = arg;
    hc->c = c;
    conn_set_state(c, hc);
    http_conn_enter(hc);
    http_conn_leave(hc); /* arms the idle deadline */
    return 0;
}

static void on_data(conn *c, const char *data, size_t len)
{
    http_conn *hc = conn_state(c);
    if (!hc->session && !(hc->session = session_take(hc))) {
        conn_abort(c);
        return;
    }
    http_conn_enter(hc);
    http_session_feed(hc->session, data, len);
    http_conn_leave(hc);
}

static void on_eof(conn *c)
{
    http_conn *hc = conn_state(c);
    if (!hc->session) { /* between requests: nothing to finish */
        conn_close(c);
        return;
    }
    http_conn_enter(hc);
    http_session_eof(hc->session);
    http_conn_leave(hc);
}

static void on_drain(conn *c)
{
    http_conn *hc = conn_state(c);
    if (!hc->session)
        return; /* no response to tell */
    http_conn_enter(hc);
    http_session_drain(hc->session);
    http_conn_leave(hc);
}

static void on_timer(conn *c)
{
    http_conn *hc = conn_state(c);
    size_t queued = conn_queued(c);
    http_conn_enter(hc);
    /* Between requests, a peer still taking our output -- queued here, or already in the
     * kernel's send buffer -- is neither idle nor stalled.  A send op completes only once all it
     * carries is in the socket, and the socket may hold megabytes that a slow reader takes for
     * longer than the timeout: what the peer acknowledged tells.  Read at the deadline only
     * (system calls), so the first check after earlier traffic compares with an old count, and
     * a peer that stops reading is closed after one or two timeouts.  A peer that took the last
     * of it since the last look has been idle only since its last acknowledgement: the deadline
     * moves to the end of that idle time (closing it here would lose the request it may be
     * sending right now). */
    bool progress = false;
    if (!hc->session || !http_session_in_request(hc->session)) {
        net_tcp_progress p = {.acked = hc->acked_at_check, .unacked = 0, .last_ack_ms = UINT32_MAX};
        (void)net_tcp_progress_get(conn_fd(c), &p); /* unknown: the queue alone decides */
        bool pending = queued || p.unacked;
        bool took = p.acked != hc->acked_at_check;
        progress = pending && (queued != hc->queued_at_arm || took);
        if (!pending && took && p.last_ack_ms < hc->app->keepalive_timeout_ms) {
            hc->idle_for_ms = p.last_ack_ms;
            progress = true;
        }
        hc->acked_at_check = p.acked;
    }
    if (!progress && hc->session)
        http_session_timeout(hc->session);
    else if (!progress)
        conn_close(c); /* idle between requests for the whole keep-alive timeout */
    http_conn_leave(hc);
}

/* Idle between requests: close now.  A request partly received or being answered finishes
 * first; session_end() closes after its response. */
static void on_shutdown(conn *c)
{
    http_conn *hc = conn_state(c);
    hc->stopping = true;
    if (!hc->session ||
        (!http_session_in_request(hc->session) && http_session_state(hc->session) == HTTP_SESSION_READING))
        conn_close(c);
}

static void on_close(conn *c)
{
    http_conn *hc = conn_state(c);
    if (hc)
        free_conn(hc);
}

const struct proto http_proto = {
    .name = "http",
    .on_open = on_open,
    .on_data = on_data,
    .on_eof = on_eof,
    .on_drain = on_drain,
    .on_timer = on_timer,
    .on_shutdown = on_shutdown,
    .on_close = on_close,
};
