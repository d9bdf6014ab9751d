/* ws_message.h - WebSocket messages over the frame layer: bytes in, events out (the reader);
 * messages in, frames out (the writer).  No sockets, no loop: a connection feeds the reader
 * what it receives and sends what the writer prepares.
 *
 * The reader assembles each data message from its fragments into a chain of pooled chunks, so
 * memory per message is bounded (max_message, else 1009) and reused.  Text is checked for UTF-8
 * as it arrives and fails at the first bad byte (1007).  With permessage-deflate, compressed
 * messages are inflated as they arrive, the limit and the UTF-8 check applying to the inflated
 * bytes, which are charged to the connection's account (ws_budget.h) until the message is
 * handed on: a refusal fails the connection with 1009 (its own budget, or a message denser
 * than inflate_ratio) or 1008 (its share of the loop's).  Control frames may arrive between fragments and are reported at once; a close
 * frame's code and reason are validated (1002, 1007).  Any failure yields WS_EVENT_FAIL with
 * the close code the connection must be failed with.
 *
 * The writer frames outgoing messages as server frames, one frame per message, compressing data
 * messages when permessage-deflate was negotiated.
 */
#ifndef IOSERVE_WS_MESSAGE_H
#define IOSERVE_WS_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws/ws_chunk.h"
#include "ws/ws_close.h"
#include "ws/ws_deflate.h"
#include "ws/ws_extensions.h"
#include "ws/ws_frame.h"
#include "ws/ws_utf8.h"

struct ws_reader_config {
    enum ws_role role;                      /* WS_ROLE_SERVER: the peer's frames are masked */
    size_t max_message;                     /* largest data message accepted, after inflation */
    const struct ws_deflate_params *deflate; /* negotiated permessage-deflate, or NULL */
    size_t inflate_ratio;                   /* ws_inflate_sink.ratio */
    struct ws_account *account;             /* charged for inflation, or NULL */
};

enum ws_event_type {
    WS_EVENT_NEED_MORE, /* all input consumed */
    WS_EVENT_MESSAGE,   /* a whole text or binary message in ev->message, now the caller's */
    WS_EVENT_PING,      /* ev->payload: answer with a pong carrying the same bytes */
    WS_EVENT_PONG,
    WS_EVENT_CLOSE,     /* ev->close_code (1005 when none) and the reason in ev->payload */
    WS_EVENT_FAIL,      /* fail the connection, sending close ev->close_code */
};

struct ws_event {
    enum ws_event_type type;
    enum ws_opcode opcode;       /* MESSAGE: WS_OP_TEXT or WS_OP_BINARY */
    struct ws_chain message;     /* MESSAGE: release it with ws_chain_release() when done */
    const uint8_t *payload;      /* PING, PONG, CLOSE: valid until the next ws_reader_feed() */
    size_t payload_len;
    unsigned close_code;         /* CLOSE, FAIL */
};

struct ws_reader {
    struct ws_frame_parser frame;
    struct ws_chunk_pool *pool;
    struct ws_chain message;     /* the data message being assembled */
    struct ws_utf8 utf8;
    struct ws_inflater inflater;
    size_t max_message;
    size_t inflate_ratio;
    uint8_t message_opcode;      /* of the message being assembled */
    bool message_compressed;
    bool deflate;
    uint8_t state;
    enum ws_close_code fail_code;
    uint8_t control_len;
    uint8_t control[WS_CONTROL_PAYLOAD_MAX];
};

/* The pool must outlive the reader. */
void ws_reader_init(struct ws_reader *r, struct ws_chunk_pool *pool,
                    const struct ws_reader_config *config);
/* Gives back the chunks of a message still being assembled, and the inflater. */
void ws_reader_destroy(struct ws_reader *r);
/* Fails the reader with code from outside (its memory was taken back: eviction), releasing
 * what it holds now; the next ws_reader_feed() reports the failure. */
void ws_reader_abandon(struct ws_reader *r, enum ws_close_code code);

/* Consumes input from buf[0..len) up to the next event, setting *consumed; call again with the
 * rest until WS_EVENT_NEED_MORE.  After WS_EVENT_CLOSE the reader consumes and ignores all
 * further input (RFC 6455 section 5.5.1: nothing follows a close); after WS_EVENT_FAIL every
 * call fails again without consuming anything. */
enum ws_event_type ws_reader_feed(struct ws_reader *r, const uint8_t *buf, size_t len,
                                  size_t *consumed, struct ws_event *ev);

struct ws_writer {
    struct ws_chunk_pool *pool;
    struct ws_deflater deflater;
    bool compress;
};

/* deflate: the negotiated parameters, or NULL; level: a zlib level for compressed messages;
 * account: charged for the compressor's memory, or NULL. */
void ws_writer_init(struct ws_writer *w, struct ws_chunk_pool *pool,
                    const struct ws_deflate_params *deflate, int level,
                    struct ws_account *account);
void ws_writer_destroy(struct ws_writer *w);

/* Frames a whole text or binary message, taking over `payload`: writes the frame header into
 * header and leaves the frame's payload in *payload (its compressed form when deflate is on,
 * the original chunks going back to the pool).  Send the header, then the chain.  Returns the
 * header length, or -ENOMEM/-EINVAL/-EIO (payload is released then). */
int ws_writer_message(struct ws_writer *w, enum ws_opcode opcode, struct ws_chain *payload,
                      uint8_t header[WS_FRAME_HEADER_MAX]);

/* Writes a whole control frame (ping, pong or close; payload <= 125 bytes) into out.  Returns
 * its length, or -EINVAL. */
#define WS_CONTROL_FRAME_MAX (2 + WS_CONTROL_PAYLOAD_MAX)
int ws_write_control(uint8_t out[WS_CONTROL_FRAME_MAX], enum ws_opcode opcode,
                     const uint8_t *payload, size_t len);

/* Writes a whole close frame; code must be valid on the wire (ws_close_code_valid), the reason
 * UTF-8 of at most WS_CLOSE_REASON_MAX bytes.  Returns its length, or -EINVAL. */
int ws_write_close(uint8_t out[WS_CONTROL_FRAME_MAX], unsigned code, const char *reason,
                   size_t reason_len);

#endif
