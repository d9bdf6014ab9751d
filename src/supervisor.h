/* supervisor.h - N worker processes on one listening socket, kept alive (--processes N).
 *
 * The caller opens the listeners once, SO_REUSEPORT sockets on one address, the same number
 * for each worker slot; supervisor_run() forks the workers, each of which runs work(arg, worker)
 * with its slot's listeners and exits with what it returns.  The supervisor keeps every
 * listener open until it stops, so a slot's sockets and their accept queues outlive the
 * slot's worker: what the kernel queued there while the worker died is accepted by the worker
 * that replaces it, and a dying worker loses only the connections it had accepted.  A worker
 * calls supervisor_worker_ready() once it serves.
 *
 * A worker that ends without being asked to (a crash, kill -9, an exit) is logged on stderr with
 * its pid and its signal or status, counted, and replaced in its slot: at once when it had run
 * for SUPERVISOR_STABLE_MS, otherwise after a delay that doubles with each such quick crash in a
 * row (SUPERVISOR_BACKOFF_MIN_MS up to SUPERVISOR_BACKOFF_MAX_MS).  A worker of the first
 * generation that ends before it is ready means the server cannot start: the others are
 * stopped and supervisor_run() returns 1.
 *
 * Signals, read through a signalfd: SIGTERM or SIGINT closes the supervisor's listener fds and
 * is forwarded to every worker, which drains (server.h); a second one is forwarded too, and the
 * workers then close what is left.  Once every worker has exited, supervisor_run() returns 0,
 * or 1 if one of them did not end with status 0.  SIGHUP replaces every worker gracefully: a new
 * one starts in each slot and the old one gets SIGTERM and drains (a SIGHUP while an earlier
 * generation still drains is refused with a note).  Workers run in their own process group, so
 * a terminal's ^C reaches the supervisor alone and is forwarded once, and they get SIGTERM
 * should the supervisor die.  The caller must not have started threads.
 */
#ifndef IOSERVE_SUPERVISOR_H
#define IOSERVE_SUPERVISOR_H

#define SUPERVISOR_MAX_WORKERS 256u
#define SUPERVISOR_STABLE_MS 2000u
#define SUPERVISOR_BACKOFF_MIN_MS 100u
#define SUPERVISOR_BACKOFF_MAX_MS 10000u

/* What a worker is told about itself. */
typedef struct supervisor_worker {
    unsigned slot, count;  /* slot 0..count-1 */
    const int *listen_fds; /* its slot's listeners, inherited: the worker serves and closes them */
    unsigned listen_count;
    int ready_fd;          /* for supervisor_worker_ready() */
} supervisor_worker;

typedef struct supervisor_config {
    unsigned workers;     /* 1..SUPERVISOR_MAX_WORKERS */
    /* workers * per_worker listening sockets, slot by slot; the supervisor owns them */
    const int *listen_fds;
    unsigned per_worker;
    /* In each worker, after fork: serve, and return the worker's exit status. */
    int (*work)(void *arg, const supervisor_worker *worker);
    void *arg;
} supervisor_config;

/* The supervisor's exit status, as described above. */
int supervisor_run(const supervisor_config *cfg);
/* In a worker: tell the supervisor that this worker serves now. */
void supervisor_worker_ready(const supervisor_worker *worker);

#endif
