/* http_builtin.h - the endpoints ioserve serves out of the box, written with the handler API.
 *
 *   GET  /plaintext       "Hello, World!" as text/plain (the benchmark endpoint)
 *   GET  /                the same, when no document root is served
 *   POST /echo            the request body back, with the request's Content-Type
 *   GET  /ws, /ws/broadcast   WebSocket upgrades to the loop's ws_builtin endpoints, when one
 *                         is given (ws_conn_upgrade_to() with &ws->echo or &ws->broadcast:
 *                         the route carries the endpoint, so no per-thread attach is needed;
 *                         an HTTP/1.0 request gets 400)
 *   GET  /...             static files under the root (http_files.h), when one is given
 */
#ifndef IOSERVE_HTTP_BUILTIN_H
#define IOSERVE_HTTP_BUILTIN_H

#include <stdbool.h>

#include "http/http_files.h"
#include "http/http_router.h"
#include "ws/ws_conn.h"

#define HTTP_HELLO "Hello, World!"

/* files: NULL when no --root; ws: NULL for no /ws routes.  Both must outlive the router's
 * use.  0 or -errno (http_route). */
int http_builtin_routes(http_router *router, http_files *files, ws_builtin *ws);

#endif
