/* ws_message.c - the message reader and writer; see ws_message.h. */
#include "ws/ws_message.h"

#include <errno.h>
#include <string.h>

enum reader_state { R_OPEN, R_CLOSED, R_FAILED };

/* Compressed payload is unmasked through this much stack on its way to zlib. */
#define UNMASK_SCRATCH 4096

void ws_reader_init(struct ws_reader *r, struct ws_chunk_pool *pool,
                    const struct ws_reader_config *config)
{
    memset(r, 0, sizeof *r);
    const struct ws_deflate_params *d = config->deflate;
    r->deflate = d && d->enabled;
    ws_frame_parser_init(&r->frame, config->role, r->deflate);
    r->pool = pool;
    ws_chain_init(&r->message);
    r->max_message = config->max_message;
    r->inflate_ratio = config->inflate_ratio;
    r->state = R_OPEN;
    if (r->deflate) {
        /* Inflate with the parameters of whichever end is sending to us. */
        bool from_client = config->role == WS_ROLE_SERVER;
        ws_inflater_init(&r->inflater,
                         from_client ? d->client_no_context_takeover
                                     : d->server_no_context_takeover,
                         config->account);
    }
}

/* The inflated bytes of a compressed message stop counting against the connection once the
 * message is handed on or dropped. */
static void uncharge_message(struct ws_reader *r)
{
    if (r->message_compressed && r->inflater.account)
        ws_account_release(r->inflater.account, r->message.len);
}

static void drop_message(struct ws_reader *r)
{
    uncharge_message(r);
    ws_chain_release(r->pool, &r->message);
}

void ws_reader_destroy(struct ws_reader *r)
{
    drop_message(r);
    if (r->deflate)
        ws_inflater_destroy(&r->inflater);
}

void ws_reader_abandon(struct ws_reader *r, enum ws_close_code code)
{
    if (r->state != R_FAILED) {
        r->state = R_FAILED;
        r->fail_code = code;
    }
    ws_reader_destroy(r);
}

static enum ws_close_code close_code_for(int err)
{
    switch (err) {
    case -EMSGSIZE:
        return WS_CLOSE_MESSAGE_TOO_BIG;
    case -ENOBUFS:
        return WS_CLOSE_POLICY_VIOLATION;
    case -EILSEQ:
    case -EBADMSG:
        return WS_CLOSE_INVALID_PAYLOAD;
    default:
        return WS_CLOSE_INTERNAL_ERROR;
    }
}

static enum ws_close_code on_header(struct ws_reader *r)
{
    const struct ws_frame_header *h = &r->frame.header;
    if (ws_opcode_is_control(h->opcode)) {
        r->control_len = 0;
        return WS_CLOSE_NONE;
    }
    if (h->opcode != WS_OP_CONTINUATION) {
        r->message_opcode = h->opcode;
        r->message_compressed = h->rsv1;
        ws_utf8_init(&r->utf8);
    }
    /* Refuse before buffering a byte; a compressed message is held to its inflated size as it
     * inflates, since its wire size says nothing about that. */
    if (!r->message_compressed && h->payload_len > r->max_message - r->message.len)
        return WS_CLOSE_MESSAGE_TOO_BIG;
    return WS_CLOSE_NONE;
}

/* Unmasks a span of an uncompressed data frame straight into the message's chunks. */
static enum ws_close_code store_span(struct ws_reader *r, const uint8_t *span, size_t len)
{
    uint64_t offset = r->frame.span_offset;
    while (len > 0) {
        size_t space;
        uint8_t *dst = ws_chain_reserve(r->pool, &r->message, &space);
        if (!dst)
            return WS_CLOSE_INTERNAL_ERROR;
        size_t n = len < space ? len : space;
        ws_frame_unmask(&r->frame, dst, span, n, offset);
        ws_chain_commit(&r->message, n);
        if (r->message_opcode == WS_OP_TEXT && !ws_utf8_feed(&r->utf8, dst, n))
            return WS_CLOSE_INVALID_PAYLOAD;
        span += n;
        len -= n;
        offset += n;
    }
    return WS_CLOSE_NONE;
}

static struct ws_inflate_sink message_sink(struct ws_reader *r)
{
    return (struct ws_inflate_sink){
        .pool = r->pool,
        .chain = &r->message,
        .max_len = r->max_message,
        .ratio = r->inflate_ratio,
        .utf8 = r->message_opcode == WS_OP_TEXT ? &r->utf8 : NULL,
    };
}

static enum ws_close_code inflate_span(struct ws_reader *r, const uint8_t *span, size_t len)
{
    uint8_t scratch[UNMASK_SCRATCH];
    struct ws_inflate_sink sink = message_sink(r);
    uint64_t offset = r->frame.span_offset;
    while (len > 0) {
        size_t n = len < sizeof scratch ? len : sizeof scratch;
        ws_frame_unmask(&r->frame, scratch, span, n, offset);
        int err = ws_inflater_feed(&r->inflater, scratch, n, &sink);
        if (err < 0)
            return close_code_for(err);
        span += n;
        len -= n;
        offset += n;
    }
    return WS_CLOSE_NONE;
}

static enum ws_close_code on_payload(struct ws_reader *r, const uint8_t *span, size_t len)
{
    if (ws_opcode_is_control(r->frame.header.opcode)) {
        /* The parser holds control payloads to 125 bytes: the buffer fits. */
        ws_frame_unmask(&r->frame, r->control + r->control_len, span, len,
                        r->frame.span_offset);
        r->control_len = (uint8_t)(r->control_len + len);
        return WS_CLOSE_NONE;
    }
    if (r->message_compressed)
        return inflate_span(r, span, len);
    return store_span(r, span, len);
}

static enum ws_close_code finish_message(struct ws_reader *r)
{
    if (r->message_compressed) {
        struct ws_inflate_sink sink = message_sink(r);
        int err = ws_inflater_finish(&r->inflater, &sink);
        if (err < 0)
            return close_code_for(err);
    }
    if (r->message_opcode == WS_OP_TEXT && !ws_utf8_complete(&r->utf8))
        return WS_CLOSE_INVALID_PAYLOAD;
    return WS_CLOSE_NONE;
}

/* A frame ended: fills ev and returns true if that completes an event. */
static bool on_frame_end(struct ws_reader *r, struct ws_event *ev, enum ws_close_code *err)
{
    const struct ws_frame_header *h = &r->frame.header;
    switch (h->opcode) {
    case WS_OP_PING:
    case WS_OP_PONG:
        ev->type = h->opcode == WS_OP_PING ? WS_EVENT_PING : WS_EVENT_PONG;
        ev->payload = r->control;
        ev->payload_len = r->control_len;
        return true;
    case WS_OP_CLOSE:
        *err = ws_close_parse(r->control, r->control_len, &ev->close_code, &ev->payload,
                              &ev->payload_len);
        if (*err != WS_CLOSE_NONE)
            return false;
        ev->type = WS_EVENT_CLOSE;
        r->state = R_CLOSED;
        return true;
    default:
        if (!h->fin)
            return false;
        *err = finish_message(r);
        if (*err != WS_CLOSE_NONE)
            return false;
        ev->type = WS_EVENT_MESSAGE;
        ev->opcode = r->message_opcode;
        uncharge_message(r);
        ev->message = r->message;
        ws_chain_init(&r->message);
        return true;
    }
}

static enum ws_event_type fail(struct ws_reader *r, enum ws_close_code code, struct ws_event *ev)
{
    if (r->state != R_FAILED) {
        r->state = R_FAILED;
        r->fail_code = code;
        drop_message(r);
    }
    ev->type = WS_EVENT_FAIL;
    ev->close_code = r->fail_code;
    return WS_EVENT_FAIL;
}

enum ws_event_type ws_reader_feed(struct ws_reader *r, const uint8_t *buf, size_t len,
                                  size_t *consumed, struct ws_event *ev)
{
    *ev = (struct ws_event){.type = WS_EVENT_NEED_MORE};
    *consumed = 0;
    if (r->state == R_FAILED)
        return fail(r, r->fail_code, ev);
    if (r->state == R_CLOSED) {
        *consumed = len;
        return WS_EVENT_NEED_MORE;
    }

    size_t used = 0;
    for (;;) {
        size_t n;
        const uint8_t *at = buf + used;
        enum ws_frame_event fe = ws_frame_parse(&r->frame, at, len - used, &n);
        enum ws_close_code err = WS_CLOSE_NONE;
        used += n;
        *consumed = used;
        switch (fe) {
        case WS_FRAME_NEED_MORE:
            return WS_EVENT_NEED_MORE;
        case WS_FRAME_ERROR:
            err = r->frame.error;
            break;
        case WS_FRAME_HEADER:
            err = on_header(r);
            break;
        case WS_FRAME_PAYLOAD:
            err = on_payload(r, at, n);
            break;
        case WS_FRAME_END:
            if (on_frame_end(r, ev, &err))
                return ev->type;
            break;
        }
        if (err != WS_CLOSE_NONE)
            return fail(r, err, ev);
    }
}

void ws_writer_init(struct ws_writer *w, struct ws_chunk_pool *pool,
                    const struct ws_deflate_params *deflate, int level,
                    struct ws_account *account)
{
    memset(w, 0, sizeof *w);
    w->pool = pool;
    w->compress = deflate && deflate->enabled;
    if (w->compress)
        ws_deflater_init(&w->deflater, deflate->server_max_window_bits,
                         deflate->server_no_context_takeover, level, account);
}

void ws_writer_destroy(struct ws_writer *w)
{
    if (w->compress)
        ws_deflater_destroy(&w->deflater);
}

static int compress_chain(struct ws_writer *w, struct ws_chain *payload)
{
    struct ws_chain out;
    int err = 0;
    ws_chain_init(&out);
    for (const struct ws_chunk *c = payload->head; c && err == 0; c = c->next)
        err = ws_deflater_feed(&w->deflater, c->data, c->len, w->pool, &out);
    if (err == 0)
        err = ws_deflater_finish(&w->deflater, w->pool, &out);
    ws_chain_release(w->pool, payload);
    if (err < 0) {
        ws_chain_release(w->pool, &out);
        return err;
    }
    *payload = out;
    return 0;
}

int ws_writer_message(struct ws_writer *w, enum ws_opcode opcode, struct ws_chain *payload,
                      uint8_t header[WS_FRAME_HEADER_MAX])
{
    if (opcode != WS_OP_TEXT && opcode != WS_OP_BINARY) {
        ws_chain_release(w->pool, payload);
        return -EINVAL;
    }
    if (w->compress) {
        int err = compress_chain(w, payload);
        if (err < 0)
            return err;
    }
    return (int)ws_frame_write_header(header, opcode, true, w->compress, payload->len, NULL);
}

int ws_write_control(uint8_t out[WS_CONTROL_FRAME_MAX], enum ws_opcode opcode,
                     const uint8_t *payload, size_t len)
{
    if ((opcode != WS_OP_CLOSE && opcode != WS_OP_PING && opcode != WS_OP_PONG) ||
        len > WS_CONTROL_PAYLOAD_MAX)
        return -EINVAL;
    size_t header_len = ws_frame_write_header(out, opcode, true, false, len, NULL);
    if (len > 0)
        memcpy(out + header_len, payload, len);
    return (int)(header_len + len);
}

int ws_write_close(uint8_t out[WS_CONTROL_FRAME_MAX], unsigned code, const char *reason,
                   size_t reason_len)
{
    uint8_t payload[WS_CONTROL_PAYLOAD_MAX];
    int len = ws_close_build(payload, code, reason, reason_len);
    if (len < 0)
        return len;
    return ws_write_control(out, WS_OP_CLOSE, payload, (size_t)len);
}
