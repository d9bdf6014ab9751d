/* uring_probe.c - what this kernel's io_uring offers, found by asking it, never by version.
 *
 * Opcodes come from IORING_REGISTER_PROBE.  Features the probe cannot show (multishot accept
 * and recv, the buffer ring, cancel by fd, the registered ring fd) are tried for real on a
 * small scratch ring over a local socket pair and a listening AF_UNIX socket: a kernel without
 * the feature rejects the request (-EINVAL), one with it does the work.  Every wait here is
 * bounded.  Each answer is 0 or the -errno that explains "no", which report() prints.
 */
#include "uring.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define TRIAL_ENTRIES 8
#define TRIAL_WAIT_NS 500000000LL
/* Each trial tags its SQE with its own user_data: a request left armed by one trial may
 * still complete (when its socket closes) while a later trial waits. */
enum trial_tag { TAG_CANCEL_FD = 1, TAG_RECV, TAG_ACCEPT };

static const struct {
    uint8_t opcode;
    const char *name;
} opcodes[UR_OP_COUNT] = {
    [UR_OP_ACCEPT] = { IORING_OP_ACCEPT, "accept" },
    [UR_OP_RECV] = { IORING_OP_RECV, "recv" },
    [UR_OP_SEND] = { IORING_OP_SEND, "send" },
    [UR_OP_SENDMSG] = { IORING_OP_SENDMSG, "sendmsg" },
    [UR_OP_READ] = { IORING_OP_READ, "read" },
    [UR_OP_CLOSE] = { IORING_OP_CLOSE, "close" },
    [UR_OP_ASYNC_CANCEL] = { IORING_OP_ASYNC_CANCEL, "async_cancel" },
    [UR_OP_POLL_ADD] = { IORING_OP_POLL_ADD, "poll_add" },
    [UR_OP_OPENAT2] = { IORING_OP_OPENAT2, "openat2" },
    [UR_OP_STATX] = { IORING_OP_STATX, "statx" },
    [UR_OP_SPLICE] = { IORING_OP_SPLICE, "splice" },
    [UR_OP_MSG_RING] = { IORING_OP_MSG_RING, "msg_ring" },
};

const char *ur_opcode_name(int which)
{
    return opcodes[which].name;
}

static void probe_opcodes(struct io_uring *ring, struct ur_caps *caps)
{
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    caps->probe = probe ? 0 : -EINVAL; /* liburing hides the errno; pre-5.6 kernels say EINVAL */
    for (int i = 0; i < UR_OP_COUNT; i++)
        caps->op[i] = !probe ? caps->probe : io_uring_opcode_supported(probe, opcodes[i].opcode) ? 0 : -EOPNOTSUPP;
    io_uring_free_probe(probe);
}

/* Submit what is queued and wait for the completion tagged tag, consuming all others. */
static int trial_wait(struct io_uring *ring, enum trial_tag tag, int *res, unsigned *flags)
{
    struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = TRIAL_WAIT_NS };
    for (int round = 0; round < 4; round++) {
        struct io_uring_cqe *cqe;
        int ret = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
        if (ret < 0 && ret != -EINTR)
            return ret;
        unsigned head, seen = 0;
        int found = 0;
        io_uring_for_each_cqe(ring, head, cqe) {
            seen++;
            if (cqe->user_data == tag && !found) {
                *res = cqe->res;
                *flags = cqe->flags;
                found = 1;
            }
        }
        io_uring_cq_advance(ring, seen);
        if (found)
            return 0;
    }
    return -ETIME;
}


/* Cancel-by-fd with ALL on an idle fd: "nothing found" (-ENOENT) means the kernel knows it. */
static int trial_cancel_fd(struct io_uring *ring, int fd)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, TAG_CANCEL_FD);
    int res = 0, err;
    unsigned flags;
    if ((err = trial_wait(ring, TAG_CANCEL_FD, &res, &flags)) < 0)
        return err;
    return res >= 0 || res == -ENOENT ? 0 : res;
}

/* A one-entry buffer ring over `buf`, group UR_BGID; ring_mem is one page. */
static int trial_buf_ring(struct io_uring *ring, void *ring_mem, char *buf, unsigned len)
{
    struct io_uring_buf_ring *br = ring_mem;
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)ring_mem, .ring_entries = 1, .bgid = UR_BGID };
    int err = io_uring_register_buf_ring(ring, &reg, 0);
    if (err < 0)
        return err;
    io_uring_buf_ring_add(br, buf, len, 0, io_uring_buf_ring_mask(1), 0);
    io_uring_buf_ring_advance(br, 1);
    return 0;
}

/* One byte waiting: a multishot recv delivers it and says it stays armed. */
static int trial_multishot_recv(struct io_uring *ring, const int sv[2])
{
    if (write(sv[1], "x", 1) != 1)
        return -errno;
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
    io_uring_sqe_set_data64(sqe, TAG_RECV);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = UR_BGID;
    int res = 0, err;
    unsigned flags = 0;
    if ((err = trial_wait(ring, TAG_RECV, &res, &flags)) < 0)
        return err;
    if (res < 0)
        return res;
    return (flags & IORING_CQE_F_MORE) ? 0 : -EOPNOTSUPP;
}

/* A listening AF_UNIX socket (autobound, so no name and no port is taken) and a client
 * already connected to it: 0 with both fds, or -errno. */
static int unix_listener_with_client(int *listener, int *client)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    socklen_t len = sizeof(sa_family_t);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0)
        return -errno;
    int c = -1, err = 0;
    if (bind(l, (struct sockaddr *)&addr, len) < 0 || listen(l, 4) < 0)
        err = -errno;
    len = sizeof(addr);
    if (!err && getsockname(l, (struct sockaddr *)&addr, &len) < 0)
        err = -errno;
    if (!err && (c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        err = -errno;
    if (!err && connect(c, (struct sockaddr *)&addr, len) < 0)
        err = -errno;
    if (err) {
        if (c >= 0)
            close(c);
        close(l);
        return err;
    }
    *listener = l;
    *client = c;
    return 0;
}

/* A connection waiting: a multishot accept returns it and says it stays armed. */
static int trial_multishot_accept(struct io_uring *ring)
{
    int listener = -1, client = -1;
    int err = unix_listener_with_client(&listener, &client);
    if (err < 0)
        return err;
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    int res = -EBUSY;
    unsigned flags = 0;
    if (sqe) {
        io_uring_prep_multishot_accept(sqe, listener, NULL, NULL, SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, TAG_ACCEPT);
        if ((err = trial_wait(ring, TAG_ACCEPT, &res, &flags)) < 0)
            res = err;
    }
    if (res >= 0) {
        close(res);
        res = (flags & IORING_CQE_F_MORE) ? 0 : -EOPNOTSUPP;
    }
    close(client);
    close(listener);
    return res;
}

static int trial_registered_ring(struct io_uring *ring)
{
    int ret = io_uring_register_ring_fd(ring);
    return ret < 0 ? ret : 0; /* io_uring_queue_exit() unregisters it */
}

/* The trials that need a socket pair and a buffer ring. */
static void trial_recv_side(struct io_uring *ring, struct ur_caps *caps, void *ring_mem, char *buf, unsigned len)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        caps->cancel_fd = caps->buf_ring = caps->multishot_recv = -errno;
        return;
    }
    caps->cancel_fd = trial_cancel_fd(ring, sv[0]);
    caps->buf_ring = ring_mem ? trial_buf_ring(ring, ring_mem, buf, len) : -ENOMEM;
    /* This backend issues multishot recvs with ring buffers only. */
    caps->multishot_recv = caps->buf_ring ? caps->buf_ring : trial_multishot_recv(ring, sv);
    close(sv[0]);
    close(sv[1]);
}

int ur_probe_kernel(struct ur_caps *caps)
{
    struct io_uring ring;
    int err = io_uring_queue_init(TRIAL_ENTRIES, &ring, 0);
    if (err < 0)
        return err;
    *caps = (struct ur_caps){0};
    probe_opcodes(&ring, caps);
    caps->registered_ring = trial_registered_ring(&ring);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *ring_mem = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char buf[64];
    trial_recv_side(&ring, caps, ring_mem == MAP_FAILED ? NULL : ring_mem, buf, sizeof(buf));
    caps->multishot_accept = trial_multishot_accept(&ring);
    io_uring_queue_exit(&ring); /* cancels what the trials left armed; buf is free after this */
    if (ring_mem != MAP_FAILED)
        munmap(ring_mem, page);
    return 0;
}
