/* ws_frame.h - RFC 6455 section 5 framing, with no I/O.
 *
 * The parser is fed whatever bytes arrived, split anywhere (one byte at a time works), and
 * reports one event per call: a frame's header, a span of its payload, the frame's end, or a
 * protocol error with the close code to send.  It copies nothing but header bytes: a payload
 * span is the caller's own input, still masked; ws_frame_unmask() unmasks it into wherever the
 * caller keeps it (in place is fine), a word at a time.  The parser enforces every framing rule
 * of RFC 6455 and the RSV1 rule of RFC 7692, including fragmentation order across frames
 * (continuations, control frames interleaved in a fragmented message); it knows nothing of
 * payload contents: UTF-8, close payloads and compression belong to ws_message.h.
 *
 * The writer makes frame headers: unmasked server frames of any length form, or masked ones for
 * a client (tests use those to play the peer).
 */
#ifndef IOSERVE_WS_FRAME_H
#define IOSERVE_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws/ws_close.h"

enum ws_opcode {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* 2 bytes, a 64-bit extended length, a masking key. */
#define WS_FRAME_HEADER_MAX 14

static inline bool ws_opcode_is_control(unsigned opcode)
{
    return (opcode & 0x8) != 0;
}

struct ws_frame_header {
    uint64_t payload_len;
    uint8_t opcode;   /* enum ws_opcode */
    bool fin;
    bool rsv1;        /* RFC 7692: "per-message compressed", first frame of a message only */
    bool masked;
    uint8_t mask_key[4];
};

/* Which end is parsing: a server receives masked frames, a client unmasked ones. */
enum ws_role { WS_ROLE_SERVER, WS_ROLE_CLIENT };

enum ws_frame_event {
    WS_FRAME_NEED_MORE, /* every byte given was consumed; feed more */
    WS_FRAME_HEADER,    /* p->header describes the frame that starts */
    WS_FRAME_PAYLOAD,   /* the bytes consumed are payload, still masked, at p->span_offset */
    WS_FRAME_END,       /* the frame in p->header is complete (consumed nothing) */
    WS_FRAME_ERROR,     /* p->error holds the close code; the parser stays failed */
};

struct ws_frame_parser {
    struct ws_frame_header header; /* valid from WS_FRAME_HEADER to WS_FRAME_END */
    uint64_t span_offset;          /* where in the payload the last WS_FRAME_PAYLOAD span starts */
    uint64_t payload_left;
    enum ws_close_code error;
    /* private */
    uint8_t raw[WS_FRAME_HEADER_MAX];
    uint8_t raw_len;
    uint8_t state;
    bool expect_masked;
    bool rsv1_allowed;
    bool message_open;             /* a fragmented data message awaits continuations */
};

/* rsv1_allowed: permessage-deflate was negotiated. */
void ws_frame_parser_init(struct ws_frame_parser *p, enum ws_role role, bool rsv1_allowed);

/* Parses from buf[0..len) and sets *consumed.  Call again with the rest of the input until it
 * returns WS_FRAME_NEED_MORE (which means all of it was consumed) or WS_FRAME_ERROR; a frame
 * with an empty payload still reports WS_FRAME_END on a call with len == 0. */
enum ws_frame_event ws_frame_parse(struct ws_frame_parser *p, const uint8_t *buf, size_t len,
                                   size_t *consumed);

/* XORs len bytes of payload with key, starting `offset` bytes into the payload (so a payload
 * may be unmasked in pieces).  dst may be src (in place), but no other overlap. */
void ws_frame_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4],
                   uint64_t offset);

/* Copies a payload span of the current frame to dst, unmasking it if masked; `offset` is its
 * position in the payload (p->span_offset plus however far into the span it starts). */
void ws_frame_unmask(const struct ws_frame_parser *p, uint8_t *dst, const uint8_t *src,
                     size_t len, uint64_t offset);

/* The header length for a payload of payload_len bytes. */
size_t ws_frame_header_size(uint64_t payload_len, bool masked);

/* Writes a frame header using the shortest length form and returns its length.  mask_key is
 * NULL for a server frame; a client frame carries it (the caller masks the payload). */
size_t ws_frame_write_header(uint8_t out[WS_FRAME_HEADER_MAX], enum ws_opcode opcode, bool fin,
                             bool rsv1, uint64_t payload_len, const uint8_t *mask_key);

#endif
