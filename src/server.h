/* server.h - N loops, one per thread, serving one protocol on one address.
 *
 * server_create() blocks SIGINT, SIGTERM, SIGHUP and SIGUSR1 (every thread it starts inherits
 * the mask; own_signals leaves them to the application, which calls server_stop()) and
 * ignores SIGPIPE, sets up loop 0 on the calling thread and starts threads 1..N-1, each with
 * its own loop (ring or epoll instance), connection set and SO_REUSEPORT listener on the same
 * address: the kernel spreads connections over the listeners (or the listeners handed over in
 * the config, one per accepting loop).  With SERVER_ACCEPT_DISPATCH only
 * loop 0 listens and hands each accepted fd to the next loop in turn (io_loop_post).  Either
 * way a connection lives on one loop for its whole life.  Loop 0 reads the signals through a signalfd and wakes every loop
 * through its own eventfd.  server_run() runs loop 0 until every loop has stopped.
 *
 * Shutdown, on each loop at the first signal: close the listener (new connections are refused),
 * ask every connection to stop (proto.h on_shutdown: in-flight requests finish, idle ones close
 * at once, WebSockets hear 1001), abort what is still open after shutdown_timeout_ms or at a
 * second signal.  server_run() returns 0 once every loop has nothing left in flight.  The loops
 * themselves are destroyed by server_destroy(): call it after whatever posts to them from
 * other threads (a worker pool) has stopped.
 * Errors are -errno; server_create() also says in words what failed.
 */
#ifndef IOSERVE_SERVER_H
#define IOSERVE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "loop.h"
#include "net.h"
#include "proto.h"

#define SERVER_DEFAULT_SHUTDOWN_TIMEOUT_MS 10000u
#define SERVER_MAX_THREADS 1024u

typedef struct server server;

enum server_accept {
    SERVER_ACCEPT_REUSEPORT, /* each loop its own SO_REUSEPORT listener: the kernel spreads */
    SERVER_ACCEPT_DISPATCH,  /* loop 0 accepts and posts each fd round-robin (itself included) */
};

typedef struct server_config {
    io_loop_config loop;
    net_addr listen;
    /* Optional: listening sockets opened before, by the supervising process (supervisor.h),
     * served instead of binding `listen`: listener_fds[i] for loop i, one per accepting loop
     * (threads, or 1 with SERVER_ACCEPT_DISPATCH).  The server owns them from server_create()
     * on, whatever its result; each loop closes its own when it stops accepting (the socket
     * lives on while another process holds it).  Each is accepted from one connection at a
     * time, so that a crash of this process takes at most one queued connection per loop. */
    const int *listener_fds;
    unsigned listener_count;   /* 0: bind `listen` */
    const struct proto *proto;
    void *proto_arg;           /* given to proto->on_open; must outlive the server */
    void *const *proto_args;   /* when set: proto_args[i] for loop i instead (per-loop state) */
    unsigned threads;          /* loops, one per thread (0: one) */
    enum server_accept accept;
    uint32_t max_conns;        /* open connections, all loops together; 0: no limit */
    uint64_t shutdown_timeout_ms; /* how long connections may take to finish (0: default) */
    bool share_port;           /* join listeners another process has on `listen` (else EADDRINUSE) */
    uint64_t send_timeout_ms;  /* output moving no byte this long closes (conn.h; 0: default) */
    /* Optional, called on loop i's own thread: on_loop(on_loop_arg, i, loop) once the loop
     * exists, before it serves; on_loop(on_loop_arg, i, NULL) once it serves no more (its
     * connections are gone, or its run ended), before its io_loop_run returns when it drains. */
    void (*on_loop)(void *arg, unsigned index, io_loop *loop);
    void *on_loop_arg;
    /* When set: called once, on loop 0's thread, as the first SIGINT/SIGTERM begins the shutdown
     * (a service manager is told the server is stopping, not that it failed). */
    void (*on_stopping)(void *arg);
    void *on_stopping_arg;
    /* true: the server leaves every signal's mask and disposition alone (SIGPIPE excepted:
     * ignored, so that a peer that goes away cannot kill the process) and the application
     * stops it with server_stop().  false: the server reads SIGINT/SIGTERM (stop) and
     * SIGHUP/SIGUSR1 (noted) through a signalfd, as described above. */
    bool own_signals;
} server_config;

int server_create(server **out, const server_config *cfg, char *why, size_t why_len);
void server_destroy(server *s);
/* Arm loop 0: its signal read, its wake read and its first accept.  -errno when it cannot
 * serve (nothing was accepted); server_run() then only winds the other loops down.  Call it
 * before announcing the server; server_run() calls it when nobody did. */
int server_start(server *s);
int server_run(server *s);
/* What a SIGTERM does, for an application that handles signals itself (own_signals): the first
 * call starts the graceful shutdown, the second aborts what is left, later ones do nothing.
 * Call it from a thread that runs none of the server's loops (a signal-handling or control
 * thread), any time between server_create() and server_destroy().  0 or -errno. */
int server_stop(server *s);

/* The start-up line: protocol, bound address (the real port when 0 was asked), backend, the
 * features in use and the threads. */
void server_describe(const server *s, char *line, size_t len);
/* The sum over the loops; complete once server_run() has returned. */
conn_set_stats server_stats(const server *s);

#endif
