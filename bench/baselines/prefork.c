/* prefork.c - the prefork baseline: N worker processes forked up front, each one blocking in
 * accept() on the one shared listener (the kernel wakes a single waiter per connection) and
 * serving that client to the end before accepting again.  At most N clients are served at
 * once; a process, with its own address space, per concurrent client.
 *
 * The parent only watches: a worker that dies takes the whole server down with status 1, so a
 * benchmark never measures a silently shrunken pool.  Workers ask the kernel for SIGTERM when
 * the parent dies, so SIGINT/SIGTERM to the parent (or its death) ends them too. */
#include "baseline.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct baseline_model model = {.name = "baseline-prefork", .takes_workers = true};

static int run_worker(int listen_fd, const struct baseline_config *cfg, pid_t parent)
{
    /* The parent may have died before prctl took effect: then nobody would send SIGTERM. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        return 0;
    for (;;) {
        int fd = baseline_accept(listen_fd);
        if (fd < 0) {
            fprintf(stderr, "%s[%d]: accept: %s\n", model.name, (int)getpid(), strerror(-fd));
            return 1;
        }
        baseline_serve(fd, cfg);
    }
}

static void stop_workers(const pid_t *workers, unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        kill(workers[i], SIGTERM);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
}

int main(int argc, char **argv)
{
    struct baseline_config cfg;
    int status;
    int listen_fd = baseline_start(argc, argv, &model, &cfg, &status);
    if (listen_fd < 0)
        return status;
    pid_t *workers = calloc(cfg.workers, sizeof *workers);
    if (workers == NULL) {
        fprintf(stderr, "%s: out of memory\n", model.name);
        return 1;
    }
    pid_t parent = getpid();
    for (unsigned i = 0; i < cfg.workers; i++) {
        workers[i] = fork();
        if (workers[i] == 0)
            _exit(run_worker(listen_fd, &cfg, parent));
        if (workers[i] < 0) {
            fprintf(stderr, "%s: fork: %s\n", model.name, strerror(errno));
            stop_workers(workers, i);
            free(workers);
            return 1;
        }
    }
    /* Workers serve until they are told to stop; any one ending is a failure of the server. */
    pid_t gone;
    int worker_status = 0;
    while ((gone = wait(&worker_status)) < 0 && errno == EINTR)
        ;
    if (gone > 0)
        fprintf(stderr, "%s: worker %d ended (status %#x), stopping\n", model.name, (int)gone, (unsigned)worker_status);
    stop_workers(workers, cfg.workers);
    free(workers);
    return 1;
}
