/* uring_bufs.c - the proactor's receive pool over the core's buffer memory.
 *
 * Buffer id i is always loop->buf_base + i * buf_size.  With a provided-buffer ring
 * (io_uring_register_buf_ring) every free buffer in circulation sits in the ring and the kernel
 * picks one per received chunk, oldest first; `lent` counts those out of the ring so the
 * backend knows how many it may promise to waiting recvs.  The ring has room for every buffer
 * but starts with UR_BUFS_START of them: since the kernel cycles through all it holds, each one
 * in the ring is memory touched for good, and a server of idle connections needs few.  A recv
 * the ring could not serve doubles the buffers in circulation (ur_bufs_grow), up to the pool,
 * so a busy loop reaches the buffers it needs after a few -ENOBUFS rounds.  Without a ring the free ids sit on a stack and a recv takes one
 * only once its socket is readable.  Recvs that found the pool empty wait on the parked list,
 * first come first served, linked through u.backend_scratch (UR_SCRATCH_PARK_*).
 */
#include "uring.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

int ur_bufs_init_ring(struct ur_bufs *b, struct io_uring *ring, const io_loop *loop)
{
    size_t bytes = (size_t)loop->buf_count * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return -errno;
    struct io_uring_buf_ring *br = mem;
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)mem,
        .ring_entries = loop->buf_count,
        .bgid = UR_BGID,
    };
    int err = io_uring_register_buf_ring(ring, &reg, 0);
    if (err < 0) {
        munmap(mem, bytes);
        return err;
    }
    *b = (struct ur_bufs){ .ring = br, .ring_bytes = bytes };
    ur_bufs_grow(b, loop);
    return 0;
}

bool ur_bufs_grow(struct ur_bufs *b, const io_loop *loop)
{
    uint32_t from = b->circulating;
    uint32_t to = from ? from * 2 : UR_BUFS_START;
    if (to > loop->buf_count)
        to = loop->buf_count;
    if (!b->ring || to == from)
        return false;
    int mask = io_uring_buf_ring_mask(loop->buf_count);
    for (uint32_t id = from; id < to; id++)
        io_uring_buf_ring_add(b->ring, io_core_buf_data(loop, id), loop->buf_size, (unsigned short)id,
                              mask, (int)(id - from));
    io_uring_buf_ring_advance(b->ring, (int)(to - from));
    b->circulating = to;
    return true;
}

int ur_bufs_init_stack(struct ur_bufs *b, const io_loop *loop)
{
    uint32_t *ids = malloc((size_t)loop->buf_count * sizeof(*ids));
    if (!ids)
        return -ENOMEM;
    /* Lowest id on top: the first recv gets buffer 0, as with the ring. */
    for (uint32_t i = 0; i < loop->buf_count; i++)
        ids[i] = loop->buf_count - 1 - i;
    *b = (struct ur_bufs){ .free_ids = ids, .free_count = loop->buf_count };
    return 0;
}

/* The ring is unregistered by io_uring_queue_exit(), which must have run before this. */
void ur_bufs_free(struct ur_bufs *b)
{
    if (b->ring)
        munmap(b->ring, b->ring_bytes);
    free(b->free_ids);
    *b = (struct ur_bufs){0};
}

void ur_bufs_put(struct ur_bufs *b, const io_loop *loop, uint32_t id)
{
    if (id >= loop->buf_count)
        return;
    if (b->ring) {
        if (id >= b->circulating)
            return;
        io_uring_buf_ring_add(b->ring, io_core_buf_data(loop, id), loop->buf_size, (unsigned short)id,
                              io_uring_buf_ring_mask(loop->buf_count), 0);
        io_uring_buf_ring_advance(b->ring, 1);
        if (b->lent)
            b->lent--;
        return;
    }
    if (b->free_count < loop->buf_count) /* a double release must not overrun the stack */
        b->free_ids[b->free_count++] = id;
}

/* Stack only: 0 with *id taken, or -ENOBUFS. */
int ur_bufs_take(struct ur_bufs *b, uint32_t *id)
{
    if (!b->free_count)
        return -ENOBUFS;
    *id = b->free_ids[--b->free_count];
    return 0;
}

/* Buffers a parked recv may count on.  For the ring this is an upper bound: buffers the
 * kernel took whose completions are not reaped yet still count as free, which costs at
 * most one more -ENOBUFS round, never a recv left waiting while buffers sit unused. */
uint32_t ur_bufs_available(const struct ur_bufs *b)
{
    if (!b->ring)
        return b->free_count;
    return b->lent < b->circulating ? b->circulating - b->lent : 0;
}

static io_op *link_get(const io_op *op, int which)
{
    return (io_op *)(uintptr_t)op->u.backend_scratch[which];
}

static void link_set(io_op *op, int which, io_op *to)
{
    op->u.backend_scratch[which] = (uint64_t)(uintptr_t)to;
}

void ur_bufs_park(struct ur_bufs *b, io_op *op)
{
    op->state |= UR_PARKED;
    link_set(op, UR_SCRATCH_PARK_NEXT, NULL);
    link_set(op, UR_SCRATCH_PARK_PREV, b->parked_tail);
    if (b->parked_tail)
        link_set(b->parked_tail, UR_SCRATCH_PARK_NEXT, op);
    else
        b->parked_head = op;
    b->parked_tail = op;
}

/* Back at the head: a recv taken off the list that could not be armed keeps its turn. */
void ur_bufs_park_first(struct ur_bufs *b, io_op *op)
{
    op->state |= UR_PARKED;
    link_set(op, UR_SCRATCH_PARK_PREV, NULL);
    link_set(op, UR_SCRATCH_PARK_NEXT, b->parked_head);
    if (b->parked_head)
        link_set(b->parked_head, UR_SCRATCH_PARK_PREV, op);
    else
        b->parked_tail = op;
    b->parked_head = op;
}

void ur_bufs_unpark(struct ur_bufs *b, io_op *op)
{
    if (!(op->state & UR_PARKED))
        return;
    io_op *next = link_get(op, UR_SCRATCH_PARK_NEXT), *prev = link_get(op, UR_SCRATCH_PARK_PREV);
    if (prev)
        link_set(prev, UR_SCRATCH_PARK_NEXT, next);
    else
        b->parked_head = next;
    if (next)
        link_set(next, UR_SCRATCH_PARK_PREV, prev);
    else
        b->parked_tail = prev;
    op->state &= (uint8_t)~UR_PARKED;
}

io_op *ur_bufs_pop_parked(struct ur_bufs *b)
{
    io_op *op = b->parked_head;
    if (op)
        ur_bufs_unpark(b, op);
    return op;
}
