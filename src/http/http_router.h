/* http_router.h - method + path -> handler, the API applications write against.
 *
 *     static int hello(http_request *req, http_response *res, void *arg)
 *     {
 *         const char *name = http_request_header(req, "X-Name");
 *         char text[64];
 *         int n = snprintf(text, sizeof(text), "hello %s\n", name ? name : "world");
 *         return http_res_send(res, 200, "text/plain", text, (size_t)n);
 *     }
 *     http_route(router, HTTP_GET, "/hello", hello, NULL);
 *     http_route_prefix(router, HTTP_GET, "/static/", files, root);
 *
 * http_route() matches its path only.  http_route_prefix() matches the prefix and what lies
 * below it, at a segment boundary: "/api" matches "/api" and "/api/v1" but not "/apix";
 * "/static/" matches "/static/" and "/static/a.css"; "/" matches every path.  Paths are
 * compared as sent (percent-encoded, case-sensitive).  Among the routes that match the path
 * and accept the method, an exact one wins, then the longest prefix.  A GET route answers HEAD
 * too (the writer drops the body) unless a HEAD route matches as well.  No route for the path:
 * 404.  Routes for the path but none for the method: 405 with an Allow header listing the
 * methods they accept.
 *
 * A handler runs once the whole request, body included, has arrived.  It returns:
 *   0            it has answered (anything it left open is ended; nothing sent at all is 500);
 *   HTTP_ASYNC   it keeps res and answers later (req stays valid until then; register
 *                http_res_watch() to hear if the connection goes first);
 *   -errno       failure: 500 if nothing was sent yet, otherwise the connection closes.
 * Routes are added before the server starts; the router is read-only while it serves, so one
 * router may serve every loop.
 */
#ifndef IOSERVE_HTTP_ROUTER_H
#define IOSERVE_HTTP_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "http/http_request.h"
#include "http/http_response.h"

#define HTTP_ASYNC 1
#define HTTP_ANY_METHOD (-1)

typedef int (*http_handler_fn)(http_request *req, http_response *res, void *arg);

typedef struct http_router http_router;

int http_router_create(http_router **out);
void http_router_destroy(http_router *router);

/* Add a route.  method: an enum llhttp_method value or HTTP_ANY_METHOD.  0, -EINVAL (a path
 * not starting with '/', an unknown method, no fn), -EEXIST (the same method and path again),
 * -ENOMEM. */
int http_route(http_router *router, int method, const char *path, http_handler_fn fn, void *arg);
int http_route_prefix(http_router *router, int method, const char *prefix, http_handler_fn fn,
                      void *arg);

typedef struct http_route_match {
    http_handler_fn fn;
    void *arg;
    uint64_t allow; /* methods of the routes matching the path: bit (1 << method) */
} http_route_match;

/* Find the handler for method and path: 0 with m->fn set, or 404 / 405 (m->allow set). */
int http_router_match(const http_router *router, int method, const char *path,
                      http_route_match *m);

/* "GET, HEAD, POST": the methods in allow (HEAD added where GET is), NUL-terminated. */
size_t http_allow_format(uint64_t allow, char *out, size_t out_size);

/* Route req and run its handler, applying the return-value rules above: 404/405 (with Allow)
 * or 500 are sent here.  Returns HTTP_ASYNC if the handler kept res, else 0. */
int http_router_dispatch(const http_router *router, http_request *req, http_response *res);

#endif
