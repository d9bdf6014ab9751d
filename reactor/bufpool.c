/* bufpool.c - which receive buffers are free (ids 0..count-1 over the core's memory).
 *
 * A stack, so the buffer released last, still warm in cache, is lent next.  A byte per buffer
 * records whether it is lent: a double or bogus release is ignored instead of corrupting the
 * stack and lending one buffer to two recvs.
 */
#include "reactor.h"

#include <errno.h>
#include <stdlib.h>

int ep_pool_init(struct ep_pool *pool, uint32_t count)
{
    pool->free_ids = malloc((size_t)count * sizeof(*pool->free_ids));
    pool->lent = calloc(count ? count : 1, 1);
    if (!pool->free_ids || !pool->lent) {
        ep_pool_free(pool);
        return -ENOMEM;
    }
    /* Lowest ids on top, so a quiet loop touches the fewest pages. */
    for (uint32_t i = 0; i < count; i++)
        pool->free_ids[i] = count - 1 - i;
    pool->free_count = count;
    pool->count = count;
    return 0;
}

void ep_pool_free(struct ep_pool *pool)
{
    free(pool->free_ids);
    free(pool->lent);
    pool->free_ids = NULL;
    pool->lent = NULL;
    pool->free_count = pool->count = 0;
}

bool ep_pool_take(struct ep_pool *pool, uint32_t *id)
{
    if (!pool->free_count)
        return false;
    *id = pool->free_ids[--pool->free_count];
    pool->lent[*id] = 1;
    return true;
}

bool ep_pool_give(struct ep_pool *pool, uint32_t id)
{
    if (id >= pool->count || !pool->lent[id])
        return false;
    pool->lent[id] = 0;
    pool->free_ids[pool->free_count++] = id;
    return true;
}
