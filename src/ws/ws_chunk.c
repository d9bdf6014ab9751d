/* ws_chunk.c - the chunk pool and chains; see ws_chunk.h. */
#include "ws/ws_chunk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ws_chunk_pool_init(struct ws_chunk_pool *pool, size_t chunk_size, size_t max_chunks,
                       size_t max_idle)
{
    if (chunk_size == 0 || max_chunks == 0 || chunk_size > SIZE_MAX - sizeof(struct ws_chunk))
        return -EINVAL;
    memset(pool, 0, sizeof *pool);
    pool->chunk_size = chunk_size;
    pool->max_chunks = max_chunks;
    pool->max_idle = max_idle;
    return 0;
}

void ws_chunk_pool_destroy(struct ws_chunk_pool *pool)
{
    while (pool->idle) {
        struct ws_chunk *c = pool->idle;
        pool->idle = c->next;
        free(c);
        pool->live--;
    }
    pool->idle_count = 0;
}

static struct ws_chunk *chunk_get(struct ws_chunk_pool *pool)
{
    struct ws_chunk *c = pool->idle;
    if (c) {
        pool->idle = c->next;
        pool->idle_count--;
    } else {
        if (pool->live >= pool->max_chunks)
            return NULL;
        c = malloc(sizeof *c + pool->chunk_size);
        if (!c)
            return NULL;
        pool->live++;
    }
    c->next = NULL;
    c->len = 0;
    return c;
}

static void chunk_put(struct ws_chunk_pool *pool, struct ws_chunk *c)
{
    if (pool->idle_count >= pool->max_idle) {
        free(c);
        pool->live--;
        return;
    }
    c->next = pool->idle;
    pool->idle = c;
    pool->idle_count++;
}

uint8_t *ws_chain_reserve(struct ws_chunk_pool *pool, struct ws_chain *chain, size_t *space)
{
    struct ws_chunk *tail = chain->tail;
    if (!tail || tail->len == pool->chunk_size) {
        tail = chunk_get(pool);
        if (!tail)
            return NULL;
        if (chain->tail)
            chain->tail->next = tail;
        else
            chain->head = tail;
        chain->tail = tail;
    }
    *space = pool->chunk_size - tail->len;
    return tail->data + tail->len;
}

void ws_chain_commit(struct ws_chain *chain, size_t len)
{
    chain->tail->len += len;
    chain->len += len;
}

int ws_chain_append(struct ws_chunk_pool *pool, struct ws_chain *chain, const uint8_t *data,
                    size_t len)
{
    while (len > 0) {
        size_t space;
        uint8_t *dst = ws_chain_reserve(pool, chain, &space);
        if (!dst)
            return -ENOMEM;
        size_t n = len < space ? len : space;
        memcpy(dst, data, n);
        ws_chain_commit(chain, n);
        data += n;
        len -= n;
    }
    return 0;
}

void ws_chain_truncate(struct ws_chunk_pool *pool, struct ws_chain *chain, size_t len)
{
    if (len >= chain->len)
        return;
    if (len == 0) {
        ws_chain_release(pool, chain);
        return;
    }
    struct ws_chunk *c = chain->head;
    size_t before = 0;
    while (before + c->len < len) {
        before += c->len;
        c = c->next;
    }
    c->len = len - before;
    struct ws_chunk *rest = c->next;
    c->next = NULL;
    chain->tail = c;
    chain->len = len;
    while (rest) {
        struct ws_chunk *next = rest->next;
        chunk_put(pool, rest);
        rest = next;
    }
}

void ws_chain_release(struct ws_chunk_pool *pool, struct ws_chain *chain)
{
    struct ws_chunk *c = chain->head;
    while (c) {
        struct ws_chunk *next = c->next;
        chunk_put(pool, c);
        c = next;
    }
    ws_chain_init(chain);
}

size_t ws_chain_copy_out(const struct ws_chain *chain, size_t offset, uint8_t *out, size_t len)
{
    size_t copied = 0;
    for (const struct ws_chunk *c = chain->head; c && copied < len; c = c->next) {
        if (offset >= c->len) {
            offset -= c->len;
            continue;
        }
        size_t n = c->len - offset;
        if (n > len - copied)
            n = len - copied;
        memcpy(out + copied, c->data + offset, n);
        copied += n;
        offset = 0;
    }
    return copied;
}

size_t ws_chain_to_iov(const struct ws_chunk **cursor, struct iovec *iov, size_t max_iov)
{
    size_t n = 0;
    const struct ws_chunk *c = *cursor;
    for (; c && n < max_iov; c = c->next) {
        if (c->len == 0)
            continue;   /* a chunk reserved for output that never came */
        iov[n].iov_base = (void *)c->data;
        iov[n].iov_len = c->len;
        n++;
    }
    *cursor = c;
    return n;
}
