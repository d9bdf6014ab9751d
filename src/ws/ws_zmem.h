/* ws_zmem.h - zlib's memory for permessage-deflate: counted, and reused within a loop.
 *
 * ws_zmem_attach() points a z_stream's allocator at a connection's account (ws_budget.h), so
 * every block zlib takes is charged to that connection and a refusal makes zlib fail with
 * Z_MEM_ERROR (the account says why).  Freed blocks go to the loop's cache, up to
 * WS_ZCACHE_MAX bytes, and the next stream asking for a block of the same size gets it back:
 * a connection without context takeover ends its zlib streams after every message and starts
 * them again for the next without touching the heap.
 */
#ifndef IOSERVE_WS_ZMEM_H
#define IOSERVE_WS_ZMEM_H

#include <stddef.h>
#include <zlib.h>

#define WS_ZCACHE_MAX (2u * 1024u * 1024u) /* idle zlib blocks kept per loop */

struct ws_zblock;
struct ws_account;

struct ws_zcache {
    struct ws_zblock *idle;
    size_t idle_bytes;
};

void ws_zcache_destroy(struct ws_zcache *cache);

/* Before deflateInit2/inflateInit2; account may be NULL (zlib's own allocator, nothing
 * counted). */
void ws_zmem_attach(z_stream *zs, struct ws_account *account);

#endif
