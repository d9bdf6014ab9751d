/* baseline.h - what the four classic-model baseline servers share: the command line, the
 * listener, signals, blocking I/O helpers and the three protocols.
 *
 * Every function here blocks: that is the point of these servers, which exist to be measured
 * beside ioserve.  A model (blocking.c, prefork.c, threads.c, pool.c) only decides who calls
 * baseline_accept() and who runs baseline_serve(); the protocol code is the same for all four.
 * Errors are returned as negative errno.  SIGINT and SIGTERM end the process at once with
 * status 0 (nothing a baseline holds outlives the process); SIGPIPE is ignored.
 */
#ifndef BASELINE_H
#define BASELINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum baseline_protocol { BASELINE_ECHO, BASELINE_ETX, BASELINE_HTTP };

struct baseline_config {
    const char *listen;          /* ADDR:PORT or [ADDR6]:PORT */
    enum baseline_protocol protocol;
    unsigned workers;            /* processes or pool threads, where the model has them */
    unsigned ack_delay_ms;       /* ETX: blocking sleep before each ack */
};

/* What a model tells baseline_start() about itself. */
struct baseline_model {
    const char *name;            /* e.g. "baseline-prefork" */
    bool takes_workers;          /* --workers applies to this model */
};

/* Threads the models create get this stack: enough for a connection's buffers, small enough
 * that thread-per-connection can hold thousands of clients. */
#define BASELINE_THREAD_STACK (256u * 1024u)

/* Parses the command line, installs the signal dispositions, opens the listener and prints
 * "NAME: listening on ADDR:PORT (...)" on stderr.  Returns the listening fd, or -1 with
 * *exit_status set (0 after --help, 2 for a usage error, 1 when the listener failed). */
int baseline_start(int argc, char **argv, const struct baseline_model *model,
                   struct baseline_config *cfg, int *exit_status);

/* Blocks until a client connects and returns its fd.  Transient failures (EINTR, a client
 * gone before accept, out of fds for a moment) are retried; a negative errno means the
 * listener itself is broken. */
int baseline_accept(int listen_fd);

/* Starts fn(arg) on a detached thread with BASELINE_THREAD_STACK.  Returns 0 or -errno. */
int baseline_spawn_detached(void *(*fn)(void *), void *arg);

/* Serves one connection with cfg->protocol until the client leaves, then closes fd. */
void baseline_serve(int fd, const struct baseline_config *cfg);

/* Blocking I/O that retries EINTR and never raises SIGPIPE.  baseline_read returns bytes
 * read, 0 at end of stream, or -errno; baseline_write_all writes everything or returns
 * -errno. */
ssize_t baseline_read(int fd, void *buf, size_t len);
int baseline_write_all(int fd, const void *buf, size_t len);

/* HTTP/1.1 over one connection (http.c): keep-alive, pipelining, 200/404/400. */
void baseline_serve_http(int fd);

#endif
