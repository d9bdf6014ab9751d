/* ws_bus.h - broadcast across loops: the groups of one endpoint, one per loop, as one audience.
 *
 * A ws_group lives on one loop (its hub's).  A bus joins the groups of N loops, slot i being
 * loop i's: a broadcast on loop A goes to A's members as before (pooled chunks, one shared
 * frame) and to every other loop that is up through ONE heap copy of the frame, shared by all
 * of them and refcounted atomically; each loop's post handler queues that copy to its own
 * members (conn_write_ref, no copy per member, the same drop policy for slow members) and the
 * last reference frees it.  Messages from one loop reach another in the order they were sent.
 *
 * Lifetime: create the bus and attach every slot's group before the loops start; the
 * attachments are fixed from then on.  Each loop announces itself on its own thread:
 * ws_bus_set_loop(bus, i, loop) before it serves, and ws_bus_set_loop(bus, i, NULL) once it
 * serves no more (its connections are gone) and before io_loop_run returns.  Posts are made and
 * slots cleared under one rwlock, so no post ever goes to a loop that has been announced gone:
 * every post made before the announcement runs before that loop's io_loop_run returns (loop.h).
 * Destroy the bus after every loop has stopped and before the attached groups (it detaches
 * them).  Errors are -errno.
 */
#ifndef IOSERVE_WS_BUS_H
#define IOSERVE_WS_BUS_H

#include "loop.h"
#include "ws/websocket.h"

typedef struct ws_bus ws_bus;

int ws_bus_create(ws_bus **out, unsigned nloops);
void ws_bus_destroy(ws_bus *bus);
/* Before the loops start: slot index is group (on loop index's hub), which must have no other
 * bus and outlive this one. */
void ws_bus_attach(ws_bus *bus, unsigned index, ws_group *group);
/* On loop index's thread: loop serves (non-NULL) or serves no more (NULL).  bus is a ws_bus;
 * the signature is server_config.on_loop's. */
void ws_bus_set_loop(void *bus, unsigned index, io_loop *loop);

#endif
