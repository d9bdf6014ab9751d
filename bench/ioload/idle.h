/* idle.h - connections that connect and then never send (--idle), beside the load.
 *
 * They are what a server holds but does not hear from: epoll and io_uring pay nothing for them
 * between requests, poll and select pay for each one on every wait.  main() opens them all
 * before the workers start (so they are there for the whole measurement), counts at the end
 * those the server closed meanwhile (a measurement with fewer idle connections than asked is
 * not the one asked for), and closes them last.
 */
#ifndef IOLOAD_IDLE_H
#define IOLOAD_IDLE_H

#include <stddef.h>
#include <stdint.h>

#include "target.h"

struct idle_conns {
    int *fds;
    uint64_t count;
};

/* Opens count connections, numbered from first for their source address (after the load's),
 * at most `window` connecting at once, each within timeout_ms.  0, or -errno with the reason
 * in err (nothing is left open then). */
int idle_open(struct idle_conns *idle, const struct target *t, uint64_t first, uint64_t count,
              unsigned window, unsigned timeout_ms, char *err, size_t err_len);
/* How many the server has closed (or sent something on) so far; never blocks. */
uint64_t idle_lost(const struct idle_conns *idle);
void idle_close(struct idle_conns *idle);

#endif
