/* loop_echo.c - the loop suite's echo server (contract in loop_echo.h). */
#include "loop_echo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NO_BUF UINT32_MAX

static void echo_conn_pump(struct echo_conn *c);

static void echo_close_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct echo_conn *c = op->data;
    CHECK_EQ(&c->srv->log, res, 0);
    c->srv->closed++;
}

static void echo_release_queue(struct echo_conn *c)
{
    while (c->queue_head != NO_BUF) {
        struct echo_slot *s = &c->srv->slots[c->queue_head];
        c->queue_head = s->next;
        io_buf_release(c->srv->loop, s->buf);
    }
    c->queue_tail = NO_BUF;
}

static void echo_start_close(struct echo_conn *c)
{
    c->closing = true;
    echo_release_queue(c);
    int rc = io_close(c->srv->loop, &c->close_op, c->fd, echo_close_cb, c);
    if (rc < 0)
        check_failed(&c->srv->log, __LINE__, "io_close: %s", strerror(-rc));
}

static void echo_send_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct echo_conn *c = op->data;
    struct echo_server *srv = c->srv;
    struct echo_slot *s = &srv->slots[c->queue_head];
    c->sending = false;
    CHECK_EQ(&srv->log, res, s->len);
    CHECK_EQ(&srv->log, flags, 0);
    c->queue_head = s->next;
    if (c->queue_head == NO_BUF)
        c->queue_tail = NO_BUF;
    io_buf_release(loop, s->buf);
    if (res > 0)
        srv->bytes_echoed += (uint64_t)res;
    if (res < 0)
        echo_start_close(c);
    else
        echo_conn_pump(c);
}

/* Send the next queued buffer, or close once the peer is done and everything is echoed. */
static void echo_conn_pump(struct echo_conn *c)
{
    if (c->sending || c->closing)
        return;
    if (c->queue_head != NO_BUF) {
        struct echo_slot *s = &c->srv->slots[c->queue_head];
        int rc = io_send(c->srv->loop, &c->send_op, c->fd, s->buf.data, s->len, echo_send_cb, c);
        if (rc == 0) {
            c->sending = true;
            return;
        }
        check_failed(&c->srv->log, __LINE__, "io_send: %s", strerror(-rc));
        echo_start_close(c);
        return;
    }
    if (c->recv_ended)
        echo_start_close(c);
}

static void echo_queue_push(struct echo_conn *c, io_buf buf, uint32_t len)
{
    struct echo_server *srv = c->srv;
    if (buf.id >= srv->slot_count || c->closing) {
        CHECK(&srv->log, buf.id < srv->slot_count);
        io_buf_release(srv->loop, buf);
        return;
    }
    srv->slots[buf.id] = (struct echo_slot){ .buf = buf, .len = len, .next = NO_BUF };
    if (c->queue_tail == NO_BUF)
        c->queue_head = buf.id;
    else
        srv->slots[c->queue_tail].next = buf.id;
    c->queue_tail = buf.id;
}

static void echo_recv_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct echo_conn *c = op->data;
    struct echo_server *srv = c->srv;
    if (c->recv_ended)
        check_failed(&srv->log, __LINE__, "recv completion (%d) after its final one", res);
    if (res > 0) {
        /* Rule 2: data never ends a multishot recv; only EOF, an error or a cancel does. */
        CHECK(&srv->log, flags & IO_CQE_MORE);
        CHECK(&srv->log, (uint32_t)res <= io_buf_size(loop));
        echo_queue_push(c, op->buf, (uint32_t)res);
    } else if (res == 0) {
        srv->eofs++;
    } else if (res == -ECONNRESET && srv->allow_reset) {
        srv->resets++;
    } else if (!(res == -ECANCELED && c->closing)) {
        check_failed(&srv->log, __LINE__, "recv: %s", strerror(-res));
    }
    if (res <= 0)
        CHECK(&srv->log, !(flags & IO_CQE_MORE));
    if (!(flags & IO_CQE_MORE))
        c->recv_ended = true;
    echo_conn_pump(c);
}

static void echo_conn_start(struct echo_server *srv, int fd)
{
    if (srv->accepted == srv->conn_cap) {
        check_failed(&srv->log, __LINE__, "more than %zu connections accepted", srv->conn_cap);
        close(fd);
        return;
    }
    struct echo_conn *c = &srv->conns[srv->accepted++];
    *c = (struct echo_conn){ .srv = srv, .fd = fd, .queue_head = NO_BUF, .queue_tail = NO_BUF };
    int rc = io_recv(srv->loop, &c->recv_op, fd, IO_MULTISHOT, echo_recv_cb, c);
    if (rc < 0) {
        check_failed(&srv->log, __LINE__, "io_recv: %s", strerror(-rc));
        c->recv_ended = true;
        echo_start_close(c);
    }
}

static void echo_accept_cb(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct echo_server *srv = op->data;
    if (res >= 0)
        echo_conn_start(srv, res);
    else if (res != -ECANCELED)
        check_failed(&srv->log, __LINE__, "accept: %s", strerror(-res));
    if (!(flags & IO_CQE_MORE)) {
        /* Rule 2: a multishot accept ends only when cancelled here (no errors expected). */
        CHECK_EQ(&srv->log, res, -ECANCELED);
        srv->accept_ended = true;
    }
}

int echo_server_start(struct echo_server *srv, io_loop *loop, int listen_fd, size_t conn_cap,
                             uint32_t buf_count)
{
    *srv = (struct echo_server){ .loop = loop, .listen_fd = listen_fd, .conn_cap = conn_cap,
                                 .slot_count = buf_count };
    srv->conns = calloc(conn_cap, sizeof *srv->conns);
    srv->slots = calloc(buf_count, sizeof *srv->slots);
    if (!srv->conns || !srv->slots)
        return -ENOMEM;
    return io_accept(loop, &srv->accept_op, listen_fd, IO_MULTISHOT, echo_accept_cb, srv);
}

static bool echo_accept_ended(void *srv)
{
    return ((struct echo_server *)srv)->accept_ended;
}

int echo_server_stop(struct echo_server *srv)
{
    int rc = io_cancel(srv->loop, &srv->accept_op);
    if (rc == 0)
        rc = run_until(srv->loop, 2000, echo_accept_ended, srv);
    close(srv->listen_fd);
    if (rc == 0)
        rc = run_until(srv->loop, 2000, nothing_pending, srv->loop);
    free(srv->conns);
    free(srv->slots);
    return rc;
}

bool echo_wait_done(void *arg)
{
    struct echo_wait *w = arg;
    return w->srv->closed >= w->closed && (!w->peer_done || atomic_load(w->peer_done));
}
