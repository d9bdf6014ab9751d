/* http_session.h - one HTTP/1.1 server connection without the socket: bytes in, bytes out.
 *
 * The connection layer feeds every received slice to http_session_feed() and implements
 * http_session_ops; the session parses (http_parser), routes (http_router), buffers each body
 * for its handler and writes the responses (http_response) through ops->out.  So a connection
 * is glue: on_data -> feed, on_eof -> eof, on_timer -> timeout, on_drain -> drain,
 * on_close -> fini, and ops->end(keep_alive == false) -> close once the output is sent.
 *
 * Ordering: requests are answered strictly in order.  Pipelined requests in one slice are all
 * answered inside the feed call when their handlers answer at once, so their responses leave in
 * one send.  While a handler answers asynchronously, later bytes are kept (copied) by the
 * session and parsed once that response ends; past HTTP_SESSION_HOLD_PAUSE kept bytes it asks
 * ops->read_pause(true) and later read_pause(false).  While ops->output_full says the
 * connection's output is over its budget, no further request is started: the bytes behind are
 * kept, reading pauses, and http_session_drain() (everything sent) parses on -- so a peer that
 * pipelines and never reads holds one output budget, not one response per request received.
 *
 * Errors from the parser (400, 413, 414, 431, 501, 505) and a 408 on timeout are answered with
 * a short body and "Connection: close".  "Expect: 100-continue" gets "100 Continue" once the
 * head passed every check.  A request that asked to upgrade and got 101 leaves the session in
 * HTTP_SESSION_UPGRADED: the bytes after it (http_session_leftover) belong to the new protocol.
 * Memory: the parser arena, the response head and the body buffer are per session and reused;
 * a body buffer grown past HTTP_SESSION_BODY_KEEP is freed after its response.
 */
#ifndef IOSERVE_HTTP_SESSION_H
#define IOSERVE_HTTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http_parser.h"
#include "http/http_response.h"
#include "http/http_router.h"

#define HTTP_SESSION_HOLD_PAUSE (64u * 1024u)
#define HTTP_SESSION_BODY_KEEP (64u * 1024u)

/* Shared by the sessions of one loop; must outlive them. */
typedef struct http_session_config {
    const http_router *router;
    const http_date_cache *date; /* ticked by the loop's owner */
    http_limits limits;          /* zero fields: defaults */
} http_session_config;

typedef struct http_session_ops {
    http_sink_ops out;
    /* A response ended.  keep_alive false: close once the queued output is sent (also said
     * after a timeout or EOF with nothing to send). */
    void (*end)(void *ctx, bool keep_alive);
    /* Optional: stop (true) or restart (false) reading; see "Ordering". */
    void (*read_pause)(void *ctx, bool paused);
    /* Optional: hold output back (true), then let it leave in one send (false), as
     * conn_cork()/conn_uncork() do.  The session brackets the answers it writes outside
     * http_session_feed() with it: the kept requests answered when an asynchronous answer ends. */
    void (*cork)(void *ctx, bool on);
    /* Optional: the output is over its budget (conn_output_full()); see "Ordering". */
    bool (*output_full)(void *ctx);
} http_session_ops;

enum http_session_state {
    HTTP_SESSION_READING,    /* parsing requests */
    HTTP_SESSION_RESPONDING, /* a handler answers asynchronously */
    HTTP_SESSION_CLOSING,    /* told ops->end(false): input is ignored */
    HTTP_SESSION_UPGRADED,   /* a 101 went out: HTTP is over on this connection */
};

typedef struct http_session {
    http_parser parser;
    http_response res;
    const http_session_config *cfg;
    const http_session_ops *ops;
    void *ctx;
    char *body;       /* the current request's body */
    size_t body_len;
    size_t body_cap;
    char *held;       /* bytes received while a response was pending, or after an upgrade */
    size_t held_off;
    size_t held_len;
    size_t held_cap;
    enum http_session_state state;
    bool dispatching; /* inside the handler call */
    bool ended;       /* the response ended during the handler call */
    bool end_keep_alive;
    bool eof;
    bool read_paused;
    bool output_wait; /* a request waits in held for the output to drain */
} http_session;

/* 0 or -ENOMEM.  cfg, ops and ctx must outlive the session. */
int http_session_init(http_session *s, const http_session_config *cfg,
                      const http_session_ops *ops, void *ctx);
/* Tells an unfinished asynchronous response HTTP_RES_CLOSED, then frees everything. */
void http_session_fini(http_session *s);

/* Between requests with nothing received and nothing pending: the connection may give the
 * session back (to a pool of its loop) and take one again with its next byte.  An idle
 * connection then holds no parser, arena, head or body buffer. */
bool http_session_idle(const http_session *s);
/* An idle session, kept, made ready for a connection with ops context ctx: as
 * http_session_init() leaves one, its buffers kept. */
void http_session_reuse(http_session *s, void *ctx);

/* Received bytes (any split).  Always takes them all: parsed now, kept for later, or ignored
 * when closing.  Returns 0 or -ENOMEM (the session then closes). */
int http_session_feed(http_session *s, const char *data, size_t len);
/* The peer sent its last byte: requests already received are still answered, then ops->end
 * says close. */
void http_session_eof(http_session *s);
/* The connection's timer fired: 408 if a request is partly received, then close. */
void http_session_timeout(http_session *s);
/* Output drained: tells a streaming handler (HTTP_RES_DRAINED), or parses the requests that
 * waited for it. */
void http_session_drain(http_session *s);

enum http_session_state http_session_state(const http_session *s);
/* A request is partly received (choose the header timeout rather than the idle one). */
bool http_session_in_request(const http_session *s);
/* The head of a request is partly received (its body is not being read yet). */
bool http_session_in_head(const http_session *s);
/* The bytes received and not parsed yet: after HTTP_SESSION_UPGRADED, those that followed the
 * upgrade request; while HTTP_SESSION_RESPONDING, those kept behind the pending answer (what a
 * handler taking the connection over, like a WebSocket upgrade, must hand to its protocol). */
size_t http_session_leftover(const http_session *s, const char **data);

#endif
