/* ws_deflate.h - the compression of permessage-deflate (RFC 7692 section 7.2), over zlib.
 *
 * The inflater takes a compressed message's payload in pieces as it arrives and writes the
 * inflated bytes into a chain, checking as it goes that they stay within a size limit (so a
 * small "bomb" cannot grow without bound) and, for text, that they are UTF-8; at the message's
 * end it appends the 00 00 FF FF that senders strip.  The deflater compresses a message into a
 * chain with a sync flush and strips that tail.  Each keeps its LZ77 window from message to
 * message ("context takeover") unless told not to, and then ends its zlib stream after every
 * message, so that an idle connection holds no zlib memory.  zlib state is allocated on first
 * use, so a connection that never compresses pays nothing, and through ws_zmem.h, so that it
 * is charged to the connection's account (which may refuse it: -EMSGSIZE, -ENOBUFS).
 *
 * A compressed message is also held to a ratio: past WS_INFLATE_RATIO_FLOOR inflated bytes,
 * it may not inflate to more than `ratio` times the compressed bytes received so far, so that
 * memory costs an attacker wire bytes in proportion.
 */
#ifndef IOSERVE_WS_DEFLATE_H
#define IOSERVE_WS_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "ws/ws_budget.h"
#include "ws/ws_chunk.h"
#include "ws/ws_utf8.h"

#define WS_INFLATE_RATIO_FLOOR (1024u * 1024u) /* a message this small is never too dense */

/* Where inflated bytes go, and what they must respect. */
struct ws_inflate_sink {
    struct ws_chunk_pool *pool;
    struct ws_chain *chain;
    size_t max_len;          /* the chain may not grow beyond this */
    size_t ratio;            /* inflated/compressed bytes allowed past the floor; 0: any */
    struct ws_utf8 *utf8;    /* validate as text, or NULL */
};

struct ws_inflater {
    z_stream zs;
    bool started;            /* zs is initialised */
    bool stream_ended;       /* the peer ended its deflate stream (a BFINAL block) */
    bool reset_per_message;  /* the peer does not use context takeover */
    uint64_t message_in;     /* compressed bytes of the current message inflated so far */
    struct ws_account *account; /* charged for inflated bytes and zlib state, or NULL */
};

/* account: what the inflated bytes and zlib's memory are charged to, or NULL for nothing.
 * The window is always 32 KiB, whatever the peer negotiated (see ws_deflate.c). */
void ws_inflater_init(struct ws_inflater *inf, bool reset_per_message, struct ws_account *account);
void ws_inflater_destroy(struct ws_inflater *inf);

/* Inflates the next piece of a compressed message's payload into the sink, charging the
 * inflated bytes to the account (release them once the message is handed on).  Returns 0, or
 * -EMSGSIZE (too big, too dense, or past the connection's budget), -ENOBUFS (past its share of
 * the loop's), -EILSEQ (not UTF-8), -EBADMSG (not valid deflate data) or -ENOMEM. */
int ws_inflater_feed(struct ws_inflater *inf, const uint8_t *data, size_t len,
                     const struct ws_inflate_sink *sink);

/* Ends the message: inflates the stripped tail and, without context takeover, ends the zlib
 * stream (its memory back to the loop's cache).  Same returns as ws_inflater_feed(). */
int ws_inflater_finish(struct ws_inflater *inf, const struct ws_inflate_sink *sink);

struct ws_deflater {
    z_stream zs;
    bool started;
    bool reset_per_message;  /* server_no_context_takeover */
    int window_bits;
    int level;
    struct ws_account *account; /* charged for zlib state, or NULL */
};

/* level: a zlib level, 0-9 or Z_DEFAULT_COMPRESSION; account as for the inflater. */
void ws_deflater_init(struct ws_deflater *def, unsigned window_bits, bool reset_per_message,
                      int level, struct ws_account *account);
void ws_deflater_destroy(struct ws_deflater *def);

/* Compresses the next piece of an outgoing message, appending to out.  Returns 0, -ENOMEM,
 * -EMSGSIZE/-ENOBUFS (the account refused zlib's memory) or -EINVAL (zlib refused its
 * parameters). */
int ws_deflater_feed(struct ws_deflater *def, const uint8_t *data, size_t len,
                     struct ws_chunk_pool *pool, struct ws_chain *out);

/* Ends the message: flushes, strips the 00 00 FF FF tail from out (which must hold only this
 * message's output) and, without context takeover, ends the zlib stream.  Same returns, or -EIO if zlib's
 * output does not end as a sync flush must. */
int ws_deflater_finish(struct ws_deflater *def, struct ws_chunk_pool *pool,
                       struct ws_chain *out);

#endif
