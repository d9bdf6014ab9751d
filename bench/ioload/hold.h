/* hold.h - what a server pays for many connections it holds (--hold N): memory, then latency.
 *
 * A run of its own, instead of the load: N connections are opened (at most 1024 connecting at
 * once) from loopback sources starting at --first-source, so several ioload processes can hold
 * disjoint sets against one server past one process's descriptor limit; each sends one request
 * and reads its answer; then, for --duration, each sends one more request every --every
 * seconds, the connections' turns spread evenly over that period.  Reported: the time to connect
 * them all and to answer the first requests; with --server-pid, the server's resident memory
 * before and after (its growth per connection: what an idle, answered connection costs it); the
 * kernel's (slab objects from /proc/slabinfo when readable, else nothing, plus TCP buffer pages
 * from /proc/net/sockstat) per connection, both ends of a loopback connection together; and the
 * latency of the sparse requests.  Connections the server closed are counted (`lost`).
 */
#ifndef IOLOAD_HOLD_H
#define IOLOAD_HOLD_H

#include "options.h"

/* The whole run: 0 when it ran (errors are in the report), 1 when it could not start (the
 * reason on stderr). */
int hold_run(const struct options *o);

#endif
