/* ws_close.h - close codes and close-frame payloads (RFC 6455 sections 5.5.1 and 7.4).
 *
 * A close payload is empty, or a 2-byte big-endian code followed by a UTF-8 reason.  Only the
 * codes registered for use on the wire (1000-1003 and 1007-1011 by RFC 6455, 1012-1014 in IANA's
 * registry since) and the application ranges (3000-4999) may be received; anything else, or a
 * 1-byte payload, fails the connection with 1002, and a reason that is not UTF-8 fails it with
 * 1007.  Pure functions, no state.
 */
#ifndef IOSERVE_WS_CLOSE_H
#define IOSERVE_WS_CLOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_close_code {
    WS_CLOSE_NONE = 0,                /* "no failure" where a function returns a code */
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL_ERROR = 1002,
    WS_CLOSE_UNSUPPORTED_DATA = 1003,
    WS_CLOSE_NO_STATUS = 1005,        /* reported for an empty close payload; never sent */
    WS_CLOSE_ABNORMAL = 1006,         /* never sent */
    WS_CLOSE_INVALID_PAYLOAD = 1007,
    WS_CLOSE_POLICY_VIOLATION = 1008,
    WS_CLOSE_MESSAGE_TOO_BIG = 1009,
    WS_CLOSE_MANDATORY_EXTENSION = 1010,
    WS_CLOSE_INTERNAL_ERROR = 1011,
};

/* The largest payload of any control frame, and so of a close frame. */
#define WS_CONTROL_PAYLOAD_MAX 125
#define WS_CLOSE_REASON_MAX (WS_CONTROL_PAYLOAD_MAX - 2)

/* Whether `code` may appear in a close frame on the wire. */
bool ws_close_code_valid(unsigned code);

/* Validates a received close payload.  On success returns WS_CLOSE_NONE and sets *code (1005
 * when the payload is empty) and the reason span (pointing into `payload`); otherwise returns
 * the code to fail the connection with (1002 or 1007) and leaves the outputs alone. */
enum ws_close_code ws_close_parse(const uint8_t *payload, size_t len, unsigned *code,
                                  const uint8_t **reason, size_t *reason_len);

/* Writes a close payload for `code` (which must be valid on the wire) and a UTF-8 reason of at
 * most WS_CLOSE_REASON_MAX bytes into out.  Returns its length, or -EINVAL. */
int ws_close_build(uint8_t out[WS_CONTROL_PAYLOAD_MAX], unsigned code, const char *reason,
                   size_t reason_len);

#endif
