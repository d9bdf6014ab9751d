/* http_request.h - one parsed HTTP/1.x request, as a handler sees it.
 *
 * Every string is NUL-terminated and lives in the connection's parser arena: valid from the
 * handler's call until its response ends (the connection parses nothing else meanwhile).
 *  - path: the target's path exactly as sent, still percent-encoded ("*" for OPTIONS *;
 *    an absolute-form target "http://host/p?q" gives "/p").  query: what followed '?', ""
 *    when nothing did.  A fragment is never part of either.
 *  - headers: in arrival order, names as the client spelled them, values without surrounding
 *    whitespace (an obs-fold never gets here: it is refused).  Trailers of a chunked body are
 *    not included: they arrive after the handler's routing decision could use them.
 *  - body: the whole body (chunk framing removed), at most --max-body bytes, followed by a NUL
 *    that body_len does not count (handy for text; binary bodies use body_len); "" when none.
 * Lookups by header name are case-insensitive, as HTTP field names are.
 */
#ifndef IOSERVE_HTTP_REQUEST_H
#define IOSERVE_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h> /* enum llhttp_method: HTTP_GET, HTTP_POST, ... */

typedef struct http_header {
    const char *name;
    const char *value;
    uint32_t name_len;
    uint32_t value_len;
} http_header;

typedef struct http_request {
    int method;              /* enum llhttp_method */
    uint8_t version_major;   /* 1 */
    uint8_t version_minor;   /* 0 or 1 */
    bool keep_alive;         /* the client allows another request on this connection */
    bool expect_continue;    /* HTTP/1.1 "Expect: 100-continue" with a body to come */
    bool upgrade;            /* "Connection: upgrade" with "Upgrade:", or CONNECT */
    bool chunked;            /* the body came with Transfer-Encoding: chunked */
    const char *path;
    const char *query;
    const http_header *headers;
    uint32_t header_count;
    uint64_t content_length; /* as declared; for a chunked body, its total once complete */
    const char *body;
    size_t body_len;
} http_request;

#define HTTP_METHOD_LAST HTTP_FLUSH /* the highest enum llhttp_method value */

/* "GET", "POST", ...; "" for a number that names no method. */
const char *http_method_name(int method);

/* The first header called name (case-insensitive), or NULL. */
const char *http_request_header(const http_request *req, const char *name);

/* Whether a comma-separated header value (Connection, Upgrade, ...) lists token,
 * case-insensitively: http_header_has_token("keep-alive, Upgrade", "upgrade") is true. */
bool http_header_has_token(const char *value, const char *token);

/* Find name=value in a query string ("a=1&b=x%20y"; names compared as sent, not decoded) and
 * write the value, percent-decoded and with '+' read as a space, NUL-terminated into out.
 * Returns the value's length, -ENOENT when the name is absent, -ENOSPC when out is too small,
 * -EINVAL for a malformed escape or one that decodes to NUL. */
int http_query_param(const char *query, const char *name, char *out, size_t out_size);

#endif
