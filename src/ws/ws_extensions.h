/* ws_extensions.h - Sec-WebSocket-Extensions parsing and permessage-deflate negotiation
 * (RFC 6455 section 9.1, RFC 7692 section 7.1).
 *
 * The server accepts the first permessage-deflate offer it can honour, in the client's order of
 * preference, and declines (skips) any offer with an unknown parameter, a duplicate parameter or
 * an invalid value, as RFC 7692 section 7.1 requires.  Other extensions are ignored.  A header
 * that breaks the ABNF of RFC 6455 section 9.1 is an error (the handshake answers 400).  The
 * response echoes the parameters the client asked for, so both ends agree on them, except that
 * the LZ77 windows are held to the server's own largest (RFC 7692 section 7.1.2): it compresses
 * with at most that window (server_max_window_bits: the offer's value or less, answered only
 * when offered), and where the client offers client_max_window_bits it answers with that
 * largest window (or the offer's value if smaller), so the client's compressor -- and with it
 * our inflater's window -- is no bigger.  A client that does not offer it keeps 15 bits.
 */
#ifndef IOSERVE_WS_EXTENSIONS_H
#define IOSERVE_WS_EXTENSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What both ends agreed for permessage-deflate; window bits are 8..15 (15 when not limited). */
struct ws_deflate_params {
    bool enabled;
    bool server_no_context_takeover; /* the server resets its compressor after each message */
    bool client_no_context_takeover; /* the client does: we may reset our decompressor */
    uint8_t server_max_window_bits;  /* the window the server compresses with */
    uint8_t client_max_window_bits;  /* the window the client compresses with */
};

/* Room for the longest response value: every parameter, each with a 2-digit value (128 bytes),
 * and the NUL. */
#define WS_EXTENSIONS_RESPONSE_MAX 160

struct ws_extensions {
    struct ws_deflate_params deflate;
    uint8_t window_bits_max;                    /* the server's largest window */
    size_t response_len;                        /* 0: accept no extension */
    char response[WS_EXTENSIONS_RESPONSE_MAX];  /* the Sec-WebSocket-Extensions value, NUL-ended */
};

/* window_bits_max: 9..15 (zlib compresses with no less than 9). */
void ws_extensions_init(struct ws_extensions *ext, unsigned window_bits_max);

/* Reads one Sec-WebSocket-Extensions header value; call it for each such header line, in
 * order.  Once an offer is accepted later ones are only checked for syntax.  Returns 0 (an
 * empty value included), or -EINVAL when the value is not valid syntax. */
int ws_extensions_negotiate(struct ws_extensions *ext, const char *value, size_t len);

#endif
