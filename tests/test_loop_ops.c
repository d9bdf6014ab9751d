/* test_loop_ops.c - cancelling (io_cancel, io_close: rule 6), failed submits (rule 1), ops
 * resubmitted from their own callbacks (rule 3), fd numbers reused, fds beyond select's reach,
 * and io_read. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include "loop_harness.h"
#include "loop_tests.h"

/* ---- cancelling a recv that has nothing to receive ---- */

static void cancel_recv_case(void **state, unsigned recv_flags)
{
    io_loop *loop = loop_new(state, 0, 0);
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);
    struct check_log log = {0};
    struct record rec = { .log = &log };
    io_op op = {0};
    assert_int_equal(io_recv(loop, &op, server, recv_flags, record_recv_cb, &rec), 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(io_cancel(loop, &op), 0);
    assert_int_equal(run_until(loop, 2000, record_called, &rec), 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.res, -ECANCELED);
    assert_int_equal(rec.flags, 0);
    assert_int_equal(io_cancel(loop, &op), -ENOENT);
    assert_int_equal(close_through_loop(loop, server), 0);
    close(client);
    assert_log_clean(&log);
    loop_finish(loop);
}

void test_cancel_pending_recv(void **state)
{
    cancel_recv_case(state, 0);
}

void test_cancel_pending_multishot_recv(void **state)
{
    cancel_recv_case(state, IO_MULTISHOT);
}

/* ---- an fd at or above FD_SETSIZE ---- */

struct two_records {
    struct record *a, *b;
};

static bool both_final(void *arg)
{
    struct two_records *two = arg;
    return record_final(two->a) && record_final(two->b);
}

/* select cannot wait on an fd numbered FD_SETSIZE or more (an fd_set has no bit for it): a recv
 * that has to wait there ends with -EMFILE, and the loop goes on serving a low fd.  Every
 * other backend waits on it like on any other. */
void test_fd_beyond_fd_setsize(void **state)
{
    enum { HIGH_FD = FD_SETSIZE + 100 };
    assert_true(tnet_raise_nofile_limit() > HIGH_FD);
    io_loop *loop = loop_new(state, 0, 0);
    bool select = strcmp(io_loop_backend_name(loop), "select") == 0;
    assert_int_equal(io_loop_fd_limit(loop), select ? FD_SETSIZE : INT_MAX);
    int client, server, low_client, low;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);
    assert_int_equal(tnet_tcp_pair(&low_client, &low), 0);
    int high = fcntl(server, F_DUPFD_CLOEXEC, HIGH_FD);
    assert_true(high >= HIGH_FD);
    close(server);
    struct check_log log = {0};
    struct record high_rec = { .log = &log }, low_rec = { .log = &log };
    io_op high_op = {0}, low_op = {0};
    assert_int_equal(io_recv(loop, &high_op, high, 0, record_recv_cb, &high_rec), 0);
    assert_int_equal(io_recv(loop, &low_op, low, 0, record_recv_cb, &low_rec), 0);
    /* Nothing to read yet: both have to wait. */
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(high_rec.calls, select ? 1 : 0);
    if (select)
        assert_int_equal(high_rec.res, -EMFILE);
    assert_int_equal(low_rec.calls, 0);
    assert_int_equal(write(client, "x", 1), 1);
    assert_int_equal(write(low_client, "y", 1), 1);
    struct two_records two = { &high_rec, &low_rec };
    assert_int_equal(run_until(loop, 2000, both_final, &two), 0);
    assert_int_equal(high_rec.calls, 1);
    assert_int_equal(high_rec.res, select ? -EMFILE : 1);
    assert_int_equal(low_rec.res, 1);
    assert_int_equal(close_through_loop(loop, high), 0);
    assert_int_equal(close_through_loop(loop, low), 0);
    close(client);
    close(low_client);
    assert_log_clean(&log);
    loop_finish(loop);
}

/* A caller closes an fd itself while a recv waits on it.  poll reports it (POLLNVAL) and
 * select fails whole (EBADF) until it is found: either way that recv ends with -EBADF and the
 * other fds are served on.  epoll forgets it silently and io_uring keeps its file: there the
 * recv waits on, until cancelled. */
void test_fd_closed_behind_the_loop(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    const char *name = io_loop_backend_name(loop);
    bool reported = strcmp(name, "select") == 0 || strcmp(name, "poll") == 0;
    int client, server, other_client, other;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);
    assert_int_equal(tnet_tcp_pair(&other_client, &other), 0);
    struct check_log log = {0};
    struct record gone = { .log = &log }, served = { .log = &log };
    io_op gone_op = {0}, served_op = {0};
    assert_int_equal(io_recv(loop, &gone_op, server, 0, record_recv_cb, &gone), 0);
    assert_int_equal(io_recv(loop, &served_op, other, 0, record_recv_cb, &served), 0);
    assert_int_equal(run_for(loop, 20), 0);
    close(server);
    assert_int_equal(write(other_client, "y", 1), 1);
    assert_int_equal(run_until(loop, 2000, record_final, &served), 0);
    assert_int_equal(served.res, 1);
    if (reported) {
        assert_int_equal(run_until(loop, 2000, record_final, &gone), 0);
        assert_int_equal(gone.res, -EBADF);
    } else {
        assert_int_equal(run_for(loop, 20), 0);
        assert_int_equal(gone.calls, 0);
        assert_int_equal(io_cancel(loop, &gone_op), 0);
        assert_int_equal(run_until(loop, 2000, record_final, &gone), 0);
        assert_int_equal(gone.res, -ECANCELED);
    }
    assert_int_equal(close_through_loop(loop, other), 0);
    close(client);
    close(other_client);
    assert_log_clean(&log);
    loop_finish(loop);
}

/* ---- single-shot accept and recv, each resubmitted from its own final callback ---- */

#define CHAIN_CLIENTS 20
#define CHAIN_BYTES (256u * 1024)

struct chain_test {
    struct check_log log;
    int listen_fd;
    io_op accept_op;
    int accepted_fds[CHAIN_CLIENTS];
    int accepted;
    io_op recv_op;
    int stream_fd; /* the first connection accepted carries a stream */
    uint64_t received;
    bool recv_eof;
    int client;    /* the stream's client end, -1 once closed */
    char *data;
    size_t sent;
};

static void chain_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct chain_test *c = op->data;
    CHECK_EQ(&c->log, flags, 0);
    if (res <= 0) {
        CHECK_EQ(&c->log, res, 0);
        c->recv_eof = true;
        return;
    }
    size_t bad = tnet_pattern_mismatch(op->buf.data, (size_t)res, c->received);
    if (bad < (size_t)res)
        check_failed(&c->log, __LINE__, "wrong byte at %llu", (unsigned long long)(c->received + bad));
    c->received += (uint64_t)res;
    io_buf_release(loop, op->buf);
    CHECK_EQ(&c->log, io_recv(loop, op, c->stream_fd, 0, chain_recv_cb, c), 0);
}

static void chain_accept_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct chain_test *c = op->data;
    CHECK_EQ(&c->log, flags, 0);
    if (res < 0 || c->accepted == CHAIN_CLIENTS) {
        check_failed(&c->log, __LINE__, "accept %d gave %d", c->accepted, res);
        return;
    }
    c->accepted_fds[c->accepted++] = res;
    if (c->accepted == 1) {
        c->stream_fd = res;
        CHECK_EQ(&c->log, io_recv(loop, &c->recv_op, res, 0, chain_recv_cb, c), 0);
    }
    if (c->accepted < CHAIN_CLIENTS)
        CHECK_EQ(&c->log, io_accept(loop, op, c->listen_fd, 0, chain_accept_cb, c), 0);
}

static bool chain_step(void *arg)
{
    struct chain_test *c = arg;
    while (c->client >= 0 && c->sent < CHAIN_BYTES) {
        ssize_t n = send(c->client, c->data + c->sent, CHAIN_BYTES - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN)
                check_failed(&c->log, __LINE__, "client send: %s", strerror(errno));
            break;
        }
        c->sent += (size_t)n;
    }
    if (c->client >= 0 && c->sent == CHAIN_BYTES) {
        close(c->client);
        c->client = -1;
    }
    return (c->accepted == CHAIN_CLIENTS && c->recv_eof) || c->log.failures;
}

void test_single_shot_ops_resubmitted_from_callbacks(void **state)
{
    io_loop *loop = loop_new(state, 16, 4096);
    struct chain_test *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->data = malloc(CHAIN_BYTES);
    assert_non_null(c->data);
    tnet_pattern_fill(c->data, CHAIN_BYTES, 99);
    c->received = 99;
    uint16_t port;
    c->listen_fd = tnet_listen(CHAIN_CLIENTS, &port);
    assert_true(c->listen_fd >= 0);
    assert_int_equal(io_accept(loop, &c->accept_op, c->listen_fd, 0, chain_accept_cb, c), 0);
    int clients[CHAIN_CLIENTS];
    for (int i = 0; i < CHAIN_CLIENTS; i++) {
        clients[i] = tnet_connect(port);
        assert_true(clients[i] >= 0);
    }
    c->client = clients[0];
    assert_int_equal(tnet_set_nonblocking(c->client, 1), 0);

    int rc = run_until(loop, 5000, chain_step, c);
    assert_log_clean(&c->log);
    assert_int_equal(rc, 0);
    assert_int_equal(c->accepted, CHAIN_CLIENTS);
    assert_int_equal(c->received, 99 + CHAIN_BYTES);
    for (int i = 0; i < CHAIN_CLIENTS; i++) {
        close(c->accepted_fds[i]);
        if (i > 0)
            close(clients[i]);
    }
    close(c->listen_fd);
    free(c->data);
    free(c);
    loop_finish(loop);
}

/* ---- cancelling at the edges: twice, after the result is known, from a sibling timer ---- */

struct sibling_timers {
    struct record first, second;
    io_op first_op, second_op;
    int cancel_rc;
};

static void cancel_sibling_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct sibling_timers *st = op->data;
    record_add(&st->first, res, flags);
    st->cancel_rc = io_cancel(loop, &st->second_op);
}

void test_cancel_edges(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    struct check_log log = {0};
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);

    /* Already finished, not yet delivered: the cancel succeeds, the op keeps its result. */
    struct record sent = { .log = &log };
    io_op send_op = {0};
    assert_int_equal(io_send(loop, &send_op, server, "", 0, record_cb, &sent), 0);
    assert_int_equal(io_cancel(loop, &send_op), 0);
    assert_int_equal(run_until(loop, 1000, record_final, &sent), 0);
    assert_int_equal(sent.res, 0);

    /* Cancelled twice: one completion. */
    struct record rec = { .log = &log };
    io_op recv_op = {0};
    assert_int_equal(io_recv(loop, &recv_op, server, IO_MULTISHOT, record_recv_cb, &rec), 0);
    assert_int_equal(run_for(loop, 10), 0);
    assert_int_equal(io_cancel(loop, &recv_op), 0);
    assert_int_equal(io_cancel(loop, &recv_op), 0);
    assert_int_equal(run_until(loop, 2000, record_final, &rec), 0);
    assert_int_equal(run_for(loop, 10), 0);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.res, -ECANCELED);

    /* Two timers due together: the first one's callback cancels the second. */
    struct sibling_timers st = { .first.log = &log, .second.log = &log, .cancel_rc = 1 };
    assert_int_equal(io_timeout(loop, &st.first_op, 5, cancel_sibling_cb, &st), 0);
    assert_int_equal(io_timeout(loop, &st.second_op, 5, record_cb, &st.second), 0);
    assert_int_equal(run_until(loop, 1000, record_final, &st.second), 0);
    assert_int_equal(st.cancel_rc, 0);
    assert_int_equal(st.first.res, -ETIME);
    assert_int_equal(st.second.calls, 1);
    assert_int_equal(st.second.res, -ECANCELED);

    assert_int_equal(close_through_loop(loop, server), 0);
    close(client);
    assert_log_clean(&log);
    loop_finish(loop);
}

/* ---- an fd number reused by a new socket ---- */

/* One recv on fd (single-shot or multishot) that must bring exactly msg. */
static void recv_message(io_loop *loop, int client, int fd, unsigned flags, const char *msg)
{
    struct check_log log = {0};
    struct record rec = { .log = &log };
    io_op op = {0};
    assert_int_equal(io_recv(loop, &op, fd, flags, record_recv_cb, &rec), 0);
    assert_int_equal(run_for(loop, 10), 0);
    assert_int_equal(tnet_write_all(client, msg, strlen(msg), 1000), 0);
    assert_int_equal(run_until(loop, 2000, record_called, &rec), 0);
    assert_int_equal(rec.res, (int)strlen(msg));
    if (flags & IO_MULTISHOT) {
        assert_int_equal(io_cancel(loop, &op), 0);
        assert_int_equal(run_until(loop, 2000, record_final, &rec), 0);
        assert_int_equal(rec.res, -ECANCELED);
    }
    assert_log_clean(&log);
}

/* A new socket moved onto the number of the old one, which was closed outside the loop. */
static int socket_onto_number(int number, int *client)
{
    int server;
    if (tnet_tcp_pair(client, &server) < 0)
        return -1;
    if (server == number) /* the lowest free number often is the old one already */
        return server;
    int fd = dup3(server, number, O_CLOEXEC);
    close(server);
    return fd;
}

void test_fd_number_reused(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);
    recv_message(loop, client, server, 0, "first");
    close(client);
    close(server);

    int number = server;
    assert_int_equal(socket_onto_number(number, &client), number);
    recv_message(loop, client, number, IO_MULTISHOT, "second");
    close(client);
    assert_int_equal(close_through_loop(loop, number), 0);

    assert_int_equal(socket_onto_number(number, &client), number);
    recv_message(loop, client, number, 0, "third");
    close(client);
    close(number);
    loop_finish(loop);
}

/* ---- rule 1: a submit that fails ---- */

void test_failed_submit_never_calls_back(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);
    struct check_log log = {0};
    struct record rec = { .log = &log };
    io_op op = {0};
    char byte = 'x';
    struct iovec iov[IOV_MAX + 1];
    for (int i = 0; i <= IOV_MAX; i++)
        iov[i] = (struct iovec){ .iov_base = &byte, .iov_len = 1 };

    assert_int_equal(io_sendv(loop, &op, server, iov, IOV_MAX + 1, record_cb, &rec), -EINVAL);
    assert_int_equal(io_sendv(loop, &op, server, iov, 0, record_cb, &rec), -EINVAL);
    assert_int_equal(io_recv(loop, &op, -1, 0, record_recv_cb, &rec), -EINVAL);
    assert_int_equal(io_recv(loop, &op, server, 0x80, record_recv_cb, &rec), -EINVAL);
    assert_int_equal(io_close(loop, &op, -1, record_cb, &rec), -EBADF);
    assert_int_equal(io_loop_pending(loop), 0);

    /* An op still in flight cannot be submitted again; the one in flight is unharmed. */
    assert_int_equal(io_recv(loop, &op, server, 0, record_recv_cb, &rec), 0);
    struct record other = { .log = &log };
    assert_int_equal(io_send(loop, &op, server, "x", 1, record_cb, &other), -EBUSY);
    assert_int_equal(io_timeout(loop, &op, 1, record_cb, &other), -EBUSY);
    assert_int_equal(io_loop_pending(loop), 1);
    assert_int_equal(tnet_write_all(client, "hello", 5, 1000), 0);
    assert_int_equal(run_until(loop, 2000, record_final, &rec), 0);
    assert_int_equal(rec.res, 5);
    assert_int_equal(rec.calls, 1);

    /* After its failures the op is reusable at once, and a result known at submit time
     * (a zero-length send) still arrives later, not inside the call. */
    assert_int_equal(io_sendv(loop, &op, server, iov, IOV_MAX + 1, record_cb, &other), -EINVAL);
    assert_int_equal(io_send(loop, &op, server, "", 0, record_cb, &other), 0);
    assert_int_equal(other.calls, 0);
    assert_int_equal(run_until(loop, 1000, record_final, &other), 0);
    assert_int_equal(other.res, 0);
    assert_int_equal(run_for(loop, 10), 0);
    assert_int_equal(other.calls, 1);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(close_through_loop(loop, server), 0);
    close(client);
    assert_log_clean(&log);
    loop_finish(loop);
}

/* ---- rule 6: io_close cancels what is pending on the fd ---- */

void test_close_cancels_multishot_recv(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);
    struct check_log log = {0};
    struct close_race cr = { .pending.log = &log, .close.log = &log };
    io_op op = {0};
    assert_int_equal(io_recv(loop, &op, server, IO_MULTISHOT, record_recv_cb, &cr.pending), 0);
    close_with_pending(loop, &cr, server);
    assert_int_equal(cr.pending.res, -ECANCELED);
    close(client);
    assert_log_clean(&log);
    loop_finish(loop);
}

void test_close_cancels_multishot_accept(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    uint16_t port;
    int listen_fd = tnet_listen(4, &port);
    assert_true(listen_fd >= 0);
    struct check_log log = {0};
    struct close_race cr = { .pending.log = &log, .close.log = &log };
    io_op op = {0};
    assert_int_equal(io_accept(loop, &op, listen_fd, IO_MULTISHOT, record_cb, &cr.pending), 0);
    close_with_pending(loop, &cr, listen_fd);
    assert_int_equal(cr.pending.res, -ECANCELED);
    assert_log_clean(&log);
    loop_finish(loop);
}

#define STUCK_SEND_BYTES (4u << 20)

void test_close_cancels_blocked_send(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    int client, server;
    assert_int_equal(tnet_tcp_pair_rcvbuf(&client, &server, 4096), 0);
    assert_int_equal(tnet_set_sndbuf(server, 4096), 0);
    char *data = calloc(1, STUCK_SEND_BYTES);
    assert_non_null(data);
    struct check_log log = {0};
    struct close_race cr = { .pending.log = &log, .close.log = &log };
    io_op op = {0};
    /* The client never reads: the send stays pending until the close cancels it.  Rule 6
     * says "usually -ECANCELED"; what must hold is one failed completion and a clean close. */
    assert_int_equal(io_send(loop, &op, server, data, STUCK_SEND_BYTES, record_cb, &cr.pending), 0);
    close_with_pending(loop, &cr, server);
    assert_true(cr.pending.res < 0);
    close(client);
    free(data);
    assert_log_clean(&log);
    loop_finish(loop);
}

/* ---- io_read on a regular file and on a pipe ---- */

#define FILE_BYTES 100000u

struct read_case {
    struct check_log log;
    struct record rec;
    char buf[FILE_BYTES];
};

/* Submit one read and wait for it: its result (the callback must not run inside the call). */
static int read_once(io_loop *loop, struct read_case *rc, int fd, size_t len, uint64_t offset)
{
    io_op op = {0};
    rc->rec = (struct record){ .log = &rc->log };
    int err = io_read(loop, &op, fd, rc->buf, len, offset, record_cb, &rc->rec);
    if (err < 0)
        return err;
    CHECK_EQ(&rc->log, rc->rec.calls, 0);
    err = run_until(loop, 2000, record_final, &rc->rec);
    CHECK_EQ(&rc->log, rc->rec.calls, 1);
    CHECK_EQ(&rc->log, rc->rec.flags, 0);
    return err < 0 ? err : rc->rec.res;
}

void test_read_regular_file(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    struct read_case *rc = calloc(1, sizeof *rc);
    assert_non_null(rc);
    char path[] = "/tmp/ioserve-test-read-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    char *content = malloc(FILE_BYTES);
    assert_non_null(content);
    tnet_pattern_fill(content, FILE_BYTES, 0);
    assert_int_equal(pwrite(fd, content, FILE_BYTES, 0), FILE_BYTES);

    assert_int_equal(read_once(loop, rc, fd, FILE_BYTES, 0), FILE_BYTES);
    assert_memory_equal(rc->buf, content, FILE_BYTES);
    assert_int_equal(read_once(loop, rc, fd, 1000, 4099), 1000);
    assert_memory_equal(rc->buf, content + 4099, 1000);
    assert_int_equal(read_once(loop, rc, fd, 1000, FILE_BYTES - 10), 10);
    assert_memory_equal(rc->buf, content + FILE_BYTES - 10, 10);
    assert_int_equal(read_once(loop, rc, fd, 1000, 2 * FILE_BYTES), 0);
    /* IO_OFFSET_CURRENT reads at, and advances, the file position. */
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(read_once(loop, rc, fd, 777, IO_OFFSET_CURRENT), 777);
    assert_memory_equal(rc->buf, content, 777);
    assert_int_equal(read_once(loop, rc, fd, 777, IO_OFFSET_CURRENT), 777);
    assert_memory_equal(rc->buf, content + 777, 777);
    assert_log_clean(&rc->log);
    close(fd);
    free(content);
    free(rc);
    loop_finish(loop);
}

void test_read_pipe(void **state)
{
    io_loop *loop = loop_new(state, 0, 0);
    struct read_case *rc = calloc(1, sizeof *rc);
    assert_non_null(rc);
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);

    /* A read on an empty pipe waits for the writer. */
    io_op op = {0};
    rc->rec.log = &rc->log;
    assert_int_equal(io_read(loop, &op, p[0], rc->buf, 4096, IO_OFFSET_CURRENT, record_cb, &rc->rec), 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(rc->rec.calls, 0);
    assert_int_equal(write(p[1], "through the pipe", 16), 16);
    assert_int_equal(run_until(loop, 2000, record_final, &rc->rec), 0);
    assert_int_equal(rc->rec.calls, 1);
    assert_int_equal(rc->rec.res, 16);
    assert_memory_equal(rc->buf, "through the pipe", 16);

    /* Data already there, then EOF once the writer is gone. */
    assert_int_equal(write(p[1], "more", 4), 4);
    assert_int_equal(read_once(loop, rc, p[0], 4096, IO_OFFSET_CURRENT), 4);
    assert_memory_equal(rc->buf, "more", 4);
    close(p[1]);
    assert_int_equal(read_once(loop, rc, p[0], 4096, IO_OFFSET_CURRENT), 0);
    assert_log_clean(&rc->log);
    close(p[0]);
    free(rc);
    loop_finish(loop);
}
