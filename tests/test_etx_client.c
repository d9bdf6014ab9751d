/* test_etx_client.c - bench/etx-client against real servers, its output parsed line by line.
 *
 * usage: test_etx_client ETX_CLIENT SERVER uring|epoll-lt|epoll-et|baseline
 * With ioserve (one thread, an ack delay) the clients are served at once: every latency is the
 * delay, the first acks arrive together and the whole run takes about 5 delays.  With
 * baseline-blocking they are served one at a time: no two clients' acks interleave and the run
 * takes clients x 5 delays.  A server that answers something other than "ack" fails the client.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "ioserve_proc.h"

#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 5000
#define MESSAGES 5
#define MAX_CLIENTS 16

/* Set once in main from argv, read-only afterwards. */
static const char *etx_client_path;
static const char *server_path;
static const char *backend_args[5];

/* What etx-client printed: when each ack arrived, its latency, and who saw the close. */
struct transcript {
    double at_ms[MAX_CLIENTS][MESSAGES + 1]; /* [client][message 1..5]; 0: not seen */
    double latency_ms[MAX_CLIENTS][MESSAGES + 1];
    unsigned acks, closes, failures;
    unsigned summary_ok, summary_of; /* "etx-client: OK of N clients ..." */
};

/* sscanf stops at the first literal that differs, having assigned what came before: a line
 * is of a form only when the whole format matched (%n reached). */
static void parse_line(struct transcript *t, const char *line)
{
    double at, latency;
    unsigned client, message;
    int end = 0;
    if (sscanf(line, "%lf ms client %u message %u ack in %lf ms%n", &at, &client, &message, &latency, &end) == 4 &&
        end) {
        assert_true(client < MAX_CLIENTS && message >= 1 && message <= MESSAGES);
        assert_true(t->at_ms[client][message] == 0); /* each ack once */
        t->at_ms[client][message] = at;
        t->latency_ms[client][message] = latency;
        t->acks++;
    } else if (sscanf(line, "%lf ms client %u goodbye: closed by the server%n", &at, &client, &end) == 2 && end) {
        t->closes++;
    } else if (strstr(line, " failed: ")) {
        t->failures++;
    } else {
        sscanf(line, "etx-client: %u of %u clients", &t->summary_ok, &t->summary_of);
    }
}

/* Run etx-client with n clients against the server; its exit status, its lines parsed. */
static int run_client(const ioserve_proc *server, unsigned n, struct transcript *t)
{
    char count[16], target[32];
    snprintf(count, sizeof(count), "%u", n);
    snprintf(target, sizeof(target), "127.0.0.1:%u", server->port);
    const char *argv[] = {etx_client_path, "--wait-s", "20", count, target, NULL};
    static proc_output out; /* large: off the stack */
    assert_int_equal(proc_run(argv, 60000, &out), 0);
    print_message("%s", out.out);
    memset(t, 0, sizeof(*t));
    for (char *line = strtok(out.out, "\n"); line; line = strtok(NULL, "\n"))
        parse_line(t, line);
    assert_true(WIFEXITED(out.status));
    return WEXITSTATUS(out.status);
}

static void start_server(ioserve_proc *p, const char *const *flags)
{
    const char *argv[16] = {server_path};
    size_t n = 1;
    for (size_t i = 0; backend_args[i]; i++)
        argv[n++] = backend_args[i];
    for (size_t i = 0; flags[i]; i++)
        argv[n++] = flags[i];
    argv[n] = NULL;
    int err = proc_start(p, argv, START_TIMEOUT_MS);
    if (err < 0)
        fprintf(stderr, "the server did not start (%s); it said:\n%s\n", strerror(-err), p->err);
    assert_int_equal(err, 0);
}

static void expect_all_served(const struct transcript *t, unsigned n)
{
    assert_int_equal(t->acks, n * MESSAGES);
    assert_int_equal(t->closes, n);
    assert_int_equal(t->failures, 0);
    assert_int_equal(t->summary_ok, n);
    assert_int_equal(t->summary_of, n);
}

/* ---- ioserve: one thread serves every client at once ---- */

static void test_ioserve_serves_all_at_once(void **state)
{
    enum { CLIENTS = 10, DELAY_MS = 300 };
    ioserve_proc *p = *state;
    start_server(p, (const char *[]){"--protocol", "etx", "--threads", "1", "--ack-delay-ms", "300", NULL});
    struct transcript t;
    assert_int_equal(run_client(p, CLIENTS, &t), 0);
    expect_all_served(&t, CLIENTS);
    double first_min = 1e12, first_max = 0, last = 0;
    for (unsigned c = 0; c < CLIENTS; c++) {
        for (unsigned m = 1; m <= MESSAGES; m++)
            assert_true(t.latency_ms[c][m] >= DELAY_MS - 1);
        first_min = t.at_ms[c][1] < first_min ? t.at_ms[c][1] : first_min;
        first_max = t.at_ms[c][1] > first_max ? t.at_ms[c][1] : first_max;
        last = t.at_ms[c][MESSAGES] > last ? t.at_ms[c][MESSAGES] : last;
    }
    /* One after another, the first acks would be 1.5 s apart and the run would take 15 s. */
    assert_true(first_max - first_min < MESSAGES * DELAY_MS);
    assert_true(last < 2 * MESSAGES * DELAY_MS);
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
}

/* The client holds the server to the protocol: "ack\x03" is not three bytes "ack" each. */
static void test_framed_acks_fail_the_client(void **state)
{
    ioserve_proc *p = *state;
    start_server(p, (const char *[]){"--protocol", "etx", "--etx-ack", "ack-etx", NULL});
    struct transcript t;
    assert_int_equal(run_client(p, 2, &t), 1);
    assert_int_equal(t.failures, 2);
    assert_int_equal(t.summary_ok, 0);
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
}

/* ---- baseline-blocking: one client at a time ---- */

static void test_blocking_serves_one_at_a_time(void **state)
{
    enum { CLIENTS = 3, DELAY_MS = 100 };
    ioserve_proc *p = *state;
    start_server(p, (const char *[]){"--protocol", "etx", "--ack-delay-ms", "100", NULL});
    struct transcript t;
    assert_int_equal(run_client(p, CLIENTS, &t), 0);
    expect_all_served(&t, CLIENTS);
    double last = 0;
    for (unsigned a = 0; a < CLIENTS; a++) {
        last = t.at_ms[a][MESSAGES] > last ? t.at_ms[a][MESSAGES] : last;
        /* No ack of another client falls between a's first and last. */
        for (unsigned b = 0; b < CLIENTS; b++)
            for (unsigned m = 1; m <= MESSAGES && b != a; m++)
                assert_false(t.at_ms[b][m] > t.at_ms[a][1] && t.at_ms[b][m] < t.at_ms[a][MESSAGES]);
    }
    assert_true(last >= CLIENTS * MESSAGES * DELAY_MS - 1);
    int status = -1;
    assert_int_equal(proc_stop(p, SIGTERM, STOP_TIMEOUT_MS, &status), 0);
}

int main(int argc, char **argv)
{
    bool baseline = argc == 4 && strcmp(argv[3], "baseline") == 0;
    if (argc != 4 || (!baseline && proc_backend_args(argv[3], backend_args) < 0)) {
        fprintf(stderr, "usage: %s ETX_CLIENT SERVER uring|epoll-lt|epoll-et|baseline\n", argv[0]);
        return 2;
    }
    etx_client_path = argv[1];
    server_path = argv[2];
    const struct CMUnitTest ioserve_tests[] = {
        cmocka_unit_test_setup_teardown(test_ioserve_serves_all_at_once, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_framed_acks_fail_the_client, proc_fixture_setup, proc_fixture_teardown),
    };
    const struct CMUnitTest baseline_tests[] = {
        cmocka_unit_test_setup_teardown(test_blocking_serves_one_at_a_time, proc_fixture_setup, proc_fixture_teardown),
    };
    if (baseline)
        return cmocka_run_group_tests(baseline_tests, NULL, NULL);
    return cmocka_run_group_tests(ioserve_tests, NULL, NULL);
}
