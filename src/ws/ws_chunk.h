/* ws_chunk.h - message memory: fixed-size chunks from a pool, strung into chains.
 *
 * A message is kept as a chain of chunks so it grows without realloc or copying, and its chunks
 * go back to the pool when the message is done, to be reused by the next one: after warm-up a
 * connection allocates nothing per frame or per message.  The pool is the caller's (one per
 * loop, say) and bounds the memory of everything drawn from it: at most max_chunks exist at
 * once, and at most max_idle are kept for reuse.  Not thread-safe (one loop, one thread).
 */
#ifndef IOSERVE_WS_CHUNK_H
#define IOSERVE_WS_CHUNK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct ws_chunk {
    struct ws_chunk *next;
    size_t len;      /* bytes of data in use */
    uint8_t data[];  /* pool->chunk_size bytes */
};

struct ws_chunk_pool {
    size_t chunk_size;
    size_t max_chunks;
    size_t max_idle;
    size_t live;            /* chunks that exist, idle ones included */
    size_t idle_count;
    struct ws_chunk *idle;
};

/* A message's bytes, in order.  An empty chain is all zeros (ws_chain_init). */
struct ws_chain {
    struct ws_chunk *head;
    struct ws_chunk *tail;
    size_t len;
};

/* Returns 0, or -EINVAL for a zero chunk size or max_chunks. */
int ws_chunk_pool_init(struct ws_chunk_pool *pool, size_t chunk_size, size_t max_chunks,
                       size_t max_idle);
/* Frees the idle chunks.  Every chain drawn from the pool must have been released first. */
void ws_chunk_pool_destroy(struct ws_chunk_pool *pool);

static inline void ws_chain_init(struct ws_chain *chain)
{
    chain->head = chain->tail = NULL;
    chain->len = 0;
}

/* Appends a copy of data.  Returns 0, or -ENOMEM when the pool is exhausted (the chain then
 * holds whatever fitted). */
int ws_chain_append(struct ws_chunk_pool *pool, struct ws_chain *chain, const uint8_t *data,
                    size_t len);

/* Free space at the end of the chain for writing in place (adding a chunk if the last one is
 * full): returns it and sets *space (> 0), or NULL when the pool is exhausted.  Nothing counts
 * until ws_chain_commit(). */
uint8_t *ws_chain_reserve(struct ws_chunk_pool *pool, struct ws_chain *chain, size_t *space);
void ws_chain_commit(struct ws_chain *chain, size_t len);

/* Shortens the chain to len bytes (no longer than it is), returning emptied chunks. */
void ws_chain_truncate(struct ws_chunk_pool *pool, struct ws_chain *chain, size_t len);

/* Returns every chunk to the pool and leaves the chain empty. */
void ws_chain_release(struct ws_chunk_pool *pool, struct ws_chain *chain);

/* Copies up to len bytes starting `offset` bytes into the chain; returns how many. */
size_t ws_chain_copy_out(const struct ws_chain *chain, size_t offset, uint8_t *out, size_t len);

/* Describes the chain's bytes for writev/sendmsg: starting at *cursor (set it to chain->head
 * first), fills at most max_iov entries, advances *cursor past them (NULL at the end) and
 * returns how many it filled.  A chain of more chunks than max_iov takes several calls. */
size_t ws_chain_to_iov(const struct ws_chunk **cursor, struct iovec *iov, size_t max_iov);

#endif
