/* ioserve_proc.h - run the real ioserve binary (or a wrapper that execs it) from a test.
 *
 * proc_run() runs a command to its end and keeps its stdout and stderr.  proc_start() starts a
 * server with `--listen 127.0.0.1:0` added (unless argv has its own --listen), reads its stderr
 * until the start-up line ("ioserve: PROTO on ADDR:PORT, backend ...", or a baseline's "NAME:
 * listening on 127.0.0.1:PORT") and stores the port the kernel chose, so tests never race for
 * a free port.  proc_wait_err() reads the server's stderr on until some text appears in it.
 * proc_stop() signals it and collects its exit status and
 * the rest of its stderr.  Every wait is bounded; failures return -errno (-ETIMEDOUT when a
 * bound ran out, -ECHILD when the server exited before its start-up line).  proc_kill() is for
 * teardown: it kills and reaps whatever is still running.
 */
#ifndef IOSERVE_TESTS_PROC_H
#define IOSERVE_TESTS_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_TEXT_MAX 16384

typedef struct proc_output {
    int status; /* as waitpid() gives it */
    char out[PROC_TEXT_MAX];
    char err[PROC_TEXT_MAX];
} proc_output;

typedef struct ioserve_proc {
    pid_t pid;
    int err_fd;
    uint16_t port;
    size_t err_len;
    char err[PROC_TEXT_MAX]; /* everything the server wrote on stderr so far */
    char start_line[512];
} ioserve_proc;

/* A cmocka fixture holding one ioserve_proc in *state: teardown kills whatever the test left
 * running (a supervisor's workers go with it) and reaps it. */
int proc_fixture_setup(void **state);
int proc_fixture_teardown(void **state);

/* argv ends with NULL; argv[0] is the program's path. */
int proc_run(const char *const argv[], int timeout_ms, proc_output *out);
int proc_start(ioserve_proc *p, const char *const argv[], int timeout_ms);
/* The offset of text in p->err at or after offset from, reading the server's stderr on as
 * needed; -ETIMEDOUT if it does not appear within timeout_ms. */
long proc_wait_err(ioserve_proc *p, size_t from, const char *text, int timeout_ms);
/* Send sig, wait for the exit: 0 with *status set, or -errno. */
int proc_stop(ioserve_proc *p, int sig, int timeout_ms, int *status);
void proc_kill(ioserve_proc *p);

/* Steps of a test talking to a started server; each fails the running cmocka test (within
 * PROC_IO_TIMEOUT_MS) instead of returning an error. */
#define PROC_IO_TIMEOUT_MS 5000
int connect_to(const ioserve_proc *p);               /* a connected fd */
void send_text(int fd, const char *text);            /* all of text */
void expect_text(int fd, const char *text);          /* exactly text next (under 512 bytes) */
/* Stop with sig: the server must exit 0 within timeout_ms and print its stop line (its stderr
 * is shown if not). */
void expect_clean_exit(ioserve_proc *p, int sig, int timeout_ms);
/* The ioserve flags for a backend named as the test matrix names it ("uring", "epoll-lt",
 * "epoll-et", "poll", "select") into args (NULL-terminated); -1 for an unknown name. */
int proc_backend_args(const char *name, const char *args[5]);

#endif
