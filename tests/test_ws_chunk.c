/* test_ws_chunk.c - the chunk pool and chains: growth across chunks, in-place writes,
 * truncation, copying and iovecs out, the pool's limits, and reuse without new allocation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ws/ws_chunk.h"

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 31 + seed);
}

static void assert_chain_holds(const struct ws_chain *c, const uint8_t *expect, size_t len)
{
    uint8_t out[1024];
    assert_true(len <= sizeof out);
    assert_int_equal(c->len, len);
    assert_int_equal(ws_chain_copy_out(c, 0, out, sizeof out), len);
    if (len > 0)
        assert_memory_equal(out, expect, len);
}

static void test_init_rejects_nonsense(void **state)
{
    (void)state;
    struct ws_chunk_pool pool;
    assert_int_equal(ws_chunk_pool_init(&pool, 0, 4, 4), -EINVAL);
    assert_int_equal(ws_chunk_pool_init(&pool, 16, 0, 4), -EINVAL);
    assert_int_equal(ws_chunk_pool_init(&pool, SIZE_MAX, 4, 4), -EINVAL);
    assert_int_equal(ws_chunk_pool_init(&pool, 16, 4, 0), 0);
    ws_chunk_pool_destroy(&pool);
}

static void test_append_spans_chunks(void **state)
{
    (void)state;
    struct ws_chunk_pool pool;
    struct ws_chain c;
    uint8_t data[1000];
    fill(data, sizeof data, 1);
    assert_int_equal(ws_chunk_pool_init(&pool, 16, 100, 100), 0);
    ws_chain_init(&c);

    /* odd-sized appends, so chunk boundaries fall mid-append */
    size_t at = 0;
    for (size_t step = 1; at + step <= 300; step += 3) {
        assert_int_equal(ws_chain_append(&pool, &c, data + at, step), 0);
        at += step;
    }
    assert_chain_holds(&c, data, at);
    assert_int_equal(pool.live, (at + 15) / 16);

    /* copy_out from every offset */
    uint8_t out[400];
    for (size_t off = 0; off <= at; off += 7) {
        size_t n = ws_chain_copy_out(&c, off, out, 10);
        assert_int_equal(n, at - off < 10 ? at - off : 10);
        assert_memory_equal(out, data + off, n);
    }
    ws_chain_release(&pool, &c);
    assert_null(c.head);
    assert_int_equal(c.len, 0);
    assert_int_equal(pool.idle_count, pool.live);
    ws_chunk_pool_destroy(&pool);
    assert_int_equal(pool.live, 0);
}

static void test_reserve_commit(void **state)
{
    (void)state;
    struct ws_chunk_pool pool;
    struct ws_chain c;
    assert_int_equal(ws_chunk_pool_init(&pool, 8, 10, 10), 0);
    ws_chain_init(&c);
    size_t space;
    uint8_t *p = ws_chain_reserve(&pool, &c, &space);
    assert_non_null(p);
    assert_int_equal(space, 8);
    memcpy(p, "abc", 3);
    ws_chain_commit(&c, 3);
    p = ws_chain_reserve(&pool, &c, &space);
    assert_int_equal(space, 5);          /* the rest of the same chunk */
    memcpy(p, "defgh", 5);
    ws_chain_commit(&c, 5);
    p = ws_chain_reserve(&pool, &c, &space);
    assert_int_equal(space, 8);          /* a fresh chunk */
    ws_chain_commit(&c, 0);              /* nothing written after all */
    assert_chain_holds(&c, (const uint8_t *)"abcdefgh", 8);
    ws_chain_release(&pool, &c);
    ws_chunk_pool_destroy(&pool);
}

static void test_truncate(void **state)
{
    (void)state;
    struct ws_chunk_pool pool;
    struct ws_chain c;
    uint8_t data[100];
    fill(data, sizeof data, 7);
    assert_int_equal(ws_chunk_pool_init(&pool, 10, 100, 100), 0);
    for (size_t keep = 0; keep <= 55; keep++) {
        ws_chain_init(&c);
        assert_int_equal(ws_chain_append(&pool, &c, data, 50), 0);
        ws_chain_truncate(&pool, &c, keep);   /* keep >= 50 leaves it alone */
        size_t expect = keep < 50 ? keep : 50;
        assert_chain_holds(&c, data, expect);
        assert_int_equal(pool.live - pool.idle_count, (expect + 9) / 10);
        /* appending after a truncation continues right after the kept bytes */
        assert_int_equal(ws_chain_append(&pool, &c, data + expect, 5), 0);
        assert_chain_holds(&c, data, expect + 5);
        ws_chain_release(&pool, &c);
    }
    ws_chunk_pool_destroy(&pool);
}

static void test_iov_cursor(void **state)
{
    (void)state;
    struct ws_chunk_pool pool;
    struct ws_chain c;
    uint8_t data[95];
    fill(data, sizeof data, 3);
    assert_int_equal(ws_chunk_pool_init(&pool, 10, 100, 100), 0);
    ws_chain_init(&c);
    assert_int_equal(ws_chain_append(&pool, &c, data, sizeof data), 0);
    size_t space;
    assert_non_null(ws_chain_reserve(&pool, &c, &space)); /* an empty chunk at the end */
    ws_chain_commit(&c, 0);

    struct iovec iov[4];
    const struct ws_chunk *cursor = c.head;
    uint8_t out[sizeof data];
    size_t got = 0, calls = 0;
    while (cursor && calls++ < 10) {
        size_t n = ws_chain_to_iov(&cursor, iov, 4);
        for (size_t i = 0; i < n; i++) {
            assert_true(iov[i].iov_len > 0);
            memcpy(out + got, iov[i].iov_base, iov[i].iov_len);
            got += iov[i].iov_len;
        }
    }
    assert_null(cursor);
    assert_int_equal(got, sizeof data);
    assert_memory_equal(out, data, sizeof data);
    ws_chain_release(&pool, &c);
    ws_chunk_pool_destroy(&pool);
}

static void test_pool_limit(void **state)
{
    (void)state;
    struct ws_chunk_pool pool;
    struct ws_chain a, b;
    uint8_t data[64];
    fill(data, sizeof data, 5);
    assert_int_equal(ws_chunk_pool_init(&pool, 16, 3, 3), 0);
    ws_chain_init(&a);
    ws_chain_init(&b);
    assert_int_equal(ws_chain_append(&pool, &a, data, 32), 0);
    assert_int_equal(ws_chain_append(&pool, &b, data, 32), -ENOMEM);
    assert_int_equal(b.len, 16);            /* what fitted stays */
    size_t space;
    assert_null(ws_chain_reserve(&pool, &b, &space));
    ws_chain_release(&pool, &a);
    assert_int_equal(ws_chain_append(&pool, &b, data + 16, 16), 0);
    assert_chain_holds(&b, data, 32);
    ws_chain_release(&pool, &b);
    ws_chunk_pool_destroy(&pool);
}

/* Messages come and go; after the first, the pool allocates nothing new. */
static void test_chunks_are_reused(void **state)
{
    (void)state;
    struct ws_chunk_pool pool;
    uint8_t data[500];
    fill(data, sizeof data, 9);
    assert_int_equal(ws_chunk_pool_init(&pool, 64, 1000, 1000), 0);
    struct ws_chain c;
    ws_chain_init(&c);
    assert_int_equal(ws_chain_append(&pool, &c, data, sizeof data), 0);
    ws_chain_release(&pool, &c);
    size_t live = pool.live;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(ws_chain_append(&pool, &c, data, sizeof data - (size_t)i % 100), 0);
        ws_chain_release(&pool, &c);
        assert_int_equal(pool.live, live);
    }
    /* max_idle bounds what is kept: the surplus is freed */
    struct ws_chunk_pool small;
    assert_int_equal(ws_chunk_pool_init(&small, 64, 1000, 2), 0);
    assert_int_equal(ws_chain_append(&small, &c, data, sizeof data), 0);
    assert_int_equal(small.live, 8);
    ws_chain_release(&small, &c);
    assert_int_equal(small.live, 2);
    assert_int_equal(small.idle_count, 2);
    ws_chunk_pool_destroy(&small);
    ws_chunk_pool_destroy(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects_nonsense),
        cmocka_unit_test(test_append_spans_chunks),
        cmocka_unit_test(test_reserve_commit),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_iov_cursor),
        cmocka_unit_test(test_pool_limit),
        cmocka_unit_test(test_chunks_are_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
