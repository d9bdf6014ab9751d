/* proto.c - building each protocol's bytes and counting its answers (see proto.h). */
#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETX 0x03

/* The key and answer of RFC 6455 section 1.3.  Every connection reuses them: the server can
 * only check the key's form, and a fixed key lets the client verify the answer without SHA-1. */
static const char ws_key[] = "dGhlIHNhbXBsZSBub25jZQ==";
static const char ws_accept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
static const uint8_t ws_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

const char *proto_name(enum proto_kind kind)
{
    switch (kind) {
    case PROTO_HTTP: return "http";
    case PROTO_ECHO: return "echo";
    case PROTO_ETX: return "etx";
    case PROTO_WS: return "ws";
    case PROTO_RPC: return "rpc";
    }
    return "?";
}

/* Printable, never ETX, and aperiodic enough that a shifted or mixed-up echo fails to match. */
static void fill_message(uint8_t *out, size_t len)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (uint8_t)('!' + x % 94);
    }
}

static uint8_t *format_text(size_t *len, const char *format, const char *a, const char *b)
{
    int need = snprintf(NULL, 0, format, a, b);
    if (need < 0)
        return NULL;
    char *text = malloc((size_t)need + 1);
    if (!text)
        return NULL;
    snprintf(text, (size_t)need + 1, format, a, b);
    *len = (size_t)need;
    return (uint8_t *)text;
}

static int build_http(struct proto *p, const struct proto_config *c)
{
    p->request = format_text(&p->request_len,
                             "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ioload\r\n\r\n",
                             c->path, c->host);
    return p->request ? 0 : -ENOMEM;
}

static int build_stream(struct proto *p, const struct proto_config *c)
{
    bool etx = c->kind == PROTO_ETX;
    p->request_len = c->size + (etx ? 1 : 0);
    p->request = malloc(p->request_len);
    p->expect_len = etx ? c->etx_reply_len : c->size;
    p->expect = malloc(p->expect_len ? p->expect_len : 1);
    if (!p->request || !p->expect)
        return -ENOMEM;
    fill_message(p->request, c->size);
    if (etx) {
        p->request[c->size] = ETX;
        memcpy(p->expect, c->etx_reply, c->etx_reply_len);
    } else {
        memcpy(p->expect, p->request, c->size);
    }
    return 0;
}

/* msgpack, written by hand: ioload links nothing of ioserve's, msgpack-c included, so the
 * server's encoding is checked against an independent one. */
static uint8_t *put_bin_head(uint8_t *out, size_t len)
{
    if (len < 0x100) {
        *out++ = 0xc4;
    } else if (len < 0x10000) {
        *out++ = 0xc5;
        *out++ = (uint8_t)(len >> 8);
    } else {
        *out++ = 0xc6;
        *out++ = (uint8_t)(len >> 24);
        *out++ = (uint8_t)(len >> 16);
        *out++ = (uint8_t)(len >> 8);
    }
    *out++ = (uint8_t)len;
    return out;
}

static uint8_t *put_uint(uint8_t *out, uint32_t v)
{
    if (v < 0x80) {
        *out++ = (uint8_t)v;
    } else if (v < 0x10000) {
        *out++ = 0xcd;
        *out++ = (uint8_t)(v >> 8);
        *out++ = (uint8_t)v;
    } else {
        *out++ = 0xce;
        for (int shift = 24; shift >= 0; shift -= 8)
            *out++ = (uint8_t)(v >> shift);
    }
    return out;
}

/* Every request is [0, 0, method, params] and every answer [1, 0, nil, result]: all requests
 * alike (one send buffer of `depth` copies), so answers arriving out of order still compare
 * byte for byte with the one expected. */
static int build_rpc(struct proto *p, const struct proto_config *c)
{
    bool echo = c->rpc_method == PROTO_RPC_ECHO;
    size_t params = echo ? 5 + c->size : 5;
    p->request = malloc(16 + params);
    p->expect = malloc(16 + params);
    if (!p->request || !p->expect)
        return -ENOMEM;
    static const uint8_t echo_call[] = {0x94, 0x00, 0x00, 0xa4, 'e', 'c', 'h', 'o', 0x91};
    static const uint8_t sleep_call[] = {0x94, 0x00, 0x00, 0xa5, 's', 'l', 'e', 'e', 'p', 0x91};
    static const uint8_t answer[] = {0x94, 0x01, 0x00, 0xc0};
    uint8_t *req = p->request, *exp = p->expect;
    memcpy(exp, answer, sizeof(answer));
    exp += sizeof(answer);
    if (echo) {
        memcpy(req, echo_call, sizeof(echo_call));
        req = put_bin_head(req + sizeof(echo_call), c->size);
        fill_message(req, c->size);
        exp = put_bin_head(exp, c->size);
        memcpy(exp, req, c->size);
        req += c->size;
        exp += c->size;
    } else {
        memcpy(req, sleep_call, sizeof(sleep_call));
        req = put_uint(req + sizeof(sleep_call), c->rpc_sleep_ms);
        *exp++ = 0xc0; /* sleep answers nil */
    }
    p->request_len = (size_t)(req - p->request);
    p->expect_len = (size_t)(exp - p->expect);
    return 0;
}

static int build_ws(struct proto *p, const struct proto_config *c)
{
    char upgrade_format[256];
    snprintf(upgrade_format, sizeof(upgrade_format),
             "GET %%s HTTP/1.1\r\nHost: %%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", ws_key);
    p->hello = format_text(&p->hello_len, upgrade_format, c->path, c->host);
    p->expect_len = c->size;
    p->expect = malloc(c->size);
    p->request_len = ws_frame_size(c->size);
    p->request = malloc(p->request_len);
    if (!p->hello || !p->expect || !p->request)
        return -ENOMEM;
    fill_message(p->expect, c->size);
    ws_frame_build(p->request, p->expect, c->size, ws_mask);
    return 0;
}

int proto_init(struct proto *p, const struct proto_config *config)
{
    memset(p, 0, sizeof(*p));
    p->kind = config->kind;
    int rc;
    switch (config->kind) {
    case PROTO_HTTP: rc = build_http(p, config); break;
    case PROTO_ECHO: rc = config->size ? build_stream(p, config) : -EINVAL; break;
    case PROTO_ETX:
        rc = config->size && config->etx_reply_len ? build_stream(p, config) : -EINVAL;
        break;
    case PROTO_WS: rc = config->size ? build_ws(p, config) : -EINVAL; break;
    case PROTO_RPC: rc = config->size ? build_rpc(p, config) : -EINVAL; break;
    default: rc = -EINVAL; break;
    }
    if (rc < 0)
        proto_free(p);
    return rc;
}

void proto_free(struct proto *p)
{
    free(p->request);
    free(p->hello);
    free(p->expect);
    memset(p, 0, sizeof(*p));
}

void proto_reset(const struct proto *p, union proto_state *state)
{
    memset(state, 0, sizeof(*state));
    if (p->kind == PROTO_HTTP)
        http_response_init(&state->http);
    else if (p->kind == PROTO_WS) {
        http_response_init(&state->ws.handshake);
        ws_reader_init(&state->ws.frames);
    }
}

static void parse_http(struct http_response *r, const uint8_t *data, size_t len,
                       struct proto_result *result)
{
    while (len > 0) {
        long used = http_response_parse(r, data, len, NULL);
        if (used < 0) {
            result->fault = PROTO_FAULT_MALFORMED;
            return;
        }
        data += used;
        len -= (size_t)used;
        if (!r->complete)
            continue;
        result->answers++;
        if (r->status < 200 || r->status > 299)
            result->rejected++;
        if (r->flags & HTTP_RESPONSE_CLOSE) {
            result->closing = true;
            return;
        }
    }
}

/* Echo, ETX and RPC: the answer is a fixed byte string, compared as it streams in. */
static void parse_stream(const struct proto *p, uint64_t *offset, const uint8_t *data,
                         size_t len, struct proto_result *result)
{
    while (len > 0) {
        size_t want = p->expect_len - (size_t)*offset;
        size_t take = len < want ? len : want;
        if (memcmp(data, p->expect + *offset, take) != 0) {
            result->fault = PROTO_FAULT_MISMATCH;
            return;
        }
        *offset += take;
        data += take;
        len -= take;
        if (*offset == p->expect_len) {
            *offset = 0;
            result->answers++;
        }
    }
}

static void parse_ws(const struct proto *p, union proto_state *s, const uint8_t *data,
                     size_t len, struct proto_result *result)
{
    if (!s->ws.upgraded) {
        long used = http_response_parse(&s->ws.handshake, data, len, ws_accept);
        if (used < 0) {
            result->fault = PROTO_FAULT_MALFORMED;
            return;
        }
        if (!s->ws.handshake.complete)
            return;
        if (s->ws.handshake.status != 101 || !(s->ws.handshake.flags & HTTP_RESPONSE_ACCEPT_OK)) {
            result->fault = PROTO_FAULT_HANDSHAKE;
            return;
        }
        s->ws.upgraded = true;
        result->ready = true;
        data += used;
        len -= (size_t)used;
    }
    enum ws_verdict v = ws_reader_feed(&s->ws.frames, data, len, p->expect, p->expect_len,
                                       &result->answers);
    if (v == WS_MALFORMED)
        result->fault = PROTO_FAULT_MALFORMED;
    else if (v == WS_MISMATCH)
        result->fault = PROTO_FAULT_MISMATCH;
    else if (v == WS_CLOSED)
        result->closing = true;
}

void proto_parse(const struct proto *p, union proto_state *state, const uint8_t *data,
                 size_t len, struct proto_result *result)
{
    switch (p->kind) {
    case PROTO_HTTP:
        parse_http(&state->http, data, len, result);
        break;
    case PROTO_ECHO:
    case PROTO_ETX:
    case PROTO_RPC:
        parse_stream(p, &state->stream.offset, data, len, result);
        break;
    case PROTO_WS:
        parse_ws(p, state, data, len, result);
        break;
    }
}

bool proto_finish(const struct proto *p, union proto_state *state, struct proto_result *result)
{
    if (p->kind != PROTO_HTTP || !http_response_finish(&state->http))
        return false;
    result->answers = 1;
    result->rejected = state->http.status < 200 || state->http.status > 299;
    return true;
}
