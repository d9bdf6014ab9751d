/* test_rpc_conn.c - rpc_proto (src/rpc/rpc_conn.h) in-process, with methods of the test's own
 * registered through the C API (src/rpc/rpc.h), on one backend per run.
 *
 * usage: test_rpc_conn uring|epoll-lt|epoll-et|poll|select
 * A loop and a conn_set run in this thread, a worker pool beside it; the test plays the client
 * on the other end of a loopback socket and decodes the answers with msgpack-c.  What the
 * Python client (tests/rpc_client.py) cannot see from outside is checked here: how many worker
 * jobs a connection may hold (in calls and in bytes), that a reset connection's jobs are
 * cancelled and the state freed (ASan), and the registration API's refusals.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>

#include "backend_config.h"
#include "conn.h"
#include "net_helpers.h"
#include "rpc/rpc_builtin.h"
#include "rpc/rpc_conn.h"
#include "worker_pool.h"

#define WAIT_MS 5000
#define WORKERS 8
#define MAX_MESSAGE 1000
#define PARKED_MS 20000 /* a held job waits this long unless cancelled: longer than any test */

/* Set once in main, read-only afterwards. */
static io_loop_config loop_config;

struct ctx {
    io_loop *loop;
    conn_set *set;
    worker_pool *pool;
    rpc_registry *methods;
    struct rpc_config cfg;
    int client;
    atomic_int started;   /* hold() calls begun on a worker */
    atomic_int cancelled; /* hold() calls cut short */
};

/* hold(bin): parks its worker until the connection goes; answers the bin's length. */
static int hold(rpc_call *call, const msgpack_object_array *params, void *arg)
{
    struct ctx *x = arg;
    if (params->size != 1 || params->ptr[0].type != MSGPACK_OBJECT_BIN)
        return rpc_error(call, "hold takes 1 bin");
    atomic_fetch_add(&x->started, 1);
    if (rpc_wait_ms(call, PARKED_MS) < 0) {
        atomic_fetch_add(&x->cancelled, 1);
        return rpc_error(call, "cancelled");
    }
    return msgpack_pack_uint32(rpc_result(call), params->ptr[0].via.bin.size);
}

/* wait_inline(): what rpc_wait_ms says on the loop. */
static int wait_inline(rpc_call *call, const msgpack_object_array *params, void *arg)
{
    return msgpack_pack_int(rpc_result(call), rpc_wait_ms(call, 1));
}

static int setup(void **state)
{
    struct ctx *x = calloc(1, sizeof(*x));
    if (!x || io_loop_create(&x->loop, &loop_config) < 0 || conn_set_create(&x->set, x->loop, NULL) < 0 ||
        worker_pool_create(&x->pool, WORKERS) < 0 || rpc_registry_create(&x->methods) < 0 ||
        rpc_builtin_methods(x->methods) < 0 || rpc_method_add(x->methods, "hold", RPC_WORKER, hold, x) < 0 ||
        rpc_method_add(x->methods, "wait_inline", RPC_INLINE, wait_inline, NULL) < 0)
        return -1;
    x->cfg = (struct rpc_config){.methods = x->methods, .workers = x->pool, .max_message = MAX_MESSAGE,
                                 .max_inflight = 3};
    int server_fd;
    if (tnet_tcp_pair(&x->client, &server_fd) < 0 || conn_accept(x->set, server_fd, &rpc_proto, &x->cfg) < 0)
        return -1;
    *state = x;
    return 0;
}

/* Turn the loop until done(x) or WAIT_MS. */
static bool pump(struct ctx *x, bool (*done)(struct ctx *), int budget_ms)
{
    uint64_t until = tnet_now_ms() + (uint64_t)budget_ms;
    while (!done(x)) {
        if (tnet_now_ms() >= until)
            return false;
        io_loop_run_once(x->loop, 10);
    }
    return true;
}

static bool no_conn_left(struct ctx *x)
{
    return conn_set_get_stats(x->set).open == 0;
}

static int teardown(void **state)
{
    struct ctx *x = *state;
    if (x->client >= 0)
        close(x->client);
    /* A connection that stopped reading at its cap would not see the peer go: abort it, as the
     * server's shutdown does once its grace period is over. */
    conn_set_abort_all(x->set);
    pump(x, no_conn_left, WAIT_MS);
    worker_pool_destroy(x->pool); /* before the loop: its jobs post there */
    conn_set_destroy(x->set);
    io_loop_destroy(x->loop);
    rpc_registry_destroy(x->methods);
    free(x);
    return 0;
}

static void send_request(struct ctx *x, uint32_t msgid, const char *method, size_t bin_len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint32(&pk, msgid);
    msgpack_pack_str_with_body(&pk, method, strlen(method));
    msgpack_pack_array(&pk, bin_len ? 1 : 0);
    if (bin_len) {
        static const char zeros[MAX_MESSAGE];
        msgpack_pack_bin_with_body(&pk, zeros, bin_len);
    }
    assert_int_equal(tnet_write_all(x->client, sb.data, sb.size, WAIT_MS), 0);
    msgpack_sbuffer_destroy(&sb);
}

/* Turn the loop while reading one response: [1, msgid, error, result] into u. */
static void read_response(struct ctx *x, msgpack_unpacked *u)
{
    char buf[4096];
    size_t have = 0;
    uint64_t until = tnet_now_ms() + WAIT_MS;
    for (;;) {
        size_t off = 0;
        if (have && msgpack_unpack_next(u, buf, have, &off) == MSGPACK_UNPACK_SUCCESS) {
            assert_int_equal(off, have); /* one response at a time in these tests */
            break;
        }
        assert_true(tnet_now_ms() < until);
        io_loop_run_once(x->loop, 10);
        ssize_t n = recv(x->client, buf + have, sizeof(buf) - have, MSG_DONTWAIT);
        if (n > 0)
            have += (size_t)n;
    }
    assert_int_equal(u->data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(u->data.via.array.size, 4);
}

static bool turned_a_while(struct ctx *x)
{
    (void)x;
    return false;
}

/* Wait (bounded) until n hold() calls have begun, then give more a while to begin if they
 * could: the count must still be n. */
static void expect_started(struct ctx *x, int n)
{
    uint64_t until = tnet_now_ms() + WAIT_MS;
    while (atomic_load(&x->started) < n && tnet_now_ms() < until)
        io_loop_run_once(x->loop, 10);
    pump(x, turned_a_while, 200);
    assert_int_equal(atomic_load(&x->started), n);
}

/* 3 calls of 600 bytes: the second starts (600 < 1000 bytes held), the third waits for room
 * although the count cap (3) would allow it, and so does an echo behind it, even inline. */
static void test_worker_jobs_bounded_in_bytes(void **state)
{
    struct ctx *x = *state;
    send_request(x, 1, "hold", 600);
    send_request(x, 2, "hold", 600);
    send_request(x, 3, "hold", 600);
    send_request(x, 4, "echo", 0);
    expect_started(x, 2);
    char byte;
    assert_int_equal(recv(x->client, &byte, 1, MSG_DONTWAIT), -1); /* not even the echo's error */
}

static bool both_cancelled(struct ctx *x)
{
    return atomic_load(&x->cancelled) == 2 && conn_set_get_stats(x->set).open == 0;
}

/* A reset connection cancels its parked jobs at once and is freed once they are back. */
static void test_reset_cancels_parked_jobs(void **state)
{
    struct ctx *x = *state;
    send_request(x, 1, "hold", 10);
    send_request(x, 2, "hold", 10);
    expect_started(x, 2);
    uint64_t start = tnet_now_ms();
    tnet_set_linger_reset(x->client);
    close(x->client);
    x->client = -1;
    assert_true(pump(x, both_cancelled, WAIT_MS));
    assert_true(tnet_now_ms() - start < 2000); /* not the PARKED_MS a job would wait */
}

/* The count cap: with 3 parked, a fourth small call waits. */
static void test_worker_jobs_bounded_in_count(void **state)
{
    struct ctx *x = *state;
    for (uint32_t i = 1; i <= 4; i++)
        send_request(x, i, "hold", 1);
    expect_started(x, 3);
}

static void test_wait_refused_inline(void **state)
{
    struct ctx *x = *state;
    send_request(x, 9, "wait_inline", 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    read_response(x, &u);
    const msgpack_object *r = u.data.via.array.ptr;
    assert_int_equal(r[1].via.u64, 9);
    assert_int_equal(r[2].type, MSGPACK_OBJECT_NIL);
    assert_int_equal(r[3].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_int_equal(r[3].via.i64, -EINVAL);
    msgpack_unpacked_destroy(&u);
}

static int no_op(rpc_call *call, const msgpack_object_array *params, void *arg)
{
    return 0;
}

static void test_registration_refusals(void **state)
{
    rpc_registry *r;
    assert_int_equal(rpc_registry_create(&r), 0);
    assert_int_equal(rpc_method_add(r, "m", RPC_INLINE, no_op, NULL), 0);
    assert_int_equal(rpc_method_add(r, "m", RPC_WORKER, no_op, NULL), -EEXIST);
    assert_int_equal(rpc_method_add(r, "", RPC_INLINE, no_op, NULL), -EINVAL);
    assert_int_equal(rpc_method_add(r, "x", RPC_INLINE, NULL, NULL), -EINVAL);
    char longest[RPC_METHOD_NAME_MAX + 1];
    memset(longest, 'n', sizeof(longest));
    longest[RPC_METHOD_NAME_MAX - 1] = '\0';
    assert_int_equal(rpc_method_add(r, longest, RPC_INLINE, no_op, NULL), 0);
    longest[RPC_METHOD_NAME_MAX - 1] = 'n';
    longest[RPC_METHOD_NAME_MAX] = '\0';
    assert_int_equal(rpc_method_add(r, longest, RPC_INLINE, no_op, NULL), -EINVAL);
    for (int i = 0; i < 40; i++) { /* the table grows */
        char name[16];
        snprintf(name, sizeof(name), "m%d", i);
        assert_int_equal(rpc_method_add(r, name, RPC_WORKER, no_op, NULL), 0);
    }
    rpc_registry_destroy(r);
}

int main(int argc, char **argv)
{
    if (argc != 2 || backend_config(argv[1], &loop_config) < 0) {
        fprintf(stderr, "usage: %s " BACKEND_CONFIG_NAMES "\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_worker_jobs_bounded_in_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_jobs_bounded_in_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_cancels_parked_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_refused_inline, setup, teardown),
        cmocka_unit_test(test_registration_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
