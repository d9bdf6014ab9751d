/* ws_internal.h - what the WebSocket connection, hub and group code share (not a public API).
 *
 * A ws_out is one outgoing data frame held in pooled chunks, shared by every connection queue
 * that refers to it: each conn_write_ref() of one of its pieces holds a reference, and the
 * chunks go back to the pool when the last piece has been sent or dropped.
 */
#ifndef IOSERVE_WS_INTERNAL_H
#define IOSERVE_WS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "ws/websocket.h"
#include "ws/ws_budget.h"
#include "ws/ws_bus.h"
#include "ws/ws_message.h"

struct ws_out {
    struct ws_out *next_free;
    ws_hub *hub;
    unsigned refs;
    uint8_t header_len;
    uint8_t header[WS_FRAME_HEADER_MAX];
    struct ws_chain chain;
};

struct ws_hub {
    ws_hub_config cfg;
    struct ws_chunk_pool pool;
    struct ws_budget budget;  /* permessage-deflate's memory, shared fairly */
    struct ws_out *free_outs; /* kept for reuse, at most WS_OUT_KEEP */
    size_t free_out_count;
    size_t conns;             /* upgraded connections not yet closed */
};

struct ws_conn {
    conn *c;
    ws_endpoint *endpoint;
    ws_hub *hub;
    void *user;
    struct ws_reader reader;
    struct ws_writer writer;
    struct ws_account account; /* what its inflater and deflater hold */
    ws_group *group;
    ws_conn *group_prev, *group_next;
    unsigned close_code;      /* what on_close reports */
    bool deflate;
    bool opened;              /* on_open ran and accepted */
    bool close_sent;          /* our close frame is queued: no data frame may follow */
    bool finished;            /* conn_close()/conn_abort() was called */
    bool activity;            /* bytes arrived since the last ping tick */
    bool awaiting_pong;
};

struct ws_group {
    ws_hub *hub;
    ws_conn *head;
    size_t size;
    ws_bus *bus;          /* the same endpoint's groups on the other loops, or NULL */
    unsigned bus_index;   /* this group's slot */
};

/* A frame for the chain (taken over); NULL (chain released) when out of memory. */
struct ws_out *ws_out_create(ws_hub *hub, struct ws_chain *chain);
void ws_out_put(struct ws_out *out); /* drops one reference */
/* Queues the frame on c, one reference per piece.  0, or -errno with c aborted. */
int ws_out_queue(struct ws_out *out, conn *c);

/* Whether member m takes the next broadcast frame: not `except`, not closing, and not too slow
 * (a member past the hub's max_queued is dropped here, its connection aborted). */
bool ws_group_takes(ws_group *group, ws_conn *m, const ws_conn *except);
/* Sends the frame of out (header and chain) to the groups of the bus's other loops that are up,
 * in one heap copy.  0, or -ENOMEM (then no other loop got it). */
int ws_bus_forward(ws_bus *bus, unsigned from, const struct ws_out *out);

/* The budget's eviction: the connection owning a gives back all it holds and is failed with
 * 1008. */
void ws_conn_evict(struct ws_account *a);

/* Writes an HTTP refusal (status, reason as the body, extra header lines) and closes c.
 * Returns -EPROTO, or -errno when even that failed. */
int ws_refuse(conn *c, int status, const char *reason, const char *extra_headers);

#endif
