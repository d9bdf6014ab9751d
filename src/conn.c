/* conn.c - connections on one loop: receive, the output queue, backpressure, timers, closing.
 * The contract is in conn.h.
 *
 * A connection moves through phases: OPEN -> CLOSING (conn_close: flushing) -> SHUTTING (its
 * ops are being cancelled) -> FD_CLOSING (io_close in flight) -> DONE (on_close delivered,
 * memory kept only for conn_hold()).  Every state change is made by settle(), which runs when
 * no callback of the connection is on the stack, so a protocol never sees its connection change
 * under its feet.  The socket is closed only once the connection's own ops have all completed
 * (loop.h rule 6), so the close op can reuse the recv op's memory.
 *
 * One timeout op serves two deadlines: the protocol's (conn_timer_set) and the send timeout's,
 * armed for the earlier.  Moving either later costs nothing: the armed op fires early and
 * arms again for what is left.
 */
#include "conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "timer_heap.h"

#define NS_PER_MS 1000000ull
#define CHUNK_BYTES (16u * 1024u) /* allocation size of one copy chunk, header included */
#define BATCH_IOV 128             /* segments one sendv carries at most */
/* The small classes: a write that fits starts an empty queue in a small chunk, and a send of a
 * few segments takes a small batch.  Most responses are small, and a burst of them in flight at
 * once (a loop turn answering hundreds of connections) would otherwise touch a page of each
 * 16 KiB chunk and a 2 KiB batch apiece, memory that stays resident after the burst. */
#define SMALL_CHUNK_BYTES 1024u
#define SMALL_BATCH_IOV 8

/* Free objects kept for reuse per set; beyond these, memory goes back to the allocator. */
#define CHUNK_CACHE_MAX 256u /* 4 MiB */
#define REF_CACHE_MAX 1024u
#define BATCH_CACHE_MAX 256u
#define CONN_CACHE_MAX 1024u

/* After the grace period, how often shutdown looks again for connections still closing. */
#define SHUTDOWN_RECHECK_MS 1000u

enum conn_phase { PHASE_OPEN, PHASE_CLOSING, PHASE_SHUTTING, PHASE_FD_CLOSING, PHASE_DONE };

enum conn_flag {
    F_RECV_ARMED = 1u << 0,
    F_RECV_CANCELLING = 1u << 1,
    F_SENDING = 1u << 2,
    F_TIMER_ARMED = 1u << 3,  /* in the set's deadline heap */
    F_EOF = 1u << 4,
    F_PAUSED = 1u << 5,       /* by the protocol */
    F_BACKPRESSURE = 1u << 6, /* by the output queue */
    F_ABORT = 1u << 7,        /* conn_abort() waiting for settle() */
    F_LINGER = 1u << 8,       /* closing: our side is shut down, the peer's bytes are drained */
    F_EOF_PARKED = 1u << 9,   /* the peer's EOF came behind parked input: told after it */
};

/* One piece of queued output: a chunk of copied bytes (cap > 0), the caller's memory, or a
 * range of a file (file_fd >= 0: len bytes from file_off, data unused). */
struct out_seg {
    struct out_seg *next;
    const char *data; /* first byte not yet sent */
    size_t len;       /* bytes queued from data (or the file) */
    conn_release_cb release;
    void *arg;
    int file_fd;
    uint64_t file_off;
    size_t cap; /* chunk: bytes in store; 0 for the caller's memory and files */
    char store[];
};

#define FILE_SEG_MAX (1u << 30) /* one sendfile op's share of a file range (io_sendfile: <= INT_MAX) */

#define CHUNK_STORE (CHUNK_BYTES - sizeof(struct out_seg))
#define SMALL_CHUNK_STORE (SMALL_CHUNK_BYTES - sizeof(struct out_seg))

/* The send in flight, its op and iovec array: pooled, since only a sending connection needs
 * one (an idle connection holds no op but its recv). */
struct send_batch {
    io_op op;
    int nsegs;
    int cap;         /* iov entries: SMALL_BATCH_IOV or BATCH_IOV */
    size_t tail_len; /* bytes of the last segment in this send: the chunk may grow meanwhile */
    struct iovec iov[];
};

struct conn {
    conn_set *set;
    conn *prev, *next; /* the set's open connections */
    const struct proto *proto;
    void *state;
    int fd;
    uint8_t phase;
    unsigned flags;
    unsigned nest;  /* callbacks and corks on the stack */
    unsigned ops;   /* ops of ours in flight */
    unsigned holds; /* conn_hold() */
    io_op recv_op;  /* also the close op, once nothing else is in flight */
    struct out_seg *out_head, *out_tail;
    size_t queued;
    unsigned files;                    /* file segments in the output queue */
    struct out_seg *in_head, *in_tail; /* the inbox: input received while reading was held */
    struct send_batch *batch;          /* the send or sendfile in flight */
    uint64_t timer_deadline; /* 0: none */
    uint64_t send_deadline;   /* output queued: when it is stalled unless it moved (0: none) */
    io_timer_node timer;      /* in the set's heap: when to look at the deadlines next */
    uint32_t send_mark;       /* send_progress() at the last look */
};

/* A free list of fixed-size objects with a bounded cache. */
struct pool {
    void *head;
    uint32_t count;
    uint32_t max;
    size_t size;
};

struct conn_set {
    io_loop *loop;
    size_t high_watermark;
    size_t low_watermark;
    uint64_t send_timeout_ns;
    uint32_t max_conns;
    atomic_uint *shared_open;
    conn *conns;
    conn_set_stats stats;
    struct pool chunks, small_chunks, refs, batches, small_batches, conn_pool;
    /* The connections' deadlines: one loop timeout for the earliest, so a connection carries
     * a heap node, not a timeout op of its own. */
    struct io_timer_heap timers;
    uint64_t timer_seq;
    uint64_t timer_for;    /* the deadline the armed timeout was set for */
    io_op timer_op;
    bool timer_armed;
    bool shutting;
    bool fd_limit_noted;   /* a connection beyond io_loop_fd_limit was refused, and said so */
    bool shutdown_armed;
    io_op shutdown_op;
    conn_set_done_cb done;
    void *done_arg;
};

static void *pool_get(struct pool *p)
{
    void *obj = p->head;
    if (!obj)
        return malloc(p->size);
    memcpy(&p->head, obj, sizeof(void *));
    p->count--;
    return obj;
}

static void pool_put(struct pool *p, void *obj)
{
    if (p->count >= p->max) {
        free(obj);
        return;
    }
    memcpy(obj, &p->head, sizeof(void *));
    p->head = obj;
    p->count++;
}

static void pool_drain(struct pool *p)
{
    while (p->head) {
        void *obj = p->head;
        memcpy(&p->head, obj, sizeof(void *));
        free(obj);
    }
    p->count = 0;
}

static void settle(conn *c);

/* ---- output queue ---- */

static void seg_free(conn_set *set, struct out_seg *seg)
{
    if (seg->cap) {
        pool_put(seg->cap == SMALL_CHUNK_STORE ? &set->small_chunks : &set->chunks, seg);
        return;
    }
    if (seg->release)
        seg->release(seg->arg);
    pool_put(&set->refs, seg);
}

static void queue_append(conn *c, struct out_seg *seg)
{
    seg->next = NULL;
    if (c->out_tail)
        c->out_tail->next = seg;
    else
        c->out_head = seg;
    c->out_tail = seg;
    c->queued += seg->len;
    if (seg->file_fd >= 0)
        c->files++;
}

static void queue_pop(conn *c)
{
    struct out_seg *seg = c->out_head;
    c->out_head = seg->next;
    if (!c->out_head)
        c->out_tail = NULL;
    c->queued -= seg->len;
    if (seg->file_fd >= 0)
        c->files--;
    seg_free(c->set, seg);
}

static void queue_drop_all(conn *c)
{
    while (c->out_head)
        queue_pop(c);
}

/* Remove what the finished send carried. */
static void queue_consume(conn *c, const struct send_batch *batch)
{
    for (int i = 0; i < batch->nsegs - 1; i++)
        queue_pop(c);
    struct out_seg *last = c->out_head;
    last->data += batch->tail_len;
    last->len -= batch->tail_len;
    c->queued -= batch->tail_len;
    if (last->len == 0)
        queue_pop(c);
}

static size_t chunk_room(const struct out_seg *seg)
{
    return seg->cap ? (size_t)(seg->store + seg->cap - (seg->data + seg->len)) : 0;
}

/* Copy len bytes to the end of the chunk list *head..*tail (the output queue or the inbox),
 * adding each byte stored to *count.  -ENOMEM leaves part of them stored. */
static int chunks_copy(conn_set *set, struct out_seg **head, struct out_seg **tail, const char *data,
                       size_t len, size_t *count)
{
    while (len) {
        struct out_seg *last = *tail;
        if (!last || chunk_room(last) == 0) {
            /* A list's first chunk is a small one when the bytes fit: most answers do. */
            bool small = !last && len <= SMALL_CHUNK_STORE;
            last = pool_get(small ? &set->small_chunks : &set->chunks);
            if (!last)
                return -ENOMEM;
            *last = (struct out_seg){.data = last->store, .file_fd = -1,
                                     .cap = small ? SMALL_CHUNK_STORE : CHUNK_STORE};
            if (*tail)
                (*tail)->next = last;
            else
                *head = last;
            *tail = last;
        }
        size_t n = chunk_room(last) < len ? chunk_room(last) : len;
        memcpy((char *)last->data + last->len, data, n);
        last->len += n;
        *count += n;
        data += n;
        len -= n;
    }
    return 0;
}

static int queue_copy(conn *c, const char *data, size_t len)
{
    return chunks_copy(c->set, &c->out_head, &c->out_tail, data, len, &c->queued);
}

static void note_queued(conn *c)
{
    if (c->queued > c->set->high_watermark)
        c->flags |= F_BACKPRESSURE;
    if (c->nest == 0)
        settle(c);
}

int conn_write(conn *c, const void *data, size_t len)
{
    if (c->phase != PHASE_OPEN || (c->flags & F_ABORT))
        return -EPIPE;
    if (len == 0)
        return 0;
    int err = queue_copy(c, data, len);
    if (err < 0) {
        conn_abort(c); /* part of the bytes are queued: the stream is no longer whole */
        return err;
    }
    note_queued(c);
    return 0;
}

int conn_write_ref(conn *c, const void *data, size_t len, conn_release_cb release, void *arg)
{
    if (c->phase != PHASE_OPEN || (c->flags & F_ABORT))
        return -EPIPE;
    struct out_seg *seg = pool_get(&c->set->refs);
    if (!seg)
        return -ENOMEM;
    *seg = (struct out_seg){.data = data, .len = len, .release = release, .arg = arg, .file_fd = -1};
    queue_append(c, seg);
    note_queued(c);
    return 0;
}

int conn_write_file(conn *c, int fd, uint64_t offset, uint64_t len, conn_release_cb release, void *arg)
{
    if (c->phase != PHASE_OPEN || (c->flags & F_ABORT))
        return -EPIPE;
    if (fd < 0)
        return -EBADF;
    if (len == 0) {
        if (release)
            release(arg);
        return 0;
    }
    /* Ranges over what one op may carry become several segments; the last one releases. */
    while (len) {
        struct out_seg *seg = pool_get(&c->set->refs);
        if (!seg) {
            conn_abort(c); /* part of the range may be queued: the stream is no longer whole */
            return -ENOMEM;
        }
        size_t n = len > FILE_SEG_MAX ? FILE_SEG_MAX : (size_t)len;
        len -= n;
        *seg = (struct out_seg){.len = n, .file_fd = fd, .file_off = offset,
                                .release = len ? NULL : release, .arg = arg};
        offset += n;
        queue_append(c, seg);
    }
    note_queued(c);
    return 0;
}

size_t conn_queued(const conn *c)
{
    return c->queued;
}

bool conn_output_full(const conn *c)
{
    return c->queued > c->set->high_watermark || c->files >= CONN_MAX_FILES;
}

/* ---- the send timeout ---- */

static int timer_arm(conn *c);

/* A send starts: output that was not waiting already gets its deadline. */
static int watch_send(conn *c)
{
    if (c->send_deadline)
        return 0;
    c->send_deadline = io_loop_now_ns(c->set->loop) + c->set->send_timeout_ns;
    return timer_arm(c);
}

/* A send completed, so its bytes moved: the deadline moves on while output is left. */
static void send_moved(conn *c)
{
    c->send_deadline = c->queued ? io_loop_now_ns(c->set->loop) + c->set->send_timeout_ns : 0;
}

/* How far the output has got: into the socket (the send in flight) and out of it (what the
 * peer acknowledged).  A send op completes only once all it carries is in the socket, and a
 * socket holding megabytes frees room in large steps, so a slow reader shows in the second
 * count long before the first.  System calls: at the deadline only.  Only ever compared. */
static uint32_t send_progress(const conn *c)
{
    net_tcp_progress p = {.acked = 0};
    (void)net_tcp_progress_get(c->fd, &p); /* unknown: the send op alone tells */
    size_t in_socket = (c->flags & F_SENDING) ? io_send_progress(&c->batch->op) : 0;
    return (uint32_t)(p.acked + in_socket);
}

/* At the send deadline, output that moved since the last look gets another period: a stalled
 * peer is closed one to two periods after it took its last byte. */
static bool send_stalled(conn *c, uint64_t now)
{
    if (!c->send_deadline || c->send_deadline > now)
        return false;
    uint32_t progress = send_progress(c);
    if (progress == c->send_mark)
        return true;
    c->send_mark = progress;
    c->send_deadline = now + c->set->send_timeout_ns;
    return false;
}

/* ---- sending ---- */

/* A batch for a send of segs segments: its op starts blank, as a fresh op must (the pool's
 * memory is not one yet). */
static struct send_batch *batch_get(conn_set *set, int segs)
{
    bool small = segs <= SMALL_BATCH_IOV;
    struct send_batch *batch = pool_get(small ? &set->small_batches : &set->batches);
    if (batch) {
        batch->op = (io_op){0};
        batch->cap = small ? SMALL_BATCH_IOV : BATCH_IOV;
    }
    return batch;
}

static void batch_put(conn_set *set, struct send_batch *batch)
{
    pool_put(batch->cap == SMALL_BATCH_IOV ? &set->small_batches : &set->batches, batch);
}

static void after_sent(conn *c)
{
    if ((c->flags & F_BACKPRESSURE) && c->queued <= c->set->low_watermark)
        c->flags &= ~F_BACKPRESSURE;
    if (c->queued == 0 && c->phase == PHASE_OPEN && !(c->flags & F_ABORT) && c->proto->on_drain)
        c->proto->on_drain(c);
}

static void on_send(io_loop *loop, io_op *op, int res, unsigned flags)
{
    conn *c = op->data;
    struct send_batch *batch = c->batch;
    c->batch = NULL;
    c->flags &= ~F_SENDING;
    c->ops--;
    c->nest++;
    if (res < 0) {
        /* A dead stream, or our own cancel: what it carried is dropped with the queue. */
        if (c->phase <= PHASE_CLOSING)
            c->flags |= F_ABORT;
    } else {
        queue_consume(c, batch);
        send_moved(c);
        after_sent(c);
    }
    batch_put(c->set, batch);
    conn_uncork(c);
}

static void on_sendfile(io_loop *loop, io_op *op, int res, unsigned flags)
{
    conn *c = op->data;
    batch_put(c->set, c->batch);
    c->batch = NULL;
    c->flags &= ~F_SENDING;
    c->ops--;
    c->nest++;
    if (res >= 0 && (size_t)res == c->out_head->len) {
        queue_pop(c);
        send_moved(c);
        after_sent(c);
    } else if (c->phase <= PHASE_CLOSING) {
        /* An error, or the file shrank: the peer was promised bytes that will never come. */
        c->flags |= F_ABORT;
    }
    conn_uncork(c);
}


static int flush_file(conn *c)
{
    const struct out_seg *seg = c->out_head;
    struct send_batch *batch = batch_get(c->set, 0); /* for its op */
    if (!batch)
        return -ENOMEM;
    int err = io_sendfile(c->set->loop, &batch->op, c->fd, seg->file_fd, seg->file_off, seg->len,
                          on_sendfile, c);
    if (err < 0) {
        batch_put(c->set, batch);
        return err;
    }
    c->batch = batch;
    c->flags |= F_SENDING;
    c->ops++;
    return 0;
}

/* Send the memory at the head of the queue in one sendv, or the file range that heads it. */
static int flush(conn *c)
{
    int err = watch_send(c);
    if (err < 0)
        return err;
    if (c->out_head->file_fd >= 0)
        return flush_file(c);
    int segs = 0;
    for (const struct out_seg *seg = c->out_head; seg && seg->file_fd < 0 && segs < BATCH_IOV; seg = seg->next)
        segs++;
    struct send_batch *batch = batch_get(c->set, segs);
    if (!batch)
        return -ENOMEM;
    int n = 0;
    const struct out_seg *seg = c->out_head;
    for (; seg && seg->file_fd < 0 && n < segs; seg = seg->next) {
        batch->iov[n].iov_base = (void *)seg->data;
        batch->iov[n].iov_len = seg->len;
        batch->tail_len = seg->len;
        n++;
    }
    batch->nsegs = n;
    err = io_sendv(c->set->loop, &batch->op, c->fd, batch->iov, n, on_send, c);
    if (err < 0) {
        batch_put(c->set, batch);
        return err;
    }
    c->batch = batch;
    c->flags |= F_SENDING;
    c->ops++;
    return 0;
}

/* ---- receiving ---- */

/* Reading is held: by the protocol, or by the output queue over its watermark. */
static bool read_held(const conn *c)
{
    return c->flags & (F_PAUSED | F_BACKPRESSURE);
}

/* Reading stops exactly where the protocol or the output queue holds it, on every backend:
 * each recv is single-shot, so once reading is held no completion follows but the one a cancel
 * may race with.  (A multishot recv cannot promise that on io_uring: while a sender keeps the
 * socket busy, the kernel went on posting completions for megabytes after the cancel, and input
 * ran that far past the watermark.)  The inbox keeps what arrives after the hold anyway --
 * copied, so that the pool's buffer goes back at once and a held connection cannot starve the
 * loop -- with the EOF behind it, and delivers it in order when reading resumes; conn_unread()
 * puts bytes back at its front. */
static bool inbox_wanted(const conn *c)
{
    return c->in_head || (c->flags & F_EOF_PARKED) || read_held(c);
}

static void chunks_free(conn_set *set, struct out_seg *head)
{
    while (head) {
        struct out_seg *next = head->next;
        seg_free(set, head);
        head = next;
    }
}

static void inbox_drop(conn *c)
{
    chunks_free(c->set, c->in_head);
    c->in_head = c->in_tail = NULL;
    c->flags &= ~F_EOF_PARKED;
}

static void park(conn *c, const char *data, size_t len)
{
    size_t parked = 0;
    if (chunks_copy(c->set, &c->in_head, &c->in_tail, data, len, &parked) < 0)
        c->flags |= F_ABORT; /* part of the bytes would be missing from the stream */
}

int conn_unread(conn *c, const char *data, size_t len)
{
    c->flags |= F_PAUSED;
    if (c->phase != PHASE_OPEN || (c->flags & F_ABORT) || len == 0)
        return 0;
    struct out_seg *head = NULL, *tail = NULL;
    size_t kept = 0;
    if (chunks_copy(c->set, &head, &tail, data, len, &kept) < 0) {
        chunks_free(c->set, head);
        conn_abort(c); /* the stream would lose those bytes */
        return -ENOMEM;
    }
    tail->next = c->in_head;
    if (!c->in_head)
        c->in_tail = tail;
    c->in_head = head;
    return 0;
}

static void deliver_eof(conn *c)
{
    if (c->proto->on_eof)
        c->proto->on_eof(c);
    else
        conn_close(c);
}

/* From settle(): deliver the inbox while the protocol takes input, or drop it once the
 * connection no longer reads. */
static void replay_inbox(conn *c)
{
    while (c->phase == PHASE_OPEN && !(c->flags & F_ABORT) && !read_held(c)) {
        struct out_seg *seg = c->in_head;
        c->nest++; /* a callback: nothing settles under it */
        if (seg) {
            c->in_head = seg->next;
            if (!c->in_head)
                c->in_tail = NULL;
            c->proto->on_data(c, seg->data, seg->len);
            seg_free(c->set, seg);
        } else if (c->flags & F_EOF_PARKED) {
            c->flags &= ~F_EOF_PARKED;
            deliver_eof(c);
        }
        c->nest--;
        if (!seg)
            return;
    }
    if (c->phase != PHASE_OPEN || (c->flags & F_ABORT))
        inbox_drop(c);
}

static void on_recv(io_loop *loop, io_op *op, int res, unsigned flags)
{
    conn *c = op->data;
    io_buf buf = op->buf;
    c->flags &= ~(F_RECV_ARMED | F_RECV_CANCELLING); /* single-shot: this is its completion */
    c->ops--;
    c->nest++;
    bool taking = c->phase == PHASE_OPEN && !(c->flags & F_ABORT);
    if (res > 0) {
        if (taking && inbox_wanted(c))
            park(c, buf.data, (size_t)res);
        else if (taking)
            c->proto->on_data(c, buf.data, (size_t)res);
        io_buf_release(loop, buf);
    } else if (res == 0) {
        c->flags |= F_EOF;
        if (taking && inbox_wanted(c))
            c->flags |= F_EOF_PARKED;
        else if (taking)
            deliver_eof(c);
    } else if (res != -ECANCELED && c->phase <= PHASE_CLOSING) {
        c->flags |= F_ABORT; /* reset by the peer, or another error of the socket */
    }
    conn_uncork(c);
}

static bool wants_to_read(const conn *c)
{
    if (c->phase == PHASE_CLOSING) /* lingering: read only to throw the bytes away */
        return (c->flags & F_LINGER) && !(c->flags & (F_EOF | F_ABORT));
    return c->phase == PHASE_OPEN && !(c->flags & (F_EOF | F_ABORT)) && !read_held(c) && !c->in_head;
}

static int update_reading(conn *c)
{
    if (wants_to_read(c) && !(c->flags & F_RECV_ARMED)) {
        int err = io_recv(c->set->loop, &c->recv_op, c->fd, 0, on_recv, c);
        if (err < 0)
            return err;
        c->flags |= F_RECV_ARMED;
        c->ops++;
    } else if (!wants_to_read(c) && (c->flags & F_RECV_ARMED) && !(c->flags & F_RECV_CANCELLING)) {
        if (io_cancel(c->set->loop, &c->recv_op) == 0)
            c->flags |= F_RECV_CANCELLING;
    }
    return 0;
}

void conn_read_pause(conn *c)
{
    c->flags |= F_PAUSED;
    if (c->nest == 0)
        settle(c);
}

void conn_read_resume(conn *c)
{
    c->flags &= ~F_PAUSED;
    if (c->nest == 0)
        settle(c);
}

/* ---- timers: the connections' deadlines in the set's heap, one loop timeout for them all ---- */

static void on_set_timer(io_loop *loop, io_op *op, int res, unsigned flags);

/* Keep the set's timeout armed for the earliest deadline: armed when there is one, cancelled
 * (re-armed from its completion) when an earlier one came, cancelled when none is left, so an
 * idle loop is not kept running by it.  0 or -errno. */
static int set_timer_sync(conn_set *set)
{
    const io_timer_node *first = timer_heap_peek(&set->timers);
    if (set->timer_armed) {
        if (!first || first->deadline_ns < set->timer_for)
            io_cancel(set->loop, &set->timer_op);
        return 0;
    }
    if (!first)
        return 0;
    uint64_t now = io_loop_now_ns(set->loop);
    uint64_t wait_ns = first->deadline_ns > now ? first->deadline_ns - now : 0;
    int err = io_timeout(set->loop, &set->timer_op, (wait_ns + NS_PER_MS - 1) / NS_PER_MS, on_set_timer, set);
    if (err < 0)
        return err;
    set->timer_armed = true;
    set->timer_for = first->deadline_ns;
    return 0;
}

static void timer_unqueue(conn *c)
{
    if (!(c->flags & F_TIMER_ARMED))
        return;
    timer_heap_remove(&c->set->timers, &c->timer);
    c->flags &= ~F_TIMER_ARMED;
}

/* The earlier of the protocol's deadline and the send deadline, 0 when neither is set. */
static uint64_t next_deadline(const conn *c)
{
    if (!c->send_deadline || (c->timer_deadline && c->timer_deadline < c->send_deadline))
        return c->timer_deadline;
    return c->send_deadline;
}

/* Be looked at no later than the next deadline.  A deadline pushed back leaves the node where
 * it is (it is queued again for the rest when reached): moving an idle timeout on every request
 * costs nothing; one brought forward moves it. */
static int timer_arm(conn *c)
{
    conn_set *set = c->set;
    uint64_t deadline = next_deadline(c);
    if (!deadline || ((c->flags & F_TIMER_ARMED) && c->timer.deadline_ns <= deadline))
        return 0;
    timer_unqueue(c);
    c->timer.deadline_ns = deadline;
    c->timer.seq = set->timer_seq++;
    int err = timer_heap_push(&set->timers, &c->timer);
    if (err < 0)
        return err;
    c->flags |= F_TIMER_ARMED;
    return set_timer_sync(set);
}

static void timer_disarm(conn *c)
{
    timer_unqueue(c);
    set_timer_sync(c->set);
}

/* The connection's node was reached: its deadline passed, or moved later (queue it again). */
static void timer_reached(conn *c)
{
    c->nest++;
    uint64_t now = io_loop_now_ns(c->set->loop);
    if (c->phase <= PHASE_CLOSING && !(c->flags & F_ABORT)) {
        if (send_stalled(c, now)) {
            c->flags |= F_ABORT; /* the peer takes nothing: what is queued can wait forever */
        } else if (c->timer_deadline && c->timer_deadline <= now) {
            c->timer_deadline = 0;
            if (c->phase == PHASE_CLOSING)
                c->flags |= F_ABORT; /* the peer would not take what was left to send */
            else if (c->proto->on_timer)
                c->proto->on_timer(c);
        }
        if (!(c->flags & F_ABORT) && timer_arm(c) < 0)
            c->flags |= F_ABORT;
    }
    conn_uncork(c);
}

static void on_set_timer(io_loop *loop, io_op *op, int res, unsigned flags)
{
    conn_set *set = op->data;
    /* Still "armed" (for no deadline at all) while the nodes are looked at: what they arm
     * meanwhile neither arms nor cancels; the sync after does it once. */
    set->timer_for = 0;
    uint64_t now = io_loop_now_ns(loop);
    uint64_t seq_end = set->timer_seq; /* nodes queued from here on wait for the next turn */
    io_timer_node *node;
    while ((node = timer_heap_peek(&set->timers)) && node->deadline_ns <= now && node->seq < seq_end) {
        conn *c = (conn *)((char *)node - offsetof(conn, timer));
        timer_unqueue(c);
        timer_reached(c);
    }
    set->timer_armed = false;
    if (set_timer_sync(set) < 0) {
        /* No timeout for the deadlines left: they would never come; end those connections. */
        while ((node = timer_heap_peek(&set->timers))) {
            conn *c = (conn *)((char *)node - offsetof(conn, timer));
            timer_unqueue(c);
            conn_abort(c);
        }
    }
}

int conn_timer_set(conn *c, uint64_t ms)
{
    if (c->phase != PHASE_OPEN)
        return -EPIPE;
    if (ms > UINT64_MAX / NS_PER_MS / 4)
        return -EINVAL;
    c->timer_deadline = io_loop_now_ns(c->set->loop) + ms * NS_PER_MS;
    return timer_arm(c);
}

void conn_timer_clear(conn *c)
{
    if (c->phase == PHASE_OPEN)
        c->timer_deadline = 0;
}

/* ---- the --max-conns limit: this set's count, or one shared by several loops ---- */

static bool take_slot(conn_set *set)
{
    if (!set->shared_open)
        return !set->max_conns || set->stats.open < set->max_conns;
    unsigned open = atomic_fetch_add_explicit(set->shared_open, 1, memory_order_relaxed);
    if (!set->max_conns || open < set->max_conns)
        return true;
    atomic_fetch_sub_explicit(set->shared_open, 1, memory_order_relaxed);
    return false;
}

static void give_slot(conn_set *set)
{
    if (set->shared_open)
        atomic_fetch_sub_explicit(set->shared_open, 1, memory_order_relaxed);
}

/* ---- closing ---- */

static void conn_free(conn *c)
{
    conn_set *set = c->set;
    if (c->prev)
        c->prev->next = c->next;
    else
        set->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    set->stats.open--;
    give_slot(set);
    pool_put(&set->conn_pool, c);
    if (set->shutting && set->stats.open == 0 && set->shutdown_armed)
        io_cancel(set->loop, &set->shutdown_op);
}

static void on_closed(io_loop *loop, io_op *op, int res, unsigned flags)
{
    conn *c = op->data;
    c->ops--;
    c->phase = PHASE_DONE;
    c->holds++; /* on_close may let go of holds of its own (jobs it withdrew): not c under it */
    c->proto->on_close(c);
    c->state = NULL;
    conn_unhold(c);
}

static void close_fd(conn *c)
{
    io_loop *loop = c->set->loop;
    queue_drop_all(c); /* no send is in flight any more: the memory is ours again */
    inbox_drop(c);
    c->phase = PHASE_FD_CLOSING;
    c->ops++;
    if (io_close(loop, &c->recv_op, c->fd, on_closed, c) == 0)
        return;
    /* The loop could not take the close (the op is free again, rule 1): close here, and still
     * end from a loop callback. */
    close(c->fd);
    if (io_timeout(loop, &c->recv_op, 0, on_closed, c) < 0)
        on_closed(loop, &c->recv_op, 0, 0);
}

static void shut(conn *c)
{
    io_loop *loop = c->set->loop;
    c->phase = PHASE_SHUTTING;
    if ((c->flags & F_RECV_ARMED) && !(c->flags & F_RECV_CANCELLING) && io_cancel(loop, &c->recv_op) == 0)
        c->flags |= F_RECV_CANCELLING;
    if (c->flags & F_SENDING)
        io_cancel(loop, &c->batch->op);
    timer_disarm(c);
}

/* Everything is sent: shut our side down and drain the peer until its EOF, at most
 * CONN_DRAIN_MS.  Closing a socket with unread bytes would send a reset, which can destroy the
 * last response before the peer reads it (a request refused before its body was read, say).
 * false: close at once instead. */
static bool start_lingering(conn *c)
{
    if (c->flags & F_LINGER)
        return true;
    /* Shutting the server down is in a hurry: peers get their last bytes and a FIN only. */
    if ((c->flags & F_EOF) || c->set->shutting || shutdown(c->fd, SHUT_WR) < 0)
        return false;
    c->flags |= F_LINGER;
    c->timer_deadline = io_loop_now_ns(c->set->loop) + (uint64_t)CONN_DRAIN_MS * NS_PER_MS;
    return timer_arm(c) == 0;
}

static void settle_open(conn *c)
{
    if (c->phase == PHASE_CLOSING && c->queued == 0 && !(c->flags & F_SENDING) && !start_lingering(c)) {
        shut(c);
        return;
    }
    if (!(c->flags & F_SENDING) && c->queued && flush(c) < 0) {
        shut(c);
        return;
    }
    if (update_reading(c) < 0)
        shut(c);
}

static void settle(conn *c)
{
    if (c->in_head || (c->flags & F_EOF_PARKED))
        replay_inbox(c);
    if (c->phase <= PHASE_CLOSING) {
        if (c->flags & F_ABORT)
            shut(c);
        else
            settle_open(c);
    }
    if (c->phase == PHASE_SHUTTING && c->ops == 0)
        close_fd(c);
}

void conn_cork(conn *c)
{
    c->nest++;
}

void conn_uncork(conn *c)
{
    if (--c->nest == 0)
        settle(c);
}

void conn_close(conn *c)
{
    if (c->phase != PHASE_OPEN)
        return;
    c->phase = PHASE_CLOSING;
    c->timer_deadline = io_loop_now_ns(c->set->loop) + (uint64_t)CONN_LINGER_MS * NS_PER_MS;
    if (timer_arm(c) < 0)
        c->flags |= F_ABORT;
    if (c->nest == 0)
        settle(c);
}

void conn_abort(conn *c)
{
    if (c->phase > PHASE_CLOSING)
        return;
    c->flags |= F_ABORT;
    if (c->nest == 0)
        settle(c);
}

void conn_hold(conn *c)
{
    c->holds++;
}

void conn_unhold(conn *c)
{
    if (--c->holds == 0 && c->phase == PHASE_DONE)
        conn_free(c);
}

/* ---- accessors ---- */

io_loop *conn_loop(const conn *c)
{
    return c->set->loop;
}

int conn_fd(const conn *c)
{
    return c->fd;
}

void *conn_state(const conn *c)
{
    return c->state;
}

void conn_set_state(conn *c, void *state)
{
    c->state = state;
}

int conn_switch_proto(conn *c, const struct proto *proto, void *state)
{
    if (c->phase != PHASE_OPEN || (c->flags & F_ABORT))
        return -EPIPE;
    c->proto = proto;
    c->state = state;
    return 0;
}

const struct proto *conn_proto(const conn *c)
{
    return c->proto;
}

/* ---- the set ---- */

int conn_set_create(conn_set **out, io_loop *loop, const conn_set_config *cfg)
{
    conn_set *set = calloc(1, sizeof(*set));
    if (!set)
        return -ENOMEM;
    set->loop = loop;
    set->max_conns = cfg ? cfg->max_conns : 0;
    set->shared_open = cfg ? cfg->shared_open : NULL;
    set->high_watermark = cfg && cfg->high_watermark ? cfg->high_watermark : CONN_DEFAULT_HIGH_WATERMARK;
    set->low_watermark = cfg && cfg->low_watermark ? cfg->low_watermark : CONN_DEFAULT_LOW_WATERMARK;
    uint64_t send_timeout_ms = cfg && cfg->send_timeout_ms ? cfg->send_timeout_ms : CONN_DEFAULT_SEND_TIMEOUT_MS;
    set->send_timeout_ns = send_timeout_ms * NS_PER_MS;
    if (set->low_watermark > set->high_watermark)
        set->low_watermark = set->high_watermark;
    set->chunks = (struct pool){.max = CHUNK_CACHE_MAX, .size = CHUNK_BYTES};
    set->small_chunks = (struct pool){.max = CHUNK_CACHE_MAX, .size = SMALL_CHUNK_BYTES};
    set->refs = (struct pool){.max = REF_CACHE_MAX, .size = sizeof(struct out_seg)};
    set->batches = (struct pool){.max = BATCH_CACHE_MAX,
                                 .size = sizeof(struct send_batch) + BATCH_IOV * sizeof(struct iovec)};
    set->small_batches = (struct pool){.max = BATCH_CACHE_MAX,
                                       .size = sizeof(struct send_batch) + SMALL_BATCH_IOV * sizeof(struct iovec)};
    set->conn_pool = (struct pool){.max = CONN_CACHE_MAX, .size = sizeof(conn)};
    *out = set;
    return 0;
}

void conn_set_destroy(conn_set *set)
{
    if (!set)
        return;
    pool_drain(&set->chunks);
    pool_drain(&set->small_chunks);
    pool_drain(&set->small_batches);
    pool_drain(&set->refs);
    pool_drain(&set->batches);
    pool_drain(&set->conn_pool);
    timer_heap_free(&set->timers);
    free(set);
}

conn_set_stats conn_set_get_stats(const conn_set *set)
{
    return set->stats;
}

static int set_nodelay(int fd)
{
    /* Replies are batched per receive already; Nagle would only hold them back. */
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ? -errno : 0;
}

/* select cannot wait on an fd at or above FD_SETSIZE: such a connection is closed at once,
 * counted, and the first one says why on stderr (once: under load it would repeat per accept). */
static int refuse_beyond_fd_limit(conn_set *set, int fd)
{
    int limit = io_loop_fd_limit(set->loop);
    close(fd);
    set->stats.rejected++;
    if (!set->fd_limit_noted) {
        set->fd_limit_noted = true;
        fprintf(stderr, "ioserve: backend %s waits on fds below %d only: connection on fd %d refused, and so "
                        "will be every one above the limit (counted as refused; epoll, poll and uring have "
                        "no such limit)\n", io_loop_backend_name(set->loop), limit, fd);
    }
    return -EMFILE;
}

int conn_accept(conn_set *set, int fd, const struct proto *proto, void *arg)
{
    if (fd >= io_loop_fd_limit(set->loop))
        return refuse_beyond_fd_limit(set, fd);
    if (set->shutting || !take_slot(set)) {
        close(fd);
        set->stats.rejected++;
        return -EBUSY;
    }
    int err = set_nodelay(fd);
    conn *c = err < 0 ? NULL : pool_get(&set->conn_pool);
    if (!c) {
        give_slot(set);
        close(fd);
        return err < 0 ? err : -ENOMEM;
    }
    memset(c, 0, sizeof(*c));
    c->set = set;
    c->proto = proto;
    c->fd = fd;
    c->phase = PHASE_OPEN;
    c->next = set->conns;
    if (set->conns)
        set->conns->prev = c;
    set->conns = c;
    set->stats.open++;
    set->stats.accepted++;
    c->nest++;
    if (proto->on_open(c, arg) < 0)
        c->flags |= F_ABORT;
    conn_uncork(c);
    return 0;
}

void conn_set_abort_all(conn_set *set)
{
    for (conn *c = set->conns, *next; c; c = next) {
        next = c->next;
        conn_abort(c);
    }
}

static void on_shutdown_timer(io_loop *loop, io_op *op, int res, unsigned flags)
{
    conn_set *set = op->data;
    set->shutdown_armed = false;
    if (set->stats.open > 0) {
        /* The grace period is over.  Aborted connections still finish closing through the
         * loop; the last one to be freed cancels this timer, which then calls done. */
        conn_set_abort_all(set);
        if (io_timeout(loop, &set->shutdown_op, SHUTDOWN_RECHECK_MS, on_shutdown_timer, set) == 0) {
            set->shutdown_armed = true;
            return;
        }
    }
    if (set->done)
        set->done(set, set->done_arg);
}

/* The protocol finishes what is in flight and closes; a connection it leaves open is aborted
 * when the grace period ends. */
static void ask_to_stop(conn *c)
{
    if (c->phase != PHASE_OPEN || (c->flags & F_ABORT) || !c->proto->on_shutdown) {
        conn_close(c);
        return;
    }
    c->nest++;
    c->proto->on_shutdown(c);
    conn_uncork(c);
}

int conn_set_shutdown(conn_set *set, uint64_t grace_ms, conn_set_done_cb done, void *arg)
{
    if (set->shutting)
        return -EALREADY;
    int err = io_timeout(set->loop, &set->shutdown_op, set->stats.open ? grace_ms : 0, on_shutdown_timer, set);
    if (err < 0)
        return err;
    set->shutting = true;
    set->shutdown_armed = true;
    set->done = done;
    set->done_arg = arg;
    for (conn *c = set->conns, *next; c; c = next) {
        next = c->next;
        ask_to_stop(c);
    }
    return 0;
}
