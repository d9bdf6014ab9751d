/* timer_heap.c - see timer_heap.h. */
#include "timer_heap.h"

#include <errno.h>
#include <stdlib.h>

static int fires_before(const io_timer_node *a, const io_timer_node *b)
{
    if (a->deadline_ns != b->deadline_ns)
        return a->deadline_ns < b->deadline_ns;
    return a->seq < b->seq;
}

static void place(struct io_timer_heap *heap, uint32_t index, io_timer_node *node)
{
    heap->slots[index] = node;
    node->heap_index = index;
}

static void sift_up(struct io_timer_heap *heap, uint32_t index)
{
    io_timer_node *op = heap->slots[index];
    while (index > 0) {
        uint32_t parent = (index - 1) / 2;
        if (!fires_before(op, heap->slots[parent]))
            break;
        place(heap, index, heap->slots[parent]);
        index = parent;
    }
    place(heap, index, op);
}

static void sift_down(struct io_timer_heap *heap, uint32_t index)
{
    io_timer_node *op = heap->slots[index];
    for (;;) {
        uint32_t child = 2 * index + 1;
        if (child >= heap->len)
            break;
        if (child + 1 < heap->len && fires_before(heap->slots[child + 1], heap->slots[child]))
            child++;
        if (!fires_before(heap->slots[child], op))
            break;
        place(heap, index, heap->slots[child]);
        index = child;
    }
    place(heap, index, op);
}

int timer_heap_push(struct io_timer_heap *heap, io_timer_node *op)
{
    if (heap->len == heap->cap) {
        uint32_t cap = heap->cap ? heap->cap * 2 : 64;
        io_timer_node **slots = realloc(heap->slots, (size_t)cap * sizeof(*slots));
        if (!slots)
            return -ENOMEM;
        heap->slots = slots;
        heap->cap = cap;
    }
    heap->slots[heap->len] = op;
    sift_up(heap, heap->len++);
    return 0;
}

void timer_heap_remove(struct io_timer_heap *heap, io_timer_node *op)
{
    uint32_t index = op->heap_index;
    io_timer_node *last = heap->slots[--heap->len];
    if (index == heap->len)
        return;
    place(heap, index, last);
    /* The moved node may belong above or below its new slot. */
    if (index > 0 && fires_before(last, heap->slots[(index - 1) / 2]))
        sift_up(heap, index);
    else
        sift_down(heap, index);
}

void timer_heap_free(struct io_timer_heap *heap)
{
    free(heap->slots);
    heap->slots = NULL;
    heap->len = heap->cap = 0;
}
