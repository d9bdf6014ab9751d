/* proto.h - what ioload sends and how it recognises each answer, per protocol.
 *
 * A protocol is built once from the options: the bytes of one request (identical every time,
 * so the sender can keep one buffer of `depth` copies), the bytes sent once per connection
 * before any request (the WebSocket upgrade), and the answer each request must get.  Parsing
 * is incremental over whatever a read returned, with a small per-connection state, and never
 * allocates.  The worker only counts what proto_parse() reports; no socket is named here.
 */
#ifndef IOLOAD_PROTO_H
#define IOLOAD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_response.h"
#include "ws_frames.h"

enum proto_kind { PROTO_HTTP, PROTO_ECHO, PROTO_ETX, PROTO_WS, PROTO_RPC };

/* msgpack-rpc: which method every request calls. */
enum proto_rpc_method { PROTO_RPC_ECHO, PROTO_RPC_SLEEP };

struct proto_config {
    enum proto_kind kind;
    const char *host;             /* Host header value */
    const char *path;             /* HTTP request path, WebSocket upgrade path */
    size_t size;                  /* echo/ETX/WebSocket message bytes */
    const uint8_t *etx_reply;     /* the bytes the ETX server answers each message with */
    size_t etx_reply_len;
    enum proto_rpc_method rpc_method; /* echo(a bin of `size` bytes) or sleep(rpc_sleep_ms) */
    uint32_t rpc_sleep_ms;
};

struct proto {
    enum proto_kind kind;
    uint8_t *request;
    size_t request_len;
    uint8_t *hello;               /* NULL when requests may flow as soon as TCP connects */
    size_t hello_len;
    uint8_t *expect;              /* echo/ETX/RPC: the exact answer; WebSocket: the echoed payload */
    size_t expect_len;
};

union proto_state {
    struct http_response http;
    struct {
        uint64_t offset;          /* bytes of the current answer already verified */
    } stream;
    struct {
        struct http_response handshake;
        struct ws_reader frames;
        bool upgraded;
    } ws;
};

enum proto_fault {
    PROTO_FAULT_NONE,
    PROTO_FAULT_MALFORMED,  /* bytes that are not a valid answer */
    PROTO_FAULT_MISMATCH,   /* a well-formed answer with the wrong content */
    PROTO_FAULT_HANDSHAKE,  /* the upgrade was refused or answered wrongly */
};

struct proto_result {
    uint32_t answers;             /* complete answers in the bytes parsed */
    uint32_t rejected;            /* of those, answers saying the request failed (non-2xx) */
    bool ready;                   /* the handshake just completed: requests may be sent */
    bool closing;                 /* the server said it closes the connection now */
    enum proto_fault fault;       /* set: the connection cannot go on */
};

/* Returns 0 or -ENOMEM / -EINVAL.  `p` owns copies of everything it needs. */
int proto_init(struct proto *p, const struct proto_config *config);
void proto_free(struct proto *p);

/* A new connection: forget everything about the previous one. */
void proto_reset(const struct proto *p, union proto_state *state);

/* Parses bytes the server sent; `result` must start zeroed.  Stops early on a fault or when
 * the server announces it is closing. */
void proto_parse(const struct proto *p, union proto_state *state, const uint8_t *data,
                 size_t len, struct proto_result *result);

/* The server closed the stream: true when that completed an answer (an HTTP body with no
 * length), which is then counted in `result` (zeroed by the caller). */
bool proto_finish(const struct proto *p, union proto_state *state, struct proto_result *result);

const char *proto_name(enum proto_kind kind);

#endif
