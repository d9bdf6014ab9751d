/* ws_budget.h - the memory compressed WebSocket traffic may hold: per connection and per loop.
 *
 * What a connection holds for permessage-deflate -- the inflated bytes of the message it is
 * assembling and its zlib state (ws_zmem.h) -- is charged to its account.  An account may hold
 * at most per_conn bytes (beyond that a charge fails with -EMSGSIZE: the peer gets 1009), and
 * all the accounts of a loop together at most limit.  When a charge would pass the loop's
 * limit, the loop is shared fairly: the fair share is limit divided by the accounts holding
 * memory (the one charging included).  An account that would go above its share is refused
 * (-ENOBUFS: 1008); one within it is served by evicting the largest holder, which is then above
 * the share.  So however many connections grab memory, one that asks for no more than its
 * share is never refused.  Eviction calls the owner's callback, which must release everything
 * the account holds before it returns.  One loop, one thread.
 */
#ifndef IOSERVE_WS_BUDGET_H
#define IOSERVE_WS_BUDGET_H

#include <stddef.h>

#include "ws/ws_zmem.h"

struct ws_account;

struct ws_budget {
    size_t limit;                          /* bytes all accounts together may hold */
    size_t per_conn;                       /* bytes one account may hold */
    size_t used;
    size_t holders;                        /* accounts holding something */
    struct ws_account *head;               /* those accounts */
    void (*evict)(struct ws_account *a);   /* must release all that a holds */
    struct ws_zcache zcache;               /* zlib blocks kept for reuse */
};

struct ws_account {
    struct ws_budget *budget;
    struct ws_account *prev, *next;        /* in budget->head while used > 0 */
    size_t used;
    int refused;                           /* why the last charge failed, 0 if it did not */
};

void ws_budget_init(struct ws_budget *b, size_t limit, size_t per_conn,
                    void (*evict)(struct ws_account *a));
/* Every account must be empty by then. */
void ws_budget_destroy(struct ws_budget *b);

void ws_account_init(struct ws_account *a, struct ws_budget *b);

/* Adds bytes to a's holding: 0, or -EMSGSIZE (past per_conn) or -ENOBUFS (past its share of a
 * full loop), also left in a->refused. */
int ws_account_charge(struct ws_account *a, size_t bytes);
void ws_account_release(struct ws_account *a, size_t bytes);

#endif
