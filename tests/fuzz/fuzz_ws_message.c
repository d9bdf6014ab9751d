/* fuzz_ws_message.c - message assembly: the reader fed whole and in pieces, and every message
 * it accepts sent back through the writer.
 *
 * The first byte chooses the role (a client reader takes unmasked frames, which the fuzzer
 * finds more easily), the message limit and permessage-deflate with its parameters; the next
 * two the cuts.  Invariants: any cut reports the same events (messages, control payloads,
 * close codes and the failure code); a message is within the limit and, as text, UTF-8; a
 * close code is one allowed on the wire (or 1005); after a failure the reader keeps failing
 * without consuming; each message framed by the writer (compressed when negotiated) and read
 * back by a reader of the other role is the same message; every chunk goes back to the pool.
 */
#include "fuzz.h"
#include "ws/ws_message.h"

#define CHUNK 256
#define MAX_CHUNKS 4096

struct config {
    struct ws_deflate_params deflate;
    struct ws_reader_config reader;
};

static void config_from(uint8_t b, struct config *out)
{
    struct config c = {0};
    c.reader.role = b & 1 ? WS_ROLE_CLIENT : WS_ROLE_SERVER;
    c.reader.max_message = (size_t)16 << ((b >> 1) & 7); /* 16 B .. 2 KiB */
    if (b & 0x10) {
        uint8_t bits = 8 + ((b >> 5) & 7);
        c.deflate = (struct ws_deflate_params){
            .enabled = true,
            .server_no_context_takeover = b & 0x20,
            .client_no_context_takeover = b & 0x40,
            .server_max_window_bits = bits,
            .client_max_window_bits = bits,
        };
    }
    *out = c;
    if (c.deflate.enabled)
        out->reader.deflate = &out->deflate;
}

static fuzz_buf chain_bytes(const struct ws_chain *chain)
{
    fuzz_buf b = {0};
    for (const struct ws_chunk *k = chain->head; k; k = k->next)
        fuzz_buf_put(&b, k->data, k->len);
    FUZZ_CHECK(b.len == chain->len, "chain length %zu, bytes %zu", chain->len, b.len);
    return b;
}

/* Frames msg with a writer of the reader's opposite role and reads it back. */
static void echo_back(struct ws_chunk_pool *pool, const struct config *c, enum ws_opcode opcode,
                      const fuzz_buf *msg)
{
    if (c->reader.role != WS_ROLE_SERVER)
        return; /* the writer makes server frames: only a client reader takes them */
    struct ws_writer w;
    ws_writer_init(&w, pool, c->reader.deflate, 6, NULL);
    struct ws_chain payload;
    ws_chain_init(&payload);
    FUZZ_CHECK(ws_chain_append(pool, &payload, msg->data, msg->len) == 0, "pool exhausted");
    uint8_t head[WS_FRAME_HEADER_MAX];
    int n = ws_writer_message(&w, opcode, &payload, head);
    FUZZ_CHECK(n > 0, "writer: %d", n);
    fuzz_buf wire = {0};
    fuzz_buf_put(&wire, head, (size_t)n);
    fuzz_buf body = chain_bytes(&payload);
    fuzz_buf_put(&wire, body.data, body.len);
    ws_chain_release(pool, &payload);
    ws_writer_destroy(&w);

    struct ws_reader_config rc = c->reader;
    rc.role = WS_ROLE_CLIENT;
    struct ws_reader r;
    ws_reader_init(&r, pool, &rc);
    size_t used;
    struct ws_event ev;
    FUZZ_CHECK(ws_reader_feed(&r, wire.data, wire.len, &used, &ev) == WS_EVENT_MESSAGE,
               "our own frame was not a message: event %d, close %u", ev.type, ev.close_code);
    fuzz_buf back = chain_bytes(&ev.message);
    FUZZ_CHECK(used == wire.len && ev.opcode == opcode && fuzz_buf_equal(&back, msg),
               "message of %zu bytes came back as %zu", msg->len, back.len);
    ws_chain_release(pool, &ev.message);
    ws_reader_destroy(&r);
    fuzz_buf_free(&wire);
    fuzz_buf_free(&body);
    fuzz_buf_free(&back);
}

static void record(fuzz_buf *log, const struct ws_event *ev, const void *bytes, size_t len)
{
    uint32_t fields[4] = {ev->type, ev->opcode, ev->close_code, (uint32_t)len};
    fuzz_buf_put(log, fields, sizeof(fields));
    fuzz_buf_put(log, bytes, len);
}

static void check_event(struct ws_chunk_pool *pool, const struct config *c, struct ws_event *ev,
                        fuzz_buf *log, bool echo)
{
    switch (ev->type) {
    case WS_EVENT_MESSAGE: {
        fuzz_buf msg = chain_bytes(&ev->message);
        ws_chain_release(pool, &ev->message);
        FUZZ_CHECK(msg.len <= c->reader.max_message, "message %zu bytes over %zu", msg.len,
                   c->reader.max_message);
        FUZZ_CHECK(ev->opcode == WS_OP_TEXT || ev->opcode == WS_OP_BINARY, "opcode %d", ev->opcode);
        if (ev->opcode == WS_OP_TEXT)
            FUZZ_CHECK(ws_utf8_valid(msg.data, msg.len), "text message is not UTF-8");
        record(log, ev, msg.data, msg.len);
        if (echo)
            echo_back(pool, c, ev->opcode, &msg);
        fuzz_buf_free(&msg);
        break;
    }
    case WS_EVENT_CLOSE:
        FUZZ_CHECK(ev->close_code == WS_CLOSE_NO_STATUS || ws_close_code_valid(ev->close_code),
                   "close code %u", ev->close_code);
        FUZZ_CHECK(ws_utf8_valid(ev->payload, ev->payload_len), "close reason is not UTF-8");
        record(log, ev, ev->payload, ev->payload_len);
        break;
    case WS_EVENT_PING:
    case WS_EVENT_PONG:
        FUZZ_CHECK(ev->payload_len <= WS_CONTROL_PAYLOAD_MAX, "control payload %zu", ev->payload_len);
        record(log, ev, ev->payload, ev->payload_len);
        break;
    case WS_EVENT_FAIL:
        FUZZ_CHECK(ws_close_code_valid(ev->close_code), "failure code %u", ev->close_code);
        record(log, ev, NULL, 0);
        break;
    case WS_EVENT_NEED_MORE:
        break;
    }
}

/* Reads in[0..len) in cut pieces (one piece when cut is NULL), logging every event. */
static void read_all(struct ws_chunk_pool *pool, const struct config *c, const uint8_t *in,
                     size_t len, fuzz_cut *cut, fuzz_buf *log)
{
    struct ws_reader r;
    ws_reader_init(&r, pool, &c->reader);
    size_t at = 0, piece = cut ? fuzz_cut_next(cut, len) : len;
    for (size_t guard = 0;; guard++) {
        FUZZ_CHECK(guard < 4 * len + 64, "no progress after %zu of %zu bytes", at, len);
        size_t n;
        struct ws_event ev;
        enum ws_event_type t = ws_reader_feed(&r, in + at, piece, &n, &ev);
        FUZZ_CHECK(t == ev.type && n <= piece, "event %d/%d consumed %zu of %zu", t, ev.type, n,
                   piece);
        at += n, piece -= n;
        check_event(pool, c, &ev, log, cut == NULL);
        if (t == WS_EVENT_FAIL) {
            FUZZ_CHECK(ws_reader_feed(&r, in + at, piece, &n, &ev) == WS_EVENT_FAIL && n == 0,
                       "a failed reader went on");
            break;
        }
        if (t == WS_EVENT_NEED_MORE) {
            FUZZ_CHECK(piece == 0, "NEED_MORE with %zu bytes left", piece);
            if (at == len)
                break;
            piece = cut ? fuzz_cut_next(cut, len - at) : len - at;
        }
    }
    ws_reader_destroy(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode;
    fuzz_cut cut;
    if (!fuzz_take_prefix(&data, &size, &mode, &cut))
        return 0;
    struct config c;
    config_from(mode, &c);
    struct ws_chunk_pool pool;
    FUZZ_CHECK(ws_chunk_pool_init(&pool, CHUNK, MAX_CHUNKS, 64) == 0, "pool");
    fuzz_buf whole = {0}, pieces = {0};
    read_all(&pool, &c, data, size, NULL, &whole);
    read_all(&pool, &c, data, size, &cut, &pieces);
    FUZZ_CHECK(fuzz_buf_equal(&whole, &pieces), "cut input reports differently");
    FUZZ_CHECK(pool.live == pool.idle_count, "%zu chunks never came back",
               pool.live - pool.idle_count);
    ws_chunk_pool_destroy(&pool);
    fuzz_buf_free(&whole);
    fuzz_buf_free(&pieces);
    return 0;
}
