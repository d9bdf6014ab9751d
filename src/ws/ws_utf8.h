/* ws_utf8.h - an incremental UTF-8 validator (RFC 3629) for text messages.
 *
 * The state is one byte, carried across frames and fragments, so a text message is checked as
 * it arrives.  Validation fails at the first byte that cannot continue a valid sequence:
 * overlong forms, UTF-16 surrogates (U+D800-U+DFFF), code points above U+10FFFF, bytes C0, C1,
 * F5-FF and stray continuation bytes.  A message that ends inside a sequence is caught by
 * ws_utf8_complete() at message end.  Once failed, a validator stays failed.
 */
#ifndef IOSERVE_WS_UTF8_H
#define IOSERVE_WS_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ws_utf8 {
    uint8_t state;
};

static inline void ws_utf8_init(struct ws_utf8 *v)
{
    v->state = 0;
}

/* Feeds the next bytes of a text.  Returns false as soon as the text can no longer be valid. */
bool ws_utf8_feed(struct ws_utf8 *v, const uint8_t *data, size_t len);

/* True when everything fed so far is valid and ends on a character boundary. */
bool ws_utf8_complete(const struct ws_utf8 *v);

/* Validates a whole text at once. */
bool ws_utf8_valid(const uint8_t *data, size_t len);

#endif
