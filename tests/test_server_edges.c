/* test_server_edges.c - the edges of a server's life through the real binary, on one backend
 * per run: start-up failures, running out of file descriptors, an IPv6 listener, SQPOLL.
 *
 * usage: test_server_edges IOSERVE_PATH uring|epoll-lt|epoll-et
 *  - a missing --root and a port another socket holds: exit 1 with the reason, nothing served;
 *    so is a second ioserve on a port the first holds with SO_REUSEPORT, unless it asks to share;
 *  - SIGHUP and SIGUSR1 keep it serving, with the connections it has;
 *  - RLIMIT_NOFILE far below the connections offered: the accept loop backs off instead of
 *    spinning (the server's CPU time is measured while it is stuck), the connections it holds
 *    keep working, and once they close the ones left waiting in the listen queue are served;
 *  - `--listen [::1]:0`: served over IPv6;
 *  - `--sqpoll` (io_uring only, where the kernel grants SQPOLL; a visible skip elsewhere).
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioserve_proc.h"
#include "kernel_probe.h"
#include "net_helpers.h"

#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 5000
#define ARGS_MAX 16

/* Set once in main from argv, read-only afterwards. */
static const char *ioserve_path;
static const char *backend_name;
static const char *backend_args[5];

/* argv for an echo server on this run's backend, one loop, with extra flags (NULL-ended). */
static void echo_argv(const char *argv[ARGS_MAX], const char *const extra[])
{
    size_t n = 0;
    argv[n++] = ioserve_path;
    argv[n++] = "--protocol";
    argv[n++] = "echo";
    argv[n++] = "--threads";
    argv[n++] = "1";
    for (size_t i = 0; backend_args[i]; i++)
        argv[n++] = backend_args[i];
    for (size_t i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    assert_true(n < ARGS_MAX);
}

static void start_echo(ioserve_proc *p, const char *const extra[])
{
    const char *argv[ARGS_MAX];
    echo_argv(argv, extra);
    int err = proc_start(p, argv, START_TIMEOUT_MS);
    if (err < 0)
        fprintf(stderr, "ioserve did not start (%s); it said:\n%s\n", strerror(-err), p->err);
    assert_int_equal(err, 0);
}

static void expect_echo(int fd, const char *text)
{
    send_text(fd, text);
    expect_text(fd, text);
}

/* ---- start-up failures ---- */

static void expect_start_failure(const char *const extra[], const char *message)
{
    const char *argv[ARGS_MAX];
    echo_argv(argv, extra);
    proc_output out;
    assert_int_equal(proc_run(argv, START_TIMEOUT_MS, &out), 0);
    if (!WIFEXITED(out.status) || WEXITSTATUS(out.status) != 1 || !strstr(out.err, message))
        fprintf(stderr, "status %d, stderr:\n%s\n", out.status, out.err);
    assert_true(WIFEXITED(out.status));
    assert_int_equal(WEXITSTATUS(out.status), 1);
    assert_non_null(strstr(out.err, message));
    assert_null(strstr(out.err, "ioserve: echo on")); /* it never said it serves */
}

static void test_missing_root_fails(void **state)
{
    const char *extra[] = {"--protocol", "http", "--root", "/nonexistent/ioserve-test-root", NULL};
    expect_start_failure(extra, "--root /nonexistent/ioserve-test-root: No such file or directory");
}

/* A socket without SO_REUSEPORT holds the port, so no ioserve may bind it. */
static void test_port_in_use_fails(void **state)
{
    uint16_t port;
    int holder = tnet_listen(16, &port);
    assert_true(holder >= 0);
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
    const char *extra[] = {"--listen", listen, NULL};
    expect_start_failure(extra, "Address already in use");
    close(holder);
}

/* Another ioserve on the port, with a SO_REUSEPORT listener per thread: a second one would be let
 * in by the kernel and take a share of the connections, so it must refuse, naming the port and
 * the way to share on purpose; with --reuseport-share it starts and both serve. */
static void test_second_server_refused_unless_shared(void **state)
{
    ioserve_proc first, second;
    const char *two_threads[] = {"--threads", "2", NULL};
    start_echo(&first, two_threads);
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", first.port);
    const char *same_port[] = {"--listen", listen, "--threads", "2", NULL}; /* the last --threads counts */
    const char *argv[ARGS_MAX];
    echo_argv(argv, same_port);
    proc_output out;
    assert_int_equal(proc_run(argv, START_TIMEOUT_MS, &out), 0);
    assert_true(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 1);
    assert_non_null(strstr(out.err, listen));
    assert_non_null(strstr(out.err, "Address already in use"));
    assert_non_null(strstr(out.err, "--reuseport-share"));

    const char *shared[] = {"--listen", listen, "--threads", "2", "--reuseport-share", NULL};
    start_echo(&second, shared);
    assert_int_equal(second.port, first.port);
    for (int i = 0; i < 8; i++) { /* the kernel spreads them over both servers' listeners */
        int fd = tnet_connect(first.port);
        assert_true(fd >= 0);
        expect_echo(fd, "shared\n");
        close(fd);
    }
    int status;
    assert_int_equal(proc_stop(&second, SIGTERM, STOP_TIMEOUT_MS, &status), 0);
    assert_int_equal(status, 0);
    assert_int_equal(proc_stop(&first, SIGTERM, STOP_TIMEOUT_MS, &status), 0);
    assert_int_equal(status, 0);
}

/* logrotate's SIGHUP and SIGUSR1 must not take the site down: the server says it heard each,
 * and the connection open across them keeps being served. */
static void test_hup_and_usr1_keep_serving(void **state)
{
    ioserve_proc p;
    start_echo(&p, NULL);
    int fd = tnet_connect(p.port);
    assert_true(fd >= 0);
    expect_echo(fd, "before\n");
    static const struct { int sig; const char *said; } signals[] = {
        {SIGHUP, "ioserve: SIGHUP: no log file to reopen; serving on"},
        {SIGUSR1, "ioserve: SIGUSR1: no log file to reopen; serving on"},
    };
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        assert_int_equal(kill(p.pid, signals[i].sig), 0);
        assert_true(proc_wait_err(&p, 0, signals[i].said, START_TIMEOUT_MS) >= 0);
        expect_echo(fd, "after a signal\n");
    }
    close(fd);
    int status;
    assert_int_equal(proc_stop(&p, SIGTERM, STOP_TIMEOUT_MS, &status), 0);
    assert_int_equal(status, 0);
}

/* ---- file descriptors run out ---- */

enum { FD_LIMIT = 48, OFFERED = 120 };

/* utime + stime of pid, in clock ticks. */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    assert_non_null(p);
    unsigned long utime = 0, stime = 0;
    /* fields after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime), 2);
    return (long)(utime + stime);
}

/* The limit is set in this process around the start, so only the server inherits it. */
static void start_echo_with_fd_limit(ioserve_proc *p, rlim_t limit)
{
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = (struct rlimit){.rlim_cur = limit, .rlim_max = old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    const char *argv[ARGS_MAX];
    echo_argv(argv, NULL);
    int err = proc_start(p, argv, START_TIMEOUT_MS);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    if (err < 0)
        fprintf(stderr, "ioserve did not start (%s); it said:\n%s\n", strerror(-err), p->err);
    assert_int_equal(err, 0);
}

static void test_fd_exhaustion_backs_off_and_recovers(void **state)
{
    ioserve_proc p;
    start_echo_with_fd_limit(&p, FD_LIMIT);
    int fds[OFFERED];
    for (int i = 0; i < OFFERED; i++)
        fds[i] = connect_to(&p); /* the kernel completes the handshake from the listen queue */
    /* The first connection was accepted before the table filled: it is served. */
    expect_echo(fds[0], "first");
    /* Stuck at the limit with connections waiting: a spinning accept loop would burn a CPU;
     * the backoff retries ten times a second.  Allow a tenth of a CPU for sanitizer builds. */
    long ticks_per_s = sysconf(_SC_CLK_TCK);
    long before = cpu_ticks(p.pid);
    uint64_t start = tnet_now_ms();
    while (tnet_now_ms() - start < 1000)
        usleep(50 * 1000);
    long used = cpu_ticks(p.pid) - before;
    if (used > ticks_per_s / 10)
        fprintf(stderr, "the server used %ld of %ld ticks in 1 s at the fd limit\n", used, ticks_per_s);
    assert_true(used <= ticks_per_s / 10);
    expect_echo(fds[0], "still served");
    /* Free the table: every connection still waiting is accepted and served in turn, each
     * closing after its answer so the last ones find a descriptor too. */
    for (int i = 0; i < OFFERED / 2; i++)
        close(fds[i]);
    for (int i = OFFERED / 2; i < OFFERED; i++) {
        expect_echo(fds[i], "recovered");
        close(fds[i]);
    }
    int fresh = connect_to(&p);
    expect_echo(fresh, "fresh");
    close(fresh);
    expect_clean_exit(&p, SIGTERM, STOP_TIMEOUT_MS);
}

/* ---- IPv6 ---- */

static int connect_v6(uint16_t port)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_loopback};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void test_ipv6_listen(void **state)
{
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 any = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
    bool have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&any, sizeof any) == 0;
    if (probe >= 0)
        close(probe);
    if (!have_v6) {
        print_message("SKIP: no IPv6 loopback here\n");
        skip();
    }
    ioserve_proc p;
    const char *extra[] = {"--listen", "[::1]:0", NULL};
    start_echo(&p, extra);
    assert_non_null(strstr(p.start_line, " on [::1]:"));
    int fd = connect_v6(p.port);
    expect_echo(fd, "over IPv6");
    close(fd);
    expect_clean_exit(&p, SIGTERM, STOP_TIMEOUT_MS);
}

/* ---- SQPOLL ---- */

static void test_serves_with_sqpoll(void **state)
{
    char why[128];
    if (strcmp(backend_name, "uring") != 0) {
        print_message("SKIP: --sqpoll is an io_uring option\n");
        skip();
    }
    if (kernel_probe_sqpoll(why, sizeof why) < 0) {
        print_message("SKIP: %s\n", why);
        skip();
    }
    ioserve_proc p;
    const char *extra[] = {"--sqpoll", NULL};
    start_echo(&p, extra);
    assert_non_null(strstr(p.start_line, "uring: sqpoll "));
    enum { CLIENTS = 8 };
    int fds[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        fds[i] = connect_to(&p);
    for (int round = 0; round < 50; round++)
        for (int i = 0; i < CLIENTS; i++)
            expect_echo(fds[i], "polled by the kernel");
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    expect_clean_exit(&p, SIGTERM, STOP_TIMEOUT_MS);
}

int main(int argc, char **argv)
{
    if (argc != 3 || proc_backend_args(argv[2], backend_args) < 0) {
        fprintf(stderr, "usage: %s IOSERVE_PATH uring|epoll-lt|epoll-et\n", argv[0]);
        return 2;
    }
    ioserve_path = argv[1];
    backend_name = argv[2];
    signal(SIGPIPE, SIG_IGN);
    tnet_raise_nofile_limit();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_root_fails),
        cmocka_unit_test(test_port_in_use_fails),
        cmocka_unit_test(test_second_server_refused_unless_shared),
        cmocka_unit_test(test_hup_and_usr1_keep_serving),
        cmocka_unit_test(test_fd_exhaustion_backs_off_and_recovers),
        cmocka_unit_test(test_ipv6_listen),
        cmocka_unit_test(test_serves_with_sqpoll),
    };
    return cmocka_run_group_tests_name(argv[2], tests, NULL, NULL);
}
