/* fuzz_ws_handshake.c - the server's opening handshake (ws_handshake_check and the 101 it
 * writes), with Sec-WebSocket-Extensions negotiation under it.
 *
 * The first byte chooses the method and whether permessage-deflate may be offered; the rest,
 * cut at '\n', are header lines "name: value".  Invariants: every result maps to 101, 400,
 * 426 or 500 with a reason and CRLF-terminated refusal headers; an accepted handshake had GET,
 * an Upgrade listing websocket, a Connection listing upgrade and a Sec-WebSocket-Key whose
 * Accept equals SHA-1 + base64 computed here; its 101 head is well formed, carries that
 * Accept and the negotiated extension without CR, LF or other control bytes, and the deflate
 * windows are 8-15; the same headers with names in capitals and values padded with spaces and
 * tabs give the same answer.
 */
#include <ctype.h>
#include <openssl/evp.h>

#include "fuzz.h"
#include "http/http_request.h"
#include "ws/websocket.h"
#include "ws/ws_handshake.h"

#define MAX_HEADERS 32
#define GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct headers {
    struct ws_http_header h[MAX_HEADERS];
    size_t count;
};

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The value of the nth header called name, trimmed, NUL-terminated into out. */
static bool find(const struct headers *hs, const char *name, size_t nth, char *out, size_t cap)
{
    for (size_t i = 0; i < hs->count; i++) {
        const struct ws_http_header *h = &hs->h[i];
        if (h->name_len != strlen(name) || strncasecmp(h->name, name, h->name_len) != 0 ||
            nth--)
            continue;
        const char *v = h->value, *e = h->value + h->value_len;
        while (v < e && is_ows(*v))
            v++;
        while (e > v && is_ows(e[-1]))
            e--;
        size_t n = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

static void reference_accept(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    char text[256];
    int n = snprintf(text, sizeof(text), "%s" GUID, key);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len;
    FUZZ_CHECK(EVP_Digest(text, (size_t)n, digest, &digest_len, EVP_sha1(), NULL) == 1, "sha1");
    FUZZ_CHECK(EVP_EncodeBlock((unsigned char *)out, digest, (int)digest_len) == WS_ACCEPT_LEN,
               "base64");
}

static void check_response(const struct ws_handshake *hs)
{
    char buf[WS_HANDSHAKE_RESPONSE_MAX];
    int n = ws_handshake_response(hs, buf, sizeof(buf));
    FUZZ_CHECK(n > 0 && (size_t)n <= sizeof(buf), "response %d", n);
    FUZZ_CHECK(n > 17 && memcmp(buf, "HTTP/1.1 101 ", 13) == 0 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0,
               "not a 101 head");
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        FUZZ_CHECK(c == '\r' ? i + 1 < n && buf[i + 1] == '\n' : c == '\n' ? buf[i - 1] == '\r'
                                                                          : c >= 0x20 && c < 0x7f,
                   "byte %#x at %d of the 101", c, i);
    }
    char line[64 + WS_EXTENSIONS_RESPONSE_MAX];
    snprintf(line, sizeof(line), "\r\nSec-WebSocket-Accept: %s\r\n", hs->accept);
    FUZZ_CHECK(memmem(buf, (size_t)n, line, strlen(line)), "no Accept line");
    if (hs->extensions.response_len) {
        snprintf(line, sizeof(line), "\r\nSec-WebSocket-Extensions: %s\r\n", hs->extensions.response);
        FUZZ_CHECK(memmem(buf, (size_t)n, line, strlen(line)), "no Extensions line");
    }
}

/* Reads each whole value: a token may sit past any fixed buffer (the server lists the whole
 * header, so a reference that cut it at 255 bytes once missed an "Upgrade" at byte 1650). */
static bool any_lists(const struct headers *hs, const char *name, const char *token)
{
    bool found = false;
    for (size_t i = 0; i < hs->count && !found; i++) {
        const struct ws_http_header *h = &hs->h[i];
        if (h->name_len != strlen(name) || strncasecmp(h->name, name, h->name_len) != 0)
            continue;
        char *value = fuzz_strndup((const uint8_t *)h->value, h->value_len);
        found = http_header_has_token(value, token);
        free(value);
    }
    return found;
}

static void check_accepted(const char *method, const struct headers *hs, unsigned deflate_bits,
                           const struct ws_handshake *out)
{
    char value[256], accept[WS_ACCEPT_LEN + 1];
    FUZZ_CHECK(strcmp(method, "GET") == 0, "accepted %s", method);
    FUZZ_CHECK(any_lists(hs, "Upgrade", "websocket"), "accepted without Upgrade: websocket");
    FUZZ_CHECK(any_lists(hs, "Connection", "upgrade"), "accepted without Connection: upgrade");
    FUZZ_CHECK(find(hs, "Sec-WebSocket-Key", 0, value, sizeof(value)), "accepted without a key");
    reference_accept(value, accept);
    FUZZ_CHECK(strcmp(accept, out->accept) == 0, "Accept %s, expected %s", out->accept, accept);
    const struct ws_deflate_params *d = &out->extensions.deflate;
    /* Our window never above our own largest; the client's 8..15 (15 when it cannot be told). */
    FUZZ_CHECK(!d->enabled || (deflate_bits && d->server_max_window_bits >= 8 &&
                               d->server_max_window_bits <= deflate_bits && d->client_max_window_bits >= 8 &&
                               d->client_max_window_bits <= 15), "deflate parameters");
    FUZZ_CHECK(d->enabled == (out->extensions.response_len > 0), "deflate without a response");
    check_response(out);
}

static enum ws_handshake_result check(const char *method, const struct headers *hs,
                                      unsigned deflate_bits, struct ws_handshake *out)
{
    enum ws_handshake_result r =
        ws_handshake_check(method, strlen(method), hs->h, hs->count, deflate_bits, out);
    int status = ws_handshake_status(r);
    FUZZ_CHECK(status == 101 || status == 400 || status == 426 || status == 500, "status %d", status);
    FUZZ_CHECK((status == 101) == (r == WS_HANDSHAKE_OK) && ws_handshake_reason(r), "result %d", r);
    const char *extra = ws_handshake_refusal_headers(r);
    size_t extra_len = strlen(extra);
    FUZZ_CHECK(extra_len == 0 || (extra_len >= 2 && strcmp(extra + extra_len - 2, "\r\n") == 0),
               "refusal headers '%s'", extra);
    if (r == WS_HANDSHAKE_OK)
        check_accepted(method, hs, deflate_bits, out);
    return r;
}

/* Splits text into "name: value" lines (in place). */
static void split_headers(char *text, struct headers *hs)
{
    hs->count = 0;
    for (char *line = text; line && hs->count < MAX_HEADERS;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *colon = strchr(line, ':');
        if (colon)
            hs->h[hs->count++] =
                (struct ws_http_header){line, (size_t)(colon - line), colon + 1, strlen(colon + 1)};
        line = next;
    }
}

/* The same headers with names in capitals and values wrapped in spaces and tabs, their bytes
 * kept in store. */
static void pad_headers(const struct headers *plain, struct headers *padded, fuzz_buf *store)
{
    size_t at[MAX_HEADERS];
    for (size_t i = 0; i < plain->count; i++) {
        const struct ws_http_header *h = &plain->h[i];
        at[i] = store->len;
        for (size_t k = 0; k < h->name_len; k++) {
            char c = (char)toupper((unsigned char)h->name[k]);
            fuzz_buf_put(store, &c, 1);
        }
        fuzz_buf_put(store, " \t", 2);
        fuzz_buf_put(store, h->value, h->value_len);
        fuzz_buf_put(store, "\t ", 2);
    }
    padded->count = plain->count;
    for (size_t i = 0; i < plain->count; i++) {
        const char *name = (const char *)store->data + at[i];
        size_t name_len = plain->h[i].name_len;
        padded->h[i] = (struct ws_http_header){name, name_len, name + name_len,
                                               plain->h[i].value_len + 4};
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const methods[] = {"GET", "GET", "POST", "get"};
    const char *method = methods[data[0] & 3];
    /* deflate off, or on with a largest window of 9..15 bits */
    unsigned deflate_bits = data[0] & 4 ? WS_WINDOW_BITS_MIN + (data[0] >> 3) % 7 : 0;
    char *text = fuzz_strndup(data + 1, size - 1);
    struct headers plain, padded;
    fuzz_buf store = {0};
    split_headers(text, &plain);
    pad_headers(&plain, &padded, &store);
    struct ws_handshake a, b;
    enum ws_handshake_result ra = check(method, &plain, deflate_bits, &a);
    enum ws_handshake_result rb = check(method, &padded, deflate_bits, &b);
    FUZZ_CHECK(ra == rb, "capitals and padding changed %d to %d", ra, rb);
    if (ra == WS_HANDSHAKE_OK)
        FUZZ_CHECK(strcmp(a.accept, b.accept) == 0 &&
                       strcmp(a.extensions.response, b.extensions.response) == 0,
                   "capitals and padding changed the 101");
    fuzz_buf_free(&store);
    free(text);
    return 0;
}
