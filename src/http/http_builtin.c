/* http_builtin.c - the built-in endpoints (http_builtin.h). */
#include "http/http_builtin.h"

#include "http/http_conn.h"

static int plaintext(http_request *req, http_response *res, void *arg)
{
    return http_res_send(res, 200, "text/plain", HTTP_HELLO, sizeof(HTTP_HELLO) - 1);
}

static int echo(http_request *req, http_response *res, void *arg)
{
    const char *type = http_request_header(req, "Content-Type");
    return http_res_send(res, 200, type ? type : "application/octet-stream", req->body,
                         req->body_len);
}

static int upgrade_to_websocket(conn *c, const http_request *req, const char *leftover,
                                size_t leftover_len, void *endpoint)
{
    return ws_conn_upgrade_to(c, req, leftover, leftover_len, endpoint);
}

/* arg: the ws_endpoint */
static int websocket(http_request *req, http_response *res, void *arg)
{
    if (req->version_minor == 0) { /* RFC 6455 4.1: the handshake is HTTP/1.1 or later */
        http_res_close(res);
        return http_res_error(res, 400);
    }
    http_conn_upgrade_later(http_conn_of(res), upgrade_to_websocket, arg);
    return HTTP_ASYNC;
}

int http_builtin_routes(http_router *router, http_files *files, ws_builtin *ws)
{
    int rc = http_route(router, HTTP_GET, "/plaintext", plaintext, NULL);
    if (!rc)
        rc = http_route(router, HTTP_POST, "/echo", echo, NULL);
    if (!rc && ws)
        rc = http_route(router, HTTP_GET, "/ws", websocket, &ws->echo);
    if (!rc && ws)
        rc = http_route(router, HTTP_GET, "/ws/broadcast", websocket, &ws->broadcast);
    if (!rc && files)
        rc = http_route_prefix(router, HTTP_GET, "/", http_files_handler, files);
    else if (!rc)
        rc = http_route(router, HTTP_GET, "/", plaintext, NULL);
    return rc;
}
