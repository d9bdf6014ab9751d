/* worker.c - the event loop that drives one worker's connections (see worker.h).
 *
 * Cost per request is what the numbers depend on, so the loop does the least a client can:
 * sockets are registered once, edge-triggered for both directions (no epoll_ctl per request),
 * a readiness event costs one recv() and one send() that carries every request due on that
 * connection, and requests are never copied or allocated: they are sent straight out of one
 * read-only buffer holding `depth` copies.
 *
 * Open loop: connection i of n sends its k-th request at start + (k*n + i) / rate, so the
 * worker's requests are evenly spaced and each connection has its own share.  A request that
 * cannot go out on time (its connection is busy or reconnecting) goes out as soon as it can,
 * and its latency still counts from the intended time (no coordinated omission).  Waking for
 * every request would make the client costlier than the server it measures, so the worker
 * wakes when the next request is due and sends with it every request due within `tick_ns`:
 * those leave early, and their latency counts from when they actually left.
 *
 * Timeouts: a connection with requests in flight and no answer for timeout_ns fails them all.
 * A sweep visits every connection about four times per timeout, a slice per wakeup, which
 * costs nothing per request; failed connects are retried by the same sweep.  A worker that
 * cannot get a single connection open (refused, upgrade denied) for WORKER_GIVE_UP_TIMEOUTS timeouts
 * gives up rather than retry forever.
 */
#include "worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EVENTS_MAX 512
#define READ_BUFFER_BYTES (64 * 1024)
/* Connects in progress per worker: keeps the server's listen backlog from overflowing (a
 * dropped SYN costs a second) while a million connections open. */
#define CONNECTING_MAX 1024
#define WAKE_NS_MAX (10 * 1000 * 1000ull)
#define SWEEPS_PER_TIMEOUT 4

enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_UPGRADING, CONN_OPEN };

enum conn_flag {
    CF_HELLO_OUT = 1u << 0, /* the queued output is the hello, not requests */
    CF_ANSWERED = 1u << 1,  /* this connection got at least one answer */
    CF_RETRY = 1u << 2,     /* idle after a failure: the sweep reconnects it */
};

struct conn {
    int fd;
    uint32_t index;
    uint32_t inflight;      /* requests queued or sent, not yet answered */
    uint32_t head;          /* times[] slot of the oldest of them */
    uint32_t out_bytes;     /* queued bytes the kernel has not taken yet */
    uint8_t state;
    uint8_t flags;
    uint16_t generation;    /* bumped per connect: a reused slot (and fd number) is told apart */
    uint64_t sent;          /* requests this slot issued: its place in the open-loop schedule */
    uint64_t since;         /* connect started, or last progress while requests are in flight */
    union proto_state proto;
    uint64_t times[];       /* per in-flight request: its (intended) send time, ns */
};

struct worker {
    struct run *run;
    const struct proto *proto;
    int epfd;
    uint8_t *conns;
    size_t stride;
    uint32_t n;
    uint64_t first;
    uint32_t depth;
    uint8_t *rbuf;
    uint64_t now;

    bool bounded;
    uint64_t quota;         /* requests to finish once measuring */
    uint64_t issued;        /* counted from the start of measuring, in-flight ones included */
    uint64_t finished;      /* answered or failed since measuring started */
    uint64_t inflight;

    double interval_ns;     /* open loop: between two of this worker's requests; 0: closed */
    uint64_t released;      /* open loop: requests whose intended time has come */

    uint32_t next_open;     /* the first connections open gradually, CONNECTING_MAX at a time */
    uint32_t connecting;
    uint32_t open;          /* connections able to carry requests */
    uint64_t last_usable;   /* when one last was */
    bool gave_up;
    uint32_t sweep_cursor;
    uint64_t sweep_last;
    uint64_t sweep_period_ns;

    bool measuring;
    uint64_t measure_start;
    struct rusage usage_start;
    uint64_t answers_before; /* warm-up answers and errors, for the progress line only */
    uint64_t errors_before;
    atomic_uint_fast64_t progress_answers;
    atomic_uint_fast64_t progress_errors;
    struct load_stats stats;
};

static uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct conn *conn_at(const struct worker *w, uint32_t index)
{
    return (struct conn *)(w->conns + (size_t)index * w->stride);
}

static bool open_loop(const struct worker *w)
{
    return w->interval_ns > 0;
}

/* ---- the open-loop schedule ---- */

/* Requests of this worker that may be sent now: intended no later than now + tick. */
static uint64_t due_total(const struct worker *w)
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

static void conn_open(struct worker *w, struct conn *c);

static void conn_close(struct worker *w, struct conn *c)
{
    if (c->state == CONN_CONNECTING)
        w->connecting--;
    else if (c->state == CONN_OPEN)
        w->open--;
    close(c->fd);
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
static void conn_fail(struct worker *w, struct conn *c, enum load_error kind)
{
    if (c->state == CONN_CONNECTING)
        kind = ERR_CONNECT;         /* whatever went wrong, it went wrong before connecting */
    else if (c->state == CONN_UPGRADING)
        kind = ERR_HANDSHAKE;
    if (kind == ERR_CONNECT || kind == ERR_HANDSHAKE)
        w->stats.errors[kind]++;
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

/* Hands queued output to the kernel.  Returns false when that killed the connection. */
static bool conn_flush(struct worker *w, struct conn *c)
{
    const uint8_t *end = (c->flags & CF_HELLO_OUT)
        ? w->proto->hello + w->proto->hello_len
        : w->run->pipeline + w->run->pipeline_len;
    while (c->out_bytes > 0) {
        ssize_t put = send(c->fd, end - c->out_bytes, c->out_bytes, MSG_NOSIGNAL);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return true;      /* an EPOLLOUT edge comes when there is room */
            conn_fail(w, c, ERR_RESET);
            return false;
        }
        c->out_bytes -= (uint32_t)put;
        w->stats.bytes_out += (uint64_t)put;
    }
    c->flags &= (uint8_t)~CF_HELLO_OUT;
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
        uint64_t due = due_for(w, c->index, due_total(w));
        uint64_t late = due > c->sent ? due - c->sent : 0;
        room = room < late ? room : late;
    }
    return (uint32_t)room;
}

/* Queues every request the connection may send now and sends them in one go.  Returns false
 * when the connection died doing so. */
static bool conn_fill(struct worker *w, struct conn *c)
{
    if (c->state != CONN_OPEN)
        return true;
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

/* Bytes from the server.  Returns false when the connection was closed (and maybe replaced). */
static bool conn_consume(struct worker *w, struct conn *c, const uint8_t *data, size_t len)
{
    struct proto_result r = {0};
    proto_parse(w->proto, &c->proto, data, len, &r);
    if (r.answers > c->inflight) {
        conn_fail(w, c, ERR_PROTOCOL);  /* answers to requests never sent */
        return false;
    }
    if (r.answers)
        conn_answered(w, c, r.answers, r.rejected);
    if (r.fault) {
        conn_fail(w, c, fault_kind(r.fault));
        return false;
    }
    if (r.closing) {
        conn_fail(w, c, ERR_CLOSED);
        return false;
    }
    if (r.ready)
        conn_usable(w, c);
    return conn_fill(w, c);
}

static void conn_eof(struct worker *w, struct conn *c)
{
    struct proto_result r = {0};
    if (c->inflight > 0 && proto_finish(w->proto, &c->proto, &r))
        conn_answered(w, c, r.answers, r.rejected);
    conn_fail(w, c, ERR_CLOSED);
}

static void conn_readable(struct worker *w, struct conn *c, uint32_t events)
{
    /* Edge-triggered: a short read means the socket is drained, unless the peer also hung up,
     * in which case only reading on to EOF reports it. */
    bool hangup = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    for (;;) {
        ssize_t got = recv(c->fd, w->rbuf, READ_BUFFER_BYTES, 0);
        if (got > 0) {
            w->stats.bytes_in += (uint64_t)got;
            if (!conn_consume(w, c, w->rbuf, (size_t)got))
                return;
            if ((size_t)got < READ_BUFFER_BYTES && !hangup)
                return;
        } else if (got == 0) {
            conn_eof(w, c);
            return;
        } else if (errno == EAGAIN) {
            return;
        } else if (errno != EINTR) {
            conn_fail(w, c, ERR_RESET);
            return;
        }
    }
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

static void conn_open(struct worker *w, struct conn *c)
{
    const struct target *t = w->run->target;
    int one = 1;
    c->flags = 0;
    c->since = w->now;
    c->generation++;
    proto_reset(w->proto, &c->proto);
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        w->stats.errors[ERR_CONNECT]++;
        c->flags = CF_RETRY;
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_storage src;
    socklen_t src_len;
    bool ok = true;
    if (target_source(t, w->first + c->index, &src, &src_len)) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        ok = bind(fd, (struct sockaddr *)&src, src_len) == 0;
    }
    ok = ok && (connect(fd, (const struct sockaddr *)&t->addr, t->addr_len) == 0 ||
                errno == EINPROGRESS);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = c->index};
    ok = ok && epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
    if (!ok) {
        close(fd);
        w->stats.errors[ERR_CONNECT]++;
        c->flags = CF_RETRY;
        return;
    }
    c->fd = fd;
    c->state = CONN_CONNECTING;
    w->connecting++;
}

static void conn_event(struct worker *w, struct conn *c, uint32_t events)
{
    if (c->state == CONN_CONNECTING) {
        if (events & (EPOLLERR | EPOLLHUP)) {
            conn_fail(w, c, ERR_CONNECT);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
    }
    /* Each step may close the connection and open a new one in its slot (often with the same
     * fd number): the rest of this event belongs to the old one. */
    uint16_t generation = c->generation;
    if (c->state == CONN_CONNECTING) {
        conn_connected(w, c);
        if (c->generation != generation || c->state == CONN_IDLE)
            return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        conn_readable(w, c, events);
        if (c->generation != generation || c->state == CONN_IDLE)
            return;
    }
    if ((events & EPOLLOUT) && c->out_bytes > 0)
        conn_flush(w, c);
}

/* ---- the loop ---- */

static void open_more(struct worker *w)
{
    while (w->next_open < w->n && w->connecting < CONNECTING_MAX) {
        struct conn *c = conn_at(w, w->next_open++);
        if (c->state == CONN_IDLE && !(c->flags & CF_RETRY))
            conn_open(w, c);
    }
}

/* Open loop: gives the connections whose requests came due a chance to send them.  Busy ones
 * send theirs when their answers arrive, so each connection needs one visit at most. */
static void release_due(struct worker *w)
{
    uint64_t total = due_total(w);
    uint64_t visits = total - w->released;
    if (visits > w->n)
        visits = w->n;
    uint32_t index = (uint32_t)(w->released % w->n);  /* request k belongs to connection k % n */
    w->released = total;
    for (uint64_t i = 0; i < visits; i++) {
        struct conn *c = conn_at(w, index);
        if (++index == w->n)
            index = 0;
        if (c->state == CONN_OPEN && c->inflight < w->depth)
            conn_fill(w, c);
    }
}

static void sweep_one(struct worker *w, struct conn *c)
{
    uint64_t idle = w->now - c->since;
    switch (c->state) {
    case CONN_IDLE:
        if ((c->flags & CF_RETRY) && w->connecting < CONNECTING_MAX)
            conn_open(w, c);
        break;
    case CONN_CONNECTING:
        if (idle > w->run->timeout_ns)
            conn_fail(w, c, ERR_CONNECT);
        break;
    case CONN_UPGRADING:
        if (idle > w->run->timeout_ns)
            conn_fail(w, c, ERR_HANDSHAKE);
        break;
    default:
        if (c->inflight > 0 && idle > w->run->timeout_ns)
            conn_fail(w, c, ERR_TIMEOUT);
        break;
    }
}

/* Visits the share of connections that time has made due, so each is seen every period. */
static void sweep(struct worker *w)
{
    uint64_t budget = (w->now - w->sweep_last) * w->n / w->sweep_period_ns;
    if (budget == 0)
        return;
    w->sweep_last = w->now;
    if (budget > w->n)
        budget = w->n;
    for (uint64_t i = 0; i < budget; i++) {
        struct conn *c = conn_at(w, w->sweep_cursor);
        if (++w->sweep_cursor == w->n)
            w->sweep_cursor = 0;
        sweep_one(w, c);
    }
}

static double seconds_of(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static void begin_measuring(struct worker *w)
{
    w->answers_before = w->stats.answers;
    w->errors_before = stats_error_total(&w->stats);
    stats_reset(&w->stats);
    w->finished = 0;
    w->issued = w->inflight;
    w->measuring = true;
    w->measure_start = w->now;
    getrusage(RUSAGE_THREAD, &w->usage_start);
}

static void end_measuring(struct worker *w)
{
    if (!w->measuring)
        return;
    struct rusage end;
    getrusage(RUSAGE_THREAD, &end);
    w->stats.seconds = (double)(w->now - w->measure_start) / 1e9;
    w->stats.cpu_user_s = seconds_of(&end.ru_utime) - seconds_of(&w->usage_start.ru_utime);
    w->stats.cpu_system_s = seconds_of(&end.ru_stime) - seconds_of(&w->usage_start.ru_stime);
}

static bool run_over(struct worker *w)
{
    if (atomic_load_explicit(&w->run->stop, memory_order_relaxed))
        return true;
    if (w->open > 0)
        w->last_usable = w->now;
    else if (w->now - w->last_usable > WORKER_GIVE_UP_TIMEOUTS * w->run->timeout_ns)
        return w->gave_up = true;
    if (w->now >= w->run->deadline_ns)
        return true;
    return w->measuring && w->bounded && w->finished >= w->quota;
}

static uint64_t next_wake(const struct worker *w)
{
    uint64_t wake = w->now + (w->sweep_period_ns < WAKE_NS_MAX ? w->sweep_period_ns : WAKE_NS_MAX);
    if (!w->measuring && w->run->measure_ns < wake)
        wake = w->run->measure_ns;
    if (w->run->deadline_ns < wake)
        wake = w->run->deadline_ns;
    if (open_loop(w)) {
        uint64_t next = w->run->start_ns + (uint64_t)((double)due_total(w) * w->interval_ns);
        if (next < wake)
            wake = next;
    }
    return wake;
}

static void publish_progress(struct worker *w)
{
    uint64_t answers = w->stats.answers + (w->measuring ? w->answers_before : 0);
    uint64_t errors = stats_error_total(&w->stats) + (w->measuring ? w->errors_before : 0);
    atomic_store_explicit(&w->progress_answers, answers, memory_order_relaxed);
    atomic_store_explicit(&w->progress_errors, errors, memory_order_relaxed);
}

void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct epoll_event events[EVENTS_MAX];
    w->now = clock_ns();
    w->sweep_last = w->now;
    w->last_usable = w->now;
    for (;;) {
        if (!w->measuring && w->now >= w->run->measure_ns)
            begin_measuring(w);
        if (run_over(w))
            break;
        open_more(w);
        uint64_t wake = next_wake(w);
        uint64_t wait_ns = wake > w->now ? wake - w->now : 0;
        struct timespec wait = {.tv_sec = (time_t)(wait_ns / 1000000000u),
                                .tv_nsec = (long)(wait_ns % 1000000000u)};
        int ready = epoll_pwait2(w->epfd, events, EVENTS_MAX, &wait, NULL);
        for (int i = 0; i < ready; i++) {
            w->now = clock_ns();
            conn_event(w, conn_at(w, (uint32_t)events[i].data.u64), events[i].events);
        }
        w->now = clock_ns();
        if (open_loop(w))
            release_due(w);
        sweep(w);
        publish_progress(w);
    }
    end_measuring(w);
    publish_progress(w);
    atomic_fetch_add(&w->run->workers_done, 1);
    pthread_kill(w->run->main_thread, SIGUSR1);
    return NULL;
}

int worker_create(struct worker **out, struct run *run, const struct worker_share *share)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->run = run;
    w->proto = run->proto;
    w->n = share->connections;
    w->first = share->first;
    w->depth = run->depth;
    w->bounded = share->bounded;
    w->quota = share->requests;
    w->interval_ns = share->rate > 0 ? 1e9 / share->rate : 0;
    w->sweep_period_ns = run->timeout_ns / SWEEPS_PER_TIMEOUT;
    if (w->sweep_period_ns == 0)
        w->sweep_period_ns = 1;
    w->stride = (sizeof(struct conn) + w->depth * sizeof(uint64_t) + 7) & ~(size_t)7;
    stats_reset(&w->stats);
    atomic_init(&w->progress_answers, 0);
    atomic_init(&w->progress_errors, 0);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->conns = calloc(w->n, w->stride);
    w->rbuf = malloc(READ_BUFFER_BYTES);
    if (w->epfd < 0 || !w->conns || !w->rbuf) {
        int rc = w->epfd < 0 ? -errno : -ENOMEM;
        worker_destroy(w);
        return rc;
    }
    for (uint32_t i = 0; i < w->n; i++) {
        struct conn *c = conn_at(w, i);
        c->fd = -1;
        c->index = i;
    }
    *out = w;
    return 0;
}

const struct load_stats *worker_stats(const struct worker *w)
{
    return &w->stats;
}

bool worker_gave_up(const struct worker *w)
{
    return w->gave_up;
}

void worker_progress(const struct worker *w, uint64_t *answers, uint64_t *errors)
{
    *answers = atomic_load_explicit(&w->progress_answers, memory_order_relaxed);
    *errors = atomic_load_explicit(&w->progress_errors, memory_order_relaxed);
}

void worker_destroy(struct worker *w)
{
    if (!w)
        return;
    for (uint32_t i = 0; w->conns && i < w->n; i++) {
        struct conn *c = conn_at(w, i);
        if (c->fd >= 0)
            close(c->fd);
    }
    if (w->epfd >= 0)
        close(w->epfd);
    free(w->conns);
    free(w->rbuf);
    free(w);
}
