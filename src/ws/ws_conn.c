/* ws_conn.c - the WebSocket protocol on a connection: the upgrade, the reader's events, sending,
 * the close handshake and idle pings (ws_conn.h, websocket.h).
 *
 * Closing: a close from the peer is answered with its own code (an empty close with an empty
 * one) and the TCP connection is closed once that has been sent.  A protocol failure sends the
 * reader's code (1002, 1007, 1009, ...) and closes likewise.  A close we start (ws_close) waits
 * for the peer's answer, at most WS_CLOSE_TIMEOUT_MS.  Nothing but the close leaves after it.
 */
#include "ws/ws_conn.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "http/http_status.h"
#include "ws/ws_handshake.h"
#include "ws/ws_internal.h"

/* Messages this small are copied into the connection's queue rather than referenced. */
#define WS_COPY_MAX 2048u
#define WS_DEFLATE_LEVEL 1 /* fast: the bandwidth saved at higher levels costs more CPU */
#define WS_UPGRADE_HEADERS_MAX 128

static void finish(ws_conn *ws)
{
    if (ws->finished)
        return;
    ws->finished = true;
    conn_close(ws->c);
}

static void send_close(ws_conn *ws, unsigned code, const char *reason)
{
    if (ws->close_sent)
        return;
    uint8_t frame[WS_CONTROL_FRAME_MAX];
    int len;
    if (code == WS_CLOSE_NO_STATUS)
        len = ws_write_control(frame, WS_OP_CLOSE, NULL, 0);
    else
        len = ws_write_close(frame, code, reason, reason ? strlen(reason) : 0);
    ws->close_sent = true;
    if (len > 0)
        conn_write(ws->c, frame, (size_t)len);
}

/* Fails the connection: our close with code, then TCP closes once it is sent. */
static void fail(ws_conn *ws, unsigned code)
{
    if (!ws->close_code)
        ws->close_code = code;
    send_close(ws, code, NULL);
    finish(ws);
}

/* ---- sending ---- */

static int queue_frame(ws_conn *ws, const uint8_t *header, size_t header_len,
                       struct ws_chain *chain)
{
    if (chain->len <= WS_COPY_MAX) {
        int err = conn_write(ws->c, header, header_len);
        for (const struct ws_chunk *k = chain->head; k && err == 0; k = k->next)
            err = conn_write(ws->c, k->data, k->len);
        ws_chain_release(&ws->hub->pool, chain);
        return err;
    }
    struct ws_out *o = ws_out_create(ws->hub, chain);
    if (!o)
        return -ENOMEM;
    memcpy(o->header, header, header_len);
    o->header_len = (uint8_t)header_len;
    int err = ws_out_queue(o, ws->c);
    ws_out_put(o);
    return err;
}

int ws_send_chain(ws_conn *ws, enum ws_opcode opcode, struct ws_chain *chain)
{
    if (ws->close_sent || ws->finished) {
        ws_chain_release(&ws->hub->pool, chain);
        return -EPIPE;
    }
    uint8_t header[WS_FRAME_HEADER_MAX];
    int header_len = ws_writer_message(&ws->writer, opcode, chain, header);
    if (header_len == -EMSGSIZE || header_len == -ENOBUFS)
        fail(ws, WS_CLOSE_POLICY_VIOLATION); /* no budget left for its compressor: say so */
    if (header_len < 0)
        return header_len;
    return queue_frame(ws, header, (size_t)header_len, chain);
}

int ws_send(ws_conn *ws, enum ws_opcode opcode, const void *data, size_t len)
{
    struct ws_chain chain;
    ws_chain_init(&chain);
    if (ws_chain_append(&ws->hub->pool, &chain, data, len) < 0) {
        ws_chain_release(&ws->hub->pool, &chain);
        return -ENOMEM;
    }
    return ws_send_chain(ws, opcode, &chain);
}

void ws_close(ws_conn *ws, unsigned code, const char *reason)
{
    if (ws->close_sent || ws->finished)
        return;
    if (!ws_close_code_valid(code))
        code = WS_CLOSE_NORMAL;
    send_close(ws, code, reason);
    conn_timer_set(ws->c, WS_CLOSE_TIMEOUT_MS);
}

void *ws_user(const ws_conn *ws)
{
    return ws->user;
}

void ws_set_user(ws_conn *ws, void *user)
{
    ws->user = user;
}

bool ws_compressed(const ws_conn *ws)
{
    return ws->deflate;
}

void ws_conn_evict(struct ws_account *a)
{
    ws_conn *ws = (ws_conn *)(void *)((char *)a - offsetof(ws_conn, account));
    ws_reader_abandon(&ws->reader, WS_CLOSE_POLICY_VIOLATION);
    ws_writer_destroy(&ws->writer);
    fail(ws, WS_CLOSE_POLICY_VIOLATION);
}

/* ---- receiving ---- */

static void on_message(ws_conn *ws, struct ws_event *ev)
{
    if (ws->close_sent) {
        /* After our close the peer may still send data; it is read and ignored. */
        ws_chain_release(&ws->hub->pool, &ev->message);
        return;
    }
    ws_message msg = {.opcode = ev->opcode, .chain = &ev->message, .len = ev->message.len};
    ws->endpoint->handlers->on_message(ws, &msg, ws->endpoint->arg);
    ws_chain_release(&ws->hub->pool, &ev->message); /* unless the handler took it */
}

static void on_peer_close(ws_conn *ws, unsigned code)
{
    ws->close_code = code;
    send_close(ws, code, NULL); /* the echo; nothing if we closed first */
    finish(ws);
}

static void on_event(ws_conn *ws, struct ws_event *ev)
{
    uint8_t frame[WS_CONTROL_FRAME_MAX];
    switch (ev->type) {
    case WS_EVENT_MESSAGE:
        on_message(ws, ev);
        break;
    case WS_EVENT_PING:
        if (!ws->close_sent) {
            int len = ws_write_control(frame, WS_OP_PONG, ev->payload, ev->payload_len);
            if (len > 0)
                conn_write(ws->c, frame, (size_t)len);
        }
        break;
    case WS_EVENT_PONG:
        ws->awaiting_pong = false;
        break;
    case WS_EVENT_CLOSE:
        on_peer_close(ws, ev->close_code);
        break;
    case WS_EVENT_FAIL:
        fail(ws, ev->close_code);
        break;
    case WS_EVENT_NEED_MORE:
        break;
    }
}

static void ws_on_data(conn *c, const char *data, size_t len)
{
    ws_conn *ws = conn_state(c);
    ws->activity = true;
    const uint8_t *p = (const uint8_t *)data;
    while (!ws->finished) {
        size_t used;
        struct ws_event ev;
        enum ws_event_type t = ws_reader_feed(&ws->reader, p, len, &used, &ev);
        p += used;
        len -= used;
        on_event(ws, &ev);
        if (t == WS_EVENT_NEED_MORE)
            break;
    }
}

static void ws_on_eof(conn *c)
{
    ws_conn *ws = conn_state(c);
    if (!ws->close_code)
        ws->close_code = WS_CLOSE_ABNORMAL;
    finish(ws);
}

/* Every ping_ms: a connection that said nothing since the last tick gets a ping; one that
 * stayed silent a whole tick after its ping is dead and dropped.  Once our close is out, the
 * timer is the close timeout instead. */
static void ws_on_timer(conn *c)
{
    ws_conn *ws = conn_state(c);
    if (ws->finished)
        return;
    if (ws->close_sent) {
        if (!ws->close_code)
            ws->close_code = WS_CLOSE_ABNORMAL;
        finish(ws);
        return;
    }
    if (ws->hub->cfg.ping_ms == WS_PING_NEVER)
        return;
    if (!ws->activity) {
        if (ws->awaiting_pong) {
            ws->close_code = WS_CLOSE_ABNORMAL;
            ws->finished = true;
            conn_abort(c);
            return;
        }
        uint8_t frame[WS_CONTROL_FRAME_MAX];
        int len = ws_write_control(frame, WS_OP_PING, NULL, 0);
        if (len > 0)
            conn_write(c, frame, (size_t)len);
        ws->awaiting_pong = true;
    }
    ws->activity = false;
    conn_timer_set(c, ws->hub->cfg.ping_ms);
}

static void ws_on_close(conn *c)
{
    ws_conn *ws = conn_state(c);
    ws_group_leave(ws);
    if (ws->opened && ws->endpoint->handlers->on_close)
        ws->endpoint->handlers->on_close(ws, ws->close_code ? ws->close_code : WS_CLOSE_ABNORMAL,
                                         ws->endpoint->arg);
    ws_reader_destroy(&ws->reader);
    ws_writer_destroy(&ws->writer);
    ws->hub->conns--;
    free(ws);
}

/* The server is stopping: the peer hears 1001 and the close handshake ends the connection. */
static void ws_on_shutdown(conn *c)
{
    ws_close(conn_state(c), WS_CLOSE_GOING_AWAY, "server shutting down");
}

static const struct proto ws_proto = {
    .name = "websocket",
    .on_data = ws_on_data,
    .on_eof = ws_on_eof,
    .on_timer = ws_on_timer,
    .on_shutdown = ws_on_shutdown,
    .on_close = ws_on_close,
};

/* ---- the upgrade ---- */

int ws_refuse(conn *c, int status, const char *reason, const char *extra_headers)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n%s\r\n%s\n",
                     status, http_status_reason(status), strlen(reason) + 1, extra_headers,
                     reason);
    int err = (n > 0 && (size_t)n < sizeof buf) ? conn_write(c, buf, (size_t)n) : -EINVAL;
    conn_close(c);
    return err < 0 ? err : -EPROTO;
}

static enum ws_handshake_result check_request(const http_request *req, const ws_hub *hub,
                                              struct ws_handshake *hs)
{
    struct ws_http_header headers[WS_UPGRADE_HEADERS_MAX];
    size_t count = req->header_count < WS_UPGRADE_HEADERS_MAX ? req->header_count
                                                               : WS_UPGRADE_HEADERS_MAX;
    for (size_t i = 0; i < count; i++)
        headers[i] = (struct ws_http_header){
            .name = req->headers[i].name,
            .name_len = req->headers[i].name_len,
            .value = req->headers[i].value,
            .value_len = req->headers[i].value_len,
        };
    const char *method = http_method_name(req->method);
    return ws_handshake_check(method, strlen(method), headers, count,
                              hub->cfg.no_deflate ? 0 : hub->cfg.window_bits, hs);
}

static ws_conn *ws_conn_new(conn *c, ws_endpoint *endpoint, const struct ws_deflate_params *d)
{
    ws_conn *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    ws->c = c;
    ws->endpoint = endpoint;
    ws->hub = endpoint->hub;
    ws->deflate = d->enabled;
    ws_account_init(&ws->account, &ws->hub->budget);
    struct ws_reader_config rc = {
        .role = WS_ROLE_SERVER,
        .max_message = ws->hub->cfg.max_message,
        .deflate = d->enabled ? d : NULL,
        .inflate_ratio = ws->hub->cfg.inflate_ratio,
        .account = &ws->account,
    };
    ws_reader_init(&ws->reader, &ws->hub->pool, &rc);
    ws_writer_init(&ws->writer, &ws->hub->pool, d->enabled ? d : NULL, WS_DEFLATE_LEVEL,
                   &ws->account);
    ws->hub->conns++;
    return ws;
}

int ws_conn_upgrade_to(conn *c, const http_request *req, const char *leftover,
                       size_t leftover_len, ws_endpoint *endpoint)
{
    if (req->version_major < 1 || (req->version_major == 1 && req->version_minor < 1))
        return ws_refuse(c, 400, "WebSocket needs HTTP/1.1", "");
    struct ws_handshake hs;
    enum ws_handshake_result r = check_request(req, endpoint->hub, &hs);
    if (r != WS_HANDSHAKE_OK)
        return ws_refuse(c, ws_handshake_status(r), ws_handshake_reason(r),
                      ws_handshake_refusal_headers(r));
    char head[WS_HANDSHAKE_RESPONSE_MAX];
    int head_len = ws_handshake_response(&hs, head, sizeof head);
    if (head_len < 0)
        return ws_refuse(c, 500, "cannot write the handshake", "");
    ws_conn *ws = ws_conn_new(c, endpoint, &hs.extensions.deflate);
    if (!ws)
        return ws_refuse(c, 500, "out of memory", "");
    int err = conn_switch_proto(c, &ws_proto, ws);
    if (err < 0) {
        ws->c = NULL;
        ws_reader_destroy(&ws->reader);
        ws_writer_destroy(&ws->writer);
        ws->hub->conns--;
        free(ws);
        return err;
    }
    conn_write(c, head, (size_t)head_len);
    const ws_handlers *h = endpoint->handlers;
    if (h->on_open && h->on_open(ws, endpoint->arg) < 0) {
        fail(ws, WS_CLOSE_INTERNAL_ERROR);
        return 0;
    }
    ws->opened = true;
    /* The deadline the HTTP layer may have left armed is not ours. */
    if (ws->hub->cfg.ping_ms != WS_PING_NEVER)
        conn_timer_set(c, ws->hub->cfg.ping_ms);
    else
        conn_timer_clear(c);
    if (leftover_len > 0)
        ws_on_data(c, leftover, leftover_len);
    return 0;
}
