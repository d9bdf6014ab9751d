/* uring.c - the io_uring floor: the smallest honest io_uring server, one thread.
 *
 * The twin of epoll.c for the proactor: what any io_uring server must pay per request and no
 * more.  One multishot accept; per connection one multishot recv on a provided buffer ring;
 * per read one SEND of that read's answers (echo: the bytes read; HTTP: one 200 per complete
 * head, floor.h).  The ring is SINGLE_ISSUER|DEFER_TASKRUN where the kernel has it, with a
 * registered ring fd; one io_uring_enter submits every send of a batch and waits for the next.
 * Answers are copied into the connection's own output buffer, so the read buffer goes back to
 * the ring at once; while a send is in flight, later answers queue behind it and leave in one
 * SEND when it completes (short sends are continued the same way).  End of stream or an error
 * closes the connection.  ETX is not spoken (exit status 2).
 */
#include "baseline.h"
#include "floor.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define RING_ENTRIES 4096u
#define BUF_COUNT 1024u
#define BUF_GROUP 0
/* user_data: the connection's generation, its fd, and what completed (the low byte).  A
 * completion of a closed connection may arrive after its fd number went to a new one: the
 * generation tells them apart. */
enum completion { DID_ACCEPT = 1, DID_RECV, DID_SEND };
#define FD_BITS 24u

struct conn {
    unsigned matched;  /* bytes of a CRLFCRLF matched at the end of the last read */
    char *out;         /* answers not yet sent: [sent, len) */
    size_t cap, len, sent;
    size_t in_flight;  /* bytes of the SEND in flight, 0 when none */
    uint32_t gen;      /* bumped at each close; survives it */
    bool open;
};

struct floor_server {
    struct io_uring ring;
    struct io_uring_buf_ring *bufs;
    char *buf_memory;
    struct floor_base base;
    struct conn *conns; /* indexed by fd */
};

static uint64_t tag(const struct floor_server *s, int fd, enum completion what)
{
    uint32_t gen = what == DID_ACCEPT ? 0 : s->conns[fd].gen;
    return (uint64_t)gen << 32 | (uint64_t)(uint32_t)fd << 8 | what;
}

static struct io_uring_sqe *sqe_for(struct floor_server *s)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) { /* the SQ is full: hand it to the kernel and take a fresh slot */
        io_uring_submit(&s->ring);
        sqe = io_uring_get_sqe(&s->ring);
    }
    return sqe;
}

static void arm_recv(struct floor_server *s, int fd)
{
    struct io_uring_sqe *sqe = sqe_for(s);
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUF_GROUP;
    sqe->user_data = tag(s, fd, DID_RECV);
}

static void arm_accept(struct floor_server *s)
{
    struct io_uring_sqe *sqe = sqe_for(s);
    io_uring_prep_multishot_accept(sqe, s->base.listen_fd, NULL, NULL, SOCK_CLOEXEC);
    sqe->user_data = tag(s, s->base.listen_fd, DID_ACCEPT);
}

static void give_back(struct floor_server *s, unsigned id)
{
    io_uring_buf_ring_add(s->bufs, s->buf_memory + (size_t)id * FLOOR_READ_BUFFER, FLOOR_READ_BUFFER, (unsigned short)id,
                          io_uring_buf_ring_mask(BUF_COUNT), 0);
    io_uring_buf_ring_advance(s->bufs, 1);
}

/* shutdown ends the multishot recv (close alone would not: the request holds the file); its
 * last completions carry the old generation and are dropped. */
static void close_conn(struct floor_server *s, int fd)
{
    struct conn *c = &s->conns[fd];
    free(c->out);
    *c = (struct conn){.gen = c->gen + 1};
    shutdown(fd, SHUT_RDWR);
    close(fd);
}

static void send_queued(struct floor_server *s, int fd)
{
    struct conn *c = &s->conns[fd];
    if (c->in_flight || c->sent == c->len)
        return;
    struct io_uring_sqe *sqe = sqe_for(s);
    c->in_flight = c->len - c->sent;
    io_uring_prep_send(sqe, fd, c->out + c->sent, c->in_flight, MSG_NOSIGNAL);
    sqe->user_data = tag(s, fd, DID_SEND);
}

static int queue_answer(struct conn *c, const char *bytes, size_t len)
{
    if (!c->in_flight && c->sent == c->len)
        c->sent = c->len = 0;
    if (c->len + len > c->cap) {
        size_t cap = c->cap ? c->cap : FLOOR_READ_BUFFER;
        while (cap < c->len + len)
            cap *= 2;
        char *grown = realloc(c->out, cap);
        if (!grown)
            return -ENOMEM;
        c->out = grown;
        c->cap = cap;
    }
    memcpy(c->out + c->len, bytes, len);
    c->len += len;
    return 0;
}

static void on_recv(struct floor_server *s, int fd, const struct io_uring_cqe *cqe)
{
    struct conn *c = &s->conns[fd];
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (cqe->res <= 0) {
        if (cqe->res == -ENOBUFS) /* every buffer is out: the kernel dropped the recv */
            arm_recv(s, fd);
        else
            close_conn(s, fd);
        return;
    }
    unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    const char *bytes = s->buf_memory + (size_t)id * FLOOR_READ_BUFFER;
    int err = 0;
    if (!s->base.http) {
        err = queue_answer(c, bytes, (size_t)cqe->res);
    } else {
        size_t heads = floor_count_heads(&c->matched, bytes, (size_t)cqe->res);
        if (heads) {
            err = queue_answer(c, s->base.answers, floor_answer(&s->base, heads));
        }
    }
    give_back(s, id);
    if (err) {
        close_conn(s, fd);
        return;
    }
    send_queued(s, fd);
    if (!more)
        arm_recv(s, fd);
}

static void on_send(struct floor_server *s, int fd, int res)
{
    struct conn *c = &s->conns[fd];
    if (res < 0) {
        close_conn(s, fd);
        return;
    }
    c->sent += (size_t)res;
    c->in_flight = 0;
    send_queued(s, fd);
}

static void on_accept(struct floor_server *s, const struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE))
        arm_accept(s);
    int fd = cqe->res;
    if (fd < 0)
        return;
    if ((size_t)fd >= s->base.conn_slots) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->conns[fd] = (struct conn){.gen = s->conns[fd].gen, .open = true};
    arm_recv(s, fd);
}

static void dispatch(struct floor_server *s, const struct io_uring_cqe *cqe)
{
    enum completion what = (enum completion)(cqe->user_data & 0xff);
    int fd = (int)((cqe->user_data >> 8) & ((1u << FD_BITS) - 1));
    uint32_t gen = (uint32_t)(cqe->user_data >> 32);
    if (what != DID_ACCEPT && (!s->conns[fd].open || s->conns[fd].gen != gen)) {
        if (cqe->flags & IORING_CQE_F_BUFFER) /* a closed connection's last read */
            give_back(s, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        return;
    }
    switch (what) {
    case DID_ACCEPT: on_accept(s, cqe); break;
    case DID_RECV: on_recv(s, fd, cqe); break;
    case DID_SEND: on_send(s, fd, cqe->res); break;
    }
}

static int serve(struct floor_server *s)
{
    arm_accept(s);
    for (;;) {
        int err = io_uring_submit_and_wait(&s->ring, 1);
        if (err < 0 && err != -EINTR && err != -ETIME && err != -EBUSY)
            return err;
        unsigned head, seen = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&s->ring, head, cqe) {
            dispatch(s, cqe);
            seen++;
        }
        io_uring_cq_advance(&s->ring, seen);
    }
}

/* liburing 2.3 has no io_uring_setup_buf_ring: map and register the ring by hand. */
static int setup_buffers(struct floor_server *s)
{
    size_t ring_bytes = BUF_COUNT * sizeof(struct io_uring_buf);
    void *ring = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    s->buf_memory = malloc((size_t)BUF_COUNT * FLOOR_READ_BUFFER);
    if (ring == MAP_FAILED || !s->buf_memory)
        return -ENOMEM;
    s->bufs = ring;
    io_uring_buf_ring_init(s->bufs);
    struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)ring, .ring_entries = BUF_COUNT,
                                   .bgid = BUF_GROUP};
    int err = io_uring_register_buf_ring(&s->ring, &reg, 0);
    if (err < 0)
        return err;
    for (unsigned id = 0; id < BUF_COUNT; id++)
        give_back(s, id);
    return 0;
}

static int setup_ring(struct floor_server *s)
{
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                                         IORING_SETUP_SUBMIT_ALL};
    int err = io_uring_queue_init_params(RING_ENTRIES, &s->ring, &p);
    if (err == -EINVAL) { /* before 6.1: no DEFER_TASKRUN */
        p = (struct io_uring_params){0};
        err = io_uring_queue_init_params(RING_ENTRIES, &s->ring, &p);
    }
    if (err < 0)
        return err;
    io_uring_register_ring_fd(&s->ring); /* an optimisation only: without it, enter by fd */
    return setup_buffers(s);
}

/* One slot per possible descriptor, so a connection's state is found by its fd. */
static int setup(struct floor_server *s, int listen_fd, bool http)
{
    int err = floor_base_init(&s->base, listen_fd, http, 1u << FD_BITS);
    if (err)
        return err;
    s->conns = calloc(s->base.conn_slots, sizeof *s->conns);
    if (!s->conns)
        return -ENOMEM;
    return setup_ring(s);
}

static int run(int listen_fd, bool http)
{
    struct floor_server server = {0};
    int err = setup(&server, listen_fd, http);
    return err ? err : serve(&server);
}

int main(int argc, char **argv)
{
    return floor_main(argc, argv, "baseline-uring", run);
}
