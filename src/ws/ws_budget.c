/* ws_budget.c - per-connection and loop-wide budgets with fair shares; see ws_budget.h. */
#include "ws/ws_budget.h"

#include <errno.h>
#include <string.h>

void ws_budget_init(struct ws_budget *b, size_t limit, size_t per_conn,
                    void (*evict)(struct ws_account *a))
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
    b->per_conn = per_conn;
    b->evict = evict;
}

void ws_budget_destroy(struct ws_budget *b)
{
    ws_zcache_destroy(&b->zcache);
}

void ws_account_init(struct ws_account *a, struct ws_budget *b)
{
    memset(a, 0, sizeof *a);
    a->budget = b;
}

static void holder_add(struct ws_budget *b, struct ws_account *a)
{
    a->prev = NULL;
    a->next = b->head;
    if (b->head)
        b->head->prev = a;
    b->head = a;
    b->holders++;
}

static void holder_remove(struct ws_budget *b, struct ws_account *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else
        b->head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->prev = a->next = NULL;
    b->holders--;
}

static struct ws_account *largest_holder(const struct ws_budget *b)
{
    struct ws_account *largest = b->head;
    for (struct ws_account *h = b->head; h; h = h->next)
        if (h->used > largest->used)
            largest = h;
    return largest;
}

/* Makes room for a's charge in a full loop by evicting the largest holders, as long as a stays
 * within its fair share.  Scans the holders only when the loop is full. */
static int make_room(struct ws_account *a, size_t bytes)
{
    struct ws_budget *b = a->budget;
    while (bytes > b->limit - b->used) {
        size_t sharers = b->holders + (a->used == 0);
        if (a->used + bytes > b->limit / sharers)
            return -ENOBUFS;
        struct ws_account *victim = largest_holder(b);
        size_t before = victim->used;
        if (victim == a || before == 0)
            return -ENOBUFS;
        b->evict(victim);
        if (victim->used >= before)
            return -ENOBUFS; /* nothing freed: refuse rather than spin */
    }
    return 0;
}

int ws_account_charge(struct ws_account *a, size_t bytes)
{
    struct ws_budget *b = a->budget;
    int err = 0;
    if (bytes > b->per_conn - a->used)
        err = -EMSGSIZE;
    else if (bytes > b->limit - b->used)
        err = make_room(a, bytes);
    a->refused = err;
    if (err < 0)
        return err;
    if (a->used == 0 && bytes > 0)
        holder_add(b, a);
    a->used += bytes;
    b->used += bytes;
    return 0;
}

void ws_account_release(struct ws_account *a, size_t bytes)
{
    struct ws_budget *b = a->budget;
    a->used -= bytes;
    b->used -= bytes;
    if (a->used == 0 && bytes > 0)
        holder_remove(b, a);
}
