/* ws_handshake.c - the server side of the opening handshake; see ws_handshake.h. */
#include "ws/ws_handshake.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

static const char websocket_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

#define KEY_LEN 24      /* base64 of 16 bytes */
#define KEY_MAX 64

struct span {
    const char *at;
    size_t len;
};

static struct span trimmed(const char *s, size_t len)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return (struct span){s, len};
}

static bool span_is(struct span s, const char *text)
{
    return s.len == strlen(text) && strncasecmp(s.at, text, s.len) == 0;
}

static bool name_is(const struct ws_http_header *h, const char *name)
{
    return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

/* Whether a comma-separated header value lists `token` (case-insensitively). */
static bool list_has_token(const char *value, size_t len, const char *token)
{
    const char *end = value + len;
    while (value < end) {
        const char *comma = memchr(value, ',', (size_t)(end - value));
        const char *item_end = comma ? comma : end;
        if (span_is(trimmed(value, (size_t)(item_end - value)), token))
            return true;
        value = comma ? comma + 1 : end;
    }
    return false;
}

static bool any_header_lists(const struct ws_http_header *headers, size_t count,
                             const char *name, const char *token)
{
    for (size_t i = 0; i < count; i++)
        if (name_is(&headers[i], name) &&
            list_has_token(headers[i].value, headers[i].value_len, token))
            return true;
    return false;
}

/* The value of a header that must appear exactly once; false if missing or repeated. */
static bool single_header(const struct ws_http_header *headers, size_t count, const char *name,
                          struct span *value)
{
    int seen = 0;
    for (size_t i = 0; i < count; i++) {
        if (name_is(&headers[i], name)) {
            *value = trimmed(headers[i].value, headers[i].value_len);
            seen++;
        }
    }
    return seen == 1;
}

static int base64_digit(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Canonical base64 of exactly 16 bytes: 22 digits, the last carrying only 2 data bits (its
 * low 4 bits zero), then "==". */
static bool key_valid(struct span key)
{
    if (key.len != KEY_LEN || key.at[22] != '=' || key.at[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (base64_digit(key.at[i]) < 0)
            return false;
    return (base64_digit(key.at[21]) & 0x0F) == 0;
}

static bool negotiate_extensions(const struct ws_http_header *headers, size_t count,
                                 struct ws_extensions *ext)
{
    for (size_t i = 0; i < count; i++)
        if (name_is(&headers[i], "Sec-WebSocket-Extensions") &&
            ws_extensions_negotiate(ext, headers[i].value, headers[i].value_len) < 0)
            return false;
    return true;
}

enum ws_handshake_result ws_handshake_check(const char *method, size_t method_len,
                                            const struct ws_http_header *headers, size_t count,
                                            unsigned deflate_window_bits,
                                            struct ws_handshake *out)
{
    struct span version, key;

    if (method_len != 3 || memcmp(method, "GET", 3) != 0)
        return WS_HANDSHAKE_NOT_GET;
    if (!any_header_lists(headers, count, "Upgrade", "websocket"))
        return WS_HANDSHAKE_NO_UPGRADE;
    if (!any_header_lists(headers, count, "Connection", "upgrade"))
        return WS_HANDSHAKE_NO_CONNECTION;
    if (!single_header(headers, count, "Sec-WebSocket-Version", &version) ||
        !span_is(version, "13"))
        return WS_HANDSHAKE_BAD_VERSION;
    if (!single_header(headers, count, "Sec-WebSocket-Key", &key) || !key_valid(key))
        return WS_HANDSHAKE_BAD_KEY;

    ws_extensions_init(&out->extensions, deflate_window_bits);
    if (deflate_window_bits && !negotiate_extensions(headers, count, &out->extensions))
        return WS_HANDSHAKE_BAD_EXTENSIONS;
    if (ws_accept_compute(key.at, key.len, out->accept) < 0)
        return WS_HANDSHAKE_CRYPTO_FAILED;
    return WS_HANDSHAKE_OK;
}

int ws_handshake_status(enum ws_handshake_result result)
{
    switch (result) {
    case WS_HANDSHAKE_OK:
        return 101;
    case WS_HANDSHAKE_BAD_VERSION:
        return 426;
    case WS_HANDSHAKE_CRYPTO_FAILED:
        return 500;
    default:
        return 400;
    }
}

const char *ws_handshake_reason(enum ws_handshake_result result)
{
    switch (result) {
    case WS_HANDSHAKE_OK:
        return "Switching Protocols";
    case WS_HANDSHAKE_NOT_GET:
        return "a WebSocket handshake must be a GET";
    case WS_HANDSHAKE_NO_UPGRADE:
        return "missing \"Upgrade: websocket\"";
    case WS_HANDSHAKE_NO_CONNECTION:
        return "missing \"Connection: Upgrade\"";
    case WS_HANDSHAKE_BAD_VERSION:
        return "unsupported Sec-WebSocket-Version (13 is supported)";
    case WS_HANDSHAKE_BAD_KEY:
        return "Sec-WebSocket-Key must be the base64 of 16 bytes";
    case WS_HANDSHAKE_BAD_EXTENSIONS:
        return "malformed Sec-WebSocket-Extensions";
    case WS_HANDSHAKE_CRYPTO_FAILED:
        return "cannot compute Sec-WebSocket-Accept";
    }
    return "bad WebSocket handshake";
}

const char *ws_handshake_refusal_headers(enum ws_handshake_result result)
{
    return result == WS_HANDSHAKE_BAD_VERSION ? "Sec-WebSocket-Version: 13\r\n" : "";
}

int ws_accept_compute(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1])
{
    unsigned char input[KEY_MAX + sizeof websocket_guid - 1];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;

    if (key_len > KEY_MAX)
        return -EINVAL;
    memcpy(input, key, key_len);
    memcpy(input + key_len, websocket_guid, sizeof websocket_guid - 1);
    if (!EVP_Digest(input, key_len + sizeof websocket_guid - 1, digest, &digest_len,
                    EVP_sha1(), NULL) || digest_len != 20)
        return -EIO;
    /* EVP_EncodeBlock writes 4 digits per 3 bytes and a NUL: 28 + 1 for 20 bytes. */
    if (EVP_EncodeBlock((unsigned char *)out, digest, (int)digest_len) != WS_ACCEPT_LEN)
        return -EIO;
    return 0;
}

int ws_handshake_response(const struct ws_handshake *hs, char *buf, size_t cap)
{
    const struct ws_extensions *ext = &hs->extensions;
    int n;
    if (ext->response_len > 0)
        n = snprintf(buf, cap,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "Sec-WebSocket-Extensions: %s\r\n"
                     "\r\n",
                     hs->accept, ext->response);
    else
        n = snprintf(buf, cap,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "\r\n",
                     hs->accept);
    if (n < 0 || (size_t)n >= cap)
        return -ENOSPC;
    return n;
}
