/* worker_pool.c - the callers' job queues in a round-robin ring under one mutex, fed to N
 * threads (worker_pool.h).
 *
 * A lock and a condition variable are enough here: a job is a blocking call that lasts far
 * longer than the hand-off, so the queue is never the bottleneck.  A queue is in the ring while
 * it holds jobs; a worker takes the first queue's oldest job and moves that queue to the end of
 * the ring, which is all round-robin takes.  The ring is doubly linked so that a withdrawal
 * (a connection closing) unlinks its queue without a scan of everyone else's.
 */
#include "worker_pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

struct worker_pool {
    pthread_mutex_t lock;
    pthread_cond_t ready; /* a job was queued, or the pool is stopping */
    worker_queue *first, *last; /* the ring: queues with jobs waiting, next to serve first */
    bool stopping;
    unsigned count;
    pthread_t threads[];
};

static void ring_append(worker_pool *pool, worker_queue *q)
{
    q->next = NULL;
    q->prev = pool->last;
    if (pool->last)
        pool->last->next = q;
    else
        pool->first = q;
    pool->last = q;
    q->in_ring = true;
}

static void ring_remove(worker_pool *pool, worker_queue *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        pool->first = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        pool->last = q->prev;
    q->prev = q->next = NULL;
    q->in_ring = false;
}

/* The first queue's oldest job; that queue goes to the end of the ring if it has more. */
static worker_job *take_job(worker_pool *pool)
{
    worker_queue *q = pool->first;
    worker_job *job = q->head;
    q->head = job->next;
    if (!q->head)
        q->tail = NULL;
    ring_remove(pool, q);
    if (q->head)
        ring_append(pool, q);
    return job;
}

static worker_job *next_job(worker_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    while (!pool->first && !pool->stopping)
        pthread_cond_wait(&pool->ready, &pool->lock);
    worker_job *job = pool->first ? take_job(pool) : NULL;
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

void worker_pool_submit(worker_pool *pool, worker_queue *queue, worker_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&pool->lock);
    if (queue->tail)
        queue->tail->next = job;
    else
        queue->head = job;
    queue->tail = job;
    if (!queue->in_ring)
        ring_append(pool, queue);
    pthread_cond_signal(&pool->ready);
    pthread_mutex_unlock(&pool->lock);
}

worker_job *worker_pool_withdraw(worker_pool *pool, worker_queue *queue)
{
    pthread_mutex_lock(&pool->lock);
    worker_job *jobs = queue->head;
    queue->head = queue->tail = NULL;
    if (queue->in_ring)
        ring_remove(pool, queue);
    pthread_mutex_unlock(&pool->lock);
    return jobs;
}

/* ---- cancel tokens ---- */

int worker_cancel_init(worker_cancel *cancel)
{
    pthread_condattr_t attr;
    int err = pthread_condattr_init(&attr);
    if (err)
        return -err;
    /* A wait measured on CLOCK_MONOTONIC is not stretched or cut by a change of the wall clock. */
    err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (!err)
        err = pthread_cond_init(&cancel->changed, &attr);
    pthread_condattr_destroy(&attr);
    if (err)
        return -err;
    pthread_mutex_init(&cancel->lock, NULL);
    cancel->fired = false;
    return 0;
}

void worker_cancel_fini(worker_cancel *cancel)
{
    pthread_cond_destroy(&cancel->changed);
    pthread_mutex_destroy(&cancel->lock);
}

void worker_cancel_fire(worker_cancel *cancel)
{
    pthread_mutex_lock(&cancel->lock);
    cancel->fired = true;
    pthread_cond_broadcast(&cancel->changed);
    pthread_mutex_unlock(&cancel->lock);
}

bool worker_cancel_fired(worker_cancel *cancel)
{
    pthread_mutex_lock(&cancel->lock);
    bool fired = cancel->fired;
    pthread_mutex_unlock(&cancel->lock);
    return fired;
}

int worker_cancel_wait_ms(worker_cancel *cancel, uint64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + ms % 1000 * NS_PER_MS;
    until.tv_sec += (time_t)(ms / 1000 + ns / NS_PER_S);
    until.tv_nsec = (long)(ns % NS_PER_S);
    pthread_mutex_lock(&cancel->lock);
    int err = 0;
    while (!cancel->fired && err != ETIMEDOUT)
        err = pthread_cond_timedwait(&cancel->changed, &cancel->lock, &until);
    bool fired = cancel->fired;
    pthread_mutex_unlock(&cancel->lock);
    return fired ? -ECANCELED : 0;
}
