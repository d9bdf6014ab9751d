/* uring.h - the io_uring proactor's private state, shared by its files and nothing else.
 *
 *   uring.c        the backend entry points (IO_BACKEND_DEFINE) and the wait/reap cycle
 *   uring_setup.c  ring creation down a ladder of setup flags, the choice of features, describe
 *   uring_probe.c  what this kernel offers: opcodes and trial runs on a scratch ring
 *   uring_report.c the --probe report: one line per feature, yes or no and why
 *   uring_bufs.c   the receive pool: a provided-buffer ring, or a free stack, and parked recvs
 *   uring_ops.c    arming accept/recv/read/send/open/statx/close/cancel, the per-fd op lists
 *   uring_cqe.c    what each completion means for its op: deliver, continue, re-arm or park
 *   uring_sendfile.c  sendfile: a pipe spliced from the file and into the socket, or without
 *                  splice a bounce buffer read and sent; the carriers kept for reuse
 *
 *   uring_post.c   io_loop_post between two rings by IORING_OP_MSG_RING
 *   uring_fault.c  test builds only: requests failed and completions rewritten (fault.h)
 *
 * user_data of an SQE is the io_op it works for; internal SQEs (cancels) carry 0 and their
 * completions are dropped, so the caller never sees them.  Posts carry an io_post pointer
 * tagged in its low bits (UR_TAG_*), which an io_op pointer never has set.
 */
#ifndef IOSERVE_PROACTOR_URING_H
#define IOSERVE_PROACTOR_URING_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "fault.h"
#include "loop_backend.h"
#include "uring_compat.h"


#define UR_BGID 0 /* the one provided-buffer group */
#define UR_BUFS_START 64u /* receive buffers in the ring at first (uring_bufs.c) */

/* Low bits of a post's user_data (pointers are 8-byte aligned). */
#define UR_TAG_POST_IN 0x1u   /* on the target ring: a post to run */
#define UR_TAG_POST_SENT 0x2u /* on the sender's ring: its MSG_RING request ended */
#define UR_TAG_FAULT 0x4u     /* test builds: a NOP standing for an op's failed request */
#define UR_TAG_MASK 0x7u

/* op->state bits of this backend (inside IO_STATE_BACKEND_MASK). */
#define UR_CANCELLING 0x01u /* cancel asked or fd closed: continue nothing, re-arm nothing */
#define UR_PARKED 0x02u     /* a recv waiting for a pool buffer, nothing in the kernel */
#define UR_POLLING 0x04u    /* the SQE in flight is the op's readiness poll (POLLIN for recv and
                               read, POLLOUT for send and sendfile) */
#define UR_LISTED 0x08u     /* on its fd's op list */
#define UR_OWN_BUF 0x10u    /* a recv holding a pool buffer it took itself (no buffer ring) */
#define UR_FD_CLOSING 0x20u /* cancelled because its fd is being closed (not a pause) */

/* u.backend_scratch slots of recv ops (accept and close ops use none). */
#define UR_SCRATCH_PARK_NEXT 0 /* the parked list, while UR_PARKED */
#define UR_SCRATCH_PARK_PREV 1
#define UR_SCRATCH_OWN_BUF 2   /* the pool buffer id, while UR_OWN_BUF */

/* Opcodes this backend issues; each one is probed.  Those before UR_OP_REQUIRED the backend
 * cannot work without; the others have a fallback (openat2 and statx as syscalls at submit,
 * splice as reads into a bounce buffer that are then sent). */
enum ur_opcode { UR_OP_ACCEPT, UR_OP_RECV, UR_OP_SEND, UR_OP_SENDMSG, UR_OP_READ, UR_OP_CLOSE, UR_OP_ASYNC_CANCEL,
                 UR_OP_POLL_ADD, UR_OP_OPENAT2, UR_OP_STATX, UR_OP_SPLICE, UR_OP_MSG_RING,
                 UR_OP_COUNT };
#define UR_OP_REQUIRED UR_OP_OPENAT2

/* What a kernel offers: for each item 0 when it works, else the -errno saying why not. */
struct ur_caps {
    int probe;               /* IORING_REGISTER_PROBE itself */
    int op[UR_OP_COUNT];
    int registered_ring;
    int cancel_fd;
    int buf_ring;
    int multishot_recv;
    int multishot_accept;
};

/* The receive pool.  With a buffer ring the kernel picks buffers; without one the backend
 * keeps a stack of free ids.  Either way recvs that find it empty wait, in order, on a list
 * linked through their u.backend_scratch (UR_SCRATCH_PARK_*). */
struct ur_bufs {
    struct io_uring_buf_ring *ring; /* NULL: the free stack is in use */
    size_t ring_bytes;
    uint32_t lent;      /* ring: buffers the kernel handed out, not yet given back */
    uint32_t circulating; /* ring: ids 0..circulating-1 are in use, the rest not yet touched */
    uint32_t *free_ids; /* stack: ids not lent */
    uint32_t free_count;
    io_op *parked_head;
    io_op *parked_tail;
};

/* What a sendfile moves its bytes through: a pipe the kernel splices the file into and the
 * socket out of, or (without splice) a bounce buffer the file is read into and sent from.
 * Each sendfile in flight holds one, listed under its socket's fd (usually alone there: a
 * second shows up only when the fd was closed and its number reused while the first ends);
 * idle ones wait, empty, on a short list for the next sendfile. */
struct ur_carrier {
    io_op *owner;             /* the sendfile holding it; NULL while idle */
    struct ur_carrier *next;  /* the fd's list, or the idle list */
    int pipe[2];              /* splice: the pipe (non-blocking both ends), else -1 */
    char *bounce;             /* no splice: the buffer, else NULL */
    uint32_t size;            /* what one load may put in: the pipe's capacity or the buffer's size */
    uint32_t held;            /* bytes in it the socket has not taken yet */
    uint32_t head;            /* bounce: where those bytes start */
    struct iovec iov;         /* bounce: the SENDMSG of the held bytes */
    struct msghdr msg;
};

struct ur_carriers {
    struct ur_carrier *idle;
    unsigned idle_count;
};

/* Ops in flight, listed per fd (linked through op->next/prev), so io_close can find them and
 * a second op of a kind is refused (loop.h rule 8); and the carriers of sendfiles on the fd. */
struct ur_fdtab {
    io_op **heads;
    struct ur_carrier **carriers;
    uint32_t cap;
};

/* One way to create the ring: setup flags, a name for describe/report, and the IO_FEAT_*
 * bit that cfg->disable uses to skip it (0: always allowed). */
struct ur_rung {
    unsigned flags;
    const char *name;
    unsigned feat;
};

#define UR_LADDER_LEN 3
extern const struct ur_rung ur_ladder[UR_LADDER_LEN];
extern const struct ur_rung ur_sqpoll_rung;

struct uring {
    struct io_uring ring;
    const struct ur_rung *rung;
    unsigned setup_flags;
    unsigned feats;      /* IO_FEAT_* in use */
    int needs_enable;    /* created disabled: the thread that first waits becomes its issuer */
    int wants_reg_ring;  /* register the ring fd once enabled, from that same thread */
    int kernel_openat2;  /* IORING_OP_OPENAT2 works, else openat2(2) at submit */
    int kernel_statx;    /* IORING_OP_STATX works, else statx(2) at submit */
    int sqpoll_err;      /* asked for SQPOLL and the kernel said no: why (negative errno) */
    struct ur_bufs bufs;
    struct ur_fdtab fds;
    struct ur_carriers carriers;
    atomic_int takes_msg_ring; /* enabled, with its issuer set: other rings may message it */
};

static inline struct uring *ur_of(const io_loop *loop)
{
    return loop->backend_data;
}

/* uring_probe.c */
int ur_probe_kernel(struct ur_caps *caps);
const char *ur_opcode_name(int which);

/* uring_report.c */
void ur_report(FILE *out);

/* uring_setup.c */
int ur_try_rung(struct io_uring *ring, const struct ur_rung *rung, unsigned sq, unsigned cq, unsigned idle_ms,
                int sq_cpu);
int ur_setup(io_loop *loop, struct uring *u, const io_loop_config *cfg);
int ur_enable(io_loop *loop, struct uring *u);
void ur_describe(io_loop *loop, const struct uring *u);

/* uring_bufs.c */
int ur_bufs_init_ring(struct ur_bufs *b, struct io_uring *ring, const io_loop *loop);
int ur_bufs_init_stack(struct ur_bufs *b, const io_loop *loop);
/* Ring: put twice the buffers in circulation (the first UR_BUFS_START at init), up to the
 * pool; false when all are in already (or there is no ring). */
bool ur_bufs_grow(struct ur_bufs *b, const io_loop *loop);
void ur_bufs_free(struct ur_bufs *b);
void ur_bufs_put(struct ur_bufs *b, const io_loop *loop, uint32_t id);
int ur_bufs_take(struct ur_bufs *b, uint32_t *id);
uint32_t ur_bufs_available(const struct ur_bufs *b);
void ur_bufs_park(struct ur_bufs *b, io_op *op);
void ur_bufs_park_first(struct ur_bufs *b, io_op *op);
void ur_bufs_unpark(struct ur_bufs *b, io_op *op);
io_op *ur_bufs_pop_parked(struct ur_bufs *b);

/* uring_ops.c */
struct io_uring_sqe *ur_get_sqe(io_loop *loop, struct uring *u);
int ur_arm_accept(io_loop *loop, struct uring *u, io_op *op);
int ur_arm_recv(io_loop *loop, struct uring *u, io_op *op);
int ur_recv_into(io_loop *loop, struct uring *u, io_op *op, uint32_t id);
uint32_t ur_recv_own_buf(const io_op *op);
int ur_arm_read(io_loop *loop, struct uring *u, io_op *op);
int ur_arm_send(io_loop *loop, struct uring *u, io_op *op);
int ur_arm_poll(io_loop *loop, struct uring *u, io_op *op);
int ur_arm_pollout(io_loop *loop, struct uring *u, io_op *op);
int ur_submit_op(io_loop *loop, struct uring *u, io_op *op);
int ur_cancel_op(io_loop *loop, struct uring *u, io_op *op);
void ur_fdtab_remove(struct ur_fdtab *t, io_op *op);
void ur_fdtab_free(struct ur_fdtab *t);
void ur_kick_parked(io_loop *loop, struct uring *u);

/* uring_cqe.c: one completion; returns how many completions reached callbacks. */
int ur_handle_cqe(io_loop *loop, struct uring *u, uint64_t user_data, int res, unsigned cflags);
/* The op's final completion, once nothing of it is left in the kernel: returns 1. */
int ur_end_op(io_loop *loop, struct uring *u, io_op *op, int res);

/* uring_fault.c, in test builds (-Dfault_injection=true); otherwise nothing at all.  Arm
 * hooks go last in an arm, on its filled SQE: they may turn it into a NOP that fails the op,
 * or (send) into a shorter send.  The CQE hook runs before a completion is looked at. */
#ifdef IOSERVE_FAULT_INJECTION
void ur_fault_arm(io_op *op, struct io_uring_sqe *sqe, enum fault_site site);
void ur_fault_send(io_op *op, struct io_uring_sqe *sqe);
void ur_fault_cqe(uint64_t *user_data, int *res, unsigned *cflags);
#else
#define ur_fault_arm(op, sqe, site) ((void)0)
#define ur_fault_send(op, sqe) ((void)0)
#define ur_fault_cqe(user_data, res, cflags) ((void)0)
#endif

/* uring_post.c */
int ur_post(io_loop *from, io_loop *to, io_post *post);
int ur_on_post_cqe(io_loop *loop, uint64_t user_data, int res);

/* uring_sendfile.c */
/* Take a carrier and load its first chunk; on failure nothing is held. */
int ur_start_sendfile(io_loop *loop, struct uring *u, io_op *op);
int ur_on_sendfile(io_loop *loop, struct uring *u, io_op *op, int res);
/* The op's carrier goes back to the idle list (a pipe still holding bytes is closed). */
void ur_sendfile_release(struct uring *u, io_op *op);
/* Every carrier, idle or still held (a loop destroyed with sendfiles in flight). */
void ur_carriers_free(struct uring *u);

#endif
