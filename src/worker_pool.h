/* worker_pool.h - threads for work that blocks, so that no loop ever does.
 *
 * worker_pool_submit() queues a job; one of the pool's threads runs job->run(job) soon after,
 * off every loop.  A job that has a result for a connection posts it back to that connection's
 * own loop with io_loop_post(NULL, loop, ...) (loop.h) and holds the connection (conn_hold) until
 * the post has run, since the connection may be gone by then.  Jobs start in submission order;
 * with more than one thread they may finish in any order.  worker_pool_destroy() runs every job
 * still queued, then joins the threads.  Submitting is safe from any thread.
 */
#ifndef IOSERVE_WORKER_POOL_H
#define IOSERVE_WORKER_POOL_H

#define WORKER_POOL_MAX_THREADS 1024u

typedef struct worker_pool worker_pool;
typedef struct worker_job worker_job;

struct worker_job {
    void (*run)(worker_job *job); /* on a worker thread; may free the job */
    worker_job *next;             /* private: the queue */
};

/* threads in 1..WORKER_POOL_MAX_THREADS.  0 or -errno. */
int worker_pool_create(worker_pool **out, unsigned threads);
void worker_pool_destroy(worker_pool *pool);
void worker_pool_submit(worker_pool *pool, worker_job *job);

#endif
