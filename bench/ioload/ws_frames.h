/* ws_frames.h - RFC 6455 framing for a WebSocket echo client.
 *
 * Writing: one masked binary frame around a payload, built once and sent many times.
 * Reading: the server's unmasked frames, streamed in chunks of any size with 16 bytes of
 * state; every data message (possibly fragmented) must equal the expected payload byte for
 * byte.  Pings and pongs are skipped; a close frame or a masked server frame ends the stream.
 */
#ifndef IOLOAD_WS_FRAMES_H
#define IOLOAD_WS_FRAMES_H

#include <stddef.h>
#include <stdint.h>

struct ws_reader {
    uint64_t remaining; /* payload bytes left in the current frame (or its length being read) */
    uint32_t offset;    /* bytes of the current data message verified so far */
    uint8_t phase;
    uint8_t need;       /* extended-length bytes still to read */
    uint8_t opcode;     /* of the current frame */
    uint8_t flags;
};

enum ws_verdict {
    WS_OK,
    WS_MALFORMED,  /* not a frame a server may send */
    WS_MISMATCH,   /* a data message differs from the expected payload */
    WS_CLOSED,     /* the server sent a close frame */
};

void ws_reader_init(struct ws_reader *r);

/* Consumes all of `data`.  Adds to *messages the data messages completed and verified. */
enum ws_verdict ws_reader_feed(struct ws_reader *r, const uint8_t *data, size_t len,
                               const uint8_t *expect, size_t expect_len, uint32_t *messages);

/* Bytes of a client frame carrying `payload_len` bytes. */
size_t ws_frame_size(size_t payload_len);

/* Writes that frame (FIN, binary, masked with `mask`) to `out`, which has ws_frame_size()
 * bytes. */
void ws_frame_build(uint8_t *out, const uint8_t *payload, size_t payload_len,
                    const uint8_t mask[4]);

#endif
