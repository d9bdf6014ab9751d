/* rpc_conn.c - msgpack-rpc on a connection (contract in rpc_conn.h).
 *
 * The state outlives the connection while worker jobs are out: on_close cancels them and the
 * last one to come back frees it.  Two counts, because they end at different moments: inflight
 * (the per-connection cap) drops as a job's answer is handled, jobs (the state's lifetime)
 * only once nothing of the job's post is left on the stack.  Jobs go on the connection's own
 * queue of the pool (served round-robin with the other connections'); on_close withdraws those
 * not started, and they end there and then as if they had come back cancelled.
 */
#include "rpc/rpc_conn.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "rpc/rpc_frame.h"
#include "rpc/rpc_internal.h"
#include "rpc/rpc_message.h"
#include "worker_pool.h"

/* Reading pauses after a callback, so a few more receives may still arrive: what the input
 * buffer may hold beyond one message before the connection is refused. */
#define RPC_READ_AHEAD (256u * 1024u)
/* Buffers grown past this are given back once empty: an idle connection stays small. */
#define RPC_KEEP_BYTES (16u * 1024u)
#define RPC_IN_MIN 4096u

struct rpc_conn {
    conn *c;
    const struct rpc_config *cfg;
    size_t max_message;
    uint32_t max_inflight;
    char *in;                 /* bytes received and not yet taken: the first message first */
    size_t in_len, in_cap;
    rpc_frame frame;          /* over the first message in `in` */
    uint32_t inflight;        /* worker calls not yet answered */
    size_t inflight_bytes;    /* their requests, copied into the jobs */
    uint32_t jobs;            /* worker jobs not yet back */
    bool stopped;             /* no further message is started (shutdown, bad input) */
    bool draining;            /* no more input comes: close once the calls out are answered */
    bool closed;              /* on_close ran: the last job back frees the state */
    rpc_call call;            /* for inline methods, reused */
    worker_cancel cancel;     /* shared with the worker jobs */
    worker_queue queue;       /* this connection's jobs in the pool */
};

struct rpc_job {
    worker_job job; /* first: the pool hands this pointer back */
    io_post post;
    struct rpc_conn *st;
    conn *c;
    io_loop *loop;
    const struct rpc_method *method;
    msgpack_unpacked msg;     /* decoded from bytes */
    struct rpc_message head;
    rpc_call call;
    size_t len;
    char bytes[];             /* the request, copied: the input buffer moves on */
};

static void state_free(struct rpc_conn *st)
{
    rpc_call_fini(&st->call);
    worker_cancel_fini(&st->cancel);
    free(st->in);
    free(st);
}

/* ---- answering ---- */

static int write_to_conn(void *data, const char *buf, size_t len)
{
    return conn_write(data, buf, len) < 0 ? -1 : 0;
}

/* Responses are packed straight into the connection's output queue.  A failed write has
 * aborted the connection or found it closing: nothing more to do then. */
static msgpack_packer packer_to(conn *c)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, c, write_to_conn);
    return pk;
}

static void answer(struct rpc_conn *st, const struct rpc_message *m, const rpc_call *call)
{
    msgpack_packer pk = packer_to(st->c);
    if (!m->notification)
        rpc_response_pack(&pk, m->msgid, call);
}

static void answer_error(struct rpc_conn *st, const struct rpc_message *m, const char *error)
{
    msgpack_packer pk = packer_to(st->c);
    if (!m->notification)
        rpc_response_pack_error(&pk, m->msgid, error);
}

static void unknown_method(struct rpc_conn *st, const struct rpc_message *m)
{
    char name[RPC_METHOD_NAME_MAX];
    size_t len = m->method_len < sizeof(name) - 1 ? m->method_len : sizeof(name) - 1;
    /* The name goes back in a str: keep it printable, whatever bytes the peer sent. */
    for (size_t i = 0; i < len; i++)
        name[i] = m->method[i] >= 0x20 && m->method[i] < 0x7f ? m->method[i] : '?';
    name[len] = '\0';
    char error[RPC_ERROR_MAX];
    snprintf(error, sizeof(error), "unknown method '%s'", name);
    answer_error(st, m, error);
}

/* Bad input: say why once, drop the calls still out, close after what is already queued. */
static void refuse(struct rpc_conn *st, const char *why)
{
    fprintf(stderr, "ioserve: rpc: %s; closing the connection\n", why);
    st->stopped = true;
    worker_cancel_fire(&st->cancel);
    conn_close(st->c);
}

/* ---- worker calls ---- */

static void job_run(worker_job *job)
{
    struct rpc_job *j = (struct rpc_job *)job;
    if (!rpc_cancelled(&j->call))
        rpc_call_run(&j->call, j->method, j->head.params);
    io_loop_post(NULL, j->loop, &j->post);
}

static void take_messages(struct rpc_conn *st);
static void settle(struct rpc_conn *st);

/* Back on the connection's loop. */
static void job_done(io_loop *loop, io_post *post)
{
    struct rpc_job *j = post->data;
    struct rpc_conn *st = j->st;
    conn *c = j->c;
    st->inflight--;
    st->inflight_bytes -= j->len;
    if (!st->closed) {
        conn_cork(c);
        answer(st, &j->head, &j->call);
        take_messages(st);
        settle(st);
        conn_uncork(c);
    }
    msgpack_unpacked_destroy(&j->msg);
    rpc_call_fini(&j->call);
    free(j);
    if (--st->jobs == 0 && st->closed)
        state_free(st);
    conn_unhold(c);
}

static int submit(struct rpc_conn *st, const struct rpc_method *method, const char *bytes, size_t len)
{
    struct rpc_job *j = malloc(sizeof(*j) + len);
    if (!j)
        return -ENOMEM;
    *j = (struct rpc_job){
        .job = {.run = job_run},
        .post = {.fn = job_done, .data = j},
        .st = st,
        .c = st->c,
        .loop = conn_loop(st->c),
        .method = method,
        .len = len,
    };
    memcpy(j->bytes, bytes, len);
    msgpack_unpacked_init(&j->msg);
    /* The same bytes decoded a moment ago: this cannot fail but for memory. */
    if (rpc_message_decode(&j->msg, j->bytes, len, &j->head) < 0) {
        msgpack_unpacked_destroy(&j->msg);
        free(j);
        return -ENOMEM;
    }
    rpc_call_init(&j->call, &st->cancel);
    conn_hold(st->c);
    st->inflight++;
    st->inflight_bytes += len;
    st->jobs++;
    worker_pool_submit(st->cfg->workers, &st->queue, &j->job);
    return 0;
}

/* ---- one message ---- */

static void dispatch(struct rpc_conn *st, const struct rpc_message *m, const char *bytes, size_t len)
{
    if (m->problem) {
        answer_error(st, m, m->problem);
        return;
    }
    const struct rpc_method *method = rpc_method_find(st->cfg->methods, m->method, m->method_len);
    if (!method) {
        unknown_method(st, m);
    } else if (method->where == RPC_INLINE) {
        rpc_call_reset(&st->call, RPC_KEEP_BYTES);
        rpc_call_run(&st->call, method, m->params);
        answer(st, m, &st->call);
    } else if (!st->cfg->workers) {
        answer_error(st, m, "this server runs no worker methods");
    } else if (submit(st, method, bytes, len) < 0) {
        conn_abort(st->c);
        st->stopped = true;
    }
}

static void handle_message(struct rpc_conn *st, const char *bytes, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    struct rpc_message m;
    if (rpc_message_decode(&u, bytes, len, &m) < 0)
        refuse(st, "a message that is not a msgpack-rpc request or notification");
    else
        dispatch(st, &m, bytes, len);
    msgpack_unpacked_destroy(&u);
}

/* ---- input ---- */

/* Worker calls out are bounded in number and in the request bytes their jobs hold (one
 * message's worth, so a client cannot park max_inflight large messages on the pool). */
static bool may_start(const struct rpc_conn *st)
{
    return st->inflight < st->max_inflight && st->inflight_bytes < st->max_message;
}

/* Handle the complete messages at the start of buf while a call may start; returns the bytes
 * they took.  The frame's state stays with the first message not taken. */
static size_t take_from(struct rpc_conn *st, const char *buf, size_t len)
{
    size_t used = 0;
    while (!st->stopped && may_start(st) && used < len) {
        ssize_t n = rpc_frame_scan(&st->frame, buf + used, len - used);
        if (n == 0)
            break;
        if (n < 0) {
            char why[96];
            if (n == -EMSGSIZE)
                snprintf(why, sizeof(why), "a message over %zu bytes (--rpc-max-message)", st->max_message);
            else
                snprintf(why, sizeof(why), "bytes that are not msgpack");
            refuse(st, why);
            break;
        }
        rpc_frame_reset(&st->frame);
        handle_message(st, buf + used, (size_t)n);
        used += (size_t)n;
    }
    return used;
}

static void take_messages(struct rpc_conn *st)
{
    if (st->in_len == 0)
        return;
    size_t used = take_from(st, st->in, st->in_len);
    st->in_len -= used;
    memmove(st->in, st->in + used, st->in_len);
    if (st->in_len == 0 && st->in_cap > RPC_KEEP_BYTES) {
        free(st->in);
        st->in = NULL;
        st->in_cap = 0;
    }
}

static int keep_input(struct rpc_conn *st, const char *data, size_t len)
{
    if (len > st->max_message + RPC_READ_AHEAD - st->in_len)
        return -EMSGSIZE;
    if (st->in_len + len > st->in_cap) {
        size_t cap = st->in_cap ? st->in_cap : RPC_IN_MIN;
        while (cap < st->in_len + len)
            cap *= 2;
        char *in = realloc(st->in, cap);
        if (!in)
            return -ENOMEM;
        st->in = in;
        st->in_cap = cap;
    }
    memcpy(st->in + st->in_len, data, len);
    st->in_len += len;
    return 0;
}

/* Pause reading at the cap, resume at half; once draining, close when the last call is
 * answered and no complete message waits. */
static void settle(struct rpc_conn *st)
{
    if (st->draining) {
        if (st->inflight == 0)
            conn_close(st->c);
    } else if (!may_start(st)) {
        conn_read_pause(st->c);
    } else if (st->inflight <= st->max_inflight / 2 && st->inflight_bytes <= st->max_message / 2) {
        conn_read_resume(st->c);
    }
}

/* ---- the protocol ---- */

static int rpc_open(conn *c, void *arg)
{
    const struct rpc_config *cfg = arg;
    struct rpc_conn *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int err = worker_cancel_init(&st->cancel);
    if (err < 0) {
        free(st);
        return err;
    }
    st->c = c;
    st->cfg = cfg;
    st->max_message = cfg->max_message ? cfg->max_message : RPC_DEFAULT_MAX_MESSAGE;
    st->max_inflight = cfg->max_inflight ? cfg->max_inflight : RPC_DEFAULT_MAX_INFLIGHT;
    rpc_frame_init(&st->frame, st->max_message);
    rpc_call_init(&st->call, NULL);
    conn_set_state(c, st);
    return 0;
}

/* Complete messages are taken straight from the receive buffer; only what must wait (a
 * partial message, or messages over the cap) is copied. */
static void rpc_data(conn *c, const char *data, size_t len)
{
    struct rpc_conn *st = conn_state(c);
    if (st->stopped)
        return;
    bool waiting = st->in_len > 0;
    size_t used = waiting ? 0 : take_from(st, data, len);
    if (!st->stopped && used < len) {
        int err = keep_input(st, data + used, len - used);
        if (err == -EMSGSIZE) {
            refuse(st, "more input than one message while requests wait (--rpc-max-message)");
            return;
        }
        if (err < 0) {
            conn_abort(c);
            return;
        }
        if (waiting)
            take_messages(st);
    }
    settle(st);
}

static void rpc_eof(conn *c)
{
    struct rpc_conn *st = conn_state(c);
    st->draining = true;
    settle(st);
}

/* The server is stopping: calls out still answer, messages not started are dropped. */
static void rpc_shutdown(conn *c)
{
    struct rpc_conn *st = conn_state(c);
    st->stopped = true;
    st->draining = true;
    conn_read_pause(c);
    settle(st);
}

static void rpc_close(conn *c)
{
    struct rpc_conn *st = conn_state(c);
    if (!st)
        return;
    st->closed = true;
    worker_cancel_fire(&st->cancel);
    st->jobs++; /* the state stays while the jobs withdrawn end */
    if (st->cfg->workers) {
        for (worker_job *job = worker_pool_withdraw(st->cfg->workers, &st->queue), *next; job; job = next) {
            next = job->next;
            job_done(conn_loop(c), &((struct rpc_job *)job)->post);
        }
    }
    if (--st->jobs == 0)
        state_free(st);
}

const struct proto rpc_proto = {
    .name = "rpc",
    .on_open = rpc_open,
    .on_data = rpc_data,
    .on_eof = rpc_eof,
    .on_shutdown = rpc_shutdown,
    .on_close = rpc_close,
};
