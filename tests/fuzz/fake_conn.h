/* fake_conn.h - conn.h without a socket or a loop, for a stream protocol's harness.
 *
 * The protocol under test is compiled with fake_conn.c instead of conn.c: what it writes
 * lands in out; close, abort, pauses, holds and the one timer are recorded; the clock moves
 * only when the harness says; worker jobs run at once on the caller's thread and their posts
 * wait in a queue until fake_conn_run_posts(), as a loop would run them on a later turn.
 */
#ifndef IOSERVE_TESTS_FAKE_CONN_H
#define IOSERVE_TESTS_FAKE_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "fuzz.h"

#define FAKE_CONN_MAX_POSTS 4096

struct io_loop {
    uint64_t now_ns;
    io_post *posts[FAKE_CONN_MAX_POSTS];
    size_t post_count;
};

struct conn {
    struct io_loop loop;
    void *state;
    fuzz_buf out;
    bool closed;   /* conn_close(): writes fail from now on */
    bool aborted;  /* conn_abort(): what was queued is dropped */
    bool read_paused;
    bool timer_armed;
    uint64_t timer_due_ns;
    int holds;
    int corks;     /* nesting depth, must come back to 0 */
};

/* Runs the queued posts (and those they queue) in order. */
void fake_conn_run_posts(conn *c);
/* Moves the clock to the armed timer's deadline; false when none is armed. */
bool fake_conn_advance_to_timer(conn *c);
/* Moves the clock by ms. */
void fake_conn_advance(conn *c, uint64_t ms);

#endif
