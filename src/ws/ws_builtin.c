/* ws_builtin.c - the built-in endpoints: echo (/ws) and broadcast (/ws/broadcast), written
 * against the public handler API (ws_conn.h). */
#include "ws/ws_conn.h"

#include <errno.h>
#include <stdlib.h>

#include "ws/ws_internal.h"

static void echo_message(ws_conn *ws, ws_message *msg, void *arg)
{
    ws_send_chain(ws, msg->opcode, msg->chain); /* the received chunks go back out */
}

static const ws_handlers echo_handlers = {.on_message = echo_message};

static int broadcast_open(ws_conn *ws, void *arg)
{
    ws_group_join(((ws_builtin *)arg)->broadcast_group, ws);
    return 0;
}

static void broadcast_message(ws_conn *ws, ws_message *msg, void *arg)
{
    ws_group_broadcast_chain(((ws_builtin *)arg)->broadcast_group, msg->opcode, msg->chain, NULL);
}

static const ws_handlers broadcast_handlers = {
    .on_open = broadcast_open,
    .on_message = broadcast_message,
};

/* The upgrade hook of the HTTP layer passes no context: each loop thread attaches its own. */
static _Thread_local ws_builtin *attached;

void ws_builtin_attach(ws_builtin *b)
{
    attached = b;
}

int ws_conn_upgrade(conn *c, const http_request *req, const char *leftover, size_t leftover_len,
                    int endpoint)
{
    if (!attached)
        return ws_refuse(c, 500, "WebSocket is not set up on this server", "");
    switch (endpoint) {
    case WS_ENDPOINT_ECHO:
        return ws_conn_upgrade_to(c, req, leftover, leftover_len, &attached->echo);
    case WS_ENDPOINT_BROADCAST:
        return ws_conn_upgrade_to(c, req, leftover, leftover_len, &attached->broadcast);
    default:
        return ws_refuse(c, 404, "no such WebSocket endpoint", "");
    }
}

int ws_builtin_create(ws_builtin **out, const ws_hub_config *cfg)
{
    ws_builtin *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    int err = ws_hub_create(&b->hub, cfg);
    if (err == 0)
        err = ws_group_create(&b->broadcast_group, b->hub);
    if (err < 0) {
        ws_builtin_destroy(b);
        return err;
    }
    b->echo = (ws_endpoint){.hub = b->hub, .handlers = &echo_handlers, .arg = b};
    b->broadcast = (ws_endpoint){.hub = b->hub, .handlers = &broadcast_handlers, .arg = b};
    *out = b;
    return 0;
}

void ws_builtin_destroy(ws_builtin *b)
{
    if (!b)
        return;
    if (attached == b)
        attached = NULL;
    ws_group_destroy(b->broadcast_group);
    ws_hub_destroy(b->hub);
    free(b);
}
