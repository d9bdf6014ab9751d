/* test_ws_e2e_bin.c - WebSocket through the real ioserve binary: the HTTP route, the upgrade
 * hand-over and the built-in endpoints, with python3-websockets and raw frames as the client.
 *
 * usage: test_ws_e2e_bin IOSERVE_PATH uring|epoll|poll|select PATH/ws_client.py
 * One server (--protocol http, port 0, two loops with a SO_REUSEPORT listener each) serves every
 * test, then one with --accept dispatch (connections dealt to the loops in turn) runs the
 * broadcast again; each must then stop cleanly on SIGTERM.
 * What only the binary can show: the upgrade and its refusals through the real HTTP layer,
 * permessage-deflate negotiated there, big messages, many clients and the broadcast endpoint; the protocol's rules are the in-process suite's
 * (test_ws_e2e.c), which runs every scenario.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioserve_proc.h"
#include "net_helpers.h"

#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 10000
#define SCENARIO_TIMEOUT_S "40"

/* Set once in main from argv, read-only afterwards. */
static const char *ioserve_path;
static const char *backend;
static const char *client_script;
static ioserve_proc server;

/* Two loops, so that /ws/broadcast must cross from one loop's clients to the other's; each
 * group of tests sets how connections are spread before its server starts. */
static const char *accept_mode;

static int server_start(void **state)
{
    const char *argv[] = {ioserve_path, "--protocol", "http", "--backend", backend, "--threads", "2",
                          "--accept", accept_mode, NULL};
    int err = proc_start(&server, argv, START_TIMEOUT_MS);
    if (err < 0)
        fprintf(stderr, "ioserve did not start (%s); it said:\n%s\n", strerror(-err), server.err);
    return err < 0 ? -1 : 0;
}

/* Releases only: cmocka ignores a failing group teardown, so the clean stop is a test. */
static int server_release(void **state)
{
    proc_kill(&server);
    return 0;
}

/* Each group's last test: the server that served it stops on SIGTERM and exits 0. */
static void test_server_stops_cleanly(void **state)
{
    int status = -1;
    int err = proc_stop(&server, SIGTERM, STOP_TIMEOUT_MS, &status);
    if (err < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "ioserve did not stop cleanly (%d, status %d):\n%s\n", err, status, server.err);
    assert_int_equal(err, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int run_client(const char *scenario)
{
    char port[16];
    snprintf(port, sizeof port, "%u", server.port);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/usr/bin/timeout", "timeout", "-k", "2", SCENARIO_TIMEOUT_S, "/usr/bin/python3",
              client_script, scenario, port, (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        return -errno;
    int status;
    if (waitpid(pid, &status, 0) < 0)
        return -errno;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "scenario %s: status %d\n", scenario, status);
        return -1;
    }
    return 0;
}

#define SCENARIO(name)                                       \
    static void test_##name(void **state)                    \
    {                                                        \
        assert_int_equal(run_client(#name), 0);              \
    }

SCENARIO(handshake)
SCENARIO(upgrade)
SCENARIO(echo_16mb)
SCENARIO(close_codes)
SCENARIO(concurrent)
SCENARIO(broadcast_100)
SCENARIO(deflate)

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[2], "uring") != 0 && strcmp(argv[2], "epoll") != 0 && strcmp(argv[2], "poll") != 0 &&
                      strcmp(argv[2], "select") != 0)) {
        fprintf(stderr, "usage: %s IOSERVE_PATH uring|epoll|poll|select PATH/ws_client.py\n", argv[0]);
        return 2;
    }
    ioserve_path = argv[1];
    backend = argv[2];
    client_script = argv[3];
    tnet_raise_nofile_limit();
    /* 1000 clients and the server's own fds pass FD_SETSIZE, select's wall (test_server shows
     * those refused): select gets 900 concurrent clients. */
    if (strcmp(backend, "select") == 0)
        setenv("WS_CONCURRENT", "900", 0); /* unless the caller sized it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_echo_16mb),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_broadcast_100),
        cmocka_unit_test(test_deflate),
        cmocka_unit_test(test_server_stops_cleanly),
    };
    const struct CMUnitTest dispatched[] = {
        cmocka_unit_test(test_broadcast_100),
        cmocka_unit_test(test_server_stops_cleanly),
    };
    accept_mode = "reuseport";
    int failed = cmocka_run_group_tests_name(backend, tests, server_start, server_release);
    accept_mode = "dispatch";
    return failed + cmocka_run_group_tests_name(backend, dispatched, server_start, server_release);
}
