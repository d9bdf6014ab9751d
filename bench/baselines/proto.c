/* proto.c - blocking I/O helpers, the echo and ETX protocols, and the dispatch from a
 * connection to its protocol.  Contract in baseline.h.
 *
 * ETX: a client message ends with byte 0x03 and is answered with the three bytes "ack"; the message
 * "goodbye" closes the connection.  Messages may be split across reads and many may arrive in
 * one read; without --ack-delay-ms the acks for one read leave in one write, so a client that
 * pipelines messages costs one system call per read, not one per message. */
#include "baseline.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ECHO_BUFFER 16384
#define ETX_BUFFER 16384
#define ETX_END '\x03'
#define ETX_ACK "ack"
#define ETX_ACK_LEN (sizeof ETX_ACK - 1)
#define ETX_GOODBYE "goodbye"
#define ETX_GOODBYE_LEN (sizeof ETX_GOODBYE - 1)

ssize_t baseline_read(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

int baseline_write_all(int fd, const void *buf, size_t len)
{
    const char *next = buf;
    while (len > 0) {
        ssize_t n = send(fd, next, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        next += n;
        len -= (size_t)n;
    }
    return 0;
}

static void serve_echo(int fd)
{
    char buf[ECHO_BUFFER];
    ssize_t n;
    while ((n = baseline_read(fd, buf, sizeof buf)) > 0) {
        if (baseline_write_all(fd, buf, (size_t)n) != 0)
            return;
    }
}

/* The simulated work behind each ack: the thread or process sleeps, as a blocking server would. */
static void sleep_ms(unsigned ms)
{
    if (ms == 0)
        return;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000u;
    until.tv_nsec += (long)(ms % 1000u) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
}

/* A message in progress: only its length and first bytes matter, to recognise "goodbye". */
struct etx_message {
    size_t len;
    char head[ETX_GOODBYE_LEN];
};

static void etx_take(struct etx_message *msg, const char *bytes, size_t len)
{
    if (msg->len < sizeof msg->head) {
        size_t room = sizeof msg->head - msg->len;
        memcpy(msg->head + msg->len, bytes, len < room ? len : room);
    }
    msg->len += len;
}

static bool etx_is_goodbye(const struct etx_message *msg)
{
    return msg->len == ETX_GOODBYE_LEN && memcmp(msg->head, ETX_GOODBYE, ETX_GOODBYE_LEN) == 0;
}

static void serve_etx(int fd, unsigned ack_delay_ms)
{
    char in[ETX_BUFFER], out[64 * ETX_ACK_LEN];
    struct etx_message msg = {0};
    ssize_t n;
    while ((n = baseline_read(fd, in, sizeof in)) > 0) {
        size_t out_len = 0, pos = 0;
        bool goodbye = false;
        while (pos < (size_t)n && !goodbye) {
            const char *end = memchr(in + pos, ETX_END, (size_t)n - pos);
            size_t len = end != NULL ? (size_t)(end - (in + pos)) : (size_t)n - pos;
            etx_take(&msg, in + pos, len);
            pos += len;
            if (end == NULL)
                break;
            pos++;
            goodbye = etx_is_goodbye(&msg);
            msg.len = 0;
            if (goodbye)
                break;
            /* With a delay, an ack leaves as soon as its own work is done, not after the next one's. */
            if (out_len > 0 && (ack_delay_ms > 0 || out_len + ETX_ACK_LEN > sizeof out)) {
                if (baseline_write_all(fd, out, out_len) != 0)
                    return;
                out_len = 0;
            }
            sleep_ms(ack_delay_ms);
            memcpy(out + out_len, ETX_ACK, ETX_ACK_LEN);
            out_len += ETX_ACK_LEN;
        }
        if (baseline_write_all(fd, out, out_len) != 0 || goodbye)
            return;
    }
}

void baseline_serve(int fd, const struct baseline_config *cfg)
{
    /* Replies are small and complete: send them now rather than wait for the peer's ack. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    switch (cfg->protocol) {
    case BASELINE_ECHO: serve_echo(fd); break;
    case BASELINE_ETX: serve_etx(fd, cfg->ack_delay_ms); break;
    case BASELINE_HTTP: baseline_serve_http(fd); break;
    }
    close(fd);
}
