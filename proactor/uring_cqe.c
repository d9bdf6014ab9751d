/* uring_cqe.c - what one CQE means for its op, kept to loop.h's rules on every path.
 *
 * A completion is handed to the caller (with IO_CQE_MORE while the op goes on), continued
 * (the rest of a short send, a read after its poll), re-armed (a multishot op the kernel
 * ended early or that is emulated with single shots), or parked (a recv that found the pool
 * empty: -ENOBUFS never reaches the caller).  An op is ended (final completion) only once no
 * request of it is left in the kernel, so no later CQE can name freed memory.  An op marked
 * UR_CANCELLING is neither continued nor re-armed: it ends with -ECANCELED instead.
 * -EAGAIN never reaches the caller of an accept, recv, read or send: a request the kernel ran
 * from a worker thread on a non-blocking socket may give up with it instead of waiting (under
 * load, now and then), so the op polls for readiness and goes on.
 */
#include "uring.h"

#include <errno.h>
#include <limits.h>

typedef int (*rearm_fn)(io_loop *loop, struct uring *u, io_op *op);

int ur_end_op(io_loop *loop, struct uring *u, io_op *op, int res)
{
    if (op->kind == IO_OP_SENDFILE)
        ur_sendfile_release(u, op);
    ur_fdtab_remove(&u->fds, op);
    op->state &= (uint8_t)~IO_STATE_BACKEND_MASK;
    io_core_complete(loop, op, res, 0);
    return 1;
}

static int cancelling(const io_op *op)
{
    return (op->state & UR_CANCELLING) != 0;
}

/* A result of a multishot op whose kernel request is over though the op is not: pass it on
 * with IO_CQE_MORE and arm again, or, when cancelled meanwhile, pass it on and end the op. */
static int continue_multishot(io_loop *loop, struct uring *u, io_op *op, int res, rearm_fn rearm)
{
    int end = -ECANCELED;
    if (!cancelling(op)) {
        end = rearm(loop, u, op);
        if (end == 0) {
            io_core_complete(loop, op, res, IO_CQE_MORE);
            return 1;
        }
    }
    io_core_complete(loop, op, res, IO_CQE_MORE);
    return 1 + ur_end_op(loop, u, op, end);
}

/* The op's readiness poll fired: carry on with next (-ECANCELED when cancelled meanwhile). */
static int after_poll(io_loop *loop, struct uring *u, io_op *op, int res, rearm_fn next)
{
    op->state &= (uint8_t)~UR_POLLING;
    if (res < 0)
        return ur_end_op(loop, u, op, res);
    if (cancelling(op))
        return ur_end_op(loop, u, op, -ECANCELED);
    int err = next(loop, u, op);
    return err == 0 ? 0 : ur_end_op(loop, u, op, err);
}

/* The kernel gave up on a request it could not finish now: wait for readiness, then retry. */
static int wait_ready(io_loop *loop, struct uring *u, io_op *op, rearm_fn poll)
{
    if (cancelling(op))
        return ur_end_op(loop, u, op, -ECANCELED);
    int err = poll(loop, u, op);
    return err == 0 ? 0 : ur_end_op(loop, u, op, err);
}

/* Failures that concern one dying connection, not the listener: accept again, as the
 * reactor does, single-shot or not. */
static int accept_error_is_transient(int res)
{
    return res == -EINTR || res == -ECONNABORTED;
}

static int on_accept(io_loop *loop, struct uring *u, io_op *op, int res, unsigned cflags)
{
    if (op->state & UR_POLLING)
        return after_poll(loop, u, op, res, ur_arm_accept);
    if (cflags & IORING_CQE_F_MORE) {
        io_core_complete(loop, op, res, IO_CQE_MORE);
        return 1;
    }
    if (res == -EAGAIN)
        return wait_ready(loop, u, op, ur_arm_poll);
    if (accept_error_is_transient(res) && !cancelling(op)) {
        int err = ur_arm_accept(loop, u, op);
        if (err == 0)
            return 0;
        res = err;
    }
    if (res >= 0 && (op->flags & IO_MULTISHOT))
        return continue_multishot(loop, u, op, res, ur_arm_accept);
    return ur_end_op(loop, u, op, res);
}

/* Data in pool buffer id: the caller borrows it (rule 5). */
static int recv_data(io_loop *loop, struct uring *u, io_op *op, int res, uint32_t id, int kernel_more)
{
    op->buf = (io_buf){ .data = io_core_buf_data(loop, id), .id = id };
    if (!(op->flags & IO_MULTISHOT))
        return ur_end_op(loop, u, op, res);
    if (kernel_more) {
        io_core_complete(loop, op, res, IO_CQE_MORE);
        return 1;
    }
    return continue_multishot(loop, u, op, res, ur_arm_recv);
}

/* The kernel had no buffer for data that is waiting: wait for one, losing nothing. */
static int recv_starved(io_loop *loop, struct uring *u, io_op *op)
{
    if (cancelling(op))
        return ur_end_op(loop, u, op, -ECANCELED);
    ur_bufs_grow(&u->bufs, loop); /* the load wants more buffers than circulate: it gets them */
    ur_bufs_park(&u->bufs, op);
    return 0;
}

/* A recv that selected its buffer from the ring (single or multishot). */
static int on_recv_ring(io_loop *loop, struct uring *u, io_op *op, int res, unsigned cflags)
{
    uint32_t id = cflags >> IORING_CQE_BUFFER_SHIFT;
    if (cflags & IORING_CQE_F_BUFFER) {
        u->bufs.lent++;
        if (res <= 0) { /* a buffer taken for nothing goes straight back */
            ur_bufs_put(&u->bufs, loop, id);
            cflags &= ~IORING_CQE_F_BUFFER;
        }
    }
    if (cflags & IORING_CQE_F_MORE) /* still armed: only data is news to the caller */
        return (res > 0 && (cflags & IORING_CQE_F_BUFFER)) ? recv_data(loop, u, op, res, id, 1) : 0;
    if (res == -ENOBUFS)
        return recv_starved(loop, u, op);
    if (res == -EAGAIN)
        return wait_ready(loop, u, op, ur_arm_poll);
    if (res <= 0)
        return ur_end_op(loop, u, op, res);
    if (!(cflags & IORING_CQE_F_BUFFER))
        return ur_end_op(loop, u, op, -EIO); /* data without a buffer: the kernel broke its word */
    return recv_data(loop, u, op, res, id, 0);
}

/* Without a ring: the socket is readable, so take a buffer (or wait for one) and receive.
 * With one, the poll was a recv's wait after -EAGAIN: arm the recv again. */
static int on_recv_readable(io_loop *loop, struct uring *u, io_op *op, int res)
{
    if (u->bufs.ring)
        return after_poll(loop, u, op, res, ur_arm_recv);
    op->state &= (uint8_t)~UR_POLLING;
    if (res < 0)
        return ur_end_op(loop, u, op, res);
    if (cancelling(op))
        return ur_end_op(loop, u, op, -ECANCELED);
    uint32_t id;
    /* Recvs already waiting for a buffer go first. */
    if (u->bufs.parked_head || ur_bufs_take(&u->bufs, &id) < 0) {
        ur_bufs_park(&u->bufs, op);
        return 0;
    }
    int err = ur_recv_into(loop, u, op, id);
    if (err == 0)
        return 0;
    ur_bufs_put(&u->bufs, loop, id);
    return ur_end_op(loop, u, op, err);
}

/* Without a ring: the recv into a buffer the op took itself. */
static int on_recv_own(io_loop *loop, struct uring *u, io_op *op, int res)
{
    uint32_t id = ur_recv_own_buf(op);
    op->state &= (uint8_t)~UR_OWN_BUF;
    if (res > 0)
        return recv_data(loop, u, op, res, id, 0);
    ur_bufs_put(&u->bufs, loop, id);
    if (res == -EAGAIN) { /* the data went away (or was never there): wait again, holding nothing */
        if (cancelling(op))
            return ur_end_op(loop, u, op, -ECANCELED);
        res = ur_arm_poll(loop, u, op);
        if (res == 0)
            return 0;
    }
    return ur_end_op(loop, u, op, res);
}

static int on_recv(io_loop *loop, struct uring *u, io_op *op, int res, unsigned cflags)
{
    if (op->state & UR_POLLING)
        return on_recv_readable(loop, u, op, res);
    if (op->state & UR_OWN_BUF)
        return on_recv_own(loop, u, op, res);
    return on_recv_ring(loop, u, op, res, cflags);
}

/* A read the kernel answered with -EAGAIN (a non-blocking fd it would not poll itself)
 * waits for readability, then reads again. */
static int on_read(io_loop *loop, struct uring *u, io_op *op, int res)
{
    if (op->state & UR_POLLING)
        return after_poll(loop, u, op, res, ur_arm_read);
    if (res == -EAGAIN)
        return wait_ready(loop, u, op, ur_arm_poll);
    return ur_end_op(loop, u, op, res);
}

static int on_send(io_loop *loop, struct uring *u, io_op *op, int res)
{
    if (op->state & UR_POLLING)
        return after_poll(loop, u, op, res, ur_arm_send);
    if (res == -EAGAIN)
        return wait_ready(loop, u, op, ur_arm_pollout);
    if (res < 0)
        return ur_end_op(loop, u, op, res);
    op->u.send.done += (size_t)res;
    if (!io_core_send_advance(op, (size_t)res)) {
        size_t done = op->u.send.done;
        return ur_end_op(loop, u, op, done > INT_MAX ? INT_MAX : (int)done);
    }
    if (res == 0) /* a stream socket never takes nothing of a non-empty send */
        return ur_end_op(loop, u, op, -EIO);
    if (cancelling(op))
        return ur_end_op(loop, u, op, -ECANCELED);
    int err = ur_arm_send(loop, u, op);
    return err == 0 ? 0 : ur_end_op(loop, u, op, err);
}

int ur_handle_cqe(io_loop *loop, struct uring *u, uint64_t user_data, int res, unsigned cflags)
{
    /* 0: our own cancels; LIBURING_UDATA_TIMEOUT: liburing's wait timeout on old kernels. */
    if (user_data == 0 || user_data == LIBURING_UDATA_TIMEOUT)
        return 0;
    ur_fault_cqe(&user_data, &res, &cflags);
    if (user_data & UR_TAG_MASK)
        return ur_on_post_cqe(loop, user_data, res);
    io_op *op = (io_op *)(uintptr_t)user_data;
    switch (op->kind) {
    case IO_OP_ACCEPT: return on_accept(loop, u, op, res, cflags);
    case IO_OP_RECV: return on_recv(loop, u, op, res, cflags);
    case IO_OP_READ: return on_read(loop, u, op, res);
    case IO_OP_SEND: return on_send(loop, u, op, res);
    case IO_OP_SENDFILE: return ur_on_sendfile(loop, u, op, res);
    case IO_OP_CLOSE:
    case IO_OP_OPENAT2:
    case IO_OP_STATX: return ur_end_op(loop, u, op, res);
    default: return 0;
    }
}
