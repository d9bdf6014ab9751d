/* uring_sendfile.c - io_sendfile on the proactor: the file's bytes reach the socket through a
 * carrier (uring.h), with one request of the op in the kernel at a time.
 *
 * With splice (IO_FEAT_SPLICE) a chunk is spliced from the file into an empty pipe (a load),
 * then from the pipe into the socket until the pipe is empty (sends), then the next chunk is
 * loaded.  Without splice the chunk is read into a bounce buffer and sent with SENDMSG.  A
 * send the socket takes only in part, or refuses with -EAGAIN (the socket is non-blocking, and
 * neither splice nor a worker thread waits on it), waits for POLLOUT and goes on with what is
 * held.  A load of 0 bytes means the file ended: the op completes with the bytes sent.
 *
 * The steps are not linked SQEs: a linked request looks its fd up only when it starts, so a
 * send started after an io_close could write into whatever file reuses the socket's number.
 * With one request at a time the op's state is just the carrier's `held`: 0 while loading,
 * the bytes still to send otherwise, and UR_POLLING while the socket is awaited.
 *
 * Carriers are reused, so steady state creates no pipe.  One left holding bytes by an error
 * or a cancel is closed instead: no stale byte may reach the next socket.  The bounce buffer
 * is the backend's own, not the receive pool's: a slow reader would otherwise hold a receive
 * buffer for as long as its transfer takes.
 */
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define PIPE_SIZE_WANTED (256u * 1024) /* asked of F_SETPIPE_SZ; refused past the user's limit */
#define BOUNCE_SIZE (64u * 1024)
#define IDLE_CARRIERS_KEPT 16u

static void carrier_destroy(struct ur_carrier *c)
{
    if (c->pipe[0] >= 0) {
        close(c->pipe[0]);
        close(c->pipe[1]);
    }
    free(c->bounce);
    free(c);
}

/* A pipe as large as the kernel allows this user (the default size when over its limit). */
static int carrier_pipe(struct ur_carrier *c)
{
    if (pipe2(c->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        return -errno;
    (void)fcntl(c->pipe[1], F_SETPIPE_SZ, (int)PIPE_SIZE_WANTED);
    int size = fcntl(c->pipe[1], F_GETPIPE_SZ);
    if (size <= 0)
        return size < 0 ? -errno : -EIO;
    c->size = (uint32_t)size;
    return 0;
}

static int carrier_create(const struct uring *u, struct ur_carrier **out)
{
    struct ur_carrier *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->pipe[0] = c->pipe[1] = -1;
    int err = 0;
    if (u->feats & IO_FEAT_SPLICE) {
        err = carrier_pipe(c);
    } else {
        c->bounce = malloc(BOUNCE_SIZE);
        c->size = BOUNCE_SIZE;
        err = c->bounce ? 0 : -ENOMEM;
    }
    if (err < 0) {
        carrier_destroy(c);
        return err;
    }
    *out = c;
    return 0;
}

/* An idle carrier, or a new one, listed under the op's socket fd (fdtab_add grew the table). */
static int carrier_take(struct uring *u, io_op *op, struct ur_carrier **out)
{
    struct ur_carrier *c = u->carriers.idle;
    if (c) {
        u->carriers.idle = c->next;
        u->carriers.idle_count--;
    } else {
        int err = carrier_create(u, &c);
        if (err < 0)
            return err;
    }
    struct ur_carrier **list = &u->fds.carriers[op->fd];
    c->owner = op;
    c->held = c->head = 0;
    c->next = *list;
    *list = c;
    *out = c;
    return 0;
}

static struct ur_carrier *carrier_of(const struct uring *u, const io_op *op)
{
    struct ur_carrier *c = u->fds.carriers[op->fd];
    while (c->owner != op)
        c = c->next;
    return c;
}

void ur_sendfile_release(struct uring *u, io_op *op)
{
    struct ur_carrier **link = &u->fds.carriers[op->fd];
    while (*link && (*link)->owner != op)
        link = &(*link)->next;
    struct ur_carrier *c = *link;
    if (!c)
        return;
    *link = c->next;
    if ((c->held && c->pipe[0] >= 0) || u->carriers.idle_count >= IDLE_CARRIERS_KEPT) {
        carrier_destroy(c);
        return;
    }
    c->owner = NULL;
    c->next = u->carriers.idle;
    u->carriers.idle = c;
    u->carriers.idle_count++;
}

static void carrier_list_free(struct ur_carrier *c)
{
    while (c) {
        struct ur_carrier *next = c->next;
        carrier_destroy(c);
        c = next;
    }
}

void ur_carriers_free(struct uring *u)
{
    for (uint32_t fd = 0; fd < u->fds.cap && u->fds.carriers; fd++)
        carrier_list_free(u->fds.carriers[fd]);
    carrier_list_free(u->carriers.idle);
    u->carriers = (struct ur_carriers){0};
}

/* ---- the steps ---- */

/* The next chunk of the file into the (empty) carrier. */
static int arm_load(io_loop *loop, struct uring *u, io_op *op, const struct ur_carrier *c)
{
    struct io_uring_sqe *sqe = ur_get_sqe(loop, u);
    if (!sqe)
        return -EBUSY;
    size_t len = op->u.sendfile.len;
    unsigned want = len < c->size ? (unsigned)len : c->size;
    if (c->pipe[0] >= 0)
        io_uring_prep_splice(sqe, op->u.sendfile.file_fd, (int64_t)op->u.sendfile.offset, c->pipe[1], -1, want,
                             SPLICE_F_MOVE);
    else
        io_uring_prep_read(sqe, op->u.sendfile.file_fd, c->bounce, want, op->u.sendfile.offset);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

/* What the carrier holds into the socket; MORE while the file has bytes after these. */
static int arm_send(io_loop *loop, struct uring *u, io_op *op, struct ur_carrier *c)
{
    struct io_uring_sqe *sqe = ur_get_sqe(loop, u);
    if (!sqe)
        return -EBUSY;
    int more = op->u.sendfile.len > c->held;
    if (c->pipe[0] >= 0) {
        io_uring_prep_splice(sqe, c->pipe[0], -1, op->fd, -1, c->held, SPLICE_F_MOVE | (more ? SPLICE_F_MORE : 0));
    } else {
        c->iov = (struct iovec){ .iov_base = c->bounce + c->head, .iov_len = c->held };
        c->msg = (struct msghdr){ .msg_iov = &c->iov, .msg_iovlen = 1 };
        io_uring_prep_sendmsg(sqe, op->fd, &c->msg, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    }
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

int ur_start_sendfile(io_loop *loop, struct uring *u, io_op *op)
{
    struct ur_carrier *c;
    int err = carrier_take(u, op, &c);
    if (err < 0)
        return err;
    err = arm_load(loop, u, op, c);
    if (err < 0)
        ur_sendfile_release(u, op);
    return err;
}

static int sent_so_far(const io_op *op)
{
    return (int)op->u.sendfile.done; /* len <= INT_MAX (loop.h) */
}

/* A step armed, or the op ended by the error arming it. */
static int armed_or_end(io_loop *loop, struct uring *u, io_op *op, int err)
{
    return err == 0 ? 0 : ur_end_op(loop, u, op, err);
}

static int on_loaded(io_loop *loop, struct uring *u, io_op *op, struct ur_carrier *c, int res)
{
    if (res > 0) {
        c->held = (uint32_t)res;
        c->head = 0;
    }
    if (op->state & UR_CANCELLING)
        return ur_end_op(loop, u, op, -ECANCELED);
    if (res < 0)
        return ur_end_op(loop, u, op, res);
    if (res == 0) /* the file ended first */
        return ur_end_op(loop, u, op, sent_so_far(op));
    return armed_or_end(loop, u, op, arm_send(loop, u, op, c));
}

static int on_sent(io_loop *loop, struct uring *u, io_op *op, struct ur_carrier *c, int res)
{
    if (res > 0) {
        c->held -= (uint32_t)res;
        c->head += (uint32_t)res;
        op->u.sendfile.done += (size_t)res;
        op->u.sendfile.offset += (uint64_t)res;
        op->u.sendfile.len -= (size_t)res;
    }
    if (op->state & UR_CANCELLING)
        return ur_end_op(loop, u, op, -ECANCELED);
    if (res == 0) /* a stream socket never takes nothing of a non-empty send */
        return ur_end_op(loop, u, op, -EIO);
    if (res < 0 && res != -EAGAIN)
        return ur_end_op(loop, u, op, res);
    if (op->u.sendfile.len == 0)
        return ur_end_op(loop, u, op, sent_so_far(op));
    if (c->held == 0)
        return armed_or_end(loop, u, op, arm_load(loop, u, op, c));
    /* Taken in part or not at all: the socket is full, wait until it takes more. */
    return armed_or_end(loop, u, op, ur_arm_pollout(loop, u, op));
}

static int on_writable(io_loop *loop, struct uring *u, io_op *op, struct ur_carrier *c, int res)
{
    op->state &= (uint8_t)~UR_POLLING;
    if (res < 0)
        return ur_end_op(loop, u, op, res);
    if (op->state & UR_CANCELLING)
        return ur_end_op(loop, u, op, -ECANCELED);
    return armed_or_end(loop, u, op, arm_send(loop, u, op, c));
}

int ur_on_sendfile(io_loop *loop, struct uring *u, io_op *op, int res)
{
    struct ur_carrier *c = carrier_of(u, op);
    if (op->state & UR_POLLING)
        return on_writable(loop, u, op, c, res);
    if (c->held == 0)
        return on_loaded(loop, u, op, c, res);
    return on_sent(loop, u, op, c, res);
}
