/* timer_heap.h - armed deadlines, ordered by (deadline, sequence).
 *
 * A binary min-heap of io_timer_node pointers (loop.h); the node is embedded in what it times
 * (an io_op's u.timer in the loop, a connection in conn.c) and remembers its slot (heap_index),
 * so push, remove and pop are O(log n) with no scan, which keeps a million armed timers cheap.
 * The heap never owns the nodes.
 */
#ifndef IOSERVE_TIMER_HEAP_H
#define IOSERVE_TIMER_HEAP_H

#include "loop.h"

struct io_timer_heap {
    io_timer_node **slots;
    uint32_t len;
    uint32_t cap;
};

/* Returns 0 or -ENOMEM. */
int timer_heap_push(struct io_timer_heap *heap, io_timer_node *node);
/* The earliest node, or NULL when empty. */
static inline io_timer_node *timer_heap_peek(const struct io_timer_heap *heap)
{
    return heap->len ? heap->slots[0] : NULL;
}
void timer_heap_remove(struct io_timer_heap *heap, io_timer_node *node);
void timer_heap_free(struct io_timer_heap *heap);

#endif
