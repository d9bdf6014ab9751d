/* worker_conn.c - one connection's life: connect, send what is due, count answers, fail.
 *
 * Every request a connection may send leaves in one send from the shared pipeline buffer
 * (`depth` copies of the request), one send at a time so bytes never reorder; answers are
 * matched to requests in order, their latency taken from the ring of send times in the slot.
 * A failure fails the requests in flight with its kind and reconnects: at once when the
 * connection was healthy, else on the worker's sweep, so a server that refuses or kills
 * every connection is retried a few times per timeout rather than in a busy loop.
 */
#include "worker_state.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the open-loop schedule: connection i of n sends its k-th request at
 * start + (k*n + i) * interval ---- */

uint64_t schedule_due_total(const struct worker *w)
{
    uint64_t horizon = w->now + w->run->tick_ns;
    if (horizon < w->run->start_ns)
        return 0;
    return (uint64_t)((double)(horizon - w->run->start_ns) / w->interval_ns) + 1;
}

/* Of `total` due requests, those that belong to connection `index`. */
static uint64_t due_for(const struct worker *w, uint32_t index, uint64_t total)
{
    return total > index ? (total - 1 - index) / w->n + 1 : 0;
}

static uint64_t intended_ns(const struct worker *w, uint32_t index, uint64_t seq)
{
    double slot = (double)seq * w->n + index;
    return w->run->start_ns + (uint64_t)(slot * w->interval_ns);
}

/* ---- connections ---- */

static void conn_close(struct worker *w, struct conn *c)
{
    if (c->state == CONN_CONNECTING)
        w->connecting--;
    else if (c->state == CONN_OPEN)
        w->open--;
    w->io->close(w->engine, c);
    c->fd = -1;
    w->inflight -= c->inflight;
    c->inflight = 0;
    c->head = 0;
    c->out_bytes = 0;
    c->state = CONN_IDLE;
}

/* The connection cannot go on: its in-flight requests fail with `kind`, and it reconnects at
 * once if it was healthy before, else on the sweep (so a server that refuses or kills every
 * connection is retried a few times per timeout, not in a busy loop). */
void conn_fail(struct worker *w, struct conn *c, enum load_error kind)
{
    if (c->state == CONN_CONNECTING)
        kind = ERR_CONNECT;         /* whatever went wrong, it went wrong before connecting */
    else if (c->state == CONN_UPGRADING)
        kind = ERR_HANDSHAKE;
    bool server_at_fault = kind == ERR_PROTOCOL || kind == ERR_MISMATCH;
    if (kind == ERR_CONNECT || kind == ERR_HANDSHAKE || (server_at_fault && c->inflight == 0))
        w->stats.errors[kind]++;    /* an attempt, or bytes nobody asked for: once */
    else
        w->stats.errors[kind] += c->inflight;
    w->finished += c->inflight;
    bool healthy = (c->flags & CF_ANSWERED) && kind != ERR_CONNECT && kind != ERR_HANDSHAKE;
    conn_close(w, c);
    c->since = w->now;
    if (healthy)
        conn_open(w, c);
    else
        c->flags |= CF_RETRY;
}

static const uint8_t *output_end(const struct worker *w, const struct conn *c)
{
    return (c->flags & CF_HELLO_OUT) ? w->proto->hello + w->proto->hello_len
                                     : w->run->pipeline + w->run->pipeline_len;
}

static void output_taken(struct worker *w, struct conn *c, size_t bytes)
{
    c->out_bytes -= (uint32_t)bytes;
    w->stats.bytes_out += bytes;
    if (c->out_bytes == 0)
        c->flags &= (uint8_t)~CF_HELLO_OUT;
}

/* Hands queued output to the engine (one send at a time, so bytes never reorder).  Returns
 * false when that killed the connection. */
static bool conn_flush(struct worker *w, struct conn *c)
{
    while (c->out_bytes > 0 && !(c->flags & CF_SENDING)) {
        long put = w->io->send(w->engine, c, output_end(w, c) - c->out_bytes, c->out_bytes);
        if (put == ENGINE_SEND_PENDING) {
            c->flags |= CF_SENDING;
        } else if (put == -EAGAIN) {
            return true;          /* worker_on_writable() comes when there is room */
        } else if (put < 0) {
            conn_fail(w, c, ERR_RESET);
            return false;
        } else {
            output_taken(w, c, (size_t)put);
        }
    }
    return true;
}

/* How many more requests this connection may send now. */
static uint32_t conn_room(const struct worker *w, const struct conn *c)
{
    uint64_t room = w->depth - c->inflight;
    if (w->measuring && w->bounded) {
        uint64_t left = w->issued < w->quota ? w->quota - w->issued : 0;
        room = room < left ? room : left;
    }
    if (open_loop(w)) {
        uint64_t due = due_for(w, c->index, schedule_due_total(w));
        uint64_t late = due > c->sent ? due - c->sent : 0;
        room = room < late ? room : late;
    }
    return (uint32_t)room;
}

/* Queues every request the connection may send now and sends them in one go.  Returns false
 * when the connection died doing so. */
bool conn_fill(struct worker *w, struct conn *c)
{
    if (c->state != CONN_OPEN || (c->flags & CF_HELLO_OUT))
        return true;            /* the hello's send has yet to be accounted for */
    uint32_t count = conn_room(w, c);
    if (count == 0)
        return true;
    uint32_t slot = c->head + c->inflight;
    if (slot >= w->depth)
        slot -= w->depth;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t intended = open_loop(w) ? intended_ns(w, c->index, c->sent + i) : w->now;
        c->times[slot] = intended < w->now ? intended : w->now;   /* late: from intended */
        if (++slot == w->depth)
            slot = 0;
    }
    if (c->inflight == 0)
        c->since = w->now;      /* the timeout clock runs while something is unanswered */
    c->sent += count;
    c->inflight += count;
    w->inflight += count;
    w->issued += count;
    c->out_bytes += count * (uint32_t)w->proto->request_len;
    return conn_flush(w, c);
}

static void conn_answered(struct worker *w, struct conn *c, uint32_t answers, uint32_t rejected)
{
    for (uint32_t i = 0; i < answers; i++) {
        uint64_t sent = c->times[c->head];
        histogram_record(&w->stats.latency, w->now > sent ? w->now - sent : 0);
        if (++c->head == w->depth)
            c->head = 0;
    }
    c->inflight -= answers;
    w->inflight -= answers;
    w->finished += answers;
    w->stats.answers += answers;
    w->stats.errors[ERR_STATUS] += rejected;
    c->since = w->now;
    c->flags |= CF_ANSWERED;
}

static enum load_error fault_kind(enum proto_fault fault)
{
    switch (fault) {
    case PROTO_FAULT_MISMATCH: return ERR_MISMATCH;
    case PROTO_FAULT_HANDSHAKE: return ERR_HANDSHAKE;
    default: return ERR_PROTOCOL;
    }
}

static void conn_usable(struct worker *w, struct conn *c)
{
    c->state = CONN_OPEN;
    c->since = w->now;
    w->open++;
    w->last_usable = w->now;
}

/* Bytes from the server. */
static void conn_consume(struct worker *w, struct conn *c, const uint8_t *data, size_t len)
{
    struct proto_result r = {0};
    proto_parse(w->proto, &c->proto, data, len, &r);
    if (r.answers > c->inflight) {
        conn_fail(w, c, ERR_PROTOCOL);  /* answers to requests never sent */
        return;
    }
    if (r.answers)
        conn_answered(w, c, r.answers, r.rejected);
    if (r.fault)
        conn_fail(w, c, fault_kind(r.fault));
    else if (r.closing)
        conn_fail(w, c, ERR_CLOSED);
    else {
        if (r.ready)
            conn_usable(w, c);
        conn_fill(w, c);
    }
}

static void conn_eof(struct worker *w, struct conn *c)
{
    struct proto_result r = {0};
    if (c->inflight > 0 && proto_finish(w->proto, &c->proto, &r))
        conn_answered(w, c, r.answers, r.rejected);
    conn_fail(w, c, ERR_CLOSED);
}

static void conn_connected(struct worker *w, struct conn *c)
{
    w->connecting--;
    w->stats.connects++;
    c->since = w->now;
    if (!w->proto->hello) {
        conn_usable(w, c);
        conn_fill(w, c);
        return;
    }
    c->state = CONN_UPGRADING;
    c->flags |= CF_HELLO_OUT;
    c->out_bytes = (uint32_t)w->proto->hello_len;
    conn_flush(w, c);
}

void conn_open(struct worker *w, struct conn *c)
{
    const struct target *t = w->run->target;
    c->flags = 0;
    c->since = w->now;
    c->generation++;
    proto_reset(w->proto, &c->proto);
    int fd = target_socket(t, w->first + c->index, w->io->socket_flags);
    if (fd < 0) {
        w->stats.errors[ERR_CONNECT]++;
        c->flags = CF_RETRY;
        return;
    }
    c->fd = fd;
    if (w->io->connect(w->engine, c, (const struct sockaddr *)&t->addr, t->addr_len) < 0) {
        close(fd);
        c->fd = -1;
        w->stats.errors[ERR_CONNECT]++;
        c->flags = CF_RETRY;
        return;
    }
    c->state = CONN_CONNECTING;
    w->connecting++;
}

/* ---- what the engine reports ---- */

struct conn *worker_conn(struct worker *w, uint32_t index)
{
    return conn_at(w, index);
}

void worker_on_connected(struct worker *w, struct conn *c, int res)
{
    w->now = clock_ns();
    if (res < 0)
        conn_fail(w, c, ERR_CONNECT);
    else
        conn_connected(w, c);
}

void worker_on_data(struct worker *w, struct conn *c, const uint8_t *data, size_t len)
{
    w->now = clock_ns();
    w->stats.bytes_in += len;
    conn_consume(w, c, data, len);
}

void worker_on_eof(struct worker *w, struct conn *c)
{
    w->now = clock_ns();
    conn_eof(w, c);
}

void worker_on_error(struct worker *w, struct conn *c, int res)
{
    (void)res;
    w->now = clock_ns();
    conn_fail(w, c, ERR_RESET);
}

void worker_on_sent(struct worker *w, struct conn *c, int res)
{
    c->flags &= (uint8_t)~CF_SENDING;
    if (res < 0) {
        w->now = clock_ns();
        conn_fail(w, c, ERR_RESET);
        return;
    }
    bool hello_done = (c->flags & CF_HELLO_OUT) && (uint32_t)res == c->out_bytes;
    output_taken(w, c, (size_t)res);
    if (conn_flush(w, c) && hello_done && c->state == CONN_OPEN) {
        w->now = clock_ns();
        conn_fill(w, c);          /* the upgrade was answered before its send completed */
    }
}

void worker_on_writable(struct worker *w, struct conn *c)
{
    conn_flush(w, c);
}

