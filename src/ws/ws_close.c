/* ws_close.c - close codes and close-frame payloads; see ws_close.h. */
#include "ws/ws_close.h"

#include <errno.h>
#include <string.h>

#include "ws/ws_utf8.h"

bool ws_close_code_valid(unsigned code)
{
    if (code >= 1000 && code <= 1003)
        return true;
    /* 1012-1014 (Service Restart, Try Again Later, Bad Gateway) came after RFC 6455 but are
     * registered with IANA for use on the wire, so peers send them. */
    if (code >= 1007 && code <= 1014)
        return true;
    return code >= 3000 && code <= 4999;
}

enum ws_close_code ws_close_parse(const uint8_t *payload, size_t len, unsigned *code,
                                  const uint8_t **reason, size_t *reason_len)
{
    if (len == 0) {
        *code = WS_CLOSE_NO_STATUS;
        *reason = payload;
        *reason_len = 0;
        return WS_CLOSE_NONE;
    }
    if (len == 1 || len > WS_CONTROL_PAYLOAD_MAX)
        return WS_CLOSE_PROTOCOL_ERROR;
    unsigned received = (unsigned)payload[0] << 8 | payload[1];
    if (!ws_close_code_valid(received))
        return WS_CLOSE_PROTOCOL_ERROR;
    if (!ws_utf8_valid(payload + 2, len - 2))
        return WS_CLOSE_INVALID_PAYLOAD;
    *code = received;
    *reason = payload + 2;
    *reason_len = len - 2;
    return WS_CLOSE_NONE;
}

int ws_close_build(uint8_t out[WS_CONTROL_PAYLOAD_MAX], unsigned code, const char *reason,
                   size_t reason_len)
{
    if (!ws_close_code_valid(code) || reason_len > WS_CLOSE_REASON_MAX)
        return -EINVAL;
    if (reason_len > 0 && !ws_utf8_valid((const uint8_t *)reason, reason_len))
        return -EINVAL;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (reason_len > 0)
        memcpy(out + 2, reason, reason_len);
    return (int)(reason_len + 2);
}
