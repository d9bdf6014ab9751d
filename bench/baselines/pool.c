/* pool.c - the thread-pool baseline: the main thread accepts and pushes each client's fd into
 * a bounded queue (mutex + two condition variables); N worker threads each take one client at
 * a time and serve it to the end.  At most N clients are served at once; the rest wait in the
 * queue, and when the queue is full the acceptor blocks and they wait in the listen backlog. */
#include "baseline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_CAPACITY 1024u

struct fd_queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    unsigned head;
    unsigned count;
    int fds[QUEUE_CAPACITY];
};

struct pool {
    struct fd_queue queue;
    const struct baseline_config *cfg;
};

static void queue_push(struct fd_queue *q, int fd)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == QUEUE_CAPACITY)
        pthread_cond_wait(&q->not_full, &q->lock);
    q->fds[(q->head + q->count) % QUEUE_CAPACITY] = fd;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

static int queue_pop(struct fd_queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0)
        pthread_cond_wait(&q->not_empty, &q->lock);
    int fd = q->fds[q->head];
    q->head = (q->head + 1) % QUEUE_CAPACITY;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return fd;
}

static void *run_worker(void *arg)
{
    struct pool *pool = arg;
    for (;;)
        baseline_serve(queue_pop(&pool->queue), pool->cfg);
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct baseline_model model = {.name = "baseline-pool", .takes_workers = true};
    struct baseline_config cfg;
    int status;
    int listen_fd = baseline_start(argc, argv, &model, &cfg, &status);
    if (listen_fd < 0)
        return status;
    /* Shared with the workers for the life of the process, which ends by signal or error. */
    struct pool *pool = malloc(sizeof *pool);
    if (pool == NULL) {
        fprintf(stderr, "%s: out of memory\n", model.name);
        return 1;
    }
    *pool = (struct pool){.cfg = &cfg};
    pthread_mutex_init(&pool->queue.lock, NULL);
    pthread_cond_init(&pool->queue.not_empty, NULL);
    pthread_cond_init(&pool->queue.not_full, NULL);
    for (unsigned i = 0; i < cfg.workers; i++) {
        int err = baseline_spawn_detached(run_worker, pool);
        if (err != 0) {
            fprintf(stderr, "%s: cannot start worker %u: %s\n", model.name, i, strerror(-err));
            return 1;
        }
    }
    for (;;) {
        int fd = baseline_accept(listen_fd);
        if (fd < 0) {
            fprintf(stderr, "%s: accept: %s\n", model.name, strerror(-fd));
            return 1;
        }
        queue_push(&pool->queue, fd);
    }
}
