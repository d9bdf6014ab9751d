/* server.h - one loop serving one protocol on one listening socket.
 *
 * server_create() sets up the loop (the backend the config asks for, or AUTO's choice), the
 * listener and the signal reader: SIGINT and SIGTERM are blocked in the calling thread and read
 * by the loop itself through a signalfd, SIGPIPE is ignored.  server_run() accepts (multishot)
 * and hands each socket to the protocol through conn_accept() until the first SIGINT/SIGTERM;
 * then it stops accepting, closes every connection (sending what is queued; a peer that does not
 * take it within the grace period, or a second signal, cuts it short) and returns 0 once nothing
 * is left in flight.  Errors are -errno; server_create() also says in words what failed.
 */
#ifndef IOSERVE_SERVER_H
#define IOSERVE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "loop.h"
#include "net.h"
#include "proto.h"

#define SERVER_DEFAULT_GRACE_MS 2000u

typedef struct server server;

typedef struct server_config {
    io_loop_config loop;
    net_addr listen;
    const struct proto *proto;
    void *proto_arg;           /* given to proto->on_open; must outlive the server */
    uint32_t max_conns;        /* 0: no limit */
    uint64_t grace_ms;         /* shutdown: how long connections may take to close (0: default) */
} server_config;

int server_create(server **out, const server_config *cfg, char *why, size_t why_len);
void server_destroy(server *s);
int server_run(server *s);

/* The start-up line: protocol, bound address (the real port when 0 was asked), backend and
 * the features in use. */
void server_describe(const server *s, char *line, size_t len);
conn_set_stats server_stats(const server *s);

#endif
