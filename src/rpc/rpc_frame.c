/* rpc_frame.c - the msgpack framer (contract in rpc_frame.h). */
#include "rpc/rpc_frame.h"

#include <errno.h>

void rpc_frame_init(rpc_frame *f, size_t max_len)
{
    f->max_len = max_len;
    rpc_frame_reset(f);
}

void rpc_frame_reset(rpc_frame *f)
{
    f->pos = 0;
    f->depth = 0;
}

/* One header: its bytes, the payload bytes that follow it (str, bin, ext) and the elements
 * that follow it (array, map). */
struct head {
    size_t len;
    uint64_t payload;
    uint64_t elements;
};

static uint64_t big_endian(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* The header's own length from its first byte (0: not msgpack). */
static size_t head_len(unsigned char b)
{
    if (b <= 0xbf || b >= 0xe0)
        return 1; /* fixint, fixmap, fixarray, fixstr, negative fixint */
    static const unsigned char len[0x20] = {
        [0x00] = 1, [0x02] = 1, [0x03] = 1,             /* nil, false, true (0xc1: never used) */
        [0x04] = 2, [0x05] = 3, [0x06] = 5,             /* bin 8/16/32 */
        [0x07] = 3, [0x08] = 4, [0x09] = 6,             /* ext 8/16/32: length, then type */
        [0x0a] = 5, [0x0b] = 9,                         /* float 32/64 */
        [0x0c] = 2, [0x0d] = 3, [0x0e] = 5, [0x0f] = 9, /* uint 8..64 */
        [0x10] = 2, [0x11] = 3, [0x12] = 5, [0x13] = 9, /* int 8..64 */
        [0x14] = 3, [0x15] = 4, [0x16] = 6, [0x17] = 10, [0x18] = 18, /* fixext: type + data */
        [0x19] = 2, [0x1a] = 3, [0x1b] = 5,             /* str 8/16/32 */
        [0x1c] = 3, [0x1d] = 5, [0x1e] = 3, [0x1f] = 5, /* array 16/32, map 16/32 */
    };
    return len[b - 0xc0];
}

/* Decode a header whose h.len bytes are all at p. */
static struct head head_read(const unsigned char *p, size_t len)
{
    unsigned char b = p[0];
    struct head h = {.len = len};
    if (b >= 0x80 && b <= 0x8f)
        h.elements = 2u * (b & 0x0f);
    else if (b >= 0x90 && b <= 0x9f)
        h.elements = b & 0x0f;
    else if (b >= 0xa0 && b <= 0xbf)
        h.payload = b & 0x1f;
    else if ((b >= 0xc4 && b <= 0xc6) || (b >= 0xd9 && b <= 0xdb))
        h.payload = big_endian(p + 1, len - 1); /* bin, str */
    else if (b >= 0xc7 && b <= 0xc9)
        h.payload = big_endian(p + 1, len - 2); /* ext: the type byte ends the header */
    else if (b == 0xdc || b == 0xdd)
        h.elements = big_endian(p + 1, len - 1);
    else if (b == 0xde || b == 0xdf)
        h.elements = 2 * big_endian(p + 1, len - 1);
    return h;
}

/* An element ended: close every container it completes.  True when the message is done. */
static int element_done(rpc_frame *f)
{
    while (f->depth > 0) {
        if (--f->left[f->depth - 1] > 0)
            return 0;
        f->depth--;
    }
    return 1;
}

ssize_t rpc_frame_scan(rpc_frame *f, const char *data, size_t len)
{
    const unsigned char *bytes = (const unsigned char *)data;
    while (f->pos < len) {
        size_t hlen = head_len(bytes[f->pos]);
        if (hlen == 0)
            return -EPROTO;
        if (hlen > f->max_len - f->pos)
            return -EMSGSIZE;
        if (hlen > len - f->pos)
            return 0;
        struct head h = head_read(bytes + f->pos, hlen);
        size_t room = f->max_len - f->pos - hlen;
        /* Every element takes at least one byte: a count over the room can never fit. */
        if (h.payload > room || h.elements > room - h.payload)
            return -EMSGSIZE;
        if (h.payload > len - f->pos - hlen)
            return 0; /* wait for the whole payload; the header is read again then */
        f->pos += hlen + (size_t)h.payload;
        if (h.elements > 0) {
            if (f->depth == RPC_FRAME_MAX_DEPTH)
                return -EPROTO;
            f->left[f->depth++] = (size_t)h.elements;
        } else if (element_done(f)) {
            return (ssize_t)f->pos;
        }
    }
    return 0;
}
