/* ws_frame.c - the frame parser and writer; see ws_frame.h. */
#include "ws/ws_frame.h"

#include <string.h>

enum parser_state { P_HEADER, P_PAYLOAD, P_FAILED };

#define B0_FIN 0x80u
#define B0_RSV1 0x40u
#define B0_RSV2 0x20u
#define B0_RSV3 0x10u
#define B0_OPCODE 0x0Fu
#define B1_MASK 0x80u
#define B1_LEN 0x7Fu
#define LEN_16BIT 126u
#define LEN_64BIT 127u

void ws_frame_parser_init(struct ws_frame_parser *p, enum ws_role role, bool rsv1_allowed)
{
    memset(p, 0, sizeof *p);
    p->state = P_HEADER;
    p->expect_masked = role == WS_ROLE_SERVER;
    p->rsv1_allowed = rsv1_allowed;
}

static enum ws_frame_event fail(struct ws_frame_parser *p, enum ws_close_code code)
{
    p->state = P_FAILED;
    p->error = code;
    return WS_FRAME_ERROR;
}

static bool opcode_defined(unsigned opcode)
{
    switch (opcode) {
    case WS_OP_CONTINUATION:
    case WS_OP_TEXT:
    case WS_OP_BINARY:
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        return true;
    default:
        return false;
    }
}

/* Everything the first two bytes can violate, checked before waiting for the rest of the
 * header so a bad frame fails as early as possible. */
static bool first_bytes_valid(const struct ws_frame_parser *p)
{
    unsigned b0 = p->raw[0], b1 = p->raw[1];
    unsigned opcode = b0 & B0_OPCODE;
    bool fin = b0 & B0_FIN, rsv1 = b0 & B0_RSV1;

    if (b0 & (B0_RSV2 | B0_RSV3))
        return false;
    if (!opcode_defined(opcode))
        return false;
    if (((b1 & B1_MASK) != 0) != p->expect_masked)
        return false;
    if (ws_opcode_is_control(opcode))
        return fin && !rsv1 && (b1 & B1_LEN) <= WS_CONTROL_PAYLOAD_MAX;
    if (opcode == WS_OP_CONTINUATION)
        return p->message_open && !rsv1;
    return !p->message_open && (!rsv1 || p->rsv1_allowed);
}

static size_t header_size_from_first_bytes(const uint8_t *raw)
{
    unsigned len7 = raw[1] & B1_LEN;
    size_t size = 2;
    if (len7 == LEN_16BIT)
        size += 2;
    else if (len7 == LEN_64BIT)
        size += 8;
    if (raw[1] & B1_MASK)
        size += 4;
    return size;
}

static uint64_t read_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Decodes the complete header in p->raw; false if its length is not in the shortest form or
 * has the most significant bit set (RFC 6455 section 5.2). */
static bool decode_header(struct ws_frame_parser *p)
{
    struct ws_frame_header *h = &p->header;
    const uint8_t *raw = p->raw;
    unsigned len7 = raw[1] & B1_LEN;
    size_t pos = 2;

    h->fin = raw[0] & B0_FIN;
    h->rsv1 = raw[0] & B0_RSV1;
    h->opcode = raw[0] & B0_OPCODE;
    h->masked = raw[1] & B1_MASK;
    if (len7 == LEN_16BIT) {
        h->payload_len = read_be(raw + pos, 2);
        pos += 2;
        if (h->payload_len < LEN_16BIT)
            return false;
    } else if (len7 == LEN_64BIT) {
        h->payload_len = read_be(raw + pos, 8);
        pos += 8;
        if (h->payload_len >> 63 || h->payload_len <= UINT16_MAX)
            return false;
    } else {
        h->payload_len = len7;
    }
    if (h->masked)
        memcpy(h->mask_key, raw + pos, 4);
    else
        memset(h->mask_key, 0, 4);
    return true;
}

static enum ws_frame_event parse_header(struct ws_frame_parser *p, const uint8_t *buf, size_t len,
                                        size_t *consumed)
{
    size_t used = 0;
    size_t need = p->raw_len < 2 ? 2 : header_size_from_first_bytes(p->raw);

    while (p->raw_len < need) {
        if (used == len) {
            *consumed = used;
            return WS_FRAME_NEED_MORE;
        }
        p->raw[p->raw_len++] = buf[used++];
        if (p->raw_len == 2) {
            if (!first_bytes_valid(p)) {
                *consumed = used;
                return fail(p, WS_CLOSE_PROTOCOL_ERROR);
            }
            need = header_size_from_first_bytes(p->raw);
        }
    }
    *consumed = used;
    if (!decode_header(p))
        return fail(p, WS_CLOSE_PROTOCOL_ERROR);
    if (!ws_opcode_is_control(p->header.opcode))
        p->message_open = !p->header.fin;
    p->raw_len = 0;
    p->payload_left = p->header.payload_len;
    p->span_offset = 0;
    p->state = P_PAYLOAD;
    return WS_FRAME_HEADER;
}

static enum ws_frame_event parse_payload(struct ws_frame_parser *p, size_t len, size_t *consumed)
{
    if (p->payload_left == 0) {
        p->state = P_HEADER;
        return WS_FRAME_END;
    }
    if (len == 0)
        return WS_FRAME_NEED_MORE;
    size_t n = len < p->payload_left ? len : (size_t)p->payload_left;
    p->span_offset = p->header.payload_len - p->payload_left;
    p->payload_left -= n;
    *consumed = n;
    return WS_FRAME_PAYLOAD;
}

enum ws_frame_event ws_frame_parse(struct ws_frame_parser *p, const uint8_t *buf, size_t len,
                                   size_t *consumed)
{
    *consumed = 0;
    switch (p->state) {
    case P_HEADER:
        return parse_header(p, buf, len, consumed);
    case P_PAYLOAD:
        return parse_payload(p, len, consumed);
    default:
        return WS_FRAME_ERROR;
    }
}

void ws_frame_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4],
                   uint64_t offset)
{
    /* The key repeated twice, rotated to the payload offset, masks 8 bytes per step; since 8
     * is a multiple of 4 the rotation stays right for every word and for the tail. */
    uint8_t key8[8];
    for (size_t i = 0; i < 8; i++)
        key8[i] = key[(offset + i) & 3];
    uint64_t key_word;
    memcpy(&key_word, key8, sizeof key_word);

    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t word;
        memcpy(&word, src + i, sizeof word);
        word ^= key_word;
        memcpy(dst + i, &word, sizeof word);
    }
    for (; i < len; i++)
        dst[i] = src[i] ^ key8[i & 7];
}

void ws_frame_unmask(const struct ws_frame_parser *p, uint8_t *dst, const uint8_t *src,
                     size_t len, uint64_t offset)
{
    if (p->header.masked)
        ws_frame_mask(dst, src, len, p->header.mask_key, offset);
    else if (dst != src)
        memcpy(dst, src, len);
}

size_t ws_frame_header_size(uint64_t payload_len, bool masked)
{
    size_t size = 2;
    if (payload_len > UINT16_MAX)
        size += 8;
    else if (payload_len >= LEN_16BIT)
        size += 2;
    return masked ? size + 4 : size;
}

size_t ws_frame_write_header(uint8_t out[WS_FRAME_HEADER_MAX], enum ws_opcode opcode, bool fin,
                             bool rsv1, uint64_t payload_len, const uint8_t *mask_key)
{
    size_t pos = 2;
    size_t ext = 0;

    out[0] = (uint8_t)((fin ? B0_FIN : 0) | (rsv1 ? B0_RSV1 : 0) | ((unsigned)opcode & B0_OPCODE));
    if (payload_len > UINT16_MAX) {
        out[1] = LEN_64BIT;
        ext = 8;
    } else if (payload_len >= LEN_16BIT) {
        out[1] = LEN_16BIT;
        ext = 2;
    } else {
        out[1] = (uint8_t)payload_len;
    }
    for (size_t i = 0; i < ext; i++)
        out[pos + i] = (uint8_t)(payload_len >> (8 * (ext - 1 - i)));
    pos += ext;
    if (mask_key) {
        out[1] |= B1_MASK;
        memcpy(out + pos, mask_key, 4);
        pos += 4;
    }
    return pos;
}
