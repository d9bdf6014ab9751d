/* rpc_conn.h - msgpack-rpc as a protocol on a connection (proto.h, conn.h).
 *
 * Requests are framed (rpc_frame.h) and decoded on the connection's loop as bytes arrive, in
 * any split.  An INLINE method runs there and then; a WORKER method's request is copied into a
 * job for the pool, and its response is posted back to the loop (io_loop_post) and written
 * when it comes: responses leave as they complete, out of order, matched by msgid.
 *
 * Limits: unknown methods and wrong params are answered with an error; bytes that are not
 * msgpack, a message that is not a request or a notification, or one over max_message close
 * the connection with a note on stderr.  With max_inflight worker calls out, or requests
 * of max_message bytes held by them, no further request is started and reading pauses; it
 * resumes at half.  EOF and server shutdown let the
 * calls in flight answer, then close.  A connection that goes (closed, aborted, the shutdown's
 * grace period over) cancels its jobs: those not started are skipped, rpc_wait_ms() returns at
 * once, and no job touches the connection after it is freed (each holds it, conn_hold()).
 * on_open's arg is a const struct rpc_config *, which must outlive the connections.
 */
#ifndef IOSERVE_RPC_CONN_H
#define IOSERVE_RPC_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "rpc/rpc.h"

#define RPC_DEFAULT_MAX_MESSAGE (1u << 20)
#define RPC_DEFAULT_MAX_INFLIGHT 128u

struct worker_pool;

struct rpc_config {
    const rpc_registry *methods;
    struct worker_pool *workers; /* runs the RPC_WORKER methods (NULL: they answer an error) */
    size_t max_message;          /* bytes of one message (0: RPC_DEFAULT_MAX_MESSAGE) */
    uint32_t max_inflight;       /* worker calls out per connection (0: RPC_DEFAULT_MAX_INFLIGHT) */
};

extern const struct proto rpc_proto;

#endif
