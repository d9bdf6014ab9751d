/* uring_report.c - what `ioserve --probe` prints for the proactor: one "  feature: yes" or
 * "  feature: no (ENAME: words)" line per setup flag set, opcode and optional feature this
 * backend would use, found the same way init finds them.  Needs no loop, and still says
 * something useful when io_uring_setup itself is refused (seccomp, a sysctl, no io_uring).
 */
#include "uring.h"

#include <errno.h>
#include <string.h>

#define REPORT_ENTRIES 8

static void line(FILE *out, const char *what, int err)
{
    if (err == 0) {
        fprintf(out, "  %s: yes\n", what);
        return;
    }
    const char *name = strerrorname_np(-err);
    fprintf(out, "  %s: no (%s: %s)\n", what, name ? name : "?", strerror(-err));
}

static int try_setup(const struct ur_rung *rung, unsigned idle_ms)
{
    struct io_uring ring;
    int err = ur_try_rung(&ring, rung, REPORT_ENTRIES, 2 * REPORT_ENTRIES, idle_ms, 0);
    if (err == 0)
        io_uring_queue_exit(&ring);
    return err;
}

/* The setup ladder, rung by rung; returns the plain rung's answer (is io_uring there?). */
static int report_setup(FILE *out)
{
    int plain = 0;
    char what[64];
    for (int i = 0; i < UR_LADDER_LEN; i++) {
        int err = try_setup(&ur_ladder[i], 0);
        snprintf(what, sizeof(what), "setup %s", ur_ladder[i].name);
        line(out, what, err);
        plain = err;
    }
    if (plain == 0)
        line(out, "setup sqpoll", try_setup(&ur_sqpoll_rung, 10));
    return plain;
}

static void report_caps(FILE *out, const struct ur_caps *caps)
{
    char what[64];
    line(out, "opcode probe", caps->probe);
    for (int i = 0; i < UR_OP_COUNT; i++) {
        snprintf(what, sizeof(what), "opcode %s", ur_opcode_name(i));
        line(out, what, caps->op[i]);
    }
    line(out, "registered ring fd", caps->registered_ring);
    line(out, "multishot accept", caps->multishot_accept);
    line(out, "provided buffer ring", caps->buf_ring);
    line(out, "multishot recv (with the buffer ring)", caps->multishot_recv);
    line(out, "cancel by fd (all)", caps->cancel_fd);
}

void ur_report(FILE *out)
{
    int err = report_setup(out);
    if (err < 0) {
        line(out, "io_uring (io_uring_setup)", err);
        return;
    }
    struct ur_caps caps;
    err = ur_probe_kernel(&caps);
    if (err < 0) {
        line(out, "feature probe", err);
        return;
    }
    report_caps(out, &caps);
}
