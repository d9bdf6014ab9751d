/* http_frames.c - the strict response reader of http_frames.h. */
#include "http_frames.h"

#include <llhttp.h>

#include "fuzz.h"
#include "http/http_text.h"

typedef struct reader {
    const uint8_t *p;
    size_t len;
    size_t at;
} reader;

/* The line starting at r->at, without its CRLF; aborts when there is none. */
static const char *take_line(reader *r, size_t *line_len)
{
    const uint8_t *start = r->p + r->at;
    const uint8_t *lf = memchr(start, '\n', r->len - r->at);
    FUZZ_CHECK(lf && lf > start && lf[-1] == '\r', "no CRLF line at %zu", r->at);
    *line_len = (size_t)(lf - 1 - start);
    r->at += *line_len + 2;
    FUZZ_CHECK(!memchr(start, '\r', *line_len), "bare CR in the line at %zu", r->at);
    return (const char *)start;
}

static uint64_t take_number(const char *s, size_t len, int base, size_t at)
{
    FUZZ_CHECK(len > 0 && len <= 16, "bad number at %zu", at);
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        int d = base == 16 ? http_hex_value(s[i]) : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
        FUZZ_CHECK(d >= 0, "bad digit at %zu", at);
        v = v * (uint64_t)base + (uint64_t)d;
    }
    return v;
}

typedef struct head {
    int status;
    bool has_length, chunked, close, upgrade;
    uint64_t length;
} head;

static void take_field(head *h, const char *line, size_t len, size_t at)
{
    const char *colon = memchr(line, ':', len);
    FUZZ_CHECK(colon && colon > line, "no field name at %zu", at);
    size_t name_len = (size_t)(colon - line);
    for (size_t i = 0; i < name_len; i++)
        FUZZ_CHECK(http_is_tchar(line[i]), "bad field name at %zu", at);
    const char *v = colon + 1;
    size_t v_len = len - name_len - 1;
    while (v_len && (*v == ' ' || *v == '\t'))
        v++, v_len--;
    FUZZ_CHECK(!memchr(v, '\0', v_len), "NUL in a field value at %zu", at);
    if (name_len == 14 && http_ieq(line, "Content-Length", 14)) {
        FUZZ_CHECK(!h->has_length, "two Content-Length at %zu", at);
        h->has_length = true;
        h->length = take_number(v, v_len, 10, at);
    } else if (name_len == 17 && http_ieq(line, "Transfer-Encoding", 17)) {
        FUZZ_CHECK(!h->chunked && v_len == 7 && http_ieq(v, "chunked", 7),
                   "Transfer-Encoding other than one chunked at %zu", at);
        h->chunked = true;
    } else if (name_len == 10 && http_ieq(line, "Connection", 10)) {
        h->close |= v_len == 5 && http_ieq(v, "close", 5);
        h->upgrade |= v_len == 7 && http_ieq(v, "upgrade", 7);
    }
}

static head take_head(reader *r)
{
    head h = {0};
    size_t len, at = r->at;
    const char *line = take_line(r, &len);
    FUZZ_CHECK(len >= 13 && memcmp(line, "HTTP/1.1 ", 9) == 0 && line[12] == ' ',
               "bad status line at %zu", at);
    h.status = (int)take_number(line + 9, 3, 10, at);
    FUZZ_CHECK(h.status >= 100 && h.status <= 599, "status %d at %zu", h.status, at);
    for (;;) {
        at = r->at;
        line = take_line(r, &len);
        if (len == 0)
            return h;
        take_field(&h, line, len, at);
    }
}

static void skip(reader *r, uint64_t n)
{
    FUZZ_CHECK(n <= r->len - r->at, "body of %llu bytes cut short at %zu", (unsigned long long)n,
               r->at);
    r->at += n;
}

static void take_chunked_body(reader *r)
{
    for (;;) {
        size_t len, at = r->at;
        const char *line = take_line(r, &len);
        uint64_t size = take_number(line, len, 16, at);
        if (size == 0)
            break;
        skip(r, size);
        take_line(r, &len);
        FUZZ_CHECK(len == 0, "chunk data longer than its size at %zu", at);
    }
    size_t len;
    take_line(r, &len);
    FUZZ_CHECK(len == 0, "trailers after a chunked response at %zu", r->at);
}

http_frames http_frames_check(const uint8_t *out, size_t len, const int *methods, size_t count)
{
    reader r = {out, len, 0};
    http_frames f = {0};
    while (r.at < r.len) {
        FUZZ_CHECK(!f.closed && !f.upgraded, "bytes after the last response at %zu", r.at);
        f.last_at = r.at;
        head h = take_head(&r);
        FUZZ_CHECK(!(h.has_length && h.chunked), "Content-Length and chunked at %zu", r.at);
        f.last_status = h.status;
        bool bodiless = h.status < 200 || h.status == 204 || h.status == 304;
        if (bodiless)
            FUZZ_CHECK(!h.has_length && !h.chunked, "framing on a %d at %zu", h.status, r.at);
        if (h.status == 100) {
            f.continues++;
            continue;
        }
        FUZZ_CHECK(h.status != 101 || h.upgrade, "101 without Connection: upgrade");
        int method = f.finals < count ? methods[f.finals] : HTTP_GET;
        f.finals++;
        f.closed = h.close;
        f.upgraded = h.status == 101;
        /* A refusal before dispatch is framed as for an unreadable request: to HEAD too, with
         * its body.  The connection ends with it, so no client is misled. */
        bool refusal_body = h.close && h.has_length && h.length == r.len - r.at;
        if (bodiless || (method == HTTP_HEAD && !refusal_body))
            continue;
        if (h.chunked)
            take_chunked_body(&r);
        else if (h.has_length)
            skip(&r, h.length);
        else {
            FUZZ_CHECK(h.close, "a body without framing or Connection: close at %zu", r.at);
            r.at = r.len;
        }
    }
    return f;
}

static bool limit_or_malformed(int status)
{
    return status == 400 || status == 413 || status == 414 || status == 431;
}

bool http_frames_same_refusal(int a, int b)
{
    return a == b || (limit_or_malformed(a) && limit_or_malformed(b));
}
