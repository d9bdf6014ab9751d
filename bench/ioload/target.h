/* target.h - where ioload connects to and from.
 *
 * A target is HOST:PORT (or [V6]:PORT), resolved once.  One source address can hold only as
 * many connections to one destination as the ephemeral port range has ports, so past that
 * (per_source, ~28,000 by default) connections to a loopback target bind to further loopback
 * sources, 127.0.0.2, 127.0.0.3 and on, all usable on Linux without set-up; bind() with
 * IP_BIND_ADDRESS_NO_PORT leaves the port choice to connect(), which knows the destination.
 */
#ifndef IOLOAD_TARGET_H
#define IOLOAD_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct target {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    uint64_t per_source;      /* connections per source address */
    uint32_t sources;         /* loopback sources in use; 0: let the kernel choose */
};

/* Resolves `spec`.  Returns 0, or a negative errno with the reason in `err`. */
int target_resolve(struct target *t, const char *spec, char *err, size_t err_len);

/* Decides the source addresses for `connections` (per_source 0: from the port range).
 * Returns 0, or -EADDRNOTAVAIL with the reason in `err` when the target is not loopback and
 * one source cannot hold them all. */
int target_plan_sources(struct target *t, uint64_t connections, uint64_t per_source,
                        char *err, size_t err_len);

/* Source address for connection number `index` (over all threads).  False: no bind needed. */
bool target_source(const struct target *t, uint64_t index, struct sockaddr_storage *src,
                   socklen_t *src_len);

/* A non-blocking, close-on-exec TCP socket (flags may add SOCK_NONBLOCK) bound to the source
 * of connection number `index`, ready for connect().  The fd, or -errno. */
int target_socket(const struct target *t, uint64_t index, int flags);

/* A blocking TCP connect with a timeout, to fail fast on a wrong target.  0 or -errno. */
int target_probe(const struct target *t, unsigned timeout_ms);

#endif
