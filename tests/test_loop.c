/* test_loop.c - the loop interface (src/loop.h) held to its rules over real loopback sockets.
 *
 * One program run once per backend: argv[1] is "uring", "uring-basic" (io_uring with every
 * optional feature disabled, i.e. the fallback paths), "uring-sqpoll" (a kernel thread
 * submits; the loop watches its CQ before it waits), "epoll-lt", "epoll-et", "poll" or "select".  It knows
 * loop.h only, never a backend's internals.  Every test creates its own loop, bounds every
 * wait, and ends with nothing pending in its loop.  The tests live in test_loop_*.c; the
 * helpers they share in loop_harness.c (failure logs, bounded running) and loop_echo.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kernel_probe.h"
#include "loop_harness.h"
#include "loop_tests.h"

/* ---- the backend comes up as asked ---- */

static void test_backend_comes_up(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    const char *describe = io_loop_describe(loop);
    assert_non_null(describe);
    assert_true(describe[0] != '\0');
    const struct suite *s = *state;
    print_message("%s: %s\n", s->arg, describe);
    /* main() skipped this suite where the kernel refuses SQPOLL, so here it must be in use. */
    if (s->cfg.sqpoll)
        assert_true(strncmp(describe, "uring: sqpoll ", 14) == 0);
    assert_int_equal(io_buf_size(loop), IO_DEFAULT_BUF_SIZE);
    loop_finish(loop);
}

/* ---- the backend matrix ---- */

#define BASIC_DISABLE (IO_FEAT_MULTISHOT_ACCEPT | IO_FEAT_MULTISHOT_RECV | IO_FEAT_BUF_RING | \
                       IO_FEAT_DEFER_TASKRUN | IO_FEAT_REGISTERED_RING | IO_FEAT_CANCEL_FD | IO_FEAT_SPLICE | \
                       IO_FEAT_FILE_OPS | IO_FEAT_MSG_RING)

static int suite_from_arg(const char *arg, struct suite *s)
{
    static const struct suite known[] = {
        { "uring", "uring", { .backend = IO_BACKEND_URING } },
        { "uring-basic", "uring", { .backend = IO_BACKEND_URING, .disable = BASIC_DISABLE } },
        /* SQPOLL waits by watching the CQ before it enters the kernel: same contract. */
        { "uring-sqpoll", "uring", { .backend = IO_BACKEND_URING, .sqpoll = 10 } },
        { "epoll-lt", "epoll-lt", { .backend = IO_BACKEND_EPOLL, .epoll_mode = IO_EPOLL_LT } },
        { "epoll-et", "epoll-et", { .backend = IO_BACKEND_EPOLL, .epoll_mode = IO_EPOLL_ET } },
        { "poll", "poll", { .backend = IO_BACKEND_POLL } },
        { "select", "select", { .backend = IO_BACKEND_SELECT } },
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(arg, known[i].arg) == 0) {
            *s = known[i];
            return 0;
        }
    }
    return -EINVAL;
}

int main(int argc, char **argv)
{
    struct suite s;
    if (argc != 2 || suite_from_arg(argv[1], &s) < 0) {
        fprintf(stderr, "usage: %s uring|uring-basic|uring-sqpoll|epoll-lt|epoll-et|poll|select\n", argv[0]);
        return 2;
    }
    char why[128];
    if (s.cfg.sqpoll && kernel_probe_sqpoll(why, sizeof why) < 0) {
        printf("SKIP %s: %s\n", s.arg, why);
        return TEST_SKIP_STATUS;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_backend_comes_up, &s),
        cmocka_unit_test_prestate(test_thousand_connections, &s),
        cmocka_unit_test_prestate(test_eight_megabytes_both_ways, &s),
        cmocka_unit_test_prestate(test_short_sends_are_continued, &s),
        cmocka_unit_test_prestate(test_peer_reset_single_recv, &s),
        cmocka_unit_test_prestate(test_peer_reset_multishot_recv, &s),
        cmocka_unit_test_prestate(test_half_close, &s),
        cmocka_unit_test_prestate(test_clients_that_leave_at_once, &s),
        cmocka_unit_test_prestate(test_timers, &s),
        cmocka_unit_test_prestate(test_run_and_stop, &s),
        cmocka_unit_test_prestate(test_cancel_pending_recv, &s),
        cmocka_unit_test_prestate(test_cancel_pending_multishot_recv, &s),
        cmocka_unit_test_prestate(test_recv_outlasts_an_empty_pool, &s),
        cmocka_unit_test_prestate(test_recvs_share_a_dry_pool, &s),
        cmocka_unit_test_prestate(test_single_shot_ops_resubmitted_from_callbacks, &s),
        cmocka_unit_test_prestate(test_many_timers, &s),
        cmocka_unit_test_prestate(test_timer_armed_after_a_sleep, &s),
        cmocka_unit_test_prestate(test_cancel_edges, &s),
        cmocka_unit_test_prestate(test_fd_number_reused, &s),
        cmocka_unit_test_prestate(test_fd_beyond_fd_setsize, &s),
        cmocka_unit_test_prestate(test_fd_closed_behind_the_loop, &s),
        cmocka_unit_test_prestate(test_failed_submit_never_calls_back, &s),
        cmocka_unit_test_prestate(test_close_cancels_multishot_recv, &s),
        cmocka_unit_test_prestate(test_close_cancels_multishot_accept, &s),
        cmocka_unit_test_prestate(test_close_cancels_blocked_send, &s),
        cmocka_unit_test_prestate(test_cancel_recv_waiting_for_buffer, &s),
        cmocka_unit_test_prestate(test_close_recv_waiting_for_buffer, &s),
        cmocka_unit_test_prestate(test_read_regular_file, &s),
        cmocka_unit_test_prestate(test_read_pipe, &s),
        cmocka_unit_test_prestate(test_openat2_beneath_a_root, &s),
        cmocka_unit_test_prestate(test_statx_size_and_mtime, &s),
        cmocka_unit_test_prestate(test_sendfile_16mb_to_a_slow_reader, &s),
        cmocka_unit_test_prestate(test_sendfile_ranges_and_short_files, &s),
        cmocka_unit_test_prestate(test_sendfile_cancelled_in_flight, &s),
        cmocka_unit_test_prestate(test_close_during_sendfile, &s),
        cmocka_unit_test_prestate(test_sendfile_to_a_peer_gone, &s),
        cmocka_unit_test_prestate(test_one_op_of_a_kind_per_fd, &s),
        cmocka_unit_test_prestate(test_many_writers_on_full_sockets, &s),
    };
    return cmocka_run_group_tests_name(argv[1], tests, NULL, NULL);
}
