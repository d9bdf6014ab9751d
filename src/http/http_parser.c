/* http_parser.c - llhttp callbacks that collect a request into a bounded arena and enforce the
 * limits and framing rules listed in http_parser.h. */
#include "http/http_parser.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_host.h"
#include "http/http_text.h"

#define FIELD_OVERHEAD 4u /* ": " and CRLF: what a field costs beyond its name and value */
#define PADDING_SLACK 4096u /* blank lines before a request, whitespace around values */
#define PADDING_PER_CHUNK 64u /* a chunk's size line and CRLFs: 16 hex digits and 4 bytes */

http_limits http_limits_resolve(const http_limits *limits)
{
    http_limits l = limits ? *limits : (http_limits){0};
    if (!l.max_request_line)
        l.max_request_line = HTTP_DEFAULT_MAX_REQUEST_LINE;
    if (!l.max_header_bytes)
        l.max_header_bytes = HTTP_DEFAULT_MAX_HEADER_BYTES;
    if (!l.max_headers)
        l.max_headers = HTTP_DEFAULT_MAX_HEADERS;
    if (!l.max_body)
        l.max_body = HTTP_DEFAULT_MAX_BODY;
    return l;
}

static http_parser *parser_of(llhttp_t *llh)
{
    return (http_parser *)llh;
}

/* Record why the request is refused; llhttp stops with HPE_USER. */
static int refuse(http_parser *p, int status, const char *reason)
{
    p->error_status = status;
    p->error_reason = reason;
    llhttp_set_error_reason(&p->llh, reason);
    return HPE_USER;
}

/* Grow the arena by doubling; the budgets keep it within arena_max, the guard only states it. */
static int arena_put(http_parser *p, const char *at, size_t len)
{
    if (len > p->arena_max - p->arena_len)
        return refuse(p, 431, "request head too large");
    if (len > p->arena_cap - p->arena_len) {
        uint32_t cap = p->arena_cap;
        while (len > cap - p->arena_len)
            cap = cap > p->arena_max / 2 ? p->arena_max : cap * 2;
        char *grown = realloc(p->arena, cap);
        if (!grown)
            return refuse(p, 500, "out of memory");
        p->arena = grown;
        p->arena_cap = cap;
    }
    memcpy(p->arena + p->arena_len, at, len);
    p->arena_len += (uint32_t)len;
    return 0;
}

static int grow_fields(http_parser *p)
{
    uint32_t cap = p->fields_cap * 2 < p->limits.max_headers ? p->fields_cap * 2
                                                              : p->limits.max_headers;
    http_header *headers = realloc(p->headers, cap * sizeof(*headers));
    if (headers)
        p->headers = headers;
    http_field_at *at = realloc(p->fields_at, cap * sizeof(*at));
    if (at)
        p->fields_at = at;
    if (!headers || !at)
        return refuse(p, 500, "out of memory");
    p->fields_cap = cap;
    return 0;
}

static int count_line(http_parser *p, size_t len)
{
    if (len > p->limits.max_request_line - p->line_bytes)
        return refuse(p, 414, "request line too long");
    p->line_bytes += (uint32_t)len;
    return 0;
}

static int count_head(http_parser *p, size_t len)
{
    if (len > p->limits.max_header_bytes - p->head_bytes)
        return refuse(p, 431, "header section too large");
    p->head_bytes += (uint32_t)len;
    return 0;
}

static int on_message_begin(llhttp_t *llh)
{
    parser_of(llh)->in_request = true;
    return 0;
}

static int on_method(llhttp_t *llh, const char *at, size_t len)
{
    return count_line(parser_of(llh), len);
}

static int on_version(llhttp_t *llh, const char *at, size_t len)
{
    return count_line(parser_of(llh), len);
}

static int on_url(llhttp_t *llh, const char *at, size_t len)
{
    http_parser *p = parser_of(llh);
    int rc = count_line(p, len);
    return rc ? rc : arena_put(p, at, len);
}

/* Skip "scheme://authority" of an absolute-form target; returns where the path starts. */
static char *skip_absolute_form(char *target)
{
    size_t scheme = 0;
    if (http_istarts(target, "http://"))
        scheme = 7;
    else if (http_istarts(target, "https://"))
        scheme = 8;
    if (!scheme)
        return target;
    return target + scheme + strcspn(target + scheme, "/?");
}

/* The target sits at the arena's start (the first thing a request stores). */
static int on_url_complete(llhttp_t *llh)
{
    http_parser *p = parser_of(llh);
    int rc = arena_put(p, "", 1);
    if (rc)
        return rc;
    char *path = skip_absolute_form(p->arena);
    path[strcspn(path, "#")] = '\0';
    char *mark = strchr(path, '?');
    p->query_at = HTTP_PARSER_NO_OFFSET;
    if (mark) {
        *mark = '\0';
        p->query_at = (uint32_t)(mark + 1 - p->arena);
    }
    p->path_at = *path ? (uint32_t)(path - p->arena) : HTTP_PARSER_NO_OFFSET;
    return 0;
}

/* obs-fold (RFC 9112 5.2): llhttp 8.1 reads a line starting with SP or HTAB as more of the
 * field above it, even Content-Length or Transfer-Encoding; we refuse it.  Its only trace is
 * in the few bytes llhttp skips inside one field -- from the colon to the value, and between
 * two pieces of a value -- so those are looked at, never the rest of the head.  A LF there may
 * only be the gap's last byte (an empty value: the next line starts after it), and between two
 * pieces of a value (a value split across slices) there may be nothing at all. */
static void gap_start(http_parser *p, const char *from)
{
    p->gap_open = true;
    p->gap_from = from;
    p->gap_bytes = p->gap_lf = p->gap_fold = false;
}

static void gap_scan(http_parser *p, const char *to)
{
    for (const char *c = p->gap_from; c < to; c++) {
        p->gap_fold |= p->gap_lf;
        p->gap_lf |= *c == '\n';
    }
    p->gap_bytes |= to > p->gap_from;
    p->gap_from = to;
}

static int on_header_field(llhttp_t *llh, const char *at, size_t len)
{
    http_parser *p = parser_of(llh);
    if (p->span != HTTP_SPAN_FIELD) {
        if (p->fields >= p->limits.max_headers)
            return refuse(p, 431, "too many header fields");
        if (!p->head_done && p->req.header_count == p->fields_cap && grow_fields(p))
            return HPE_USER;
        p->fields++;
        int rc = count_head(p, FIELD_OVERHEAD);
        if (rc)
            return rc;
        p->span = HTTP_SPAN_FIELD;
        p->field_start = p->arena_len;
        p->name_len = 0;
    }
    p->name_len += (uint32_t)len;
    gap_start(p, at + len); /* the last piece ends at the colon */
    int rc = count_head(p, len);
    if (rc || p->head_done) /* trailers are counted, not kept */
        return rc;
    return arena_put(p, at, len);
}

static int on_header_field_complete(llhttp_t *llh)
{
    http_parser *p = parser_of(llh);
    if (!p->name_len) /* ": v": llhttp 8.1 takes an empty name (RFC 9110 5.1: 1*tchar) */
        return refuse(p, 400, "empty header field name");
    return p->head_done ? 0 : arena_put(p, "", 1);
}

static int on_header_value(llhttp_t *llh, const char *at, size_t len)
{
    http_parser *p = parser_of(llh);
    gap_scan(p, at);
    if (p->span == HTTP_SPAN_VALUE ? p->gap_bytes : p->gap_fold)
        return refuse(p, 400, "obs-fold: a field line starts with whitespace");
    gap_start(p, at + len);
    if (p->span != HTTP_SPAN_VALUE) {
        p->span = HTTP_SPAN_VALUE;
        p->value_start = p->arena_len;
    }
    int rc = count_head(p, len);
    if (rc || p->head_done)
        return rc;
    return arena_put(p, at, len);
}

static int on_header_value_complete(llhttp_t *llh)
{
    http_parser *p = parser_of(llh);
    if (p->span != HTTP_SPAN_VALUE)
        p->value_start = p->arena_len; /* an empty value gets no span */
    p->span = HTTP_SPAN_NONE;
    p->gap_open = false;
    if (p->head_done)
        return 0;
    /* llhttp drops leading whitespace and keeps trailing whitespace. */
    while (p->arena_len > p->value_start && http_is_ows(p->arena[p->arena_len - 1]))
        p->arena_len--;
    int rc = arena_put(p, "", 1);
    if (rc)
        return rc;
    uint32_t i = p->req.header_count++;
    p->fields_at[i] = (http_field_at){.name = p->field_start, .value = p->value_start};
    p->headers[i].name_len = p->value_start - p->field_start - 1;
    p->headers[i].value_len = p->arena_len - 1 - p->value_start;
    return 0;
}

/* The head is in and the arena stops moving (trailers are not kept): point the view into it. */
static void point_request_into_arena(http_parser *p)
{
    http_request *req = &p->req;
    req->path = p->path_at == HTTP_PARSER_NO_OFFSET ? "/" : p->arena + p->path_at;
    req->query = p->query_at == HTTP_PARSER_NO_OFFSET ? "" : p->arena + p->query_at;
    for (uint32_t i = 0; i < req->header_count; i++) {
        p->headers[i].name = p->arena + p->fields_at[i].name;
        p->headers[i].value = p->arena + p->fields_at[i].value;
    }
    req->headers = p->headers;
}

static bool name_is(const http_header *h, const char *name, uint32_t len)
{
    return h->name_len == len && http_ieq(h->name, name, len);
}

/* Transfer codings besides chunked would need decoding we do not do. */
static bool only_chunked(const char *value)
{
    const char *p = value;
    while (*p) {
        while (*p == ',' || http_is_ows(*p))
            p++;
        size_t len = strcspn(p, ", \t");
        if (len && !(len == 7 && http_ieq(p, "chunked", 7)))
            return false;
        p += len;
    }
    return true;
}

/* Checks llhttp leaves to its user: Host (RFC 9112 3.2: its count and form), Transfer-Encoding
 * in HTTP/1.0 and codings besides chunked (RFC 9112 6.1), "Connection: close", and the body
 * limit. */
static int check_head(http_parser *p)
{
    const http_request *req = &p->req;
    uint32_t hosts = 0;
    bool te = false, te_other = false, host_bad = false, conn_close = false;
    for (uint32_t i = 0; i < req->header_count; i++) {
        const http_header *h = &req->headers[i];
        if (name_is(h, "host", 4)) {
            hosts++;
            host_bad |= !http_host_valid(h->value, h->value_len);
        } else if (name_is(h, "transfer-encoding", 17)) {
            te = true;
            te_other |= !only_chunked(h->value);
        } else if (name_is(h, "connection", 10)) {
            conn_close |= http_header_has_token(h->value, "close");
        }
    }
    /* llhttp 8.1 misses "close" followed by a TAB: the client would be kept while it left. */
    p->req.keep_alive &= !conn_close;
    if (req->version_major != 1 || req->version_minor > 1)
        return refuse(p, 505, "HTTP version not supported");
    if (hosts > 1 || (hosts == 0 && req->version_minor == 1))
        return refuse(p, 400, "HTTP/1.1 needs exactly one Host");
    if (host_bad)
        return refuse(p, 400, "invalid Host");
    if (te && req->version_minor == 0)
        return refuse(p, 400, "Transfer-Encoding in HTTP/1.0");
    if (te && !req->chunked)
        return refuse(p, 400, "Transfer-Encoding does not end in chunked");
    if (te_other)
        return refuse(p, 501, "transfer coding not implemented");
    if (req->content_length > p->limits.max_body)
        return refuse(p, 413, "body too large");
    return 0;
}

static int on_headers_complete(llhttp_t *llh)
{
    http_parser *p = parser_of(llh);
    http_request *req = &p->req;
    p->head_done = true;
    point_request_into_arena(p);
    req->method = llh->method;
    req->version_major = llh->http_major;
    req->version_minor = llh->http_minor;
    req->upgrade = llh->upgrade;
    req->chunked = (llh->flags & F_CHUNKED) != 0;
    req->content_length = (llh->flags & F_CONTENT_LENGTH) ? llh->content_length : 0;
    req->keep_alive = llhttp_should_keep_alive(llh);
    int rc = check_head(p); /* may say close where llhttp did not */
    if (rc)
        return rc;
    const char *expect = http_request_header(req, "expect");
    req->expect_continue = expect && req->version_minor == 1 &&
                           http_ieq_str(expect, "100-continue") &&
                           (req->chunked || req->content_length > 0);
    int status = p->events->on_head(p->ctx, req);
    return status ? refuse(p, status, "refused by the server") : 0;
}

static int on_chunk_header(llhttp_t *llh)
{
    http_parser *p = parser_of(llh);
    p->chunks++;
    /* llhttp_t.content_length holds this chunk's size: refuse before reading it. */
    if (llh->content_length > p->limits.max_body - p->body_bytes)
        return refuse(p, 413, "body too large");
    return 0;
}

/* Extensions are read and ignored, but bounded per request: otherwise a client could send
 * endless bytes that no body limit counts (CVE-2024-22019). */
static int count_ext(http_parser *p, size_t len)
{
    if (len > p->limits.max_header_bytes - p->ext_bytes)
        return refuse(p, 400, "chunk extensions too long");
    p->ext_bytes += (uint32_t)len;
    return 0;
}

static int on_chunk_extension_name(llhttp_t *llh, const char *at, size_t len)
{
    return count_ext(parser_of(llh), len);
}

/* A completed name or value also cost its ';' or '=': ";;;;" is not free either. */
static int on_chunk_extension_name_complete(llhttp_t *llh)
{
    return count_ext(parser_of(llh), 1);
}

/* llhttp 8.1 swallows the ';' after an unquoted value and then wants ';' or CR: "3;a=1;b=2"
 * would be refused.  An unquoted value is a token (a quoted one's last piece ends with its
 * '"'); when one ends at ';', the completion below pauses llhttp so that the feed hands the
 * ';' back to it. */
static int on_chunk_extension_value(llhttp_t *llh, const char *at, size_t len)
{
    http_parser *p = parser_of(llh);
    const char *end = at + len;
    p->ext_semicolon = end < p->feed_end && *end == ';' && !(len && end[-1] == '"');
    return count_ext(p, len);
}

static int on_chunk_extension_value_complete(llhttp_t *llh)
{
    http_parser *p = parser_of(llh);
    int rc = count_ext(p, 1);
    return rc ? rc : p->ext_semicolon ? HPE_PAUSED : 0;
}

static int on_body(llhttp_t *llh, const char *at, size_t len)
{
    http_parser *p = parser_of(llh);
    if (len > p->limits.max_body - p->body_bytes)
        return refuse(p, 413, "body too large");
    p->body_bytes += len;
    int status = p->events->on_body(p->ctx, at, len);
    return status ? refuse(p, status, "refused by the server") : 0;
}

/* Pausing here makes llhttp_execute() return with the position right after the request. */
static int on_message_complete(llhttp_t *llh)
{
    http_parser *p = parser_of(llh);
    p->in_request = false;
    p->complete = true;
    p->req.keep_alive &= llhttp_should_keep_alive(llh);
    if (p->req.chunked)
        p->req.content_length = p->body_bytes;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_method = on_method,
    .on_url = on_url,
    .on_version = on_version,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_chunk_extension_name = on_chunk_extension_name,
    .on_chunk_extension_value = on_chunk_extension_value,
    .on_chunk_extension_name_complete = on_chunk_extension_name_complete,
    .on_chunk_extension_value_complete = on_chunk_extension_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_url_complete = on_url_complete,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
    .on_chunk_header = on_chunk_header,
};

static void reset_request(http_parser *p)
{
    p->arena_len = 0;
    p->line_bytes = p->head_bytes = p->fields = p->ext_bytes = 0;
    p->body_bytes = p->request_bytes = 0;
    p->chunks = 0;
    p->span = HTTP_SPAN_NONE;
    p->head_done = p->complete = p->gap_open = p->ext_semicolon = false;
    p->path_at = p->query_at = HTTP_PARSER_NO_OFFSET;
    p->req = (http_request){.path = "/", .query = "", .headers = p->headers, .body = ""};
}

int http_parser_init(http_parser *p, const http_limits *limits, const http_parser_events *events,
                     void *ctx)
{
    memset(p, 0, sizeof(*p));
    p->limits = http_limits_resolve(limits);
    const http_limits *l = &p->limits;
    if (l->max_request_line > HTTP_MAX_LIMIT || l->max_header_bytes > HTTP_MAX_LIMIT ||
        l->max_headers > HTTP_MAX_LIMIT)
        return -EINVAL;
    p->events = events;
    p->ctx = ctx;
    /* The target and its NUL fit the line budget; names, values and their NULs fit the header
     * budget, which counts FIELD_OVERHEAD (more than two NULs) per field. */
    p->arena_max = l->max_request_line + 1 + l->max_header_bytes;
    p->arena_cap = p->arena_max < HTTP_PARSER_ARENA_START ? p->arena_max : HTTP_PARSER_ARENA_START;
    p->fields_cap = l->max_headers < HTTP_PARSER_FIELDS_START ? l->max_headers
                                                                : HTTP_PARSER_FIELDS_START;
    p->arena = malloc(p->arena_cap);
    p->headers = calloc(p->fields_cap, sizeof(*p->headers));
    p->fields_at = calloc(p->fields_cap, sizeof(*p->fields_at));
    if (!p->arena || !p->headers || !p->fields_at) {
        http_parser_fini(p);
        return -ENOMEM;
    }
    llhttp_init(&p->llh, HTTP_REQUEST, &settings);
    reset_request(p);
    return 0;
}

void http_parser_fini(http_parser *p)
{
    free(p->arena);
    free(p->headers);
    free(p->fields_at);
    p->arena = NULL;
    p->headers = NULL;
    p->fields_at = NULL;
}

static int status_for(llhttp_errno_t err)
{
    return err == HPE_INVALID_VERSION ? 505 : 400;
}

/* llhttp over [from, end), with the end known to the callbacks; a field's gap still open at
 * the end is looked at before these bytes go (the next slice continues it). */
static llhttp_errno_t execute(http_parser *p, const char *from, const char *end)
{
    p->feed_end = end;
    if (p->gap_open)
        p->gap_from = from;
    llhttp_errno_t err = llhttp_execute(&p->llh, from, (size_t)(end - from));
    if (p->gap_open && err == HPE_OK)
        gap_scan(p, end);
    return err;
}

/* llhttp paused right after swallowing the ';' (on_chunk_extension_value): it now waits for
 * ';' or CR, and gets the ';'. */
static void give_back_semicolon(http_parser *p)
{
    static const char semicolon = ';';
    p->ext_semicolon = false;
    llhttp_resume(&p->llh);
    execute(p, &semicolon, &semicolon + 1);
}

/* Bytes that are neither head nor body data -- what llhttp skips without a callback: leading
 * zeros of a chunk size, whitespace before a value, blank lines before a request -- would be
 * unbounded (CVE-2024-22019's class).  So a request's bytes are counted per slice, never per
 * byte, against what its head, extensions and chunk framing may take. */
static bool padded(http_parser *p, size_t used)
{
    const http_limits *l = &p->limits;
    p->request_bytes += used;
    uint64_t allowed = (uint64_t)l->max_request_line + 2ull * l->max_header_bytes +
                       PADDING_SLACK + (uint64_t)PADDING_PER_CHUNK * p->chunks;
    if (p->request_bytes - p->body_bytes <= allowed)
        return false;
    refuse(p, 400, "too many bytes besides the head and body");
    return true;
}

http_parse_result http_parser_feed(http_parser *p, const char *data, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (p->error_status)
        return HTTP_PARSE_ERROR;
    if (p->complete)
        return HTTP_PARSE_DONE;
    if (len == 0)
        return HTTP_PARSE_MORE;
    const char *end = data + len;
    llhttp_errno_t err = execute(p, data, end);
    while (err == HPE_PAUSED && p->ext_semicolon) {
        const char *rest = llhttp_get_error_pos(&p->llh);
        give_back_semicolon(p);
        err = execute(p, rest, end);
    }
    if (err == HPE_OK) {
        *consumed = len;
        return padded(p, len) ? HTTP_PARSE_ERROR : HTTP_PARSE_MORE;
    }
    const char *stop = llhttp_get_error_pos(&p->llh);
    *consumed = stop ? (size_t)(stop - data) : len;
    if (err == HPE_PAUSED && p->complete)
        return padded(p, *consumed) ? HTTP_PARSE_ERROR : HTTP_PARSE_DONE;
    if (!p->error_status) {
        p->error_status = status_for(err);
        p->error_reason = err == HPE_PAUSED_UPGRADE ? "bytes after an upgrade request"
                                                    : llhttp_get_error_reason(&p->llh);
    }
    return HTTP_PARSE_ERROR;
}

http_request *http_parser_request(http_parser *p)
{
    return &p->req;
}

void http_parser_reuse(http_parser *p)
{
    llhttp_init(&p->llh, HTTP_REQUEST, &settings);
    reset_request(p);
    p->in_request = p->gap_open = p->gap_bytes = p->gap_lf = p->gap_fold = false;
    p->error_status = 0;
    p->error_reason = NULL;
}

void http_parser_next(http_parser *p)
{
    if (!p->complete)
        return;
    reset_request(p);
    llhttp_resume(&p->llh);
}

bool http_parser_in_request(const http_parser *p)
{
    return p->in_request;
}

int http_parser_error_status(const http_parser *p)
{
    return p->error_status;
}

const char *http_parser_error_reason(const http_parser *p)
{
    return p->error_reason ? p->error_reason : "";
}
