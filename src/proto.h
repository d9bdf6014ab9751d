/* proto.h - what a protocol implements to run on a connection (conn.h).
 *
 * Every callback runs on the connection's loop, never inside another callback of the same
 * connection, and with the connection corked: what it writes leaves in one send when it returns.
 * After on_close no callback of the connection runs again.
 */
#ifndef IOSERVE_PROTO_H
#define IOSERVE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct conn conn;

struct proto {
    const char *name;
    /* A connection was accepted; arg is the one given to conn_accept().  Set any per-connection
     * state with conn_set_state().  Return 0, or -errno to close the connection at once (on_close
     * still runs). */
    int (*on_open)(conn *c, void *arg);
    /* Bytes received, in order.  They are valid during the call only: keep a copy of what is
     * needed later. */
    void (*on_data)(conn *c, const char *data, size_t len);
    /* Optional.  The peer will send nothing more; NULL means conn_close(). */
    void (*on_eof)(conn *c);
    /* Optional.  Everything written so far has been sent (for streaming large output). */
    void (*on_drain)(conn *c);
    /* Optional.  The deadline set with conn_timer_set() has passed. */
    void (*on_timer)(conn *c);
    /* Optional.  The server is stopping (conn_set_shutdown): finish what is in flight, then
     * conn_close(); say goodbye the protocol's way.  NULL means conn_close() at once. */
    void (*on_shutdown)(conn *c);
    /* The connection is closed: free the per-connection state (see conn_hold() for ops the
     * protocol still has in flight). */
    void (*on_close)(conn *c);
};

/* The built-in stream protocols (echo.c, etx.c). */

/* Every byte received is sent back. */
extern const struct proto echo_proto;

/* ETX: a client message ends with the byte 0x03 and is answered with the three bytes ETX_ACK,
 * as the protocol specifies (or, as an extension, with ETX_ACK_FRAMED: "ack" ended by 0x03 like
 * a message).  The message "goodbye" is not answered: the connection closes once the acks
 * before it are sent.  A message longer than ETX_MAX_MESSAGE closes the connection.  on_open's
 * arg is a const struct etx_config *, which must outlive the connections. */
#define ETX_ACK "ack"
#define ETX_ACK_FRAMED "ack\x03"
#define ETX_MAX_MESSAGE (64u * 1024u)

struct worker_pool;

struct etx_config {
    bool ack_framed;       /* answer ETX_ACK_FRAMED instead of ETX_ACK */
    uint64_t ack_delay_ms; /* each ack leaves this long after its message arrived (0: at once) */
    /* NULL: the delay is a loop timer.  Else each message's delay is a blocking sleep on one of
     * these worker threads (worker_pool.h), and its ack leaves when the worker posts back. */
    struct worker_pool *workers;
};

extern const struct proto etx_proto;

#endif
