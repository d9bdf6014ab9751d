/* ws_hub.c - the loop-wide WebSocket state: limits, the message pool, shared outgoing frames
 * and groups (websocket.h, ws_internal.h). */
#include "ws/ws_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WS_OUT_KEEP 256u /* frame descriptors kept for reuse */

int ws_hub_create(ws_hub **out, const ws_hub_config *cfg)
{
    ws_hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return -ENOMEM;
    hub->cfg = *cfg;
    if (!hub->cfg.max_message)
        hub->cfg.max_message = WS_DEFAULT_MAX_MESSAGE;
    if (!hub->cfg.max_memory)
        hub->cfg.max_memory = WS_DEFAULT_MAX_MEMORY;
    if (!hub->cfg.max_queued)
        hub->cfg.max_queued = WS_DEFAULT_MAX_QUEUED;
    if (!hub->cfg.ping_ms)
        hub->cfg.ping_ms = WS_DEFAULT_PING_MS;
    if (!hub->cfg.inflate_ratio)
        hub->cfg.inflate_ratio = WS_DEFAULT_INFLATE_RATIO;
    if (!hub->cfg.max_inflate_per_conn)
        hub->cfg.max_inflate_per_conn = hub->cfg.max_message + WS_ZLIB_ALLOWANCE;
    if (!hub->cfg.max_inflate_memory)
        hub->cfg.max_inflate_memory = WS_DEFAULT_MAX_INFLATE_MEMORY;
    if (!hub->cfg.window_bits)
        hub->cfg.window_bits = WS_DEFAULT_WINDOW_BITS;
    if (hub->cfg.window_bits < WS_WINDOW_BITS_MIN || hub->cfg.window_bits > WS_WINDOW_BITS_MAX) {
        free(hub);
        return -EINVAL;
    }
    ws_budget_init(&hub->budget, hub->cfg.max_inflate_memory, hub->cfg.max_inflate_per_conn,
                   ws_conn_evict);
    size_t chunks = hub->cfg.max_memory / WS_DEFAULT_CHUNK_SIZE;
    /* Keep idle what a few large messages need, not the whole budget. */
    size_t idle = (4u * 1024u * 1024u) / WS_DEFAULT_CHUNK_SIZE;
    int err = ws_chunk_pool_init(&hub->pool, WS_DEFAULT_CHUNK_SIZE, chunks ? chunks : 1, idle);
    if (err < 0) {
        free(hub);
        return err;
    }
    *out = hub;
    return 0;
}

void ws_hub_destroy(ws_hub *hub)
{
    if (!hub)
        return;
    while (hub->free_outs) {
        struct ws_out *o = hub->free_outs;
        hub->free_outs = o->next_free;
        free(o);
    }
    ws_budget_destroy(&hub->budget);
    ws_chunk_pool_destroy(&hub->pool);
    free(hub);
}

struct ws_chunk_pool *ws_hub_pool(ws_hub *hub)
{
    return &hub->pool;
}

/* ---- shared outgoing frames ---- */

struct ws_out *ws_out_create(ws_hub *hub, struct ws_chain *chain)
{
    struct ws_out *o = hub->free_outs;
    if (o) {
        hub->free_outs = o->next_free;
        hub->free_out_count--;
    } else if (!(o = malloc(sizeof *o))) {
        ws_chain_release(&hub->pool, chain);
        return NULL;
    }
    o->hub = hub;
    o->refs = 1;
    o->header_len = 0;
    o->chain = *chain;
    ws_chain_init(chain);
    return o;
}

void ws_out_put(struct ws_out *o)
{
    if (--o->refs > 0)
        return;
    ws_hub *hub = o->hub;
    ws_chain_release(&hub->pool, &o->chain);
    if (hub->free_out_count < WS_OUT_KEEP) {
        o->next_free = hub->free_outs;
        hub->free_outs = o;
        hub->free_out_count++;
    } else {
        free(o);
    }
}

static void out_release(void *arg)
{
    ws_out_put(arg);
}

static int queue_piece(struct ws_out *o, conn *c, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    o->refs++;
    int err = conn_write_ref(c, data, len, out_release, o);
    if (err < 0)
        o->refs--;
    return err;
}

int ws_out_queue(struct ws_out *o, conn *c)
{
    int err = queue_piece(o, c, o->header, o->header_len);
    for (const struct ws_chunk *k = o->chain.head; k && err == 0; k = k->next)
        err = queue_piece(o, c, k->data, k->len);
    if (err < 0)
        conn_abort(c); /* part of a frame is queued: the stream is no longer whole */
    return err;
}

/* ---- groups ---- */

int ws_group_create(ws_group **out, ws_hub *hub)
{
    ws_group *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->hub = hub;
    *out = g;
    return 0;
}

void ws_group_destroy(ws_group *group)
{
    free(group);
}

void ws_group_join(ws_group *group, ws_conn *ws)
{
    ws_group_leave(ws);
    ws->group = group;
    ws->group_prev = NULL;
    ws->group_next = group->head;
    if (group->head)
        group->head->group_prev = ws;
    group->head = ws;
    group->size++;
}

void ws_group_leave(ws_conn *ws)
{
    ws_group *g = ws->group;
    if (!g)
        return;
    if (ws->group_prev)
        ws->group_prev->group_next = ws->group_next;
    else
        g->head = ws->group_next;
    if (ws->group_next)
        ws->group_next->group_prev = ws->group_prev;
    ws->group = NULL;
    ws->group_prev = ws->group_next = NULL;
    g->size--;
}

size_t ws_group_size(const ws_group *group)
{
    return group->size;
}

bool ws_group_takes(ws_group *group, ws_conn *m, const ws_conn *except)
{
    if (m == except || m->close_sent || m->finished)
        return false;
    if (conn_queued(m->c) > group->hub->cfg.max_queued) {
        /* Too slow to keep up: drop it rather than hold frames for it without bound. */
        m->finished = true;
        m->close_code = WS_CLOSE_POLICY_VIOLATION;
        conn_abort(m->c);
        return false;
    }
    return true;
}

int ws_group_broadcast_chain(ws_group *group, enum ws_opcode opcode, struct ws_chain *chain,
                             const ws_conn *except)
{
    ws_hub *hub = group->hub;
    if (opcode != WS_OP_TEXT && opcode != WS_OP_BINARY) {
        ws_chain_release(&hub->pool, chain);
        return -EINVAL;
    }
    struct ws_out *o = ws_out_create(hub, chain);
    if (!o)
        return -ENOMEM;
    /* Never compressed: one frame must suit every member, whatever each negotiated (RFC 7692
     * lets a sender leave any message uncompressed). */
    o->header_len = (uint8_t)ws_frame_write_header(o->header, opcode, true, false,
                                                   o->chain.len, NULL);
    int sent = 0;
    for (ws_conn *m = group->head, *next; m; m = next) {
        next = m->group_next;
        if (ws_group_takes(group, m, except) && ws_out_queue(o, m->c) == 0)
            sent++;
    }
    int err = ws_bus_forward(group->bus, group->bus_index, o);
    ws_out_put(o);
    return err < 0 ? err : sent;
}

int ws_group_broadcast(ws_group *group, enum ws_opcode opcode, const void *data, size_t len,
                       const ws_conn *except)
{
    struct ws_chain chain;
    ws_chain_init(&chain);
    if (ws_chain_append(&group->hub->pool, &chain, data, len) < 0) {
        ws_chain_release(&group->hub->pool, &chain);
        return -ENOMEM;
    }
    return ws_group_broadcast_chain(group, opcode, &chain, except);
}
