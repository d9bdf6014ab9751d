/* net.h - socket addresses and listening sockets for the server.
 *
 * net_addr_parse() reads "ADDR:PORT" (numeric IPv4) or "[ADDR]:PORT" (numeric IPv6); on error it
 * returns -EINVAL and points *why at a sentence the CLI can print.  net_listen() returns a
 * non-blocking, close-on-exec TCP socket bound and listening (SO_REUSEADDR always, SO_REUSEPORT
 * on request so several loops can each own a listener on one port), or -errno.  With
 * NET_EXCLUSIVE too, the port is first checked to be nobody else's: SO_REUSEPORT would let a
 * second server (same user) share it silently, so an address another socket listens on is
 * -EADDRINUSE unless the caller opts in to sharing (rolling restarts).  Port 0 asks the
 * kernel for a free port: net_addr_local() then tells which one it gave.  net_strerror() words
 * an errno for the user.  net_tcp_progress_get() reads how far the peer of a TCP socket has got
 * with what was sent (two system calls: for deadlines, not per request).
 */
#ifndef IOSERVE_NET_H
#define IOSERVE_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NET_BACKLOG 4096
#define NET_ADDR_TEXT_MAX 64 /* "[" INET6_ADDRSTRLEN "]:65535" and a NUL fit */

typedef struct net_addr {
    struct sockaddr_storage ss;
    socklen_t len;
} net_addr;

#define NET_REUSEPORT 0x1u
#define NET_EXCLUSIVE 0x2u /* refuse an address that another socket already listens on */

int net_addr_parse(const char *text, net_addr *out, const char **why);
/* Write "1.2.3.4:80" or "[::1]:80" into text (NET_ADDR_TEXT_MAX bytes); returns text. */
char *net_addr_format(const net_addr *addr, char *text, size_t len);
int net_listen(const net_addr *addr, unsigned flags);
/* How far the peer has got with what was sent on a TCP socket: the bytes it acknowledged so far
 * and how long ago its last acknowledgement came (TCP_INFO), and those the kernel still holds
 * for it, unacknowledged (SIOCOUTQ).  0, or -errno (-ENOPROTOOPT from a kernel older than 4.1,
 * which does not count acknowledged bytes). */
typedef struct net_tcp_progress {
    uint64_t acked;
    uint64_t unacked;
    uint32_t last_ack_ms;
} net_tcp_progress;
int net_tcp_progress_get(int fd, net_tcp_progress *out);
/* The address a socket is bound to, or -errno. */
int net_addr_local(int fd, net_addr *out);
/* "Operation not permitted (EPERM)" for -EPERM: words and the errno's name, for messages. */
const char *net_strerror(int err, char *text, size_t len);

#endif
