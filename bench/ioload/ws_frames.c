/* ws_frames.c - frame header state machine and payload verification for ws_frames.h. */
#include "ws_frames.h"

#include <stdbool.h>
#include <string.h>

enum phase { PH_FIRST, PH_LENGTH, PH_EXTENDED, PH_PAYLOAD };

enum flag {
    FL_FIN = 1u << 0,        /* the current frame ends its message */
    FL_IN_MESSAGE = 1u << 1, /* a fragmented data message is open */
};

enum opcode {
    OP_CONTINUATION = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10,
};

void ws_reader_init(struct ws_reader *r)
{
    memset(r, 0, sizeof(*r));
}

static bool is_control(uint8_t opcode)
{
    return opcode & 0x8;
}

static enum ws_verdict first_byte(struct ws_reader *r, uint8_t byte)
{
    if (byte & 0x70)
        return WS_MALFORMED;            /* no extension was negotiated, so RSV bits are 0 */
    r->opcode = byte & 0x0f;
    r->flags = (uint8_t)((r->flags & FL_IN_MESSAGE) | ((byte & 0x80) ? FL_FIN : 0));
    if (is_control(r->opcode)) {
        if (!(r->flags & FL_FIN) || r->opcode > OP_PONG)
            return WS_MALFORMED;
    } else if (r->opcode == OP_CONTINUATION) {
        if (!(r->flags & FL_IN_MESSAGE))
            return WS_MALFORMED;
    } else if (r->opcode == OP_TEXT || r->opcode == OP_BINARY) {
        if (r->flags & FL_IN_MESSAGE)
            return WS_MALFORMED;
        r->flags |= FL_IN_MESSAGE;
        r->offset = 0;
    } else {
        return WS_MALFORMED;
    }
    r->phase = PH_LENGTH;
    return WS_OK;
}

static enum ws_verdict length_byte(struct ws_reader *r, uint8_t byte)
{
    if (byte & 0x80)
        return WS_MALFORMED;            /* servers never mask */
    uint8_t len7 = byte & 0x7f;
    if (is_control(r->opcode) && len7 > 125)
        return WS_MALFORMED;
    r->remaining = len7 < 126 ? len7 : 0;
    r->need = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    r->phase = r->need ? PH_EXTENDED : PH_PAYLOAD;
    return WS_OK;
}

/* The frame's payload is all read. */
static enum ws_verdict frame_end(struct ws_reader *r, size_t expect_len, uint32_t *messages)
{
    r->phase = PH_FIRST;
    if (r->opcode == OP_CLOSE)
        return WS_CLOSED;
    if (is_control(r->opcode) || !(r->flags & FL_FIN))
        return WS_OK;
    r->flags &= (uint8_t)~FL_IN_MESSAGE;
    if (r->offset != expect_len)
        return WS_MISMATCH;
    r->offset = 0;
    (*messages)++;
    return WS_OK;
}

static enum ws_verdict payload(struct ws_reader *r, const uint8_t *data, size_t take,
                               const uint8_t *expect, size_t expect_len)
{
    r->remaining -= take;
    if (is_control(r->opcode))
        return WS_OK;
    if (take > expect_len - r->offset || memcmp(data, expect + r->offset, take) != 0)
        return WS_MISMATCH;
    r->offset += (uint32_t)take;
    return WS_OK;
}

enum ws_verdict ws_reader_feed(struct ws_reader *r, const uint8_t *data, size_t len,
                               const uint8_t *expect, size_t expect_len, uint32_t *messages)
{
    size_t i = 0;
    enum ws_verdict v = WS_OK;
    while (v == WS_OK && (i < len || (r->phase == PH_PAYLOAD && r->remaining == 0))) {
        switch (r->phase) {
        case PH_FIRST:
            v = first_byte(r, data[i++]);
            break;
        case PH_LENGTH:
            v = length_byte(r, data[i++]);
            break;
        case PH_EXTENDED:
            if (r->remaining >> 56)
                return WS_MALFORMED;
            r->remaining = r->remaining << 8 | data[i++];
            if (--r->need == 0)
                r->phase = PH_PAYLOAD;
            break;
        default: {
            if (r->remaining == 0) {
                v = frame_end(r, expect_len, messages);
                break;
            }
            size_t take = len - i < r->remaining ? len - i : (size_t)r->remaining;
            v = payload(r, data + i, take, expect, expect_len);
            i += take;
            break;
        }
        }
    }
    return v;
}

size_t ws_frame_size(size_t payload_len)
{
    size_t header = payload_len < 126 ? 2 : payload_len <= 0xffff ? 4 : 10;
    return header + 4 + payload_len;
}

void ws_frame_build(uint8_t *out, const uint8_t *payload_bytes, size_t payload_len,
                    const uint8_t mask[4])
{
    size_t at = 0;
    out[at++] = 0x80 | OP_BINARY;
    if (payload_len < 126) {
        out[at++] = (uint8_t)(0x80 | payload_len);
    } else if (payload_len <= 0xffff) {
        out[at++] = 0x80 | 126;
        out[at++] = (uint8_t)(payload_len >> 8);
        out[at++] = (uint8_t)payload_len;
    } else {
        out[at++] = 0x80 | 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            out[at++] = (uint8_t)((uint64_t)payload_len >> shift);
    }
    memcpy(out + at, mask, 4);
    at += 4;
    for (size_t i = 0; i < payload_len; i++)
        out[at + i] = payload_bytes[i] ^ mask[i % 4];
}
