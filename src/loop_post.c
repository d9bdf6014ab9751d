/* loop_post.c - io_loop_post, the cross-thread hand-off (loop.h, rule 7's one exception).
 *
 * A post goes by the backend's own means when both loops' backend offers one (the proactor's
 * MSG_RING), else on the target's inbox: a mutex-protected FIFO plus an eventfd.  The sender
 * writes the eventfd only when its post made the inbox non-empty, so a burst costs one wake;
 * the target keeps an io_read armed on the eventfd through its own backend and empties the
 * whole inbox when it completes.  That read is the core's own op: io_loop_pending() and
 * io_loop_run's exit test leave it out, so it never keeps a loop alive by itself.
 * Everything here but io_loop_post/io_core_post_inbox runs on the loop's own thread.
 */
#include "loop_backend.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

int io_inbox_init(io_loop *loop)
{
    struct io_inbox *in = &loop->inbox;
    in->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (in->efd < 0)
        return -errno;
    int err = pthread_mutex_init(&in->lock, NULL);
    if (err) {
        close(in->efd);
        in->efd = -1;
        return -err;
    }
    return 0;
}

/* After the backend is gone: the read it held on efd went with it. */
void io_inbox_free(io_loop *loop)
{
    struct io_inbox *in = &loop->inbox;
    if (in->efd < 0)
        return;
    /* A sender still inside io_core_post_inbox finishes before the eventfd goes. */
    pthread_mutex_lock(&in->lock);
    pthread_mutex_unlock(&in->lock);
    close(in->efd);
    in->efd = -1;
    pthread_mutex_destroy(&in->lock);
}

static io_post *inbox_take_all(struct io_inbox *in)
{
    pthread_mutex_lock(&in->lock);
    io_post *all = in->head;
    in->head = in->tail = NULL;
    pthread_mutex_unlock(&in->lock);
    return all;
}

/* Run what is in the inbox now; posts made by the fns wait for the next wake. */
int io_inbox_drain(io_loop *loop)
{
    int ran = 0;
    io_post *post = inbox_take_all(&loop->inbox);
    while (post) {
        io_post *next = post->next; /* fn may free or re-post it */
        post->fn(loop, post);
        post = next;
        ran++;
    }
    return ran;
}

static void inbox_woken(io_loop *loop, io_op *op, int res, unsigned flags)
{
    loop->inbox.armed = 0;
    loop->internal--;
    io_inbox_drain(loop); /* re-armed by the next iteration (io_inbox_arm) */
}

int io_inbox_arm(io_loop *loop)
{
    struct io_inbox *in = &loop->inbox;
    if (in->armed)
        return 0;
    int err = io_read(loop, &in->wake, in->efd, &in->counter, sizeof(in->counter), IO_OFFSET_CURRENT,
                      inbox_woken, NULL);
    if (err < 0)
        return err;
    in->armed = 1;
    loop->internal++;
    return 0;
}

void io_core_post_inbox(io_loop *to, io_post *post)
{
    struct io_inbox *in = &to->inbox;
    post->next = NULL;
    pthread_mutex_lock(&in->lock);
    int was_empty = in->head == NULL;
    if (in->tail)
        in->tail->next = post;
    else
        in->head = post;
    in->tail = post;
    if (was_empty) {
        /* Written under the lock: once the target can take this post (and, running it, may
         * stop and destroy itself), the sender has finished with the inbox.  Cannot fail
         * short of a counter at UINT64_MAX - 1, which one write per empty-to-non-empty turn
         * never reaches before the target reads it back to 0. */
        uint64_t one = 1;
        ssize_t n = write(in->efd, &one, sizeof(one));
        (void)n;
    }
    pthread_mutex_unlock(&in->lock);
}

void io_core_post_arrived(io_loop *loop, io_post *post)
{
    io_inbox_drain(loop);
    post->fn(loop, post);
}

int io_loop_post(io_loop *from, io_loop *to, io_post *post)
{
    if (!to || !post || !post->fn)
        return -EINVAL;
    if (from && from != to && from->backend == to->backend && from->backend->post(from, to, post) == 0)
        return 0;
    io_core_post_inbox(to, post);
    return 0;
}

void io_loop_keepalive(io_loop *loop, int on)
{
    loop->keepalive = on != 0;
}
