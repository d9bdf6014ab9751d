/* http_response.c - the byte-level state machine behind http_response.h.
 *
 * Headers nobody asked about are skipped with memchr() as soon as their name stops matching a
 * wanted one, and bodies are skipped by length, so the per-byte work is confined to the status
 * line and the few names we look for; a typical nginx response costs well under a microsecond.
 */
#include "http_response.h"

#include <string.h>

enum state {
    ST_VERSION,       /* "HTTP/" then the version, up to a space */
    ST_CODE,          /* three digits */
    ST_REASON,        /* rest of the status line */
    ST_LINE_START,    /* a header name, or the empty line ending the headers */
    ST_NAME,
    ST_VALUE,
    ST_SKIP_LINE,     /* a header nobody asked about */
    ST_BODY,          /* `remaining` bytes of Content-Length body */
    ST_BODY_TO_EOF,   /* no framing: the body runs until the server closes */
    ST_CHUNK_SIZE,
    ST_CHUNK_EXT,
    ST_CHUNK_DATA,
    ST_CHUNK_DATA_END,
    ST_TRAILER_START,
    ST_TRAILER_LINE,
};

enum header { HDR_CONTENT_LENGTH, HDR_TRANSFER_ENCODING, HDR_CONNECTION, HDR_WS_ACCEPT, HDR_COUNT };

static const char *const header_names[HDR_COUNT] = {
    "content-length", "transfer-encoding", "connection", "sec-websocket-accept",
};

/* Sizes of the largest well-formed values; anything longer is rejected, not wrapped. */
enum { VERSION_MAX = 16, HEX_DIGITS_MAX = 15 };

void http_response_init(struct http_response *r)
{
    memset(r, 0, sizeof(*r));
    r->state = ST_VERSION;
}

static void start_next_response(struct http_response *r)
{
    r->remaining = 0;
    r->status = 0;
    r->index = 0;
    r->state = ST_VERSION;
    r->header = 0;
    r->flags = 0;
    r->complete = false;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* Advances a match of `token` as the last item of a comma-separated value. */
static uint16_t token_step(uint16_t index, unsigned char c, const char *token)
{
    size_t len = strlen(token);
    if (index < len && c == (unsigned char)token[index])
        return (uint16_t)(index + 1);
    if (c == ' ' || c == '\t' || c == '\r')
        return index == len ? index : 0;
    return c == (unsigned char)token[0] ? 1 : 0;
}

/* The headers ended: decide how the body is framed.  Returns true when the response is done. */
static bool headers_done(struct http_response *r)
{
    if ((r->flags & HTTP_RESPONSE_1_0) && !(r->flags & HTTP_RESPONSE_KEEP_ALIVE))
        r->flags |= HTTP_RESPONSE_CLOSE;
    if (r->status >= 100 && r->status < 200 && r->status != 101) {
        start_next_response(r);     /* interim response: the real one follows */
        return false;
    }
    if (r->status < 200 || r->status == 204 || r->status == 304)
        return true;
    if (r->flags & HTTP_RESPONSE_CHUNKED) {
        r->state = ST_CHUNK_SIZE;
        r->remaining = 0;
        r->index = 0;
        return false;
    }
    if (r->flags & HTTP_RESPONSE_LENGTH) {
        r->state = ST_BODY;
        return r->remaining == 0;
    }
    r->state = ST_BODY_TO_EOF;
    return false;
}

static void value_end(struct http_response *r, const char *accept)
{
    switch (r->header) {
    case HDR_TRANSFER_ENCODING:
        if (r->index == strlen("chunked"))
            r->flags |= HTTP_RESPONSE_CHUNKED;
        break;
    case HDR_CONNECTION:
        if ((r->index & 0xff) == strlen("close"))
            r->flags |= HTTP_RESPONSE_CLOSE;
        if ((r->index >> 8) == strlen("keep-alive"))
            r->flags |= HTTP_RESPONSE_KEEP_ALIVE;
        break;
    case HDR_WS_ACCEPT:
        if (!(r->flags & HTTP_RESPONSE_ACCEPT_BAD) && r->index == strlen(accept))
            r->flags |= HTTP_RESPONSE_ACCEPT_OK;
        break;
    default:
        break;
    }
    r->state = ST_LINE_START;
}

/* One byte of a header value we care about.  Returns false on a malformed value. */
static bool value_byte(struct http_response *r, unsigned char c, const char *accept)
{
    switch (r->header) {
    case HDR_CONTENT_LENGTH:
        if (c >= '0' && c <= '9') {
            if (r->remaining > (UINT64_MAX - 9) / 10)
                return false;
            r->remaining = r->remaining * 10 + (uint64_t)(c - '0');
            return true;
        }
        return c == ' ' || c == '\t' || c == '\r';
    case HDR_TRANSFER_ENCODING:
        r->index = token_step(r->index, lower(c), "chunked");
        return true;
    case HDR_CONNECTION: /* two matches at once: "close" in the low byte, "keep-alive" high */
        r->index = (uint16_t)(token_step(r->index & 0xff, lower(c), "close") |
                              token_step(r->index >> 8, lower(c), "keep-alive") << 8);
        return true;
    default: /* HDR_WS_ACCEPT: exact, case-sensitive, surrounding whitespace ignored */
        if (c == ' ' || c == '\t' || c == '\r')
            return true;
        if (r->index >= strlen(accept) || c != (unsigned char)accept[r->index])
            r->flags |= HTTP_RESPONSE_ACCEPT_BAD;
        else
            r->index++;
        return true;
    }
}

static bool name_byte(struct http_response *r, unsigned char c)
{
    if (c == ':') {
        for (unsigned h = 0; h < HDR_COUNT; h++) {
            if ((r->header & (1u << h)) && strlen(header_names[h]) == r->index) {
                r->header = (uint8_t)h;
                r->index = 0;
                r->state = ST_VALUE;
                if (h == HDR_CONTENT_LENGTH) {
                    r->flags |= HTTP_RESPONSE_LENGTH;
                    r->remaining = 0;
                }
                return true;
            }
        }
        r->state = ST_SKIP_LINE;
        return true;
    }
    if (c == '\n')
        return false;
    c = lower(c);
    for (unsigned h = 0; h < HDR_COUNT; h++) {
        const char *name = header_names[h];
        bool differs = r->index >= strlen(name) || (unsigned char)name[r->index] != c;
        if ((r->header & (1u << h)) && differs)
            r->header &= (uint8_t)~(1u << h);
    }
    r->index++;
    if (r->header == 0)
        r->state = ST_SKIP_LINE;
    return true;
}

/* Status line bytes.  Returns false on a malformed line. */
static bool status_byte(struct http_response *r, unsigned char c)
{
    if (r->state == ST_VERSION) {
        if (r->index < 5)
            return c == (unsigned char)"HTTP/"[r->index++];
        if (r->index == 7 && c == '0') /* "HTTP/1.0" */
            r->flags |= HTTP_RESPONSE_1_0;
        if (c == ' ') {
            r->state = ST_CODE;
            r->index = 0;
            return true;
        }
        return ++r->index < VERSION_MAX && c > ' ';
    }
    if (r->index < 3) {
        if (c == ' ' && r->index == 0)
            return true;
        if (c < '0' || c > '9')
            return false;
        r->status = (uint16_t)(r->status * 10 + (c - '0'));
        r->index++;
        return true;
    }
    if (c == '\n')
        r->state = ST_LINE_START;
    else if (c == ' ' || c == '\r')
        r->state = ST_REASON;
    else
        return false;
    return true;
}

/* Chunk-size line and the CRLF after chunk data.  Returns false when malformed. */
static bool chunk_byte(struct http_response *r, unsigned char c)
{
    if (r->state == ST_CHUNK_DATA_END) {
        if (c == '\r')
            return true;
        if (c != '\n')
            return false;
        r->state = ST_CHUNK_SIZE;
        r->remaining = 0;
        r->index = 0;
        return true;
    }
    unsigned char lc = lower(c);
    if ((c >= '0' && c <= '9') || (lc >= 'a' && lc <= 'f')) {
        if (++r->index > HEX_DIGITS_MAX)
            return false;
        r->remaining = r->remaining * 16 + (uint64_t)(c <= '9' ? c - '0' : lc - 'a' + 10);
        return true;
    }
    if (r->index == 0)
        return false;
    if (c == ';' || c == ' ' || c == '\t') {
        r->state = ST_CHUNK_EXT;
        return true;
    }
    if (c == '\r')
        return true;
    if (c != '\n')
        return false;
    r->state = r->remaining ? ST_CHUNK_DATA : ST_TRAILER_START;
    return true;
}

/* Skips to the end of the current line; returns the bytes used (0 when `len` has no LF). */
static size_t skip_line(const uint8_t *data, size_t len, bool *found)
{
    const uint8_t *lf = memchr(data, '\n', len);
    *found = lf != NULL;
    return lf ? (size_t)(lf - data) + 1 : len;
}

static size_t skip_body(struct http_response *r, size_t len)
{
    size_t take = r->remaining < len ? (size_t)r->remaining : len;
    r->remaining -= take;
    return take;
}

long http_response_parse(struct http_response *r, const uint8_t *data, size_t len,
                         const char *accept)
{
    if (r->complete)
        start_next_response(r);
    size_t i = 0;
    while (i < len) {
        unsigned char c = data[i];
        bool found;
        switch (r->state) {
        case ST_VERSION:
        case ST_CODE:
            if (!status_byte(r, c))
                return -1;
            i++;
            break;
        case ST_REASON:
        case ST_SKIP_LINE:
        case ST_CHUNK_EXT:
        case ST_TRAILER_LINE:
            i += skip_line(data + i, len - i, &found);
            if (!found)
                break;
            if (r->state == ST_CHUNK_EXT)
                r->state = r->remaining ? ST_CHUNK_DATA : ST_TRAILER_START;
            else if (r->state == ST_TRAILER_LINE)
                r->state = ST_TRAILER_START;
            else
                r->state = ST_LINE_START;
            break;
        case ST_LINE_START:
            if (c == '\r') {
                i++;
            } else if (c == '\n') {
                i++;
                if (headers_done(r)) {
                    r->complete = true;
                    return (long)i;
                }
            } else {
                r->state = ST_NAME;
                r->index = 0;
                r->header = (uint8_t)((1u << HDR_COUNT) - 1);
                if (!accept)
                    r->header &= (uint8_t)~(1u << HDR_WS_ACCEPT);
            }
            break;
        case ST_NAME:
            if (!name_byte(r, c))
                return -1;
            i++;
            break;
        case ST_VALUE:
            i++;
            if (c == '\n')
                value_end(r, accept);
            else if (!value_byte(r, c, accept))
                return -1;
            break;
        case ST_BODY:
            i += skip_body(r, len - i);
            if (r->remaining == 0) {
                r->complete = true;
                return (long)i;
            }
            break;
        case ST_BODY_TO_EOF:
            i = len;
            break;
        case ST_CHUNK_SIZE:
        case ST_CHUNK_DATA_END:
            if (!chunk_byte(r, c))
                return -1;
            i++;
            break;
        case ST_CHUNK_DATA:
            i += skip_body(r, len - i);
            if (r->remaining == 0)
                r->state = ST_CHUNK_DATA_END;
            break;
        case ST_TRAILER_START:
            i++;
            if (c == '\n') {
                r->complete = true;
                return (long)i;
            }
            if (c != '\r')
                r->state = ST_TRAILER_LINE;
            break;
        default:
            return -1;
        }
    }
    return (long)i;
}

bool http_response_finish(struct http_response *r)
{
    if (r->state != ST_BODY_TO_EOF)
        return false;
    r->complete = true;
    return true;
}
