/* test_fault.c - the real ioserve under injected faults, one class per test (docs/faults.md).
 *
 * Built only with -Dfault_injection=true.  Each test starts the binary (echo, one thread) with
 * a fault plan in IOSERVE_FAULTS, drives several streams through it at once, each with its
 * own stretch of the byte pattern, and checks that every stream came back whole and in order,
 * or, where the fault kills its connection, a correct prefix and then the end (at most one
 * such stream per fault fired); that the fault fired; that a fresh client is served
 * afterwards; and that the server stops cleanly (exit 0; under ASan no leak, no error).
 * The ENOMEM sweeps run a whole scenario once per allocation site (echo, and HTTP with static
 * files and a WebSocket), the site failing; usage: test_fault IOSERVE BACKEND WWW_ROOT.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "ioserve_proc.h"
#include "net_helpers.h"

#define STREAMS 6
#define STREAM_BYTES (192u << 10)
#define CHUNK 16384u
#define STREAM_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 20000
#define RESETTERS 40

static const char *ioserve_path;
static const char *www_root;
static const char *backend;
static ioserve_proc server; /* the one running, killed by teardown if a test failed midway */
static const char *backend_args[5];

enum outcome { OPEN, WHOLE, CUT, BAD };

struct stream {
    int fd;
    uint64_t base; /* the pattern offset of its first byte: no two streams share bytes */
    size_t total;
    size_t sent;
    size_t received;
    bool write_done;
    enum outcome outcome;
    char why[96];
};

struct tally {
    int refused; /* could not connect: the server was gone */
    int whole, cut, bad;
    char first_bad[160];
};

/* ---- the streams ---- */

static void stream_end(struct stream *s, enum outcome o, const char *why)
{
    s->outcome = o;
    snprintf(s->why, sizeof(s->why), "%s after %zu of %zu bytes back", why, s->received, s->total);
}

static void stream_write(struct stream *s)
{
    char buf[CHUNK];
    size_t len = s->total - s->sent < CHUNK ? s->total - s->sent : CHUNK;
    tnet_pattern_fill(buf, len, s->base + s->sent);
    ssize_t n = send(s->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN)
            s->write_done = true; /* the server is gone from this one: what comes back decides */
        return;
    }
    s->sent += (size_t)n;
    if (s->sent == s->total) {
        shutdown(s->fd, SHUT_WR);
        s->write_done = true;
    }
}

static void stream_read(struct stream *s)
{
    char buf[CHUNK];
    ssize_t n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n < 0) {
        stream_end(s, errno == ECONNRESET ? CUT : BAD, strerror(errno));
        return;
    }
    if (n == 0) {
        stream_end(s, s->received == s->total ? WHOLE : CUT, "EOF");
        return;
    }
    if (tnet_pattern_mismatch(buf, (size_t)n, s->base + s->received) < (size_t)n ||
        s->received + (size_t)n > s->sent) {
        stream_end(s, BAD, "a wrong byte");
        return;
    }
    s->received += (size_t)n;
}

/* Run the streams together until each has ended or the time is up; tally how they ended. */
static void run_streams(struct stream *st, int n, struct tally *t)
{
    struct pollfd pfd[STREAMS];
    uint64_t deadline = tnet_now_ms() + STREAM_TIMEOUT_MS;
    for (;;) {
        int open = 0;
        for (int i = 0; i < n; i++) {
            pfd[i] = (struct pollfd){ .fd = st[i].outcome == OPEN ? st[i].fd : -1,
                                      .events = POLLIN | (st[i].write_done ? 0 : POLLOUT) };
            open += st[i].outcome == OPEN;
        }
        if (!open || tnet_now_ms() >= deadline || (poll(pfd, (nfds_t)n, 100) < 0 && errno != EINTR))
            break;
        for (int i = 0; i < n; i++) {
            if (pfd[i].revents & POLLOUT)
                stream_write(&st[i]);
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                stream_read(&st[i]);
        }
    }
    for (int i = 0; i < n; i++) {
        if (st[i].outcome == OPEN)
            stream_end(&st[i], BAD, "timed out");
        t->whole += st[i].outcome == WHOLE;
        t->cut += st[i].outcome == CUT;
        if (st[i].outcome == BAD && t->bad++ == 0)
            snprintf(t->first_bad, sizeof(t->first_bad), "stream %d: %s", i, st[i].why);
        close(st[i].fd);
    }
}

/* n streams of bytes each against the server; the tally of how they ended. */
static struct tally streams_against(const ioserve_proc *p, int n, size_t bytes)
{
    static uint64_t next_base = 0;
    struct stream st[STREAMS];
    struct tally t = {0};
    int opened = 0;
    for (int i = 0; i < n; i++) {
        int fd = tnet_connect(p->port);
        if (fd < 0) {
            t.refused++;
            continue;
        }
        st[opened++] = (struct stream){ .fd = fd, .base = next_base, .total = bytes };
        next_base += (uint64_t)1 << 32;
        assert_int_equal(tnet_set_nonblocking(fd, 1), 0);
    }
    run_streams(st, opened, &t);
    return t;
}

/* ---- the server ---- */

struct fault_count {
    unsigned long long hits, fired;
};

static void start_server(ioserve_proc *p, const char *plan, const char *extra_flag, const char *extra_value)
{
    const char *argv[16] = {ioserve_path, "--protocol", "echo", "--threads", "1"};
    int n = 5;
    for (int i = 0; backend_args[i]; i++)
        argv[n++] = backend_args[i];
    if (extra_flag) {
        argv[n++] = extra_flag;
        argv[n++] = extra_value;
    }
    argv[n] = NULL;
    assert_int_equal(setenv("IOSERVE_FAULTS", plan, 1), 0);
    int rc = proc_start(p, argv, 10000);
    unsetenv("IOSERVE_FAULTS");
    if (rc < 0)
        fprintf(stderr, "ioserve stderr:\n%s\n", p->err);
    assert_int_equal(rc, 0);
}

/* The server's own count of a site (fault.h: its line at exit); zeros if it never said. */
static struct fault_count count_of(const ioserve_proc *p, const char *site)
{
    struct fault_count c = {0, 0};
    char key[64];
    snprintf(key, sizeof(key), "ioserve-fault: %s hits=", site);
    const char *at = strstr(p->err, key);
    if (at)
        sscanf(at + strlen(key) - strlen("hits="), "hits=%llu fired=%llu", &c.hits, &c.fired);
    return c;
}

static void assert_no_sanitizer_report(const ioserve_proc *p)
{
    if (strstr(p->err, "Sanitizer") || strstr(p->err, "runtime error"))
        fail_msg("the sanitizer spoke:\n%s", p->err);
}

/* A fresh client is served whole, then the server stops cleanly. */
static void expect_recovered_and_clean_stop(ioserve_proc *p)
{
    struct tally fresh = streams_against(p, 1, 4096);
    if (fresh.whole != 1)
        fail_msg("a fresh client was not served: %s", fresh.bad ? fresh.first_bad : "cut or refused");
    expect_clean_exit(p, SIGTERM, STOP_TIMEOUT_MS);
    assert_no_sanitizer_report(p);
}

static void expect_streams(const struct tally *t, int cut_allowed)
{
    if (t->bad)
        fail_msg("%d stream(s) lost or reordered bytes; first: %s", t->bad, t->first_bad);
    assert_true(t->cut <= cut_allowed);
    assert_int_equal(t->whole + t->cut, STREAMS);
}

/* One fault class: the plan, streams through it, then the checks above.  cuts: whether a
 * fired fault may end its connection (one stream per fault fired at most). */
static void fault_class(const char *plan, const char *site, bool cuts)
{
    ioserve_proc *p = &server;
    start_server(p, plan, NULL, NULL);
    struct tally t = streams_against(p, STREAMS, STREAM_BYTES);
    expect_recovered_and_clean_stop(p);
    struct fault_count c = count_of(p, site);
    print_message("%s: %llu hits, %llu fired; streams whole %d, cut %d\n", plan, c.hits, c.fired, t.whole, t.cut);
    assert_true(c.fired > 0);
    expect_streams(&t, cuts ? (int)c.fired : 0);
}

static bool on_uring(void)
{
    return strcmp(backend, "uring") == 0;
}

/* ---- the classes ---- */

/* uring: the kernel found no buffer in the ring: the recv waits for one and loses nothing.
 * epoll: recv(2) itself failed: that connection ends, no other. */
static void test_recv_enobufs(void **state)
{
    fault_class("recv:ENOBUFS:2:3:0", "recv", !on_uring());
}

static void test_short_sends(void **state)
{
    fault_class("send-short:short:1:2:0", "send-short", false);
}

/* uring: the kernel gave up with -EAGAIN on accepts, recvs and sends, 300 times in a row each.
 * epoll: every event is dispatched twice, so each syscall it leads to is tried again on
 * readiness gone stale and the kernel answers EAGAIN.  (An EAGAIN made up where the socket
 * is ready would be no kernel's: edge-triggered, no new edge would ever follow it.) */
static void test_eagain_storm(void **state)
{
    if (on_uring())
        fault_class("recv:EAGAIN:1:1:300,send:EAGAIN:1:1:300,accept:EAGAIN:1:1:20", "recv", false);
    else
        fault_class("event:spurious:1:1:0", "event", false);
}

/* Out of fds: the server backs off and accepts again; the waiting clients are served. */
static void test_accept_emfile(void **state)
{
    fault_class("accept:EMFILE:1:1:3", "accept", false);
}

static void test_accept_enfile(void **state)
{
    fault_class("accept:ENFILE:1:2:2", "accept", false);
}

/* The number the process's next fd will get (the lowest free one), or -1. */
static int lowest_free_fd(pid_t pid)
{
    char path[64];
    bool used[1024] = {false};
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd >= 0 && fd < 1024)
            used[fd] = true;
    }
    closedir(dir);
    int fd = 0;
    while (fd < 1024 && used[fd])
        fd++;
    return fd < 1024 ? fd : -1;
}

/* The same without injection: the server's RLIMIT_NOFILE leaves room for two connections, so
 * the kernel itself says EMFILE while six clients wait; each is served as another leaves. */
static void test_accept_emfile_from_the_kernel(void **state)
{
    ioserve_proc *p = &server;
    start_server(p, "", NULL, NULL);
    int next = lowest_free_fd(p->pid);
    assert_true(next > 2);
    struct rlimit lim = { .rlim_cur = (rlim_t)next + 2, .rlim_max = (rlim_t)next + 2 };
    assert_int_equal(prlimit(p->pid, RLIMIT_NOFILE, &lim, NULL), 0);
    struct tally t = streams_against(p, STREAMS, STREAM_BYTES);
    expect_recovered_and_clean_stop(p);
    print_message("RLIMIT_NOFILE %d: streams whole %d\n", next + 2, t.whole);
    expect_streams(&t, 0);
}

/* The peer reset while its answer was being sent: that connection ends, no other.  Every
 * fault planned must fire within the streams, or the fresh client that follows takes one: a
 * stream may be echoed in a single send (uring gathers what it received into one), so six
 * streams guarantee six sends, and the plan fires at sends 2, 4 and 6. */
static void test_connreset_mid_response(void **state)
{
    fault_class("send:ECONNRESET:2:2:3", "send", true);
}

/* Clients that send and reset at once, so the server closes connections with ops in flight,
 * and streams that outrun their echo, so reading pauses with a recv still bringing bytes.  On
 * uring a cancelled op whose CQE brings a result meets its cancel: on a closing fd it is told
 * -ECANCELED instead ("cancel"); a paused recv's bytes are counted ("cancel-late") and must
 * reach the stream whole and in order. */
static struct fault_count cancel_race_round(ioserve_proc *p)
{
    start_server(p, on_uring() ? "cancel:ECANCELED:1:1:0" : "", NULL, NULL);
    char buf[CHUNK];
    tnet_pattern_fill(buf, sizeof(buf), 0);
    for (int i = 0; i < RESETTERS; i++) {
        int fd = connect_to(p);
        assert_int_equal(tnet_set_nonblocking(fd, 1), 0);
        for (int k = 0; k < 8; k++)
            if (send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                break;
        if (i % 2) /* half of them wait for the echo to start, so a send is in flight */
            tnet_read_full(fd, buf, 1, 2000);
        assert_int_equal(tnet_set_linger_reset(fd), 0);
        close(fd);
    }
    struct tally t = streams_against(p, STREAMS, STREAM_BYTES);
    expect_recovered_and_clean_stop(p);
    struct fault_count closing = count_of(p, "cancel"), late = count_of(p, "cancel-late");
    print_message("cancel races: closing %llu hits, %llu fired; pausing %llu; streams whole %d\n",
                  closing.hits, closing.fired, late.hits, t.whole);
    expect_streams(&t, 0);
    assert_true(closing.fired == closing.hits);
    return (struct fault_count){closing.hits + late.hits, closing.fired};
}

/* A race needs the timing to meet: one round may cancel nothing that had a result yet, so up
 * to CANCEL_ROUNDS servers are tried, each checked in full, and on uring one of them must have
 * raced. */
#define CANCEL_ROUNDS 4
static void test_cancel_races_on_close(void **state)
{
    ioserve_proc *p = &server;
    struct fault_count c = cancel_race_round(p);
    for (int round = 1; round < CANCEL_ROUNDS && on_uring() && c.hits == 0; round++)
        c = cancel_race_round(p);
    if (on_uring())
        assert_true(c.hits > 0);
}

/* A completion queue of 2 entries: the kernel overflows it at once, and nothing is lost. */
static void test_tiny_completion_queue(void **state)
{
    ioserve_proc *p = &server;
    start_server(p, "", "--cq-entries", "2");
    assert_non_null(strstr(p->start_line, "backend uring"));
    struct tally t = streams_against(p, STREAMS, STREAM_BYTES);
    expect_recovered_and_clean_stop(p);
    struct fault_count c = count_of(p, "cq-overflow");
    print_message("a 2-entry CQ overflowed %llu times; streams whole %d\n", c.hits, t.whole);
    assert_true(c.hits > 0);
    expect_streams(&t, 0);
}

/* ENOMEM at every allocation site a scenario reaches, one site per run, in the order the
 * sites are first reached: the server refuses to start with a message, or serves; it never
 * crashes, hangs or leaks, the failure ends one connection at most, and a fresh client is
 * served after it. */
#define MAX_SITES 400

/* What one run of a scenario saw: connections that lost or reordered bytes or hung, that
 * ended early or answered wrongly, and whether the fresh client was served. */
struct sweep_run {
    int bad;
    int cut;
    bool fresh_ok;
    char why[160];
};

typedef void (*sweep_scenario)(const ioserve_proc *p, struct sweep_run *r);

static void echo_scenario(const ioserve_proc *p, struct sweep_run *r)
{
    struct tally t = streams_against(p, 2, 32768);
    struct tally fresh = streams_against(p, 1, 4096);
    r->bad = t.bad;
    r->cut = t.cut + t.refused;
    r->fresh_ok = fresh.whole == 1;
    snprintf(r->why, sizeof(r->why), "%s", t.first_bad);
}

/* Plain, echoed, static (sendfile) and WebSocket answers on two connections, both closed by
 * the exchange itself (Connection: close; a close frame). */
static const char http_requests[] =
    "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"
    "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\nbananas"
    "GET /index.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
static const char *const http_answers[] = {"Hello, World!", "bananas", "</html>", NULL};
/* With permessage-deflate (the echo comes back compressed): a text frame "ping!" and a close
 * frame (1000), both masked with a zero key; the close echoed ends the exchange. */
static const char ws_requests[] =
    "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    "\x81\x85\0\0\0\0ping!\x88\x82\0\0\0\0\x03\xe8";
static const char *const ws_answers[] = {"101 Switching Protocols", "permessage-deflate", "\x88\x02\x03\xe8",
                                         NULL};

/* Send the requests, read to the end: 1 when every answer came in order, 0 when the
 * connection ended early or answered otherwise, -1 when it did not end in time. */
static int http_exchange(const ioserve_proc *p, const char *req, size_t len, const char *const *answers)
{
    static char got[65536];
    int fd = tnet_connect(p->port);
    if (fd < 0)
        return 0;
    ssize_t n = tnet_write_all(fd, req, len, PROC_IO_TIMEOUT_MS) < 0 ? 0
                                                                       : tnet_read_full(fd, got, sizeof(got) - 1, 10000);
    close(fd);
    if (n == -ETIMEDOUT)
        return -1;
    if (n < 0)
        return 0;
    got[n] = '\0';
    const char *at = got;
    for (const char *const *a = answers; *a; a++) {
        at = memmem(at, (size_t)(got + n - at), *a, strlen(*a));
        if (!at)
            return 0;
    }
    return 1;
}

static void http_scenario(const ioserve_proc *p, struct sweep_run *r)
{
    int plain = http_exchange(p, http_requests, sizeof(http_requests) - 1, http_answers);
    int ws = http_exchange(p, ws_requests, sizeof(ws_requests) - 1, ws_answers);
    r->bad = (plain < 0) + (ws < 0);
    r->cut = (plain == 0) + (ws == 0);
    r->fresh_ok = http_exchange(p, http_requests, sizeof(http_requests) - 1, http_answers) == 1;
    snprintf(r->why, sizeof(r->why), "HTTP %d, WebSocket %d (-1: hung)", plain, ws);
}

/* One run with the k-th site failing: 1 when the start was refused (cleanly), 0 when it
 * served; *reached is how many sites the run reached. */
static int sweep_once(const char *const *argv, unsigned long long k, sweep_scenario scenario,
                      unsigned long long *reached)
{
    char plan[64];
    snprintf(plan, sizeof(plan), "alloc:ENOMEM:%llu:0:1", k);
    ioserve_proc *p = &server;
    assert_int_equal(setenv("IOSERVE_FAULTS", plan, 1), 0);
    int rc = proc_start(p, argv, 10000);
    unsetenv("IOSERVE_FAULTS");
    int status = -1;
    if (rc == -ECHILD) { /* it could not start: a message and status 1, nothing else */
        assert_int_equal(proc_stop(p, SIGTERM, STOP_TIMEOUT_MS, &status), 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 || !strstr(p->err, "ioserve: "))
            fail_msg("%s: start failed with status 0x%x:\n%s", plan, status, p->err);
        assert_no_sanitizer_report(p);
        *reached = count_of(p, "alloc").hits;
        return 1;
    }
    assert_int_equal(rc, 0);
    struct sweep_run r = {0};
    scenario(p, &r);
    /* A server that cannot serve must end by itself: no signal for it then. */
    assert_int_equal(proc_stop(p, r.fresh_ok ? SIGTERM : 0, STOP_TIMEOUT_MS, &status), 0);
    assert_no_sanitizer_report(p);
    struct fault_count c = count_of(p, "alloc");
    *reached = c.hits;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || r.bad || r.cut > (int)c.fired || !r.fresh_ok)
        fail_msg("%s: status 0x%x, %d connection(s) wrong or hung, %d cut (%s), fresh client %s:\n%s", plan,
                 status, r.bad, r.cut, r.why, r.fresh_ok ? "served" : "not served", p->err);
    return 0;
}

static void sweep_enomem(const char *const *args, sweep_scenario scenario)
{
    const char *argv[20] = {ioserve_path, "--threads", "1"};
    int n = 3;
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    for (int i = 0; backend_args[i]; i++)
        argv[n++] = backend_args[i];
    argv[n] = NULL;
    unsigned long long k, reached = 0;
    unsigned refused = 0;
    for (k = 1; k <= MAX_SITES; k++) {
        refused += (unsigned)sweep_once(argv, k, scenario, &reached);
        if (reached < k) /* this run reached fewer than k sites: every one has failed once */
            break;
    }
    print_message("%s: ENOMEM swept over %llu allocation sites (%u of them stop the start)\n", args[1], k - 1,
                  refused);
    assert_true(k <= MAX_SITES);
    assert_true(k > 10);
}

static void test_enomem_at_every_site_echo(void **state)
{
    sweep_enomem((const char *[]){"--protocol", "echo", NULL}, echo_scenario);
}

static void test_enomem_at_every_site_http(void **state)
{
    sweep_enomem((const char *[]){"--protocol", "http", "--root", www_root, NULL}, http_scenario);
}

/* A plan that does not parse never runs silently without its faults. */
static void test_bad_plan_is_refused(void **state)
{
    static const char *const plans[] = {"recv:EBOGUS:1:0:0", "nowhere:EAGAIN:1:0:0", "recv:EAGAIN:0:0:0",
                                        "recv:EAGAIN:1:0", "recv:EAGAIN:1:0:0,"};
    const char *argv[] = {ioserve_path, "--protocol", "echo", "--listen", "127.0.0.1:0", NULL};
    for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
        static proc_output out;
        assert_int_equal(setenv("IOSERVE_FAULTS", plans[i], 1), 0);
        int rc = proc_run(argv, 10000, &out);
        unsetenv("IOSERVE_FAULTS");
        assert_int_equal(rc, 0);
        if (!WIFEXITED(out.status) || WEXITSTATUS(out.status) != 2 || !strstr(out.err, "bad rule in IOSERVE_FAULTS"))
            fail_msg("plan '%s': status 0x%x, stderr:\n%s", plans[i], out.status, out.err);
    }
}

static int teardown(void **state)
{
    proc_kill(&server);
    unsetenv("IOSERVE_FAULTS");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 || proc_backend_args(argv[2], backend_args) < 0) {
        fprintf(stderr, "usage: %s IOSERVE_PATH uring|epoll-lt|epoll-et|poll|select WWW_ROOT\n", argv[0]);
        return 2;
    }
    ioserve_path = argv[1];
    www_root = argv[3];
    backend = argv[2];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_plan_is_refused),
        cmocka_unit_test_teardown(test_recv_enobufs, teardown),
        cmocka_unit_test_teardown(test_short_sends, teardown),
        cmocka_unit_test_teardown(test_eagain_storm, teardown),
        cmocka_unit_test_teardown(test_accept_emfile, teardown),
        cmocka_unit_test_teardown(test_accept_enfile, teardown),
        cmocka_unit_test_teardown(test_accept_emfile_from_the_kernel, teardown),
        cmocka_unit_test_teardown(test_connreset_mid_response, teardown),
        cmocka_unit_test_teardown(test_cancel_races_on_close, teardown),
        cmocka_unit_test_teardown(test_enomem_at_every_site_echo, teardown),
        cmocka_unit_test_teardown(test_enomem_at_every_site_http, teardown),
        cmocka_unit_test_teardown(test_tiny_completion_queue, teardown),
    };
    /* The CQ exists on uring only: the last test is uring's alone. */
    size_t count = sizeof(tests) / sizeof(tests[0]) - (on_uring() ? 0 : 1);
    return _cmocka_run_group_tests(backend, tests, count, NULL, NULL);
}
