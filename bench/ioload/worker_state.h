/* worker_state.h - a worker's private state, shared by its two halves: worker.c (the loop:
 * pacing, sweeping, measuring) and worker_conn.c (what happens to one connection).
 * Nothing outside those two files includes this.
 */
#ifndef IOLOAD_WORKER_STATE_H
#define IOLOAD_WORKER_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

#include "conn.h"
#include "engine.h"
#include "worker.h"

/* Connects in progress per worker: keeps the server's listen backlog from overflowing (a
 * dropped SYN costs a second) while a million connections open. */
#define CONNECTING_MAX 1024

struct worker {
    struct run *run;
    const struct proto *proto;
    const struct engine_ops *io;
    struct engine *engine;
    uint8_t *conns;
    size_t stride;
    uint32_t n;
    uint64_t first;
    uint32_t depth;
    uint64_t now;

    bool bounded;
    uint64_t quota;         /* requests to finish once measuring */
    uint64_t issued;        /* counted from the start of measuring, in-flight ones included */
    uint64_t finished;      /* answered or failed since measuring started */
    uint64_t inflight;

    double interval_ns;     /* open loop: between two of this worker's requests; 0: closed */
    uint64_t released;      /* open loop: requests whose intended time has come */

    uint32_t next_open;     /* the first connections open gradually, CONNECTING_MAX at a time */
    uint32_t connecting;
    uint32_t open;          /* connections able to carry requests */
    uint64_t last_usable;   /* when one last was */
    bool gave_up;
    int failure;            /* the engine failed: -errno */
    uint32_t sweep_cursor;
    uint64_t sweep_last;
    uint64_t sweep_period_ns;

    bool measuring;
    uint64_t measure_start;
    struct rusage usage_start;
    uint64_t answers_before; /* warm-up answers and errors, for the progress line only */
    uint64_t errors_before;
    atomic_uint_fast64_t progress_answers;
    atomic_uint_fast64_t progress_errors;
    struct load_stats stats;
};

static inline uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline struct conn *conn_at(const struct worker *w, uint32_t index)
{
    return (struct conn *)(w->conns + (size_t)index * w->stride);
}

static inline bool open_loop(const struct worker *w)
{
    return w->interval_ns > 0;
}

/* Open loop: requests of this worker that may be sent now (intended by now + tick). */
uint64_t schedule_due_total(const struct worker *w);

/* worker_conn.c: a connection's life. */
void conn_open(struct worker *w, struct conn *c);
/* The connection cannot go on: its in-flight requests fail with `kind`. */
void conn_fail(struct worker *w, struct conn *c, enum load_error kind);
/* Sends every request the connection may send now.  False: the connection died doing so. */
bool conn_fill(struct worker *w, struct conn *c);

#endif
