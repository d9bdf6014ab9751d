/* worker.h - one thread's share of the load: its connections, its epoll, its measurements.
 *
 * main() plans the shares (connections, requests, rate), creates the workers, starts each on a
 * thread with worker_run() and joins them; nothing is shared between workers but the
 * read-only `struct run` and its two atomics.  A worker owns all its memory, allocated in
 * worker_create(): the connection table (one fixed-size slot per connection holding the
 * protocol state and the send times of its in-flight requests) and its I/O engine.
 */
#ifndef IOLOAD_WORKER_H
#define IOLOAD_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto.h"
#include "stats.h"
#include "target.h"

/* A worker with no usable connection for this many timeouts gives up. */
#define WORKER_GIVE_UP_TIMEOUTS 2

struct engine_ops;

struct run {
    const struct engine_ops *engine;  /* epoll or io_uring */
    const struct proto *proto;
    const struct target *target;
    const uint8_t *pipeline;     /* `depth` copies of the request, back to back */
    size_t pipeline_len;
    unsigned depth;
    uint64_t timeout_ns;
    uint64_t tick_ns;            /* open loop: requests due this soon leave together */
    uint64_t start_ns;           /* CLOCK_MONOTONIC: load starts */
    uint64_t measure_ns;         /* start + warm-up: measuring starts */
    uint64_t deadline_ns;        /* measuring ends (UINT64_MAX: when the requests are done) */
    pthread_t main_thread;       /* gets SIGUSR1 each time a worker finishes */
    atomic_bool stop;            /* set by main on SIGINT/SIGTERM */
    atomic_uint workers_done;
};

struct worker_share {
    uint64_t first;              /* number of its first connection over all workers */
    uint32_t connections;
    bool bounded;                /* false: no request bound */
    uint64_t requests;           /* its share of --requests */
    double rate;                 /* its share of --rate; 0: closed loop */
};

struct worker;

/* Returns 0 and a worker, or a negative errno. */
int worker_create(struct worker **out, struct run *run, const struct worker_share *share);
/* Thread entry: loads until the run ends, then counts itself in run->workers_done. */
void *worker_run(void *worker);
/* After worker_run() returned. */
const struct load_stats *worker_stats(const struct worker *w);
/* After worker_run() returned: true when it stopped because no connection could be opened. */
bool worker_gave_up(const struct worker *w);
/* After worker_run() returned: 0, or the -errno that stopped its I/O engine. */
int worker_failure(const struct worker *w);
/* From any thread, while it runs: answers and errors so far, warm-up included. */
void worker_progress(const struct worker *w, uint64_t *answers, uint64_t *errors);
void worker_destroy(struct worker *w);

#endif
