/* reactor_submit.c - how the reactor takes an op in, takes it back (cancel) and closes an fd.
 *
 * Nothing here calls a callback (loop.h rule 1): a result known now goes through
 * io_core_complete_later.  A recv or accept is not tried here either; when the fd is not known
 * to be drained it goes on the ready list, so the attempt runs at the top of the next wait,
 * where a multishot op may complete with IO_CQE_MORE.  A send or sendfile is tried at once,
 * and only what the socket does not take waits for EPOLLOUT.  Opens and statx run at once
 * (reactor_file.c): they hold no slot, since they name a path, not a stream.
 */
#include "reactor.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

static int slot_of(uint8_t kind)
{
    switch (kind) {
    case IO_OP_ACCEPT: return EP_SLOT_ACCEPT;
    case IO_OP_RECV: return EP_SLOT_RECV;
    case IO_OP_READ: return EP_SLOT_READ;
    case IO_OP_SEND:
    case IO_OP_SENDFILE: return EP_SLOT_SEND;
    default: return -1;
    }
}

/* Queue an op's final completion; a recv that ends this way lends no buffer. */
static void end_later(io_loop *loop, io_op *op, int res)
{
    if (op->kind == IO_OP_RECV)
        op->buf = (io_buf){0};
    io_core_complete_later(loop, op, res);
}

void ep_slot_clear(struct ep_state *st, int fd, struct ep_fd *f, enum ep_slot slot)
{
    f->op[slot] = NULL;
    if (slot == EP_SLOT_RECV)
        f->starved = false;
    ep_interest_changed(st, fd, f);
}

void ep_fd_retire(io_loop *loop, struct ep_state *st, int fd, struct ep_fd *f, int res)
{
    if (f->kernel_events)
        st->poller->unwatch(st, fd);
    for (int slot = 0; slot < EP_SLOTS; slot++) {
        io_op *op = f->op[slot];
        if (op) {
            f->op[slot] = NULL;
            end_later(loop, op, res);
        }
    }
    f->starved = false;
    ep_fd_forget(f);
}

/* Put op in its slot.  On an fd that went idle, the caller may have closed the number and
 * opened another file under it since: the next registration pass checks (ep_register). */
static void claim(struct ep_fd *f, enum ep_slot slot, io_op *op)
{
    if (f->idle) {
        f->idle = false;
        f->verify = true;
        f->mode_known = false;
    }
    f->op[slot] = op;
}

/* Accept only runs after readiness on a blocking listener: a drain would block the loop.  A
 * stream listener's connections may stop reading at a short read in ET (see reactor_io.c). */
static int learn_listener_mode(struct ep_fd *f, int fd)
{
    if (f->mode_known)
        return 0;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -errno;
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return -errno;
    f->mode_known = true;
    f->blocking = !(flags & O_NONBLOCK);
    f->stream = type == SOCK_STREAM;
    return 0;
}

static int submit_readable(io_loop *loop, struct ep_state *st, io_op *op, enum ep_slot slot)
{
    struct ep_fd *f = ep_table_get(&st->table, op->fd);
    if (!f)
        return -ENOMEM;
    if (f->op[slot])
        return -EBUSY;
    claim(f, slot, op);
    if (slot == EP_SLOT_ACCEPT) {
        int err = learn_listener_mode(f, op->fd);
        if (err < 0) {
            ep_slot_clear(st, op->fd, f, slot);
            io_core_complete_later(loop, op, err);
            return 0;
        }
    }
    if (slot == EP_SLOT_RECV)
        f->starved = false;
    if (!f->rd_dry && !(slot == EP_SLOT_ACCEPT && f->blocking))
        ep_list_push(st, EP_LIST_READY, op->fd, f);
    ep_interest_changed(st, op->fd, f);
    return 0;
}

/* Registering now tells the two kinds of fd apart: epoll refuses a regular file (EPERM), which
 * is read at once (it is always "ready"); anything else waits for readiness.  (poll and select
 * take a regular file, and report it ready on the next wait.) */
static int submit_read(io_loop *loop, struct ep_state *st, io_op *op)
{
    struct ep_fd *f = ep_table_get(&st->table, op->fd);
    if (!f)
        return -ENOMEM;
    if (f->op[EP_SLOT_READ])
        return -EBUSY;
    claim(f, EP_SLOT_READ, op);
    if (f->kernel_events && !f->verify) {
        ep_interest_changed(st, op->fd, f);
        return 0;
    }
    int err = ep_register(st, op->fd, f);
    if (err == 0)
        return 0;
    ep_slot_clear(st, op->fd, f, EP_SLOT_READ);
    io_core_complete_later(loop, op, err == -EPERM ? ep_read_now(op) : err);
    return 0;
}

static int submit_write(io_loop *loop, struct ep_state *st, io_op *op)
{
    struct ep_fd *f = ep_table_get(&st->table, op->fd);
    if (!f)
        return -ENOMEM;
    if (f->op[EP_SLOT_SEND])
        return -EBUSY;
    int progress = ep_write_progress(op->fd, op);
    if (progress != 0) {
        io_core_complete_later(loop, op, ep_write_result(op, progress));
        return 0;
    }
    claim(f, EP_SLOT_SEND, op);
    ep_interest_changed(st, op->fd, f);
    return 0;
}

static int submit_close(io_loop *loop, struct ep_state *st, io_op *op)
{
    struct ep_fd *f = ep_table_find(&st->table, op->fd);
    if (f)
        ep_fd_retire(loop, st, op->fd, f, -ECANCELED);
    /* Linux releases the fd even when close says EINTR: retrying could close another file. */
    int res = close(op->fd) < 0 && errno != EINTR ? -errno : 0;
    io_core_complete_later(loop, op, res);
    return 0;
}

int reactor_submit(io_loop *loop, io_op *op)
{
    struct ep_state *st = loop->backend_data;
    switch (op->kind) {
    case IO_OP_ACCEPT: return submit_readable(loop, st, op, EP_SLOT_ACCEPT);
    case IO_OP_RECV: return submit_readable(loop, st, op, EP_SLOT_RECV);
    case IO_OP_READ: return submit_read(loop, st, op);
    case IO_OP_SEND:
    case IO_OP_SENDFILE: return submit_write(loop, st, op);
    case IO_OP_CLOSE: return submit_close(loop, st, op);
    case IO_OP_OPENAT2: io_core_complete_later(loop, op, io_core_openat2_now(op)); return 0;
    case IO_OP_STATX: io_core_complete_later(loop, op, io_core_statx_now(op)); return 0;
    default: return -EINVAL;
    }
}

int reactor_cancel(io_loop *loop, io_op *op)
{
    struct ep_state *st = loop->backend_data;
    int slot = slot_of(op->kind);
    struct ep_fd *f = slot < 0 ? NULL : ep_table_find(&st->table, op->fd);
    if (!f || f->op[slot] != op)
        return -ENOENT;
    ep_slot_clear(st, op->fd, f, (enum ep_slot)slot);
    ep_fd_note_idle(f);
    end_later(loop, op, -ECANCELED);
    return 0;
}
