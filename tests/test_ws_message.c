/* test_ws_message.c - the message reader and writer: assembly of fragments with control
 * frames between them, size limits (1009), UTF-8 failing fast (1007), close payloads (1002,
 * 1007), RFC 7692's compressed examples, writer-to-reader round trips at every boundary size,
 * and memory drawn from the pool and given back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ws/ws_message.h"

#define CHUNK 1024
#define FIN 0x80u
#define RSV1 0x40u

/* ---- building client input ---- */

struct wire {
    uint8_t *buf;
    size_t len;
    size_t cap;
    unsigned frames;
};

static void wire_reserve(struct wire *w, size_t more)
{
    if (w->len + more <= w->cap)
        return;
    w->cap = (w->len + more) * 2;
    w->buf = realloc(w->buf, w->cap);
    assert_non_null(w->buf);
}

/* Appends a frame, masked with a key that changes per frame unless `unmasked`. */
static void frame_ex(struct wire *w, unsigned flags, unsigned op, const void *payload,
                     size_t n, bool unmasked)
{
    uint8_t key[4] = {(uint8_t)(0x37 + w->frames), 0xfa, (uint8_t)(w->frames * 13), 0x3d};
    w->frames++;
    wire_reserve(w, WS_FRAME_HEADER_MAX + n);
    size_t h = ws_frame_write_header(w->buf + w->len, (enum ws_opcode)op, flags & FIN,
                                     flags & RSV1, n, unmasked ? NULL : key);
    if (n > 0) {
        if (unmasked)
            memcpy(w->buf + w->len + h, payload, n);
        else
            ws_frame_mask(w->buf + w->len + h, payload, n, key, 0);
    }
    w->len += h + n;
}

static void frame(struct wire *w, unsigned flags, unsigned op, const void *payload, size_t n)
{
    frame_ex(w, flags, op, payload, n, false);
}

static void frame_str(struct wire *w, unsigned flags, unsigned op, const char *s)
{
    frame(w, flags, op, s, strlen(s));
}

static void wire_free(struct wire *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}

/* ---- recording what the reader reports ---- */

#define MAX_EVENTS 64

struct recorded {
    enum ws_event_type type;
    enum ws_opcode opcode;
    unsigned code;
    uint8_t *data;       /* message bytes, or control payload / close reason */
    size_t len;
    size_t consumed_at;  /* input consumed when the event was reported */
};

struct log {
    struct recorded ev[MAX_EVENTS];
    size_t count;
    size_t consumed;
};

static void log_free(struct log *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->ev[i].data);
    memset(l, 0, sizeof *l);
}

static uint8_t *copy_bytes(const void *p, size_t n)
{
    uint8_t *c = malloc(n + 1);
    assert_non_null(c);
    if (n > 0)
        memcpy(c, p, n);
    return c;
}

static uint8_t *chain_bytes(const struct ws_chain *chain)
{
    uint8_t *c = malloc(chain->len + 1);
    assert_non_null(c);
    assert_int_equal(ws_chain_copy_out(chain, 0, c, chain->len), chain->len);
    return c;
}

/* Feeds `in` in pieces of `piece` bytes until it is consumed or the reader fails. */
static void feed(struct ws_reader *r, struct ws_chunk_pool *pool, const uint8_t *in, size_t len,
                 size_t piece, struct log *l)
{
    size_t at = 0;
    for (size_t guard = 0; guard < 4 * len + 64; guard++) {
        size_t avail = len - at < piece ? len - at : piece;
        size_t n;
        struct ws_event ev;
        enum ws_event_type t = ws_reader_feed(r, in + at, avail, &n, &ev);
        assert_true(n <= avail);
        assert_int_equal(t, ev.type);
        at += n;
        if (t == WS_EVENT_NEED_MORE) {
            assert_int_equal(n, avail);
            if (at == len) {
                l->consumed = at;
                return;
            }
            continue;
        }
        assert_true(l->count < MAX_EVENTS);
        struct recorded *e = &l->ev[l->count++];
        e->type = t;
        e->consumed_at = at;
        e->code = ev.close_code;
        if (t == WS_EVENT_MESSAGE) {
            e->opcode = ev.opcode;
            e->len = ev.message.len;
            e->data = chain_bytes(&ev.message);
            ws_chain_release(pool, &ev.message);
        } else {
            assert_null(ev.message.head);
            e->len = ev.payload_len;
            e->data = copy_bytes(ev.payload, ev.payload_len);
        }
        if (t == WS_EVENT_FAIL) {
            l->consumed = at;
            return;
        }
    }
    fail_msg("the reader made no progress");
}

struct fixture {
    struct ws_chunk_pool pool;
    struct ws_reader reader;
    struct ws_deflate_params deflate;
    struct log log;
    struct wire wire;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f || ws_chunk_pool_init(&f->pool, CHUNK, 64 * 1024, 1024) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    log_free(&f->log);
    wire_free(&f->wire);
    assert_int_equal(f->pool.live, f->pool.idle_count); /* every chunk came back */
    ws_chunk_pool_destroy(&f->pool);
    free(f);
    return 0;
}

static void reader_start(struct fixture *f, enum ws_role role, size_t max, bool deflate)
{
    struct ws_reader_config cfg = {.role = role, .max_message = max,
                                  .deflate = deflate ? &f->deflate : NULL};
    ws_reader_init(&f->reader, &f->pool, &cfg);
}

/* Runs the fixture's wire through a fresh server reader at several splits; every run must
 * give the same events, which stay in f->log from the last (whole-buffer) run. */
static void run_all_splits(struct fixture *f, size_t max, bool deflate)
{
    static const size_t pieces[] = {1, 2, 3, 7, 64, SIZE_MAX};
    struct log first = {0};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        log_free(&f->log);
        reader_start(f, WS_ROLE_SERVER, max, deflate);
        feed(&f->reader, &f->pool, f->wire.buf, f->wire.len, pieces[i], &f->log);
        ws_reader_destroy(&f->reader);
        if (i == 0) {
            first = f->log;
            memset(&f->log, 0, sizeof f->log);
            continue;
        }
        assert_int_equal(f->log.count, first.count);
        for (size_t k = 0; k < first.count; k++) {
            assert_int_equal(f->log.ev[k].type, first.ev[k].type);
            assert_int_equal(f->log.ev[k].code, first.ev[k].code);
            assert_int_equal(f->log.ev[k].len, first.ev[k].len);
            if (first.ev[k].len > 0)
                assert_memory_equal(f->log.ev[k].data, first.ev[k].data, first.ev[k].len);
        }
    }
    log_free(&first);
}

static void assert_event(const struct log *l, size_t i, enum ws_event_type type,
                         const void *data, size_t len)
{
    assert_true(i < l->count);
    assert_int_equal(l->ev[i].type, type);
    assert_int_equal(l->ev[i].len, len);
    if (len > 0)
        assert_memory_equal(l->ev[i].data, data, len);
}

static void assert_fail(const struct log *l, unsigned code)
{
    assert_true(l->count > 0);
    assert_int_equal(l->ev[l->count - 1].type, WS_EVENT_FAIL);
    assert_int_equal(l->ev[l->count - 1].code, code);
}

/* ---- assembly ---- */

static void test_messages_and_control_frames(void **state)
{
    struct fixture *f = *state;
    const uint8_t bin[] = {0x00, 0xFF, 0x80, 0xC0};
    frame_str(&f->wire, FIN, WS_OP_TEXT, "Hello");
    frame(&f->wire, FIN, WS_OP_BINARY, bin, sizeof bin);
    frame_str(&f->wire, 0, WS_OP_TEXT, "frag");
    frame_str(&f->wire, FIN, WS_OP_PING, "are you there");
    frame_str(&f->wire, 0, WS_OP_CONTINUATION, "men");
    frame_str(&f->wire, FIN, WS_OP_PONG, "");
    frame(&f->wire, 0, WS_OP_CONTINUATION, NULL, 0);
    frame_str(&f->wire, FIN, WS_OP_CONTINUATION, "ted");
    frame(&f->wire, FIN, WS_OP_TEXT, NULL, 0);
    run_all_splits(f, 1000, false);

    const struct log *l = &f->log;
    assert_int_equal(l->count, 6);
    assert_event(l, 0, WS_EVENT_MESSAGE, "Hello", 5);
    assert_int_equal(l->ev[0].opcode, WS_OP_TEXT);
    assert_event(l, 1, WS_EVENT_MESSAGE, bin, sizeof bin);
    assert_int_equal(l->ev[1].opcode, WS_OP_BINARY);
    assert_event(l, 2, WS_EVENT_PING, "are you there", 13);
    assert_event(l, 3, WS_EVENT_PONG, "", 0);
    assert_event(l, 4, WS_EVENT_MESSAGE, "fragmented", 10);
    assert_int_equal(l->ev[4].opcode, WS_OP_TEXT);
    assert_event(l, 5, WS_EVENT_MESSAGE, "", 0);
    assert_int_equal(l->consumed, f->wire.len);
}

static void test_control_payload_of_125(void **state)
{
    struct fixture *f = *state;
    uint8_t payload[125];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 3);
    frame(&f->wire, FIN, WS_OP_PING, payload, sizeof payload);
    run_all_splits(f, 10, false);
    assert_int_equal(f->log.count, 1);
    assert_event(&f->log, 0, WS_EVENT_PING, payload, sizeof payload);
}

static void test_frame_errors_fail_with_1002(void **state)
{
    struct fixture *f = *state;
    frame_str(&f->wire, FIN, WS_OP_TEXT, "ok");
    frame_ex(&f->wire, FIN, WS_OP_TEXT, "unmasked", 8, true);
    run_all_splits(f, 100, false);
    assert_int_equal(f->log.count, 2);
    assert_event(&f->log, 0, WS_EVENT_MESSAGE, "ok", 2);
    assert_fail(&f->log, WS_CLOSE_PROTOCOL_ERROR);

    /* RSV1 without permessage-deflate */
    wire_free(&f->wire);
    frame_str(&f->wire, FIN | RSV1, WS_OP_TEXT, "x");
    run_all_splits(f, 100, false);
    assert_fail(&f->log, WS_CLOSE_PROTOCOL_ERROR);
}

static void test_failure_is_sticky(void **state)
{
    struct fixture *f = *state;
    frame_str(&f->wire, FIN, WS_OP_CONTINUATION, "nothing to continue");
    reader_start(f, WS_ROLE_SERVER, 100, false);
    feed(&f->reader, &f->pool, f->wire.buf, f->wire.len, SIZE_MAX, &f->log);
    assert_fail(&f->log, WS_CLOSE_PROTOCOL_ERROR);
    size_t n;
    struct ws_event ev;
    assert_int_equal(ws_reader_feed(&f->reader, f->wire.buf, f->wire.len, &n, &ev),
                     WS_EVENT_FAIL);
    assert_int_equal(n, 0);
    assert_int_equal(ev.close_code, WS_CLOSE_PROTOCOL_ERROR);
    ws_reader_destroy(&f->reader);
}

/* ---- size limits ---- */

static void test_message_size_limit(void **state)
{
    struct fixture *f = *state;
    enum { MAX = 5000 };
    static uint8_t big[MAX + 1];
    memset(big, 'b', sizeof big);

    frame(&f->wire, FIN, WS_OP_BINARY, big, MAX);           /* exactly the limit */
    frame(&f->wire, 0, WS_OP_BINARY, big, 3000);
    frame(&f->wire, FIN, WS_OP_CONTINUATION, big, MAX - 3000);
    run_all_splits(f, MAX, false);
    assert_int_equal(f->log.count, 2);
    assert_event(&f->log, 0, WS_EVENT_MESSAGE, big, MAX);
    assert_event(&f->log, 1, WS_EVENT_MESSAGE, big, MAX);

    /* one byte over, in one frame: refused at the header, before any payload is read */
    wire_free(&f->wire);
    frame(&f->wire, FIN, WS_OP_BINARY, big, MAX + 1);
    run_all_splits(f, MAX, false);
    assert_int_equal(f->log.count, 1);
    assert_fail(&f->log, WS_CLOSE_MESSAGE_TOO_BIG);
    assert_int_equal(f->log.ev[0].consumed_at, ws_frame_header_size(MAX + 1, true));

    /* ...or across fragments: refused at the header of the fragment that crosses it */
    wire_free(&f->wire);
    frame(&f->wire, 0, WS_OP_TEXT, big, 3000);
    frame(&f->wire, FIN, WS_OP_CONTINUATION, big, MAX - 2999);
    run_all_splits(f, MAX, false);
    assert_fail(&f->log, WS_CLOSE_MESSAGE_TOO_BIG);
    assert_int_equal(f->log.ev[0].consumed_at, 3000 + 2 * ws_frame_header_size(3000, true));

    /* a frame claiming 2^63-1 bytes */
    wire_free(&f->wire);
    const uint8_t huge[] = {0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4};
    wire_reserve(&f->wire, sizeof huge);
    memcpy(f->wire.buf, huge, sizeof huge);
    f->wire.len = sizeof huge;
    run_all_splits(f, MAX, false);
    assert_fail(&f->log, WS_CLOSE_MESSAGE_TOO_BIG);
}

/* ---- UTF-8 ---- */

static void test_text_must_be_utf8(void **state)
{
    struct fixture *f = *state;
    /* a character split across fragments, with a ping in between, is fine */
    frame_str(&f->wire, 0, WS_OP_TEXT, "caf\xC3");
    frame_str(&f->wire, FIN, WS_OP_PING, "");
    frame_str(&f->wire, FIN, WS_OP_CONTINUATION, "\xA9!");
    frame_str(&f->wire, FIN, WS_OP_BINARY, "\xFF\xFE not text");
    run_all_splits(f, 100, false);
    assert_int_equal(f->log.count, 3);
    assert_event(&f->log, 1, WS_EVENT_MESSAGE, "caf\xC3\xA9!", 6);
    assert_event(&f->log, 2, WS_EVENT_MESSAGE, "\xFF\xFE not text", 11);

    /* a message that ends inside a character */
    wire_free(&f->wire);
    frame_str(&f->wire, 0, WS_OP_TEXT, "ok");
    frame_str(&f->wire, FIN, WS_OP_CONTINUATION, "\xE2\x82");
    run_all_splits(f, 100, false);
    assert_int_equal(f->log.count, 1);
    assert_fail(&f->log, WS_CLOSE_INVALID_PAYLOAD);
}

/* Autobahn 6.4: the connection fails on the first bad fragment, before the message ends. */
static void test_bad_utf8_fails_fast(void **state)
{
    struct fixture *f = *state;
    frame_str(&f->wire, 0, WS_OP_TEXT, "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5");
    frame_str(&f->wire, 0, WS_OP_CONTINUATION, "\xF4\x90\x80\x80");  /* > U+10FFFF */
    size_t bad_frame_end = f->wire.len;
    run_all_splits(f, 100, false);        /* the final fragment was never sent */
    assert_int_equal(f->log.count, 1);
    assert_fail(&f->log, WS_CLOSE_INVALID_PAYLOAD);

    /* fed a byte at a time, it fails on the 0x90 itself, not at the fragment's end */
    log_free(&f->log);
    reader_start(f, WS_ROLE_SERVER, 100, false);
    feed(&f->reader, &f->pool, f->wire.buf, f->wire.len, 1, &f->log);
    ws_reader_destroy(&f->reader);
    assert_fail(&f->log, WS_CLOSE_INVALID_PAYLOAD);
    assert_int_equal(f->log.ev[0].consumed_at, bad_frame_end - 2);
}

/* ---- close frames ---- */

static void expect_close_payload(struct fixture *f, const void *payload, size_t n,
                                 enum ws_event_type type, unsigned code)
{
    wire_free(&f->wire);
    frame(&f->wire, FIN, WS_OP_CLOSE, payload, n);
    run_all_splits(f, 100, false);
    assert_int_equal(f->log.count, 1);
    assert_int_equal(f->log.ev[0].type, type);
    if (f->log.ev[0].code != code)
        fail_msg("close payload of %zu bytes: code %u, expected %u", n, f->log.ev[0].code, code);
}

static void test_close_payloads(void **state)
{
    struct fixture *f = *state;
    static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                     1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const unsigned invalid[] = {0, 999, 1004, 1005, 1006, 1015, 1016,
                                       1100, 2000, 2999, 5000, 65535};
    uint8_t p[WS_CONTROL_PAYLOAD_MAX];

    expect_close_payload(f, NULL, 0, WS_EVENT_CLOSE, WS_CLOSE_NO_STATUS);
    assert_int_equal(f->log.ev[0].len, 0);
    p[0] = 0x03;
    expect_close_payload(f, p, 1, WS_EVENT_FAIL, WS_CLOSE_PROTOCOL_ERROR);
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        p[0] = (uint8_t)(valid[i] >> 8);
        p[1] = (uint8_t)valid[i];
        expect_close_payload(f, p, 2, WS_EVENT_CLOSE, valid[i]);
        assert_true(ws_close_code_valid(valid[i]));
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        p[0] = (uint8_t)(invalid[i] >> 8);
        p[1] = (uint8_t)invalid[i];
        expect_close_payload(f, p, 2, WS_EVENT_FAIL, WS_CLOSE_PROTOCOL_ERROR);
        assert_false(ws_close_code_valid(invalid[i]));
    }
    /* a reason: UTF-8 up to 123 bytes */
    p[0] = 0x03;
    p[1] = 0xE8;
    memcpy(p + 2, "bye \xE2\x82\xAC", 7);
    expect_close_payload(f, p, 9, WS_EVENT_CLOSE, 1000);
    assert_event(&f->log, 0, WS_EVENT_CLOSE, "bye \xE2\x82\xAC", 7);
    memset(p + 2, 'r', WS_CLOSE_REASON_MAX);
    expect_close_payload(f, p, WS_CONTROL_PAYLOAD_MAX, WS_EVENT_CLOSE, 1000);
    assert_int_equal(f->log.ev[0].len, WS_CLOSE_REASON_MAX);
    memcpy(p + 2, "bad \xED\xA0\x80", 7);
    expect_close_payload(f, p, 9, WS_EVENT_FAIL, WS_CLOSE_INVALID_PAYLOAD);
    memcpy(p + 2, "cut \xE2\x82", 6);
    expect_close_payload(f, p, 8, WS_EVENT_FAIL, WS_CLOSE_INVALID_PAYLOAD);
}

/* After a close frame nothing more is read: frames after it are consumed and ignored. */
static void test_input_after_close_is_ignored(void **state)
{
    struct fixture *f = *state;
    frame_str(&f->wire, FIN, WS_OP_CLOSE, "\x03\xE8");
    frame_str(&f->wire, FIN, WS_OP_TEXT, "too late");
    frame_ex(&f->wire, FIN, 0x3, "garbage", 7, true);
    run_all_splits(f, 100, false);
    assert_int_equal(f->log.count, 1);
    assert_int_equal(f->log.ev[0].type, WS_EVENT_CLOSE);
    assert_int_equal(f->log.ev[0].code, 1000);
    assert_int_equal(f->log.consumed, f->wire.len);
}

/* ---- memory ---- */

static void test_pool_exhaustion_fails_with_1011(void **state)
{
    struct fixture *f = *state;
    struct ws_chunk_pool tiny;
    struct ws_reader r;
    struct ws_reader_config cfg = {.role = WS_ROLE_SERVER, .max_message = 1u << 20};
    static uint8_t data[4 * CHUNK];
    memset(data, 'x', sizeof data);
    assert_int_equal(ws_chunk_pool_init(&tiny, CHUNK, 3, 3), 0);
    frame(&f->wire, FIN, WS_OP_BINARY, data, sizeof data);
    ws_reader_init(&r, &tiny, &cfg);
    feed(&r, &tiny, f->wire.buf, f->wire.len, 1000, &f->log);
    assert_fail(&f->log, WS_CLOSE_INTERNAL_ERROR);
    ws_reader_destroy(&r);
    assert_int_equal(tiny.live, tiny.idle_count);   /* the failed message's chunks are back */
    ws_chunk_pool_destroy(&tiny);
}

/* A steady stream of messages draws the same chunks again and again. */
static void test_memory_is_reused(void **state)
{
    struct fixture *f = *state;
    static uint8_t data[10000];
    memset(data, 'm', sizeof data);
    for (int i = 0; i < 3; i++) {
        frame(&f->wire, 0, WS_OP_BINARY, data, 4000);
        frame(&f->wire, FIN, WS_OP_CONTINUATION, data, 6000);
    }
    reader_start(f, WS_ROLE_SERVER, sizeof data, false);
    feed(&f->reader, &f->pool, f->wire.buf, f->wire.len, 3000, &f->log);
    size_t live = f->pool.live;
    assert_true(live >= sizeof data / CHUNK);
    for (int round = 0; round < 200; round++) {
        log_free(&f->log);
        feed(&f->reader, &f->pool, f->wire.buf, f->wire.len, 1500 + (size_t)round, &f->log);
        assert_int_equal(f->log.count, 3);
        assert_int_equal(f->pool.live, live);
    }
    ws_reader_destroy(&f->reader);
}

static void test_destroy_mid_message_returns_chunks(void **state)
{
    struct fixture *f = *state;
    static uint8_t data[5000];
    memset(data, 'd', sizeof data);
    frame(&f->wire, 0, WS_OP_BINARY, data, sizeof data);
    reader_start(f, WS_ROLE_SERVER, 100000, false);
    feed(&f->reader, &f->pool, f->wire.buf, f->wire.len, SIZE_MAX, &f->log);
    assert_int_equal(f->log.count, 0);
    assert_true(f->pool.live > f->pool.idle_count);
    ws_reader_destroy(&f->reader);  /* teardown checks that every chunk is back */
}

/* ---- permessage-deflate: RFC 7692 section 7.2.3 ---- */

static void deflate_defaults(struct fixture *f)
{
    f->deflate = (struct ws_deflate_params){true, false, false, 15, 15};
}

static const uint8_t hello_block[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};

/* The RFC's frames verbatim (unmasked: as a server sends them) read by a client reader. */
static void test_rfc7692_examples_verbatim(void **state)
{
    struct fixture *f = *state;
    static const uint8_t stream[] = {
        0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,           /* 7.2.3.1 */
        0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00, /* fragmented */
        0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00,                       /* 7.2.3.2 */
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00, /* .3 */
        0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00,     /* 7.2.3.4 */
        0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff,     /* 7.2.3.5 */
        0xca, 0xc9, 0xc9, 0x07, 0x00,
        0x01, 0x05, 'H', 'e', 'l', 'l', 'o',                            /* uncompressed */
        0x80, 0x00,
    };
    deflate_defaults(f);
    for (size_t piece = 1; piece <= sizeof stream; piece++) {
        log_free(&f->log);
        reader_start(f, WS_ROLE_CLIENT, 100, true);
        feed(&f->reader, &f->pool, stream, sizeof stream, piece, &f->log);
        ws_reader_destroy(&f->reader);
        assert_int_equal(f->log.count, 7);
        for (size_t i = 0; i < 7; i++) {
            assert_event(&f->log, i, WS_EVENT_MESSAGE, "Hello", 5);
            assert_int_equal(f->log.ev[i].opcode, WS_OP_TEXT);
        }
    }
}

/* The same compressed payloads masked, from a client, as a server reads them. */
static void test_rfc7692_examples_masked(void **state)
{
    struct fixture *f = *state;
    const uint8_t again[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    deflate_defaults(f);
    frame(&f->wire, FIN | RSV1, WS_OP_TEXT, hello_block, sizeof hello_block);
    frame(&f->wire, RSV1, WS_OP_TEXT, hello_block, 3);
    frame_str(&f->wire, FIN, WS_OP_PING, "mid");
    frame(&f->wire, FIN, WS_OP_CONTINUATION, hello_block + 3, 4);
    frame(&f->wire, FIN | RSV1, WS_OP_BINARY, again, sizeof again);
    run_all_splits(f, 100, true);
    assert_int_equal(f->log.count, 4);
    assert_event(&f->log, 0, WS_EVENT_MESSAGE, "Hello", 5);
    assert_event(&f->log, 1, WS_EVENT_PING, "mid", 3);
    assert_event(&f->log, 2, WS_EVENT_MESSAGE, "Hello", 5);
    assert_event(&f->log, 3, WS_EVENT_MESSAGE, "Hello", 5);
    assert_int_equal(f->log.ev[3].opcode, WS_OP_BINARY);

    /* client_no_context_takeover: the back-reference has nothing to refer to */
    f->deflate.client_no_context_takeover = true;
    run_all_splits(f, 100, true);
    assert_fail(&f->log, WS_CLOSE_INVALID_PAYLOAD);
}

static void test_compressed_failures(void **state)
{
    struct fixture *f = *state;
    deflate_defaults(f);

    /* RSV1 on a continuation */
    frame(&f->wire, RSV1, WS_OP_TEXT, hello_block, 3);
    frame(&f->wire, FIN | RSV1, WS_OP_CONTINUATION, hello_block + 3, 4);
    run_all_splits(f, 100, true);
    assert_fail(&f->log, WS_CLOSE_PROTOCOL_ERROR);

    /* not deflate data */
    wire_free(&f->wire);
    frame_str(&f->wire, FIN | RSV1, WS_OP_BINARY, "\xff\xff\xff\xff");
    run_all_splits(f, 100, true);
    assert_fail(&f->log, WS_CLOSE_INVALID_PAYLOAD);

    /* compressed text that inflates to invalid UTF-8: a stored block holding C0 AF */
    wire_free(&f->wire);
    const uint8_t bad_text[] = {0x00, 0x02, 0x00, 0xfd, 0xff, 0xc0, 0xaf};
    frame(&f->wire, FIN | RSV1, WS_OP_TEXT, bad_text, sizeof bad_text);
    run_all_splits(f, 100, true);
    assert_fail(&f->log, WS_CLOSE_INVALID_PAYLOAD);
    /* ...which as binary is fine */
    wire_free(&f->wire);
    frame(&f->wire, FIN | RSV1, WS_OP_BINARY, bad_text, sizeof bad_text);
    run_all_splits(f, 100, true);
    assert_event(&f->log, 0, WS_EVENT_MESSAGE, "\xc0\xaf", 2);
}

/* A small compressed message that inflates past the limit: 1009, with bounded memory. */
static void test_compressed_size_limit(void **state)
{
    struct fixture *f = *state;
    enum { MAX = 50000 };
    deflate_defaults(f);
    struct ws_writer w;
    ws_writer_init(&w, &f->pool, &f->deflate, 9, NULL);
    static uint8_t zeros[MAX + 1];
    for (size_t len = MAX; len <= MAX + 1; len++) {
        struct ws_chain msg;
        uint8_t header[WS_FRAME_HEADER_MAX];
        ws_chain_init(&msg);
        assert_int_equal(ws_chain_append(&f->pool, &msg, zeros, len), 0);
        assert_true(ws_writer_message(&w, WS_OP_BINARY, &msg, header) > 0);
        assert_true(msg.len < 200);
        uint8_t *payload = chain_bytes(&msg);
        frame(&f->wire, FIN | RSV1, WS_OP_BINARY, payload, msg.len);
        ws_chain_release(&f->pool, &msg);
        free(payload);
    }
    ws_writer_destroy(&w);
    run_all_splits(f, MAX, true);
    assert_int_equal(f->log.count, 2);
    assert_event(&f->log, 0, WS_EVENT_MESSAGE, zeros, MAX);
    assert_fail(&f->log, WS_CLOSE_MESSAGE_TOO_BIG);
}

/* ---- budgets (ws_budget.h) ---- */

/* Appends data compressed as one message, in two frames split at `split` compressed bytes
 * (one frame if split is 0), to w. */
static void compressed_frames(struct fixture *f, struct wire *w, const uint8_t *data,
                              size_t len, size_t split)
{
    struct ws_writer writer;
    struct ws_chain msg;
    uint8_t header[WS_FRAME_HEADER_MAX];
    ws_writer_init(&writer, &f->pool, &f->deflate, 1, NULL);
    ws_chain_init(&msg);
    assert_int_equal(ws_chain_append(&f->pool, &msg, data, len), 0);
    assert_true(ws_writer_message(&writer, WS_OP_BINARY, &msg, header) > 0);
    uint8_t *payload = chain_bytes(&msg);
    assert_true(split < msg.len);
    if (split == 0) {
        frame(w, FIN | RSV1, WS_OP_BINARY, payload, msg.len);
    } else {
        frame(w, RSV1, WS_OP_BINARY, payload, split);
        frame(w, FIN, WS_OP_CONTINUATION, payload + split, msg.len - split);
    }
    ws_chain_release(&f->pool, &msg);
    ws_writer_destroy(&writer);
    free(payload);
}

/* A masked client frame's header with a 64-bit length: where the second frame starts. */
#define LONG_FRAME_HEADER (2 + 8 + 4)

/* Bytes that do not compress, so that compressed and inflated sizes go together. */
static uint8_t *noise(size_t len)
{
    uint8_t *data = malloc(len);
    assert_non_null(data);
    uint32_t x = 12345;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    return data;
}

static struct ws_reader *evictable[2];
static struct ws_account budget_accounts[2];

static void evict_reader(struct ws_account *a)
{
    ws_reader_abandon(evictable[a - budget_accounts], WS_CLOSE_POLICY_VIOLATION);
}

static void budget_reader_start(struct fixture *f, struct ws_reader *r, int i,
                                struct ws_budget *b)
{
    ws_account_init(&budget_accounts[i], b);
    evictable[i] = r;
    struct ws_reader_config cfg = {.role = WS_ROLE_SERVER, .max_message = SIZE_MAX,
                                   .deflate = &f->deflate, .account = &budget_accounts[i]};
    ws_reader_init(r, &f->pool, &cfg);
}

/* A message's inflated bytes count while it is assembled and stop counting when it is handed
 * on; past the connection's budget, 1009. */
static void test_inflated_bytes_budgeted(void **state)
{
    struct fixture *f = *state;
    enum { LEN = 300000 };
    uint8_t *data = noise(LEN);
    deflate_defaults(f);
    struct ws_budget b;
    ws_budget_init(&b, 64u << 20, 1u << 20, evict_reader);
    struct ws_reader r;
    budget_reader_start(f, &r, 0, &b);
    struct wire first = {0}, rest = {0};
    compressed_frames(f, &first, data, LEN, LEN / 2);
    size_t first_len = LONG_FRAME_HEADER + LEN / 2;
    feed(&r, &f->pool, first.buf, first_len, SIZE_MAX, &f->log);
    assert_int_equal(f->log.count, 0);
    assert_true(budget_accounts[0].used >= LEN / 3);
    feed(&r, &f->pool, first.buf + first_len, first.len - first_len, SIZE_MAX, &f->log);
    assert_int_equal(f->log.count, 1);
    assert_event(&f->log, 0, WS_EVENT_MESSAGE, data, LEN);
    assert_true(budget_accounts[0].used < 64u * 1024u); /* zlib's state only */
    ws_reader_destroy(&r);
    assert_int_equal(budget_accounts[0].used, 0);
    log_free(&f->log);

    b.per_conn = LEN / 2;
    budget_reader_start(f, &r, 0, &b);
    compressed_frames(f, &rest, data, LEN, 0);
    feed(&r, &f->pool, rest.buf, rest.len, SIZE_MAX, &f->log);
    assert_fail(&f->log, WS_CLOSE_MESSAGE_TOO_BIG);
    ws_reader_destroy(&r);
    assert_int_equal(budget_accounts[0].used, 0);
    wire_free(&first);
    wire_free(&rest);
    ws_budget_destroy(&b);
    free(data);
}

/* Two connections share a loop's budget: one asking past its share when the loop fills is
 * failed with 1008, the other kept; one within its share makes the largest holder give
 * everything back (its next input fails with 1008) and is served. */
static void test_loop_budget_shared(void **state)
{
    struct fixture *f = *state;
    enum { LIMIT = 512 * 1024, SMALL = 100000, BIG = 400000, MODEST = 200000, GREEDY = 450000 };
    uint8_t *data = noise(GREEDY);
    deflate_defaults(f);
    struct ws_budget b;
    ws_budget_init(&b, LIMIT, LIMIT, evict_reader);
    struct ws_reader a, c;
    struct wire small = {0}, big = {0}, greedy = {0}, modest = {0};
    compressed_frames(f, &small, data, SMALL, SMALL - 1000);
    compressed_frames(f, &big, data, BIG, BIG - 1000);
    compressed_frames(f, &greedy, data, GREEDY, 0);
    compressed_frames(f, &modest, data, MODEST, 0);
    size_t small_first = LONG_FRAME_HEADER + SMALL - 1000;
    size_t big_first = LONG_FRAME_HEADER + BIG - 1000;

    /* a holds 100 KB of an unfinished message; c wants 450 KB: past its share (256 KiB) */
    budget_reader_start(f, &a, 0, &b);
    budget_reader_start(f, &c, 1, &b);
    feed(&a, &f->pool, small.buf, small_first, SIZE_MAX, &f->log);
    size_t a_holds = budget_accounts[0].used;
    assert_true(a_holds > SMALL - 2000);
    feed(&c, &f->pool, greedy.buf, greedy.len, SIZE_MAX, &f->log);
    assert_fail(&f->log, WS_CLOSE_POLICY_VIOLATION);
    assert_int_equal(budget_accounts[0].used, a_holds); /* a was within its share: kept */
    ws_reader_destroy(&a);
    ws_reader_destroy(&c);
    log_free(&f->log);

    /* a holds 400 KB; c wants 200 KB, within its share: a, the largest, is evicted */
    budget_reader_start(f, &a, 0, &b);
    budget_reader_start(f, &c, 1, &b);
    feed(&a, &f->pool, big.buf, big_first, SIZE_MAX, &f->log);
    assert_true(budget_accounts[0].used > LIMIT / 2);
    feed(&c, &f->pool, modest.buf, modest.len, SIZE_MAX, &f->log);
    assert_int_equal(f->log.count, 1);
    assert_event(&f->log, 0, WS_EVENT_MESSAGE, data, MODEST);
    assert_int_equal(budget_accounts[0].used, 0);
    log_free(&f->log);
    feed(&a, &f->pool, big.buf + big_first, big.len - big_first, SIZE_MAX, &f->log);
    assert_fail(&f->log, WS_CLOSE_POLICY_VIOLATION);
    ws_reader_destroy(&a);
    ws_reader_destroy(&c);
    assert_int_equal(b.used, 0);
    wire_free(&small);
    wire_free(&big);
    wire_free(&greedy);
    wire_free(&modest);
    ws_budget_destroy(&b);
    free(data);
}

/* A compressor that does not fit the connection's budget: the message is refused with the
 * account's reason (the connection fails it with 1008), and nothing stays charged. */
static void test_writer_compressor_budgeted(void **state)
{
    struct fixture *f = *state;
    deflate_defaults(f);
    struct ws_budget b;
    ws_budget_init(&b, 64u << 20, 16u * 1024u, evict_reader);
    ws_account_init(&budget_accounts[0], &b);
    struct ws_writer w;
    ws_writer_init(&w, &f->pool, &f->deflate, 1, &budget_accounts[0]);
    struct ws_chain msg;
    uint8_t header[WS_FRAME_HEADER_MAX];
    ws_chain_init(&msg);
    assert_int_equal(ws_chain_append(&f->pool, &msg, (const uint8_t *)"Hello", 5), 0);
    assert_int_equal(ws_writer_message(&w, WS_OP_TEXT, &msg, header), -EMSGSIZE);
    assert_int_equal(msg.len, 0); /* released */
    ws_writer_destroy(&w);
    assert_int_equal(budget_accounts[0].used, 0);
    ws_budget_destroy(&b);
}

/* ---- the writer ---- */

static void test_writer_uncompressed(void **state)
{
    struct fixture *f = *state;
    struct ws_writer w;
    struct ws_chain msg;
    uint8_t header[WS_FRAME_HEADER_MAX];
    ws_writer_init(&w, &f->pool, NULL, 6, NULL);
    ws_chain_init(&msg);
    assert_int_equal(ws_chain_append(&f->pool, &msg, (const uint8_t *)"Hello", 5), 0);
    assert_int_equal(ws_writer_message(&w, WS_OP_TEXT, &msg, header), 2);
    assert_int_equal(header[0], 0x81);
    assert_int_equal(header[1], 0x05);
    assert_int_equal(msg.len, 5);
    ws_chain_release(&f->pool, &msg);

    assert_int_equal(ws_chain_append(&f->pool, &msg, (const uint8_t *)"x", 1), 0);
    assert_int_equal(ws_writer_message(&w, WS_OP_PING, &msg, header), -EINVAL);
    assert_null(msg.head); /* released all the same */
    ws_writer_destroy(&w);
}

static void test_writer_compresses_like_rfc(void **state)
{
    struct fixture *f = *state;
    struct ws_writer w;
    uint8_t header[WS_FRAME_HEADER_MAX];
    const uint8_t again[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    deflate_defaults(f);
    ws_writer_init(&w, &f->pool, &f->deflate, Z_DEFAULT_COMPRESSION, NULL);
    for (int i = 0; i < 2; i++) {
        struct ws_chain msg;
        ws_chain_init(&msg);
        assert_int_equal(ws_chain_append(&f->pool, &msg, (const uint8_t *)"Hello", 5), 0);
        assert_int_equal(ws_writer_message(&w, WS_OP_TEXT, &msg, header), 2);
        assert_int_equal(header[0], 0xc1);   /* FIN, RSV1, text */
        uint8_t *payload = chain_bytes(&msg);
        if (i == 0) {
            assert_int_equal(header[1], sizeof hello_block);
            assert_memory_equal(payload, hello_block, sizeof hello_block);
        } else {
            assert_int_equal(header[1], sizeof again);
            assert_memory_equal(payload, again, sizeof again);
        }
        free(payload);
        ws_chain_release(&f->pool, &msg);
    }
    ws_writer_destroy(&w);
}

/* Server writer to client reader, every boundary size, with deflate off and on under
 * assorted parameters: what goes in comes out. */
static void round_trip(struct fixture *f, const struct ws_deflate_params *params)
{
    static const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 65537, 3u << 20};
    const size_t max = 3u << 20;
    uint8_t *data = malloc(max);
    assert_non_null(data);
    for (size_t i = 0; i < max; i++)
        data[i] = (uint8_t)("abcdefgh"[i % 7] + (i / 4096) % 3);  /* ASCII: valid text */

    struct ws_writer w;
    struct ws_reader r;
    struct ws_reader_config cfg = {.role = WS_ROLE_CLIENT, .max_message = max, .deflate = params};
    ws_writer_init(&w, &f->pool, params, 1, NULL);
    ws_reader_init(&r, &f->pool, &cfg);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int op = WS_OP_TEXT; op <= WS_OP_BINARY; op++) {
            struct ws_chain msg;
            uint8_t header[WS_FRAME_HEADER_MAX];
            ws_chain_init(&msg);
            assert_int_equal(ws_chain_append(&f->pool, &msg, data, sizes[i]), 0);
            int h = ws_writer_message(&w, (enum ws_opcode)op, &msg, header);
            if (h < 2)
                fail_msg("size %zu op %d bits %d: %d", sizes[i], op,
                         params ? params->server_max_window_bits : 0, h);
            /* the frame as it would go out: header, then the chain's iovecs */
            struct wire out = {0};
            wire_reserve(&out, (size_t)h + msg.len);
            memcpy(out.buf, header, (size_t)h);
            out.len = (size_t)h;
            const struct ws_chunk *cursor = msg.head;
            struct iovec iov[8];
            for (int guard = 0; cursor && guard < 100000; guard++) {
                size_t n = ws_chain_to_iov(&cursor, iov, 8);
                for (size_t k = 0; k < n; k++) {
                    memcpy(out.buf + out.len, iov[k].iov_base, iov[k].iov_len);
                    out.len += iov[k].iov_len;
                }
            }
            assert_int_equal(out.len, (size_t)h + msg.len);
            ws_chain_release(&f->pool, &msg);

            struct log l = {0};
            feed(&r, &f->pool, out.buf, out.len, sizes[i] < 1000 ? 1 : 65521, &l);
            assert_int_equal(l.count, 1);
            assert_int_equal(l.ev[0].opcode, op);
            assert_event(&l, 0, WS_EVENT_MESSAGE, data, sizes[i]);
            log_free(&l);
            wire_free(&out);
        }
    }
    ws_reader_destroy(&r);
    ws_writer_destroy(&w);
    free(data);
}

static void test_writer_reader_round_trips(void **state)
{
    struct fixture *f = *state;
    round_trip(f, NULL);
    for (uint8_t bits = 8; bits <= 15; bits += 7) {
        for (int nct = 0; nct <= 1; nct++) {
            struct ws_deflate_params p = {true, nct, !nct, bits, (uint8_t)(23 - bits)};
            round_trip(f, &p);
        }
    }
}

/* ---- control frames out ---- */

static void test_write_control_frames(void **state)
{
    struct fixture *f = *state;
    uint8_t out[WS_CONTROL_FRAME_MAX];
    assert_int_equal(ws_write_control(out, WS_OP_PING, (const uint8_t *)"abc", 3), 5);
    assert_memory_equal(out, "\x89\x03" "abc", 5);
    assert_int_equal(ws_write_control(out, WS_OP_PONG, NULL, 0), 2);
    assert_memory_equal(out, "\x8a\x00", 2);
    uint8_t payload[126] = {0};
    assert_int_equal(ws_write_control(out, WS_OP_PONG, payload, 125), 127);
    assert_int_equal(ws_write_control(out, WS_OP_PONG, payload, 126), -EINVAL);
    assert_int_equal(ws_write_control(out, WS_OP_TEXT, payload, 1), -EINVAL);

    assert_int_equal(ws_write_close(out, 1000, "bye", 3), 7);
    assert_memory_equal(out, "\x88\x05\x03\xe8" "bye", 7);
    assert_int_equal(ws_write_close(out, 1005, "", 0), -EINVAL);
    assert_int_equal(ws_write_close(out, 999, "", 0), -EINVAL);
    assert_int_equal(ws_write_close(out, 1000, "\xff", 1), -EINVAL);
    char reason[WS_CLOSE_REASON_MAX + 1];
    memset(reason, 'r', sizeof reason);
    assert_int_equal(ws_write_close(out, 4000, reason, WS_CLOSE_REASON_MAX), 127);
    assert_int_equal(ws_write_close(out, 4000, reason, WS_CLOSE_REASON_MAX + 1), -EINVAL);

    /* a client reads them back */
    int n = ws_write_close(out, 1001, "going", 5);
    reader_start(f, WS_ROLE_CLIENT, 10, false);
    feed(&f->reader, &f->pool, out, (size_t)n, 1, &f->log);
    ws_reader_destroy(&f->reader);
    assert_int_equal(f->log.count, 1);
    assert_event(&f->log, 0, WS_EVENT_CLOSE, "going", 5);
    assert_int_equal(f->log.ev[0].code, 1001);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_messages_and_control_frames),
        T(test_control_payload_of_125),
        T(test_frame_errors_fail_with_1002),
        T(test_failure_is_sticky),
        T(test_message_size_limit),
        T(test_text_must_be_utf8),
        T(test_bad_utf8_fails_fast),
        T(test_close_payloads),
        T(test_input_after_close_is_ignored),
        T(test_pool_exhaustion_fails_with_1011),
        T(test_memory_is_reused),
        T(test_destroy_mid_message_returns_chunks),
        T(test_rfc7692_examples_verbatim),
        T(test_rfc7692_examples_masked),
        T(test_compressed_failures),
        T(test_compressed_size_limit),
        T(test_inflated_bytes_budgeted),
        T(test_loop_budget_shared),
        T(test_writer_compressor_budgeted),
        T(test_writer_uncompressed),
        T(test_writer_compresses_like_rfc),
        T(test_writer_reader_round_trips),
        T(test_write_control_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
