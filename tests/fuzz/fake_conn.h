/* fake_conn.h - conn.h without a socket or a loop, for a stream protocol's harness.
 *
 * The protocol under test is compiled with fake_conn.c instead of conn.c: what it writes
 * lands in out; close, abort, pauses, holds and the one timer are recorded; the clock moves
 * only when the harness says; worker jobs run at once on the caller's thread and their posts
 * wait in a queue until fake_conn_run_posts(), as a loop would run them on a later turn.
 * Input goes through fake_conn_feed()/fake_conn_eof(): as conn.c does, while reading is paused
 * (or older input waits) it waits in the inbox, with what conn_unread() gave back in front, and
 * fake_conn_replay() delivers it once reading resumes.
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
    const struct proto *proto; /* set by the harness: where fed input goes */
    void *state;
    fuzz_buf out;
    bool closed;   /* conn_close(): writes fail from now on */
    bool aborted;  /* conn_abort(): what was queued is dropped */
    bool read_paused;
    fuzz_buf inbox;   /* input not delivered yet: unread, or fed while paused */
    bool eof_parked;  /* fake_conn_eof() came while input waited */
    bool timer_armed;
    uint64_t timer_due_ns;
    int holds;
    int corks;     /* nesting depth, must come back to 0 */
};

/* Input from the peer, and its EOF: delivered now, or parked in the inbox. */
void fake_conn_feed(conn *c, const char *data, size_t len);
void fake_conn_eof(conn *c);
/* Delivers the inbox (then a parked EOF) while reading is not paused. */
void fake_conn_replay(conn *c);
/* Runs the queued posts (and those they queue) in order. */
void fake_conn_run_posts(conn *c);
/* Moves the clock to the armed timer's deadline; false when none is armed. */
bool fake_conn_advance_to_timer(conn *c);
/* Moves the clock by ms. */
void fake_conn_advance(conn *c, uint64_t ms);

#endif
