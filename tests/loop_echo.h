/* loop_echo.h - an echo server for the loop suite, built from multishot accept, multishot
 * recv and send on the loop under test.
 *
 * Each connection echoes in order from the pool buffers themselves: a buffer lent by a recv
 * waits in the connection's queue, is sent, and goes back to the pool once its send is done
 * (the queue is linked through a table indexed by buffer id, so it allocates nothing).  A
 * connection is closed through the loop once its peer's EOF came and everything is echoed.
 * Anything that breaks loop.h's rules is a failed check in srv->log.
 */
#ifndef IOSERVE_TESTS_LOOP_ECHO_H
#define IOSERVE_TESTS_LOOP_ECHO_H

#include <stdatomic.h>

#include "loop_harness.h"

struct echo_slot {
    io_buf buf;
    uint32_t len;
    uint32_t next;
};

struct echo_server;

struct echo_conn {
    struct echo_server *srv;
    int fd;
    io_op recv_op;
    io_op send_op;
    io_op close_op;
    uint32_t queue_head; /* buffer ids waiting to be echoed */
    uint32_t queue_tail;
    bool sending;
    bool recv_ended;
    bool closing;
};

struct echo_server {
    io_loop *loop;
    struct check_log log;
    int listen_fd;
    io_op accept_op;
    bool accept_ended;
    bool allow_reset; /* peers may reset: a recv ending in -ECONNRESET is expected */
    struct echo_conn *conns;
    size_t conn_cap;
    size_t accepted;
    size_t closed;
    size_t eofs;
    size_t resets;
    struct echo_slot *slots;
    uint32_t slot_count;
    uint64_t bytes_echoed;
};

/* Accept on listen_fd, at most conn_cap connections; buf_count is the loop's pool size, so
 * every lent buffer id has a queue slot.  0 or -errno. */
int echo_server_start(struct echo_server *srv, io_loop *loop, int listen_fd, size_t conn_cap,
                      uint32_t buf_count);
/* Cancel the accept, close the listener, let every op finish: 0 or -errno. */
int echo_server_stop(struct echo_server *srv);

struct echo_wait {
    struct echo_server *srv;
    size_t closed;                /* connections the server must have closed */
    const atomic_bool *peer_done; /* and the peer thread must have finished (NULL: none) */
};

/* An until_fn over a struct echo_wait. */
bool echo_wait_done(void *arg);

#endif
