/* worker_pool.h - threads for work that blocks, so that no loop ever does.
 *
 * worker_pool_submit() queues a job on one of the caller's queues (one per connection); one of
 * the pool's threads runs job->run(job) soon after, off every loop.  The pool serves its queues
 * round-robin, one job from each queue with jobs waiting in turn: a connection with a thousand
 * jobs queued delays another connection's next job by at most one job per thread, not by its
 * whole backlog.  Within a queue jobs start in submission order; with more than one thread they
 * may finish in any order.  Bounding how many jobs a queue holds is the caller's part.
 *
 * A job that has a result for a connection posts it back to that connection's own loop with
 * io_loop_post(NULL, loop, ...) (loop.h) and holds the connection (conn_hold) until the post has
 * run, since the connection may be gone by then.  A connection that goes takes its jobs not yet
 * started back with worker_pool_withdraw(), so that none of them keeps it (or the server's
 * shutdown) waiting.  A job that blocks for a while waits on its connection's worker_cancel
 * instead of sleeping, so that the connection going ends the wait at once.
 * worker_pool_destroy() runs every job still queued, then joins the threads.  Submitting,
 * withdrawing and everything on a worker_cancel are safe from any thread.
 */
#ifndef IOSERVE_WORKER_POOL_H
#define IOSERVE_WORKER_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define WORKER_POOL_MAX_THREADS 1024u

typedef struct worker_pool worker_pool;
typedef struct worker_job worker_job;
typedef struct worker_queue worker_queue;

struct worker_job {
    void (*run)(worker_job *job); /* on a worker thread; may free the job */
    worker_job *next;             /* private: the queue; worker_pool_withdraw()'s list */
};

/* The caller's memory, zeroed before its first use; everything in it is the pool's.  It must
 * stay valid while it holds jobs: until they have all started, or worker_pool_withdraw(). */
struct worker_queue {
    worker_job *head, *tail;
    worker_queue *prev, *next; /* the pool's ring of queues with jobs waiting */
    bool in_ring;
};

/* A cancel token, shared by the jobs of one connection: worker_cancel_fire() (on the loop,
 * when the connection goes) ends every worker_cancel_wait_ms() at once, and for good. */
typedef struct worker_cancel {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* on CLOCK_MONOTONIC */
    bool fired;
} worker_cancel;

int worker_cancel_init(worker_cancel *cancel); /* 0 or -errno */
void worker_cancel_fini(worker_cancel *cancel);
void worker_cancel_fire(worker_cancel *cancel);
bool worker_cancel_fired(worker_cancel *cancel);
/* Block for ms, or less once fired: 0 after the whole wait, -ECANCELED when cut short. */
int worker_cancel_wait_ms(worker_cancel *cancel, uint64_t ms);

/* threads in 1..WORKER_POOL_MAX_THREADS.  0 or -errno. */
int worker_pool_create(worker_pool **out, unsigned threads);
void worker_pool_destroy(worker_pool *pool);
void worker_pool_submit(worker_pool *pool, worker_queue *queue, worker_job *job);
/* Take back queue's jobs not started yet: the first of them, linked through job->next in
 * submission order, or NULL.  They are the caller's again and will never run; no worker touches
 * queue after this returns (until the next submit).  Jobs already running are not among them. */
worker_job *worker_pool_withdraw(worker_pool *pool, worker_queue *queue);

#endif
