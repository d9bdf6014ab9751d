/* test_ws_budget.c - permessage-deflate's memory budgets (ws_budget.h): the per-connection
 * limit, the loop's limit shared fairly (greedy accounts evicted, a modest one never refused),
 * and zlib's allocations counted through the hooks and reused from the loop's cache
 * (ws_zmem.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "ws/ws_budget.h"

#define ACCOUNTS 8

static struct ws_account accounts[ACCOUNTS];
static int evictions[ACCOUNTS];

/* What a connection does when evicted: gives back all it holds. */
static void evict(struct ws_account *a)
{
    evictions[a - accounts]++;
    ws_account_release(a, a->used);
}

static void start(struct ws_budget *b, size_t limit, size_t per_conn)
{
    ws_budget_init(b, limit, per_conn, evict);
    for (int i = 0; i < ACCOUNTS; i++) {
        ws_account_init(&accounts[i], b);
        evictions[i] = 0;
    }
}

static void test_per_connection_limit(void **state)
{
    (void)state;
    struct ws_budget b;
    start(&b, 1000, 100);
    assert_int_equal(ws_account_charge(&accounts[0], 60), 0);
    assert_int_equal(ws_account_charge(&accounts[0], 40), 0);
    assert_int_equal(ws_account_charge(&accounts[0], 1), -EMSGSIZE);
    assert_int_equal(accounts[0].refused, -EMSGSIZE);
    assert_int_equal(accounts[0].used, 100);
    ws_account_release(&accounts[0], 50);
    assert_int_equal(ws_account_charge(&accounts[0], 50), 0);
    assert_int_equal(accounts[0].refused, 0);
    ws_account_release(&accounts[0], 100);
    assert_int_equal(b.used, 0);
    assert_int_equal(b.holders, 0);
    ws_budget_destroy(&b);
}

/* Greedy accounts fill the loop; each newcomer within its share is served by evicting the
 * largest, and one asking past its share is refused with -ENOBUFS. */
static void test_loop_limit_shared_fairly(void **state)
{
    (void)state;
    struct ws_budget b;
    start(&b, 1000, 1000);
    assert_int_equal(ws_account_charge(&accounts[0], 600), 0);
    assert_int_equal(ws_account_charge(&accounts[1], 400), 0);
    assert_int_equal(b.used, 1000);
    /* a third asks for 100: its share is 333, so the largest (600) goes */
    assert_int_equal(ws_account_charge(&accounts[2], 100), 0);
    assert_int_equal(evictions[0], 1);
    assert_int_equal(accounts[0].used, 0);
    assert_int_equal(b.holders, 2);
    /* it grows within its share (500 of 2 holders) */
    assert_int_equal(ws_account_charge(&accounts[2], 400), 0);
    /* 1 has 400, 2 has 500: a charge past the share of a full loop is refused, nobody evicted */
    assert_int_equal(ws_account_charge(&accounts[2], 200), -ENOBUFS);
    assert_int_equal(accounts[2].refused, -ENOBUFS);
    assert_int_equal(evictions[1], 0);
    assert_int_equal(b.used, 900);
    ws_account_release(&accounts[1], 400);
    ws_account_release(&accounts[2], 500);
    assert_int_equal(b.used, 0);
    ws_budget_destroy(&b);
}

/* However many greedy accounts there are, a modest one is served. */
static void test_modest_account_never_starved(void **state)
{
    (void)state;
    struct ws_budget b;
    start(&b, 7000, 7000);
    for (int i = 0; i < ACCOUNTS - 1; i++)
        while (ws_account_charge(&accounts[i], 100) == 0)
            ;
    assert_true(b.used <= b.limit);
    size_t modest = b.limit / ACCOUNTS;
    assert_int_equal(ws_account_charge(&accounts[ACCOUNTS - 1], modest), 0);
    assert_int_equal(accounts[ACCOUNTS - 1].used, modest);
    int evicted = 0;
    for (int i = 0; i < ACCOUNTS - 1; i++)
        evicted += evictions[i];
    assert_true(evicted > 0);
    assert_true(b.used <= b.limit);
    for (int i = 0; i < ACCOUNTS; i++)
        ws_account_release(&accounts[i], accounts[i].used);
    assert_int_equal(b.holders, 0);
    ws_budget_destroy(&b);
}

/* zlib's state is charged while it exists, refused past the limit, and comes back from the
 * loop's cache for the next stream without a new allocation. */
static void test_zlib_memory_counted_and_reused(void **state)
{
    (void)state;
    struct ws_budget b;
    start(&b, 1u << 20, 1u << 20);
    z_stream zs = {0};
    ws_zmem_attach(&zs, &accounts[0]);
    assert_int_equal(deflateInit2(&zs, 1, Z_DEFLATED, -12, 5, Z_DEFAULT_STRATEGY), Z_OK);
    size_t held = accounts[0].used;
    assert_true(held > (1u << 12) * 4);   /* at least the window and its hash chains */
    assert_true(held < 64u * 1024u);      /* a 12-bit window, not zlib's 256 KiB default */
    assert_int_equal(deflateEnd(&zs), Z_OK);
    assert_int_equal(accounts[0].used, 0);
    assert_int_equal(b.zcache.idle_bytes, held);

    /* the same stream again: every block from the cache */
    ws_zmem_attach(&zs, &accounts[1]);
    assert_int_equal(deflateInit2(&zs, 1, Z_DEFLATED, -12, 5, Z_DEFAULT_STRATEGY), Z_OK);
    assert_int_equal(accounts[1].used, held);
    assert_int_equal(b.zcache.idle_bytes, 0);
    assert_int_equal(deflateEnd(&zs), Z_OK);

    /* an account too small for the state: zlib says Z_MEM_ERROR, the account says why */
    struct ws_budget tight;
    ws_budget_init(&tight, 1u << 20, 1024, evict);
    struct ws_account small;
    ws_account_init(&small, &tight);
    ws_zmem_attach(&zs, &small);
    assert_int_equal(inflateInit2(&zs, -15), Z_MEM_ERROR); /* its state is about 7 KiB */
    assert_int_equal(small.refused, -EMSGSIZE);
    assert_int_equal(small.used, 0);
    ws_budget_destroy(&tight);
    ws_budget_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_connection_limit),
        cmocka_unit_test(test_loop_limit_shared_fairly),
        cmocka_unit_test(test_modest_account_never_starved),
        cmocka_unit_test(test_zlib_memory_counted_and_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
