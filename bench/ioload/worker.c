/* worker.c - one worker's loop: opening connections, pacing, sweeping, measuring.
 *
 * Cost per request is what the numbers depend on, so the worker does the least a client can:
 * requests are never copied or allocated, everything a connection may send leaves in one
 * send (worker_conn.c), and the engine (engine.h) batches system calls as far as its
 * mechanism allows.
 *
 * Open loop: connection i of n sends its k-th request at start + (k*n + i) / rate, so the
 * worker's requests are evenly spaced and each connection has its own share.  A request that
 * cannot go out on time (its connection is busy or reconnecting) goes out as soon as it can,
 * and its latency still counts from the intended time (no coordinated omission).  Waking for
 * every request would make the client costlier than the server it measures, so the worker
 * wakes when the next request is due and sends with it every request due within `tick_ns`:
 * those leave early, and their latency counts from when they actually left.
 *
 * Timeouts: a connection with requests in flight and no answer for timeout_ns fails them all.
 * A sweep visits every connection about four times per timeout, a slice per wakeup, which
 * costs nothing per request; failed connects are retried by the same sweep.  A worker that
 * cannot get a single connection open (refused, upgrade denied) for WORKER_GIVE_UP_TIMEOUTS
 * timeouts gives up rather than retry forever.
 */
#include "worker_state.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#define WAKE_NS_MAX (10 * 1000 * 1000ull)
#define SWEEPS_PER_TIMEOUT 4

static void open_more(struct worker *w)
{
    while (w->next_open < w->n && w->connecting < CONNECTING_MAX) {
        struct conn *c = conn_at(w, w->next_open++);
        if (c->state == CONN_IDLE && !(c->flags & CF_RETRY))
            conn_open(w, c);
    }
}

/* Open loop: gives the connections whose requests came due a chance to send them.  Busy ones
 * send theirs when their answers arrive, so each connection needs one visit at most. */
static void release_due(struct worker *w)
{
    uint64_t total = schedule_due_total(w);
    uint64_t visits = total - w->released;
    if (visits > w->n)
        visits = w->n;
    uint32_t index = (uint32_t)(w->released % w->n);  /* request k belongs to connection k % n */
    w->released = total;
    for (uint64_t i = 0; i < visits; i++) {
        struct conn *c = conn_at(w, index);
        if (++index == w->n)
            index = 0;
        if (c->state == CONN_OPEN && c->inflight < w->depth)
            conn_fill(w, c);
    }
}

static void sweep_one(struct worker *w, struct conn *c)
{
    uint64_t idle = w->now - c->since;
    switch (c->state) {
    case CONN_IDLE:
        if ((c->flags & CF_RETRY) && w->connecting < CONNECTING_MAX)
            conn_open(w, c);
        break;
    case CONN_CONNECTING:
        if (idle > w->run->timeout_ns)
            conn_fail(w, c, ERR_CONNECT);
        break;
    case CONN_UPGRADING:
        if (idle > w->run->timeout_ns)
            conn_fail(w, c, ERR_HANDSHAKE);
        break;
    default:
        if (c->inflight > 0 && idle > w->run->timeout_ns)
            conn_fail(w, c, ERR_TIMEOUT);
        break;
    }
}

/* Visits the share of connections that time has made due, so each is seen every period. */
static void sweep(struct worker *w)
{
    uint64_t elapsed = w->now - w->sweep_last;
    uint64_t budget = elapsed >= w->sweep_period_ns ? w->n : elapsed * w->n / w->sweep_period_ns;
    if (budget == 0)
        return;
    w->sweep_last = w->now;
    for (uint64_t i = 0; i < budget; i++) {
        struct conn *c = conn_at(w, w->sweep_cursor);
        if (++w->sweep_cursor == w->n)
            w->sweep_cursor = 0;
        sweep_one(w, c);
    }
}

static double seconds_of(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static void begin_measuring(struct worker *w)
{
    w->answers_before = w->stats.answers;
    w->errors_before = stats_error_total(&w->stats);
    stats_reset(&w->stats);
    w->finished = 0;
    w->issued = w->inflight;
    w->measuring = true;
    w->measure_start = w->now;
    getrusage(RUSAGE_THREAD, &w->usage_start);
}

static void end_measuring(struct worker *w)
{
    if (!w->measuring)
        return;
    struct rusage end;
    getrusage(RUSAGE_THREAD, &end);
    w->stats.seconds = (double)(w->now - w->measure_start) / 1e9;
    w->stats.cpu_user_s = seconds_of(&end.ru_utime) - seconds_of(&w->usage_start.ru_utime);
    w->stats.cpu_system_s = seconds_of(&end.ru_stime) - seconds_of(&w->usage_start.ru_stime);
}

static bool run_over(struct worker *w)
{
    if (atomic_load_explicit(&w->run->stop, memory_order_relaxed))
        return true;
    if (w->open > 0)
        w->last_usable = w->now;
    else if (w->now - w->last_usable > WORKER_GIVE_UP_TIMEOUTS * w->run->timeout_ns)
        return w->gave_up = true;
    if (w->now >= w->run->deadline_ns)
        return true;
    return w->measuring && w->bounded && w->finished >= w->quota;
}

static uint64_t next_wake(const struct worker *w)
{
    uint64_t wake = w->now + (w->sweep_period_ns < WAKE_NS_MAX ? w->sweep_period_ns : WAKE_NS_MAX);
    if (!w->measuring && w->run->measure_ns < wake)
        wake = w->run->measure_ns;
    if (w->run->deadline_ns < wake)
        wake = w->run->deadline_ns;
    if (open_loop(w)) {
        double due = (double)schedule_due_total(w);
        uint64_t next = w->run->start_ns + (uint64_t)(due * w->interval_ns);
        if (next < wake)
            wake = next;
    }
    return wake;
}

static void publish_progress(struct worker *w)
{
    uint64_t answers = w->stats.answers + (w->measuring ? w->answers_before : 0);
    uint64_t errors = stats_error_total(&w->stats) + (w->measuring ? w->errors_before : 0);
    atomic_store_explicit(&w->progress_answers, answers, memory_order_relaxed);
    atomic_store_explicit(&w->progress_errors, errors, memory_order_relaxed);
}

void *worker_run(void *arg)
{
    struct worker *w = arg;
    w->failure = w->io->start(w->engine);
    w->now = clock_ns();
    w->sweep_last = w->now;
    w->last_usable = w->now;
    while (w->failure == 0) {
        if (!w->measuring && w->now >= w->run->measure_ns)
            begin_measuring(w);
        if (run_over(w))
            break;
        open_more(w);
        uint64_t wake = next_wake(w);
        w->failure = w->io->wait(w->engine, wake > w->now ? wake - w->now : 0);
        w->now = clock_ns();
        if (open_loop(w))
            release_due(w);
        sweep(w);
        publish_progress(w);
    }
    end_measuring(w);
    publish_progress(w);
    atomic_fetch_add(&w->run->workers_done, 1);
    pthread_kill(w->run->main_thread, SIGUSR1);
    return NULL;
}

int worker_create(struct worker **out, struct run *run, const struct worker_share *share)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->run = run;
    w->proto = run->proto;
    w->io = run->engine;
    w->n = share->connections;
    w->first = share->first;
    w->depth = run->depth;
    w->bounded = share->bounded;
    w->quota = share->requests;
    w->interval_ns = share->rate > 0 ? 1e9 / share->rate : 0;
    w->sweep_period_ns = run->timeout_ns / SWEEPS_PER_TIMEOUT;
    if (w->sweep_period_ns == 0)
        w->sweep_period_ns = 1;
    w->stride = (sizeof(struct conn) + w->depth * sizeof(uint64_t) + 7) & ~(size_t)7;
    stats_reset(&w->stats);
    atomic_init(&w->progress_answers, 0);
    atomic_init(&w->progress_errors, 0);
    w->conns = calloc(w->n, w->stride);
    int rc = w->conns ? w->io->create(&w->engine, w, w->n) : -ENOMEM;
    if (rc < 0) {
        worker_destroy(w);
        return rc;
    }
    for (uint32_t i = 0; i < w->n; i++) {
        struct conn *c = conn_at(w, i);
        c->fd = -1;
        c->index = i;
    }
    *out = w;
    return 0;
}

const struct load_stats *worker_stats(const struct worker *w)
{
    return &w->stats;
}

bool worker_gave_up(const struct worker *w)
{
    return w->gave_up;
}

int worker_failure(const struct worker *w)
{
    return w->failure;
}

void worker_progress(const struct worker *w, uint64_t *answers, uint64_t *errors)
{
    *answers = atomic_load_explicit(&w->progress_answers, memory_order_relaxed);
    *errors = atomic_load_explicit(&w->progress_errors, memory_order_relaxed);
}

void worker_destroy(struct worker *w)
{
    if (!w)
        return;
    if (w->engine)
        w->io->destroy(w->engine);
    for (uint32_t i = 0; w->conns && i < w->n; i++) {
        struct conn *c = conn_at(w, i);
        if (c->fd >= 0)
            close(c->fd);
    }
    free(w->conns);
    free(w);
}
