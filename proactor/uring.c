/* uring.c - the io_uring proactor: the kernel does the I/O, this backend says what each
 * completion means for its op (see uring.h for the files and what each one does).
 *
 * One cycle per loop iteration, in wait(): re-arm recvs that waited for buffers, submit every
 * queued SQE and wait in one io_uring_enter (io_uring_submit_and_wait_timeout), then reap the
 * CQ in batches: each batch is copied out and released with one io_uring_cq_advance before
 * any callback runs, since a callback may queue SQEs, free its op or submit it again.
 */
#include "uring.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define REAP_BATCH 256u
#define NS_PER_S 1000000000LL
/* How long an SQPOLL loop watches its CQ before it blocks in the kernel: about a scheduler
 * slice, so a loop sharing its CPUs with the SQ thread or the clients rides out being
 * switched away; an SQPOLL setup spends CPU for fewer system calls by design. */
#define SQPOLL_SPIN_NS 2000000LL

struct cqe_copy {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
};

static int uring_init(io_loop *loop, const io_loop_config *cfg)
{
    struct uring *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    int err = ur_setup(loop, u, cfg);
    if (err < 0) {
        free(u);
        return err;
    }
    loop->backend_data = u;
    loop->backend_name = "uring";
    return 0;
}

static void uring_destroy(io_loop *loop)
{
    struct uring *u = ur_of(loop);
    io_uring_queue_exit(&u->ring); /* first: it ends the kernel's use of the buffer ring */
    ur_bufs_free(&u->bufs);
    ur_carriers_free(u);
    ur_fdtab_free(&u->fds);
    free(u);
    loop->backend_data = NULL;
}

static int uring_submit(io_loop *loop, io_op *op)
{
    return ur_submit_op(loop, ur_of(loop), op);
}

static int uring_cancel(io_loop *loop, io_op *op)
{
    return ur_cancel_op(loop, ur_of(loop), op);
}

static void uring_buf_release(io_loop *loop, uint32_t id)
{
    ur_bufs_put(&ur_of(loop)->bufs, loop, id);
}

static int uring_post(io_loop *from, io_loop *to, io_post *post)
{
    return ur_post(from, to, post);
}

static void uring_flush(io_loop *loop)
{
    struct uring *u = ur_of(loop);
    if (ur_enable(loop, u) == 0)
        io_uring_submit(&u->ring);
}

static void uring_report(FILE *out)
{
    ur_report(out);
}

/* Submit everything queued and wait: -1 for a completion, 0 not at all, else at most
 * timeout_ns.  With DEFER_TASKRUN even the 0 case must enter, or nothing completes. */
static int submit_and_wait(struct uring *u, int64_t timeout_ns)
{
    if (timeout_ns == 0)
        return io_uring_submit_and_get_events(&u->ring);
    if (timeout_ns < 0)
        return io_uring_submit_and_wait(&u->ring, 1);
    struct __kernel_timespec ts = { .tv_sec = timeout_ns / NS_PER_S, .tv_nsec = timeout_ns % NS_PER_S };
    struct io_uring_cqe *cqe;
    return io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
}

/* With SQPOLL the kernel thread submits and posts completions on its own: a busy loop that
 * finds completions waiting, or sees one arrive within a short spin, need not enter the
 * kernel at all (io_uring_submit enters only to wake a sleeping SQ thread). */
static int sqpoll_wait(struct uring *u, int64_t timeout_ns)
{
    int err = io_uring_submit(&u->ring);
    if (err < 0)
        return err;
    if (io_uring_cq_ready(&u->ring) || timeout_ns == 0)
        return 0;
    int64_t spin_ns = timeout_ns > 0 && timeout_ns < SQPOLL_SPIN_NS ? timeout_ns : SQPOLL_SPIN_NS;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        if (io_uring_cq_ready(&u->ring))
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * NS_PER_S + now.tv_nsec - start.tv_nsec < spin_ns);
    return submit_and_wait(u, timeout_ns > 0 ? timeout_ns - spin_ns : timeout_ns);
}

/* Copy out up to REAP_BATCH CQEs and hand their slots back to the kernel. */
static unsigned take_batch(struct io_uring *ring, struct cqe_copy *batch)
{
    unsigned head, n = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(ring, head, cqe) {
        batch[n++] = (struct cqe_copy){ .user_data = cqe->user_data, .res = cqe->res, .flags = cqe->flags };
        if (n == REAP_BATCH)
            break;
    }
    if (n)
        io_uring_cq_advance(ring, n);
    return n;
}

/* Deliver what completed.  Bounded, so a flood of multishot completions cannot keep the
 * core from its timers; what is left waits for the next iteration. */
static int reap(io_loop *loop, struct uring *u)
{
    struct cqe_copy batch[REAP_BATCH];
    unsigned rounds = u->ring.cq.ring_entries / REAP_BATCH + 4;
    int delivered = 0;
    for (unsigned r = 0; r < rounds; r++) {
        unsigned n = take_batch(&u->ring, batch);
        if (n == 0) {
            /* The kernel kept completions that did not fit: pull them into the CQ. */
            if (!io_uring_cq_has_overflow(&u->ring))
                break;
            (void)FAULT_HIT(FAULT_CQ_OVERFLOW); /* test builds count it: docs/faults.md */
            if (io_uring_get_events(&u->ring) < 0)
                break;
            continue;
        }
        for (unsigned i = 0; i < n; i++)
            delivered += ur_handle_cqe(loop, u, batch[i].user_data, batch[i].res, batch[i].flags);
    }
    return delivered;
}

static int uring_wait(io_loop *loop, int64_t timeout_ns)
{
    struct uring *u = ur_of(loop);
    ur_kick_parked(loop, u);
    int err = ur_enable(loop, u);
    if (err < 0)
        return err;
    if (u->feats & IO_FEAT_MSG_RING)
        atomic_store_explicit(&u->takes_msg_ring, 1, memory_order_release);
    err = u->rung == &ur_sqpoll_rung ? sqpoll_wait(u, timeout_ns) : submit_and_wait(u, timeout_ns);
    io_core_clock_update(loop);
    /* A timeout, a signal, or a kernel short of memory or CQ room: reap and go round again. */
    if (err < 0 && err != -ETIME && err != -EINTR && err != -EAGAIN && err != -EBUSY)
        return err;
    return reap(loop, u);
}

IO_BACKEND_DEFINE(io_backend_uring, "uring", uring);
