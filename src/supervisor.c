/* supervisor.c - fork the workers, replace the ones that die, stop them all (supervisor.h).
 *
 * One thread, one poll: the signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP) and the read end of the
 * ready pipe, on which each worker writes its pid once it serves (a pid_t is less than
 * PIPE_BUF: workers' writes never mix).  The poll's timeout is the next slot due for a restart.
 * Two worker entries per slot: the serving one, and an old one draining after a SIGHUP.
 */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "sd_service.h"

struct worker {
    pid_t pid; /* 0: a free entry */
    unsigned slot;
    bool ready;
    bool retiring; /* asked to stop: its end is no crash */
    uint64_t started_ms;
};

struct slot {
    unsigned quick_crashes; /* in a row, each within SUPERVISOR_STABLE_MS of its start */
    bool restart_due;
    uint64_t restart_at_ms;
};

struct supervisor {
    const supervisor_config *cfg;
    struct worker *workers; /* 2 per slot */
    struct slot *slots;
    int *listen_fds;        /* the config's, closed (-1) once stopping */
    unsigned listen_count;
    int signal_fd;
    int ready_pipe[2];
    sigset_t old_mask;
    bool started;           /* every slot of the first generation has been ready */
    bool stopping;
    unsigned crashes;
    int status;             /* what supervisor_run() returns */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct worker *find_worker(struct supervisor *s, pid_t pid)
{
    for (unsigned i = 0; i < 2 * s->cfg->workers; i++)
        if (s->workers[i].pid == pid)
            return &s->workers[i];
    return NULL;
}

static unsigned live_workers(const struct supervisor *s)
{
    unsigned n = 0;
    for (unsigned i = 0; i < 2 * s->cfg->workers; i++)
        n += s->workers[i].pid > 0;
    return n;
}

/* ---- a worker, after fork ---- */

/* Never returns: the worker process ends here with what the work returned. */
static void run_worker(struct supervisor *s, unsigned slot, pid_t parent)
{
    unsigned per = s->cfg->per_worker, first = slot * per;
    close(s->signal_fd);
    close(s->ready_pipe[0]);
    for (unsigned i = 0; i < s->listen_count; i++) /* the other slots' are not this worker's */
        if (i < first || i >= first + per)
            close(s->listen_fds[i]);
    setpgid(0, 0); /* a terminal's ^C is the supervisor's to forward, once */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int status = 1;
    if (getppid() == parent && sigprocmask(SIG_SETMASK, &s->old_mask, NULL) == 0) {
        supervisor_worker w = {.slot = slot, .count = s->cfg->workers, .listen_fds = s->listen_fds + first,
                               .listen_count = per, .ready_fd = s->ready_pipe[1]};
        status = s->cfg->work(s->cfg->arg, &w);
    }
    exit(status);
}

void supervisor_worker_ready(const supervisor_worker *worker)
{
    pid_t pid = getpid();
    ssize_t n = write(worker->ready_fd, &pid, sizeof(pid));
    (void)n; /* the supervisor gone: PDEATHSIG stops this worker anyway */
    close(worker->ready_fd);
}

/* ---- starting and replacing workers ---- */

static int spawn(struct supervisor *s, unsigned slot)
{
    struct worker *w = find_worker(s, 0);
    if (!w)
        return -EAGAIN;
    pid_t parent = getpid();
    fflush(NULL); /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0)
        run_worker(s, slot, parent);
    setpgid(pid, pid); /* as the child does: whichever runs first */
    *w = (struct worker){.pid = pid, .slot = slot, .started_ms = now_ms()};
    return 0;
}

static void schedule_restart(struct supervisor *s, unsigned slot, uint64_t delay_ms)
{
    s->slots[slot].restart_due = true;
    s->slots[slot].restart_at_ms = now_ms() + delay_ms;
}

/* A quick crash doubles the wait before the next start; a worker that ran a while resets it. */
static uint64_t restart_delay_ms(struct slot *slot, uint64_t lived_ms)
{
    if (lived_ms >= SUPERVISOR_STABLE_MS) {
        slot->quick_crashes = 0;
        return 0;
    }
    unsigned doublings = slot->quick_crashes++;
    uint64_t delay = SUPERVISOR_BACKOFF_MIN_MS;
    while (doublings-- > 0 && delay < SUPERVISOR_BACKOFF_MAX_MS)
        delay *= 2;
    return delay < SUPERVISOR_BACKOFF_MAX_MS ? delay : SUPERVISOR_BACKOFF_MAX_MS;
}

/* A new worker in slot now, or a later try when fork fails. */
static void start_worker(struct supervisor *s, unsigned slot)
{
    s->slots[slot].restart_due = false;
    int err = spawn(s, slot);
    if (err < 0) {
        fprintf(stderr, "ioserve: cannot start a worker for slot %u: %s; trying again\n", slot, strerror(-err));
        schedule_restart(s, slot, restart_delay_ms(&s->slots[slot], 0));
    }
}

static void start_due(struct supervisor *s)
{
    uint64_t now = now_ms();
    for (unsigned i = 0; i < s->cfg->workers && !s->stopping; i++)
        if (s->slots[i].restart_due && s->slots[i].restart_at_ms <= now)
            start_worker(s, i);
}

/* Milliseconds until the next restart is due, or -1 (poll's forever). */
static int next_due_ms(const struct supervisor *s)
{
    uint64_t now = now_ms(), next = UINT64_MAX;
    for (unsigned i = 0; i < s->cfg->workers && !s->stopping; i++)
        if (s->slots[i].restart_due && s->slots[i].restart_at_ms < next)
            next = s->slots[i].restart_at_ms;
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : (int)(next - now);
}

/* ---- stopping ---- */

static void forward(struct supervisor *s, int sig)
{
    for (unsigned i = 0; i < 2 * s->cfg->workers; i++)
        if (s->workers[i].pid > 0)
            kill(s->workers[i].pid, sig);
}

static void close_listeners(struct supervisor *s)
{
    for (unsigned i = 0; i < s->listen_count; i++) {
        if (s->listen_fds[i] >= 0)
            close(s->listen_fds[i]);
        s->listen_fds[i] = -1;
    }
}

/* The first stop signal closes this process's fds of the listeners: once the workers have
 * closed theirs, new connections are refused.  Every stop signal is forwarded. */
static void stop(struct supervisor *s, int sig)
{
    if (!s->stopping) {
        s->stopping = true;
        close_listeners(s);
        fprintf(stderr, "ioserve: supervisor: %s: stopping %u workers\n", strsignal(sig), live_workers(s));
        sd_service_stopping(NULL);
    }
    forward(s, sig);
}

/* SIGHUP: a new generation takes every slot, the old one drains. */
static void replace_all(struct supervisor *s)
{
    if (s->stopping)
        return;
    for (unsigned i = 0; i < 2 * s->cfg->workers; i++) {
        if (s->workers[i].pid > 0 && s->workers[i].retiring) {
            fprintf(stderr, "ioserve: supervisor: SIGHUP refused: worker %d still drains\n", s->workers[i].pid);
            return;
        }
    }
    fprintf(stderr, "ioserve: supervisor: SIGHUP: replacing the workers\n");
    for (unsigned i = 0; i < 2 * s->cfg->workers; i++)
        if (s->workers[i].pid > 0)
            s->workers[i].retiring = true;
    for (unsigned slot = 0; slot < s->cfg->workers; slot++)
        start_worker(s, slot);
    for (unsigned i = 0; i < 2 * s->cfg->workers; i++)
        if (s->workers[i].pid > 0 && s->workers[i].retiring)
            kill(s->workers[i].pid, SIGTERM);
}

/* ---- workers that end ---- */

static void describe_end(int status, char *text, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(text, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(text, len, "exited with status %d", WEXITSTATUS(status));
}

static void worker_ended(struct supervisor *s, struct worker *w, int status)
{
    struct worker gone = *w;
    w->pid = 0;
    char how[96];
    describe_end(status, how, sizeof(how));
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (gone.retiring || s->stopping) {
        if (!clean)
            fprintf(stderr, "ioserve: worker %d (slot %u) %s while draining\n", gone.pid, gone.slot, how);
        if (!clean && s->stopping)
            s->status = 1; /* it did not drain */
        return;
    }
    if (!s->started && !gone.ready) {
        fprintf(stderr, "ioserve: worker %d (slot %u) %s before it served; stopping\n", gone.pid, gone.slot, how);
        s->status = 1;
        stop(s, SIGTERM);
        return;
    }
    uint64_t lived = now_ms() - gone.started_ms;
    uint64_t delay = restart_delay_ms(&s->slots[gone.slot], lived);
    s->crashes++;
    fprintf(stderr, "ioserve: worker %d (slot %u) %s after %llu ms: crash %u; a new worker in %llu ms\n", gone.pid,
            gone.slot, how, (unsigned long long)lived, s->crashes, (unsigned long long)delay);
    schedule_restart(s, gone.slot, delay);
}

static void reap(struct supervisor *s)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct worker *w = find_worker(s, pid);
        if (w)
            worker_ended(s, w, status);
    }
}

/* ---- readiness ---- */

static void say_started(struct supervisor *s)
{
    char pids[SUPERVISOR_MAX_WORKERS * 12] = "", addr[NET_ADDR_TEXT_MAX] = "?";
    net_addr bound;
    if (net_addr_local(s->listen_fds[0], &bound) == 0)
        net_addr_format(&bound, addr, sizeof(addr));
    for (unsigned i = 0; i < 2 * s->cfg->workers; i++) {
        size_t used = strlen(pids);
        if (s->workers[i].pid > 0)
            snprintf(pids + used, sizeof(pids) - used, " %d", s->workers[i].pid);
    }
    char line[sizeof(pids) + 160];
    snprintf(line, sizeof(line), "supervisor %d: %u workers on %s, %u SO_REUSEPORT listener%s each, held here; pids%s",
             getpid(), s->cfg->workers, addr, s->cfg->per_worker, s->cfg->per_worker == 1 ? "" : "s", pids);
    fprintf(stderr, "ioserve: %s\n", line);
    sd_service_ready(line);
}

static void worker_ready(struct supervisor *s, pid_t pid)
{
    struct worker *w = find_worker(s, pid);
    if (!w || w->ready)
        return;
    w->ready = true;
    if (s->started) {
        fprintf(stderr, "ioserve: worker %d (slot %u) serves\n", w->pid, w->slot);
        return;
    }
    unsigned ready = 0;
    for (unsigned i = 0; i < 2 * s->cfg->workers; i++)
        ready += s->workers[i].pid > 0 && s->workers[i].ready;
    if (ready == s->cfg->workers && !s->stopping) {
        s->started = true;
        say_started(s);
    }
}

static void read_ready(struct supervisor *s)
{
    pid_t pid;
    while (read(s->ready_pipe[0], &pid, sizeof(pid)) == (ssize_t)sizeof(pid))
        worker_ready(s, pid);
}

static void read_signals(struct supervisor *s)
{
    struct signalfd_siginfo info;
    while (read(s->signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
        int sig = (int)info.ssi_signo;
        if (sig == SIGCHLD)
            reap(s);
        else if (sig == SIGHUP)
            replace_all(s);
        else
            stop(s, sig);
    }
}

/* ---- the supervisor's life ---- */

static int setup(struct supervisor *s)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, &s->old_mask) < 0)
        return -errno;
    s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->signal_fd < 0 || pipe2(s->ready_pipe, O_CLOEXEC) < 0)
        return -errno;
    if (fcntl(s->ready_pipe[0], F_SETFL, O_NONBLOCK) < 0)
        return -errno;
    s->workers = calloc(2 * s->cfg->workers, sizeof(*s->workers));
    s->slots = calloc(s->cfg->workers, sizeof(*s->slots));
    return s->workers && s->slots ? 0 : -ENOMEM;
}

static void teardown(struct supervisor *s)
{
    close_listeners(s);
    free(s->listen_fds);
    for (int i = 0; i < 2; i++)
        if (s->ready_pipe[i] >= 0)
            close(s->ready_pipe[i]);
    if (s->signal_fd >= 0)
        close(s->signal_fd);
    sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
    free(s->workers);
    free(s->slots);
}

static int supervise(struct supervisor *s)
{
    for (unsigned slot = 0; slot < s->cfg->workers; slot++) {
        int err = spawn(s, slot);
        if (err < 0) {
            fprintf(stderr, "ioserve: cannot start worker %u: %s\n", slot, strerror(-err));
            s->status = 1;
            stop(s, SIGTERM);
            break;
        }
    }
    while (!s->stopping || live_workers(s) > 0) {
        struct pollfd fds[2] = {{.fd = s->signal_fd, .events = POLLIN}, {.fd = s->ready_pipe[0], .events = POLLIN}};
        if (poll(fds, 2, next_due_ms(s)) < 0 && errno != EINTR)
            return -errno;
        if (fds[1].revents)
            read_ready(s);
        if (fds[0].revents)
            read_signals(s);
        start_due(s);
    }
    fprintf(stderr, "ioserve: supervisor: every worker has stopped; crashes replaced: %u\n", s->crashes);
    return s->status;
}

int supervisor_run(const supervisor_config *cfg)
{
    struct supervisor s = {.cfg = cfg, .signal_fd = -1, .ready_pipe = {-1, -1}};
    unsigned count = cfg->workers * cfg->per_worker;
    s.listen_fds = malloc(count * sizeof(*s.listen_fds));
    if (!s.listen_fds) {
        for (unsigned i = 0; i < count; i++)
            close(cfg->listen_fds[i]);
        fprintf(stderr, "ioserve: supervisor: out of memory\n");
        return 1;
    }
    memcpy(s.listen_fds, cfg->listen_fds, count * sizeof(*s.listen_fds));
    s.listen_count = count;
    int err = setup(&s);
    if (err == 0)
        err = supervise(&s);
    if (err < 0) {
        fprintf(stderr, "ioserve: supervisor: %s\n", strerror(-err));
        if (s.workers)
            forward(&s, SIGKILL); /* nobody is left to reap them */
        s.status = 1;
    }
    teardown(&s);
    return s.status;
}
