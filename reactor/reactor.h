/* reactor.h - the reactor backend's private state, shared by the files of reactor/ only.
 *
 * The reactor emulates completions over readiness.  A pending op waits in its fd's slot (one
 * slot per kind, so a second op of a kind is -EBUSY); when the poller reports the fd ready, or
 * a hint says it may still be, the backend runs the syscall itself and delivers the result the
 * way the proactor would.  Readiness comes from one of three pollers (poller.h: epoll LT or ET,
 * poll, select); everything else here is shared by them, and the names keep the ep_ prefix
 * (event poller) whichever it is.  Registration is lazy: submits and completions only
 * mark an fd dirty, and one pass before each wait applies the net change, so interest
 * that flips and flips back within a loop turn costs no epoll_ctl.  An fd with nothing
 * pending at that pass leaves the poller and is forgotten.  An op submitted on an fd that went idle
 * since the last pass (its last op's callback returned with nothing resubmitted) may be on a
 * new file: the caller may close an idle fd itself and get the number back from socket().  So
 * that pass verifies the registration (epoll: one EPOLL_CTL_MOD, which fails with ENOENT for
 * a new file; poll and select watch the number, whatever file it names, level-triggered).  Multishot ops, and ops resubmitted from their own callback, cost nothing.  (Not
 * caught: closing the fd by hand inside its op's final callback and reusing the number there.)
 *
 * Files: reactor.c (binding, waiting, registration), reactor_submit.c (submit, cancel, close),
 * reactor_io.c (the syscalls run on readiness), reactor_file.c (openat2, statx and sendfile),
 * reactor_fdtable.c (per-fd state and the lists), bufpool.c (the free receive buffers),
 * poller_*.c (readiness).
 */
#ifndef IOSERVE_REACTOR_H
#define IOSERVE_REACTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "loop_backend.h"
#include "poller.h"

/* ET: syscalls one fd may run per turn before yielding to the others (it stays on the ready
 * list, so nothing is lost).  LT always runs one per event: the poller reports the rest. */
#define EP_ET_RECV_BUDGET 8
#define EP_ET_ACCEPT_BUDGET 32
#define EP_EVENT_BATCH 256

/* A sendfile waits in the send slot: both write the stream, one writer at a time. */
enum ep_slot { EP_SLOT_ACCEPT, EP_SLOT_RECV, EP_SLOT_READ, EP_SLOT_SEND, EP_SLOTS };

/* READY: fds that may be readable without an event (ET budget spent, a recv submitted on an
 * fd not known to be drained, a starved recv given a buffer).  DIRTY: fds whose wanted events
 * may differ from what the poller has.  STARVED: recvs waiting for a pool buffer, oldest first. */
enum ep_list_id { EP_LIST_READY, EP_LIST_DIRTY, EP_LIST_STARVED, EP_LISTS };

struct ep_fd {
    io_op *op[EP_SLOTS];
    uint32_t gen;           /* tags the events; bumped whenever the number names a new file */
    uint32_t kernel_events; /* what the poller watches for; 0: not watched */
    int32_t next[EP_LISTS]; /* intrusive links, meaningful while the list's bit is set */
    uint8_t listed;         /* 1 << enum ep_list_id */
    bool rd_dry;            /* drained (EAGAIN, or a short read: reactor_io.c), no event since */
    bool starved;           /* the recv waits for a pool buffer */
    bool idle;              /* registered, and nothing pending since a final callback returned */
    bool verify;            /* submitted on while idle: the registration may be another file's */
    bool mode_known;        /* accept: the listener's O_NONBLOCK and type were checked */
    bool blocking;          /* accept on a blocking listener: only after an event, one each */
    bool stream;            /* a SOCK_STREAM listener, or a connection accepted from one */
    bool peer_shut;         /* ET: EPOLLRDHUP seen, so read on to EOF */
};

struct ep_list {
    int32_t head, tail; /* -1: empty */
};

/* Chunks of fd state, so an entry never moves while a callback grows the table. */
struct ep_table {
    struct ep_fd **chunks;
    uint32_t nchunks;
};

struct ep_pool {
    uint32_t *free_ids; /* a stack: the most recently released buffer is still in cache */
    uint8_t *lent;      /* per buffer: guards the stack against a double release */
    uint32_t free_count;
    uint32_t count;
};

struct ep_state {
    const struct ep_poller *poller;
    void *poller_state;
    bool edge;   /* epoll with IO_EPOLL_ET */
    struct ep_table table;
    struct ep_list lists[EP_LISTS];
    struct ep_pool pool;
};

/* What a poller's events carry: the fd and its generation, so an event for an fd closed
 * earlier in the same batch (and maybe reused by an accept since) is dropped. */
static inline uint64_t ep_event_tag(int fd, const struct ep_fd *f)
{
    return (uint64_t)f->gen << 32 | (uint32_t)fd;
}

/* reactor_fdtable.c */
struct ep_fd *ep_table_find(const struct ep_table *table, int fd);
struct ep_fd *ep_table_get(struct ep_table *table, int fd); /* creates; NULL: no memory */
void ep_table_free(struct ep_table *table);
void ep_list_init(struct ep_list *list);
void ep_list_push(struct ep_state *st, enum ep_list_id id, int fd, struct ep_fd *f);
int ep_list_pop(struct ep_state *st, struct ep_list *list, enum ep_list_id id); /* -1: empty */
/* Forget what the poller knew of the fd and tag its future events anew. */
void ep_fd_forget(struct ep_fd *f);
/* After an op's final callback (or its cancel): note an fd left registered with nothing pending. */
void ep_fd_note_idle(struct ep_fd *f);

/* bufpool.c */
int ep_pool_init(struct ep_pool *pool, uint32_t count);
void ep_pool_free(struct ep_pool *pool);
bool ep_pool_take(struct ep_pool *pool, uint32_t *id);
bool ep_pool_give(struct ep_pool *pool, uint32_t id); /* false: the id was not lent */

/* reactor.c */
uint32_t ep_wanted_events(const struct ep_state *st, const struct ep_fd *f);
void ep_interest_changed(struct ep_state *st, int fd, struct ep_fd *f);
int ep_register(struct ep_state *st, int fd, struct ep_fd *f); /* apply wanted now: 0/-errno */
void ep_buf_put(struct ep_state *st, uint32_t id); /* a buffer is free: wake a starved recv */
/* For the pollers that keep the interest here (poll, select): the event saying fd is ready. */
struct epoll_event ep_ready_event(const struct ep_state *st, int fd, uint32_t events);

/* reactor_submit.c: the backend entry points, and ending every op an fd still holds */
int reactor_submit(io_loop *loop, io_op *op);
int reactor_cancel(io_loop *loop, io_op *op);
void ep_slot_clear(struct ep_state *st, int fd, struct ep_fd *f, enum ep_slot slot);
/* The fd leaves the poller, its ops end with res (queued) and its state is forgotten. */
void ep_fd_retire(io_loop *loop, struct ep_state *st, int fd, struct ep_fd *f, int res);

/* reactor_io.c: run what readiness allows; each returns the completions delivered */
int ep_service_read(io_loop *loop, struct ep_state *st, int fd, struct ep_fd *f, bool from_event);
int ep_service_write(io_loop *loop, struct ep_state *st, int fd, struct ep_fd *f);
/* The recv waits for a pool buffer (and, level-triggered, leaves the poller meanwhile, or it
 * would report the unread bytes every turn). */
void ep_recv_starve(struct ep_state *st, int fd, struct ep_fd *f);
/* Send (io_send or io_sendfile) what the socket takes now: 1 finished, 0 would block, or
 * -errno. */
int ep_write_progress(int fd, io_op *op);
/* The write's final res for a progress that is not 0: the bytes sent, or the error. */
int ep_write_result(const io_op *op, int progress);
/* A read of a regular file, done at once: bytes, 0 at EOF, or -errno. */
int ep_read_now(io_op *op);

/* reactor_file.c: sendfile(2) while the socket takes bytes (as ep_write_progress; 1 also when
 * the file ended first); openat2 and statx run at submit (io_core_openat2_now, loop_backend.h) */
int ep_sendfile_progress(int sock, io_op *op);

#endif
