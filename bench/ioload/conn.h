/* conn.h - one load connection, as the worker and its I/O engine both see it.
 *
 * The worker owns every field; an engine reads fd, index and generation to address the
 * socket and to tell a current connection from a closed one whose slot was reused (a
 * completion or readiness event carries the generation it was started under).  A slot is
 * fixed-size: `times` holds the send time of each of up to `depth` in-flight requests.
 */
#ifndef IOLOAD_CONN_H
#define IOLOAD_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_UPGRADING, CONN_OPEN };

enum conn_flag {
    CF_HELLO_OUT = 1u << 0, /* the queued output is the hello, not requests */
    CF_ANSWERED = 1u << 1,  /* this connection got at least one answer */
    CF_RETRY = 1u << 2,     /* idle after a failure: the sweep reconnects it */
    CF_SENDING = 1u << 3,   /* a send is with the engine; its result is still to come */
};

struct conn {
    int fd;
    uint32_t index;
    uint32_t inflight;      /* requests queued or sent, not yet answered */
    uint32_t head;          /* times[] slot of the oldest of them */
    uint32_t out_bytes;     /* queued bytes the kernel has not taken yet */
    uint8_t state;
    uint8_t flags;
    uint16_t generation;    /* bumped per connect: a reused slot (and fd number) is told apart */
    uint64_t sent;          /* requests this slot issued: its place in the open-loop schedule */
    uint64_t since;         /* connect started, or last progress while requests are in flight */
    union proto_state proto;
    uint64_t times[];       /* per in-flight request: its (intended) send time, ns */
};

/* True while the connection an event was started for is still the one in the slot. */
static inline bool conn_current(const struct conn *c, uint16_t generation)
{
    return c->generation == generation && c->state != CONN_IDLE;
}

#endif
