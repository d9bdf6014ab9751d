/* hold.c - many connections held, each answered once, then sparse requests (hold.h).
 *
 * One thread, one level-triggered epoll over every connection: the work is waiting, not
 * sending, and a connection's state is its parser, its send time and two flags.
 */
#include "hold.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fd_limit.h"
#include "histogram.h"
#include "idle.h"
#include "proto.h"
#include "target.h"

#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull
#define CONNECT_WINDOW 1024 /* connects in progress at once: the listen backlog never overflows */
#define SPARE_FDS 64
#define EVENT_BATCH 256
#define WAIT_SLICE_MS 100

struct held {
    union proto_state state;
    uint64_t sent_ns;
    bool waiting; /* a request is out, its answer not complete */
    bool dead;    /* closed by the server, reset, or answered wrongly */
};

struct hold {
    const struct options *o;
    struct target target;
    struct proto proto;
    struct idle_conns conns;
    struct held *held;
    int ep;
    struct histogram *latency; /* sparse requests only */
    uint64_t waiting;          /* requests out now */
    uint64_t sent, answered, errors;
    uint64_t lost; /* connections the server closed, counted at the end */
};

/* Kernel memory: slab objects in use (-1: /proc/slabinfo unreadable) and TCP buffer pages. */
struct kernel_mem {
    long long slab;
    long long tcp;
};

static uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Resident bytes of process pid (VmRSS), or -1. */
static long long rss_of(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static struct kernel_mem kernel_memory(void)
{
    struct kernel_mem m = {.slab = -1, .tcp = -1};
    char line[512];
    FILE *f = fopen("/proc/slabinfo", "r");
    if (f) {
        m.slab = 0;
        while (fgets(line, sizeof(line), f)) {
            char name[128];
            long long active, total, size;
            if (sscanf(line, "%127s %lld %lld %lld", name, &active, &total, &size) == 4)
                m.slab += active * size;
        }
        fclose(f);
    }
    f = fopen("/proc/net/sockstat", "r");
    while (f && fgets(line, sizeof(line), f)) {
        const char *mem = strncmp(line, "TCP:", 4) == 0 ? strstr(line, " mem ") : NULL;
        long long pages;
        if (mem && sscanf(mem, " mem %lld", &pages) == 1)
            m.tcp = pages * sysconf(_SC_PAGESIZE);
    }
    if (f)
        fclose(f);
    return m;
}

static void conn_dies(struct hold *h, struct held *c)
{
    if (c->dead)
        return;
    c->dead = true;
    if (c->waiting) {
        c->waiting = false;
        h->waiting--;
        h->errors++;
    }
}

static void send_request(struct hold *h, uint64_t i, uint64_t now)
{
    struct held *c = &h->held[i];
    if (c->dead)
        return;
    if (c->waiting) { /* the previous answer is late: this turn is lost, not queued */
        h->errors++;
        return;
    }
    ssize_t n = send(h->conns.fds[i], h->proto.request, h->proto.request_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != (ssize_t)h->proto.request_len) { /* 40 bytes to an idle socket: all, or a dead stream */
        conn_dies(h, c);
        return;
    }
    c->waiting = true;
    c->sent_ns = now;
    h->waiting++;
    h->sent++;
}

static void take_bytes(struct hold *h, uint64_t i, bool timed)
{
    struct held *c = &h->held[i];
    uint8_t buf[16384];
    ssize_t n = recv(h->conns.fds[i], buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0 || c->dead) {
        conn_dies(h, c);
        return;
    }
    struct proto_result r = {0};
    proto_parse(&h->proto, &c->state, buf, (size_t)n, &r);
    if (r.fault != PROTO_FAULT_NONE || r.answers > (c->waiting ? 1u : 0u)) {
        conn_dies(h, c); /* an answer nobody asked for, or a wrong one */
        return;
    }
    if (r.answers) {
        c->waiting = false;
        h->waiting--;
        h->answered++;
        if (timed)
            histogram_record(h->latency, clock_ns() - c->sent_ns);
    }
}

/* One epoll wait of at most timeout_ms and what it reports. */
static int pump(struct hold *h, int timeout_ms, bool timed)
{
    struct epoll_event events[EVENT_BATCH];
    int n = epoll_wait(h->ep, events, EVENT_BATCH, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int k = 0; k < n; k++)
        take_bytes(h, events[k].data.u64, timed);
    return 0;
}

/* Until every request out is answered, or timeout_ms without progress: those left count as
 * errors (timeouts). */
static int drain(struct hold *h, bool timed)
{
    uint64_t end = clock_ns() + (uint64_t)h->o->timeout_ms * NS_PER_MS;
    while (h->waiting && clock_ns() < end) {
        uint64_t before = h->waiting;
        int rc = pump(h, WAIT_SLICE_MS, timed);
        if (rc < 0)
            return rc;
        if (h->waiting < before)
            end = clock_ns() + (uint64_t)h->o->timeout_ms * NS_PER_MS;
    }
    h->errors += h->waiting;
    for (uint64_t i = 0; i < h->conns.count; i++)
        h->held[i].waiting = false;
    h->waiting = 0;
    return 0;
}

/* Connection i's k-th sparse request is due at start + (k * N + i) * every / N. */
static int sparse_phase(struct hold *h)
{
    const struct options *o = h->o;
    uint64_t n = h->conns.count;
    double period_ns = o->every_s * 1e9;
    uint64_t start = clock_ns();
    uint64_t end = start + (uint64_t)(o->duration_s * 1e9);
    uint64_t turn = 0;
    for (;;) {
        uint64_t now = clock_ns();
        if (now >= end)
            break;
        uint64_t due;
        while ((due = start + (uint64_t)((double)turn * period_ns / (double)n)) <= now && due < end)
            send_request(h, turn++ % n, now);
        uint64_t wake = due < end ? due : end;
        uint64_t wait_ms = (wake - now + NS_PER_MS - 1) / NS_PER_MS;
        int rc = pump(h, (int)(wait_ms < WAIT_SLICE_MS ? wait_ms : WAIT_SLICE_MS), true);
        if (rc < 0)
            return rc;
    }
    return drain(h, true);
}

static void print_bytes_json(const char *name, long long before, long long after, uint64_t n, bool last)
{
    if (before < 0 || after < 0)
        printf("\"%s\":null%s", name, last ? "" : ",");
    else
        printf("\"%s\":{\"before\":%lld,\"after\":%lld,\"per_conn\":%.0f}%s", name, before, after,
               (double)(after - before) / (double)n, last ? "" : ",");
}

static void print_bytes_text(const char *name, long long before, long long after, uint64_t n)
{
    if (before < 0 || after < 0)
        printf("  %-8s not readable\n", name);
    else
        printf("  %-8s %.1f -> %.1f MiB: %.0f bytes per connection\n", name, (double)before / 1048576.0,
               (double)after / 1048576.0, (double)(after - before) / (double)n);
}

struct hold_result {
    double connect_s, first_s;
    uint64_t first_answered, first_errors;
    long long rss_before, rss_after;
    struct kernel_mem k_before, k_after;
};

static void report(const struct hold *h, const struct hold_result *r)
{
    const struct options *o = h->o;
    uint64_t n = h->conns.count;
    double pct[4] = {0};
    const double at[4] = {50, 99, 99.9, 100};
    for (int i = 0; i < 4; i++)
        pct[i] = (double)histogram_percentile(h->latency, at[i]) / 1e3;
    if (o->json) {
        printf("{\"mode\":\"hold\",\"protocol\":\"%s\",\"target\":\"%s\",\"connections\":%llu,"
               "\"first_source\":%llu,\"connect_s\":%.3f,\"first_requests\":{\"seconds\":%.3f,"
               "\"answered\":%llu,\"errors\":%llu},",
               proto_name(o->protocol), o->target, (unsigned long long)n, (unsigned long long)o->first_source,
               r->connect_s, r->first_s, (unsigned long long)r->first_answered,
               (unsigned long long)r->first_errors);
        printf("\"server_pid\":%d,", o->server_pid);
        print_bytes_json("server_rss", r->rss_before, r->rss_after, n, false);
        print_bytes_json("kernel_slab", r->k_before.slab, r->k_after.slab, n, false);
        print_bytes_json("kernel_tcp_buffers", r->k_before.tcp, r->k_after.tcp, n, false);
        printf("\"sparse\":{\"every_s\":%g,\"seconds\":%g,\"sent\":%llu,\"answered\":%llu,\"errors\":%llu,"
               "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p99_9\":%.1f,\"max\":%.1f}},\"lost\":%llu}\n",
               o->every_s, o->every_s > 0 ? o->duration_s : 0.0, (unsigned long long)h->sent,
               (unsigned long long)h->answered, (unsigned long long)h->errors, pct[0], pct[1], pct[2], pct[3],
               (unsigned long long)h->lost);
        return;
    }
    printf("ioload: held %llu %s connections to %s (source %llu on)\n", (unsigned long long)n,
           proto_name(o->protocol), o->target, (unsigned long long)o->first_source);
    printf("  connected in %.2f s; first requests answered in %.2f s (%llu answered, %llu errors)\n",
           r->connect_s, r->first_s, (unsigned long long)r->first_answered, (unsigned long long)r->first_errors);
    if (o->server_pid)
        print_bytes_text("server", r->rss_before, r->rss_after, n);
    print_bytes_text("slab", r->k_before.slab, r->k_after.slab, n);
    print_bytes_text("tcp-buf", r->k_before.tcp, r->k_after.tcp, n);
    if (o->every_s > 0)
        printf("  sparse: every %g s for %g s: %llu sent, %llu answered, %llu errors; latency p50 %.0f us, "
               "p99 %.0f us, p99.9 %.0f us, max %.0f us\n", o->every_s, o->duration_s,
               (unsigned long long)h->sent, (unsigned long long)h->answered, (unsigned long long)h->errors,
               pct[0], pct[1], pct[2], pct[3]);
    printf("  lost (closed by the server): %llu\n", (unsigned long long)h->lost);
}

/* 0 with *first the index of the first connection's source slot, or -errno with err set. */
static int hold_prepare(struct hold *h, uint64_t *first, char *err, size_t err_len)
{
    const struct options *o = h->o;
    if (target_resolve(&h->target, o->target, err, err_len) < 0)
        return -EINVAL;
    /* Planned as if the sources before --first-source were taken too, so they are skipped. */
    uint64_t per_source = o->per_source;
    if (target_plan_sources(&h->target, 1, per_source, err, err_len) < 0)
        return -EINVAL;
    *first = o->first_source * h->target.per_source;
    if (target_plan_sources(&h->target, *first + o->hold, per_source, err, err_len) < 0)
        return -EINVAL;
    struct proto_config config = {.kind = o->protocol, .host = o->host_header, .path = o->path,
                                  .size = o->size, .etx_reply = o->etx_reply,
                                  .etx_reply_len = o->etx_reply_len, .rpc_method = o->rpc_method,
                                  .rpc_sleep_ms = o->rpc_sleep_ms};
    h->held = calloc(o->hold, sizeof(*h->held));
    h->latency = malloc(sizeof(*h->latency));
    if (proto_init(&h->proto, &config) < 0 || !h->held || !h->latency) {
        snprintf(err, err_len, "out of memory for %llu connections", (unsigned long long)o->hold);
        return -ENOMEM;
    }
    histogram_reset(h->latency);
    if (fd_limit_raise(o->hold + SPARE_FDS, stderr, err, err_len) < 0)
        return -EMFILE;
    int rc = target_probe(&h->target, o->timeout_ms);
    if (rc < 0) {
        snprintf(err, err_len, "cannot connect to %s: %s", o->target, strerror(-rc));
        return rc;
    }
    h->ep = epoll_create1(EPOLL_CLOEXEC);
    if (h->ep < 0) {
        snprintf(err, err_len, "epoll_create1: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

static int hold_connect(struct hold *h, uint64_t first, char *err, size_t err_len)
{
    int rc = idle_open(&h->conns, &h->target, first, h->o->hold, CONNECT_WINDOW, h->o->timeout_ms, err, err_len);
    for (uint64_t i = 0; rc == 0 && i < h->conns.count; i++) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = i};
        proto_reset(&h->proto, &h->held[i].state);
        if (epoll_ctl(h->ep, EPOLL_CTL_ADD, h->conns.fds[i], &ev) < 0) {
            rc = -errno;
            snprintf(err, err_len, "epoll_ctl: %s", strerror(errno));
        }
    }
    return rc;
}

int hold_run(const struct options *o)
{
    struct hold h = {.o = o, .ep = -1};
    struct hold_result r = {0};
    char err[512];
    uint64_t first = 0;
    int rc = hold_prepare(&h, &first, err, sizeof(err));
    r.rss_before = o->server_pid ? rss_of(o->server_pid) : -1;
    r.k_before = kernel_memory();
    uint64_t t0 = clock_ns();
    if (rc == 0)
        rc = hold_connect(&h, first, err, sizeof(err));
    uint64_t t1 = clock_ns();
    for (uint64_t i = 0; rc == 0 && i < h.conns.count; i++)
        send_request(&h, i, t1);
    if (rc == 0 && (rc = drain(&h, false)) < 0)
        snprintf(err, sizeof(err), "epoll_wait: %s", strerror(-rc));
    uint64_t t2 = clock_ns();
    if (rc == 0) {
        r.connect_s = (double)(t1 - t0) / 1e9;
        r.first_s = (double)(t2 - t1) / 1e9;
        r.first_answered = h.answered;
        r.first_errors = h.errors;
        r.rss_after = o->server_pid ? rss_of(o->server_pid) : -1;
        r.k_after = kernel_memory();
        h.sent = h.answered = h.errors = 0;
        if (o->every_s > 0 && (rc = sparse_phase(&h)) < 0)
            snprintf(err, sizeof(err), "epoll_wait: %s", strerror(-rc));
    }
    if (rc == 0) {
        h.lost = idle_lost(&h.conns); /* closed by the server, now or earlier */
        report(&h, &r);
    }
    else
        fprintf(stderr, "ioload: %s\n", err);
    idle_close(&h.conns);
    if (h.ep >= 0)
        close(h.ep);
    free(h.held);
    free(h.latency);
    proto_free(&h.proto);
    return rc == 0 ? 0 : 1;
}
