/* ws_deflate.c - permessage-deflate's inflater and deflater; see ws_deflate.h. */
#include "ws/ws_deflate.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

static const uint8_t sync_flush_tail[4] = {0x00, 0x00, 0xff, 0xff};

/* Every message is inflated with the largest window, whatever the peer promised: zlib checks a
 * distance against its window plus what the current inflate() call wrote, so under a smaller
 * window the same stream is refused or accepted depending on how the input was cut (found by
 * fuzz_ws_deflate).  With 15 bits every distance deflate can encode is within the history, and
 * a promise of 8 bits from a zlib that really used 9 is accepted too. */
#define INFLATE_WINDOW_BITS 15
#define WINDOW_BYTES_MAX (1u << INFLATE_WINDOW_BITS)
/* zlib's deflate takes 4 bytes per window byte and 2^(memLevel + 9) for its hash table and
 * buffers; a memLevel 7 below the window bits keeps the two halves even (8 at 15 bits, zlib's
 * default), so a smaller negotiated window shrinks the whole state, not only the window. */
#define MEM_LEVEL_BELOW_WINDOW 7
#define MEM_LEVEL_MIN 1
/* zlib's raw deflate refuses an 8-bit window (and old zlib silently used 9 for it). */
#define ZLIB_DEFLATE_MIN_BITS 9
/* zlib takes sizes as uInt: feed it no more than this per call. */
#define ZLIB_SLICE_MAX (1u << 30)

/* A refusal by the account is its own error; zlib only says it got no memory. */
static int zlib_error(int rc, const struct ws_account *account)
{
    switch (rc) {
    case Z_MEM_ERROR:
        return account && account->refused ? account->refused : -ENOMEM;
    case Z_STREAM_ERROR:
        return -EINVAL;
    default:
        return -EBADMSG;
    }
}

void ws_inflater_init(struct ws_inflater *inf, bool reset_per_message, struct ws_account *account)
{
    memset(inf, 0, sizeof *inf);
    inf->reset_per_message = reset_per_message;
    inf->account = account;
}

void ws_inflater_destroy(struct ws_inflater *inf)
{
    if (inf->started)
        inflateEnd(&inf->zs);
    inf->started = false;
}

static int inflater_start(struct ws_inflater *inf)
{
    if (inf->started)
        return 0;
    ws_zmem_attach(&inf->zs, inf->account);
    int rc = inflateInit2(&inf->zs, -INFLATE_WINDOW_BITS);
    if (rc != Z_OK)
        return zlib_error(rc, inf->account);
    inf->started = true;
    return 0;
}

/* The peer ended its deflate stream with a BFINAL block (RFC 7692 section 7.2.3.4) and more
 * data follows: start a new stream, but keep the window, since the sender's next block may still
 * refer to what came before.  The window is copied out and back because inflateReset() forgets
 * it; 32 KiB on the stack, on this rare path only. */
static int restart_stream(struct ws_inflater *inf)
{
    uint8_t window[WINDOW_BYTES_MAX];
    uInt have = sizeof window;
    int rc = inflateGetDictionary(&inf->zs, window, &have);
    if (rc == Z_OK)
        rc = inflateReset(&inf->zs);
    if (rc == Z_OK && have > 0)
        rc = inflateSetDictionary(&inf->zs, window, have);
    inf->stream_ended = false;
    return rc == Z_OK ? 0 : zlib_error(rc, inf->account);
}

/* Whether a message of `out` inflated bytes from `in` compressed ones is denser than allowed. */
static bool too_dense(const struct ws_inflate_sink *sink, uint64_t out, uint64_t in)
{
    return sink->ratio && out > WS_INFLATE_RATIO_FLOOR && out / sink->ratio > in;
}

/* Takes newly inflated bytes into the chain if they keep within the sink's limits and the
 * account's budget.  The bytes within the length limit are checked for UTF-8 first, in the
 * order they came out: a text that goes bad within the limit is -EILSEQ however much one
 * inflate() call produced past it, so the verdict does not depend on how the input was split. */
static int sink_accept(const struct ws_inflater *inf, const struct ws_inflate_sink *sink,
                       const uint8_t *out, size_t len)
{
    uint64_t before = sink->chain->len;
    uint64_t room = before >= sink->max_len ? 0 : sink->max_len - before;
    size_t within = len < room ? len : (size_t)room;
    if (sink->utf8 && !ws_utf8_feed(sink->utf8, out, within))
        return -EILSEQ;
    uint64_t total = before + len;
    if (total > sink->max_len || too_dense(sink, total, inf->message_in))
        return -EMSGSIZE;
    if (inf->account && len > 0) {
        int err = ws_account_charge(inf->account, len);
        if (err < 0)
            return err;
    }
    ws_chain_commit(sink->chain, len); /* total <= max_len: within was all of it */
    return 0;
}

/* Inflates zs.next_in/avail_in until all of it is used and all output is out. */
static int inflate_pending(struct ws_inflater *inf, const struct ws_inflate_sink *sink)
{
    for (;;) {
        if (inf->stream_ended) {
            if (inf->zs.avail_in == 0)
                return 0;
            int err = restart_stream(inf);
            if (err < 0)
                return err;
        }
        size_t space;
        uint8_t *out = ws_chain_reserve(sink->pool, sink->chain, &space);
        if (!out)
            return -ENOMEM;
        if (space > ZLIB_SLICE_MAX)
            space = ZLIB_SLICE_MAX;
        inf->zs.next_out = out;
        inf->zs.avail_out = (uInt)space;
        uInt in_before = inf->zs.avail_in;
        int rc = inflate(&inf->zs, Z_SYNC_FLUSH);
        inf->message_in += in_before - inf->zs.avail_in;
        int err = sink_accept(inf, sink, out, space - inf->zs.avail_out);
        if (err < 0)
            return err;
        if (rc == Z_STREAM_END) {
            inf->stream_ended = true;
            continue;
        }
        if (rc == Z_BUF_ERROR)
            return 0;   /* no progress possible: input used up, output all out */
        if (rc != Z_OK)
            return zlib_error(rc, inf->account);
        if (inf->zs.avail_out > 0)
            return 0;   /* it stopped for want of input, not of room */
    }
}

static int inflate_bytes(struct ws_inflater *inf, const uint8_t *data, size_t len,
                         const struct ws_inflate_sink *sink)
{
    int err = inflater_start(inf);
    while (err == 0 && len > 0) {
        size_t n = len < ZLIB_SLICE_MAX ? len : ZLIB_SLICE_MAX;
        inf->zs.next_in = (Bytef *)data;
        inf->zs.avail_in = (uInt)n;
        err = inflate_pending(inf, sink);
        data += n;
        len -= n;
    }
    return err;
}

int ws_inflater_feed(struct ws_inflater *inf, const uint8_t *data, size_t len,
                     const struct ws_inflate_sink *sink)
{
    return inflate_bytes(inf, data, len, sink);
}

int ws_inflater_finish(struct ws_inflater *inf, const struct ws_inflate_sink *sink)
{
    int err = 0;
    /* An empty payload is an empty message: the tail alone would leave the inflater inside an
     * unfinished stored block.  After a BFINAL block the tail has no stream to end. */
    if (inf->message_in > 0 && !inf->stream_ended)
        err = inflate_bytes(inf, sync_flush_tail, sizeof sync_flush_tail, sink);
    inf->message_in = 0;
    if (err == 0 && inf->reset_per_message) {
        ws_inflater_destroy(inf);
        inf->stream_ended = false;
    }
    return err;
}

void ws_deflater_init(struct ws_deflater *def, unsigned window_bits, bool reset_per_message,
                      int level, struct ws_account *account)
{
    memset(def, 0, sizeof *def);
    def->window_bits = (int)window_bits;
    def->reset_per_message = reset_per_message;
    def->level = level;
    def->account = account;
}

void ws_deflater_destroy(struct ws_deflater *def)
{
    if (def->started)
        deflateEnd(&def->zs);
    def->started = false;
}

static int deflater_start(struct ws_deflater *def)
{
    if (def->started)
        return 0;
    int bits = def->window_bits;
    int strategy = Z_DEFAULT_STRATEGY;
    if (bits < ZLIB_DEFLATE_MIN_BITS) {
        /* The client asked for a 256-byte window, which zlib's raw deflate refuses.  Run-
         * length matches only ever refer 1 byte back, so they fit any window by design (not
         * by an accident of how far back zlib happens to look in a 512-byte one). */
        bits = ZLIB_DEFLATE_MIN_BITS;
        strategy = Z_RLE;
    }
    int mem_level = bits - MEM_LEVEL_BELOW_WINDOW;
    if (mem_level < MEM_LEVEL_MIN)
        mem_level = MEM_LEVEL_MIN;
    ws_zmem_attach(&def->zs, def->account);
    int rc = deflateInit2(&def->zs, def->level, Z_DEFLATED, -bits, mem_level, strategy);
    if (rc != Z_OK)
        return zlib_error(rc, def->account);
    def->started = true;
    return 0;
}

/* Runs deflate over zs.next_in/avail_in with `flush` until the input is used and the output
 * is all out. */
static int deflate_pending(struct ws_deflater *def, int flush, struct ws_chunk_pool *pool,
                           struct ws_chain *out)
{
    for (;;) {
        size_t space;
        uint8_t *dst = ws_chain_reserve(pool, out, &space);
        if (!dst)
            return -ENOMEM;
        if (space > ZLIB_SLICE_MAX)
            space = ZLIB_SLICE_MAX;
        def->zs.next_out = dst;
        def->zs.avail_out = (uInt)space;
        int rc = deflate(&def->zs, flush);
        ws_chain_commit(out, space - def->zs.avail_out);
        if (rc == Z_BUF_ERROR)
            return 0;   /* nothing left to do */
        if (rc != Z_OK)
            return zlib_error(rc, def->account);
        if (def->zs.avail_out > 0 && def->zs.avail_in == 0)
            return 0;
    }
}

int ws_deflater_feed(struct ws_deflater *def, const uint8_t *data, size_t len,
                     struct ws_chunk_pool *pool, struct ws_chain *out)
{
    int err = deflater_start(def);
    while (err == 0 && len > 0) {
        size_t n = len < ZLIB_SLICE_MAX ? len : ZLIB_SLICE_MAX;
        def->zs.next_in = (Bytef *)data;
        def->zs.avail_in = (uInt)n;
        err = deflate_pending(def, Z_NO_FLUSH, pool, out);
        data += n;
        len -= n;
    }
    return err;
}

/* A sync flush ends in an empty stored block, 00 00 FF FF, which RFC 7692 has senders
 * strip. */
static int strip_tail(struct ws_chunk_pool *pool, struct ws_chain *out)
{
    uint8_t tail[sizeof sync_flush_tail];
    if (out->len < sizeof tail ||
        ws_chain_copy_out(out, out->len - sizeof tail, tail, sizeof tail) != sizeof tail ||
        memcmp(tail, sync_flush_tail, sizeof tail) != 0)
        return -EIO;
    ws_chain_truncate(pool, out, out->len - sizeof tail);
    return 0;
}

int ws_deflater_finish(struct ws_deflater *def, struct ws_chunk_pool *pool,
                       struct ws_chain *out)
{
    int err = deflater_start(def);
    if (err < 0)
        return err;
    def->zs.next_in = NULL;
    def->zs.avail_in = 0;
    err = deflate_pending(def, Z_SYNC_FLUSH, pool, out);
    if (err < 0)
        return err;

    if (out->len == 0) {
        /* No input since the last flush, so zlib flushed nothing (it never repeats a flush).
         * An empty message is then the one byte of an empty stored block's header, which the
         * receiver's appended tail completes (RFC 7692 section 7.2.3.6). */
        static const uint8_t empty_block = 0x00;
        err = ws_chain_append(pool, out, &empty_block, 1);
    } else {
        err = strip_tail(pool, out);
    }
    if (err == 0 && def->reset_per_message)
        ws_deflater_destroy(def);
    return err;
}
