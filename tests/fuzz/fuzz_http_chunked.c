/* fuzz_http_chunked.c - chunked request bodies through the request parser (http_parser.h).
 *
 * The input follows a fixed chunked POST head; its first byte chooses small or default body
 * and header limits, the next two the cuts.  Fed whole and in cut pieces, the parser must give
 * the same verdict, error status (but see http_frames_same_refusal), body bytes and end of
 * request.  A refusal is 400, 413 or 431;
 * an accepted body stays within the limit, its length is the request's content_length, and
 * when a strict reference decoder (RFC 9112 7.1) accepts the same bytes, it agrees on the
 * body and on where the request ends.
 */
#include "fuzz.h"
#include "http/http_parser.h"
#include "http_frames.h"

static const char head[] = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

typedef struct outcome {
    http_parse_result result;
    int status;
    size_t end;        /* where the request ended (DONE) */
    uint64_t declared; /* content_length once complete */
    fuzz_buf body;
} outcome;

static int on_head(void *ctx, http_request *req)
{
    return 0;
}

static int on_body(void *ctx, const char *data, size_t len)
{
    fuzz_buf_put(&((outcome *)ctx)->body, data, len);
    return 0;
}

static const http_parser_events events = {.on_head = on_head, .on_body = on_body};

static void parse(const http_limits *limits, const uint8_t *in, size_t len, fuzz_cut *cut,
                  outcome *o)
{
    http_parser p;
    FUZZ_CHECK(http_parser_init(&p, limits, &events, o) == 0, "init");
    o->result = http_parser_feed(&p, head, sizeof(head) - 1, &(size_t){0});
    FUZZ_CHECK(o->result == HTTP_PARSE_MORE, "the head alone gave %d", o->result);
    for (size_t at = 0; at < len && o->result == HTTP_PARSE_MORE;) {
        size_t n = cut ? fuzz_cut_next(cut, len - at) : len - at, used;
        o->result = http_parser_feed(&p, (const char *)in + at, n, &used);
        FUZZ_CHECK(used <= n, "used %zu of %zu", used, n);
        at += used;
        o->end = at;
    }
    if (o->result == HTTP_PARSE_ERROR)
        o->status = http_parser_error_status(&p);
    if (o->result == HTTP_PARSE_DONE)
        o->declared = http_parser_request(&p)->content_length;
    http_parser_fini(&p);
}

/* Strict RFC 9112 7.1 decoding of in[0..len): the end of the body, or 0 when it is invalid or
 * incomplete. */
static size_t reference_decode(const uint8_t *in, size_t len, fuzz_buf *body)
{
    size_t i = 0;
    for (;;) {
        uint64_t size = 0;
        size_t digits = 0;
        for (; i < len && fuzz_hex(in[i]) >= 0; i++, digits++) {
            if (size >> 60)
                return 0;
            size = size * 16 + (uint64_t)fuzz_hex(in[i]);
        }
        if (!digits)
            return 0;
        size_t ext = i; /* what follows the size up to CRLF: [BWS] ";" extensions, ignored */
        while (i < len && in[i] != '\r' && in[i] != '\n')
            i++;
        size_t k = ext;
        while (k < i && (in[k] == ' ' || in[k] == '\t'))
            k++;
        if (i > ext && (k == i || in[k] != ';'))
            return 0;
        if (len - i < 2 || in[i] != '\r' || in[i + 1] != '\n')
            return 0;
        i += 2;
        if (size == 0)
            break;
        if (size > len - i || len - i - size < 2 || in[i + size] != '\r' || in[i + size + 1] != '\n')
            return 0;
        fuzz_buf_put(body, in + i, size);
        i += size + 2;
    }
    for (;;) { /* trailer fields, then the empty line */
        const uint8_t *lf = memchr(in + i, '\n', len - i);
        if (!lf || lf == in + i || lf[-1] != '\r' || memchr(in + i, '\r', (size_t)(lf - in - i) - 1))
            return 0;
        size_t line = (size_t)(lf - in - i) - 1;
        i += line + 2;
        if (line == 0)
            return i;
        if (!memchr(in + i - line - 2, ':', line))
            return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode;
    fuzz_cut cut;
    if (!fuzz_take_prefix(&data, &size, &mode, &cut))
        return 0;
    http_limits limits = {.max_body = mode & 1 ? 64 : 0, .max_header_bytes = mode & 2 ? 64 : 0};
    outcome whole = {0}, pieces = {0};
    parse(&limits, data, size, NULL, &whole);
    parse(&limits, data, size, &cut, &pieces);
    FUZZ_CHECK(whole.result == pieces.result && http_frames_same_refusal(whole.status, pieces.status),
               "whole %d/%d, cut %d/%d", whole.result, whole.status, pieces.result, pieces.status);
    if (whole.result == HTTP_PARSE_ERROR)
        FUZZ_CHECK(whole.status == 400 || whole.status == 413 || whole.status == 431, "status %d",
                   whole.status);
    if (whole.result == HTTP_PARSE_DONE) {
        FUZZ_CHECK(whole.end == pieces.end, "ends at %zu, cut at %zu", whole.end, pieces.end);
        FUZZ_CHECK(fuzz_buf_equal(&whole.body, &pieces.body), "cut input decoded differently");
        http_limits l = http_limits_resolve(&limits);
        FUZZ_CHECK(whole.body.len <= l.max_body, "body %zu over the limit", whole.body.len);
        FUZZ_CHECK(whole.declared == whole.body.len, "content_length %llu, body %zu",
                   (unsigned long long)whole.declared, whole.body.len);
        fuzz_buf ref = {0};
        size_t ref_end = reference_decode(data, size, &ref);
        if (ref_end)
            FUZZ_CHECK(ref_end == whole.end && fuzz_buf_equal(&ref, &whole.body),
                       "the reference decodes %zu body bytes ending at %zu, the parser %zu at %zu",
                       ref.len, ref_end, whole.body.len, whole.end);
        fuzz_buf_free(&ref);
    }
    fuzz_buf_free(&whole.body);
    fuzz_buf_free(&pieces.body);
    return 0;
}
