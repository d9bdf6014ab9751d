/* fuzz_ws_deflate.c - permessage-deflate both ways.
 *
 * The first byte chooses the window (8-15 bits), context takeover and the level, the next two
 * the cuts, and the mode:
 *   round trip: the rest is cut into up to four messages; each is deflated in pieces and
 *     inflated in other pieces by an inflater with the same parameters, and must come back
 *     byte for byte (context takeover carried across the messages);
 *   hostile: the rest is a peer's compressed message, inflated whole and in pieces under a
 *     size limit and a UTF-8 check: both give the same verdict, and when it is a success, the
 *     same bytes, never more than the limit (plus the chunk that crossed it, when refused),
 *     and no byte that UTF-8 cannot continue with.
 */
#include <errno.h>

#include "fuzz.h"
#include "ws/ws_deflate.h"

#define CHUNK 512
#define HOSTILE_MAX (16u * 1024u)

struct params {
    unsigned window_bits;
    bool reset;
    int level;
    bool hostile;
    bool text;
};

static struct params params_from(uint8_t b)
{
    return (struct params){
        .window_bits = 8 + (b & 7),
        .reset = b & 8,
        .level = (b >> 4) % 10,
        .hostile = b & 0x40,
        .text = b & 0x80,
    };
}

static fuzz_buf flatten(const struct ws_chain *c)
{
    fuzz_buf b = {0};
    for (const struct ws_chunk *k = c->head; k; k = k->next)
        fuzz_buf_put(&b, k->data, k->len);
    FUZZ_CHECK(b.len == c->len, "chain says %zu bytes, holds %zu", c->len, b.len);
    return b;
}

/* Inflates in[0..len) as one message in cut pieces (one piece when cut is NULL). */
static int inflate_message(struct ws_inflater *inf, const uint8_t *in, size_t len, fuzz_cut *cut,
                           const struct ws_inflate_sink *sink)
{
    for (size_t at = 0; at < len;) {
        size_t n = cut ? fuzz_cut_next(cut, len - at) : len - at;
        int err = ws_inflater_feed(inf, in + at, n, sink);
        if (err < 0)
            return err;
        at += n;
    }
    return ws_inflater_finish(inf, sink);
}

static void round_trip(struct ws_chunk_pool *pool, const struct params *p, const uint8_t *data,
                       size_t size, fuzz_cut *cut)
{
    struct ws_deflater def;
    struct ws_inflater inf;
    ws_deflater_init(&def, p->window_bits, p->reset, p->level, NULL);
    ws_inflater_init(&inf, p->reset, NULL);
    for (int m = 0; m < 4 && (m == 0 || size > 0); m++) {
        size_t msg_len = m == 3 ? size : fuzz_cut_next(cut, size + 1) - 1;
        struct ws_chain packed;
        ws_chain_init(&packed);
        for (size_t at = 0; at < msg_len;) {
            size_t n = fuzz_cut_next(cut, msg_len - at);
            FUZZ_CHECK(ws_deflater_feed(&def, data + at, n, pool, &packed) == 0, "deflate");
            at += n;
        }
        FUZZ_CHECK(ws_deflater_finish(&def, pool, &packed) == 0, "deflate finish");
        fuzz_buf wire = flatten(&packed);
        ws_chain_release(pool, &packed);

        struct ws_chain out;
        ws_chain_init(&out);
        struct ws_inflate_sink sink = {.pool = pool, .chain = &out, .max_len = SIZE_MAX};
        int err = inflate_message(&inf, wire.data, wire.len, cut, &sink);
        FUZZ_CHECK(err == 0, "inflating our own deflate output: %d", err);
        fuzz_buf back = flatten(&out);
        ws_chain_release(pool, &out);
        FUZZ_CHECK(back.len == msg_len && (msg_len == 0 || memcmp(back.data, data, msg_len) == 0),
                   "message %d of %zu bytes came back as %zu bytes", m, msg_len, back.len);
        fuzz_buf_free(&wire);
        fuzz_buf_free(&back);
        data += msg_len, size -= msg_len;
    }
    ws_deflater_destroy(&def);
    ws_inflater_destroy(&inf);
}

/* Inflates a hostile message; returns the verdict and leaves the bytes in *out. */
static int inflate_hostile(struct ws_chunk_pool *pool, const struct params *p, const uint8_t *data,
                           size_t size, fuzz_cut *cut, fuzz_buf *out)
{
    struct ws_inflater inf;
    ws_inflater_init(&inf, p->reset, NULL);
    struct ws_utf8 utf8;
    ws_utf8_init(&utf8);
    struct ws_chain chain;
    ws_chain_init(&chain);
    struct ws_inflate_sink sink = {.pool = pool, .chain = &chain, .max_len = HOSTILE_MAX,
                                   .utf8 = p->text ? &utf8 : NULL};
    int err = inflate_message(&inf, data, size, cut, &sink);
    /* Inflating stops within the chunk that crossed the limit. */
    FUZZ_CHECK(chain.len <= HOSTILE_MAX + (err == -EMSGSIZE ? CHUNK : 0),
               "inflated %zu bytes past the limit (%d)", chain.len, err);
    *out = flatten(&chain);
    ws_chain_release(pool, &chain);
    ws_inflater_destroy(&inf);
    FUZZ_CHECK(err == 0 || err == -EMSGSIZE || err == -EILSEQ || err == -EBADMSG,
               "unexpected error %d", err);
    /* The check runs as bytes come: a text may still end inside a character (the reader
     * checks that at the message's end). */
    struct ws_utf8 again;
    ws_utf8_init(&again);
    if (!err && p->text)
        FUZZ_CHECK(ws_utf8_feed(&again, out->data, out->len), "accepted text that is not UTF-8");
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode;
    fuzz_cut cut;
    if (!fuzz_take_prefix(&data, &size, &mode, &cut))
        return 0;
    struct params p = params_from(mode);
    struct ws_chunk_pool pool;
    FUZZ_CHECK(ws_chunk_pool_init(&pool, CHUNK, 1u << 16, 64) == 0, "pool");
    if (p.hostile) {
        fuzz_buf whole, pieces;
        int err_whole = inflate_hostile(&pool, &p, data, size, NULL, &whole);
        int err_pieces = inflate_hostile(&pool, &p, data, size, &cut, &pieces);
        FUZZ_CHECK(err_whole == err_pieces, "whole %d, in pieces %d", err_whole, err_pieces);
        if (!err_whole)
            FUZZ_CHECK(fuzz_buf_equal(&whole, &pieces), "different bytes when cut");
        fuzz_buf_free(&whole);
        fuzz_buf_free(&pieces);
    } else {
        round_trip(&pool, &p, data, size, &cut);
    }
    FUZZ_CHECK(pool.live == pool.idle_count, "%zu chunks never came back",
               pool.live - pool.idle_count);
    ws_chunk_pool_destroy(&pool);
    return 0;
}
