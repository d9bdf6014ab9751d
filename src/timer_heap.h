/* timer_heap.h - the loop's armed timeouts, ordered by (deadline, submission sequence).
 *
 * A binary min-heap of io_op pointers; each op remembers its slot (op->u.timer.heap_index),
 * so arm, cancel and pop are O(log n) with no scan, which keeps a million armed timers cheap.
 * The heap never owns the ops.
 */
#ifndef IOSERVE_TIMER_HEAP_H
#define IOSERVE_TIMER_HEAP_H

#include "loop.h"

struct io_timer_heap {
    io_op **slots;
    uint32_t len;
    uint32_t cap;
};

/* Returns 0 or -ENOMEM. */
int timer_heap_push(struct io_timer_heap *heap, io_op *op);
/* The earliest timer, or NULL when empty. */
static inline io_op *timer_heap_peek(const struct io_timer_heap *heap)
{
    return heap->len ? heap->slots[0] : NULL;
}
void timer_heap_remove(struct io_timer_heap *heap, io_op *op);
void timer_heap_free(struct io_timer_heap *heap);

#endif
