/* loop.c - the backend-neutral half of the loop: op accounting, timers, the completion queue,
 * the receive-buffer memory and the choice of backend.  See loop.h for the rules it keeps and
 * loop_backend.h for the split of work with a backend.
 */
#include "loop_backend.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS 1000000ull

/* io_uring caps a provided-buffer ring at 32768 entries; the reactor shares the limit so a
 * config means the same on both. */
#define IO_MAX_BUF_COUNT 32768u

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int is_power_of_two(uint32_t v)
{
    return v && !(v & (v - 1));
}

static int config_normalise(io_loop_config *cfg)
{
    if (!cfg->buf_count)
        cfg->buf_count = IO_DEFAULT_BUF_COUNT;
    if (!cfg->buf_size)
        cfg->buf_size = IO_DEFAULT_BUF_SIZE;
    if (!cfg->max_inflight)
        cfg->max_inflight = IO_DEFAULT_MAX_INFLIGHT;
    if (!is_power_of_two(cfg->buf_count) || cfg->buf_count > IO_MAX_BUF_COUNT)
        return -EINVAL;
    if (cfg->buf_size > (1u << 30) / cfg->buf_count)
        return -EINVAL;
    return 0;
}

static int buffers_map(io_loop *loop, const io_loop_config *cfg)
{
    size_t bytes = (size_t)cfg->buf_count * cfg->buf_size;
    void *base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return -errno;
    loop->buf_base = base;
    loop->buf_count = cfg->buf_count;
    loop->buf_size = cfg->buf_size;
    return 0;
}

static void buffers_unmap(io_loop *loop)
{
    if (loop->buf_base)
        munmap(loop->buf_base, (size_t)loop->buf_count * loop->buf_size);
    loop->buf_base = NULL;
}

static int backend_start(io_loop *loop, const struct io_backend *backend, const io_loop_config *cfg)
{
    loop->backend = backend;
    loop->describe[0] = '\0';
    int err = backend->init(loop, cfg);
    if (err < 0)
        loop->backend = NULL;
    return err;
}

/* AUTO: the proactor when the kernel lets us set one up, else the reactor, saying why. */
static int backend_start_auto(io_loop *loop, const io_loop_config *cfg)
{
    int err = backend_start(loop, &io_backend_uring, cfg);
    if (err == 0)
        return 0;
    char why[160];
    if (loop->describe[0])
        snprintf(why, sizeof(why), "%.159s", loop->describe);
    else
        snprintf(why, sizeof(why), "%.159s", strerror(-err));
    err = backend_start(loop, &io_backend_reactor, cfg);
    if (err < 0)
        return err;
    char chosen[256];
    snprintf(chosen, sizeof(chosen), "%.255s", loop->describe);
    snprintf(loop->describe, sizeof(loop->describe), "%.255s (auto: io_uring unavailable: %.159s)", chosen, why);
    return 0;
}

int io_loop_create(io_loop **out, const io_loop_config *config)
{
    io_loop_config cfg = config ? *config : (io_loop_config){0};
    int err = config_normalise(&cfg);
    if (err < 0)
        return err;
    io_loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return -ENOMEM;
    loop->disable = cfg.disable;
    loop->now_ns = monotonic_ns();
    loop->inbox.efd = -1;
    loop->fd_limit = INT_MAX;
    err = buffers_map(loop, &cfg);
    if (err == 0) {
        switch (cfg.backend) {
        case IO_BACKEND_URING: err = backend_start(loop, &io_backend_uring, &cfg); break;
        case IO_BACKEND_EPOLL:
        case IO_BACKEND_POLL:
        case IO_BACKEND_SELECT: err = backend_start(loop, &io_backend_reactor, &cfg); break;
        case IO_BACKEND_AUTO: err = backend_start_auto(loop, &cfg); break;
        default: err = -EINVAL;
        }
        if (err == 0) {
            err = io_inbox_init(loop);
            if (err < 0)
                loop->backend->destroy(loop);
        }
    }
    if (err < 0) {
        buffers_unmap(loop);
        free(loop);
        return err;
    }
    *out = loop;
    return 0;
}

void io_loop_destroy(io_loop *loop)
{
    if (!loop)
        return;
    loop->backend->destroy(loop);
    io_inbox_free(loop);
    timer_heap_free(&loop->timers);
    buffers_unmap(loop);
    free(loop);
}

void io_core_clock_update(io_loop *loop)
{
    loop->now_ns = monotonic_ns();
}

void io_core_complete(io_loop *loop, io_op *op, int res, unsigned flags)
{
    if (!(flags & IO_CQE_MORE)) {
        op->state = 0;
        loop->inflight--;
    }
    op->cb(loop, op, res, flags);
}

void io_core_complete_later(io_loop *loop, io_op *op, int res)
{
    op->res = res;
    op->state |= IO_STATE_QUEUED;
    op->next = NULL;
    if (loop->ready_tail)
        loop->ready_tail->next = op;
    else
        loop->ready_head = op;
    loop->ready_tail = op;
}

/* Deliver what was queued before this call; what the callbacks queue waits a turn, so a
 * callback that resubmits forever cannot starve the backend. */
static int deliver_queued(io_loop *loop)
{
    io_op *op = loop->ready_head;
    loop->ready_head = loop->ready_tail = NULL;
    int delivered = 0;
    while (op) {
        io_op *next = op->next;
        io_core_complete(loop, op, op->res, 0);
        op = next;
        delivered++;
    }
    return delivered;
}

static int fire_expired_timers(io_loop *loop)
{
    int fired = 0;
    io_timer_node *node;
    while ((node = timer_heap_peek(&loop->timers)) && node->deadline_ns <= loop->now_ns) {
        io_op *op = (io_op *)((char *)node - offsetof(io_op, u.timer));
        timer_heap_remove(&loop->timers, node);
        io_core_complete(loop, op, -ETIME, 0);
        fired++;
    }
    return fired;
}

/* How long the backend may sleep: no longer than the caller allows nor past the next timer. */
static int64_t wait_budget_ns(const io_loop *loop, int timeout_ms)
{
    if (loop->ready_head)
        return 0;
    int64_t budget = timeout_ms < 0 ? -1 : (int64_t)timeout_ms * (int64_t)NS_PER_MS;
    const io_timer_node *next = timer_heap_peek(&loop->timers);
    if (next) {
        uint64_t deadline = next->deadline_ns;
        int64_t until = deadline > loop->now_ns ? (int64_t)(deadline - loop->now_ns) : 0;
        if (budget < 0 || until < budget)
            budget = until;
    }
    return budget;
}

int io_loop_run_once(io_loop *loop, int timeout_ms)
{
    /* Armed here rather than at create: the ring may only be entered from the loop's thread.
     * A failure (no SQE free) is retried next time; posts wait in the inbox meanwhile. */
    io_inbox_arm(loop);
    int completed = loop->backend->wait(loop, wait_budget_ns(loop, timeout_ms));
    if (completed < 0)
        return completed;
    loop->now_ns = monotonic_ns();
    completed += fire_expired_timers(loop);
    completed += deliver_queued(loop);
    return completed;
}

static int has_work(const io_loop *loop)
{
    return loop->inflight > loop->internal || loop->ready_head || loop->keepalive ||
           loop->posts_in_transit;
}

int io_loop_run(io_loop *loop)
{
    int err = 0;
    while (!loop->stopping) {
        if (!has_work(loop)) {
            /* A last look, so posts already sent here are not left behind. */
            err = io_loop_run_once(loop, 0);
            if (err >= 0)
                err += io_inbox_drain(loop);
            if (err <= 0)
                break;
            continue;
        }
        err = io_loop_run_once(loop, -1);
        if (err < 0)
            break;
    }
    if (loop->posts_in_transit)
        loop->backend->flush(loop); /* stopped just after posting: send before returning */
    loop->stopping = 0;
    return err < 0 ? err : 0;
}

void io_loop_stop(io_loop *loop)
{
    loop->stopping = 1;
}

uint64_t io_loop_now_ns(const io_loop *loop)
{
    return loop->now_ns;
}

size_t io_loop_pending(const io_loop *loop)
{
    return loop->inflight - loop->internal;
}

const char *io_loop_backend_name(const io_loop *loop)
{
    return loop->backend_name ? loop->backend_name : loop->backend->name;
}

const char *io_loop_describe(const io_loop *loop)
{
    return loop->describe;
}

int io_loop_fd_limit(const io_loop *loop)
{
    return loop->fd_limit;
}

/* Claim an op for a submission; -EBUSY when the caller reuses one still in flight. */
static int op_begin(io_loop *loop, io_op *op, enum io_op_kind kind, int fd, unsigned flags, io_cb cb,
                    void *data)
{
    if (op->state & IO_STATE_INFLIGHT)
        return -EBUSY;
    op->cb = cb;
    op->data = data;
    op->kind = (uint8_t)kind;
    op->state = IO_STATE_INFLIGHT;
    op->flags = (uint16_t)flags;
    op->fd = fd;
    op->buf = (io_buf){0};
    loop->inflight++;
    return 0;
}

static int op_submit(io_loop *loop, io_op *op)
{
    int err = loop->backend->submit(loop, op);
    if (err < 0) {
        op->state = 0;
        loop->inflight--;
    }
    return err;
}

int io_accept(io_loop *loop, io_op *op, int listen_fd, unsigned flags, io_cb cb, void *data)
{
    if (listen_fd < 0 || (flags & ~IO_MULTISHOT))
        return -EINVAL;
    int err = op_begin(loop, op, IO_OP_ACCEPT, listen_fd, flags, cb, data);
    return err < 0 ? err : op_submit(loop, op);
}

int io_recv(io_loop *loop, io_op *op, int fd, unsigned flags, io_cb cb, void *data)
{
    if (fd < 0 || (flags & ~IO_MULTISHOT))
        return -EINVAL;
    int err = op_begin(loop, op, IO_OP_RECV, fd, flags, cb, data);
    return err < 0 ? err : op_submit(loop, op);
}

int io_read(io_loop *loop, io_op *op, int fd, void *buf, size_t len, uint64_t offset, io_cb cb,
            void *data)
{
    if (fd < 0 || len > INT_MAX)
        return -EINVAL;
    int err = op_begin(loop, op, IO_OP_READ, fd, 0, cb, data);
    if (err < 0)
        return err;
    op->u.read.buf = buf;
    op->u.read.len = len;
    op->u.read.offset = offset;
    return op_submit(loop, op);
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    return total;
}

int io_sendv(io_loop *loop, io_op *op, int fd, struct iovec *iov, int iovcnt, io_cb cb, void *data)
{
    if (fd < 0 || iovcnt <= 0 || iovcnt > IOV_MAX || !iov)
        return -EINVAL;
    size_t total = iov_total(iov, iovcnt);
    if (total > INT_MAX)
        return -EINVAL; /* res is an int: a larger total could not be reported */
    int err = op_begin(loop, op, IO_OP_SEND, fd, 0, cb, data);
    if (err < 0)
        return err;
    op->u.send.iov = iov;
    op->u.send.iovcnt = iovcnt;
    op->u.send.done = 0;
    op->u.send.msg = (struct msghdr){.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
    if (total == 0) {
        io_core_complete_later(loop, op, 0);
        return 0;
    }
    return op_submit(loop, op);
}

int io_send(io_loop *loop, io_op *op, int fd, const void *buf, size_t len, io_cb cb, void *data)
{
    /* The iovec lives in the op, so the caller has one thing less to keep alive. */
    op->u.send.one = (struct iovec){.iov_base = (void *)buf, .iov_len = len};
    return io_sendv(loop, op, fd, &op->u.send.one, 1, cb, data);
}

int io_openat2(io_loop *loop, io_op *op, int dirfd, const char *path, const struct open_how *how,
               io_cb cb, void *data)
{
    if (!path || !how)
        return -EINVAL;
    int err = op_begin(loop, op, IO_OP_OPENAT2, dirfd, 0, cb, data);
    if (err < 0)
        return err;
    memset(&op->u.file, 0, sizeof(op->u.file));
    op->u.file.path = path;
    op->u.file.how = how;
    op->u.file.dirfd = dirfd;
    return op_submit(loop, op);
}

int io_statx(io_loop *loop, io_op *op, int dirfd, const char *path, int flags, unsigned mask,
             struct statx *out, io_cb cb, void *data)
{
    if (!path || !out)
        return -EINVAL;
    int err = op_begin(loop, op, IO_OP_STATX, dirfd, 0, cb, data);
    if (err < 0)
        return err;
    memset(&op->u.file, 0, sizeof(op->u.file));
    op->u.file.path = path;
    op->u.file.out = out;
    op->u.file.dirfd = dirfd;
    op->u.file.flags = flags;
    op->u.file.mask = mask;
    return op_submit(loop, op);
}

int io_sendfile(io_loop *loop, io_op *op, int sock_fd, int file_fd, uint64_t offset, size_t len,
                io_cb cb, void *data)
{
    if (sock_fd < 0 || file_fd < 0 || len > INT_MAX || offset > (uint64_t)INT64_MAX)
        return -EINVAL;
    int err = op_begin(loop, op, IO_OP_SENDFILE, sock_fd, 0, cb, data);
    if (err < 0)
        return err;
    op->u.sendfile.file_fd = file_fd;
    op->u.sendfile.offset = offset;
    op->u.sendfile.len = len;
    op->u.sendfile.done = 0;
    if (len == 0) {
        io_core_complete_later(loop, op, 0);
        return 0;
    }
    return op_submit(loop, op);
}

int io_timeout(io_loop *loop, io_op *op, uint64_t ms, io_cb cb, void *data)
{
    if (ms > UINT64_MAX / NS_PER_MS / 2)
        return -EINVAL;
    int err = op_begin(loop, op, IO_OP_TIMEOUT, -1, 0, cb, data);
    if (err < 0)
        return err;
    op->u.timer.deadline_ns = loop->now_ns + ms * NS_PER_MS;
    op->u.timer.seq = loop->timer_seq++;
    err = timer_heap_push(&loop->timers, &op->u.timer);
    if (err < 0) {
        op->state = 0;
        loop->inflight--;
    }
    return err;
}

int io_cancel(io_loop *loop, io_op *op)
{
    if (!(op->state & IO_STATE_INFLIGHT))
        return -ENOENT;
    if (op->state & IO_STATE_QUEUED)
        return 0; /* already finished: it completes with its own result */
    if (op->kind == IO_OP_TIMEOUT) {
        timer_heap_remove(&loop->timers, &op->u.timer);
        io_core_complete_later(loop, op, -ECANCELED);
        return 0;
    }
    return loop->backend->cancel(loop, op);
}

int io_close(io_loop *loop, io_op *op, int fd, io_cb cb, void *data)
{
    if (fd < 0)
        return -EBADF;
    int err = op_begin(loop, op, IO_OP_CLOSE, fd, 0, cb, data);
    return err < 0 ? err : op_submit(loop, op);
}

void io_buf_release(io_loop *loop, io_buf buf)
{
    loop->backend->buf_release(loop, buf.id);
}

size_t io_send_progress(const io_op *op)
{
    if (op->kind == IO_OP_SEND)
        return op->u.send.done;
    return op->kind == IO_OP_SENDFILE ? op->u.sendfile.done : 0;
}

uint32_t io_buf_size(const io_loop *loop)
{
    return loop->buf_size;
}

int io_core_send_advance(io_op *op, size_t n)
{
    struct iovec *iov = op->u.send.iov;
    int left = op->u.send.iovcnt;
    while (left > 0 && n >= iov->iov_len) {
        n -= iov->iov_len;
        iov++;
        left--;
    }
    if (left > 0) {
        iov->iov_base = (char *)iov->iov_base + n;
        iov->iov_len -= n;
    }
    op->u.send.iov = iov;
    op->u.send.iovcnt = left;
    op->u.send.msg.msg_iov = iov;
    op->u.send.msg.msg_iovlen = (size_t)left;
    return left > 0;
}

int io_core_openat2_now(const io_op *op)
{
    long fd = syscall(SYS_openat2, op->u.file.dirfd, op->u.file.path, op->u.file.how, sizeof(*op->u.file.how));
    return fd < 0 ? -errno : (int)fd;
}

int io_core_statx_now(const io_op *op)
{
    int err = statx(op->u.file.dirfd, op->u.file.path, op->u.file.flags, op->u.file.mask, op->u.file.out);
    return err < 0 ? -errno : 0;
}
