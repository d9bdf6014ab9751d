/* ws_conn.h - WebSocket on a connection, entered from HTTP by an Upgrade.
 *
 * The contract with the HTTP layer (src/http/http_conn.c), which calls ws_conn_upgrade():
 *  - When: a GET for /ws (endpoint WS_ENDPOINT_ECHO) or /ws/broadcast (WS_ENDPOINT_BROADCAST)
 *    is complete (head and body) and every response before it has been queued on c.  Only
 *    HTTP/1.1 requests get here; HTTP answers an HTTP/1.0 one with 400 itself.  The call is
 *    made inside a callback of c (c is corked: what it writes leaves with the earlier
 *    responses, in order).
 *  - req: the parsed request (method, headers in arrival order), valid during the call only.
 *  - leftover: the bytes the client sent after that request (possibly the first frames),
 *    valid during the call only: the WebSocket side copies or parses them before returning.
 *  - Returns 0: it wrote the 101 response and called conn_switch_proto(c, ...); from then on c
 *    belongs to WebSocket.  HTTP frees its own per-connection state after the call returns and
 *    never touches c again.
 *  - Returns -errno: refused, no protocol switch.  It has written one complete HTTP error
 *    response (400, or 426 with Sec-WebSocket-Version: 13; "Connection: close" and a
 *    Content-Length) with conn_write(); HTTP then closes c once that is sent.
 */
#ifndef IOSERVE_WS_CONN_H
#define IOSERVE_WS_CONN_H

#include <stddef.h>

#include "conn.h"
#include "http/http_request.h"

enum ws_endpoint {
    WS_ENDPOINT_ECHO = 0,      /* GET /ws: every message is sent back */
    WS_ENDPOINT_BROADCAST = 1, /* GET /ws/broadcast: every message goes to every such peer */
};

int ws_conn_upgrade(conn *c, const http_request *req, const char *leftover, size_t leftover_len,
                    int endpoint);

#endif
