/* uring_fault.c - fault injection at the proactor's completions (test builds only: fault.h).
 *
 * A failure replaces the SQE an op was about to submit with a NOP whose user_data names the
 * op, tagged UR_TAG_FAULT, with the errno to report in its top bits.  The kernel runs the NOP
 * and its CQE reaches ur_handle_cqe, where ur_fault_cqe turns it back into the op's own
 * completion with that result.  So the kernel holds nothing of the op, exactly as when it
 * fails a request itself (-EMFILE on an accept, -ENOBUFS on a buffer-ring recv, -EAGAIN from
 * a worker, -ECONNRESET on a send), and every path of uring_cqe.c after it runs for real.  A
 * short send is a real SEND of half the first buffer.  And an op cancelled by its fd's close
 * (UR_FD_CLOSING) whose CQE brings a result may be told -ECANCELED instead: a race the kernel may resolve
 * either way (an op that makes a file, an accept, never: its fd would leak).
 */
#include "uring.h"

#include <errno.h>
#include <sys/socket.h>

#define FAULT_RES_SHIFT 48 /* user-space pointers stay below 2^47 */

void ur_fault_arm(io_op *op, struct io_uring_sqe *sqe, enum fault_site site)
{
    uint64_t tag = (uint64_t)(uintptr_t)op;
    if (tag >> FAULT_RES_SHIFT)
        return;
    int res = FAULT_HIT(site);
    if (res >= 0)
        return;
    io_uring_prep_nop(sqe);
    sqe->user_data = tag | UR_TAG_FAULT | (uint64_t)-res << FAULT_RES_SHIFT;
}

void ur_fault_send(io_op *op, struct io_uring_sqe *sqe)
{
    const struct iovec *first = op->u.send.iov;
    size_t len = first->iov_len;
    if (FAULT_SHORTEN(FAULT_SEND_SHORT, &len)) { /* no MSG_WAITALL: the kernel may stop there too */
        io_uring_prep_send(sqe, op->fd, first->iov_base, len, MSG_NOSIGNAL);
        return;
    }
    ur_fault_arm(op, sqe, FAULT_SEND);
}

/* A result that met a cancel.  Only where the fd is being closed may it be told -ECANCELED:
 * a recv cancelled to pause reading that brought bytes took them from the socket, and the
 * kernel never reports those as cancelled; those are counted, and must be delivered. */
static void meet_cancel(const io_op *op, int *res)
{
    if (!(op->state & UR_CANCELLING) ||
        (op->kind != IO_OP_RECV && op->kind != IO_OP_SEND && op->kind != IO_OP_READ))
        return;
    if (!(op->state & UR_FD_CLOSING)) {
        FAULT_HIT(FAULT_CANCEL_LATE);
        return;
    }
    int lost = FAULT_HIT(FAULT_CANCEL);
    if (lost < 0)
        *res = lost;
}

void ur_fault_cqe(uint64_t *user_data, int *res, unsigned *cflags)
{
    if (*user_data & UR_TAG_FAULT) {
        *res = -(int)(*user_data >> FAULT_RES_SHIFT);
        *user_data &= ((uint64_t)1 << FAULT_RES_SHIFT) - 1 - UR_TAG_MASK;
        *cflags = 0;
        return;
    }
    if (*user_data & UR_TAG_MASK)
        return;
    if (*res >= 0)
        meet_cancel((const io_op *)(uintptr_t)*user_data, res);
}
