/* test_ws_frame.c - the frame parser and writer: RFC 6455 section 5.7's examples, every
 * length form and boundary, every framing rule, and input split at every byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ws/ws_frame.h"

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* What the parser reported over a whole input. */
struct parsed {
    int frames;               /* WS_FRAME_END count */
    int headers;
    struct ws_frame_header last_header;
    struct ws_frame_header first_header;
    uint8_t *payload;         /* every frame's payload, unmasked, concatenated */
    size_t payload_len;
    size_t consumed;
    bool failed;
    enum ws_close_code error;
    size_t error_at;          /* input bytes consumed when the error was reported */
};

static void parsed_free(struct parsed *r)
{
    free(r->payload);
    memset(r, 0, sizeof *r);
}

/* Feeds `in` to p in pieces of `piece` bytes, unmasking payload into r->payload. */
static void parse_pieces(struct ws_frame_parser *p, const uint8_t *in, size_t len, size_t piece,
                         struct parsed *r)
{
    memset(r, 0, sizeof *r);
    r->payload = malloc(len + 1);
    assert_non_null(r->payload);
    size_t at = 0;
    /* Every call makes progress or ends a piece: bounded by a few events per input byte. */
    for (size_t guard = 0; guard < 4 * len + 16; guard++) {
        size_t avail = len - at < piece ? len - at : piece;
        size_t n;
        enum ws_frame_event ev = ws_frame_parse(p, in + at, avail, &n);
        assert_true(n <= avail);
        switch (ev) {
        case WS_FRAME_NEED_MORE:
            assert_int_equal(n, avail);
            at += n;
            if (at == len) {
                r->consumed = at;
                return;
            }
            break;
        case WS_FRAME_HEADER:
            if (r->headers++ == 0)
                r->first_header = p->header;
            r->last_header = p->header;
            at += n;
            break;
        case WS_FRAME_PAYLOAD:
            assert_true(n > 0);
            ws_frame_unmask(p, r->payload + r->payload_len, in + at, n, p->span_offset);
            r->payload_len += n;
            at += n;
            break;
        case WS_FRAME_END:
            assert_int_equal(n, 0);
            r->frames++;
            break;
        case WS_FRAME_ERROR:
            r->failed = true;
            r->error = p->error;
            r->error_at = at + n;
            r->consumed = at + n;
            return;
        }
    }
    fail_msg("parser made no progress");
}

static void parse_all(enum ws_role role, bool deflate, const uint8_t *in, size_t len,
                      size_t piece, struct parsed *r)
{
    struct ws_frame_parser p;
    ws_frame_parser_init(&p, role, deflate);
    parse_pieces(&p, in, len, piece, r);
}

/* Appends a frame to buf (at *len): masked with `mask` unless it is NULL. */
static void put_frame(uint8_t *buf, size_t *len, unsigned b0_flags, enum ws_opcode op,
                      const uint8_t *payload, size_t n, const uint8_t *mask)
{
    bool fin = b0_flags & 0x80, rsv1 = b0_flags & 0x40;
    size_t h = ws_frame_write_header(buf + *len, op, fin, rsv1, n, mask);
    buf[*len] |= (uint8_t)(b0_flags & 0x30); /* RSV2/RSV3, which the writer never sets */
    if (n > 0) {
        if (mask)
            ws_frame_mask(buf + *len + h, payload, n, mask, 0);
        else
            memcpy(buf + *len + h, payload, n);
    }
    *len += h + n;
}

#define FIN 0x80u
#define RSV1 0x40u

/* Parses a whole input split every 1, 2, 3, 5, 7 bytes and whole; all must agree. */
static void expect_error_everywhere(enum ws_role role, bool deflate, const uint8_t *in,
                                    size_t len, enum ws_close_code code)
{
    static const size_t pieces[] = {1, 2, 3, 5, 7, SIZE_MAX};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        struct parsed r;
        parse_all(role, deflate, in, len, pieces[i], &r);
        if (!r.failed || r.error != code)
            fail_msg("split %zu: failed %d error %d", pieces[i], r.failed, r.error);
        parsed_free(&r);
    }
}

/* ---- RFC 6455 section 5.7 ---- */

static void test_rfc_single_unmasked_text(void **state)
{
    (void)state;
    const uint8_t in[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    struct parsed r;
    parse_all(WS_ROLE_CLIENT, false, in, sizeof in, 1, &r);
    assert_false(r.failed);
    assert_int_equal(r.frames, 1);
    assert_true(r.last_header.fin);
    assert_int_equal(r.last_header.opcode, WS_OP_TEXT);
    assert_memory_equal(r.payload, "Hello", 5);
    parsed_free(&r);

    uint8_t out[WS_FRAME_HEADER_MAX];
    assert_int_equal(ws_frame_write_header(out, WS_OP_TEXT, true, false, 5, NULL), 2);
    assert_memory_equal(out, in, 2);
}

static void test_rfc_single_masked_text(void **state)
{
    (void)state;
    const uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    for (size_t piece = 1; piece <= sizeof in; piece++) {
        struct parsed r;
        parse_all(WS_ROLE_SERVER, false, in, sizeof in, piece, &r);
        assert_false(r.failed);
        assert_int_equal(r.frames, 1);
        assert_true(r.last_header.masked);
        assert_memory_equal(r.last_header.mask_key, key, 4);
        assert_int_equal(r.payload_len, 5);
        assert_memory_equal(r.payload, "Hello", 5);
        parsed_free(&r);
    }
    uint8_t out[WS_FRAME_HEADER_MAX];
    assert_int_equal(ws_frame_write_header(out, WS_OP_TEXT, true, false, 5, key), 6);
    assert_memory_equal(out, in, 6);
}

static void test_rfc_fragmented_unmasked_text(void **state)
{
    (void)state;
    const uint8_t in[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
    struct parsed r;
    parse_all(WS_ROLE_CLIENT, false, in, sizeof in, 1, &r);
    assert_false(r.failed);
    assert_int_equal(r.frames, 2);
    assert_int_equal(r.first_header.opcode, WS_OP_TEXT);
    assert_false(r.first_header.fin);
    assert_int_equal(r.last_header.opcode, WS_OP_CONTINUATION);
    assert_true(r.last_header.fin);
    assert_memory_equal(r.payload, "Hello", 5);
    parsed_free(&r);
}

static void test_rfc_ping_and_masked_pong(void **state)
{
    (void)state;
    const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    struct parsed r;
    parse_all(WS_ROLE_CLIENT, false, ping, sizeof ping, 1, &r);
    assert_false(r.failed);
    assert_int_equal(r.last_header.opcode, WS_OP_PING);
    assert_memory_equal(r.payload, "Hello", 5);
    parsed_free(&r);
    parse_all(WS_ROLE_SERVER, false, pong, sizeof pong, 1, &r);
    assert_false(r.failed);
    assert_int_equal(r.last_header.opcode, WS_OP_PONG);
    assert_memory_equal(r.payload, "Hello", 5);
    parsed_free(&r);
}

static void test_rfc_256_and_64k_binary(void **state)
{
    (void)state;
    const uint8_t h256[] = {0x82, 0x7E, 0x01, 0x00};
    const uint8_t h64k[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0};
    uint8_t out[WS_FRAME_HEADER_MAX];
    assert_int_equal(ws_frame_write_header(out, WS_OP_BINARY, true, false, 256, NULL), 4);
    assert_memory_equal(out, h256, 4);
    assert_int_equal(ws_frame_write_header(out, WS_OP_BINARY, true, false, 65536, NULL), 10);
    assert_memory_equal(out, h64k, 10);

    size_t len = sizeof h64k + 65536;
    uint8_t *in = malloc(len);
    assert_non_null(in);
    memcpy(in, h64k, sizeof h64k);
    for (size_t i = 0; i < 65536; i++)
        in[sizeof h64k + i] = (uint8_t)(i * 7);
    struct parsed r;
    parse_all(WS_ROLE_CLIENT, false, in, len, 1000, &r);
    assert_false(r.failed);
    assert_int_equal(r.last_header.payload_len, 65536);
    assert_memory_equal(r.payload, in + sizeof h64k, 65536);
    parsed_free(&r);
    free(in);
}

/* ---- lengths ---- */

/* A masked frame of every boundary length, written, split several ways, parsed back. */
static void test_length_boundaries_round_trip(void **state)
{
    (void)state;
    static const size_t lengths[] = {0, 1, 125, 126, 127, 65535, 65536, 65537, 3u << 20};
    static const size_t header_sizes[] = {6, 6, 6, 8, 8, 8, 14, 14, 14};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        size_t n = lengths[i];
        uint8_t *payload = malloc(n + 1);
        uint8_t *wire = malloc(n + WS_FRAME_HEADER_MAX);
        assert_non_null(payload);
        assert_non_null(wire);
        for (size_t j = 0; j < n; j++)
            payload[j] = (uint8_t)(j ^ (j >> 8));
        size_t len = 0;
        put_frame(wire, &len, FIN, WS_OP_BINARY, payload, n, key);
        assert_int_equal(len - n, header_sizes[i]);
        assert_int_equal(ws_frame_header_size(n, true), header_sizes[i]);
        assert_int_equal(ws_frame_header_size(n, false), header_sizes[i] - 4);

        const size_t pieces[] = {1, 3, 4096, 65537, SIZE_MAX};
        for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
            if (pieces[k] == 1 && n > 70000)
                continue; /* byte-at-a-time on megabytes proves nothing more, slowly */
            struct parsed r;
            parse_all(WS_ROLE_SERVER, false, wire, len, pieces[k], &r);
            assert_false(r.failed);
            assert_int_equal(r.frames, 1);
            assert_int_equal(r.headers, 1);
            assert_int_equal(r.last_header.payload_len, n);
            assert_int_equal(r.payload_len, n);
            if (n > 0)
                assert_memory_equal(r.payload, payload, n);
            parsed_free(&r);
        }
        free(payload);
        free(wire);
    }
}

static void test_non_minimal_lengths_fail(void **state)
{
    (void)state;
    /* masked binary frames whose length is written in a longer form than it needs */
    const uint8_t len16_of_125[] = {0x82, 0xFE, 0x00, 0x7D, 1, 2, 3, 4};
    const uint8_t len16_of_0[] = {0x82, 0xFE, 0x00, 0x00, 1, 2, 3, 4};
    const uint8_t len64_of_65535[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4};
    const uint8_t len64_of_126[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x00, 0x7E, 1, 2, 3, 4};
    const uint8_t len64_msb[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    const uint8_t len64_max[] = {0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                 1, 2, 3, 4};
    expect_error_everywhere(WS_ROLE_SERVER, false, len16_of_125, sizeof len16_of_125,
                            WS_CLOSE_PROTOCOL_ERROR);
    expect_error_everywhere(WS_ROLE_SERVER, false, len16_of_0, sizeof len16_of_0,
                            WS_CLOSE_PROTOCOL_ERROR);
    expect_error_everywhere(WS_ROLE_SERVER, false, len64_of_65535, sizeof len64_of_65535,
                            WS_CLOSE_PROTOCOL_ERROR);
    expect_error_everywhere(WS_ROLE_SERVER, false, len64_of_126, sizeof len64_of_126,
                            WS_CLOSE_PROTOCOL_ERROR);
    expect_error_everywhere(WS_ROLE_SERVER, false, len64_msb, sizeof len64_msb,
                            WS_CLOSE_PROTOCOL_ERROR);
    expect_error_everywhere(WS_ROLE_SERVER, false, len64_max, sizeof len64_max,
                            WS_CLOSE_PROTOCOL_ERROR);

    /* the largest legal 64-bit length is a header like any other */
    const uint8_t len64_huge[] = {0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                  1, 2, 3, 4};
    struct ws_frame_parser p;
    size_t n;
    ws_frame_parser_init(&p, WS_ROLE_SERVER, false);
    assert_int_equal(ws_frame_parse(&p, len64_huge, sizeof len64_huge, &n), WS_FRAME_HEADER);
    assert_int_equal(n, sizeof len64_huge);
    assert_true(p.header.payload_len == INT64_MAX);
}

/* ---- masking rules ---- */

static void test_client_frames_must_be_masked(void **state)
{
    (void)state;
    const uint8_t unmasked[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    expect_error_everywhere(WS_ROLE_SERVER, false, unmasked, sizeof unmasked,
                            WS_CLOSE_PROTOCOL_ERROR);
    const uint8_t masked_ping[] = {0x89, 0x80, 1, 2, 3, 4};
    expect_error_everywhere(WS_ROLE_CLIENT, false, masked_ping, sizeof masked_ping,
                            WS_CLOSE_PROTOCOL_ERROR);
    /* refused after the second byte, without waiting for the payload */
    struct parsed r;
    parse_all(WS_ROLE_SERVER, false, unmasked, sizeof unmasked, 1, &r);
    assert_int_equal(r.error_at, 2);
    parsed_free(&r);
}

/* ---- RSV bits ---- */

static void test_rsv_bits(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len;
    const uint8_t *hi = (const uint8_t *)"Hi";

    for (unsigned rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
        len = 0;
        put_frame(buf, &len, FIN | rsv, WS_OP_TEXT, hi, 2, key);
        expect_error_everywhere(WS_ROLE_SERVER, false, buf, len, WS_CLOSE_PROTOCOL_ERROR);
    }
    /* with deflate: RSV1 on a message's first frame is fine, RSV2/RSV3 still not */
    len = 0;
    put_frame(buf, &len, FIN | RSV1, WS_OP_BINARY, hi, 2, key);
    struct parsed r;
    parse_all(WS_ROLE_SERVER, true, buf, len, 1, &r);
    assert_false(r.failed);
    assert_true(r.last_header.rsv1);
    parsed_free(&r);
    for (unsigned rsv = 0x10; rsv <= 0x20; rsv <<= 1) {
        len = 0;
        put_frame(buf, &len, FIN | rsv, WS_OP_TEXT, hi, 2, key);
        expect_error_everywhere(WS_ROLE_SERVER, true, buf, len, WS_CLOSE_PROTOCOL_ERROR);
    }
    /* ...but never on a continuation */
    len = 0;
    put_frame(buf, &len, RSV1, WS_OP_TEXT, hi, 2, key);
    put_frame(buf, &len, FIN | RSV1, WS_OP_CONTINUATION, hi, 2, key);
    expect_error_everywhere(WS_ROLE_SERVER, true, buf, len, WS_CLOSE_PROTOCOL_ERROR);
    len = 0;
    put_frame(buf, &len, RSV1, WS_OP_TEXT, hi, 2, key);
    put_frame(buf, &len, FIN, WS_OP_CONTINUATION, hi, 2, key);
    parse_all(WS_ROLE_SERVER, true, buf, len, 1, &r);
    assert_false(r.failed);
    assert_int_equal(r.frames, 2);
    parsed_free(&r);
    /* ...nor on a control frame */
    for (unsigned op = WS_OP_CLOSE; op <= WS_OP_PONG; op++) {
        len = 0;
        put_frame(buf, &len, FIN | RSV1, op, NULL, 0, key);
        expect_error_everywhere(WS_ROLE_SERVER, true, buf, len, WS_CLOSE_PROTOCOL_ERROR);
    }
}

/* ---- opcodes ---- */

static void test_reserved_opcodes(void **state)
{
    (void)state;
    for (unsigned op = 0; op < 16; op++) {
        uint8_t buf[16];
        size_t len = 0;
        put_frame(buf, &len, FIN, op, NULL, 0, key);
        struct parsed r;
        parse_all(WS_ROLE_SERVER, false, buf, len, 1, &r);
        bool defined = op <= 2 || (op >= 8 && op <= 10);
        if (op == WS_OP_CONTINUATION)
            defined = false; /* no message to continue: refused for that reason */
        assert_int_equal(r.failed, !defined);
        if (!defined) {
            assert_int_equal(r.error, WS_CLOSE_PROTOCOL_ERROR);
            assert_int_equal(r.error_at, 2);
        }
        parsed_free(&r);
    }
}

/* ---- control frames ---- */

static void test_control_frame_rules(void **state)
{
    (void)state;
    uint8_t payload[126];
    memset(payload, 'p', sizeof payload);
    uint8_t buf[256];
    for (unsigned op = WS_OP_CLOSE; op <= WS_OP_PONG; op++) {
        size_t len = 0;
        put_frame(buf, &len, FIN, op, payload, 125, key);
        struct parsed r;
        parse_all(WS_ROLE_SERVER, false, buf, len, 1, &r);
        assert_false(r.failed);
        assert_int_equal(r.payload_len, 125);
        parsed_free(&r);

        len = 0;
        put_frame(buf, &len, FIN, op, payload, 126, key); /* needs the 16-bit form */
        expect_error_everywhere(WS_ROLE_SERVER, false, buf, len, WS_CLOSE_PROTOCOL_ERROR);

        len = 0;
        put_frame(buf, &len, 0, op, payload, 3, key); /* fragmented control frame */
        expect_error_everywhere(WS_ROLE_SERVER, false, buf, len, WS_CLOSE_PROTOCOL_ERROR);
    }
}

/* ---- fragmentation ---- */

static void test_fragmentation_rules(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t len;
    const uint8_t *ab = (const uint8_t *)"ab";
    struct parsed r;

    /* a continuation with nothing to continue, first or after a finished message */
    len = 0;
    put_frame(buf, &len, FIN, WS_OP_CONTINUATION, ab, 2, key);
    expect_error_everywhere(WS_ROLE_SERVER, false, buf, len, WS_CLOSE_PROTOCOL_ERROR);
    len = 0;
    put_frame(buf, &len, FIN, WS_OP_TEXT, ab, 2, key);
    put_frame(buf, &len, FIN, WS_OP_CONTINUATION, ab, 2, key);
    expect_error_everywhere(WS_ROLE_SERVER, false, buf, len, WS_CLOSE_PROTOCOL_ERROR);

    /* a new data frame while a fragmented message is open */
    for (unsigned op = WS_OP_TEXT; op <= WS_OP_BINARY; op++) {
        len = 0;
        put_frame(buf, &len, 0, WS_OP_TEXT, ab, 2, key);
        put_frame(buf, &len, FIN, op, ab, 2, key);
        expect_error_everywhere(WS_ROLE_SERVER, false, buf, len, WS_CLOSE_PROTOCOL_ERROR);
    }

    /* control frames between fragments are fine; so are empty fragments */
    len = 0;
    put_frame(buf, &len, 0, WS_OP_TEXT, ab, 2, key);
    put_frame(buf, &len, FIN, WS_OP_PING, (const uint8_t *)"p", 1, key);
    put_frame(buf, &len, 0, WS_OP_CONTINUATION, NULL, 0, key);
    put_frame(buf, &len, FIN, WS_OP_PONG, NULL, 0, key);
    put_frame(buf, &len, 0, WS_OP_CONTINUATION, ab, 2, key);
    put_frame(buf, &len, FIN, WS_OP_CLOSE, NULL, 0, key);
    put_frame(buf, &len, FIN, WS_OP_CONTINUATION, ab, 2, key);
    put_frame(buf, &len, FIN, WS_OP_BINARY, ab, 2, key); /* the next message */
    for (size_t piece = 1; piece <= len; piece++) {
        parse_all(WS_ROLE_SERVER, false, buf, len, piece, &r);
        assert_false(r.failed);
        assert_int_equal(r.frames, 8);
        assert_int_equal(r.payload_len, 9);
        assert_memory_equal(r.payload, "abpababab", 9);
        parsed_free(&r);
    }
}

/* ---- the parser's calling contract ---- */

static void test_empty_frame_ends_without_input(void **state)
{
    (void)state;
    uint8_t buf[16];
    size_t len = 0, n;
    put_frame(buf, &len, FIN, WS_OP_PING, NULL, 0, key);
    struct ws_frame_parser p;
    ws_frame_parser_init(&p, WS_ROLE_SERVER, false);
    assert_int_equal(ws_frame_parse(&p, buf, len, &n), WS_FRAME_HEADER);
    assert_int_equal(n, len);
    assert_int_equal(ws_frame_parse(&p, buf + len, 0, &n), WS_FRAME_END);
    assert_int_equal(n, 0);
    assert_int_equal(ws_frame_parse(&p, buf + len, 0, &n), WS_FRAME_NEED_MORE);
    assert_int_equal(n, 0);
}

static void test_error_is_sticky(void **state)
{
    (void)state;
    const uint8_t bad[] = {0x83, 0x80, 1, 2, 3, 4};  /* opcode 3 */
    uint8_t good[16];
    size_t good_len = 0, n;
    put_frame(good, &good_len, FIN, WS_OP_TEXT, (const uint8_t *)"x", 1, key);
    struct ws_frame_parser p;
    ws_frame_parser_init(&p, WS_ROLE_SERVER, false);
    assert_int_equal(ws_frame_parse(&p, bad, sizeof bad, &n), WS_FRAME_ERROR);
    assert_int_equal(n, 2);
    assert_int_equal(p.error, WS_CLOSE_PROTOCOL_ERROR);
    assert_int_equal(ws_frame_parse(&p, good, good_len, &n), WS_FRAME_ERROR);
    assert_int_equal(n, 0);
}

/* A stream of many frames of assorted sizes, fed in awkward pieces. */
static void test_stream_of_frames(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 3, 125, 126, 300, 65535, 65536, 7};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        total += sizes[i] + WS_FRAME_HEADER_MAX;
    uint8_t *wire = malloc(total), *expect = malloc(total);
    assert_non_null(wire);
    assert_non_null(expect);
    size_t len = 0, expect_len = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t k[4] = {(uint8_t)i, 0xA5, (uint8_t)(i * 31), 0x0F};
        for (size_t j = 0; j < sizes[i]; j++)
            expect[expect_len + j] = (uint8_t)(i + j * 13);
        put_frame(wire, &len, FIN, WS_OP_BINARY, expect + expect_len, sizes[i], k);
        expect_len += sizes[i];
    }
    const size_t pieces[] = {1, 2, 13, 127, 4093, SIZE_MAX};
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
        struct parsed r;
        parse_all(WS_ROLE_SERVER, false, wire, len, pieces[k], &r);
        assert_false(r.failed);
        assert_int_equal(r.frames, sizeof sizes / sizeof sizes[0]);
        assert_int_equal(r.payload_len, expect_len);
        assert_memory_equal(r.payload, expect, expect_len);
        parsed_free(&r);
    }
    free(wire);
    free(expect);
}

/* ---- masking ---- */

static void test_mask_matches_bytewise(void **state)
{
    (void)state;
    uint8_t src[80], in_place[80], copy[80], expect[80];
    const uint8_t k[4] = {0x01, 0x80, 0xFE, 0x5A};
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 37 + 11);
    for (size_t align = 0; align < 8; align++) {
        for (uint64_t offset = 0; offset < 9; offset++) {
            for (size_t n = 0; n + align <= 72; n++) {
                for (size_t i = 0; i < n; i++)
                    expect[i] = src[align + i] ^ k[(offset + i) % 4];
                memcpy(in_place, src, sizeof src);
                ws_frame_mask(in_place + align, in_place + align, n, k, offset);
                assert_memory_equal(in_place + align, expect, n);
                assert_memory_equal(in_place, src, align);        /* nothing before... */
                assert_memory_equal(in_place + align + n, src + align + n,
                                    sizeof src - align - n);       /* ...or after touched */
                ws_frame_mask(copy + (7 - align), src + align, n, k, offset);
                assert_memory_equal(copy + (7 - align), expect, n);
            }
        }
    }
    /* unmasking in pieces equals unmasking at once: the offset carries the key's phase */
    uint8_t whole[80], pieces[80];
    ws_frame_mask(whole, src, 77, k, 0);
    size_t at = 0;
    for (size_t step = 1; at < 77; step++) {
        size_t n = 77 - at < step ? 77 - at : step;
        ws_frame_mask(pieces + at, src + at, n, k, at);
        at += n;
    }
    assert_memory_equal(whole, pieces, 77);
}

/* ---- the writer ---- */

static void test_writer_flags_and_forms(void **state)
{
    (void)state;
    uint8_t out[WS_FRAME_HEADER_MAX];
    assert_int_equal(ws_frame_write_header(out, WS_OP_TEXT, false, false, 0, NULL), 2);
    assert_int_equal(out[0], 0x01);
    assert_int_equal(out[1], 0x00);
    assert_int_equal(ws_frame_write_header(out, WS_OP_BINARY, true, true, 125, NULL), 2);
    assert_int_equal(out[0], 0xC2);
    assert_int_equal(out[1], 125);
    assert_int_equal(ws_frame_write_header(out, WS_OP_CONTINUATION, true, false, 126, NULL), 4);
    assert_int_equal(out[0], 0x80);
    assert_int_equal(out[1], 126);
    assert_int_equal(out[2], 0);
    assert_int_equal(out[3], 126);
    assert_int_equal(ws_frame_write_header(out, WS_OP_BINARY, true, false, 65535, NULL), 4);
    assert_int_equal(out[1], 126);
    assert_int_equal(out[2], 0xFF);
    assert_int_equal(out[3], 0xFF);
    const uint64_t big = 0x0123456789ABCDEFull;
    assert_int_equal(ws_frame_write_header(out, WS_OP_BINARY, true, false, big, NULL), 10);
    const uint8_t be[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};
    assert_int_equal(out[1], 127);
    assert_memory_equal(out + 2, be, 8);
    assert_int_equal(ws_frame_write_header(out, WS_OP_PONG, true, false, big, key), 14);
    assert_int_equal(out[1], 0xFF);
    assert_memory_equal(out + 10, key, 4);

    /* the parser reads back what the writer writes, in either role */
    struct ws_frame_parser p;
    size_t n;
    ws_frame_write_header(out, WS_OP_BINARY, true, true, 70000, NULL);
    ws_frame_parser_init(&p, WS_ROLE_CLIENT, true);
    assert_int_equal(ws_frame_parse(&p, out, 10, &n), WS_FRAME_HEADER);
    assert_int_equal(n, 10);
    assert_true(p.header.fin && p.header.rsv1 && !p.header.masked);
    assert_int_equal(p.header.opcode, WS_OP_BINARY);
    assert_int_equal(p.header.payload_len, 70000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_single_unmasked_text),
        cmocka_unit_test(test_rfc_single_masked_text),
        cmocka_unit_test(test_rfc_fragmented_unmasked_text),
        cmocka_unit_test(test_rfc_ping_and_masked_pong),
        cmocka_unit_test(test_rfc_256_and_64k_binary),
        cmocka_unit_test(test_length_boundaries_round_trip),
        cmocka_unit_test(test_non_minimal_lengths_fail),
        cmocka_unit_test(test_client_frames_must_be_masked),
        cmocka_unit_test(test_rsv_bits),
        cmocka_unit_test(test_reserved_opcodes),
        cmocka_unit_test(test_control_frame_rules),
        cmocka_unit_test(test_fragmentation_rules),
        cmocka_unit_test(test_empty_frame_ends_without_input),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_stream_of_frames),
        cmocka_unit_test(test_mask_matches_bytewise),
        cmocka_unit_test(test_writer_flags_and_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
