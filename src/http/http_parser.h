/* http_parser.h - the request side of one HTTP/1.x connection: llhttp behind limits.
 *
 * Feed the receive stream in slices of any size: a request split anywhere parses the same.
 * Each request's head is reported once (on_head), its body as it arrives (on_body, pointing
 * into the slice, valid during the call), and the parser stops right after a request's last
 * byte (HTTP_PARSE_DONE) so the server answers requests in order: after http_parser_next(),
 * feed the rest of the slice.  The request line and headers are copied into a per-connection
 * arena that starts small (HTTP_PARSER_ARENA_START) and grows, up to what the limits allow,
 * only when a request needs more: once a connection has seen its largest head, nothing is
 * allocated per request.
 *
 * A request is refused (HTTP_PARSE_ERROR) with the status the server should send before it
 * closes the connection:
 *   414  method + target + version longer than max_request_line
 *   431  header names + values (+4 per field, trailers included) over max_header_bytes, or
 *        more than max_headers fields
 *   413  a body over max_body, declared (Content-Length, refused before any body byte) or
 *        counted (chunked)
 *   400  malformed, or framing that could smuggle a request: Content-Length together with
 *        Transfer-Encoding, a second Content-Length (llhttp refuses even an equal one), a
 *        Transfer-Encoding whose last coding is not chunked, Transfer-Encoding in HTTP/1.0,
 *        chunk data not followed by CRLF, a bare CR anywhere in the framing, bare LF in chunk
 *        framing, an obs-fold (a field line starting with SP or HTAB, RFC 9112 5.2), in any
 *        field or trailer; an HTTP/1.1 request without exactly one Host, or a Host that is not
 *        uri-host [":" port] (RFC 9112 3.2, http_host.h); more than max_header_bytes of chunk
 *        extensions in one request, all chunks together (CVE-2024-22019); more bytes besides
 *        head and body data (padding such as leading zeros in a chunk size) than the head,
 *        extension and chunk-framing budgets allow
 *   501  a transfer coding besides chunked ("gzip, chunked"): we could not decode the body
 *   505  a version other than HTTP/1.0 and HTTP/1.1
 * Chunk extensions, any number per chunk, quoted or not, are read and ignored (RFC 9112
 * 7.1.1); llhttp 8.1 loses the ';' after an unquoted value, and the parser gives it back.
 * llhttp runs in its strict mode (meson.build); docs/http.md lists what this file adds to it.
 */
#ifndef IOSERVE_HTTP_PARSER_H
#define IOSERVE_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "http/http_request.h"

typedef struct http_limits {
    uint32_t max_request_line; /* 414 */
    uint32_t max_header_bytes; /* 431 */
    uint32_t max_headers;      /* 431 */
    uint64_t max_body;         /* 413 */
} http_limits;

#define HTTP_DEFAULT_MAX_REQUEST_LINE 8192u
#define HTTP_DEFAULT_MAX_HEADER_BYTES 16384u
#define HTTP_DEFAULT_MAX_HEADERS 100u
#define HTTP_DEFAULT_MAX_BODY (1024u * 1024u)

#define HTTP_MAX_LIMIT (1u << 30) /* larger head limits are refused: -EINVAL */

/* Any zero field of limits takes its default. */
http_limits http_limits_resolve(const http_limits *limits);

typedef struct http_parser_events {
    /* The head is complete; req stays valid until http_parser_next().  Return 0 to go on, or a
     * status (413, 417, ...) to refuse the request: the feed then ends in HTTP_PARSE_ERROR. */
    int (*on_head)(void *ctx, http_request *req);
    /* Body bytes as they arrive.  Return 0, or a status to refuse the request. */
    int (*on_body)(void *ctx, const char *data, size_t len);
} http_parser_events;

typedef enum http_parse_result {
    HTTP_PARSE_MORE,  /* every byte was used; the request is not complete yet */
    HTTP_PARSE_DONE,  /* a request is complete: *consumed is where it ended */
    HTTP_PARSE_ERROR, /* refused: answer http_parser_error_status(), then close */
} http_parse_result;

#define HTTP_PARSER_ARENA_START 2048u /* most request heads fit */
#define HTTP_PARSER_FIELDS_START 16u
#define HTTP_PARSER_NO_OFFSET UINT32_MAX

enum http_span { HTTP_SPAN_NONE, HTTP_SPAN_FIELD, HTTP_SPAN_VALUE };

/* Where a field lives in the arena: offsets, since the arena may move while the head grows. */
typedef struct http_field_at {
    uint32_t name;
    uint32_t value;
} http_field_at;

typedef struct http_parser {
    llhttp_t llh; /* first: llhttp's callbacks get &llh and cast back */
    const http_parser_events *events;
    void *ctx;
    http_limits limits;
    char *arena;           /* request line and header bytes, NUL-terminated in place */
    uint32_t arena_len;
    uint32_t arena_cap;
    uint32_t arena_max;    /* what the line and header budgets can fill */
    http_header *headers;  /* the request's view, pointed into the arena once the head is in */
    http_field_at *fields_at;
    uint32_t fields_cap;   /* entries of headers and fields_at */
    uint32_t path_at;      /* arena offsets; HTTP_PARSER_NO_OFFSET for a constant */
    uint32_t query_at;
    http_request req;
    uint32_t line_bytes;  /* counted against max_request_line */
    uint32_t head_bytes;  /* counted against max_header_bytes */
    uint32_t fields;      /* header and trailer fields, against max_headers */
    uint32_t ext_bytes;   /* chunk extension bytes of the request, against max_header_bytes */
    uint32_t field_start; /* arena offset of the field being collected */
    uint32_t name_len;    /* its name's bytes so far (trailers are not in the arena) */
    uint32_t value_start;
    uint64_t body_bytes;
    uint64_t request_bytes; /* all bytes of the request so far, counted per slice */
    uint32_t chunks;
    const char *feed_end; /* the end of the bytes llhttp is running over */
    const char *gap_from; /* bytes llhttp skipped inside the current field, not yet looked at */
    uint8_t span;         /* enum http_span */
    bool gap_open;        /* between a field's colon and the end of its value */
    bool gap_bytes;       /* the gap so far: any byte, a LF, a byte after a LF */
    bool gap_lf;
    bool gap_fold;
    bool ext_semicolon;   /* an unquoted extension value ended at ';': give llhttp the ';' */
    bool in_request;      /* a request's first byte arrived and its last did not */
    bool head_done;       /* header fields from now on are trailers */
    bool complete;        /* HTTP_PARSE_DONE given, http_parser_next() not yet called */
    int error_status;
    const char *error_reason;
} http_parser;

/* 0, -EINVAL (a head limit over HTTP_MAX_LIMIT) or -ENOMEM.  events and ctx must outlive the
 * parser. */
int http_parser_init(http_parser *p, const http_limits *limits, const http_parser_events *events,
                     void *ctx);
void http_parser_fini(http_parser *p);

/* Parse up to len bytes; *consumed says how many were used (all of them for MORE).  After
 * DONE, feeding again before http_parser_next() uses nothing and says DONE; after ERROR, every
 * feed says ERROR. */
http_parse_result http_parser_feed(http_parser *p, const char *data, size_t len, size_t *consumed);

/* The request being parsed: its fields are filled in once on_head has run. */
http_request *http_parser_request(http_parser *p);

/* Start over as http_parser_init() left it, keeping the memory it grew: a parser kept between
 * requests for another connection. */
void http_parser_reuse(http_parser *p);

/* After DONE: forget the request (its strings go) and go on to the next one. */
void http_parser_next(http_parser *p);

/* Bytes of a request that has not completed have arrived (an idle timeout answers 408). */
bool http_parser_in_request(const http_parser *p);

int http_parser_error_status(const http_parser *p);
const char *http_parser_error_reason(const http_parser *p);

#endif
