/* test_rpc_frame.c - the msgpack framer (src/rpc/rpc_frame.h) over byte buffers.
 *
 * Messages of every msgpack type are packed by msgpack-c; the framer must find the same end as
 * msgpack-c's decoder, however the bytes are split, and refuse what the limits forbid as soon
 * as a header shows it, before the bytes it announces arrive.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "rpc/rpc_frame.h"

#define LIMIT (1u << 20)

/* One message with every type msgpack has, containers nested and empty. */
static void pack_everything(msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    static char blob[70000];
    memset(blob, 'b', sizeof(blob));
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint32(&pk, 123456);
    msgpack_pack_str_with_body(&pk, "method", 6);
    msgpack_pack_array(&pk, 21);
    msgpack_pack_nil(&pk);
    msgpack_pack_true(&pk);
    msgpack_pack_false(&pk);
    msgpack_pack_int8(&pk, -5);
    msgpack_pack_int16(&pk, -300);
    msgpack_pack_int32(&pk, -70000);
    msgpack_pack_int64(&pk, INT64_MIN);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_pack_float(&pk, 1.5f);
    msgpack_pack_double(&pk, 2.25);
    msgpack_pack_str_with_body(&pk, blob, 40);     /* str 8 */
    msgpack_pack_str_with_body(&pk, blob, 300);    /* str 16 */
    msgpack_pack_bin_with_body(&pk, blob, 70000);  /* bin 32 */
    msgpack_pack_bin_with_body(&pk, blob, 3);      /* bin 8 */
    msgpack_pack_ext_with_body(&pk, blob, 1, 7);   /* fixext 1 */
    msgpack_pack_ext_with_body(&pk, blob, 16, 7);  /* fixext 16 */
    msgpack_pack_ext_with_body(&pk, blob, 20, 7);  /* ext 8 */
    msgpack_pack_ext_with_body(&pk, blob, 300, 7); /* ext 16 */
    msgpack_pack_array(&pk, 0);
    msgpack_pack_map(&pk, 0);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "k", 1);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 20); /* array 16 */
    for (int i = 0; i < 20; i++)
        msgpack_pack_int(&pk, i);
    msgpack_pack_uint16(&pk, 9);
    msgpack_pack_map(&pk, 17); /* map 16 */
    for (int i = 0; i < 17; i++) {
        msgpack_pack_int(&pk, i);
        msgpack_pack_nil(&pk);
    }
}

static size_t decoded_len(const char *data, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, data, len, &off), MSGPACK_UNPACK_SUCCESS);
    msgpack_unpacked_destroy(&u);
    return off;
}

/* Feed the message in slices of `step` bytes (the bytes so far each time): 0 until the end. */
static void expect_framed_in_steps(const char *data, size_t len, size_t step)
{
    rpc_frame f;
    rpc_frame_init(&f, LIMIT);
    for (size_t have = step < len ? step : len; have < len; have += step)
        assert_int_equal(rpc_frame_scan(&f, data, have), 0);
    assert_int_equal(rpc_frame_scan(&f, data, len), (ssize_t)len);
}

static void test_every_type_any_split(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_everything(&sb);
    size_t len = sb.size;
    assert_int_equal(decoded_len(sb.data, len), len);
    for (size_t step = 1; step <= 11; step++)
        expect_framed_in_steps(sb.data, len, step);
    expect_framed_in_steps(sb.data, len, 4096);
    expect_framed_in_steps(sb.data, len, len);
    msgpack_sbuffer_destroy(&sb);
}

/* The bytes of the next message are not the framer's: it stops at the first one's end. */
static void test_stops_at_the_end(void **state)
{
    const char two[] = "\x93\x01\xa1x\x90" "\x92\x02\x03"; /* [1, "x", []] then [2, 3] */
    rpc_frame f;
    rpc_frame_init(&f, LIMIT);
    assert_int_equal(rpc_frame_scan(&f, two, sizeof(two) - 1), 5);
    rpc_frame_reset(&f);
    assert_int_equal(rpc_frame_scan(&f, two + 5, sizeof(two) - 1 - 5), 3);
    rpc_frame_reset(&f);
    assert_int_equal(rpc_frame_scan(&f, "\x07", 1), 1); /* a scalar is a whole message */
}

static void test_limit_exact(void **state)
{
    size_t limit = 300;
    char msg[310];
    /* str 16 of n bytes: 3 header bytes + n */
    size_t n = limit - 3;
    msg[0] = (char)0xda;
    msg[1] = (char)(n >> 8);
    msg[2] = (char)(n & 0xff);
    memset(msg + 3, 'a', sizeof(msg) - 3);
    rpc_frame f;
    rpc_frame_init(&f, limit);
    assert_int_equal(rpc_frame_scan(&f, msg, limit), (ssize_t)limit);
    n++;
    msg[1] = (char)(n >> 8);
    msg[2] = (char)(n & 0xff);
    rpc_frame_init(&f, limit);
    assert_int_equal(rpc_frame_scan(&f, msg, 3), -EMSGSIZE); /* from the header alone */
}

/* Headers announcing more than the limit are refused before their bytes come. */
static void test_announced_sizes_refused(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
    } heads[] = {
        {"\xdb\xff\xff\xff\xff", 5},             /* str 32 of 4 GiB */
        {"\xc6\x00\x10\x00\x01", 5},             /* bin 32 of 1 MiB + 1 */
        {"\xc9\x7f\x00\x00\x00\x01", 6},         /* ext 32 */
        {"\xdd\x80\x00\x00\x00", 5},             /* array 32 of 2^31 elements */
        {"\xdf\x00\x08\x00\x00", 5},             /* map 32 of 2^19 pairs: 2^20 elements */
        {"\x91\x91\xdd\x00\x10\x00\x00", 7},     /* nested: 2^20 elements, 3 bytes in */
    };
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        rpc_frame f;
        rpc_frame_init(&f, LIMIT);
        assert_int_equal(rpc_frame_scan(&f, heads[i].bytes, heads[i].len), -EMSGSIZE);
    }
    /* A header cut short waits, and one over the limit by itself is refused. */
    rpc_frame f;
    rpc_frame_init(&f, LIMIT);
    assert_int_equal(rpc_frame_scan(&f, "\xdb\x00", 2), 0);
    rpc_frame_init(&f, 4);
    assert_int_equal(rpc_frame_scan(&f, "\xcf", 1), -EMSGSIZE); /* uint 64: 9 bytes */
}

static void test_not_msgpack(void **state)
{
    rpc_frame f;
    rpc_frame_init(&f, LIMIT);
    assert_int_equal(rpc_frame_scan(&f, "\x94\x00\x01\xc1", 4), -EPROTO);
}

static void test_depth(void **state)
{
    char deep[RPC_FRAME_MAX_DEPTH + 2];
    memset(deep, 0x91, sizeof(deep)); /* [[[...]]] */
    deep[RPC_FRAME_MAX_DEPTH] = 0x00;
    rpc_frame f;
    rpc_frame_init(&f, LIMIT);
    assert_int_equal(rpc_frame_scan(&f, deep, RPC_FRAME_MAX_DEPTH + 1), RPC_FRAME_MAX_DEPTH + 1);
    memset(deep, 0x91, sizeof(deep));
    rpc_frame_init(&f, LIMIT);
    assert_int_equal(rpc_frame_scan(&f, deep, sizeof(deep)), -EPROTO);
}

/* Random messages from msgpack-c, random splits: the framer and the decoder agree. */
static void pack_random(msgpack_packer *pk, unsigned *seed, int depth)
{
    int kind = rand_r(seed) % (depth < 5 ? 8 : 5);
    int n = rand_r(seed) % 20;
    static const char text[300] = "x";
    switch (kind) {
    case 0: {
        int64_t magnitude = (int64_t)((uint64_t)rand_r(seed) << (rand_r(seed) % 32));
        msgpack_pack_int64(pk, rand_r(seed) % 2 ? -magnitude : magnitude);
        break;
    }
    case 1: msgpack_pack_str_with_body(pk, text, (size_t)(rand_r(seed) % 300)); break;
    case 2: msgpack_pack_bin_with_body(pk, text, (size_t)(rand_r(seed) % 300)); break;
    case 3: msgpack_pack_double(pk, 0.5); break;
    case 4: msgpack_pack_nil(pk); break;
    case 5:
        msgpack_pack_array(pk, (size_t)n);
        for (int i = 0; i < n; i++)
            pack_random(pk, seed, depth + 1);
        break;
    case 6:
        msgpack_pack_map(pk, (size_t)n);
        for (int i = 0; i < 2 * n; i++)
            pack_random(pk, seed, depth + 1);
        break;
    default: msgpack_pack_ext_with_body(pk, text, (size_t)(rand_r(seed) % 20), 1); break;
    }
}

static void test_random_messages(void **state)
{
    unsigned seed = 14;
    for (int round = 0; round < 200; round++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pack_random(&pk, &seed, 0);
        assert_int_equal(decoded_len(sb.data, sb.size), sb.size);
        expect_framed_in_steps(sb.data, sb.size, 1 + (size_t)rand_r(&seed) % 64);
        msgpack_sbuffer_destroy(&sb);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_any_split),
        cmocka_unit_test(test_stops_at_the_end),
        cmocka_unit_test(test_limit_exact),
        cmocka_unit_test(test_announced_sizes_refused),
        cmocka_unit_test(test_not_msgpack),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_random_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
