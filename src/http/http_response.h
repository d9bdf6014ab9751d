/* http_response.h - writing one HTTP/1.1 response into a byte sink.
 *
 * A response goes out whole (http_res_send) or streamed (http_res_start, http_res_write...,
 * http_res_end).  The writer owns the framing so a handler cannot get it wrong:
 *  - The head is the status line, then a common prefix ("Date: ...", "Server: ioserve") kept
 *    by a per-loop http_date_cache that is formatted at most once per second, then the
 *    handler's headers, Content-Type, framing and Connection.  Content-Length,
 *    Transfer-Encoding and Connection cannot be set by hand (-EINVAL).
 *  - Framing: a known length gives Content-Length (writing more is -EMSGSIZE; ending short
 *    closes the connection, since the client would wait for the rest).  An unknown length gives
 *    chunked encoding for HTTP/1.1 and a close-delimited body for HTTP/1.0.  1xx, 204 and 304
 *    carry neither and no body.  A response to HEAD has the head GET would get and no body.
 *  - Connection: "close" whenever the connection will close (the client asked, the writer or
 *    server decided, HTTP/1.0 without keep-alive); "keep-alive" for an HTTP/1.0 client that
 *    asked for it; nothing for HTTP/1.1 keep-alive.  101 says "Connection: Upgrade".
 * Every function returns 0 or a negative errno; once the sink fails, the response is over and
 * every later call says -EPIPE.  When a response ends (or fails), on_end tells the owner whether
 * the connection stays open.
 */
#ifndef IOSERVE_HTTP_RESPONSE_H
#define IOSERVE_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http_date.h"
#include "http/http_request.h"
#include "http/http_status.h"

/* Where a response's bytes go; the connection layer implements it. */
typedef struct http_sink_ops {
    /* Queue a copy of len bytes.  0 or -errno. */
    int (*write)(void *ctx, const void *data, size_t len);
    /* Queue len bytes of the caller's memory, uncopied; release(arg) (if not NULL) runs once
     * they are sent or dropped.  0 or -errno (then release does not run). */
    int (*write_ref)(void *ctx, const void *data, size_t len, void (*release)(void *arg),
                     void *arg);
    /* Optional: queue len bytes of file fd from offset, after what is queued; release(arg) (if
     * not NULL) runs once they are sent or dropped, so the owner knows when fd may close.
     * 0 or -errno (then release does not run). */
    int (*sendfile)(void *ctx, int fd, uint64_t offset, uint64_t len, void (*release)(void *arg),
                    void *arg);
} http_sink_ops;

/* The per-loop common prefix of every response head.  Tick it with the wall clock once per
 * loop iteration: it formats only when the second changes. */
typedef struct http_date_cache {
    int64_t second;
    uint32_t len;
    char prefix[64]; /* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: ioserve\r\n" */
} http_date_cache;

void http_date_cache_init(http_date_cache *cache, uint64_t unix_ns);
/* Returns true when the prefix was formatted anew (the second changed). */
bool http_date_cache_tick(http_date_cache *cache, uint64_t unix_ns);

#define HTTP_LENGTH_UNKNOWN (-1)
#define HTTP_RES_HEAD_MAX 4096u /* a response head, status line and framing included */

enum http_res_event {
    HTTP_RES_DRAINED, /* everything written so far has been sent: write more */
    HTTP_RES_CLOSED,  /* the connection is gone before the response ended: stop using res */
};

typedef struct http_response http_response;
typedef void (*http_res_watch_fn)(http_response *res, enum http_res_event event, void *arg);
typedef void (*http_res_end_fn)(void *owner, bool keep_alive);

struct http_response {
    /* private: the writer's state */
    const http_sink_ops *ops;
    void *ctx;
    const http_date_cache *date;
    http_res_end_fn on_end;
    void *owner;
    http_res_watch_fn watch;
    void *watch_arg;
    char *head;         /* HTTP_RES_HEAD_MAX bytes, allocated once */
    uint32_t head_len;  /* the handler's headers end here */
    int status;
    uint8_t state;
    bool head_only;     /* HEAD: the body is counted, not sent */
    bool http10;
    bool keep_alive;
    bool upgrade_asked; /* the request asked to upgrade: anything but 101 closes */
    bool chunked;
    bool has_length;
    uint64_t length;
    uint64_t sent;
};

/* Allocate the head buffer; 0 or -ENOMEM.  on_end(owner, keep_alive) runs when a response ends. */
int http_res_init(http_response *res, const http_sink_ops *ops, void *ctx,
                  const http_date_cache *date, http_res_end_fn on_end, void *owner);
void http_res_fini(http_response *res);
/* Write into another sink ctx from now on: a writer kept, between responses, for the next
 * connection (its head buffer reused). */
void http_res_rebind(http_response *res, void *ctx);
/* Start a new exchange answering req (NULL: a request too broken to read, answered with
 * HTTP/1.1 framing and closed). */
void http_res_begin(http_response *res, const http_request *req);

/* --- for handlers --- */

/* Add a header to the coming head.  -EINVAL: the head is already sent, the name is not a
 * token, the value holds CR, LF or NUL, or the name is one the writer owns; -ENOSPC: the head
 * would exceed HTTP_RES_HEAD_MAX. */
int http_res_header(http_response *res, const char *name, const char *value);
/* Forget the headers added so far (before the head is sent). */
void http_res_clear_headers(http_response *res);
/* The whole response in one call; content_type may be NULL; the body is copied. */
int http_res_send(http_response *res, int status, const char *content_type, const void *body,
                  size_t len);
/* Send the head of a streamed response: length is the body's size or HTTP_LENGTH_UNKNOWN. */
int http_res_start(http_response *res, int status, const char *content_type, int64_t length);
/* Body bytes after http_res_start: copied, or queued uncopied (release as in http_sink_ops). */
int http_res_write(http_response *res, const void *data, size_t len);
int http_res_write_ref(http_response *res, const void *data, size_t len,
                       void (*release)(void *arg), void *arg);
/* Body bytes straight from a file (the sink's sendfile; -ENOTSUP without one).  release(arg)
 * runs once fd is no longer needed (at once for HEAD); not at all when this fails. */
int http_res_sendfile(http_response *res, int fd, uint64_t offset, uint64_t len,
                      void (*release)(void *arg), void *arg);
/* The sink's ctx of this response: the connection layer's object, for handlers that need
 * per-connection resources (the file layer). */
void *http_res_sink_ctx(const http_response *res);
/* Finish a streamed response.  -EPROTO when a declared length was not reached: the connection
 * then closes, as the client cannot tell the body is short. */
int http_res_end(http_response *res);
/* A short text/plain error response ("404 Not Found\n"). */
int http_res_error(http_response *res, int status);
/* Close the connection after this response. */
void http_res_close(http_response *res);
/* Be told when output drains or the connection goes (for asynchronous and streamed answers). */
void http_res_watch(http_response *res, http_res_watch_fn fn, void *arg);
/* The status sent or about to be sent (0 before one is chosen), and whether the head left. */
int http_res_status(const http_response *res);
bool http_res_head_sent(const http_response *res);
bool http_res_ended(const http_response *res);

/* --- for the connection --- */

/* "HTTP/1.1 100 Continue", sent before the body of an "Expect: 100-continue" request. */
int http_res_continue(http_response *res);
/* Deliver a watch event (the connection drained, or closed with the response unfinished). */
void http_res_notify(http_response *res, enum http_res_event event);

#endif
