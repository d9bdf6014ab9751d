/* net_helpers.h - plain-socket helpers (prefix tnet_) for the tests' peers, 127.0.0.1 only.
 *
 * Contract, for every function here:
 *  - success returns 0, a fd, or a count; failure returns a negative errno.  Nothing exits,
 *    asserts or leaves errno for the caller, so each may run on a client thread, where
 *    cmocka's asserts must not be used.
 *  - every wait is bounded by the caller's timeout_ms; running out returns -ETIMEDOUT.
 *  - the reads and writes work on blocking and non-blocking fds alike (poll, then
 *    MSG_DONTWAIT) and never raise SIGPIPE.
 *  - fds returned are close-on-exec and owned by the caller.
 * The byte pattern gives every offset of a stream its own value, so a test can check any
 * slice of a long transfer for loss, duplication or reordering without keeping a copy.
 */
#ifndef IOSERVE_TESTS_NET_HELPERS_H
#define IOSERVE_TESTS_NET_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A TCP listener on 127.0.0.1, an ephemeral port (stored in *port), non-blocking. */
int tnet_listen(int backlog, uint16_t *port);
/* A blocking TCP connection to 127.0.0.1:port; with rcvbuf > 0, SO_RCVBUF set before it
 * connects (see below). */
int tnet_connect(uint16_t port);
int tnet_connect_rcvbuf(uint16_t port, int rcvbuf);
/* A connected TCP pair: *client blocking, *server non-blocking (as io_accept would give it).
 * client_rcvbuf > 0 sets the client's SO_RCVBUF before it connects: shrinking it afterwards
 * makes loopback TCP crawl (a window advertised, then withdrawn), so use this instead. */
int tnet_tcp_pair(int *client, int *server);
int tnet_tcp_pair_rcvbuf(int *client, int *server, int client_rcvbuf);

int tnet_set_nonblocking(int fd, int on);
/* SO_SNDBUF; the kernel doubles the value and enforces its own minimum. */
int tnet_set_sndbuf(int fd, int bytes);
/* SO_LINGER {1, 0}: the next close() sends a RST instead of a FIN. */
int tnet_set_linger_reset(int fd);

/* Write all len bytes: 0, or -errno. */
int tnet_write_all(int fd, const void *buf, size_t len, int timeout_ms);
/* Read until len bytes or EOF: the count read (less than len only at EOF), or -errno. */
ssize_t tnet_read_full(int fd, void *buf, size_t len, int timeout_ms);
/* Wait for EOF: 0 at EOF, -EPROTO when data arrived instead, or -errno. */
int tnet_expect_eof(int fd, int timeout_ms);

/* Raise the RLIMIT_NOFILE soft limit to the hard limit: the new soft limit, or -errno. */
long tnet_raise_nofile_limit(void);
/* File descriptors open in this process, or -errno. */
int tnet_count_open_fds(void);

/* CLOCK_MONOTONIC in milliseconds and nanoseconds. */
uint64_t tnet_now_ms(void);
uint64_t tnet_now_ns(void);

/* The byte a test stream carries at stream_offset, a buffer of them, and the index of the
 * first byte of buf that is wrong for a buffer starting at stream_offset (len if none). */
uint8_t tnet_pattern_byte(uint64_t stream_offset);
void tnet_pattern_fill(void *buf, size_t len, uint64_t stream_offset);
size_t tnet_pattern_mismatch(const void *buf, size_t len, uint64_t stream_offset);

#endif
