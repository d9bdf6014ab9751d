/* reactor_io.c - the syscalls the reactor runs once an fd is ready, and the completions they make.
 *
 * Every function here may call back into the caller (io_core_complete), and a callback may
 * cancel the op, close the fd, or accept a new connection that reuses the number.  So after
 * each completion the code checks the fd's generation and slot before it touches them again.
 * Edge-triggered, a read side runs until EAGAIN or its budget; level-triggered, one syscall
 * per event.  rd_dry records that the fd is drained: an EAGAIN, or a short read.  In LT a
 * short read is only a hint (the poller reports what is left).  In ET it is trusted only on a
 * byte stream whose peer has not shut down (as nginx does): a stream recv returns all that
 * is queued up to its length, and every later arrival, FIN included, raises a new edge; a
 * FIN that came before the read shows as EPOLLRDHUP, and then the read goes on to EOF.
 * Elsewhere (datagrams, fds of unknown type) ET drains to EAGAIN.
 */
#include "reactor.h"

#include "fault.h"

#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

enum ep_outcome {
    EP_BLOCKED,  /* would block, or no buffer: the op stays armed and waits */
    EP_ARMED,    /* delivered with IO_CQE_MORE: the op may run again */
    EP_FINISHED, /* delivered its final completion */
};

static bool would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

/* The op's final completion: the fd forgets it first, so the callback may resubmit it. */
static void finish(io_loop *loop, struct ep_state *st, int fd, struct ep_fd *f, enum ep_slot slot,
                   int res)
{
    io_op *op = f->op[slot];
    uint32_t gen = f->gen;
    ep_slot_clear(st, fd, f, slot);
    io_core_complete(loop, op, res, 0);
    if (f->gen == gen)
        ep_fd_note_idle(f);
}

/* The number accept returned names a new file: whatever the table remembers under it is
 * stale (the caller closed the old fd itself), and the ops still waiting there can never run.
 * A connection from a stream listener is a byte stream (no table entry: no such knowledge). */
static void adopt_new_fd(io_loop *loop, struct ep_state *st, int nfd, bool stream)
{
    struct ep_fd *f = stream ? ep_table_get(&st->table, nfd) : ep_table_find(&st->table, nfd);
    if (f) {
        ep_fd_retire(loop, st, nfd, f, -EBADF);
        f->stream = stream;
    }
}

static enum ep_outcome accept_once(io_loop *loop, struct ep_state *st, int fd, struct ep_fd *f)
{
    io_op *op = f->op[EP_SLOT_ACCEPT];
    int nfd;
    do
        nfd = FAULT_SYSCALL(FAULT_ACCEPT, accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    while (nfd < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (nfd < 0) {
        if (would_block(errno)) {
            f->rd_dry = true;
            return EP_BLOCKED;
        }
        finish(loop, st, fd, f, EP_SLOT_ACCEPT, -errno);
        return EP_FINISHED;
    }
    adopt_new_fd(loop, st, nfd, f->stream);
    if (!(op->flags & IO_MULTISHOT)) {
        finish(loop, st, fd, f, EP_SLOT_ACCEPT, nfd);
        return EP_FINISHED;
    }
    io_core_complete(loop, op, nfd, IO_CQE_MORE);
    return EP_ARMED;
}

void ep_recv_starve(struct ep_state *st, int fd, struct ep_fd *f)
{
    f->starved = true;
    ep_list_push(st, EP_LIST_STARVED, fd, f);
    ep_interest_changed(st, fd, f);
}

static enum ep_outcome recv_once(io_loop *loop, struct ep_state *st, int fd, struct ep_fd *f)
{
    io_op *op = f->op[EP_SLOT_RECV];
    uint32_t id;
    if (!ep_pool_take(&st->pool, &id)) {
        ep_recv_starve(st, fd, f);
        return EP_BLOCKED;
    }
    char *data = io_core_buf_data(loop, id);
    ssize_t n;
    do
        n = FAULT_SYSCALL(FAULT_RECV, recv(fd, data, loop->buf_size, MSG_DONTWAIT));
    while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : 0;
    if (n <= 0) {
        ep_buf_put(st, id); /* an op holds no buffer while it waits */
        if (would_block(err)) {
            f->rd_dry = true;
            return EP_BLOCKED;
        }
        op->buf = (io_buf){0}; /* EOF and errors lend nothing */
        finish(loop, st, fd, f, EP_SLOT_RECV, -err);
        return EP_FINISHED;
    }
    if ((size_t)n < loop->buf_size && (!st->edge || (f->stream && !f->peer_shut)))
        f->rd_dry = true;
    op->buf = (io_buf){.data = data, .id = id};
    if (!(op->flags & IO_MULTISHOT)) {
        finish(loop, st, fd, f, EP_SLOT_RECV, (int)n);
        return EP_FINISHED;
    }
    uint32_t gen = f->gen;
    io_core_complete(loop, op, (int)n, IO_CQE_MORE);
    /* Bytes are left and the callback kept the last buffer: the next attempt would starve, so
     * starve now, before an LT registration for an event that could not be served. */
    if (f->gen == gen && f->op[EP_SLOT_RECV] == op && !f->rd_dry && !st->pool.free_count)
        ep_recv_starve(st, fd, f);
    return EP_ARMED;
}

typedef enum ep_outcome (*ep_attempt)(io_loop *, struct ep_state *, int, struct ep_fd *);

/* Run attempts on one slot while its multishot op stays armed and the fd is not drained, up to
 * budget; an ET fd that spent its budget goes on the ready list to carry on next turn. */
static int drain(io_loop *loop, struct ep_state *st, int fd, struct ep_fd *f, enum ep_slot slot,
                 ep_attempt attempt, int budget)
{
    io_op *op = f->op[slot];
    uint32_t gen = f->gen;
    int delivered = 0;
    for (int i = 0; i < budget; i++) {
        enum ep_outcome out = attempt(loop, st, fd, f);
        if (out == EP_BLOCKED)
            return delivered;
        delivered++;
        if (out == EP_FINISHED || f->gen != gen || f->op[slot] != op || f->rd_dry || f->starved)
            return delivered;
    }
    if (budget > 1)
        ep_list_push(st, EP_LIST_READY, fd, f);
    return delivered;
}

/* io_read on a pipe, eventfd or signalfd: always registered level-triggered (the fd may be
 * blocking, so the reactor reads only when told it is readable, once). */
static int read_once(io_loop *loop, struct ep_state *st, int fd, struct ep_fd *f)
{
    int res = ep_read_now(f->op[EP_SLOT_READ]);
    if (res < 0 && would_block(-res))
        return 0; /* another reader was quicker: the poller (level) says when there is more */
    finish(loop, st, fd, f, EP_SLOT_READ, res);
    return 1;
}

int ep_service_read(io_loop *loop, struct ep_state *st, int fd, struct ep_fd *f, bool from_event)
{
    uint32_t gen = f->gen;
    int delivered = 0;
    if (f->op[EP_SLOT_ACCEPT] && !f->rd_dry && (from_event || !f->blocking)) {
        int budget = st->edge && !f->blocking ? EP_ET_ACCEPT_BUDGET : 1;
        delivered += drain(loop, st, fd, f, EP_SLOT_ACCEPT, accept_once, budget);
        if (f->gen != gen)
            return delivered;
    }
    if (f->op[EP_SLOT_RECV] && !f->starved && !f->rd_dry) {
        int budget = st->edge ? EP_ET_RECV_BUDGET : 1;
        delivered += drain(loop, st, fd, f, EP_SLOT_RECV, recv_once, budget);
        if (f->gen != gen)
            return delivered;
    }
    if (from_event && f->op[EP_SLOT_READ])
        delivered += read_once(loop, st, fd, f);
    return delivered;
}

/* One buffer goes by send(2): sendmsg(2) would copy and check a msghdr and an iovec too.
 * (A test build may cut the first buffer short, and send that alone: fault.h.) */
static int send_progress(int fd, io_op *op)
{
    while (op->u.send.iovcnt > 0) {
        const struct iovec *iov = op->u.send.iov;
        size_t len = iov->iov_len;
        bool one = FAULT_SHORTEN(FAULT_SEND_SHORT, &len) || op->u.send.iovcnt == 1;
        ssize_t n = FAULT_SYSCALL(FAULT_SEND, one ? send(fd, iov->iov_base, len, MSG_NOSIGNAL | MSG_DONTWAIT)
                                                  : sendmsg(fd, &op->u.send.msg, MSG_NOSIGNAL | MSG_DONTWAIT));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return would_block(errno) ? 0 : -errno;
        }
        op->u.send.done += (size_t)n;
        io_core_send_advance(op, (size_t)n);
    }
    return 1;
}

int ep_write_progress(int fd, io_op *op)
{
    return op->kind == IO_OP_SENDFILE ? ep_sendfile_progress(fd, op) : send_progress(fd, op);
}

int ep_service_write(io_loop *loop, struct ep_state *st, int fd, struct ep_fd *f)
{
    io_op *op = f->op[EP_SLOT_SEND];
    int progress = ep_write_progress(fd, op);
    if (progress == 0)
        return 0;
    finish(loop, st, fd, f, EP_SLOT_SEND, ep_write_result(op, progress));
    return 1;
}

int ep_write_result(const io_op *op, int progress)
{
    if (progress < 0)
        return progress;
    size_t done = op->kind == IO_OP_SENDFILE ? op->u.sendfile.done : op->u.send.done;
    return done > INT_MAX ? INT_MAX : (int)done;
}

int ep_read_now(io_op *op)
{
    ssize_t n;
    do
        n = op->u.read.offset == IO_OFFSET_CURRENT
                ? read(op->fd, op->u.read.buf, op->u.read.len)
                : pread(op->fd, op->u.read.buf, op->u.read.len, (off_t)op->u.read.offset);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : (int)n;
}
