/* reactor_file.c - the reactor's file operations.
 *
 * A regular file is never "ready" in epoll's sense (epoll refuses it), so openat2 and statx run
 * at submit (io_core_openat2_now, io_core_statx_now) and their results wait on the core's queue
 * for the next iteration.  sendfile(2)
 * runs while the socket takes bytes: at submit, then on each EPOLLOUT (the op waits in the send
 * slot, so a send and a sendfile never interleave on one stream).
 */
#include "reactor.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/sendfile.h>
#include <unistd.h>

/* Move file bytes into the socket until it is full, the file ends or all are sent. */
static int sendfile_until_blocked(int sock, io_op *op)
{
    while (op->u.sendfile.len > 0) {
        off_t offset = (off_t)op->u.sendfile.offset;
        ssize_t n = sendfile(sock, op->u.sendfile.file_fd, &offset, op->u.sendfile.len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        }
        if (n == 0)
            return 1; /* the file ended first */
        op->u.sendfile.offset += (uint64_t)n;
        op->u.sendfile.len -= (size_t)n;
        op->u.sendfile.done += (size_t)n;
    }
    return 1;
}

/* sendfile(2) takes no MSG_NOSIGNAL: to a peer that is gone it raises SIGPIPE, which would
 * kill a process that never asked for it (io_send raises none).  So SIGPIPE is blocked in this
 * thread around the calls, and the one they raised is taken back before it is unblocked.
 * (Were it blocked already, what is pending is the caller's business: left alone.) */
int ep_sendfile_progress(int sock, io_op *op)
{
    sigset_t sigpipe, old;
    sigemptyset(&sigpipe);
    sigaddset(&sigpipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigpipe, &old);
    int progress = sendfile_until_blocked(sock, op);
    if (progress == -EPIPE && !sigismember(&old, SIGPIPE)) {
        const struct timespec no_wait = {0};
        while (sigtimedwait(&sigpipe, NULL, &no_wait) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return progress;
}
