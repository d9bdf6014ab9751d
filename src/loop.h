/* loop.h - the completion interface every backend implements and every protocol uses.
 *
 * A caller submits an operation (accept, recv, read, send, timeout, close) on a caller-owned
 * io_op with a callback; the callback later receives the result the way an io_uring CQE
 * carries it: a byte count, a new fd, or a negative errno.  The io_uring backend (proactor/)
 * lets the kernel do the I/O; the reactor backends (reactor/: epoll, poll, select) wait for
 * readiness, do the I/O themselves and deliver the very same completions.  Nothing here names a backend's mechanism.
 *
 * The rules (each backend's tests hold it to them):
 *  1. If a submit call returns an error (negative errno), its callback never runs and the op
 *     may be reused at once.  If it returns 0, the callback runs later, never inside the
 *     submit call itself.
 *  2. Every submitted op completes exactly once.  A multishot op (IO_MULTISHOT) completes
 *     many times: every completion but the last carries IO_CQE_MORE in `flags`; the last one
 *     has IO_CQE_MORE clear and ends the op (EOF, error or -ECANCELED).  Backends re-arm
 *     internally whatever the kernel ends early (-ENOBUFS, a missing multishot feature), so
 *     the caller never sees those endings.
 *  3. The caller owns the io_op memory and any buffer it passes in; both must stay valid and
 *     untouched until the op's final completion.  An op may be submitted again from inside
 *     its own final callback.
 *  4. Results are negative errno values, never `errno`.
 *  5. Receive buffers come from a pool the loop owns: a recv completion with res > 0 lends
 *     the caller op->buf (res bytes at op->buf.data); the caller gives it back with
 *     io_buf_release(), inside the callback or later.  An idle connection holds no buffer.
 *     When the pool is empty, recvs wait for a buffer: no byte is lost or reordered.
 *  6. io_close() cancels whatever is still pending on the fd, then closes it.  Each cancelled
 *     op still completes once (usually -ECANCELED); the order of those completions relative
 *     to the close's own is unspecified, so free per-fd state only after all have completed.
 *  7. One loop per thread: no function here may be called on a loop from another thread,
 *     with one exception: io_loop_post() hands work to a loop from any thread.
 *  8. At most one op of each kind (accept, recv, read, and one writer: send or sendfile) is
 *     in flight per fd; a second one is refused with -EBUSY, since two writers (or two recvs)
 *     on one stream would interleave in an order nobody could rely on.  Opens, statx,
 *     timeouts and close are not limited.
 */
#ifndef IOSERVE_LOOP_H
#define IOSERVE_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <linux/openat2.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

typedef struct io_loop io_loop;
typedef struct io_op io_op;

/* flags given to a callback */
#define IO_CQE_MORE 0x1u /* the multishot op stays armed: more completions will follow */

/* submit flags */
#define IO_MULTISHOT 0x1u /* accept and recv: stay armed until cancelled, EOF or error */

typedef void (*io_cb)(io_loop *loop, io_op *op, int res, unsigned flags);

enum io_op_kind {
    IO_OP_NONE, IO_OP_ACCEPT, IO_OP_RECV, IO_OP_READ, IO_OP_SEND, IO_OP_TIMEOUT, IO_OP_CLOSE,
    IO_OP_OPENAT2, IO_OP_STATX, IO_OP_SENDFILE,
};

/* A buffer lent by the pool (rule 5). */
typedef struct io_buf {
    char *data;
    uint32_t id;
} io_buf;

/* A place in a deadline heap (timer_heap.h): the loop's timeouts, and whatever else keeps
 * deadlines of its own the same way. */
typedef struct io_timer_node {
    uint64_t deadline_ns; /* absolute CLOCK_MONOTONIC time */
    uint64_t seq;         /* equal deadlines fire in submission order */
    uint32_t heap_index;
} io_timer_node;

/* The op.  Fields under "private" belong to the loop while the op is in flight. */
struct io_op {
    io_cb cb;
    void *data;      /* the caller's pointer, untouched by the loop */
    io_buf buf;      /* recv: the buffer holding this completion's bytes */
    /* private */
    uint8_t kind;    /* enum io_op_kind */
    uint8_t state;   /* lifecycle bits: the core's high bits, the backend's low bits */
    uint16_t flags;  /* submit flags */
    int fd;
    int res;         /* a result waiting on the core's completion queue */
    io_op *next;     /* intrusive links for the loop's private lists */
    io_op *prev;
    union {
        struct {
            struct iovec *iov; /* the caller's array, advanced by the loop on short sends */
            int iovcnt;
            size_t done;       /* bytes sent so far */
            struct iovec one;  /* io_send() of a single buffer */
            struct msghdr msg; /* for sendmsg(MSG_NOSIGNAL) in either backend */
        } send;
        struct {
            void *buf;
            size_t len;
            uint64_t offset;
        } read;
        struct {
            const char *path;
            const struct open_how *how; /* openat2 */
            struct statx *out;          /* statx */
            int dirfd;
            int flags;                  /* statx AT_* flags */
            unsigned mask;              /* statx STATX_* mask */
        } file;
        struct {
            int file_fd;
            uint64_t offset;   /* next file byte to send */
            size_t len;        /* bytes still to send */
            size_t done;       /* bytes sent so far */
        } sendfile;
        io_timer_node timer;
        uint64_t backend_scratch[6]; /* accept/recv/close: free for the backend's use */
    } u;
};

#define IO_OFFSET_CURRENT UINT64_MAX

/* POLL and SELECT are the reactor over poll(2) and select(2): level-triggered, a wait costs
 * every watched fd, and select watches fds below FD_SETSIZE only (io_loop_fd_limit). */
enum io_backend_kind { IO_BACKEND_AUTO, IO_BACKEND_URING, IO_BACKEND_EPOLL, IO_BACKEND_POLL, IO_BACKEND_SELECT };
enum io_epoll_mode { IO_EPOLL_LT, IO_EPOLL_ET };

typedef struct io_loop_config {
    enum io_backend_kind backend;
    enum io_epoll_mode epoll_mode;
    uint32_t buf_count;      /* receive buffers in the pool (power of two; 0: default) */
    uint32_t buf_size;       /* bytes per receive buffer (0: default) */
    uint32_t max_inflight;   /* ops expected in flight at once, sizes the ring (0: default) */
    uint32_t cq_entries;     /* io_uring: completion queue entries, rounded up to a power of two
                                (0: sized from max_inflight and the pool); a CQ too small for
                                the load overflows into the kernel's list, and nothing is lost */
    unsigned disable;        /* IO_FEAT_* bits to leave unused even when the kernel has them:
                                the fallback paths are tested and benchmarked through this */
    int sqpoll;              /* io_uring SQPOLL thread: idle ms before it sleeps, 0 off */
    int sqpoll_cpu;          /* 1 + the CPU to pin that thread to; 0 leaves it to the kernel */
} io_loop_config;

/* Optional kernel features a backend may use; each one missing has a slower fallback. */
#define IO_FEAT_DEFER_TASKRUN   0x01u /* ring setup SINGLE_ISSUER|DEFER_TASKRUN (else COOP, plain) */
#define IO_FEAT_REGISTERED_RING 0x02u /* registered ring fd */
#define IO_FEAT_MULTISHOT_ACCEPT 0x04u /* else single-shot accept re-armed by the backend */
#define IO_FEAT_MULTISHOT_RECV  0x08u /* else single-shot recv re-armed by the backend */
#define IO_FEAT_BUF_RING        0x10u /* provided buffer ring, else a buffer per armed recv */
#define IO_FEAT_CANCEL_FD       0x20u /* cancel every op on an fd in one request */
#define IO_FEAT_SPLICE          0x40u /* sendfile by splice through a pipe, else read and sent */
#define IO_FEAT_FILE_OPS        0x80u /* openat2 and statx as ring ops, else the syscalls at submit */
#define IO_FEAT_MSG_RING        0x100u /* io_loop_post between rings by IORING_OP_MSG_RING, else
                                          the loop's locked inbox and its eventfd */

#define IO_DEFAULT_BUF_COUNT 1024u
#define IO_DEFAULT_BUF_SIZE 16384u
#define IO_DEFAULT_MAX_INFLIGHT 4096u

/* Create a loop.  With IO_BACKEND_AUTO, io_uring is tried and epoll used when it cannot be
 * set up; io_loop_describe() then says what was chosen and why.  Returns 0 or -errno. */
int io_loop_create(io_loop **out, const io_loop_config *cfg);
void io_loop_destroy(io_loop *loop);

/* Run until io_loop_stop() or until nothing is pending (no op in flight, no timer armed).
 * Returns 0, or -errno when waiting failed. */
int io_loop_run(io_loop *loop);
/* Wait at most timeout_ms (-1: until something completes; 0: don't wait), deliver every
 * completion found, return how many ops were completed or -errno. */
int io_loop_run_once(io_loop *loop, int timeout_ms);
void io_loop_stop(io_loop *loop);

/* Monotonic time in ns, sampled once per loop iteration (cheap). */
uint64_t io_loop_now_ns(const io_loop *loop);
/* Ops in flight plus armed timers. */
size_t io_loop_pending(const io_loop *loop);

/* The backend in use ("uring", "epoll-lt", "epoll-et", "poll", "select") and a one-line
 * description of the features in use and, for AUTO, why this backend was picked. */
const char *io_loop_backend_name(const io_loop *loop);
const char *io_loop_describe(const io_loop *loop);

/* The fds this loop can wait on are below this number: FD_SETSIZE for select, INT_MAX
 * otherwise.  An op on a higher fd ends with -EMFILE: refuse such a connection up front. */
int io_loop_fd_limit(const io_loop *loop);

/* Accept on a listening socket.  res is the new fd (non-blocking, close-on-exec) or -errno. */
int io_accept(io_loop *loop, io_op *op, int listen_fd, unsigned flags, io_cb cb, void *data);

/* Receive into a pool buffer (rule 5).  res > 0 bytes, 0 on EOF, or -errno. */
int io_recv(io_loop *loop, io_op *op, int fd, unsigned flags, io_cb cb, void *data);

/* Read from any fd (file, pipe, signalfd, eventfd) into the caller's buffer, once.
 * offset is a file offset or IO_OFFSET_CURRENT.  res is bytes read, 0 at EOF, or -errno. */
int io_read(io_loop *loop, io_op *op, int fd, void *buf, size_t len, uint64_t offset, io_cb cb,
            void *data);

/* Send all of the buffers; short sends are continued by the loop.  res is the total bytes
 * sent, or -errno (bytes already sent by then are lost to the caller: the stream is dead).
 * The iov array is the caller's and is modified while in flight.  iovcnt <= IOV_MAX and the
 * total at most INT_MAX bytes, else -EINVAL. */
int io_sendv(io_loop *loop, io_op *op, int fd, struct iovec *iov, int iovcnt, io_cb cb, void *data);
int io_send(io_loop *loop, io_op *op, int fd, const void *buf, size_t len, io_cb cb, void *data);

/* The bytes a send or sendfile op in flight has moved into the socket so far (0 for any other
 * op).  Such an op continues short transfers itself and completes only when all is sent, which
 * for a slow peer can be minutes: this tells a peer taking bytes from one that takes none. */
size_t io_send_progress(const io_op *op);

/* Fire after ms milliseconds: res is -ETIME when it fires, -ECANCELED when cancelled.
 * Timers fire in deadline order (equal deadlines: submission order). */
int io_timeout(io_loop *loop, io_op *op, uint64_t ms, io_cb cb, void *data);

/* Cancel any op in flight: it completes once with -ECANCELED, or with its own result when it
 * had already finished.  Returns 0, or -ENOENT when the op is not in flight. */
int io_cancel(io_loop *loop, io_op *op);

/* Close fd (rule 6).  res is 0 or -errno. */
int io_close(io_loop *loop, io_op *op, int fd, io_cb cb, void *data);

/* File operations for serving static files through the backend.  On the proactor they are
 * kernel operations (openat2, statx, splice); on the reactor regular files are never "ready"
 * in epoll's sense, so open and statx are done at submit and complete on the next iteration,
 * and sendfile(2) waits for the socket to become writable. */

/* openat2(2): path relative to dirfd, resolved as how->resolve says (RESOLVE_BENEATH keeps it
 * under dirfd).  path and how must stay valid until completion.  res is the new fd or -errno. */
int io_openat2(io_loop *loop, io_op *op, int dirfd, const char *path, const struct open_how *how,
               io_cb cb, void *data);

/* statx(2) into *out (valid until completion).  res is 0 or -errno. */
int io_statx(io_loop *loop, io_op *op, int dirfd, const char *path, int flags, unsigned mask,
             struct statx *out, io_cb cb, void *data);

/* Send len bytes of file_fd starting at offset to the socket sock_fd, continuing short
 * transfers.  res is the bytes sent (less than len only when the file ended first) or -errno.
 * len <= INT_MAX and offset <= INT64_MAX (an off_t; there is no "current position" here). */
int io_sendfile(io_loop *loop, io_op *op, int sock_fd, int file_fd, uint64_t offset, size_t len,
                io_cb cb, void *data);

/* Cross-thread hand-off: the one exception to rule 7.
 *
 * io_loop_post(from, to, post) makes post->fn(to, post) run later on `to`'s thread, inside
 * one of `to`'s iterations (io_loop_run or io_loop_run_once), exactly once.  Use it to hand an
 * accepted fd to an IO loop on another thread, or to bring a worker thread's result back to
 * a connection's own loop.
 *  - Callable from any thread.  `from` is the loop the calling thread runs, or NULL from a
 *    thread that runs none; never another thread's loop.  from == to is allowed (fn still
 *    runs later, never inside the call).
 *  - The caller fills fn and data and owns the io_post memory (usually embedded in a larger
 *    struct); it must stay valid and untouched from the call until fn starts.  fn may free
 *    it or post it again.
 *  - Posts from one sender (one loop, or one plain thread) to one loop run in the order
 *    they were made.  Nothing is promised between different senders.
 *  - Returns 0, or -EINVAL (no fn), and then fn never runs.  A post cannot fail later.
 *  - Liveness: io_loop_run does not return while posts are waiting for it (queued, or sent
 *    by `from` and not yet handed over), but a post that comes in after it returned waits
 *    for the next io_loop_run/io_loop_run_once.  A loop with nothing in flight returns from
 *    io_loop_run at once, so a loop that serves only posts holds itself open with
 *    io_loop_keepalive(loop, 1) and is ended by io_loop_stop() (typically from a post).
 *    Posts do not count in io_loop_pending().
 *  - A post made from a loop may leave with that loop's next iteration: io_loop_run sends
 *    everything before it returns, even when stopped; a loop driven by io_loop_run_once
 *    runs it once more (timeout 0) before it is destroyed.
 *  - `to` must outlive every post made to it: destroying a loop drops posts it never ran.
 * On io_uring to io_uring (IO_FEAT_MSG_RING) the post is a MSG_RING request on `from`'s ring
 * that puts a completion on `to`'s; otherwise it goes on `to`'s locked inbox and, when that
 * was empty, one eventfd write wakes `to`. */
typedef struct io_post io_post;
typedef void (*io_post_fn)(io_loop *loop, io_post *post);
struct io_post {
    io_post_fn fn;
    void *data;      /* the caller's pointer, untouched by the loop */
    /* private */
    io_post *next;   /* the target's inbox */
    io_loop *to;     /* where it goes, while a backend carries it */
};

int io_loop_post(io_loop *from, io_loop *to, io_post *post);

/* While on, io_loop_run keeps waiting even with nothing in flight (a loop fed by posts);
 * io_loop_stop() still ends it.  Off by default.  Called on the loop's own thread. */
void io_loop_keepalive(io_loop *loop, int on);

/* Give a recv buffer back to the pool (rule 5). */
void io_buf_release(io_loop *loop, io_buf buf);
uint32_t io_buf_size(const io_loop *loop);

#endif
