/* common.c - the start-up every baseline shares: command line, signals, listener, accept,
 * detached threads.  Contract in baseline.h. */
#include "baseline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LISTEN "127.0.0.1:8080"
/* A classic pool is sized far above the core count: a worker blocked on a client is idle. */
#define DEFAULT_WORKERS 64u
#define MAX_WORKERS 4096u

static void usage(FILE *out, const struct baseline_model *model)
{
    fprintf(out, "usage: %s [--listen ADDR:PORT] [--protocol http|echo|etx]%s [--ack-delay-ms N]\n"
                 "  --listen        address to serve (default " DEFAULT_LISTEN ")\n"
                 "  --protocol      http (default), echo or etx\n"
                 "%s"
                 "  --ack-delay-ms  etx: sleep N ms before each ack (default 0)\n",
            model->name, model->takes_workers ? " [--workers N]" : "",
            model->takes_workers ? "  --workers       processes or threads serving clients (default 64)\n" : "");
}

static int parse_unsigned(const char *text, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value > max)
        return -EINVAL;
    *out = (unsigned)value;
    return 0;
}

static int parse_protocol(const char *text, enum baseline_protocol *out)
{
    static const char *const names[] = {[BASELINE_ECHO] = "echo", [BASELINE_ETX] = "etx", [BASELINE_HTTP] = "http"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = (enum baseline_protocol)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Returns 0 to run, 1 after --help, -EINVAL on a usage error (already reported). */
static int parse_args(int argc, char **argv, const struct baseline_model *model, struct baseline_config *cfg)
{
    static const struct option options[] = {
        {"listen", required_argument, NULL, 'l'},       {"protocol", required_argument, NULL, 'p'},
        {"workers", required_argument, NULL, 'w'},      {"ack-delay-ms", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},               {NULL, 0, NULL, 0},
    };
    *cfg = (struct baseline_config){.listen = DEFAULT_LISTEN, .protocol = BASELINE_HTTP, .workers = DEFAULT_WORKERS};
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        int err = 0;
        switch (opt) {
        case 'l': cfg->listen = optarg; break;
        case 'p': err = parse_protocol(optarg, &cfg->protocol); break;
        case 'w':
            err = model->takes_workers ? parse_unsigned(optarg, MAX_WORKERS, &cfg->workers) : -EINVAL;
            if (err == 0 && cfg->workers == 0)
                err = -EINVAL;
            break;
        case 'd': err = parse_unsigned(optarg, 60u * 1000u, &cfg->ack_delay_ms); break;
        case 'h': usage(stdout, model); return 1;
        default: err = -EINVAL; break;
        }
        if (err != 0) {
            if (opt == 'w' && !model->takes_workers)
                fprintf(stderr, "%s: --workers does not apply to this model\n", model->name);
            usage(stderr, model);
            return -EINVAL;
        }
    }
    if (cfg->ack_delay_ms > 0 && cfg->protocol != BASELINE_ETX)
        fprintf(stderr, "%s: --ack-delay-ms applies to --protocol etx only\n", model->name);
    if (optind != argc || (cfg->ack_delay_ms > 0 && cfg->protocol != BASELINE_ETX)) {
        usage(stderr, model);
        return -EINVAL;
    }
    return 0;
}

/* Splits "host:port" or "[host6]:port" into the two buffers. */
static int split_address(const char *text, char *host, size_t host_len, const char **port)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon[1] == '\0')
        return -EINVAL;
    const char *start = text, *stop = colon;
    if (text[0] == '[') {
        if (colon == text || colon[-1] != ']')
            return -EINVAL;
        start = text + 1;
        stop = colon - 1;
    }
    size_t len = (size_t)(stop - start);
    if (len == 0 || len >= host_len)
        return -EINVAL;
    memcpy(host, start, len);
    host[len] = '\0';
    *port = colon + 1;
    return 0;
}

static int open_listener(const char *address)
{
    char host[INET6_ADDRSTRLEN + 8];
    const char *port;
    if (split_address(address, host, sizeof host, &port) != 0)
        return -EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *found;
    if (getaddrinfo(host, port, &hints, &found) != 0)
        return -EADDRNOTAVAIL;
    int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1, err = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0)
        err = -errno;
    freeaddrinfo(found);
    if (err != 0) {
        if (fd >= 0)
            close(fd);
        return err;
    }
    return fd;
}

static void describe_listener(int fd, char *out, size_t len)
{
    struct sockaddr_storage addr = {0};
    socklen_t addr_len = sizeof addr;
    char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
    if (getsockname(fd, (struct sockaddr *)&addr, &addr_len) == 0)
        getnameinfo((struct sockaddr *)&addr, addr_len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    bool v6 = addr.ss_family == AF_INET6;
    snprintf(out, len, "%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* The handler touches no state: _exit is async-signal-safe and the kernel closes every fd. */
static void exit_cleanly(int signo)
{
    (void)signo;
    _exit(0);
}

static int install_signals(void)
{
    struct sigaction ignore = {.sa_handler = SIG_IGN}, stop = {.sa_handler = exit_cleanly};
    sigemptyset(&ignore.sa_mask);
    sigemptyset(&stop.sa_mask);
    if (sigaction(SIGPIPE, &ignore, NULL) != 0 || sigaction(SIGINT, &stop, NULL) != 0 ||
        sigaction(SIGTERM, &stop, NULL) != 0)
        return -errno;
    return 0;
}

int baseline_start(int argc, char **argv, const struct baseline_model *model,
                   struct baseline_config *cfg, int *exit_status)
{
    int parsed = parse_args(argc, argv, model, cfg);
    if (parsed != 0) {
        *exit_status = parsed > 0 ? 0 : 2;
        return -1;
    }
    *exit_status = 1;
    int err = install_signals();
    if (err != 0) {
        fprintf(stderr, "%s: sigaction: %s\n", model->name, strerror(-err));
        return -1;
    }
    int fd = open_listener(cfg->listen);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot listen on %s: %s\n", model->name, cfg->listen, strerror(-fd));
        return -1;
    }
    static const char *const protocols[] = {"echo", "etx", "http"};
    char bound[INET6_ADDRSTRLEN + 16];
    describe_listener(fd, bound, sizeof bound);
    if (model->takes_workers)
        fprintf(stderr, "%s: listening on %s (%s, %u workers)\n", model->name, bound, protocols[cfg->protocol], cfg->workers);
    else
        fprintf(stderr, "%s: listening on %s (%s)\n", model->name, bound, protocols[cfg->protocol]);
    return fd;
}

int baseline_accept(int listen_fd)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            return fd;
        switch (errno) {
        /* accept(2): a failure of the client's connection, not of the listener. */
        case EINTR: case ECONNABORTED: case EPROTO: case EPERM: case ENETDOWN: case ENOPROTOOPT:
        case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
            continue;
        case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM: {
            /* Out of resources: give running connections a moment to finish instead of spinning. */
            struct timespec pause = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
            continue;
        }
        default:
            return -errno;
        }
    }
}

int baseline_spawn_detached(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    int err = pthread_attr_init(&attr);
    if (err != 0)
        return -err;
    err = pthread_attr_setstacksize(&attr, BASELINE_THREAD_STACK);
    if (err == 0)
        err = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    if (err == 0)
        err = pthread_create(&thread, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return -err;
}
