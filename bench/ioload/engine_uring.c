/* engine_uring.c - the completion engine: one io_uring per worker.
 *
 * Each connection keeps one multishot receive armed that picks buffers from a ring of
 * provided buffers; sends and connects are SQEs.  Everything queued while handling one batch
 * of completions goes to the kernel with the next wait, in the same io_uring_enter(), so a
 * request costs no system call of its own.  The ring is single-issuer with deferred task
 * work where the kernel has it (6.1+), so completions run only when the worker waits; it is
 * created disabled and enabled by start() on the worker's thread, its only submitter.
 *
 * Closing submits what is queued, then shuts the socket down before closing it: the armed
 * receive holds a reference to the file, and only shutdown() ends it (close() alone would
 * leave the socket open).
 * Completions for a closed connection carry its old generation and are dropped, after their
 * buffer goes back to the ring.
 */
#include "engine.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uring_compat.h" /* proactor/'s: the ABI constants Debian's liburing 2.3 lacks */

#define SQ_ENTRIES 4096
#define CQ_ENTRIES (8 * SQ_ENTRIES)
#define BUFFER_COUNT 256          /* a power of two, as the buffer ring requires */
#define BUFFER_BYTES (64 * 1024)
#define BUFFER_GROUP 1

enum op { OP_CONNECT = 1, OP_RECV, OP_SEND };

struct engine {
    struct worker *w;
    struct io_uring ring;
    bool ring_ready;
    struct io_uring_buf_ring *buf_ring;
    uint8_t *buffers;
};

static uint64_t tag(enum op op, const struct conn *c)
{
    return (uint64_t)op << 56 | (uint64_t)c->generation << 32 | c->index;
}

/* Tries the setups from most to least efficient; 0 or -errno. */
static int ring_init(struct io_uring *ring, unsigned entries)
{
    static const unsigned flag_sets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
        struct io_uring_params params = {.flags = flag_sets[i] | IORING_SETUP_CQSIZE,
                                         .cq_entries = CQ_ENTRIES};
        rc = io_uring_queue_init_params(entries, ring, &params);
        if (rc == 0)
            return 0;
    }
    return rc;
}

static void recycle(struct engine *e, unsigned buffer_id)
{
    io_uring_buf_ring_add(e->buf_ring, e->buffers + (size_t)buffer_id * BUFFER_BYTES, BUFFER_BYTES,
                          (unsigned short)buffer_id, io_uring_buf_ring_mask(BUFFER_COUNT), 0);
    io_uring_buf_ring_advance(e->buf_ring, 1);
}

static int buffers_init(struct engine *e)
{
    size_t ring_bytes = BUFFER_COUNT * sizeof(struct io_uring_buf);
    void *ring_memory = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE,
                             MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (ring_memory == MAP_FAILED)
        return -errno;
    e->buf_ring = ring_memory;
    e->buffers = malloc((size_t)BUFFER_COUNT * BUFFER_BYTES);
    if (!e->buffers)
        return -ENOMEM;
    io_uring_buf_ring_init(e->buf_ring);
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)ring_memory,
                                   .ring_entries = BUFFER_COUNT, .bgid = BUFFER_GROUP};
    int rc = io_uring_register_buf_ring(&e->ring, &reg, 0);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < BUFFER_COUNT; i++)
        recycle(e, i);
    return 0;
}

static int uring_start(struct engine *e)
{
    if (!(e->ring.flags & IORING_SETUP_R_DISABLED))
        return 0;
    /* Debian's liburing 2.3 declares io_uring_enable_rings() but does not export it. */
    if (syscall(__NR_io_uring_register, e->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
        return -errno;
    return 0;
}

static void uring_destroy(struct engine *e)
{
    if (e->ring_ready)
        io_uring_queue_exit(&e->ring);
    if (e->buf_ring)
        munmap(e->buf_ring, BUFFER_COUNT * sizeof(struct io_uring_buf));
    free(e->buffers);
    free(e);
}

static int uring_create(struct engine **out, struct worker *w, uint32_t connections)
{
    (void)connections;
    struct engine *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->w = w;
    int rc = ring_init(&e->ring, SQ_ENTRIES);
    e->ring_ready = rc == 0;
    if (rc == 0)
        rc = buffers_init(e);
    if (rc < 0) {
        uring_destroy(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* An SQE, submitting what is queued first when the queue is full. */
static struct io_uring_sqe *next_sqe(struct engine *e)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);
    while (!sqe) {
        io_uring_submit(&e->ring);
        sqe = io_uring_get_sqe(&e->ring);
    }
    return sqe;
}

static void arm_recv(struct engine *e, struct conn *c)
{
    struct io_uring_sqe *sqe = next_sqe(e);
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUFFER_GROUP;
    io_uring_sqe_set_data64(sqe, tag(OP_RECV, c));
}

static int uring_connect(struct engine *e, struct conn *c, const struct sockaddr *addr,
                         socklen_t len)
{
    struct io_uring_sqe *sqe = next_sqe(e);
    io_uring_prep_connect(sqe, c->fd, addr, len);
    io_uring_sqe_set_data64(sqe, tag(OP_CONNECT, c));
    return 0;
}

static long uring_send(struct engine *e, struct conn *c, const uint8_t *data, size_t len)
{
    struct io_uring_sqe *sqe = next_sqe(e);
    /* MSG_WAITALL: the kernel finishes a partial send itself instead of completing short */
    io_uring_prep_send(sqe, c->fd, data, len, MSG_NOSIGNAL | MSG_WAITALL);
    io_uring_sqe_set_data64(sqe, tag(OP_SEND, c));
    return ENGINE_SEND_PENDING;
}

static void uring_close(struct engine *e, struct conn *c)
{
    /* SQEs still queued for this fd go to the kernel first: after close() the number may be
     * handed to the next socket, which they must not reach. */
    io_uring_submit(&e->ring);
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
}

static void on_recv(struct engine *e, struct conn *c, uint16_t generation,
                    const struct io_uring_cqe *cqe)
{
    bool current = conn_current(c, generation);
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (current && cqe->res > 0)
            worker_on_data(e->w, c, e->buffers + (size_t)id * BUFFER_BYTES, (size_t)cqe->res);
        recycle(e, id);
    }
    if (!conn_current(c, generation))
        return;
    if (cqe->res == 0)
        worker_on_eof(e->w, c);
    else if (cqe->res < 0 && cqe->res != -ENOBUFS)
        worker_on_error(e->w, c, cqe->res);
    else if (!(cqe->flags & IORING_CQE_F_MORE))
        arm_recv(e, c);        /* the kernel ended it early (no buffer free, ...): go on */
}

static void on_completion(struct engine *e, const struct io_uring_cqe *cqe)
{
    uint64_t data = io_uring_cqe_get_data64(cqe);
    struct conn *c = worker_conn(e->w, (uint32_t)data);
    uint16_t generation = (uint16_t)(data >> 32);
    switch ((enum op)(data >> 56)) {
    case OP_RECV:
        on_recv(e, c, generation, cqe);
        break;
    case OP_CONNECT:
        if (!conn_current(c, generation))
            break;
        if (cqe->res == 0)
            arm_recv(e, c);
        worker_on_connected(e->w, c, cqe->res);
        break;
    case OP_SEND:
        if (conn_current(c, generation))
            worker_on_sent(e->w, c, cqe->res);
        break;
    }
}

static int uring_wait(struct engine *e, uint64_t timeout_ns)
{
    struct __kernel_timespec wait = {.tv_sec = (long long)(timeout_ns / 1000000000u),
                                     .tv_nsec = (long long)(timeout_ns % 1000000000u)};
    struct io_uring_cqe *cqe;
    int rc = io_uring_submit_and_wait_timeout(&e->ring, &cqe, 1, &wait, NULL);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
        return rc;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&e->ring, head, cqe) {
        on_completion(e, cqe);
        seen++;
    }
    io_uring_cq_advance(&e->ring, seen);
    return 0;
}

const struct engine_ops engine_uring = {
    .name = "uring",
    .socket_flags = 0,          /* io_uring polls by itself; O_NONBLOCK would only add retries */
    .create = uring_create,
    .start = uring_start,
    .destroy = uring_destroy,
    .connect = uring_connect,
    .send = uring_send,
    .close = uring_close,
    .wait = uring_wait,
};

/* Arms a multishot receive on one end of a socket pair and writes a byte to the other: the
 * engine is usable when the byte arrives in a provided buffer and the receive stays armed. */
bool engine_uring_usable(void)
{
    struct engine *e;
    int pair[2];
    if (uring_create(&e, NULL, 0) < 0)
        return false;
    bool usable = false;
    if (uring_start(e) == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0) {
        struct io_uring_sqe *sqe = next_sqe(e);
        io_uring_prep_recv_multishot(sqe, pair[0], NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = BUFFER_GROUP;
        struct io_uring_cqe *cqe;
        struct __kernel_timespec wait = {.tv_sec = 1};
        if (write(pair[1], "x", 1) == 1 &&
            io_uring_submit_and_wait_timeout(&e->ring, &cqe, 1, &wait, NULL) >= 0 &&
            io_uring_peek_cqe(&e->ring, &cqe) == 0)
            usable = cqe->res == 1 && (cqe->flags & IORING_CQE_F_MORE) &&
                     (cqe->flags & IORING_CQE_F_BUFFER);
        close(pair[0]);
        close(pair[1]);
    }
    uring_destroy(e);
    return usable;
}
