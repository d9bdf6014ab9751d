/* uring_post.c - io_loop_post from one ring to another by IORING_OP_MSG_RING.
 *
 * The sender queues a MSG_RING request on its own ring naming the target's ring fd; the
 * kernel puts a completion on the target ring whose user_data is the post (UR_TAG_POST_IN),
 * with DEFER_TASKRUN as task work the target runs when it next enters its ring.  The request
 * also ends on the sender's ring (UR_TAG_POST_SENT): until then the post counts in the
 * sender's posts_in_transit, so its io_loop_run does not return with the request unsent.  On
 * success that completion never touches the post (the target may have freed it by then); on
 * failure the post was not delivered and goes to the target's inbox instead.
 * Only a target that is enabled (its issuer set, so the kernel can queue work for it) and
 * uses IO_FEAT_MSG_RING takes messages; otherwise, and with no SQE to be had, the core uses
 * the inbox.  A sender keeps its order: the target empties its inbox before running a post
 * that came by MSG_RING (io_core_post_arrived), so posts that went the inbox way earlier run
 * first.  Only a MSG_RING the kernel refuses late (out of memory) can run after later ones.
 */
#include "uring.h"

#include <errno.h>

/* The kernel carries the post from one thread to the other: tell ThreadSanitizer, which
 * cannot see that, so the caller's writes to the post are known to precede fn's reads. */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define POST_HANDED_OVER(p) __tsan_release(p)
#define POST_TAKEN_OVER(p) __tsan_acquire(p)
#else
#define POST_HANDED_OVER(p) ((void)(p))
#define POST_TAKEN_OVER(p) ((void)(p))
#endif

int ur_post(io_loop *from, io_loop *to, io_post *post)
{
    struct uring *src = ur_of(from);
    struct uring *dst = ur_of(to);
    if (!(src->feats & IO_FEAT_MSG_RING) || !atomic_load_explicit(&dst->takes_msg_ring, memory_order_acquire))
        return -EOPNOTSUPP;
    struct io_uring_sqe *sqe = ur_get_sqe(from, src);
    if (!sqe)
        return -EOPNOTSUPP;
    post->to = to;
    uintptr_t p = (uintptr_t)post;
    io_uring_prep_msg_ring(sqe, dst->ring.ring_fd, 0, (uint64_t)(p | UR_TAG_POST_IN), 0);
    io_uring_sqe_set_data64(sqe, (uint64_t)(p | UR_TAG_POST_SENT));
    POST_HANDED_OVER(post);
    from->posts_in_transit++;
    return 0;
}

int ur_on_post_cqe(io_loop *loop, uint64_t user_data, int res)
{
    io_post *post = (io_post *)(uintptr_t)(user_data & ~(uint64_t)UR_TAG_MASK);
    if (user_data & UR_TAG_POST_IN) {
        POST_TAKEN_OVER(post);
        io_core_post_arrived(loop, post);
        return 1;
    }
    loop->posts_in_transit--;
    if (res < 0)
        io_core_post_inbox(post->to, post);
    return 0;
}
