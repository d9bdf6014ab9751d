/* test_cli.c - the ioserve binary's command line, --probe, and the fallback to epoll when
 * io_uring cannot be set up (a seccomp filter makes io_uring_setup fail with ENOSYS or EPERM).
 *
 * usage: test_cli IOSERVE_PATH SECCOMP_EXEC_PATH
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioserve_proc.h"
#include "net_helpers.h"

#define RUN_TIMEOUT_MS 10000
#define IO_TIMEOUT_MS 5000

/* Set once in main from argv, read-only afterwards. */
static const char *ioserve_path;
static const char *seccomp_exec_path;

static proc_output *run(const char *const argv[])
{
    proc_output *o = malloc(sizeof(*o));
    assert_non_null(o);
    assert_int_equal(proc_run(argv, RUN_TIMEOUT_MS, o), 0);
    return o;
}

static void expect_exit(const proc_output *o, int code)
{
    if (!WIFEXITED(o->status) || WEXITSTATUS(o->status) != code)
        fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", o->out, o->err);
    assert_true(WIFEXITED(o->status));
    assert_int_equal(WEXITSTATUS(o->status), code);
}

/* A usage error: exit 2, one message on stderr naming what was wrong, nothing on stdout. */
static void expect_usage_error(const char *const argv[], const char *words)
{
    proc_output *o = run(argv);
    expect_exit(o, 2);
    if (!strstr(o->err, words))
        fprintf(stderr, "expected \"%s\" in: %s\n", words, o->err);
    assert_non_null(strstr(o->err, words));
    assert_non_null(strstr(o->err, "ioserve: "));
    assert_string_equal(o->out, "");
    free(o);
}

static void test_unknown_flag(void **state)
{
    expect_usage_error((const char *[]){ioserve_path, "--frobnicate", NULL}, "--frobnicate: unknown option");
    expect_usage_error((const char *[]){ioserve_path, "--protocol", "echo", "stray", NULL}, "stray");
    expect_usage_error((const char *[]){ioserve_path, "-x", NULL}, "-x: unknown option");
}

static void test_bad_values(void **state)
{
    expect_usage_error((const char *[]){ioserve_path, "--backend", "kqueue", NULL},
                       "--backend 'kqueue': expected one of: auto uring epoll poll select");
    expect_usage_error((const char *[]){ioserve_path, "--epoll-mode=both", NULL}, "--epoll-mode 'both'");
    expect_usage_error((const char *[]){ioserve_path, "--protocol", "gopher", NULL}, "--protocol 'gopher'");
    expect_usage_error((const char *[]){ioserve_path, "--listen", "localhost", NULL}, "--listen 'localhost'");
    expect_usage_error((const char *[]){ioserve_path, "--listen", "127.0.0.1:65536", NULL}, "port");
    expect_usage_error((const char *[]){ioserve_path, "--listen", "[::1:80", NULL}, "--listen '[::1:80'");
    expect_usage_error((const char *[]){ioserve_path, "--max-conns", "-1", NULL}, "--max-conns '-1'");
    expect_usage_error((const char *[]){ioserve_path, "--max-conns", "99999999999", NULL}, "largest");
    expect_usage_error((const char *[]){ioserve_path, "--protocol", "etx", "--ack-delay-ms", "soon", NULL},
                       "--ack-delay-ms 'soon'");
    expect_usage_error((const char *[]){ioserve_path, "--protocol", NULL}, "--protocol: needs a value");
    expect_usage_error((const char *[]){ioserve_path, "--protocol", "echo", "--ack-delay-ms", "5", NULL},
                       "--ack-delay-ms: applies to --protocol etx only");
    expect_usage_error((const char *[]){ioserve_path, "--backend", "uring", "--epoll-mode", "et", NULL},
                       "--epoll-mode: applies to the epoll backend");
    expect_usage_error((const char *[]){ioserve_path, "--backend", "epoll", "--sqpoll", NULL},
                       "--sqpoll: applies to the io_uring backend");
    expect_usage_error((const char *[]){ioserve_path, "--backend", "poll", "--epoll-mode", "et", NULL},
                       "--epoll-mode: applies to the epoll backend");
    expect_usage_error((const char *[]){ioserve_path, "--backend", "select", "--sqpoll", NULL},
                       "--sqpoll: applies to the io_uring backend");
    expect_usage_error((const char *[]){ioserve_path, "--sqpoll=yes", NULL}, "--sqpoll: takes no value");
    expect_usage_error((const char *[]){ioserve_path, "--version=2", NULL}, "--version: takes no value");
    expect_usage_error((const char *[]){ioserve_path, "--listen", "127.0.0.1:1", "--listen=127.0.0.1:2", NULL},
                       "--listen '127.0.0.1:2': given twice");
    expect_usage_error((const char *[]){ioserve_path, "--sqpoll-cpu", "1", NULL},
                       "--sqpoll-cpu: applies with --sqpoll only");
    expect_usage_error((const char *[]){ioserve_path, "--backend", "epoll", "--cq-entries", "4", NULL},
                       "--cq-entries: applies to the io_uring backend");
    expect_usage_error((const char *[]){ioserve_path, "--cq-entries", "0", NULL}, "at least one entry");
    expect_usage_error((const char *[]){ioserve_path, "--cq-entries", "65537", NULL}, "largest");
}

static void test_http_flags_need_http(void **state)
{
    expect_usage_error((const char *[]){ioserve_path, "--protocol", "echo", "--root", ".", NULL},
                       "--root: applies to --protocol http only");
    expect_usage_error((const char *[]){ioserve_path, "--protocol", "etx", "--max-body=10", NULL},
                       "--max-body: applies to --protocol http only");
    expect_usage_error((const char *[]){ioserve_path, "--header-timeout-ms", "x", NULL},
                       "expected a whole number");
    expect_usage_error((const char *[]){ioserve_path, "--protocol=echo", "--serve-dotfiles", NULL},
                       "--serve-dotfiles: applies to --protocol http only");
    expect_usage_error((const char *[]){ioserve_path, "--serve-dotfiles=yes", NULL},
                       "--serve-dotfiles: takes no value");
}

static void test_rpc_flags_need_rpc(void **state)
{
    expect_usage_error((const char *[]){ioserve_path, "--protocol", "echo", "--rpc-max-message", "10", NULL},
                       "--rpc-max-message: applies to --protocol rpc only");
    expect_usage_error((const char *[]){ioserve_path, "--rpc-max-inflight=4", NULL},
                       "--rpc-max-inflight: applies to --protocol rpc only");
    expect_usage_error((const char *[]){ioserve_path, "--protocol", "rpc", "--rpc-max-message", "0", NULL},
                       "--rpc-max-message '0'");
    expect_usage_error((const char *[]){ioserve_path, "--protocol", "rpc", "--rpc-max-inflight", "65537", NULL},
                       "the largest allowed is 65536");
    expect_usage_error((const char *[]){ioserve_path, "--protocol", "echo", "--workers", "2", NULL},
                       "--workers: applies to --ack-mode worker and --protocol rpc only");
}

static void test_help(void **state)
{
    proc_output *o = run((const char *[]){ioserve_path, "--help", NULL});
    expect_exit(o, 0);
    assert_non_null(strstr(o->out, "usage: ioserve"));
    assert_non_null(strstr(o->out, "--ack-delay-ms"));
    assert_non_null(strstr(o->out, "--rpc-max-message"));
    assert_non_null(strstr(o->out, "--serve-dotfiles"));
    assert_non_null(strstr(o->out, "--reuseport-share"));
    free(o);
}

/* The three versions in one line a bug report can quote. */
static void test_version(void **state)
{
    proc_output *o = run((const char *[]){ioserve_path, "--version", NULL});
    expect_exit(o, 0);
    unsigned v[8];
    char end[4] = "";
    int got = sscanf(o->out, "ioserve %u.%u.%u (liburing %u.%u, llhttp %u.%u.%u%3s", &v[0], &v[1], &v[2], &v[3],
                     &v[4], &v[5], &v[6], &v[7], end);
    if (got != 9)
        fail_msg("--version said: %s", o->out);
    assert_string_equal(end, ")");
    free(o);
}

static void test_probe(void **state)
{
    struct utsname un;
    assert_int_equal(uname(&un), 0);
    char kernel[300];
    snprintf(kernel, sizeof(kernel), "kernel: Linux %s", un.release);
    proc_output *o = run((const char *[]){ioserve_path, "--probe", NULL});
    expect_exit(o, 0);
    print_message("%s", o->out);
    assert_non_null(strstr(o->out, kernel));
    assert_non_null(strstr(o->out, "uring backend"));
    assert_non_null(strstr(o->out, "epoll, poll and select backends"));
    assert_non_null(strstr(o->out, "  poll: yes"));
    assert_non_null(strstr(o->out, "  select: yes (level-triggered; fds below FD_SETSIZE = 1024 only)"));
    assert_non_null(strstr(o->out, "\nio_uring setup: "));
    assert_non_null(strstr(o->out, "\nauto picks: "));
    free(o);
}

/* Under the filter --probe says why io_uring is out and that auto picks epoll. */
static void probe_denied(const char *code, const char *reason)
{
    proc_output *o = run((const char *[]){seccomp_exec_path, code, ioserve_path, "--probe", NULL});
    expect_exit(o, 0);
    char line[128];
    snprintf(line, sizeof(line), "io_uring setup: no: %s", reason);
    assert_non_null(strstr(o->out, line));
    assert_non_null(strstr(o->out, "auto picks: epoll"));
    free(o);
}

/* --backend auto: serves echo on epoll and says why on its start-up line (the errno's name or
 * its words). */
static void fallback_serves(const char *code, const char *reason)
{
    char words[64];
    snprintf(words, sizeof(words), "%s", strerror(strcmp(code, "EPERM") == 0 ? EPERM : ENOSYS));
    ioserve_proc p;
    const char *argv[] = {seccomp_exec_path, code, ioserve_path, "--backend", "auto", "--protocol", "echo", NULL};
    int err = proc_start(&p, argv, RUN_TIMEOUT_MS);
    if (err < 0)
        fprintf(stderr, "no start (%s):\n%s\n", strerror(-err), p.err);
    assert_int_equal(err, 0);
    print_message("%s\n", p.start_line);
    assert_non_null(strstr(p.start_line, "backend epoll"));
    assert_true(strstr(p.start_line, reason) || strstr(p.start_line, words));
    int fd = tnet_connect(p.port);
    assert_true(fd >= 0);
    assert_int_equal(tnet_write_all(fd, "fallback", 8, IO_TIMEOUT_MS), 0);
    char buf[9] = {0};
    assert_int_equal(tnet_read_full(fd, buf, 8, IO_TIMEOUT_MS), 8);
    assert_string_equal(buf, "fallback");
    close(fd);
    int status = -1;
    err = proc_stop(&p, SIGTERM, IO_TIMEOUT_MS, &status);
    proc_kill(&p);
    assert_int_equal(err, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* --backend uring: no fallback; exit non-zero with the reason. */
static void uring_refuses(const char *code, const char *reason)
{
    proc_output *o = run((const char *[]){seccomp_exec_path, code, ioserve_path, "--backend", "uring",
                                          "--protocol", "echo", "--listen", "127.0.0.1:0", NULL});
    assert_true(WIFEXITED(o->status));
    assert_int_not_equal(WEXITSTATUS(o->status), 0);
    assert_non_null(strstr(o->err, "io_uring"));
    assert_non_null(strstr(o->err, reason));
    free(o);
}

static void test_fallback_enosys(void **state)
{
    fallback_serves("ENOSYS", "ENOSYS");
    uring_refuses("ENOSYS", "ENOSYS");
    probe_denied("ENOSYS", "Function not implemented (ENOSYS)");
}

static void test_fallback_eperm(void **state)
{
    fallback_serves("EPERM", "EPERM");
    uring_refuses("EPERM", "EPERM");
    probe_denied("EPERM", "Operation not permitted (EPERM)");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s IOSERVE_PATH SECCOMP_EXEC_PATH\n", argv[0]);
        return 2;
    }
    ioserve_path = argv[1];
    seccomp_exec_path = argv[2];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_flag),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_http_flags_need_http),
        cmocka_unit_test(test_rpc_flags_need_rpc),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_fallback_enosys),
        cmocka_unit_test(test_fallback_eperm),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
