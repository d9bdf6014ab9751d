/* loop_harness.h - what every part of the loop suite shares: failure logs, loops made for
 * the backend under test, bounded running, and completion records.
 *
 * Callbacks and client threads record failures in a check_log rather than asserting: a
 * cmocka assert longjmps, which must happen neither inside the loop's dispatch nor on another
 * thread.  A test asserts its logs (assert_log_clean) once its loop has stopped and its
 * threads are joined.  Every wait here is bounded; every loop a test makes it finishes with
 * loop_finish, which fails unless nothing is pending.
 */
#ifndef IOSERVE_TESTS_LOOP_HARNESS_H
#define IOSERVE_TESTS_LOOP_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <setjmp.h>
#include <cmocka.h>

#include "loop.h"
#include "net_helpers.h"

struct check_log {
    int failures;
    char first[256];
};

void check_failed(struct check_log *log, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CHECK(log, cond)                                                  \
    do {                                                                  \
        if (!(cond))                                                      \
            check_failed((log), __LINE__, "%s", #cond);                   \
    } while (0)

#define CHECK_EQ(log, got, want)                                                       \
    do {                                                                               \
        long long got_ = (long long)(got), want_ = (long long)(want);                  \
        if (got_ != want_)                                                             \
            check_failed((log), __LINE__, "%s is %lld, expected %lld", #got, got_, want_); \
    } while (0)

#define assert_log_clean(log)                                                           \
    do {                                                                                \
        if ((log)->failures)                                                            \
            fail_msg("%d failed check(s); first at %s", (log)->failures, (log)->first); \
    } while (0)

struct suite {
    const char *arg;          /* the backend as named on the command line */
    const char *backend_name; /* what io_loop_backend_name() must report for it */
    io_loop_config cfg;
};

typedef bool (*until_fn)(void *ctx);

struct record {
    struct check_log *log;
    int calls;       /* completions delivered */
    int finals;      /* completions without IO_CQE_MORE */
    int res;         /* the last result */
    unsigned flags;  /* the last flags */
};

/* An op pending on an fd while the fd is closed (rule 6). */
struct close_race {
    struct record pending;
    struct record close;
};

/* A loop with the backend under test (the cmocka state); buf_count / buf_size 0: defaults. */
io_loop *loop_new(void **state, uint32_t buf_count, uint32_t buf_size);
/* Fails unless nothing is pending, then destroys the loop. */
void loop_finish(io_loop *loop);

/* Run the loop until done(ctx) (which may also do a peer's work between iterations):
 * 0, -ETIMEDOUT after timeout_ms, or the loop's own error. */
int run_until(io_loop *loop, int timeout_ms, until_fn done, void *ctx);
/* Run the loop for ms whatever happens: 0, or the loop's error. */
int run_for(io_loop *loop, int ms);
bool nothing_pending(void *loop);

/* record_cb is the callback for ops whose data is a struct record; record_recv_cb also gives
 * each lent buffer straight back.  A completion after the final one is a failed check. */
void record_add(struct record *r, int res, unsigned flags);
void record_cb(io_loop *loop, io_op *op, int res, unsigned flags);
void record_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags);
bool record_final(void *r);
bool record_called(void *r);

/* Close fd through the loop and wait for it: the close's result. */
int close_through_loop(io_loop *loop, int fd);
/* Close fd while an op is pending on it: that op ends once (its result left in cr->pending)
 * and the close completes with 0; nothing is pending afterwards. */
void close_with_pending(io_loop *loop, struct close_race *cr, int fd);

#endif
