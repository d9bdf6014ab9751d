/* test_server_api.c - server.h as an embedding application uses it, in-process, on one backend
 * per run, with signal handling left to the application (server_config.own_signals).
 *
 * usage: test_server_api uring|epoll-lt|epoll-et|poll|select
 *  - own_signals: server_create() leaves the calling thread's signal mask and SIGTERM's
 *    disposition as they were; the server serves (echo, two loops); server_stop() from another
 *    thread ends server_run() with 0, the idle connection closed, on_stopping called once;
 *  - a second server_stop() aborts: a client that sent 8 MiB and reads nothing would hold the
 *    graceful shutdown for its 60 s timeout, and server_run() returns within 5 s instead.
 * The server runs on a thread of its own: a loop lives on the thread that created it.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend_config.h"
#include "net_helpers.h"
#include "server.h"

#define WAIT_MS 5000

/* Set once in main from argv, read-only afterwards. */
static io_loop_config loop_cfg;

struct running {
    server_config cfg;
    server *s;
    uint16_t port;
    int result;
    atomic_int stopping_calls;
    atomic_bool created, ended;
    sigset_t mask_after_create;
    struct sigaction term_after_create;
    pthread_t thread;
};

static void count_stopping(void *arg)
{
    struct running *r = arg;
    atomic_fetch_add(&r->stopping_calls, 1);
}

static void *serve(void *arg)
{
    struct running *r = arg;
    char why[256];
    int err = server_create(&r->s, &r->cfg, why, sizeof(why));
    pthread_sigmask(SIG_SETMASK, NULL, &r->mask_after_create);
    sigaction(SIGTERM, NULL, &r->term_after_create);
    if (err == 0) {
        char line[512];
        server_describe(r->s, line, sizeof(line));
        const char *at = strstr(line, "127.0.0.1:");
        r->port = at ? (uint16_t)atoi(at + strlen("127.0.0.1:")) : 0;
    } else {
        fprintf(stderr, "server_create: %s\n", why);
    }
    atomic_store(&r->created, true);
    r->result = err == 0 ? server_run(r->s) : err;
    atomic_store(&r->ended, true);
    return NULL;
}

static bool wait_flag(atomic_bool *flag, int timeout_ms)
{
    uint64_t deadline = tnet_now_ms() + (uint64_t)timeout_ms;
    while (!atomic_load(flag)) {
        if (tnet_now_ms() > deadline)
            return false;
        usleep(1000);
    }
    return true;
}

static void start(struct running *r, uint64_t shutdown_timeout_ms)
{
    memset(r, 0, sizeof(*r));
    r->cfg = (server_config){.loop = loop_cfg, .proto = &echo_proto, .threads = 2, .own_signals = true,
                             .shutdown_timeout_ms = shutdown_timeout_ms,
                             .on_stopping = count_stopping, .on_stopping_arg = r};
    assert_int_equal(net_addr_parse("127.0.0.1:0", &r->cfg.listen, NULL), 0);
    assert_int_equal(pthread_create(&r->thread, NULL, serve, r), 0);
    assert_true(wait_flag(&r->created, WAIT_MS));
    assert_non_null(r->s);
    assert_int_not_equal(r->port, 0);
}

static void finish(struct running *r)
{
    assert_true(wait_flag(&r->ended, WAIT_MS));
    assert_int_equal(pthread_join(r->thread, NULL), 0);
    assert_int_equal(r->result, 0);
    assert_int_equal(atomic_load(&r->stopping_calls), 1);
    server_destroy(r->s);
}

static void test_own_signals_left_alone(void **state)
{
    sigset_t before;
    struct sigaction term_before;
    pthread_sigmask(SIG_SETMASK, NULL, &before);
    sigaction(SIGTERM, NULL, &term_before);
    struct running r;
    start(&r, 0);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGPIPE)
            assert_int_equal(sigismember(&r.mask_after_create, sig), sigismember(&before, sig));
    assert_ptr_equal(r.term_after_create.sa_handler, term_before.sa_handler);

    int fd = tnet_connect(r.port);
    assert_true(fd >= 0);
    assert_int_equal(tnet_write_all(fd, "ping", 4, WAIT_MS), 0);
    char got[4];
    assert_int_equal(tnet_read_full(fd, got, 4, WAIT_MS), 4);
    assert_memory_equal(got, "ping", 4);
    assert_int_equal(server_stop(r.s), 0);
    assert_int_equal(tnet_expect_eof(fd, WAIT_MS), 0); /* the idle connection is closed */
    close(fd);
    finish(&r);
}

static void test_second_stop_aborts(void **state)
{
    struct running r;
    start(&r, 60000);
    int fd = tnet_connect(r.port);
    assert_true(fd >= 0);
    assert_int_equal(tnet_set_nonblocking(fd, 1), 0);
    static char chunk[64 * 1024];
    size_t sent = 0;
    uint64_t deadline = tnet_now_ms() + WAIT_MS;
    /* The echo backs up: the server holds output the client never reads. */
    while (sent < (8u << 20) && tnet_now_ms() < deadline) {
        ssize_t n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t)n;
        else
            usleep(1000);
    }
    assert_true(sent > (1u << 20));
    assert_int_equal(server_stop(r.s), 0);
    assert_int_equal(server_stop(r.s), 0);
    assert_int_equal(server_stop(r.s), 0); /* a third does nothing */
    uint64_t begun = tnet_now_ms();
    finish(&r);
    print_message("server_run returned %llu ms after the second stop (graceful timeout 60 s)\n",
                  (unsigned long long)(tnet_now_ms() - begun));
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 2 || backend_config(argv[1], &loop_cfg) < 0) {
        fprintf(stderr, "usage: %s " BACKEND_CONFIG_NAMES "\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_signals_left_alone),
        cmocka_unit_test(test_second_stop_aborts),
    };
    return cmocka_run_group_tests_name("server-api", tests, NULL, NULL);
}
