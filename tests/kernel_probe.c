/* kernel_probe.c - see kernel_probe.h. */
#include "kernel_probe.h"

#include <stdio.h>
#include <string.h>

#include <liburing.h>

int kernel_probe_sqpoll(char *why, size_t why_len)
{
    struct io_uring ring;
    struct io_uring_params p = { .flags = IORING_SETUP_SQPOLL, .sq_thread_idle = 10 };
    int rc = io_uring_queue_init_params(4, &ring, &p);
    if (rc < 0) {
        snprintf(why, why_len, "the kernel refuses an SQPOLL ring: %s", strerror(-rc));
        return rc;
    }
    io_uring_queue_exit(&ring);
    return 0;
}
