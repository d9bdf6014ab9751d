/* reactor_fdtable.c - per-fd state of the reactor, indexed by fd number, and the fd lists.
 *
 * The table grows in fixed chunks that never move, so a pointer to an entry stays valid while
 * a callback submits on a higher fd and the table grows.  Entries are never freed before the
 * loop: an fd number is reused often, and its generation must survive the reuse.  The lists
 * are intrusive FIFOs threaded through the entries; a bit per list keeps an fd on each list at
 * most once, and consumers re-check an entry's state, so a closed fd left on a list is harmless.
 */
#include "reactor.h"

#include <stdlib.h>
#include <string.h>

#define EP_CHUNK_SHIFT 8
#define EP_CHUNK_SIZE (1u << EP_CHUNK_SHIFT)

struct ep_fd *ep_table_find(const struct ep_table *table, int fd)
{
    uint32_t chunk = (uint32_t)fd >> EP_CHUNK_SHIFT;
    if (fd < 0 || chunk >= table->nchunks || !table->chunks[chunk])
        return NULL;
    return &table->chunks[chunk][(uint32_t)fd & (EP_CHUNK_SIZE - 1)];
}

static int table_reserve(struct ep_table *table, uint32_t chunk)
{
    if (chunk < table->nchunks)
        return 0;
    uint32_t n = table->nchunks ? table->nchunks : 16;
    while (n <= chunk)
        n *= 2;
    struct ep_fd **grown = realloc(table->chunks, n * sizeof(*grown));
    if (!grown)
        return -1;
    memset(grown + table->nchunks, 0, (n - table->nchunks) * sizeof(*grown));
    table->chunks = grown;
    table->nchunks = n;
    return 0;
}

struct ep_fd *ep_table_get(struct ep_table *table, int fd)
{
    if (fd < 0)
        return NULL;
    uint32_t chunk = (uint32_t)fd >> EP_CHUNK_SHIFT;
    if (table_reserve(table, chunk) < 0)
        return NULL;
    if (!table->chunks[chunk]) {
        table->chunks[chunk] = calloc(EP_CHUNK_SIZE, sizeof(struct ep_fd));
        if (!table->chunks[chunk])
            return NULL;
    }
    return ep_table_find(table, fd);
}

void ep_table_free(struct ep_table *table)
{
    for (uint32_t i = 0; i < table->nchunks; i++)
        free(table->chunks[i]);
    free(table->chunks);
    table->chunks = NULL;
    table->nchunks = 0;
}

void ep_fd_forget(struct ep_fd *f)
{
    f->gen++;
    f->kernel_events = 0;
    f->rd_dry = false;
    f->idle = false;
    f->verify = false;
    f->mode_known = false;
    f->blocking = false;
    f->stream = false;
    f->peer_shut = false;
}

void ep_fd_note_idle(struct ep_fd *f)
{
    if (!f->kernel_events)
        return;
    for (int slot = 0; slot < EP_SLOTS; slot++)
        if (f->op[slot])
            return;
    f->idle = true;
}

void ep_list_init(struct ep_list *list)
{
    list->head = list->tail = -1;
}

void ep_list_push(struct ep_state *st, enum ep_list_id id, int fd, struct ep_fd *f)
{
    uint8_t bit = (uint8_t)(1u << id);
    if (f->listed & bit)
        return;
    f->listed |= bit;
    f->next[id] = -1;
    struct ep_list *list = &st->lists[id];
    if (list->tail >= 0)
        ep_table_find(&st->table, list->tail)->next[id] = fd;
    else
        list->head = fd;
    list->tail = fd;
}

int ep_list_pop(struct ep_state *st, struct ep_list *list, enum ep_list_id id)
{
    int fd = list->head;
    if (fd < 0)
        return -1;
    struct ep_fd *f = ep_table_find(&st->table, fd);
    list->head = f->next[id];
    if (list->head < 0)
        list->tail = -1;
    f->listed &= (uint8_t)~(1u << id);
    return fd;
}
