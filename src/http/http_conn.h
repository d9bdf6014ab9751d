/* http_conn.h - HTTP/1.1 as a protocol on a connection (proto.h): the session (http_session.h)
 * glued onto conn.h.
 *
 * Every received slice goes to the session; what it writes lands in the connection's output
 * queue (file bodies as file ranges, conn_write_file), so the responses produced from one read
 * leave in one send.  The connection's timer enforces:
 *   - header_timeout_ms from a request's first byte until its head is complete, and between two
 *     reads of its body: 408, then close (slowloris, slow bodies);
 *   - a body arriving at less than min_body_rate bytes a second on average, counted from its
 *     head once its first header_timeout_ms are over: 408, then close (a trickle never silent
 *     for long: each byte buys 1/rate s, not a whole timeout);
 *   - keepalive_timeout_ms of silence between requests: close, nothing sent; a peer that was
 *     still taking the last response is silent only since its last acknowledgement;
 *   - while output is queued here or unacknowledged in the kernel, keepalive_timeout_ms without
 *     the peer taking any of it (what it acknowledged: a large file leaves the queue in one op,
 *     and the socket may hold megabytes after it): close; a peer that stops reading after
 *     earlier progress gets one more such period.
 * An http_app is shared by the connections of one loop (proto arg); it must outlive them.  Its
 * date cache is ticked by the connections themselves, so the Date prefix is formatted at most
 * once per second whatever the request rate.
 *
 * Handlers that answer later, from callbacks of their own (the file layer), bracket what they
 * do with http_conn_enter()/http_conn_leave(): the responses it completes leave in one send, and
 * a WebSocket upgrade that became due meanwhile is carried out on leave.
 */
#ifndef IOSERVE_HTTP_CONN_H
#define IOSERVE_HTTP_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "http/http_session.h"

#define HTTP_DEFAULT_HEADER_TIMEOUT_MS 10000u
#define HTTP_DEFAULT_KEEPALIVE_TIMEOUT_MS 15000u
#define HTTP_DEFAULT_MIN_BODY_RATE 500u /* bytes a second */

/* Sessions an app keeps for its connections' next requests; more are freed. */
#define HTTP_APP_SPARE_SESSIONS 64u

typedef struct http_app {
    http_session_config session; /* router, limits; .date points at date below */
    http_date_cache date;
    uint64_t header_timeout_ms;    /* 0: default */
    uint64_t keepalive_timeout_ms; /* 0: default */
    uint64_t min_body_rate;        /* bytes a second; set by http_app_init, may be changed after */
    http_session *spare[HTTP_APP_SPARE_SESSIONS]; /* idle sessions, for a request's first byte */
    uint32_t spare_count;
} http_app;

/* Point the session config at the date cache and fill in the defaults.  router must outlive
 * the app. */
void http_app_init(http_app *app, const http_router *router, const http_limits *limits,
                   uint64_t header_timeout_ms, uint64_t keepalive_timeout_ms);
/* Free the spare sessions, once no connection of the app is left. */
void http_app_fini(http_app *app);

/* The protocol; on_open's arg is an http_app *. */
extern const struct proto http_proto;

typedef struct http_conn http_conn;

/* The connection behind a response being answered (the response's sink ctx). */
http_conn *http_conn_of(http_response *res);
conn *http_conn_conn(const http_conn *hc);
/* The current wall-clock second, as the date cache has it (ticked first). */
int64_t http_conn_now(http_conn *hc);

void http_conn_enter(http_conn *hc);
void http_conn_leave(http_conn *hc);

/* Takes a connection over after an upgrade request (the contract of ws_conn_upgrade_to() in
 * ws/ws_conn.h): 0 when it wrote the 101 and switched the connection's protocol (conn.h
 * conn_switch_proto); -errno when it refused, wrote the error response itself and closed the
 * connection.  leftover: the bytes after the request, valid during the call only. */
typedef int (*http_upgrade_fn)(conn *c, const http_request *req, const char *leftover,
                               size_t leftover_len, void *arg);

/* For an upgrade route (/ws): the handler calls it and returns HTTP_ASYNC; once the callback
 * in progress is done (every earlier response queued), fn gets the connection, the request and
 * the bytes after it; then HTTP frees its state (switched) or stays closing (refused). */
void http_conn_upgrade_later(http_conn *hc, http_upgrade_fn fn, void *arg);

#endif
