/* ws_conn.h - WebSocket on a connection: the upgrade from HTTP and the built-in endpoints.
 *
 * ws_conn_upgrade_to() is called by the HTTP layer from inside a callback of the connection,
 * for a request routed to a WebSocket endpoint, with the bytes that followed the request head.  It
 * validates the handshake (ws_handshake.h) and then either
 *  - answers 101, switches the connection to WebSocket (conn_switch_proto: the HTTP state is
 *    the caller's to free once its callback returns), feeds it the leftover bytes, and returns
 *    0; or
 *  - answers the refusal itself (400 with the reason as its body, 426 with
 *    "Sec-WebSocket-Version: 13", 500), with "Connection: close", calls conn_close() and
 *    returns -EPROTO (-errno when it could not even do that): the connection stays HTTP's,
 *    which writes nothing more on it.
 * The endpoint (websocket.h) must outlive the connection.
 *
 * The built-in endpoints (ws_builtin_*): "echo" sends every message back (the received chunks
 * themselves, no copy), "broadcast" sends every message to every client of that endpoint
 * (one shared frame).  One ws_builtin per loop, created by the server before it serves; the
 * HTTP routes carry &b->echo and &b->broadcast.
 */
#ifndef IOSERVE_WS_CONN_H
#define IOSERVE_WS_CONN_H

#include <stddef.h>

#include "conn.h"
#include "http/http_request.h"
#include "ws/websocket.h"

int ws_conn_upgrade_to(conn *c, const http_request *req, const char *leftover,
                       size_t leftover_len, ws_endpoint *endpoint);

typedef struct ws_builtin {
    ws_hub *hub;
    ws_group *broadcast_group;
    ws_endpoint echo;      /* GET /ws */
    ws_endpoint broadcast; /* GET /ws/broadcast */
} ws_builtin;

/* Zero fields of cfg take the defaults (websocket.h).  0 or -errno. */
int ws_builtin_create(ws_builtin **out, const ws_hub_config *cfg);
/* Only once every WebSocket connection of the loop has closed. */
void ws_builtin_destroy(ws_builtin *b);

#endif
