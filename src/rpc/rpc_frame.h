/* rpc_frame.h - where one msgpack object ends in a stream, found before anything is decoded.
 *
 * msgpack-c's decoder allocates an array's or a map's slots when it reads the header, so a
 * five-byte header claiming 2^32 elements would cost gigabytes before a single element
 * arrived.  The framer walks the headers without allocating, rejects what cannot fit in the
 * limit as soon as the header says so (a str32 of 4 GiB, an array of more elements than bytes
 * left), and only a complete, bounded message is ever handed to the decoder.
 *
 * It resumes where it stopped: the caller keeps the message's bytes from its first one and
 * calls rpc_frame_scan() again with more of them; each byte is looked at once (a header split
 * over reads, at most 9 bytes, is looked at again).  Nothing here touches a socket.
 */
#ifndef IOSERVE_RPC_FRAME_H
#define IOSERVE_RPC_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Containers open at once; msgpack-c's own decoder gives up at 32. */
#define RPC_FRAME_MAX_DEPTH 16u

typedef struct rpc_frame {
    size_t max_len;                        /* a message over this is refused */
    size_t pos;                            /* bytes of the message already walked */
    uint32_t depth;                        /* containers open */
    size_t left[RPC_FRAME_MAX_DEPTH];      /* elements each open container still expects */
} rpc_frame;

void rpc_frame_init(rpc_frame *f, size_t max_len);
/* Start on the next message (after a complete one). */
void rpc_frame_reset(rpc_frame *f);

/* data: the message's bytes from its first, len of them so far (the same bytes as before,
 * plus more).  Returns the message's length once it is complete (the bytes after it belong
 * to the next message), 0 when more bytes are needed, -EMSGSIZE when it would exceed
 * max_len, -EPROTO for bytes that are not msgpack (0xc1) or nesting over the depth. */
ssize_t rpc_frame_scan(rpc_frame *f, const char *data, size_t len);

#endif
