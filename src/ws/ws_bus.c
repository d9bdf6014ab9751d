/* ws_bus.c - broadcast across loops: one shared heap frame per message, posted to each other
 * loop (ws_bus.h). */
#include "ws/ws_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct bus_slot {
    ws_group *group;  /* fixed before the loops start */
    io_loop *loop;    /* under the lock: NULL while the loop is not serving */
};

struct ws_bus {
    pthread_rwlock_t lock; /* readers post, a loop coming or going writes */
    unsigned nloops;
    struct bus_slot slots[];
};

struct bus_msg;

/* One per target loop: the post must stay untouched until it runs there. */
struct bus_delivery {
    io_post post;
    struct bus_msg *msg;
    ws_group *group;
};

/* malloc'ed, never pooled: it is released on whichever loop sends its last piece, and the chunk
 * pools belong to one loop each. */
struct bus_msg {
    atomic_uint refs;
    size_t len;
    uint8_t *bytes; /* the whole frame, header included, after the deliveries */
    struct bus_delivery deliveries[];
};

int ws_bus_create(ws_bus **out, unsigned nloops)
{
    if (nloops == 0)
        return -EINVAL;
    ws_bus *bus = calloc(1, sizeof(*bus) + (size_t)nloops * sizeof(bus->slots[0]));
    if (!bus)
        return -ENOMEM;
    int err = pthread_rwlock_init(&bus->lock, NULL);
    if (err) {
        free(bus);
        return -err;
    }
    bus->nloops = nloops;
    *out = bus;
    return 0;
}

void ws_bus_destroy(ws_bus *bus)
{
    if (!bus)
        return;
    for (unsigned i = 0; i < bus->nloops; i++)
        if (bus->slots[i].group)
            bus->slots[i].group->bus = NULL;
    pthread_rwlock_destroy(&bus->lock);
    free(bus);
}

void ws_bus_attach(ws_bus *bus, unsigned index, ws_group *group)
{
    bus->slots[index].group = group;
    group->bus = bus;
    group->bus_index = index;
}

void ws_bus_set_loop(void *arg, unsigned index, io_loop *loop)
{
    ws_bus *bus = arg;
    pthread_rwlock_wrlock(&bus->lock);
    bus->slots[index].loop = loop;
    pthread_rwlock_unlock(&bus->lock);
}

static void msg_put(struct bus_msg *msg)
{
    if (atomic_fetch_sub_explicit(&msg->refs, 1, memory_order_acq_rel) == 1)
        free(msg);
}

static void piece_sent(void *arg)
{
    msg_put(arg);
}

/* On the target loop: every local member gets a reference to the one copy. */
static void deliver(io_loop *loop, io_post *post)
{
    struct bus_delivery *d = post->data;
    struct bus_msg *msg = d->msg;
    for (ws_conn *m = d->group->head, *next; m; m = next) {
        next = m->group_next;
        if (!ws_group_takes(d->group, m, NULL))
            continue;
        atomic_fetch_add_explicit(&msg->refs, 1, memory_order_relaxed);
        if (conn_write_ref(m->c, msg->bytes, msg->len, piece_sent, msg) < 0) {
            atomic_fetch_sub_explicit(&msg->refs, 1, memory_order_relaxed); /* ours is held */
            conn_abort(m->c);
        }
    }
    msg_put(msg); /* this delivery's reference */
}

/* Other loops serving now, read under the lock. */
static unsigned loops_up(ws_bus *bus, unsigned from)
{
    unsigned n = 0;
    pthread_rwlock_rdlock(&bus->lock);
    for (unsigned i = 0; i < bus->nloops; i++)
        n += i != from && bus->slots[i].loop && bus->slots[i].group;
    pthread_rwlock_unlock(&bus->lock);
    return n;
}

static struct bus_msg *msg_create(const ws_bus *bus, const struct ws_out *out)
{
    size_t len = out->header_len + out->chain.len;
    size_t head = sizeof(struct bus_msg) + (size_t)bus->nloops * sizeof(struct bus_delivery);
    struct bus_msg *msg = malloc(head + len);
    if (!msg)
        return NULL;
    atomic_init(&msg->refs, 1); /* the sender's, until every post is made */
    msg->len = len;
    msg->bytes = (uint8_t *)msg + head;
    memcpy(msg->bytes, out->header, out->header_len);
    size_t at = out->header_len;
    for (const struct ws_chunk *k = out->chain.head; k; k = k->next) {
        memcpy(msg->bytes + at, k->data, k->len);
        at += k->len;
    }
    return msg;
}

int ws_bus_forward(ws_bus *bus, unsigned from, const struct ws_out *out)
{
    if (!bus || loops_up(bus, from) == 0)
        return 0; /* nobody else to reach: no copy */
    struct bus_msg *msg = msg_create(bus, out);
    if (!msg)
        return -ENOMEM;
    pthread_rwlock_rdlock(&bus->lock);
    io_loop *self = bus->slots[from].loop;
    for (unsigned i = 0; i < bus->nloops && self; i++) {
        struct bus_slot *slot = &bus->slots[i];
        if (i == from || !slot->loop || !slot->group)
            continue;
        struct bus_delivery *d = &msg->deliveries[i];
        *d = (struct bus_delivery){.post = {.fn = deliver, .data = d}, .msg = msg, .group = slot->group};
        atomic_fetch_add_explicit(&msg->refs, 1, memory_order_relaxed);
        io_loop_post(self, slot->loop, &d->post); /* cannot fail: fn is set */
    }
    pthread_rwlock_unlock(&bus->lock);
    msg_put(msg);
    return 0;
}
