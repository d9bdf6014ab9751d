/* loop_harness.c - the loop suite's shared helpers (contract in loop_harness.h). */
#include "loop_harness.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- recording failures outside the test's own frame ---- */

void check_failed(struct check_log *log, int line, const char *fmt, ...)
{
    if (log->failures++)
        return;
    int n = snprintf(log->first, sizeof log->first, "line %d: ", line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log->first + n, sizeof log->first - (size_t)n, fmt, ap);
    va_end(ap);
}

/* ---- the backend under test, loops and bounded running ---- */

/* buf_count / buf_size 0: the loop's defaults.  The test fails, never skips, when the backend
 * cannot be created: every backend is expected to work on the machines this suite runs on. */
io_loop *loop_new(void **state, uint32_t buf_count, uint32_t buf_size)
{
    const struct suite *s = *state;
    io_loop_config cfg = s->cfg;
    cfg.buf_count = buf_count;
    cfg.buf_size = buf_size;
    io_loop *loop = NULL;
    int rc = io_loop_create(&loop, &cfg);
    if (rc != 0)
        fail_msg("io_loop_create(%s) failed: %s", s->arg, strerror(-rc));
    assert_string_equal(io_loop_backend_name(loop), s->backend_name);
    assert_int_equal(io_loop_pending(loop), 0);
    return loop;
}

void loop_finish(io_loop *loop)
{
    assert_int_equal(io_loop_pending(loop), 0);
    io_loop_destroy(loop);
}

int run_until(io_loop *loop, int timeout_ms, until_fn done, void *ctx)
{
    uint64_t deadline = tnet_now_ms() + (uint64_t)timeout_ms;
    while (!done(ctx)) {
        if (tnet_now_ms() >= deadline)
            return -ETIMEDOUT;
        int rc = io_loop_run_once(loop, 5);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool never(void *unused)
{
    return false;
}

bool nothing_pending(void *loop)
{
    return io_loop_pending(loop) == 0;
}

int run_for(io_loop *loop, int ms)
{
    int rc = run_until(loop, ms, never, NULL);
    return rc == -ETIMEDOUT ? 0 : rc;
}

/* ---- a plain completion record ---- */

void record_add(struct record *r, int res, unsigned flags)
{
    if (r->finals) /* rule 2: the final completion is the last one */
        check_failed(r->log, __LINE__, "a completion (%d) after the final one", res);
    r->calls++;
    r->finals += !(flags & IO_CQE_MORE);
    r->res = res;
    r->flags = flags;
}

void record_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    record_add(op->data, res, flags);
}

void record_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    if (res > 0)
        io_buf_release(loop, op->buf);
    record_cb(loop, op, res, flags);
}

bool record_final(void *r)
{
    return ((struct record *)r)->finals > 0;
}

bool record_called(void *r)
{
    return ((struct record *)r)->calls > 0;
}

int close_through_loop(io_loop *loop, int fd)
{
    struct check_log log = {0};
    struct record rec = { .log = &log };
    io_op op = {0};
    int rc = io_close(loop, &op, fd, record_cb, &rec);
    if (rc < 0)
        return rc;
    rc = run_until(loop, 2000, record_final, &rec);
    if (rc < 0)
        return rc;
    return rec.calls == 1 && !log.failures ? rec.res : -EPROTO;
}

static bool close_race_done(void *arg)
{
    struct close_race *cr = arg;
    return cr->pending.finals > 0 && cr->close.finals > 0;
}

void close_with_pending(io_loop *loop, struct close_race *cr, int fd)
{
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(cr->pending.calls, 0);
    io_op close_op = {0};
    assert_int_equal(io_close(loop, &close_op, fd, record_cb, &cr->close), 0);
    assert_int_equal(run_until(loop, 2000, close_race_done, cr), 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(cr->pending.calls, 1);
    assert_int_equal(cr->pending.flags, 0);
    assert_int_equal(cr->close.calls, 1);
    assert_int_equal(cr->close.res, 0);
    assert_int_equal(io_loop_pending(loop), 0);
}
