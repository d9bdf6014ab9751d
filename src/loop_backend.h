/* loop_backend.h - what a backend implements and what the core gives it.  Private to src/,
 * proactor/ and reactor/; protocols include loop.h only.
 *
 * The core (src/loop.c) owns: the op lifecycle (in-flight accounting, rule 1 and 2 of loop.h),
 * timers (a heap: a backend never sees IO_OP_TIMEOUT, it only waits no longer than the next
 * deadline), the completion queue for results known at submit time, the receive-buffer
 * memory, and (src/loop_post.c) the inbox through which posts reach a loop when its backend
 * has no way of its own to carry them.  A backend owns: how accept/recv/read/send/close are carried out and reported, how
 * to wait, and how free receive buffers are tracked.
 *
 * A backend is a set of entry points bound into a struct io_backend by IO_BACKEND_DEFINE in
 * its main file (proactor/uring.c, reactor/reactor.c), so leaving one out fails the build; the
 * rest of the backend lives in files of its own folder.
 */
#ifndef IOSERVE_LOOP_BACKEND_H
#define IOSERVE_LOOP_BACKEND_H

#include <pthread.h>
#include <stdio.h>

#include "loop.h"
#include "timer_heap.h"

/* op->state bits owned by the core; backends use IO_STATE_BACKEND_MASK bits. */
#define IO_STATE_INFLIGHT 0x80u
#define IO_STATE_QUEUED 0x40u /* on the core completion queue */
#define IO_STATE_BACKEND_MASK 0x3fu

struct io_backend {
    const char *name;
    /* Set up private state in loop->backend_data, the name (loop->backend_name) and the
     * features in use (loop->describe).  Return 0 or -errno; on error nothing is left but,
     * in loop->describe, a one-line reason ("io_uring_setup: Operation not permitted") that
     * AUTO quotes when it falls back. */
    int (*init)(io_loop *loop, const io_loop_config *cfg);
    void (*destroy)(io_loop *loop);
    /* Start an accept, recv, read, send or close op whose fields the core has filled. */
    int (*submit)(io_loop *loop, io_op *op);
    /* Cancel an in-flight non-timer op (loop.h io_cancel). */
    int (*cancel)(io_loop *loop, io_op *op);
    /* Flush submissions, wait at most timeout_ns (-1: no limit, 0: poll), deliver what
     * completed through io_core_complete(), calling io_core_clock_update() between the two;
     * return ops completed or -errno (-EINTR is 0). */
    int (*wait)(io_loop *loop, int64_t timeout_ns);
    /* A receive buffer is free again (loop.h io_buf_release). */
    void (*buf_release)(io_loop *loop, uint32_t id);
    /* Print, one "  feature: yes|no (why)" line each, what this backend can use here. */
    void (*report)(FILE *out);
    /* io_loop_post from `from` (this backend, on its own thread) to `to` by the backend's own
     * means, or -EOPNOTSUPP: the core then uses `to`'s inbox.  A backend that takes the post
     * counts it in from->posts_in_transit until `to` has it, hands it to `to` through
     * io_core_post_arrived() on `to`'s thread, and on a late failure gives it to
     * io_core_post_inbox() (the post is still the caller's until fn runs). */
    int (*post)(io_loop *from, io_loop *to, io_post *post);
    /* Hand the kernel what is queued (posts among it) and deliver nothing: io_loop_run ends
     * with it, so a loop that stops right after posting still sends. */
    void (*flush)(io_loop *loop);
};

#define IO_BACKEND_DEFINE(symbol, label, prefix)                                        \
    const struct io_backend symbol = {                                                  \
        .name = label, .init = prefix##_init, .destroy = prefix##_destroy,              \
        .submit = prefix##_submit, .cancel = prefix##_cancel, .wait = prefix##_wait,    \
        .buf_release = prefix##_buf_release, .report = prefix##_report,                 \
        .post = prefix##_post, .flush = prefix##_flush,                                 \
    }

extern const struct io_backend io_backend_uring;
extern const struct io_backend io_backend_reactor; /* epoll, poll or select, as cfg->backend says */

/* Posts that came by no backend means (loop.h io_loop_post): a locked FIFO, and an eventfd
 * written when it turns non-empty, which the core keeps a read armed on (src/loop_post.c). */
struct io_inbox {
    pthread_mutex_t lock;
    io_post *head;      /* under lock */
    io_post *tail;
    int efd;            /* -1 until created */
    int armed;          /* the read on efd is in flight */
    uint64_t counter;   /* where that read puts the eventfd's count */
    io_op wake;
};

struct io_loop {
    const struct io_backend *backend;
    void *backend_data;
    const char *backend_name;
    uint64_t now_ns;
    size_t inflight;           /* ops submitted and not finally completed (timers included) */
    int stopping;
    struct io_timer_heap timers;
    uint64_t timer_seq;        /* keeps equal deadlines in submission order */
    io_op *ready_head;         /* completion queue: results known before the backend waits */
    io_op *ready_tail;
    char *buf_base;            /* buf_count * buf_size bytes, page aligned */
    uint32_t buf_count;
    uint32_t buf_size;
    unsigned disable;          /* IO_FEAT_* the config asked to leave unused */
    char describe[512];
    int fd_limit;              /* io_loop_fd_limit: INT_MAX unless the backend's init lowers it */
    struct io_inbox inbox;
    size_t internal;           /* of inflight, the core's own ops (the inbox's read) */
    size_t posts_in_transit;   /* posts sent by the backend and not yet known delivered */
    int keepalive;             /* io_loop_keepalive */
};

/* Deliver a completion from a backend: accounts for the op's end (no IO_CQE_MORE) and calls
 * its callback.  The op may be resubmitted or freed by the callback: touch it no more. */
void io_core_complete(io_loop *loop, io_op *op, int res, unsigned flags);
/* Sample the loop's clock.  A backend calls it when its blocking wait returns, before it
 * delivers anything: a timeout armed by a callback counts from now, not from before the sleep. */
void io_core_clock_update(io_loop *loop);
/* Queue a final completion for delivery on the next loop iteration (rule 1). */
void io_core_complete_later(io_loop *loop, io_op *op, int res);
/* A send op sent n more bytes: step its iovec array (the caller's, per loop.h) past them and
 * past empty entries, its msghdr kept in step.  Returns 1 while bytes are left, else 0. */
int io_core_send_advance(io_op *op, size_t n);
/* An openat2 or statx op's system call, made now by a backend that cannot hand it to the
 * kernel as an op (the reactors; io_uring without those opcodes): the fd or 0, or -errno. */
int io_core_openat2_now(const io_op *op);
int io_core_statx_now(const io_op *op);

/* A post reached `loop` (its own thread): the inbox is emptied first, so a sender's earlier
 * posts that went through it still run first, then post->fn runs. */
void io_core_post_arrived(io_loop *loop, io_post *post);
/* Queue a post on `to`'s inbox and wake `to` (any thread). */
void io_core_post_inbox(io_loop *to, io_post *post);

/* src/loop_post.c, for loop.c: set up and tear down the inbox, keep its read armed (returns
 * 0 or -errno), run what it holds (returns how many). */
int io_inbox_init(io_loop *loop);
void io_inbox_free(io_loop *loop);
int io_inbox_arm(io_loop *loop);
int io_inbox_drain(io_loop *loop);

static inline char *io_core_buf_data(const io_loop *loop, uint32_t id)
{
    return loop->buf_base + (size_t)id * loop->buf_size;
}

#endif
