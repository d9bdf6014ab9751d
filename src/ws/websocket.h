/* websocket.h - the C API for WebSocket handlers (RFC 6455, RFC 7692) on an ioserve loop.
 *
 * A hub holds what the WebSocket connections of one loop share: the limits, the pool their
 * message memory comes from and the budget, shared fairly, for what compressed traffic holds
 * (inflated bytes and zlib state, ws_budget.h).  An endpoint is a path's behaviour: handlers and their argument.
 * The HTTP layer hands an upgrade request to ws_conn_upgrade_to() (ws_conn.h) with the endpoint;
 * from then on the handlers see whole messages:
 *   on_open    the 101 went out; return 0, or -errno to close the connection (1011).
 *   on_message a whole text (UTF-8 checked) or binary message, inflated if it came compressed.
 *              msg->data is only valid during the call unless the handler takes the chain
 *              (ws_send_chain), which costs no copy.
 *   on_close   once, when the connection is gone; code is the peer's close code, 1005 if its
 *              close had none, 1006 if it never sent one (or the code we failed it with).
 * Groups fan a message out to their members: the frame is built once and every member's queue
 * refers to that one copy (refcounted), never a copy per member.  A member whose unsent output
 * exceeds the hub's max_queued when a broadcast arrives is too slow: it is dropped (its queue
 * discarded, the connection aborted) so that it cannot hold memory without bound.  A bus
 * (ws_bus.h) joins one group per loop, so that a broadcast reaches the members on every loop.
 * Everything runs on the loop's thread; no call here blocks.
 */
#ifndef IOSERVE_WEBSOCKET_H
#define IOSERVE_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws/ws_chunk.h"
#include "ws/ws_frame.h"

typedef struct ws_conn ws_conn;
typedef struct ws_hub ws_hub;
typedef struct ws_group ws_group;

#define WS_DEFAULT_MAX_MESSAGE (16u * 1024u * 1024u + 1024u) /* 16 MiB with room to spare */
#define WS_DEFAULT_PING_MS 30000u
#define WS_DEFAULT_CHUNK_SIZE (16u * 1024u)
#define WS_DEFAULT_MAX_MEMORY (512u * 1024u * 1024u) /* message memory of all connections */
#define WS_DEFAULT_MAX_QUEUED (8u * 1024u * 1024u)   /* a slow receiver's unsent output */
#define WS_CLOSE_TIMEOUT_MS 5000u /* how long our close waits for the peer's before TCP closes */
#define WS_DEFAULT_INFLATE_RATIO 256u /* inflated/compressed bytes, past WS_INFLATE_RATIO_FLOOR */
#define WS_ZLIB_ALLOWANCE (512u * 1024u) /* a connection's zlib state, at most, on top of a message */
#define WS_DEFAULT_MAX_INFLATE_MEMORY (256u * 1024u * 1024u) /* all connections of a loop */
#define WS_DEFAULT_WINDOW_BITS 12u /* 4 KiB: the largest LZ77 window the server agrees to */
#define WS_WINDOW_BITS_MIN 9u      /* zlib compresses with no smaller window */
#define WS_WINDOW_BITS_MAX 15u

#define WS_PING_NEVER UINT64_MAX

/* Zero fields take the defaults, so (ws_hub_config){0} is a working setup. */
typedef struct ws_hub_config {
    size_t max_message; /* largest data message accepted, after inflation (else 1009) */
    uint64_t ping_ms;   /* ping a connection silent this long; drop it if still silent after
                           as long again (WS_PING_NEVER: never ping) */
    size_t max_memory;  /* bytes of pooled message memory, all connections together */
    size_t max_queued;  /* unsent bytes past which a group member is dropped */
    bool no_deflate;    /* refuse permessage-deflate even to clients that offer it */
    /* permessage-deflate's memory (ws_budget.h): past these a connection is closed, 1009 for
     * its own limits, 1008 for holding more than its share of the loop's */
    size_t inflate_ratio;        /* a message may inflate to this many times its wire size */
    size_t max_inflate_per_conn; /* inflated bytes held plus zlib state, one connection
                                    (default: max_message + WS_ZLIB_ALLOWANCE) */
    size_t max_inflate_memory;   /* the same, all connections of the loop together */
    unsigned window_bits;        /* the largest LZ77 window agreed to, 9-15 */
} ws_hub_config;

typedef struct ws_message {
    enum ws_opcode opcode;    /* WS_OP_TEXT or WS_OP_BINARY */
    struct ws_chain *chain;   /* the payload in pooled chunks */
    size_t len;
} ws_message;

typedef struct ws_handlers {
    int (*on_open)(ws_conn *ws, void *arg);                        /* optional */
    void (*on_message)(ws_conn *ws, ws_message *msg, void *arg);
    void (*on_close)(ws_conn *ws, unsigned code, void *arg);       /* optional */
} ws_handlers;

typedef struct ws_endpoint {
    ws_hub *hub;
    const ws_handlers *handlers;
    void *arg;
} ws_endpoint;

/* 0 or -errno. */
int ws_hub_create(ws_hub **out, const ws_hub_config *cfg);
/* Only once every connection upgraded through the hub has closed. */
void ws_hub_destroy(ws_hub *hub);
struct ws_chunk_pool *ws_hub_pool(ws_hub *hub);

/* Sends a whole message (a copy of data).  0, or -EPIPE once closing, -ENOMEM; or -EMSGSIZE,
 * -ENOBUFS when the connection's compressor is past its budget (ws_budget.h), and the
 * connection is then failed with 1008. */
int ws_send(ws_conn *ws, enum ws_opcode opcode, const void *data, size_t len);
/* Sends a message held in a chain from ws_hub_pool(), taking it over (no copy). */
int ws_send_chain(ws_conn *ws, enum ws_opcode opcode, struct ws_chain *chain);
/* Starts the close handshake with code (valid on the wire) and a UTF-8 reason of at most
 * WS_CLOSE_REASON_MAX bytes; TCP closes once the peer answers or WS_CLOSE_TIMEOUT_MS passes. */
void ws_close(ws_conn *ws, unsigned code, const char *reason);

void *ws_user(const ws_conn *ws);
void ws_set_user(ws_conn *ws, void *user);
bool ws_compressed(const ws_conn *ws); /* permessage-deflate was negotiated */

/* Groups.  A connection belongs to at most one group and leaves it when it closes. */
int ws_group_create(ws_group **out, ws_hub *hub);
/* Only once it has no members. */
void ws_group_destroy(ws_group *group);
void ws_group_join(ws_group *group, ws_conn *ws);
void ws_group_leave(ws_conn *ws);
size_t ws_group_size(const ws_group *group);
/* Sends a message to every member (except `except`, if not NULL) from one shared, refcounted
 * frame; takes over chain, which must come from the group hub's pool.  A group on a bus
 * (ws_bus.h) also sends it to the groups of the other loops, through one shared heap copy.
 * Returns how many members on this loop it was queued to, or -errno (-ENOMEM after this
 * loop's members got it: the other loops could not be reached). */
int ws_group_broadcast_chain(ws_group *group, enum ws_opcode opcode, struct ws_chain *chain,
                             const ws_conn *except);
/* The same with a copy of data. */
int ws_group_broadcast(ws_group *group, enum ws_opcode opcode, const void *data, size_t len,
                       const ws_conn *except);

#endif
