/* uring_ops.c - turning ops into SQEs: arming each kind, io_close as cancel-then-close,
 * io_cancel, re-arming parked recvs, and the per-fd op lists a close walks.
 *
 * Arming only fills SQEs; wait() submits them in one batch.  An arm fails only when no SQE
 * can be had even after submitting what is queued, and then changes nothing in the kernel.
 * Every op on a stream (accept, recv, read, send, sendfile) is on its fd's list from submit to
 * final completion, so a close can stop each one from being continued or re-armed on a
 * descriptor that is gone, and a second op of the same kind is refused (loop.h rule 8).
 * Opens and statx name a path, not an open stream, and are not listed: a cancel reaches them
 * by their own SQE.
 */
#include "uring.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the per-fd op lists ---- */

static int fdtab_grow(struct ur_fdtab *t, uint32_t fd)
{
    uint32_t cap = t->cap ? t->cap : 256;
    while (cap <= fd)
        cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
    io_op **heads = realloc(t->heads, (size_t)cap * sizeof(*heads));
    if (!heads)
        return -ENOMEM;
    memset(heads + t->cap, 0, (size_t)(cap - t->cap) * sizeof(*heads));
    t->heads = heads;
    struct ur_carrier **carriers = realloc(t->carriers, (size_t)cap * sizeof(*carriers));
    if (!carriers)
        return -ENOMEM; /* heads grew already: harmless, the next grow starts from t->cap */
    memset(carriers + t->cap, 0, (size_t)(cap - t->cap) * sizeof(*carriers));
    t->carriers = carriers;
    t->cap = cap;
    return 0;
}

/* Send and sendfile both write the stream: one writer at a time. */
static int same_kind(uint8_t a, uint8_t b)
{
    int a_writes = a == IO_OP_SEND || a == IO_OP_SENDFILE;
    int b_writes = b == IO_OP_SEND || b == IO_OP_SENDFILE;
    return a == b || (a_writes && b_writes);
}

static int fdtab_add(struct ur_fdtab *t, io_op *op)
{
    uint32_t fd = (uint32_t)op->fd;
    if (fd >= t->cap) {
        int err = fdtab_grow(t, fd);
        if (err < 0)
            return err;
    }
    /* One being cancelled no longer counts, as in the reactor, whose cancel ends it at once:
     * the fd may even name a new file by now, closed and reused while the old op ends. */
    for (const io_op *o = t->heads[fd]; o; o = o->next)
        if (same_kind(o->kind, op->kind) && !(o->state & UR_CANCELLING))
            return -EBUSY;
    op->prev = NULL;
    op->next = t->heads[fd];
    if (op->next)
        op->next->prev = op;
    t->heads[fd] = op;
    op->state |= UR_LISTED;
    return 0;
}

void ur_fdtab_remove(struct ur_fdtab *t, io_op *op)
{
    if (!(op->state & UR_LISTED))
        return;
    if (op->prev)
        op->prev->next = op->next;
    else
        t->heads[op->fd] = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->next = op->prev = NULL;
    op->state &= (uint8_t)~UR_LISTED;
}

void ur_fdtab_free(struct ur_fdtab *t)
{
    free(t->heads);
    free(t->carriers);
    *t = (struct ur_fdtab){0};
}

static io_op *fdtab_first(const struct ur_fdtab *t, int fd)
{
    return (uint32_t)fd < t->cap ? t->heads[fd] : NULL;
}

/* ---- SQEs ---- */

/* Submit what is queued so SQ slots come free (an SQPOLL thread frees them in its own time). */
static int sq_flush(io_loop *loop, struct uring *u)
{
    int err = ur_enable(loop, u);
    if (err < 0)
        return err;
    io_uring_submit(&u->ring);
    if (u->setup_flags & IORING_SETUP_SQPOLL)
        io_uring_sqring_wait(&u->ring);
    return 0;
}

/* An SQE, submitting what is queued when the SQ is full; NULL if none comes free.  Its
 * user_data is left from an earlier use: the caller sets it. */
struct io_uring_sqe *ur_get_sqe(io_loop *loop, struct uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe && sq_flush(loop, u) == 0)
        sqe = io_uring_get_sqe(&u->ring);
    return sqe;
}

/* Make sure n SQEs can be had in a row, so a multi-SQE request is all queued or not at all. */
static int sq_reserve(io_loop *loop, struct uring *u, unsigned n)
{
    if (io_uring_sq_space_left(&u->ring) >= n)
        return 0;
    int err = sq_flush(loop, u);
    if (err < 0)
        return err;
    return io_uring_sq_space_left(&u->ring) >= n ? 0 : -EBUSY;
}

/* An SQE working for op: its completion comes back to op (prep_* leave user_data alone). */
static struct io_uring_sqe *op_sqe(io_loop *loop, struct uring *u, io_op *op)
{
    struct io_uring_sqe *sqe = ur_get_sqe(loop, u);
    if (sqe)
        io_uring_sqe_set_data(sqe, op);
    return sqe;
}

/* ---- arming each kind ---- */

int ur_arm_accept(io_loop *loop, struct uring *u, io_op *op)
{
    struct io_uring_sqe *sqe = op_sqe(loop, u, op);
    if (!sqe)
        return -EBUSY;
    int flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    if ((op->flags & IO_MULTISHOT) && (u->feats & IO_FEAT_MULTISHOT_ACCEPT))
        io_uring_prep_multishot_accept(sqe, op->fd, NULL, NULL, flags);
    else
        io_uring_prep_accept(sqe, op->fd, NULL, NULL, flags);
    ur_fault_arm(op, sqe, FAULT_ACCEPT);
    return 0;
}

/* Wait for the fd to be readable: a recv without a buffer ring, or a read the kernel
 * answered with -EAGAIN (a non-blocking fd on a kernel that does not poll it itself). */
static int arm_poll_for(io_loop *loop, struct uring *u, io_op *op, unsigned events)
{
    struct io_uring_sqe *sqe = op_sqe(loop, u, op);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_poll_add(sqe, op->fd, events);
    op->state |= UR_POLLING;
    return 0;
}

int ur_arm_poll(io_loop *loop, struct uring *u, io_op *op)
{
    return arm_poll_for(loop, u, op, POLLIN);
}

/* Wait for the socket to take more: a send or sendfile the kernel answered with -EAGAIN or
 * only in part (a non-blocking socket that the request did not wait on). */
int ur_arm_pollout(io_loop *loop, struct uring *u, io_op *op)
{
    return arm_poll_for(loop, u, op, POLLOUT);
}

/* Start receiving: from the buffer ring, or (without one) by waiting for data first, so an
 * idle connection holds no buffer. */
int ur_arm_recv(io_loop *loop, struct uring *u, io_op *op)
{
    if (!u->bufs.ring)
        return ur_arm_poll(loop, u, op);
    struct io_uring_sqe *sqe = op_sqe(loop, u, op);
    if (!sqe)
        return -EBUSY;
    if ((op->flags & IO_MULTISHOT) && (u->feats & IO_FEAT_MULTISHOT_RECV))
        io_uring_prep_recv_multishot(sqe, op->fd, NULL, 0, 0);
    else
        io_uring_prep_recv(sqe, op->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = UR_BGID;
    ur_fault_arm(op, sqe, FAULT_RECV);
    return 0;
}

/* Without a buffer ring: receive into pool buffer id, once, without waiting (the poll said
 * data is there; if it is gone the recv says -EAGAIN and gives the buffer back). */
int ur_recv_into(io_loop *loop, struct uring *u, io_op *op, uint32_t id)
{
    struct io_uring_sqe *sqe = op_sqe(loop, u, op);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_recv(sqe, op->fd, io_core_buf_data(loop, id), loop->buf_size, MSG_DONTWAIT);
    op->u.backend_scratch[UR_SCRATCH_OWN_BUF] = id;
    op->state |= UR_OWN_BUF;
    return 0;
}

uint32_t ur_recv_own_buf(const io_op *op)
{
    return (uint32_t)op->u.backend_scratch[UR_SCRATCH_OWN_BUF];
}

int ur_arm_read(io_loop *loop, struct uring *u, io_op *op)
{
    struct io_uring_sqe *sqe = op_sqe(loop, u, op);
    if (!sqe)
        return -EBUSY;
    /* Offset -1 is the kernel's "at the file position" (IORING_FEAT_RW_CUR_POS). */
    uint64_t offset = op->u.read.offset == IO_OFFSET_CURRENT ? (uint64_t)-1 : op->u.read.offset;
    io_uring_prep_read(sqe, op->fd, op->u.read.buf, (unsigned)op->u.read.len, offset);
    return 0;
}

/* Send what is left of the iov.  MSG_WAITALL lets the kernel continue a short send itself;
 * what it still returns short is continued from uring_cqe.c.  One buffer goes as a plain
 * SEND: SENDMSG would make the kernel copy and check a msghdr and an iovec every time. */
int ur_arm_send(io_loop *loop, struct uring *u, io_op *op)
{
    struct io_uring_sqe *sqe = op_sqe(loop, u, op);
    if (!sqe)
        return -EBUSY;
    if (op->u.send.iovcnt == 1) {
        io_uring_prep_send(sqe, op->fd, op->u.send.iov->iov_base, op->u.send.iov->iov_len,
                           MSG_NOSIGNAL | MSG_WAITALL);
    } else {
        op->u.send.msg.msg_iov = op->u.send.iov;
        op->u.send.msg.msg_iovlen = (size_t)op->u.send.iovcnt;
        io_uring_prep_sendmsg(sqe, op->fd, &op->u.send.msg, MSG_NOSIGNAL | MSG_WAITALL);
    }
    ur_fault_send(op, sqe);
    return 0;
}

/* ---- opens and statx: kernel ops, or the syscall at submit where the kernel lacks them ---- */

static int arm_openat2(io_loop *loop, struct uring *u, io_op *op)
{
    if (!u->kernel_openat2) {
        io_core_complete_later(loop, op, io_core_openat2_now(op));
        return 0;
    }
    struct io_uring_sqe *sqe = op_sqe(loop, u, op);
    if (!sqe)
        return -EBUSY;
    /* liburing 2.3 takes how without const; the kernel only reads it. */
    io_uring_prep_openat2(sqe, op->u.file.dirfd, op->u.file.path, (struct open_how *)op->u.file.how);
    return 0;
}

static int arm_statx(io_loop *loop, struct uring *u, io_op *op)
{
    if (!u->kernel_statx) {
        io_core_complete_later(loop, op, io_core_statx_now(op));
        return 0;
    }
    struct io_uring_sqe *sqe = op_sqe(loop, u, op);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_statx(sqe, op->u.file.dirfd, op->u.file.path, op->u.file.flags, op->u.file.mask,
                        op->u.file.out);
    return 0;
}

/* ---- close and cancel ---- */

/* End a parked recv now: nothing of it is in the kernel. */
static void end_parked(io_loop *loop, struct uring *u, io_op *op)
{
    ur_bufs_unpark(&u->bufs, op);
    ur_fdtab_remove(&u->fds, op);
    op->state &= (uint8_t)~IO_STATE_BACKEND_MASK;
    io_core_complete_later(loop, op, -ECANCELED);
}

/* A cancel by fd finds the requests working on the fd itself; a sendfile's load works on its
 * file and pipe instead, so a sendfile is cancelled by its own name as well. */
static int needs_own_cancel(const io_op *op, int by_fd)
{
    return !(op->state & UR_PARKED) && (!by_fd || op->kind == IO_OP_SENDFILE);
}

static unsigned count_own_cancels(const struct uring *u, int fd, int by_fd)
{
    unsigned n = 0;
    for (const io_op *op = fdtab_first(&u->fds, fd); op; op = op->next)
        n += (unsigned)needs_own_cancel(op, by_fd);
    return n;
}

/* Rule 6: every op on the fd is cancelled (one request by fd, or one per op), then the fd is
 * closed; the SQEs run in queue order, so the cancels come first. */
static int submit_close(io_loop *loop, struct uring *u, io_op *op)
{
    int fd = op->fd;
    int by_fd = (u->feats & IO_FEAT_CANCEL_FD) != 0;
    unsigned cancels = (unsigned)by_fd + count_own_cancels(u, fd, by_fd);
    int err = sq_reserve(loop, u, cancels + 1);
    if (err < 0)
        return err;
    io_op *next;
    for (io_op *o = fdtab_first(&u->fds, fd); o; o = next) {
        next = o->next;
        o->state |= UR_CANCELLING | UR_FD_CLOSING;
        if (o->state & UR_PARKED)
            end_parked(loop, u, o);
    }
    if (by_fd) {
        struct io_uring_sqe *sqe = ur_get_sqe(loop, u);
        io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, 0);
    }
    for (io_op *o = fdtab_first(&u->fds, fd); o; o = o->next) {
        if (!needs_own_cancel(o, by_fd))
            continue;
        struct io_uring_sqe *sqe = ur_get_sqe(loop, u);
        io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)o, 0);
        io_uring_sqe_set_data64(sqe, 0);
    }
    struct io_uring_sqe *sqe = op_sqe(loop, u, op);
    io_uring_prep_close(sqe, fd);
    return 0;
}

int ur_submit_op(io_loop *loop, struct uring *u, io_op *op)
{
    switch (op->kind) {
    case IO_OP_CLOSE: return submit_close(loop, u, op);
    case IO_OP_OPENAT2: return arm_openat2(loop, u, op);
    case IO_OP_STATX: return arm_statx(loop, u, op);
    default: break;
    }
    int err = fdtab_add(&u->fds, op);
    if (err < 0)
        return err;
    switch (op->kind) {
    case IO_OP_ACCEPT: err = ur_arm_accept(loop, u, op); break;
    case IO_OP_RECV: err = ur_arm_recv(loop, u, op); break;
    case IO_OP_READ: err = ur_arm_read(loop, u, op); break;
    case IO_OP_SEND: err = ur_arm_send(loop, u, op); break;
    case IO_OP_SENDFILE: err = ur_start_sendfile(loop, u, op); break;
    default: err = -EINVAL;
    }
    if (err < 0) {
        ur_fdtab_remove(&u->fds, op);
        op->state &= (uint8_t)~IO_STATE_BACKEND_MASK;
    }
    return err;
}

int ur_cancel_op(io_loop *loop, struct uring *u, io_op *op)
{
    if (op->state & UR_PARKED) {
        end_parked(loop, u, op);
        return 0;
    }
    if (op->state & UR_CANCELLING)
        return 0; /* its cancel is already on the way */
    struct io_uring_sqe *sqe = ur_get_sqe(loop, u);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
    io_uring_sqe_set_data64(sqe, 0);
    op->state |= UR_CANCELLING;
    return 0;
}

/* Re-arm parked recvs, oldest first, as many as there are buffers to receive into. */
void ur_kick_parked(io_loop *loop, struct uring *u)
{
    uint32_t budget = ur_bufs_available(&u->bufs);
    io_op *op;
    while (budget && (op = ur_bufs_pop_parked(&u->bufs))) {
        budget--;
        int err;
        if (u->bufs.ring) {
            err = ur_arm_recv(loop, u, op);
        } else {
            uint32_t id;
            err = ur_bufs_take(&u->bufs, &id);
            if (err == 0 && (err = ur_recv_into(loop, u, op, id)) < 0)
                ur_bufs_put(&u->bufs, loop, id);
        }
        if (err < 0) {
            ur_bufs_park_first(&u->bufs, op);
            return;
        }
    }
}
