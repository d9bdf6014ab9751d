/* etx.c - the ETX protocol (contract in proto.h).
 *
 * A message is never stored: only its length and first bytes are kept, enough to bound it and
 * to recognise "goodbye".  With an ack delay, each message's due time goes on a FIFO ring; the
 * delay is the same for all, so due times are in message order and the connection's single
 * timer only ever waits for the ring's head.  Thousands of slow clients cost one timer each.
 *
 * Acks waiting (on the ring or as worker jobs) are capped per connection at ETX_MAX_PENDING.
 * Messages that complete beyond the cap -- the rest of a receive that crossed it -- are owed:
 * only counted, so a burst of 64 Ki one-byte messages costs a counter, not 64 Ki jobs; each
 * owed ack starts as an earlier one leaves, and reading resumes once none is owed.  Worker jobs
 * go on the connection's own queue of the pool, which serves connections round-robin
 * (worker_pool.h).  A connection that closes withdraws those not started and fires its cancel
 * token, which ends the sleep of those running; the state stays until the last of them is
 * back (each also holds the conn).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "worker_pool.h"

#define ETX_BYTE '\x03'
#define GOODBYE "goodbye"
#define NS_PER_MS 1000000ull
/* Acks waiting (for their delay, or out on workers) beyond which messages are owed and the
 * connection stops reading until none is owed. */
#define ETX_MAX_PENDING 1024u
#define ETX_RING_MIN 8u

struct etx_state {
    const struct etx_config *cfg;
    size_t msg_len;               /* bytes of the message being received */
    char head[sizeof(GOODBYE)];   /* its first bytes */
    uint64_t *due;                /* ring of ack due times (loop ns), oldest first */
    uint32_t due_cap, due_first, due_count;
    uint32_t jobs;                /* acks out on worker threads */
    size_t owed;                  /* messages received beyond the cap, their acks not started */
    worker_queue queue;           /* this connection's jobs in the pool */
    worker_cancel cancel;         /* fired when the connection goes: the sleeps end */
    uint32_t job_structs;         /* jobs not freed yet: the state's lifetime once closed */
    bool closed;                  /* on_close ran: the last job back frees the state */
    bool close_when_acked;        /* goodbye or EOF: close once every ack has left */
};

/* One acknowledgement, in the form the server was asked for; conn_write's result. */
static int send_ack(conn *c, const struct etx_state *st)
{
    if (st->cfg->ack_framed)
        return conn_write(c, ETX_ACK_FRAMED, sizeof(ETX_ACK_FRAMED) - 1);
    return conn_write(c, ETX_ACK, sizeof(ETX_ACK) - 1);
}

static int etx_open(conn *c, void *arg)
{
    struct etx_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->cfg = arg;
    int err = st->cfg->workers ? worker_cancel_init(&st->cancel) : 0;
    if (err < 0) {
        free(st);
        return err;
    }
    conn_set_state(c, st);
    return 0;
}

static void state_free(struct etx_state *st)
{
    if (st->cfg->workers)
        worker_cancel_fini(&st->cancel);
    free(st->due);
    free(st);
}

struct ack_job;
static void ack_job_free(struct ack_job *a);

static void etx_close(conn *c)
{
    struct etx_state *st = conn_state(c);
    if (!st)
        return;
    st->closed = true;
    st->job_structs++; /* the state stays while the jobs withdrawn end */
    /* Jobs not started never will, and those running stop sleeping: they let go of the
     * connection now, not after every job queued before them, nor after their delay. */
    if (st->cfg->workers) {
        worker_cancel_fire(&st->cancel);
        for (worker_job *job = worker_pool_withdraw(st->cfg->workers, &st->queue), *next; job; job = next) {
            next = job->next;
            ack_job_free((struct ack_job *)job);
        }
    }
    if (--st->job_structs == 0)
        state_free(st);
}

static int ring_grow(struct etx_state *st)
{
    uint32_t cap = st->due_cap ? st->due_cap * 2 : ETX_RING_MIN;
    uint64_t *ring = malloc(cap * sizeof(*ring));
    if (!ring)
        return -ENOMEM;
    for (uint32_t i = 0; i < st->due_count; i++)
        ring[i] = st->due[(st->due_first + i) % st->due_cap];
    free(st->due);
    st->due = ring;
    st->due_cap = cap;
    st->due_first = 0;
    return 0;
}

static int ack_later(conn *c, struct etx_state *st)
{
    if (st->due_count == st->due_cap && ring_grow(st) < 0)
        return -ENOMEM;
    uint64_t due = io_loop_now_ns(conn_loop(c)) + st->cfg->ack_delay_ms * NS_PER_MS;
    st->due[(st->due_first + st->due_count) % st->due_cap] = due;
    if (st->due_count++ == 0) {
        int err = conn_timer_set(c, st->cfg->ack_delay_ms);
        if (err < 0)
            return err;
    }
    return 0;
}

/* ---- acks from worker threads ---- */

struct ack_job {
    worker_job job; /* first: the pool hands this pointer back */
    io_post post;
    struct etx_state *st;
    conn *c;
    io_loop *loop;
    uint64_t delay_ms;
};

/* On a worker thread: block (until the connection goes, at most), then hand the result back
 * to the connection's loop. */
static void ack_job_run(worker_job *job)
{
    struct ack_job *a = (struct ack_job *)job;
    (void)worker_cancel_wait_ms(&a->st->cancel, a->delay_ms);
    io_loop_post(NULL, a->loop, &a->post);
}

static void etx_settle(conn *c, struct etx_state *st);

static void ack_job_free(struct ack_job *a)
{
    struct etx_state *st = a->st;
    conn *c = a->c;
    free(a);
    if (--st->job_structs == 0 && st->closed)
        state_free(st);
    conn_unhold(c);
}

/* Back on the connection's loop. */
static void ack_job_done(io_loop *loop, io_post *post)
{
    struct ack_job *a = post->data;
    conn *c = a->c;
    struct etx_state *st = a->st;
    if (!st->closed) {
        conn_cork(c);
        st->jobs--;
        /* -EPIPE: the connection is closing already and takes no more acks (nor starts those
         * owed). */
        int err = send_ack(c, st);
        if (err == -ENOMEM)
            conn_abort(c);
        else if (err == 0)
            etx_settle(c, st);
        conn_uncork(c);
    }
    ack_job_free(a);
}

static int ack_by_worker(conn *c, struct etx_state *st)
{
    struct ack_job *a = malloc(sizeof(*a));
    if (!a)
        return -ENOMEM;
    *a = (struct ack_job){
        .job = {.run = ack_job_run},
        .post = {.fn = ack_job_done, .data = a},
        .st = st,
        .c = c,
        .loop = conn_loop(c),
        .delay_ms = st->cfg->ack_delay_ms,
    };
    conn_hold(c);
    st->jobs++;
    st->job_structs++;
    if (st->jobs >= ETX_MAX_PENDING)
        conn_read_pause(c);
    worker_pool_submit(st->cfg->workers, &st->queue, &a->job);
    return 0;
}

/* Send every ack that is due, in order; wait for the next one or close when none is left. */
static void etx_timer(conn *c)
{
    struct etx_state *st = conn_state(c);
    uint64_t now = io_loop_now_ns(conn_loop(c));
    while (st->due_count && st->due[st->due_first] <= now) {
        send_ack(c, st);
        st->due_first = (st->due_first + 1) % st->due_cap;
        st->due_count--;
    }
    if (st->due_count) {
        uint64_t wait_ns = st->due[st->due_first] - now;
        if (conn_timer_set(c, (wait_ns + NS_PER_MS - 1) / NS_PER_MS) < 0)
            conn_abort(c);
    }
    etx_settle(c, st);
}

static uint32_t acks_waiting(const struct etx_state *st)
{
    return st->due_count + st->jobs;
}

/* Start one ack the way the server was asked to; 0 or -errno. */
static int ack_one(conn *c, struct etx_state *st)
{
    return st->cfg->workers      ? ack_by_worker(c, st)
           : st->cfg->ack_delay_ms ? ack_later(c, st)
                                   : send_ack(c, st);
}

/* Start the owed acks that fit under the cap again.  false: the connection is aborted. */
static bool pay_owed(conn *c, struct etx_state *st)
{
    while (st->owed && acks_waiting(st) < ETX_MAX_PENDING) {
        st->owed--;
        if (ack_one(c, st) < 0) {
            conn_abort(c);
            return false;
        }
    }
    return true;
}

/* Some acks have left: start those owed, close once the last is out after goodbye, or read
 * again. */
static void etx_settle(conn *c, struct etx_state *st)
{
    if (!pay_owed(c, st))
        return;
    size_t waiting = acks_waiting(st) + st->owed;
    if (st->close_when_acked && waiting == 0)
        conn_close(c);
    else if (!st->close_when_acked && waiting <= ETX_MAX_PENDING / 2)
        conn_read_resume(c);
}

static void close_when_acked(conn *c, struct etx_state *st)
{
    if (acks_waiting(st) + st->owed == 0) {
        conn_close(c);
        return;
    }
    st->close_when_acked = true;
    conn_read_pause(c);
}

/* A whole message has arrived.  Returns false when nothing after it is to be read. */
static bool message_done(conn *c, struct etx_state *st)
{
    bool goodbye = st->msg_len == sizeof(GOODBYE) - 1 && memcmp(st->head, GOODBYE, st->msg_len) == 0;
    st->msg_len = 0;
    if (goodbye) {
        close_when_acked(c, st);
        return false;
    }
    if (st->owed || acks_waiting(st) >= ETX_MAX_PENDING) {
        st->owed++;
        conn_read_pause(c);
        return true;
    }
    if (ack_one(c, st) < 0) {
        conn_abort(c);
        return false;
    }
    return true;
}

static bool message_append(conn *c, struct etx_state *st, const char *data, size_t len)
{
    if (len > ETX_MAX_MESSAGE - st->msg_len) {
        fprintf(stderr, "ioserve: etx: a message over %u bytes without its end byte 0x03; closing the connection\n",
                ETX_MAX_MESSAGE);
        conn_close(c);
        return false;
    }
    if (st->msg_len < sizeof(st->head)) {
        size_t keep = sizeof(st->head) - st->msg_len;
        memcpy(st->head + st->msg_len, data, len < keep ? len : keep);
    }
    st->msg_len += len;
    return true;
}

static void etx_data(conn *c, const char *data, size_t len)
{
    struct etx_state *st = conn_state(c);
    const char *end = data + len;
    while (data < end && !st->close_when_acked) {
        const char *etx = memchr(data, ETX_BYTE, (size_t)(end - data));
        const char *stop = etx ? etx : end;
        if (!message_append(c, st, data, (size_t)(stop - data)))
            return;
        if (!etx || !message_done(c, st))
            return;
        data = etx + 1;
    }
}

static void etx_eof(conn *c)
{
    close_when_acked(c, conn_state(c));
}

/* The server is stopping: the acks owed for messages already received still leave, then the
 * connection closes, as after goodbye. */
static void etx_shutdown(conn *c)
{
    close_when_acked(c, conn_state(c));
}

const struct proto etx_proto = {
    .name = "etx",
    .on_open = etx_open,
    .on_data = etx_data,
    .on_eof = etx_eof,
    .on_timer = etx_timer,
    .on_shutdown = etx_shutdown,
    .on_close = etx_close,
};
