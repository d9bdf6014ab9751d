/* ws_builtin.c - the built-in endpoints: echo (/ws) and broadcast (/ws/broadcast), written
 * against the public handler API (ws_conn.h). */
#include "ws/ws_conn.h"

#include <errno.h>
#include <stdlib.h>

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
    ws_group_destroy(b->broadcast_group);
    ws_hub_destroy(b->hub);
    free(b);
}
