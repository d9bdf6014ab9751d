/* tcp_watch.h - wait on the kernel's view of a server's sockets (/proc/net/tcp), so a test waits
 * for what the server has provably done instead of sleeping for long enough.
 *
 * Both poll every millisecond or so until the condition holds or timeout_ms runs out, and
 * return 0, -ETIMEDOUT, or -errno; no asserts (usable on client threads), 127.0.0.1 only.
 *  - tcp_wait_accepted: the accept queue of every listener on 127.0.0.1:port is empty: each
 *    connection made to it so far has been accepted by the server.
 *  - tcp_wait_consumed: every byte written on each of the n client fds has been acknowledged
 *    and read out of the server's end of its connection by the server process (one pass over
 *    the table checks them all, so waiting for hundreds costs no more than for one).
 * tcp_server_queues reads once, without waiting: the kernel queues of the server's end of the
 * client fd's connection, bytes it has to send (tx: unsent or unacknowledged) and bytes it
 * received that the server has not read (rx); -ENOENT when the table has no such row.
 */
#ifndef IOSERVE_TESTS_TCP_WATCH_H
#define IOSERVE_TESTS_TCP_WATCH_H

#include <stdint.h>

int tcp_wait_accepted(uint16_t port, int timeout_ms);
int tcp_wait_consumed(const int *client_fds, int n, int timeout_ms);
int tcp_server_queues(int client_fd, unsigned long *tx, unsigned long *rx);

#endif
