/* conn.h - a TCP connection on one loop, driven by a protocol (proto.h).
 *
 * Receiving: one single-shot recv is armed at a time while the connection reads (re-armed after
 * each completion, so that reading stops exactly when it is held); each completion is handed
 * to proto->on_data and its pool buffer goes back as soon as on_data returns.
 *
 * Sending: conn_write() copies into the connection's output queue (pooled chunks, no malloc per
 * write once warm); conn_write_ref() queues the caller's memory and calls release(arg) once it
 * has been sent or dropped.  At most one send is in flight; the queue leaves in ONE io_sendv per
 * batch, and everything written while a callback runs (or between conn_cork() and
 * conn_uncork()) leaves together when it returns: the replies to one receive go out in one send.
 * A write made outside any callback of this connection is sent at once.  File ranges
 * (conn_write_file) keep their place in the queue and leave by io_sendfile between batches.
 *
 * Backpressure: queued output above the high watermark stops reading; below the low watermark
 * reading resumes.  conn_read_pause()/conn_read_resume() let the protocol stop reading too.
 * Delivery stops there exactly, on every backend: a completion that races the hold (one at
 * most) waits, copied, in the connection's inbox and is delivered in order once reading
 * resumes, and so does the peer's EOF behind it.  conn_output_full() tells a protocol that can make output without reading
 * (pipelined requests already received, files to open) to wait for on_drain.
 *
 * Slow peers: queued output that makes no progress (no byte into the socket, none acknowledged
 * by the peer) for the set's send timeout aborts the connection, like nginx's send_timeout:
 * one to two such periods after the peer took its last byte.  Any progress, however slow,
 * restarts the count.  It shares the connection's timer with conn_timer_set(): the protocol's
 * deadline is unchanged.
 *
 * Ending: conn_close() sends what is queued, then shuts its side down and reads (discarding)
 * until the peer's EOF or CONN_DRAIN_MS, then closes -- a close with unread bytes would send a
 * reset that can destroy the last response (a peer that does not read for CONN_LINGER_MS is
 * dropped; during conn_set_shutdown() there is no draining); conn_abort() drops the queue and
 * closes now.  Either one made
 * inside a callback takes effect when the callback returns.  From then on no protocol callback
 * runs but on_close, which comes once, after every op the connection submitted has completed and
 * the socket is closed; the conn's memory goes back after on_close and the last conn_unhold().
 * Writes after conn_close()/conn_abort() fail with -EPIPE.
 *
 * A conn_set owns the connections of one loop: the pools, the --max-conns limit and shutdown.
 * Everything here runs on the set's loop thread only.
 */
#ifndef IOSERVE_CONN_H
#define IOSERVE_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "proto.h"

#define CONN_DEFAULT_HIGH_WATERMARK (256u * 1024u)
#define CONN_DEFAULT_LOW_WATERMARK (64u * 1024u)
#define CONN_DEFAULT_SEND_TIMEOUT_MS 60000u
#define CONN_LINGER_MS 10000u /* how long conn_close() waits for a peer that does not read */
#define CONN_DRAIN_MS 2000u   /* then how long it waits for the peer's EOF, discarding input */
/* File ranges (conn_write_file) queued at which conn_output_full() says full: each holds an
 * open file, so a peer that does not read holds at most this many of the server's fds. */
#define CONN_MAX_FILES 4u

typedef struct conn_set conn_set;

typedef struct conn_set_config {
    uint32_t max_conns;    /* open connections allowed; more are closed on arrival (0: no limit) */
    atomic_uint *shared_open; /* when set: max_conns counts the open connections of every set
                                 sharing this counter (one per thread), not only this one's */
    size_t high_watermark; /* queued output bytes that stop reading (0: default) */
    size_t low_watermark;  /* queued output bytes that resume it (0: default) */
    uint64_t send_timeout_ms; /* queued output moving no byte this long aborts (0: default) */
} conn_set_config;

typedef struct conn_set_stats {
    size_t open;       /* connections not yet freed */
    uint64_t accepted; /* connections taken by conn_accept() */
    uint64_t rejected; /* connections closed on arrival: over max_conns, shutting down, or an fd
                          beyond io_loop_fd_limit */
} conn_set_stats;

typedef void (*conn_set_done_cb)(conn_set *set, void *arg);
typedef void (*conn_release_cb)(void *arg);

int conn_set_create(conn_set **out, io_loop *loop, const conn_set_config *cfg);
/* Only once no connection is left (stats.open == 0) and shutdown, if started, is done. */
void conn_set_destroy(conn_set *set);
conn_set_stats conn_set_get_stats(const conn_set *set);

/* Refuse new connections, ask every open one to stop (proto->on_shutdown, else conn_close()),
 * conn_abort() those still open after grace_ms, and call done (from a loop callback) once none
 * is left.  -EALREADY if started. */
int conn_set_shutdown(conn_set *set, uint64_t grace_ms, conn_set_done_cb done, void *arg);
/* conn_abort() every open connection (a second signal during shutdown). */
void conn_set_abort_all(conn_set *set);

/* Take an accepted socket: 0, or -errno with fd closed (-EBUSY: over max_conns or shutting
 * down; -EMFILE: an fd the loop cannot wait on, io_loop_fd_limit, noted once on stderr; both
 * counted as rejected).  proto->on_open(c, arg) runs before this returns; when it fails
 * the connection is aborted (on_close still runs, later). */
int conn_accept(conn_set *set, int fd, const struct proto *proto, void *arg);

io_loop *conn_loop(const conn *c);
int conn_fd(const conn *c);
void *conn_state(const conn *c);
void conn_set_state(conn *c, void *state);

/* Hand the connection to another protocol, e.g. WebSocket after an HTTP Upgrade: from the next
 * callback on, proto's callbacks run with state as conn_state().  proto->on_open is not called,
 * and neither is the old protocol's on_close: the old protocol frees its own state once its
 * callback returns.  Only inside a callback of this connection (the old protocol's code is still
 * on the stack), while it is open: 0, or -EPIPE after conn_close()/conn_abort(). */
int conn_switch_proto(conn *c, const struct proto *proto, void *state);
const struct proto *conn_proto(const conn *c);

int conn_write(conn *c, const void *data, size_t len);
int conn_write_ref(conn *c, const void *data, size_t len, conn_release_cb release, void *arg);
/* Queue len bytes of the regular file fd from offset, in order with the other writes; they
 * leave through io_sendfile (the kernel moves them: memory stays bounded whatever the size).
 * fd stays the caller's: release(arg) runs once the range is sent or dropped, and fd must stay
 * open until then.  A file that turns out shorter aborts the connection.  0 or -errno (then
 * release does not run; -ENOMEM also aborts). */
int conn_write_file(conn *c, int fd, uint64_t offset, uint64_t len, conn_release_cb release,
                    void *arg);
size_t conn_queued(const conn *c); /* bytes written and not yet sent, file ranges included */
/* The output queue is over the high watermark, or holds CONN_MAX_FILES file segments: make no
 * more output from input already received until on_drain (everything sent). */
bool conn_output_full(const conn *c);

void conn_cork(conn *c);
void conn_uncork(conn *c);

void conn_read_pause(conn *c);
void conn_read_resume(conn *c);
/* Inside on_data: the last len bytes of the slice being delivered (data, its tail) are not
 * taken now.  The connection keeps a copy, pauses reading as conn_read_pause() does, and
 * delivers them first, before anything received later, after conn_read_resume(): a protocol
 * at its own budget stops in the middle of a slice.  0, or -ENOMEM (then aborted). */
int conn_unread(conn *c, const char *data, size_t len);

/* Call proto->on_timer once, ms from now (replacing any earlier deadline); cheap to move
 * often (an idle timeout pushed back on every request costs no syscall).  0 or -errno. */
int conn_timer_set(conn *c, uint64_t ms);
void conn_timer_clear(conn *c);

void conn_close(conn *c);
void conn_abort(conn *c);

/* Keep the conn's memory (not the connection) until the matching conn_unhold(): for protocol
 * ops of its own that may complete after on_close.  on_close may let go of its holds too (the
 * worker jobs it withdrew, say): the memory stays until on_close has returned. */
void conn_hold(conn *c);
void conn_unhold(conn *c);

#endif
