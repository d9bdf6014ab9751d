/* ws_handshake.h - the server side of the RFC 6455 opening handshake (section 4.2).
 *
 * ws_handshake_check() takes a parsed HTTP request (its method and header fields, in order;
 * names compare case-insensitively, values are trimmed of optional whitespace) and either
 * accepts it, computing Sec-WebSocket-Accept and negotiating permessage-deflate, or says why
 * not.  Every refusal maps to a status: 426 (with "Sec-WebSocket-Version: 13") for a version
 * other than 13, 400 for anything else.  The HTTP layer owns the rest of the request (HTTP/1.1
 * or later, Host) and writes the refusal; ws_handshake_response() writes the 101 response.
 * No allocation; SHA-1 and base64 come from OpenSSL libcrypto's EVP interface.
 */
#ifndef IOSERVE_WS_HANDSHAKE_H
#define IOSERVE_WS_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "ws/ws_extensions.h"

struct ws_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

enum ws_handshake_result {
    WS_HANDSHAKE_OK,
    WS_HANDSHAKE_NOT_GET,          /* 400 */
    WS_HANDSHAKE_NO_UPGRADE,       /* 400: no "websocket" in Upgrade */
    WS_HANDSHAKE_NO_CONNECTION,    /* 400: no "upgrade" token in Connection */
    WS_HANDSHAKE_BAD_VERSION,      /* 426: Sec-WebSocket-Version missing, repeated or not 13 */
    WS_HANDSHAKE_BAD_KEY,          /* 400: Sec-WebSocket-Key missing, repeated, not 16 bytes */
    WS_HANDSHAKE_BAD_EXTENSIONS,   /* 400: Sec-WebSocket-Extensions is not valid syntax */
    WS_HANDSHAKE_CRYPTO_FAILED,    /* 500: libcrypto refused to hash */
};

/* base64 of a 20-byte SHA-1 digest */
#define WS_ACCEPT_LEN 28

struct ws_handshake {
    char accept[WS_ACCEPT_LEN + 1];   /* Sec-WebSocket-Accept, NUL-terminated */
    struct ws_extensions extensions;  /* .deflate and the response value, when accepted */
};

/* deflate_window_bits: the largest LZ77 window the server agrees to for permessage-deflate
 * (ws_extensions_init()), or 0 not to negotiate it at all.  *out is filled on OK. */
enum ws_handshake_result ws_handshake_check(const char *method, size_t method_len,
                                            const struct ws_http_header *headers, size_t count,
                                            unsigned deflate_window_bits,
                                            struct ws_handshake *out);

/* The HTTP status for a result (101 for OK), a short reason for the response body, and the
 * header lines (each ending in CRLF, possibly none) the refusal must carry. */
int ws_handshake_status(enum ws_handshake_result result);
const char *ws_handshake_reason(enum ws_handshake_result result);
const char *ws_handshake_refusal_headers(enum ws_handshake_result result);

/* Computes Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2 step 5.4): base64 of the
 * SHA-1 of the key followed by the protocol GUID.  Returns 0, or -EINVAL for a key over 64
 * bytes, -EIO if libcrypto fails. */
int ws_accept_compute(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]);

/* Room for the longest 101 response head, with every deflate parameter. */
#define WS_HANDSHAKE_RESPONSE_MAX 320

/* Writes the complete 101 Switching Protocols response head, blank line included.  Returns its
 * length, or -ENOSPC if cap is too small (WS_HANDSHAKE_RESPONSE_MAX always suffices). */
int ws_handshake_response(const struct ws_handshake *hs, char *buf, size_t cap);

#endif
