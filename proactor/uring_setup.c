/* uring_setup.c - creating the ring and choosing which features to use on it.
 *
 * The ring is created with the best setup flags the kernel accepts, down a ladder:
 * SINGLE_ISSUER|DEFER_TASKRUN (completion work runs only while we wait: no interruptions),
 * then COOP_TASKRUN|TASKRUN_FLAG, then no flags; SQPOLL first when the config asks for it.
 * The CQ is sized from max_inflight and the pool so the expected load never overflows it,
 * unless cfg->cq_entries asks for a size (the SQ is then no larger: the kernel wants CQ >= SQ).
 * A SINGLE_ISSUER ring is created disabled and enabled by the first thread that needs the
 * kernel (ur_enable), so a loop may be created on one thread and run on another; the ring fd
 * is registered at that point too, since that registration belongs to one thread.
 * The probe's answers minus cfg->disable decide the optional features; describe lists them.
 */
#include "uring.h"

#include <errno.h>
#include <string.h>

#define SQ_MIN 64u
#define SQ_MAX 4096u
#define CQ_MAX 65536u /* the kernel's own limit (IORING_MAX_CQ_ENTRIES) */

const struct ur_rung ur_sqpoll_rung = { IORING_SETUP_SQPOLL | IORING_SETUP_SUBMIT_ALL, "sqpoll", 0 };

const struct ur_rung ur_ladder[UR_LADDER_LEN] = {
    { IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED | IORING_SETUP_SUBMIT_ALL,
      "defer_taskrun", IO_FEAT_DEFER_TASKRUN },
    { IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL, "coop_taskrun", 0 },
    { 0, "plain", 0 },
};

static unsigned pow2_between(uint64_t want, unsigned lo, unsigned hi)
{
    unsigned v = lo;
    while (v < want && v < hi)
        v <<= 1;
    return v;
}

/* Multishot ops post many CQEs each: one per pool buffer at most for recvs, a burst of
 * connections for accepts, on top of one per op in flight. */
static void ring_sizes(const io_loop_config *cfg, unsigned *sq, unsigned *cq)
{
    *sq = pow2_between(cfg->max_inflight, SQ_MIN, SQ_MAX);
    *cq = pow2_between(2ull * cfg->max_inflight + cfg->buf_count, 2 * *sq, CQ_MAX);
    if (cfg->cq_entries) {
        *cq = pow2_between(cfg->cq_entries, 1, CQ_MAX);
        if (*sq > *cq)
            *sq = *cq;
    }
}

int ur_try_rung(struct io_uring *ring, const struct ur_rung *rung, unsigned sq, unsigned cq, unsigned idle_ms,
                int sq_cpu)
{
    struct io_uring_params p = {
        .flags = rung->flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP,
        .cq_entries = cq,
        .sq_thread_idle = idle_ms,
    };
    if ((rung->flags & IORING_SETUP_SQPOLL) && sq_cpu > 0) {
        p.flags |= IORING_SETUP_SQ_AFF;
        p.sq_thread_cpu = (unsigned)sq_cpu - 1;
    }
    return io_uring_queue_init_params(sq, ring, &p);
}

static int create_ring(struct uring *u, const io_loop_config *cfg)
{
    unsigned sq, cq;
    ring_sizes(cfg, &sq, &cq);
    /* SQPOLL may need privileges the process lacks: without it the ladder still works, and
     * the description says why SQPOLL was refused. */
    if (cfg->sqpoll > 0) {
        u->sqpoll_err = ur_try_rung(&u->ring, &ur_sqpoll_rung, sq, cq, (unsigned)cfg->sqpoll, cfg->sqpoll_cpu);
        if (u->sqpoll_err == 0) {
            u->rung = &ur_sqpoll_rung;
            return 0;
        }
    }
    int err = -EINVAL;
    for (int i = 0; i < UR_LADDER_LEN; i++) {
        if (ur_ladder[i].feat & cfg->disable)
            continue;
        err = ur_try_rung(&u->ring, &ur_ladder[i], sq, cq, 0, 0);
        if (err == 0) {
            u->rung = &ur_ladder[i];
            return 0;
        }
        if (err != -EINVAL) /* only "unknown flag" is worth another rung */
            return err;
    }
    return err;
}

static int check_opcodes(io_loop *loop, const struct ur_caps *caps)
{
    for (int i = 0; i < UR_OP_REQUIRED; i++) {
        if (caps->op[i] < 0) {
            snprintf(loop->describe, sizeof(loop->describe), "io_uring lacks IORING_OP_%s", ur_opcode_name(i));
            return -ENOSYS;
        }
    }
    return 0;
}

static unsigned choose_features(const struct uring *u, const struct ur_caps *caps, unsigned disable)
{
    unsigned feats = u->rung->feat;
    if (caps->registered_ring == 0)
        feats |= IO_FEAT_REGISTERED_RING;
    if (caps->multishot_accept == 0)
        feats |= IO_FEAT_MULTISHOT_ACCEPT;
    if (caps->buf_ring == 0)
        feats |= IO_FEAT_BUF_RING;
    if (caps->multishot_recv == 0)
        feats |= IO_FEAT_MULTISHOT_RECV;
    if (caps->cancel_fd == 0)
        feats |= IO_FEAT_CANCEL_FD;
    if (caps->op[UR_OP_SPLICE] == 0)
        feats |= IO_FEAT_SPLICE;
    if (caps->op[UR_OP_MSG_RING] == 0)
        feats |= IO_FEAT_MSG_RING;
    if (caps->op[UR_OP_OPENAT2] == 0 && caps->op[UR_OP_STATX] == 0)
        feats |= IO_FEAT_FILE_OPS;
    feats &= ~disable;
    if (!(feats & IO_FEAT_BUF_RING)) /* multishot recvs pick their buffers from the ring */
        feats &= ~IO_FEAT_MULTISHOT_RECV;
    return feats;
}

/* The buffer ring when chosen and the kernel takes it on this ring, else the free stack. */
static int setup_bufs(io_loop *loop, struct uring *u)
{
    if ((u->feats & IO_FEAT_BUF_RING) && ur_bufs_init_ring(&u->bufs, &u->ring, loop) == 0)
        return 0;
    u->feats &= ~(IO_FEAT_BUF_RING | IO_FEAT_MULTISHOT_RECV);
    return ur_bufs_init_stack(&u->bufs, loop);
}

int ur_setup(io_loop *loop, struct uring *u, const io_loop_config *cfg)
{
    int err = create_ring(u, cfg);
    if (err < 0) {
        snprintf(loop->describe, sizeof(loop->describe), "io_uring_setup: %s", strerror(-err));
        return err;
    }
    struct ur_caps caps;
    err = ur_probe_kernel(&caps);
    if (err < 0)
        snprintf(loop->describe, sizeof(loop->describe), "io_uring probe: %s", strerror(-err));
    else
        err = check_opcodes(loop, &caps);
    if (err == 0) {
        u->setup_flags = u->rung->flags;
        u->feats = choose_features(u, &caps, cfg->disable);
        u->needs_enable = (u->setup_flags & IORING_SETUP_R_DISABLED) != 0;
        u->wants_reg_ring = (u->feats & IO_FEAT_REGISTERED_RING) != 0;
        u->kernel_openat2 = u->kernel_statx = (u->feats & IO_FEAT_FILE_OPS) != 0;
        err = setup_bufs(loop, u);
    }
    if (err < 0) {
        io_uring_queue_exit(&u->ring);
        return err;
    }
    ur_describe(loop, u);
    return 0;
}

/* Called before anything enters the kernel, from the thread running the loop. */
int ur_enable(io_loop *loop, struct uring *u)
{
    if (u->needs_enable) {
        int err = io_uring_register(u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
        if (err < 0)
            return err;
        u->needs_enable = 0;
    }
    if (u->wants_reg_ring) {
        u->wants_reg_ring = 0;
        if (io_uring_register_ring_fd(&u->ring) < 0) {
            u->feats &= ~IO_FEAT_REGISTERED_RING;
            ur_describe(loop, u);
        }
    }
    return 0;
}

void ur_describe(io_loop *loop, const struct uring *u)
{
    unsigned f = u->feats;
    char refused[64] = "";
    if (u->sqpoll_err < 0)
        snprintf(refused, sizeof(refused), " (sqpoll refused: %s)", strerror(-u->sqpoll_err));
    snprintf(loop->describe, sizeof(loop->describe), "uring: %s%s%s %s %s %s(%ux%u) %s %s%s%s%s", u->rung->name, refused,
             (f & IO_FEAT_REGISTERED_RING) ? " registered_ring" : "",
             (f & IO_FEAT_MULTISHOT_ACCEPT) ? "multishot_accept" : "rearmed_accept",
             (f & IO_FEAT_MULTISHOT_RECV) ? "multishot_recv" : "rearmed_recv",
             (f & IO_FEAT_BUF_RING) ? "buf_ring" : "poll_then_recv", loop->buf_count, loop->buf_size,
             (f & IO_FEAT_CANCEL_FD) ? "cancel_fd" : "cancel_each",
             (f & IO_FEAT_SPLICE) ? "splice" : "bounce_sendfile", u->kernel_openat2 ? "" : " sync_openat2",
             u->kernel_statx ? "" : " sync_statx", (f & IO_FEAT_MSG_RING) ? " msg_ring" : "");
}
