/* probe.c - `ioserve --probe` (probe.h). */
#include "probe.h"

#include <errno.h>
#include <sys/utsname.h>

#include "loop_backend.h"
#include "net.h"

/* Small loops: the probe only needs to know whether one can be made. */
#define PROBE_BUF_COUNT 8u
#define PROBE_BUF_SIZE 4096u

static int try_loop(enum io_backend_kind kind, io_loop **out)
{
    io_loop_config cfg = {.backend = kind, .buf_count = PROBE_BUF_COUNT, .buf_size = PROBE_BUF_SIZE};
    return io_loop_create(out, &cfg);
}

int probe_report(FILE *out)
{
    struct utsname un;
    if (uname(&un) < 0)
        return -errno;
    fprintf(out, "kernel: %s %s %s\n", un.sysname, un.release, un.machine);

    fprintf(out, "uring backend (io_uring proactor):\n");
    io_backend_uring.report(out);
    fprintf(out, "epoll, poll and select backends (the reactor):\n");
    io_backend_reactor.report(out);

    char text[128];
    io_loop *loop;
    int err = try_loop(IO_BACKEND_URING, &loop);
    if (err == 0) {
        fprintf(out, "io_uring setup: yes (%s)\n", io_loop_describe(loop));
        io_loop_destroy(loop);
    } else {
        fprintf(out, "io_uring setup: no: %s\n", net_strerror(err, text, sizeof(text)));
    }

    err = try_loop(IO_BACKEND_AUTO, &loop);
    if (err < 0) {
        fprintf(out, "auto picks: nothing: %s\n", net_strerror(err, text, sizeof(text)));
        return 0;
    }
    fprintf(out, "auto picks: %s (%s)\n", io_loop_backend_name(loop), io_loop_describe(loop));
    io_loop_destroy(loop);
    return 0;
}
