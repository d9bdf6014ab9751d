/* test_worker_pool.c - the pool's order and withdrawal (worker_pool.h), in-process.
 *
 * One thread, held busy by a gate job while the queues fill, so that the order in which the
 * other jobs start is the pool's choice alone: one job from each queue in turn, each queue in
 * submission order; a withdrawn queue's jobs come back in order and never run.  Every wait is
 * a timed wait on the record's condition variable.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "worker_pool.h"

#define WAIT_MS 5000
#define MAX_JOBS 16

struct record {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool gate_open;
    bool gate_started;
    char started[MAX_JOBS]; /* the names of the jobs, in the order they started */
    int count;
};

struct test_job {
    worker_job job; /* first: the pool hands this pointer back */
    struct record *rec;
    char name;
};

static void wait_until(struct record *rec, bool (*done)(const struct record *rec))
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&rec->lock);
    int err = 0;
    while (!done(rec) && err != ETIMEDOUT)
        err = pthread_cond_timedwait(&rec->changed, &rec->lock, &until);
    bool ok = done(rec);
    pthread_mutex_unlock(&rec->lock);
    assert_true(ok);
}

static bool gate_started(const struct record *rec)
{
    return rec->gate_started;
}

static bool six_started(const struct record *rec)
{
    return rec->count == 6;
}

static void gate_run(worker_job *job)
{
    struct record *rec = ((struct test_job *)job)->rec;
    pthread_mutex_lock(&rec->lock);
    rec->gate_started = true;
    pthread_cond_broadcast(&rec->changed);
    while (!rec->gate_open)
        pthread_cond_wait(&rec->changed, &rec->lock);
    pthread_mutex_unlock(&rec->lock);
}

static void note_run(worker_job *job)
{
    struct test_job *t = (struct test_job *)job;
    pthread_mutex_lock(&t->rec->lock);
    if (t->rec->count < MAX_JOBS)
        t->rec->started[t->rec->count++] = t->name;
    pthread_cond_broadcast(&t->rec->changed);
    pthread_mutex_unlock(&t->rec->lock);
}

static void submit(worker_pool *pool, worker_queue *q, struct test_job *job, struct record *rec, char name)
{
    *job = (struct test_job){.job = {.run = note_run}, .rec = rec, .name = name};
    worker_pool_submit(pool, q, &job->job);
}

/* a1..a4 and b1, b2 queued behind the gate come out a b a b a a; c1, withdrawn, never. */
static void test_round_robin_and_withdraw(void **state)
{
    struct record rec = {.count = 0};
    pthread_mutex_init(&rec.lock, NULL);
    pthread_cond_init(&rec.changed, NULL);
    worker_pool *pool;
    assert_int_equal(worker_pool_create(&pool, 1), 0);
    worker_queue gq = {0}, a = {0}, b = {0}, c = {0};
    struct test_job gate = {.job = {.run = gate_run}, .rec = &rec};
    worker_pool_submit(pool, &gq, &gate.job);
    wait_until(&rec, gate_started);

    struct test_job jobs[7];
    submit(pool, &a, &jobs[0], &rec, 'a');
    submit(pool, &a, &jobs[1], &rec, 'a');
    submit(pool, &c, &jobs[6], &rec, 'c');
    submit(pool, &a, &jobs[2], &rec, 'a');
    submit(pool, &b, &jobs[3], &rec, 'b');
    submit(pool, &a, &jobs[4], &rec, 'a');
    submit(pool, &b, &jobs[5], &rec, 'b');

    worker_job *back = worker_pool_withdraw(pool, &c);
    assert_ptr_equal(back, &jobs[6].job);
    assert_null(back->next);
    assert_null(worker_pool_withdraw(pool, &c)); /* nothing left: a second call is harmless */

    pthread_mutex_lock(&rec.lock);
    rec.gate_open = true;
    pthread_cond_broadcast(&rec.changed);
    pthread_mutex_unlock(&rec.lock);
    wait_until(&rec, six_started);
    worker_pool_destroy(pool); /* joins: no job can start after this */
    assert_int_equal(rec.count, 6);
    assert_memory_equal(rec.started, "ababaa", 6);
    pthread_cond_destroy(&rec.changed);
    pthread_mutex_destroy(&rec.lock);
}

/* A queue withdrawn while it still holds jobs can be used again at once. */
static void test_withdraw_then_reuse(void **state)
{
    struct record rec = {.count = 0};
    pthread_mutex_init(&rec.lock, NULL);
    pthread_cond_init(&rec.changed, NULL);
    worker_pool *pool;
    assert_int_equal(worker_pool_create(&pool, 1), 0);
    worker_queue gq = {0}, q = {0};
    struct test_job gate = {.job = {.run = gate_run}, .rec = &rec};
    worker_pool_submit(pool, &gq, &gate.job);
    wait_until(&rec, gate_started);
    struct test_job jobs[8];
    for (int i = 0; i < 3; i++)
        submit(pool, &q, &jobs[i], &rec, 'x');
    worker_job *back = worker_pool_withdraw(pool, &q);
    int n = 0;
    for (worker_job *j = back; j; j = j->next)
        assert_ptr_equal(j, &jobs[n++].job); /* in submission order */
    assert_int_equal(n, 3);
    for (int i = 3; i < 8; i++)
        submit(pool, &q, &jobs[i], &rec, (char)('0' + i));
    pthread_mutex_lock(&rec.lock);
    rec.gate_open = true;
    pthread_cond_broadcast(&rec.changed);
    pthread_mutex_unlock(&rec.lock);
    worker_pool_destroy(pool); /* runs every job still queued */
    assert_int_equal(rec.count, 5);
    assert_memory_equal(rec.started, "34567", 5);
    pthread_cond_destroy(&rec.changed);
    pthread_mutex_destroy(&rec.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_robin_and_withdraw),
        cmocka_unit_test(test_withdraw_then_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
