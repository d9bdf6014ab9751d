/* ws_zmem.c - zlib's allocator hooks and the loop's block cache; see ws_zmem.h. */
#include "ws/ws_zmem.h"

#include <stdalign.h>
#include <stdlib.h>

#include "ws/ws_budget.h"

/* Each block carries its size in front (zfree is not told it), aligned as malloc aligns. */
struct ws_zblock {
    alignas(max_align_t) struct ws_zblock *next; /* while idle in the cache */
    size_t size;                                 /* what zlib asked for */
};

void ws_zcache_destroy(struct ws_zcache *cache)
{
    while (cache->idle) {
        struct ws_zblock *k = cache->idle;
        cache->idle = k->next;
        free(k);
    }
    cache->idle_bytes = 0;
}

static struct ws_zblock *cache_take(struct ws_zcache *cache, size_t size)
{
    for (struct ws_zblock **at = &cache->idle; *at; at = &(*at)->next) {
        struct ws_zblock *k = *at;
        if (k->size == size) {
            *at = k->next;
            cache->idle_bytes -= size;
            return k;
        }
    }
    return NULL;
}

static void *zmem_alloc(void *opaque, uInt items, uInt size)
{
    struct ws_account *account = opaque;
    size_t bytes = (size_t)items * size;
    if (ws_account_charge(account, bytes) < 0)
        return Z_NULL;
    struct ws_zblock *k = cache_take(&account->budget->zcache, bytes);
    if (!k && !(k = malloc(sizeof *k + bytes))) {
        ws_account_release(account, bytes);
        return Z_NULL;
    }
    k->size = bytes;
    return k + 1;
}

static void zmem_free(void *opaque, void *address)
{
    struct ws_account *account = opaque;
    struct ws_zblock *k = (struct ws_zblock *)address - 1;
    struct ws_zcache *cache = &account->budget->zcache;
    ws_account_release(account, k->size);
    if (k->size > WS_ZCACHE_MAX - cache->idle_bytes) {
        free(k);
        return;
    }
    k->next = cache->idle;
    cache->idle = k;
    cache->idle_bytes += k->size;
}

void ws_zmem_attach(z_stream *zs, struct ws_account *account)
{
    zs->zalloc = account ? zmem_alloc : Z_NULL;
    zs->zfree = account ? zmem_free : Z_NULL;
    zs->opaque = account;
}
