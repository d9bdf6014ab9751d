/* engine.h - how a worker's sockets do I/O: epoll readiness or io_uring completions.
 *
 * The worker decides what to send and when to connect or close; an engine moves the bytes
 * and reports back through the worker_on_*() calls below, from inside engine wait() only.
 * Both engines deliver the same events in the same order per connection, so the worker's
 * logic (and its tests) cannot tell them apart; only the cost differs: epoll needs a recv()
 * and a send() per readiness event, io_uring one io_uring_enter() per loop iteration for all
 * connections (multishot receives into a ring of provided buffers).
 */
#ifndef IOLOAD_ENGINE_H
#define IOLOAD_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conn.h"

struct engine;
struct worker;

/* send() result: the outcome arrives later as worker_on_sent(). */
#define ENGINE_SEND_PENDING (-(1L << 40))

struct engine_ops {
    const char *name;
    int socket_flags;           /* for socket(): SOCK_NONBLOCK where the engine needs it */
    /* 0 or -errno. */
    int (*create)(struct engine **out, struct worker *w, uint32_t connections);
    /* On the worker's own thread, before anything but create: 0 or -errno. */
    int (*start)(struct engine *e);
    void (*destroy)(struct engine *e);
    /* Connects c->fd (non-blocking, bound as needed).  0: worker_on_connected() follows;
     * -errno: nothing follows. */
    int (*connect)(struct engine *e, struct conn *c, const struct sockaddr *addr, socklen_t len);
    /* Bytes taken now, ENGINE_SEND_PENDING, -EAGAIN (worker_on_writable() follows when there
     * is room) or another -errno. */
    long (*send)(struct engine *e, struct conn *c, const uint8_t *data, size_t len);
    /* Closes c->fd; nothing more is reported for it. */
    void (*close)(struct engine *e, struct conn *c);
    /* Waits at most timeout_ns for I/O and reports what happened.  0, or -errno when the
     * engine itself failed and the worker must stop. */
    int (*wait)(struct engine *e, uint64_t timeout_ns);
};

extern const struct engine_ops engine_epoll;
extern const struct engine_ops engine_uring;

/* True when this kernel gives io_uring everything engine_uring needs (multishot receive
 * into a registered buffer ring); probed once by opening a ring and a socket pair. */
bool engine_uring_usable(void);

/* What an engine reports; each may close the connection (check conn_current() after). */
struct conn *worker_conn(struct worker *w, uint32_t index);
void worker_on_connected(struct worker *w, struct conn *c, int res);
void worker_on_data(struct worker *w, struct conn *c, const uint8_t *data, size_t len);
void worker_on_eof(struct worker *w, struct conn *c);
void worker_on_error(struct worker *w, struct conn *c, int res);
void worker_on_sent(struct worker *w, struct conn *c, int res);
void worker_on_writable(struct worker *w, struct conn *c);

#endif
