/* http_response.c - the response writer: head assembly, framing, chunked encoding.
 *
 * The head buffer keeps a gap at its front: handler headers are appended after the gap as they
 * come, and when the status is known the status line and the date prefix are written right
 * before them, so the whole head leaves in one contiguous write with no copying around.
 */
#include "http/http_response.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_text.h"

#define HEAD_GAP (HTTP_STATUS_LINE_MAX + sizeof(((http_date_cache *)0)->prefix))
#define FRAMING_RESERVE 96u /* Content-Length, Connection and the blank line */

enum res_state { RES_IDLE, RES_OPEN, RES_STREAMING, RES_DONE, RES_FAILED };

static const char server_line[] = "Server: ioserve\r\n";
static const char chunk_crlf[] = "\r\n";
static const char last_chunk[] = "0\r\n\r\n";
static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

void http_date_cache_init(http_date_cache *cache, uint64_t unix_ns)
{
    cache->second = INT64_MIN;
    http_date_cache_tick(cache, unix_ns);
}

bool http_date_cache_tick(http_date_cache *cache, uint64_t unix_ns)
{
    int64_t second = (int64_t)(unix_ns / 1000000000u);
    if (second == cache->second)
        return false;
    cache->second = second;
    char date[HTTP_DATE_LEN + 1];
    http_date_format(second, date);
    char *p = cache->prefix;
    memcpy(p, "Date: ", 6);
    memcpy(p + 6, date, HTTP_DATE_LEN);
    memcpy(p + 6 + HTTP_DATE_LEN, "\r\n", 2);
    memcpy(p + 8 + HTTP_DATE_LEN, server_line, sizeof(server_line) - 1);
    cache->len = 8 + HTTP_DATE_LEN + (uint32_t)sizeof(server_line) - 1;
    return true;
}

int http_res_init(http_response *res, const http_sink_ops *ops, void *ctx,
                  const http_date_cache *date, http_res_end_fn on_end, void *owner)
{
    memset(res, 0, sizeof(*res));
    res->head = malloc(HTTP_RES_HEAD_MAX);
    if (!res->head)
        return -ENOMEM;
    res->ops = ops;
    res->ctx = ctx;
    res->date = date;
    res->on_end = on_end;
    res->owner = owner;
    return 0;
}

void http_res_fini(http_response *res)
{
    free(res->head);
    res->head = NULL;
}

void http_res_rebind(http_response *res, void *ctx)
{
    res->ctx = ctx;
}

void http_res_begin(http_response *res, const http_request *req)
{
    res->state = RES_OPEN;
    res->head_len = HEAD_GAP;
    res->status = 0;
    res->watch = NULL;
    res->watch_arg = NULL;
    res->head_only = req && req->method == HTTP_HEAD;
    res->http10 = req && req->version_minor == 0;
    res->keep_alive = req && req->keep_alive;
    res->upgrade_asked = req && req->upgrade;
    res->chunked = res->has_length = false;
    res->length = res->sent = 0;
}

static void finish(http_response *res, enum res_state state)
{
    res->state = state;
    if (state == RES_FAILED)
        res->keep_alive = false;
    if (res->on_end)
        res->on_end(res->owner, res->keep_alive);
}

/* A sink error ends the response: the connection is unusable. */
static int fail(http_response *res, int rc)
{
    finish(res, RES_FAILED);
    return rc;
}

static int check_state(const http_response *res, enum res_state want)
{
    if (res->state == want)
        return 0;
    return res->state == RES_FAILED ? -EPIPE : -EINVAL;
}

static bool is_owned_header(const char *name)
{
    return http_ieq_str(name, "content-length") || http_ieq_str(name, "transfer-encoding") ||
           http_ieq_str(name, "connection");
}

static bool valid_name(const char *name)
{
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!http_is_tchar(*p))
            return false;
    return true;
}

/* Field values may hold HTAB, visible ASCII and obs-text: no CR or LF to split the head. */
static bool valid_value(const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

/* Append "name: value\r\n" if it fits below limit. */
static int append_field(http_response *res, const char *name, const char *value, uint32_t limit)
{
    size_t name_len = strlen(name), value_len = strlen(value);
    if (name_len + value_len + 4 > limit - res->head_len)
        return -ENOSPC;
    char *p = res->head + res->head_len;
    memcpy(p, name, name_len);
    memcpy(p + name_len, ": ", 2);
    memcpy(p + name_len + 2, value, value_len);
    memcpy(p + name_len + 2 + value_len, "\r\n", 2);
    res->head_len += (uint32_t)(name_len + value_len + 4);
    return 0;
}

int http_res_header(http_response *res, const char *name, const char *value)
{
    int rc = check_state(res, RES_OPEN);
    if (rc)
        return rc;
    if (!valid_name(name) || !valid_value(value) || is_owned_header(name))
        return -EINVAL;
    return append_field(res, name, value, HTTP_RES_HEAD_MAX - FRAMING_RESERVE);
}

void http_res_clear_headers(http_response *res)
{
    if (res->state == RES_OPEN)
        res->head_len = HEAD_GAP;
}

/* Write the status line and the date prefix into the gap; returns where the head starts. */
static uint32_t put_status_and_prefix(http_response *res)
{
    char buf[HTTP_STATUS_LINE_MAX];
    size_t line_len;
    const char *line = http_status_line(res->status, buf, &line_len);
    uint32_t start = (uint32_t)(HEAD_GAP - res->date->len - line_len);
    memcpy(res->head + start, line, line_len);
    memcpy(res->head + start + line_len, res->date->prefix, res->date->len);
    return start;
}

/* v in base 10 or 16 into out (24 bytes), NUL-terminated: cheaper than snprintf per response. */
static size_t put_number(char *out, uint64_t v, unsigned base)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    out[n] = '\0';
    return n;
}

static bool bodiless(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* Decide the framing and append Content-Type, framing, Connection and the blank line. */
static int put_framing(http_response *res, const char *content_type, int64_t length)
{
    const uint32_t limit = HTTP_RES_HEAD_MAX;
    if (content_type) {
        if (!valid_value(content_type))
            return -EINVAL;
        if (append_field(res, "Content-Type", content_type, limit))
            return -ENOSPC;
    }
    char text[24];
    int rc = 0;
    if (bodiless(res->status)) {
        res->has_length = true;
        res->length = 0;
    } else if (length >= 0) {
        res->has_length = true;
        res->length = (uint64_t)length;
        put_number(text, res->length, 10);
        rc = append_field(res, "Content-Length", text, limit);
    } else if (!res->http10) {
        res->chunked = true;
        rc = append_field(res, "Transfer-Encoding", "chunked", limit);
    } else {
        res->keep_alive = false; /* the body ends when the connection does */
    }
    if (res->upgrade_asked && res->status != 101)
        res->keep_alive = false;
    if (!rc && res->status == 101)
        rc = append_field(res, "Connection", "Upgrade", limit);
    else if (!rc && !res->keep_alive)
        rc = append_field(res, "Connection", "close", limit);
    else if (!rc && res->http10)
        rc = append_field(res, "Connection", "keep-alive", limit);
    if (rc || 2 > limit - res->head_len)
        return -ENOSPC;
    memcpy(res->head + res->head_len, "\r\n", 2);
    res->head_len += 2;
    return 0;
}

/* Build the head; the caller sends head[*start .. head_len). */
static int build_head(http_response *res, int status, const char *content_type, int64_t length,
                      uint32_t *start)
{
    int rc = check_state(res, RES_OPEN);
    if (rc)
        return rc;
    if (status < 101 || status > 599) /* 100 goes through http_res_continue() */
        return -EINVAL;
    uint32_t handler_headers_end = res->head_len;
    bool keep_alive = res->keep_alive;
    res->status = status;
    rc = put_framing(res, content_type, length);
    if (rc) { /* leave the response as it was: the handler may still send a smaller one */
        res->status = 0;
        res->head_len = handler_headers_end;
        res->keep_alive = keep_alive;
        res->chunked = res->has_length = false;
        res->length = 0;
        return rc;
    }
    *start = put_status_and_prefix(res);
    res->state = RES_STREAMING;
    return 0;
}

int http_res_start(http_response *res, int status, const char *content_type, int64_t length)
{
    uint32_t start;
    int rc = build_head(res, status, content_type, length, &start);
    if (rc)
        return rc;
    rc = res->ops->write(res->ctx, res->head + start, res->head_len - start);
    if (rc)
        return fail(res, rc);
    if (status < 200) /* 101: the head is the whole response */
        finish(res, RES_DONE);
    return 0;
}

/* Account for len body bytes; false (and *rc set) when they must not be sent. */
static bool admit_body(http_response *res, uint64_t len, int *rc)
{
    *rc = check_state(res, RES_STREAMING);
    if (*rc)
        return false;
    if (bodiless(res->status) && len) {
        *rc = -EINVAL;
        return false;
    }
    if (res->has_length && len > res->length - res->sent) {
        *rc = -EMSGSIZE;
        return false;
    }
    res->sent += len;
    return len && !res->head_only;
}

static int put_chunk_header(http_response *res, uint64_t len)
{
    char text[24];
    size_t n = put_number(text, len, 16);
    memcpy(text + n, "\r\n", 2);
    return res->ops->write(res->ctx, text, n + 2);
}

static int put_chunk_trailer(http_response *res)
{
    return res->ops->write_ref(res->ctx, chunk_crlf, 2, NULL, NULL);
}

int http_res_write(http_response *res, const void *data, size_t len)
{
    int rc;
    if (!admit_body(res, len, &rc))
        return rc;
    if (res->chunked && (rc = put_chunk_header(res, len)))
        return fail(res, rc);
    if ((rc = res->ops->write(res->ctx, data, len)))
        return fail(res, rc);
    if (res->chunked && (rc = put_chunk_trailer(res)))
        return fail(res, rc);
    return 0;
}

int http_res_write_ref(http_response *res, const void *data, size_t len,
                       void (*release)(void *arg), void *arg)
{
    int rc;
    if (!admit_body(res, len, &rc)) {
        if (!rc && release) /* HEAD or empty: nothing will hold the memory */
            release(arg);
        return rc;
    }
    if (res->chunked && (rc = put_chunk_header(res, len)))
        return fail(res, rc);
    if ((rc = res->ops->write_ref(res->ctx, data, len, release, arg)))
        return fail(res, rc);
    if (res->chunked && (rc = put_chunk_trailer(res)))
        return fail(res, rc);
    return 0;
}

int http_res_sendfile(http_response *res, int fd, uint64_t offset, uint64_t len,
                      void (*release)(void *arg), void *arg)
{
    if (!res->ops->sendfile)
        return -ENOTSUP;
    int rc;
    if (!admit_body(res, len, &rc)) {
        if (!rc && release) /* HEAD or empty: nothing will read the file */
            release(arg);
        return rc;
    }
    if (res->chunked && (rc = put_chunk_header(res, len)))
        return fail(res, rc);
    if ((rc = res->ops->sendfile(res->ctx, fd, offset, len, release, arg)))
        return fail(res, rc);
    if (res->chunked && (rc = put_chunk_trailer(res)))
        return fail(res, rc);
    return 0;
}

int http_res_end(http_response *res)
{
    int rc = check_state(res, RES_STREAMING);
    if (rc)
        return rc;
    if (res->chunked && !res->head_only) {
        rc = res->ops->write_ref(res->ctx, last_chunk, sizeof(last_chunk) - 1, NULL, NULL);
        if (rc)
            return fail(res, rc);
    }
    if (res->has_length && res->sent < res->length && !res->head_only) {
        res->keep_alive = false;
        finish(res, RES_DONE);
        return -EPROTO;
    }
    finish(res, RES_DONE);
    return 0;
}

int http_res_send(http_response *res, int status, const char *content_type, const void *body,
                  size_t len)
{
    if (bodiless(status) && len)
        return -EINVAL;
    uint32_t start;
    int rc = build_head(res, status, content_type, (int64_t)len, &start);
    if (rc)
        return rc;
    res->sent = len;
    bool with_body = len && !res->head_only;
    /* A small body rides in the head's write: one queue entry instead of two. */
    if (with_body && len <= HTTP_RES_HEAD_MAX - res->head_len) {
        memcpy(res->head + res->head_len, body, len);
        rc = res->ops->write(res->ctx, res->head + start, res->head_len - start + len);
    } else {
        rc = res->ops->write(res->ctx, res->head + start, res->head_len - start);
        if (!rc && with_body)
            rc = res->ops->write(res->ctx, body, len);
    }
    if (rc)
        return fail(res, rc);
    finish(res, RES_DONE);
    return 0;
}

int http_res_error(http_response *res, int status)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, http_status_reason(status));
    return http_res_send(res, status, "text/plain; charset=utf-8", body, (size_t)n);
}

void *http_res_sink_ctx(const http_response *res)
{
    return res->ctx;
}

void http_res_close(http_response *res)
{
    res->keep_alive = false;
}

void http_res_watch(http_response *res, http_res_watch_fn fn, void *arg)
{
    res->watch = fn;
    res->watch_arg = arg;
}

int http_res_status(const http_response *res)
{
    return res->status;
}

bool http_res_head_sent(const http_response *res)
{
    return res->state == RES_STREAMING || res->state == RES_DONE ||
           (res->state == RES_FAILED && res->status != 0);
}

bool http_res_ended(const http_response *res)
{
    return res->state == RES_DONE || res->state == RES_FAILED || res->state == RES_IDLE;
}

int http_res_continue(http_response *res)
{
    int rc = check_state(res, RES_OPEN);
    if (rc)
        return rc;
    rc = res->ops->write_ref(res->ctx, continue_line, sizeof(continue_line) - 1, NULL, NULL);
    return rc ? fail(res, rc) : 0;
}

void http_res_notify(http_response *res, enum http_res_event event)
{
    if (res->state != RES_OPEN && res->state != RES_STREAMING)
        return;
    http_res_watch_fn fn = res->watch;
    if (event == HTTP_RES_CLOSED) {
        res->state = RES_FAILED;
        res->keep_alive = false;
    }
    if (fn)
        fn(res, event, res->watch_arg);
}
