/* worker_pool.c - a FIFO of jobs under one mutex, fed to N threads (worker_pool.h).
 *
 * A lock and a condition variable are enough here: a job is a blocking call that lasts far
 * longer than the hand-off, so the queue is never the bottleneck.
 */
#include "worker_pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

struct worker_pool {
    pthread_mutex_t lock;
    pthread_cond_t ready; /* a job was queued, or the pool is stopping */
    worker_job *head, *tail;
    bool stopping;
    unsigned count;
    pthread_t threads[];
};

static worker_job *next_job(worker_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    while (!pool->head && !pool->stopping)
        pthread_cond_wait(&pool->ready, &pool->lock);
    worker_job *job = pool->head;
    if (job) {
        pool->head = job->next;
        if (!pool->head)
            pool->tail = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    return job;
}

static void *worker_main(void *arg)
{
    worker_pool *pool = arg;
    for (worker_job *job; (job = next_job(pool));)
        job->run(job);
    return NULL;
}

static void stop_and_join(worker_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->ready);
    pthread_mutex_unlock(&pool->lock);
    for (unsigned i = 0; i < pool->count; i++)
        pthread_join(pool->threads[i], NULL);
}

int worker_pool_create(worker_pool **out, unsigned threads)
{
    if (threads == 0 || threads > WORKER_POOL_MAX_THREADS)
        return -EINVAL;
    worker_pool *pool = calloc(1, sizeof(*pool) + threads * sizeof(pthread_t));
    if (!pool)
        return -ENOMEM;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->ready, NULL);
    /* Workers take no signal: SIGINT/SIGTERM are for the server's signalfd, whenever it is set
     * up, and a worker catching one would kill the process. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = 0;
    for (; pool->count < threads && !err; pool->count++)
        err = pthread_create(&pool->threads[pool->count], NULL, worker_main, pool);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        pool->count--; /* the one that failed */
        worker_pool_destroy(pool);
        return -err;
    }
    *out = pool;
    return 0;
}

void worker_pool_destroy(worker_pool *pool)
{
    if (!pool)
        return;
    stop_and_join(pool);
    pthread_cond_destroy(&pool->ready);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

void worker_pool_submit(worker_pool *pool, worker_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->tail)
        pool->tail->next = job;
    else
        pool->head = job;
    pool->tail = job;
    pthread_cond_signal(&pool->ready);
    pthread_mutex_unlock(&pool->lock);
}
