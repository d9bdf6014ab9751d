/* loop_tests.h - the tests of the loop suite, each a cmocka test whose state is the
 * struct suite naming the backend under test (main is in test_loop.c). */
#ifndef IOSERVE_TESTS_LOOP_TESTS_H
#define IOSERVE_TESTS_LOOP_TESTS_H

/* test_loop_streams.c: connections and byte streams */
void test_thousand_connections(void **state);
void test_eight_megabytes_both_ways(void **state);
void test_short_sends_are_continued(void **state);
void test_peer_reset_single_recv(void **state);
void test_peer_reset_multishot_recv(void **state);
void test_half_close(void **state);
void test_clients_that_leave_at_once(void **state);

/* test_loop_timers.c: timers and io_loop_run */
void test_timers(void **state);
void test_run_and_stop(void **state);
void test_many_timers(void **state);
void test_timer_armed_after_a_sleep(void **state);

/* test_loop_pool.c: the receive-buffer pool running dry */
void test_recv_outlasts_an_empty_pool(void **state);
void test_recvs_share_a_dry_pool(void **state);
void test_cancel_recv_waiting_for_buffer(void **state);
void test_close_recv_waiting_for_buffer(void **state);

/* test_loop_ops.c: cancel, close, failed submits, resubmits, reads */
void test_cancel_pending_recv(void **state);
void test_cancel_pending_multishot_recv(void **state);
void test_single_shot_ops_resubmitted_from_callbacks(void **state);
void test_cancel_edges(void **state);
void test_fd_number_reused(void **state);
void test_fd_beyond_fd_setsize(void **state);
void test_fd_closed_behind_the_loop(void **state);
void test_failed_submit_never_calls_back(void **state);
void test_close_cancels_multishot_recv(void **state);
void test_close_cancels_multishot_accept(void **state);
void test_close_cancels_blocked_send(void **state);
void test_read_regular_file(void **state);
void test_read_pipe(void **state);

/* test_loop_files.c: openat2, statx, sendfile; one op of a kind per fd; writers on full sockets */
void test_openat2_beneath_a_root(void **state);
void test_statx_size_and_mtime(void **state);
void test_sendfile_16mb_to_a_slow_reader(void **state);
void test_sendfile_ranges_and_short_files(void **state);
void test_sendfile_cancelled_in_flight(void **state);
void test_close_during_sendfile(void **state);
void test_sendfile_to_a_peer_gone(void **state);
void test_one_op_of_a_kind_per_fd(void **state);
void test_many_writers_on_full_sockets(void **state);

#endif
