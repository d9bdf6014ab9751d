/* ioserve_proc.c - run ioserve from a test (contract in ioserve_proc.h). */
#include "ioserve_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "net_helpers.h"

#define PROC_ARGS_MAX 32

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = now_ms();
    return now >= deadline ? 0 : (int)(deadline - now);
}

/* fork + exec with stdout and stderr on the given fds (-1: /dev/null). */
static pid_t spawn(const char *const argv[], int out_fd, int err_fd)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid < 0 ? -errno : pid;
    int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, 0);
    dup2(out_fd >= 0 ? out_fd : null_fd, 1);
    dup2(err_fd >= 0 ? err_fd : null_fd, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

/* Append what is readable now; returns bytes read, 0 at EOF, or -errno. */
static ssize_t drain(int fd, char *text, size_t *len)
{
    size_t room = PROC_TEXT_MAX - 1 - *len;
    char scratch[1024];
    ssize_t n = room ? read(fd, text + *len, room) : read(fd, scratch, sizeof(scratch));
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
    if (room)
        *len += (size_t)n;
    text[*len] = '\0';
    return n;
}

/* Wait for the child, killing it when the deadline passes. */
static int reap(pid_t pid, uint64_t deadline, int *status)
{
    for (;;) {
        pid_t got = waitpid(pid, status, WNOHANG);
        if (got == pid)
            return 0;
        if (got < 0)
            return -errno;
        if (remaining_ms(deadline) == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return -ETIMEDOUT;
        }
        usleep(2000);
    }
}

int proc_run(const char *const argv[], int timeout_ms, proc_output *o)
{
    int out_pipe[2], err_pipe[2];
    memset(o, 0, sizeof(*o));
    if (pipe2(out_pipe, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(err_pipe, O_CLOEXEC) < 0) {
        close(out_pipe[0]);
        close(out_pipe[1]);
        return -errno;
    }
    pid_t pid = spawn(argv, out_pipe[1], err_pipe[1]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    size_t out_len = 0, err_len = 0;
    struct pollfd fds[2] = {{.fd = out_pipe[0], .events = POLLIN}, {.fd = err_pipe[0], .events = POLLIN}};
    while (pid > 0 && (fds[0].fd >= 0 || fds[1].fd >= 0) && remaining_ms(deadline) > 0) {
        if (poll(fds, 2, remaining_ms(deadline)) <= 0)
            continue;
        if (fds[0].revents && drain(out_pipe[0], o->out, &out_len) == 0)
            fds[0].fd = -1;
        if (fds[1].revents && drain(err_pipe[0], o->err, &err_len) == 0)
            fds[1].fd = -1;
    }
    close(out_pipe[0]);
    close(err_pipe[0]);
    if (pid < 0)
        return (int)pid;
    return reap(pid, deadline, &o->status);
}

/* The first complete line of stderr with " on ADDR:PORT" in it (ADDR numeric, [v6] too):
 * ioserve's "ioserve: PROTO on ADDR:PORT, backend ...", or a baseline's "NAME: listening on
 * 127.0.0.1:PORT (...)".  Stores the line and the port. */
static int parse_start_line(ioserve_proc *p)
{
    for (const char *line = p->err; *line;) {
        const char *end = strchr(line, '\n');
        if (!end)
            return -EAGAIN;
        const char *at = strstr(line, " on ");
        if (at && at < end && (at[4] == '[' || (at[4] >= '0' && at[4] <= '9'))) {
            const char *stop = at + 4 + strcspn(at + 4, ", \n");
            const char *colon = stop;
            while (colon > at && *colon != ':')
                colon--;
            long port = strtol(colon + 1, NULL, 10);
            if (colon == at || port <= 0 || port > 65535)
                return -EPROTO;
            size_t len = (size_t)(end - line);
            if (len >= sizeof(p->start_line))
                len = sizeof(p->start_line) - 1;
            memcpy(p->start_line, line, len);
            p->start_line[len] = '\0';
            p->port = (uint16_t)port;
            return 0;
        }
        line = end + 1;
    }
    return -EAGAIN;
}

static bool has_listen_flag(const char *const argv[])
{
    for (size_t i = 0; argv[i]; i++)
        if (strcmp(argv[i], "--listen") == 0 || strncmp(argv[i], "--listen=", 9) == 0)
            return true;
    return false;
}

int proc_start(ioserve_proc *p, const char *const argv[], int timeout_ms)
{
    const char *args[PROC_ARGS_MAX];
    size_t n = 0;
    memset(p, 0, sizeof(*p));
    p->err_fd = -1;
    while (argv[n] && n < PROC_ARGS_MAX - 3) {
        args[n] = argv[n];
        n++;
    }
    if (!has_listen_flag(argv)) {
        args[n++] = "--listen";
        args[n++] = "127.0.0.1:0";
    }
    args[n] = NULL;
    int err_pipe[2];
    if (pipe2(err_pipe, O_CLOEXEC) < 0)
        return -errno;
    p->pid = spawn(args, -1, err_pipe[1]);
    close(err_pipe[1]);
    p->err_fd = err_pipe[0];
    if (p->pid < 0)
        return (int)p->pid;
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    while (remaining_ms(deadline) > 0) {
        struct pollfd pfd = {.fd = p->err_fd, .events = POLLIN};
        if (poll(&pfd, 1, remaining_ms(deadline)) <= 0)
            continue;
        ssize_t got = drain(p->err_fd, p->err, &p->err_len);
        if (got == 0)
            return -ECHILD; /* stderr closed: the server is gone */
        if (parse_start_line(p) == 0)
            return 0;
    }
    return -ETIMEDOUT;
}

long proc_wait_err(ioserve_proc *p, size_t from, const char *text, int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        const char *at = from <= p->err_len ? strstr(p->err + from, text) : NULL;
        if (at)
            return (long)(at - p->err);
        struct pollfd pfd = {.fd = p->err_fd, .events = POLLIN};
        if (p->err_fd < 0 || remaining_ms(deadline) <= 0)
            return -ETIMEDOUT;
        if (poll(&pfd, 1, remaining_ms(deadline)) > 0 && drain(p->err_fd, p->err, &p->err_len) == 0) {
            close(p->err_fd);
            p->err_fd = -1;
        }
    }
}

int proc_stop(ioserve_proc *p, int sig, int timeout_ms, int *status)
{
    if (p->pid <= 0)
        return -ECHILD;
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    if (sig)
        kill(p->pid, sig);
    while (p->err_fd >= 0 && remaining_ms(deadline) > 0) {
        struct pollfd pfd = {.fd = p->err_fd, .events = POLLIN};
        if (poll(&pfd, 1, remaining_ms(deadline)) > 0 && drain(p->err_fd, p->err, &p->err_len) == 0) {
            close(p->err_fd);
            p->err_fd = -1;
        }
    }
    int err = reap(p->pid, deadline, status);
    p->pid = 0;
    return err;
}

void proc_kill(ioserve_proc *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
    if (p->err_fd >= 0) {
        close(p->err_fd);
        p->err_fd = -1;
    }
}

int connect_to(const ioserve_proc *p)
{
    int fd = tnet_connect(p->port);
    assert_true(fd >= 0);
    return fd;
}

void send_text(int fd, const char *text)
{
    assert_int_equal(tnet_write_all(fd, text, strlen(text), PROC_IO_TIMEOUT_MS), 0);
}

void expect_text(int fd, const char *text)
{
    size_t len = strlen(text);
    char buf[512];
    assert_true(len < sizeof(buf));
    assert_int_equal(tnet_read_full(fd, buf, len, PROC_IO_TIMEOUT_MS), (ssize_t)len);
    buf[len] = '\0';
    assert_string_equal(buf, text);
}

void expect_clean_exit(ioserve_proc *p, int sig, int timeout_ms)
{
    int status = -1;
    assert_int_equal(proc_stop(p, sig, timeout_ms, &status), 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "ioserve stderr:\n%s\n", p->err);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(p->err, "ioserve: stopped"));
}

int proc_backend_args(const char *name, const char *args[5])
{
    static const struct {
        const char *name;
        const char *args[5];
    } table[] = {
        {"uring", {"--backend", "uring", NULL}},
        {"epoll-lt", {"--backend", "epoll", "--epoll-mode", "lt"}},
        {"epoll-et", {"--backend", "epoll", "--epoll-mode", "et"}},
        {"poll", {"--backend", "poll", NULL}},
        {"select", {"--backend", "select", NULL}},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(table[i].name, name) == 0) {
            memcpy(args, table[i].args, sizeof(table[i].args));
            return 0;
        }
    }
    return -1;
}

int proc_fixture_setup(void **state)
{
    ioserve_proc *p = calloc(1, sizeof(*p));
    if (!p)
        return -1;
    p->err_fd = -1;
    *state = p;
    return 0;
}

int proc_fixture_teardown(void **state)
{
    proc_kill(*state);
    free(*state);
    return 0;
}
