/* http.c - just enough HTTP/1.1 for the benchmark, over one blocking connection.
 *
 * A request head must fit in HTTP_HEAD_MAX bytes and carry at most HTTP_HEADERS_MAX headers;
 * it is parsed in place, picohttpparser-style, without copying.  GET / and GET /plaintext
 * answer 200 "Hello, World!", anything else well-formed 404, anything malformed 400 and the
 * connection closes.  Keep-alive is HTTP/1.1's default and HTTP/1.0's only with
 * "Connection: keep-alive".  Pipelined requests are answered in order, and the responses to
 * one read leave in one write.  A Content-Length body is read and discarded; a
 * Transfer-Encoding body is not supported (501, close). */
#include "baseline.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_HEAD_MAX 8192
#define HTTP_HEADERS_MAX 64
#define HTTP_OUT_MAX 16384
#define HTTP_RESPONSE_MAX 256 /* the longest response head plus body this file writes */

enum { PARSE_MORE = 0, PARSE_BAD = -1, PARSE_UNSUPPORTED = -2 };

struct http_request {
    int status;          /* 200 or 404 */
    bool keep_alive;
    uint64_t body_len;
};

static bool is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL;
}

static bool is_token(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_token_char((unsigned char)s[i]))
            return false;
    return len > 0;
}

/* Does the comma-separated header value hold this token (case-insensitively)? */
static bool has_token(const char *value, size_t len, const char *token)
{
    size_t token_len = strlen(token);
    const char *end = value + len;
    while (value < end) {
        while (value < end && (*value == ' ' || *value == '\t' || *value == ','))
            value++;
        const char *start = value;
        while (value < end && *value != ',')
            value++;
        const char *stop = value;
        while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        if ((size_t)(stop - start) == token_len && strncasecmp(start, token, token_len) == 0)
            return true;
    }
    return false;
}

static int parse_content_length(const char *value, size_t len, uint64_t *out)
{
    uint64_t n = 0;
    if (len == 0)
        return PARSE_BAD;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)value[i]) || n > (UINT64_MAX - 9) / 10)
            return PARSE_BAD;
        n = n * 10 + (uint64_t)(value[i] - '0');
    }
    *out = n;
    return 0;
}

/* "METHOD SP TARGET SP HTTP/1.x": sets the status and the version's keep-alive default. */
static int parse_request_line(const char *line, size_t len, struct http_request *req, bool *http10)
{
    const char *end = line + len;
    const char *sp1 = memchr(line, ' ', len);
    if (sp1 == NULL || !is_token(line, (size_t)(sp1 - line)))
        return PARSE_BAD;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t)(end - target));
    if (sp2 == NULL || sp2 == target)
        return PARSE_BAD;
    for (const char *c = target; c < sp2; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return PARSE_BAD;
    const char *version = sp2 + 1;
    size_t version_len = (size_t)(end - version);
    if (version_len != 8 || memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1'))
        return PARSE_BAD;
    *http10 = version[7] == '0';
    const char *query = memchr(target, '?', (size_t)(sp2 - target));
    size_t path_len = (size_t)((query != NULL ? query : sp2) - target);
    bool get = sp1 - line == 3 && memcmp(line, "GET", 3) == 0;
    bool known = (path_len == 1 && target[0] == '/') || (path_len == 10 && memcmp(target, "/plaintext", 10) == 0);
    req->status = get && known ? 200 : 404;
    return 0;
}

/* The first CRLF in [from, end), a range that ends with one. */
static const char *find_crlf(const char *from, const char *end)
{
    const char *cr = memchr(from, '\r', (size_t)(end - from));
    while (cr[1] != '\n')
        cr = memchr(cr + 1, '\r', (size_t)(end - cr - 1));
    return cr;
}

/* Parses the head at the front of buf.  Returns its length, PARSE_MORE, PARSE_BAD or
 * PARSE_UNSUPPORTED. */
static int parse_head(const char *buf, size_t len, struct http_request *req)
{
    const char *blank = memmem(buf, len, "\r\n\r\n", 4);
    if (blank == NULL)
        return len >= HTTP_HEAD_MAX ? PARSE_BAD : PARSE_MORE;
    const char *end = blank + 2; /* the headers' last CRLF; the blank line follows */
    const char *eol = find_crlf(buf, end);
    bool http10, wants_close = false, wants_keep_alive = false;
    *req = (struct http_request){0};
    if (parse_request_line(buf, (size_t)(eol - buf), req, &http10) != 0)
        return PARSE_BAD;
    unsigned headers = 0;
    for (const char *line = eol + 2; line < end; line = eol + 2) {
        eol = find_crlf(line, end);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (++headers > HTTP_HEADERS_MAX || colon == NULL || !is_token(line, (size_t)(colon - line)))
            return PARSE_BAD;
        const char *value = colon + 1, *value_end = eol;
        for (const char *c = value; c < value_end; c++)
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                return PARSE_BAD;
        while (value < value_end && (*value == ' ' || *value == '\t'))
            value++;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
            value_end--;
        size_t name_len = (size_t)(colon - line), value_len = (size_t)(value_end - value);
        if (name_len == 10 && strncasecmp(line, "connection", 10) == 0) {
            wants_close = wants_close || has_token(value, value_len, "close");
            wants_keep_alive = wants_keep_alive || has_token(value, value_len, "keep-alive");
        } else if (name_len == 14 && strncasecmp(line, "content-length", 14) == 0) {
            if (parse_content_length(value, value_len, &req->body_len) != 0)
                return PARSE_BAD;
        } else if (name_len == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            return PARSE_UNSUPPORTED;
        }
    }
    req->keep_alive = !wants_close && (!http10 || wants_keep_alive);
    return (int)(blank + 4 - buf);
}

static size_t format_response(char *out, int status, bool keep_alive, const char *date)
{
    const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" : status == 400 ? "Bad Request" : "Not Implemented";
    const char *body = status == 200 ? "Hello, World!" : reason;
    int len = snprintf(out, HTTP_RESPONSE_MAX,
                       "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                       "Connection: %s\r\n\r\n%s",
                       status, reason, date, strlen(body), keep_alive ? "keep-alive" : "close", body);
    return len > 0 && len < HTTP_RESPONSE_MAX ? (size_t)len : 0;
}

static void format_date(char *out, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void baseline_serve_http(int fd)
{
    char in[HTTP_HEAD_MAX], out[HTTP_OUT_MAX], date[40];
    size_t have = 0;
    uint64_t body_left = 0; /* bytes of the last request's body still to discard */
    bool keep_open = true;
    ssize_t n;
    while (keep_open && (n = baseline_read(fd, in + have, sizeof in - have)) > 0) {
        have += (size_t)n;
        size_t pos = 0, out_len = 0;
        format_date(date, sizeof date);
        while (keep_open) {
            size_t skip = body_left < have - pos ? (size_t)body_left : have - pos;
            pos += skip;
            body_left -= skip;
            if (body_left > 0)
                break;
            struct http_request req;
            int used = parse_head(in + pos, have - pos, &req);
            if (used == PARSE_MORE)
                break;
            if (out_len + HTTP_RESPONSE_MAX > sizeof out) {
                if (baseline_write_all(fd, out, out_len) != 0)
                    return;
                out_len = 0;
            }
            if (used < 0) {
                out_len += format_response(out + out_len, used == PARSE_BAD ? 400 : 501, false, date);
                keep_open = false;
                break;
            }
            pos += (size_t)used;
            body_left = req.body_len;
            out_len += format_response(out + out_len, req.status, req.keep_alive, date);
            keep_open = req.keep_alive;
        }
        if (baseline_write_all(fd, out, out_len) != 0)
            return;
        memmove(in, in + pos, have - pos);
        have -= pos;
    }
}
