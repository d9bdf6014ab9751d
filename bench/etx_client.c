/* etx_client.c - etx-client: the ETX protocol's own client, to watch a server's concurrency.
 *
 * usage: etx-client [--wait-s S] N [ADDR:PORT]
 * N clients start together (one thread each, plain blocking sockets, as a user of the protocol
 * would write them).  Each sends 5 messages, one at a time: the message, 0x03, then it reads
 * exactly the three bytes "ack".  Then it sends "goodbye" 0x03 and waits for the server to
 * close.  Every ack is printed as it arrives, with the time since the start and its latency:
 *
 *     2001.4 ms  client 3  message 1  ack in 2001.2 ms
 *
 * so against `ioserve --protocol etx --ack-delay-ms 2000 --threads 1` all N first acks arrive
 * together after 2 s, and against bench/baselines' baseline-blocking one client after another.
 * A reply that is not "ack", data after goodbye, or S seconds without an answer (default 120)
 * fails that client.  Exit status: 0 when every client got its acks and its close, 1 when one
 * did not, 2 for a usage error.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MESSAGES 5
#define MAX_CLIENTS 1000
#define MAX_WAIT_S 3600
#define DEFAULT_WAIT_S 120
#define ACK "ack"
#define ACK_LEN 3

struct run {
    struct addrinfo *target;
    unsigned wait_s;
    struct timespec start;
};

struct client {
    const struct run *run;
    unsigned index;
    pthread_t thread;
    bool ok;
};

static double ms_since(const struct timespec *from)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - from->tv_sec) * 1e3 + (double)(now.tv_nsec - from->tv_nsec) / 1e6;
}

/* One line per event; a single printf, so lines of different clients never mix. */
static bool say_failed(const struct client *c, const char *step, const char *why)
{
    printf("%9.1f ms  client %u  %s failed: %s\n", ms_since(&c->run->start), c->index, step, why);
    return false;
}

static int connect_target(const struct run *run)
{
    const struct addrinfo *ai = run->target;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct timeval wait = {.tv_sec = run->wait_s};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof(wait));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static int send_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        text += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Up to len bytes, fewer only at end of stream: the count, or -errno (-EAGAIN: no answer
 * within the wait). */
static ssize_t read_exactly(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static const char *read_error(ssize_t n)
{
    if (n == -EAGAIN || n == -EWOULDBLOCK)
        return "no answer in time";
    return n < 0 ? strerror((int)-n) : "the server closed the connection";
}

static bool exchange(struct client *c, int fd, unsigned message)
{
    char text[64], step[32], ack[ACK_LEN];
    int len = snprintf(text, sizeof(text), "message %u from client %u\x03", message, c->index);
    snprintf(step, sizeof(step), "message %u", message);
    struct timespec sent;
    clock_gettime(CLOCK_MONOTONIC, &sent);
    int err = send_all(fd, text, (size_t)len);
    if (err < 0)
        return say_failed(c, step, strerror(-err));
    ssize_t n = read_exactly(fd, ack, sizeof(ack));
    if (n != ACK_LEN)
        return say_failed(c, step, read_error(n));
    if (memcmp(ack, ACK, ACK_LEN) != 0)
        return say_failed(c, step, "the reply is not \"ack\"");
    printf("%9.1f ms  client %u  message %u  ack in %.1f ms\n", ms_since(&c->run->start), c->index,
           message, ms_since(&sent));
    return true;
}

static bool say_goodbye(struct client *c, int fd)
{
    char extra;
    int err = send_all(fd, "goodbye\x03", 8);
    if (err < 0)
        return say_failed(c, "goodbye", strerror(-err));
    ssize_t n = read_exactly(fd, &extra, 1);
    if (n != 0)
        return say_failed(c, "goodbye", n > 0 ? "data after goodbye" : read_error(n));
    printf("%9.1f ms  client %u  goodbye: closed by the server\n", ms_since(&c->run->start), c->index);
    return true;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    int fd = connect_target(c->run);
    if (fd < 0) {
        c->ok = say_failed(c, "connect", strerror(-fd));
        return NULL;
    }
    c->ok = true;
    for (unsigned m = 1; m <= MESSAGES && c->ok; m++)
        c->ok = exchange(c, fd, m);
    c->ok = c->ok && say_goodbye(c, fd);
    close(fd);
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: etx-client [--wait-s S] N [ADDR:PORT]\n"
                 "  N clients (1..%d) each send %d ETX messages, each after the last one's ack, then goodbye;\n"
                 "  every ack is printed with its latency.  ADDR:PORT defaults to 127.0.0.1:8080,\n"
                 "  [ADDR]:PORT for IPv6.  --wait-s: the longest wait for one answer (default %d)\n",
            MAX_CLIENTS, MESSAGES, DEFAULT_WAIT_S);
}

static bool parse_count(const char *text, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || n == 0 || n > max)
        return false;
    *out = (unsigned)n;
    return true;
}

/* "ADDR:PORT" or "[ADDR6]:PORT", numeric only. */
static int resolve(const char *text, struct addrinfo **out)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (!colon)
        return EAI_NONAME;
    const char *from = text, *to = colon;
    if (text[0] == '[' && colon > text && colon[-1] == ']') {
        from = text + 1;
        to = colon - 1;
    }
    if (to <= from || (size_t)(to - from) >= sizeof(host))
        return EAI_NONAME;
    memcpy(host, from, (size_t)(to - from));
    host[to - from] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    return getaddrinfo(host, colon + 1, &hints, out);
}

static int run_clients(struct run *run, unsigned n)
{
    struct client *clients = calloc(n, sizeof(*clients));
    if (!clients) {
        fprintf(stderr, "etx-client: out of memory for %u clients\n", n);
        return 1;
    }
    unsigned started = 0, ok = 0;
    clock_gettime(CLOCK_MONOTONIC, &run->start);
    for (; started < n; started++) {
        clients[started] = (struct client){.run = run, .index = started};
        if (pthread_create(&clients[started].thread, NULL, client_main, &clients[started]) != 0) {
            fprintf(stderr, "etx-client: cannot start client %u's thread\n", started);
            break;
        }
    }
    for (unsigned i = 0; i < started; i++) {
        pthread_join(clients[i].thread, NULL);
        ok += clients[i].ok;
    }
    printf("etx-client: %u of %u clients got %d acks and their close, in %.2f s\n", ok, n, MESSAGES,
           ms_since(&run->start) / 1e3);
    free(clients);
    return ok == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct run run = {.wait_s = DEFAULT_WAIT_S};
    int arg = 1;
    if (arg < argc && (strcmp(argv[arg], "--help") == 0 || strcmp(argv[arg], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (arg + 1 < argc && strcmp(argv[arg], "--wait-s") == 0) {
        if (!parse_count(argv[arg + 1], MAX_WAIT_S, &run.wait_s)) {
            fprintf(stderr, "etx-client: --wait-s '%s': expected 1..%d\n", argv[arg + 1], MAX_WAIT_S);
            return 2;
        }
        arg += 2;
    }
    unsigned n;
    if (arg >= argc || argc - arg > 2 || !parse_count(argv[arg], MAX_CLIENTS, &n)) {
        usage(stderr);
        return 2;
    }
    const char *target = arg + 1 < argc ? argv[arg + 1] : "127.0.0.1:8080";
    int err = resolve(target, &run.target);
    if (err) {
        fprintf(stderr, "etx-client: '%s': expected ADDR:PORT or [ADDR]:PORT, numeric (%s)\n", target,
                gai_strerror(err));
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("etx-client: %u clients x %d messages to %s\n", n, MESSAGES, target);
    int status = run_clients(&run, n);
    freeaddrinfo(run.target);
    return status;
}
