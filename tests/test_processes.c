/* test_processes.c - ioserve --processes: the supervisor and its workers, over real sockets.
 *
 * usage: test_processes IOSERVE_PATH uring|epoll-lt|epoll-et
 * ETX with --processes 2: kill -9 one worker under a client loop (only its own connections die,
 * the other serves on, a new worker with a new pid replaces it, every request after that
 * succeeds); connections queued while both workers are stopped survive the death of one (the
 * listener is the supervisor's, not the worker's); quick crashes in a row back off; SIGTERM
 * drains every worker and the supervisor exits 0; SIGHUP replaces every worker while the old
 * ones drain, SIGINT stops them; a worker that cannot start fails the start; bad --processes
 * values are usage errors.
 * Which worker owns a connection is read from /proc (the socket's inode in its fd table).
 */
#include <dirent.h>
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioserve_proc.h"
#include "net_helpers.h"

#define IO_TIMEOUT_MS 5000
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000
#define RESTART_TIMEOUT_MS 10000
#define HELD 16

/* Set once in main from argv, read-only afterwards. */
static const char *ioserve_path;
static const char *backend_args[5];
/* Queued connections a killed worker (one loop) may take with it.  io_uring accepts in the kernel
 * on the ring's behalf, and the dying task still runs its pending accept: one, as the server
 * arms one accept at a time on an inherited listener.  epoll: the worker calls accept itself. */
static int max_lost_per_loop;

static void start_workers(ioserve_proc *p, pid_t pids[2], const char *extra1, const char *extra2)
{
    const char *argv[16] = {ioserve_path, "--protocol", "etx", "--processes", "2", "--threads", "1"};
    size_t n = 7;
    for (size_t i = 0; backend_args[i]; i++)
        argv[n++] = backend_args[i];
    if (extra1)
        argv[n++] = extra1;
    if (extra2)
        argv[n++] = extra2;
    argv[n] = NULL;
    int err = proc_start(p, argv, START_TIMEOUT_MS);
    if (err == 0)
        err = proc_wait_err(p, 0, "held here; pids", START_TIMEOUT_MS) < 0 ? -ETIMEDOUT : 0;
    if (err < 0)
        fprintf(stderr, "ioserve did not start (%s); it said:\n%s\n", strerror(-err), p->err);
    assert_int_equal(err, 0);
    const char *line = strstr(p->err, "held here; pids");
    assert_int_equal(sscanf(line, "held here; pids %d %d", &pids[0], &pids[1]), 2);
    assert_true(pids[0] > 0 && pids[1] > 0 && pids[0] != pids[1]);
}

/* One message and its ack on an open connection: 0, or -errno (the connection is dead). */
static int exchange(int fd)
{
    char ack[3];
    int err = tnet_write_all(fd, "m\x03", 2, IO_TIMEOUT_MS);
    if (err < 0)
        return err;
    ssize_t n = tnet_read_full(fd, ack, sizeof(ack), IO_TIMEOUT_MS);
    if (n < 0)
        return (int)n;
    return n == 3 && memcmp(ack, "ack", 3) == 0 ? 0 : -EPROTO;
}

/* A whole client: connect, one exchange, goodbye, the server's close. */
static int one_client(uint16_t port)
{
    int fd = tnet_connect(port);
    if (fd < 0)
        return fd;
    int err = exchange(fd);
    if (err == 0)
        err = tnet_write_all(fd, "goodbye\x03", 8, IO_TIMEOUT_MS);
    if (err == 0)
        err = tnet_expect_eof(fd, IO_TIMEOUT_MS);
    close(fd);
    return err;
}

/* ---- who owns a connection ---- */

/* The server's socket for the client fd, from /proc/net/tcp (local port = the server's, remote
 * port = the client's): its inode (0 if not found) and the bytes it holds unread. */
static unsigned long server_side(int client_fd, uint16_t server_port, unsigned *unread)
{
    struct sockaddr_in me;
    socklen_t len = sizeof(me);
    assert_int_equal(getsockname(client_fd, (struct sockaddr *)&me, &len), 0);
    unsigned client_port = ntohs(me.sin_port), local, remote, rx;
    unsigned long inode, found = 0;
    char line[512];
    FILE *f = fopen("/proc/net/tcp", "r");
    assert_non_null(f);
    while (!found && fgets(line, sizeof(line), f)) {
        if (sscanf(line, " %*d: %*x:%x %*x:%x %*x %*x:%x %*s %*s %*u %*u %lu", &local, &remote, &rx, &inode) == 4 &&
            local == server_port && remote == client_port) {
            found = inode;
            if (unread)
                *unread = rx;
        }
    }
    fclose(f);
    return found;
}

static unsigned long server_side_inode(int client_fd, uint16_t server_port)
{
    return server_side(client_fd, server_port, NULL);
}

/* Until a worker has read everything the client sent (bounded): a connection whose message is
 * still unread is idle to a stopping server, which closes it at once. */
static void wait_read_by_server(int client_fd, uint16_t server_port)
{
    unsigned unread = 1;
    uint64_t deadline = tnet_now_ms() + IO_TIMEOUT_MS;
    while ((!server_side(client_fd, server_port, &unread) || unread) && tnet_now_ms() < deadline)
        usleep(2000);
    assert_int_equal(unread, 0);
}

static bool holds_socket(pid_t pid, unsigned long inode)
{
    char dir[64], path[320], link[64], want[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        found = n > 0 && (link[n] = '\0', strcmp(link, want) == 0);
    }
    if (d)
        closedir(d);
    return found;
}

/* Index of the worker (0 or 1) serving the client fd; -1 if neither. */
static int owner(int client_fd, uint16_t server_port, const pid_t pids[2])
{
    unsigned long inode = server_side_inode(client_fd, server_port);
    for (int i = 0; inode && i < 2; i++)
        if (holds_socket(pids[i], inode))
            return i;
    return -1;
}

/* ---- the supervisor's log ---- */

/* victim, in slot, was killed: the restart delay the supervisor logged, and the pid of the
 * worker that serves the slot after it. */
static pid_t wait_replacement(ioserve_proc *p, pid_t victim, unsigned slot, unsigned *delay_ms)
{
    char crashed[96], serves[64];
    snprintf(crashed, sizeof(crashed), "worker %d (slot %u) killed by signal 9", victim, slot);
    long at = proc_wait_err(p, 0, crashed, RESTART_TIMEOUT_MS);
    assert_true(at >= 0);
    const char *delay = strstr(p->err + at, "a new worker in ");
    assert_non_null(delay);
    if (delay_ms)
        assert_int_equal(sscanf(delay, "a new worker in %u ms", delay_ms), 1);
    snprintf(serves, sizeof(serves), "(slot %u) serves", slot);
    long served = proc_wait_err(p, (size_t)at, serves, RESTART_TIMEOUT_MS);
    assert_true(served >= 0);
    const char *line = p->err + served;
    while (line > p->err && line[-1] != '\n')
        line--;
    pid_t pid = 0;
    assert_int_equal(sscanf(line, "ioserve: worker %d", &pid), 1);
    return pid;
}

/* ---- a client loop running while a worker dies ---- */

struct loader {
    uint16_t port;
    atomic_bool stop;
    atomic_uint done, failed;
    atomic_uint failed_after_mark; /* failures once mark is set */
    atomic_bool marked;
    pthread_t thread;
};

static void *load(void *arg)
{
    struct loader *l = arg;
    uint64_t deadline = tnet_now_ms() + 60000;
    for (unsigned i = 0; i < 100000 && !atomic_load(&l->stop) && tnet_now_ms() < deadline; i++) {
        bool marked = atomic_load(&l->marked);
        if (one_client(l->port) == 0) {
            atomic_fetch_add(&l->done, 1);
        } else {
            atomic_fetch_add(&l->failed, 1);
            if (marked)
                atomic_fetch_add(&l->failed_after_mark, 1);
        }
    }
    return NULL;
}

/* Until the loader has completed `more` requests beyond now (bounded). */
static void wait_requests(struct loader *l, unsigned more)
{
    unsigned target = atomic_load(&l->done) + more;
    uint64_t deadline = tnet_now_ms() + 30000;
    while (atomic_load(&l->done) < target && tnet_now_ms() < deadline)
        usleep(5000);
    assert_true(atomic_load(&l->done) >= target);
}

/* ---- tests ---- */

static void test_kill_one_worker_under_load(void **state)
{
    ioserve_proc *p = *state;
    pid_t pids[2];
    start_workers(p, pids, NULL, NULL);

    /* Held connections, each known to belong to one worker; both workers get some. */
    int held[HELD], held_by[HELD], count[2] = {0, 0};
    for (int i = 0; i < HELD; i++) {
        held[i] = connect_to(p);
        assert_int_equal(exchange(held[i]), 0);
        held_by[i] = owner(held[i], p->port, pids);
        assert_true(held_by[i] == 0 || held_by[i] == 1);
        count[held_by[i]]++;
    }
    print_message("held connections: %d on worker %d, %d on worker %d\n", count[0], pids[0], count[1], pids[1]);
    assert_true(count[0] > 0 && count[1] > 0); /* the kernel's hash: all on one is 1 in 2^15 */

    struct loader l = {.port = p->port};
    assert_int_equal(pthread_create(&l.thread, NULL, load, &l), 0);
    wait_requests(&l, 50);
    assert_int_equal(kill(pids[0], SIGKILL), 0);
    pid_t fresh = wait_replacement(p, pids[0], 0, NULL);
    assert_true(fresh != pids[0] && fresh != pids[1]);
    assert_int_equal(kill(fresh, 0), 0);
    atomic_store(&l.marked, true);
    wait_requests(&l, 300);
    atomic_store(&l.stop, true);
    pthread_join(l.thread, NULL);
    print_message("client loop: %u requests, %u failed (%u after the restart)\n", atomic_load(&l.done),
                  atomic_load(&l.failed), atomic_load(&l.failed_after_mark));
    /* At most the one connection in flight on the killed worker; none once it was replaced. */
    assert_true(atomic_load(&l.failed) <= 1);
    assert_int_equal(atomic_load(&l.failed_after_mark), 0);

    /* The crash took the killed worker's connections, and only those. */
    for (int i = 0; i < HELD; i++) {
        int err = exchange(held[i]);
        if (held_by[i] == 0)
            assert_true(err != 0);
        else
            assert_int_equal(err, 0);
        close(held[i]);
    }
    assert_non_null(strstr(p->err, "crash 1;"));
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
}

/* Both workers stopped, clients queue on the listener; one worker dies: every queued client is
 * still served once the other continues, none was tied to the dead worker's listener. */
static void test_queued_connections_survive_a_worker(void **state)
{
    enum { QUEUED = 20 };
    ioserve_proc *p = *state;
    pid_t pids[2];
    start_workers(p, pids, NULL, NULL);
    assert_int_equal(kill(pids[0], SIGSTOP), 0);
    assert_int_equal(kill(pids[1], SIGSTOP), 0);
    int fds[QUEUED];
    for (int i = 0; i < QUEUED; i++) {
        fds[i] = connect_to(p); /* the kernel completes the handshake: queued, not accepted */
        assert_int_equal(tnet_write_all(fds[i], "m\x03", 2, IO_TIMEOUT_MS), 0);
    }
    assert_int_equal(kill(pids[0], SIGKILL), 0);
    assert_int_equal(kill(pids[1], SIGCONT), 0);
    int lost = 0;
    for (int i = 0; i < QUEUED; i++) {
        char ack[3];
        ssize_t n = tnet_read_full(fds[i], ack, sizeof(ack), IO_TIMEOUT_MS);
        lost += n != 3 || memcmp(ack, "ack", 3) != 0;
        close(fds[i]);
    }
    print_message("%d of %d queued connections lost\n", lost, QUEUED);
    assert_true(lost <= max_lost_per_loop);
    wait_replacement(p, pids[0], 0, NULL);
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
}

/* A worker that dies soon after it started is replaced later each time: the delay doubles. */
static void test_crash_loop_backs_off(void **state)
{
    ioserve_proc *p = *state;
    pid_t pids[2];
    start_workers(p, pids, NULL, NULL);
    pid_t victim = pids[0];
    unsigned delays[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kill(victim, SIGKILL), 0);
        victim = wait_replacement(p, victim, 0, &delays[i]);
    }
    print_message("restart delays: %u, %u, %u ms\n", delays[0], delays[1], delays[2]);
    assert_true(delays[1] >= 100);
    assert_int_equal(delays[2], 2 * delays[1]);
    assert_int_equal(one_client(p->port), 0);
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
}

/* SIGTERM: acks still owed are sent by every worker, then all exit and so does the supervisor,
 * with 0; the listener is gone. */
static void test_sigterm_drains_every_worker(void **state)
{
    enum { CONNS = 8 };
    ioserve_proc *p = *state;
    pid_t pids[2];
    start_workers(p, pids, "--ack-delay-ms", "500");
    int fds[CONNS], on[2] = {0, 0};
    for (int i = 0; i < CONNS; i++) {
        fds[i] = connect_to(p);
        assert_int_equal(exchange(fds[i]), 0);
        int who = owner(fds[i], p->port, pids);
        assert_true(who == 0 || who == 1);
        on[who]++;
        assert_int_equal(tnet_write_all(fds[i], "last\x03", 5, IO_TIMEOUT_MS), 0);
        wait_read_by_server(fds[i], p->port);
    }
    print_message("in flight at SIGTERM: %d on worker %d, %d on worker %d\n", on[0], pids[0], on[1], pids[1]);
    assert_int_equal(kill(p->pid, SIGTERM), 0);
    for (int i = 0; i < CONNS; i++) {
        char ack[3];
        assert_int_equal(tnet_read_full(fds[i], ack, sizeof(ack), IO_TIMEOUT_MS), 3);
        assert_memory_equal(ack, "ack", 3);
        assert_int_equal(tnet_expect_eof(fds[i], IO_TIMEOUT_MS), 0);
        close(fds[i]);
    }
    uint16_t port = p->port;
    expect_clean_exit(p, 0, STOP_TIMEOUT_MS);
    assert_non_null(strstr(p->err, "every worker has stopped; crashes replaced: 0"));
    int fd = tnet_connect(port);
    assert_true(fd < 0);
}

/* SIGHUP: a new worker in each slot, while the old ones finish what they owe and exit 0. */
static void test_sighup_replaces_every_worker(void **state)
{
    ioserve_proc *p = *state;
    pid_t pids[2];
    start_workers(p, pids, "--ack-delay-ms", "300");
    int fd = connect_to(p);
    assert_int_equal(tnet_write_all(fd, "owed\x03", 5, IO_TIMEOUT_MS), 0);
    wait_read_by_server(fd, p->port);
    assert_int_equal(kill(p->pid, SIGHUP), 0);
    long at = proc_wait_err(p, 0, "SIGHUP: replacing the workers", RESTART_TIMEOUT_MS);
    assert_true(at >= 0);
    pid_t fresh[2];
    for (unsigned slot = 0; slot < 2; slot++) {
        char serves[64];
        snprintf(serves, sizeof(serves), "(slot %u) serves", slot);
        long line = proc_wait_err(p, (size_t)at, serves, RESTART_TIMEOUT_MS);
        assert_true(line >= 0);
        while (line > 0 && p->err[line - 1] != '\n')
            line--;
        assert_int_equal(sscanf(p->err + line, "ioserve: worker %d", &fresh[slot]), 1);
        assert_true(fresh[slot] != pids[0] && fresh[slot] != pids[1]);
    }
    char ack[3]; /* the old worker drains: the ack it owed still arrives, then it closes */
    assert_int_equal(tnet_read_full(fd, ack, sizeof(ack), IO_TIMEOUT_MS), 3);
    assert_memory_equal(ack, "ack", 3);
    assert_int_equal(tnet_expect_eof(fd, IO_TIMEOUT_MS), 0);
    close(fd);
    for (int i = 0; i < 2; i++) { /* the old generation is gone, the new one serves */
        uint64_t deadline = tnet_now_ms() + STOP_TIMEOUT_MS;
        while (kill(pids[i], 0) == 0 && tnet_now_ms() < deadline)
            usleep(10000);
        assert_int_equal(kill(pids[i], 0), -1);
    }
    assert_int_equal(one_client(p->port), 0);
    assert_null(strstr(p->err, "crash"));
    expect_clean_exit(p, SIGINT, STOP_TIMEOUT_MS);
}

/* A worker that cannot start makes the whole server fail to start: exit 1, and why. */
static void test_workers_that_cannot_start(void **state)
{
    (void)state;
    const char *argv[] = {ioserve_path, "--processes", "2", "--root", "/nonexistent/ioserve-test",
                          "--listen", "127.0.0.1:0", NULL};
    static proc_output out; /* large: off the stack */
    assert_int_equal(proc_run(argv, START_TIMEOUT_MS, &out), 0);
    assert_true(WIFEXITED(out.status));
    assert_int_equal(WEXITSTATUS(out.status), 1);
    assert_non_null(strstr(out.err, "--root /nonexistent/ioserve-test"));
    assert_non_null(strstr(out.err, "before it served; stopping"));
}

static void expect_usage_error(const char *value, const char *says)
{
    const char *argv[] = {ioserve_path, "--processes", value, NULL};
    static proc_output out; /* large: off the stack */
    assert_int_equal(proc_run(argv, START_TIMEOUT_MS, &out), 0);
    assert_true(WIFEXITED(out.status));
    assert_int_equal(WEXITSTATUS(out.status), 2);
    assert_non_null(strstr(out.err, says));
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_usage_error("0", "--processes '0': at least one process");
    expect_usage_error("257", "--processes '257': the largest allowed is 256");
    expect_usage_error("two", "--processes 'two': expected a whole number");
}

int main(int argc, char **argv)
{
    if (argc != 3 || proc_backend_args(argv[2], backend_args) < 0) {
        fprintf(stderr, "usage: %s IOSERVE_PATH uring|epoll-lt|epoll-et\n", argv[0]);
        return 2;
    }
    ioserve_path = argv[1];
    max_lost_per_loop = strcmp(argv[2], "uring") == 0 ? 1 : 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test_setup_teardown(test_kill_one_worker_under_load, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_queued_connections_survive_a_worker, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_crash_loop_backs_off, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_drains_every_worker, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sighup_replaces_every_worker, proc_fixture_setup, proc_fixture_teardown),
        cmocka_unit_test(test_workers_that_cannot_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
