/* main.c - ioload: a load generator for HTTP/1.1, echo, ETX and WebSocket servers.
 *
 * Parses the flags, prepares what every thread shares (target, protocol bytes, descriptor
 * limit), runs one worker per thread and, meanwhile, prints a progress line each second when
 * stderr is a terminal.  SIGINT/SIGTERM end the run early with a report.  Exit status: 0 after
 * a run (errors are reported, not fatal), 1 when the run could not start, 2 on bad flags.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "fd_limit.h"
#include "hold.h"
#include "idle.h"
#include "options.h"
#include "proto.h"
#include "report.h"
#include "target.h"
#include "worker.h"

#define NS_PER_S 1000000000ull
/* Descriptors beyond one per connection: stdio, epoll per thread, the probe. */
#define SPARE_FDS 64
/* --idle connections connecting at once, as the workers' CONNECTING_MAX, for the same reason. */
#define IDLE_CONNECT_WINDOW 1024

static uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Everything main() sets up before the workers start. */
struct setup {
    struct options options;
    struct target target;
    struct proto proto;
    uint8_t *pipeline;
    const struct engine_ops *engine;
    struct idle_conns idle;
};

static const struct engine_ops *choose_engine(enum engine_choice choice, char *err,
                                              size_t err_len)
{
    if (choice == ENGINE_EPOLL)
        return &engine_epoll;
    if (engine_uring_usable())
        return &engine_uring;
    if (choice == ENGINE_AUTO)
        return &engine_epoll;
    snprintf(err, err_len, "--engine uring: this kernel lacks multishot receive into a "
             "registered buffer ring (or io_uring is disabled)");
    return NULL;
}

static int prepare(struct setup *s, char *err, size_t err_len)
{
    const struct options *o = &s->options;
    if (target_resolve(&s->target, o->target, err, err_len) < 0 ||
        target_plan_sources(&s->target, o->connections + o->idle, o->per_source, err, err_len) < 0)
        return 2;
    if (s->target.sources > 1)
        fprintf(stderr, "ioload: %llu connections from %u loopback sources (127.0.0.1 on, "
                "%llu each)\n", (unsigned long long)o->connections, s->target.sources,
                (unsigned long long)s->target.per_source);
    struct proto_config config = {
        .kind = o->protocol, .host = o->host_header, .path = o->path, .size = o->size,
        .etx_reply = o->etx_reply, .etx_reply_len = o->etx_reply_len,
        .rpc_method = o->rpc_method, .rpc_sleep_ms = o->rpc_sleep_ms,
    };
    if (proto_init(&s->proto, &config) < 0) {
        snprintf(err, err_len, "out of memory building the requests");
        return 1;
    }
    s->pipeline = malloc(o->depth * s->proto.request_len);
    if (!s->pipeline) {
        snprintf(err, err_len, "out of memory building the requests");
        return 1;
    }
    for (unsigned i = 0; i < o->depth; i++)
        memcpy(s->pipeline + i * s->proto.request_len, s->proto.request, s->proto.request_len);
    s->engine = choose_engine(o->engine, err, err_len);
    if (!s->engine)
        return 1;
    if (fd_limit_raise(o->connections + o->idle + o->threads + SPARE_FDS, stderr, err, err_len) < 0)
        return 1;
    int rc = target_probe(&s->target, o->timeout_ms);
    if (rc < 0) {
        snprintf(err, err_len, "cannot connect to %s: %s", o->target, strerror(-rc));
        return 1;
    }
    if (idle_open(&s->idle, &s->target, o->connections, o->idle, IDLE_CONNECT_WINDOW, o->timeout_ms, err,
                  err_len) < 0)
        return 1;
    return 0;
}

/* Requests owed to the connections before number `first`: each connection's share is equal,
 * so a worker's bound and its rate keep the same proportion and all finish together. */
static uint64_t requests_before(const struct options *o, uint64_t first)
{
    uint64_t total = o->connections;   /* split so that no product overflows */
    return o->requests / total * first + o->requests % total * first / total;
}

static void share_of(const struct options *o, unsigned i, uint64_t *first, struct worker_share *sh)
{
    sh->connections = (uint32_t)(o->connections / o->threads + (i < o->connections % o->threads));
    sh->first = *first;
    *first += sh->connections;
    sh->bounded = o->requests > 0;
    sh->requests = requests_before(o, *first) - requests_before(o, sh->first);
    sh->rate = o->rate * (double)sh->connections / (double)o->connections;
}

static void print_progress(const struct run *run, struct worker **workers, unsigned count,
                           uint64_t *last_answers)
{
    uint64_t answers = 0, errors = 0;
    for (unsigned i = 0; i < count; i++) {
        uint64_t a, e;
        worker_progress(workers[i], &a, &e);
        answers += a;
        errors += e;
    }
    double elapsed = (double)(clock_ns() - run->start_ns) / 1e9;
    fprintf(stderr, "\rioload: %5.0f s  %10llu req/s  %12llu answered  %8llu errors ", elapsed,
            (unsigned long long)(answers - *last_answers), (unsigned long long)answers,
            (unsigned long long)errors);
    fflush(stderr);
    *last_answers = answers;
}

/* Sleeps until every worker is done, waking each second for the progress line and for
 * SIGINT/SIGTERM, which ask the workers to stop. */
static void wait_for_workers(struct run *run, struct worker **workers, unsigned count)
{
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGUSR1);
    bool progress = isatty(STDERR_FILENO);
    bool printed = false;
    uint64_t last_answers = 0;
    uint64_t tick = run->start_ns + NS_PER_S;
    while (atomic_load(&run->workers_done) < count) {
        uint64_t now = clock_ns();
        if (now >= tick) {
            if (progress)
                print_progress(run, workers, count, &last_answers);
            printed = progress;
            tick += NS_PER_S;
            continue;
        }
        struct timespec wait = {.tv_sec = (time_t)((tick - now) / NS_PER_S),
                                .tv_nsec = (long)((tick - now) % NS_PER_S)};
        int sig = sigtimedwait(&signals, NULL, &wait);
        if (sig == SIGINT || sig == SIGTERM)
            atomic_store(&run->stop, true);
    }
    if (printed)
        fputc('\n', stderr);
}

static double process_cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* Runs the workers and prints the report.  Returns the exit status. */
static int run_load(struct setup *s)
{
    const struct options *o = &s->options;
    struct run run = {
        .engine = s->engine, .proto = &s->proto, .target = &s->target, .pipeline = s->pipeline,
        .pipeline_len = o->depth * s->proto.request_len, .depth = o->depth,
        .timeout_ns = (uint64_t)o->timeout_ms * 1000000u, .main_thread = pthread_self(),
        .tick_ns = (uint64_t)o->tick_us * 1000u,
    };
    atomic_init(&run.stop, false);
    atomic_init(&run.workers_done, 0);
    struct worker **workers = calloc(o->threads, sizeof(*workers));
    pthread_t *threads = calloc(o->threads, sizeof(*threads));
    int status = workers && threads ? 0 : 1;
    uint64_t first = 0;
    for (unsigned i = 0; status == 0 && i < o->threads; i++) {
        struct worker_share share;
        share_of(o, i, &first, &share);
        if (worker_create(&workers[i], &run, &share) < 0)
            status = 1;
    }
    unsigned started = 0;
    if (status == 0) {
        run.start_ns = clock_ns();
        run.measure_ns = run.start_ns + (uint64_t)(o->warmup_s * 1e9);
        run.deadline_ns = o->duration_s > 0 ? run.measure_ns + (uint64_t)(o->duration_s * 1e9)
                                            : UINT64_MAX;
        for (; started < o->threads; started++) {
            if (pthread_create(&threads[started], NULL, worker_run, workers[started]) != 0)
                break;
        }
        if (started < o->threads) {
            atomic_store(&run.stop, true);
            status = 1;
        }
        wait_for_workers(&run, workers, started);
    }
    struct load_stats *total = malloc(sizeof(*total));
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    if (status == 0 && total) {
        stats_reset(total);
        for (unsigned i = 0; i < o->threads; i++) {
            stats_merge(total, worker_stats(workers[i]));
            if (worker_failure(workers[i]) < 0) {
                fprintf(stderr, "ioload: the %s engine failed: %s\n", s->engine->name,
                        strerror(-worker_failure(workers[i])));
                status = 1;
            } else if (worker_gave_up(workers[i]) && status == 0) {
                fprintf(stderr, "ioload: gave up: no connection to %s could be opened for %u ms\n",
                        o->target, WORKER_GIVE_UP_TIMEOUTS * o->timeout_ms);
                status = 1;
            }
        }
        struct report report = {.options = o, .stats = total, .engine = s->engine->name,
                                .process_cpu_s = process_cpu_seconds(), .idle_lost = idle_lost(&s->idle)};
        if (o->json)
            report_json(stdout, &report);
        else
            report_text(stdout, &report);
    } else {
        fprintf(stderr, "ioload: cannot start the workers: %s\n", strerror(errno ? errno : ENOMEM));
        status = 1;
    }
    for (unsigned i = 0; workers && i < o->threads; i++)
        worker_destroy(workers[i]);
    free(total);
    free(workers);
    free(threads);
    return status;
}

int main(int argc, char **argv)
{
    struct setup s = {0};
    char err[512];
    int rc = options_parse(&s.options, argc, argv, err, sizeof(err));
    if (rc == OPTIONS_HELP) {
        options_usage(stdout);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "ioload: %s\nusage: ioload [options] HOST:PORT (see --help)\n", err);
        return 2;
    }
    if (s.options.hold)
        return hold_run(&s.options);
    /* Workers inherit this mask; only main waits for these signals. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    int status = prepare(&s, err, sizeof(err));
    if (status != 0)
        fprintf(stderr, "ioload: %s\n", err);
    else
        status = run_load(&s);
    idle_close(&s.idle);
    free(s.pipeline);
    proto_free(&s.proto);
    return status;
}
