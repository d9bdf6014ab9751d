/* main.c - ioserve: parse the command line, then probe or serve until SIGINT/SIGTERM.
 * Exit status: 0 after a clean stop, 2 for a usage error, 1 when serving could not start or
 * failed. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http/http_builtin.h"
#include "http/http_conn.h"
#include "probe.h"
#include "proto.h"
#include "server.h"
#include "worker_pool.h"
#include "ws/ws_bus.h"

/* What HTTP needs for the server's lifetime: routes, the document root, the shared state. */
struct http_stack {
    http_router *router;
    http_files files;
    http_app app;
    ws_builtin *ws; /* /ws and /ws/broadcast */
};

/* After the server is gone: every connection has closed. */
static void http_stack_fini(struct http_stack *h)
{
    http_files_close(&h->files);
    http_router_destroy(h->router);
    h->router = NULL;
    if (h->ws)
        ws_builtin_destroy(h->ws);
    h->ws = NULL;
}

static int http_stack_init(struct http_stack *h, const cli_options *opt)
{
    h->files.root_fd = -1;
    int err = http_router_create(&h->router);
    if (err < 0) {
        fprintf(stderr, "ioserve: cannot set up HTTP routes: %s\n", strerror(-err));
        return -1;
    }
    if (opt->root && (err = http_files_open(&h->files, opt->root)) < 0) {
        fprintf(stderr, "ioserve: --root %s: %s\n", opt->root, strerror(-err));
        return -1;
    }
    ws_hub_config ws_cfg = {
        .max_message = (size_t)opt->ws_max_message, /* 0: the default */
        .ping_ms = opt->ws_ping_ms ? opt->ws_ping_ms : WS_PING_NEVER,
    };
    err = ws_builtin_create(&h->ws, &ws_cfg);
    if (err < 0) {
        fprintf(stderr, "ioserve: cannot set up WebSocket: %s\n", strerror(-err));
        return -1;
    }
    err = http_builtin_routes(h->router, opt->root ? &h->files : NULL, h->ws);
    if (err < 0) {
        fprintf(stderr, "ioserve: cannot set up HTTP routes: %s\n", strerror(-err));
        return -1;
    }
    http_limits limits = {.max_body = opt->max_body};
    http_app_init(&h->app, h->router, &limits, opt->header_timeout_ms, opt->keepalive_timeout_ms);
    return 0;
}

/* One HTTP stack per loop: the date cache, the WebSocket hub and its groups are the loop's own;
 * only the broadcast bus, which joins the loops' /ws/broadcast groups, is shared (ws_bus.h). */
struct http_stacks {
    struct http_stack *stacks;
    void **args; /* &stacks[i].app, for server_config.proto_args */
    unsigned count;
    ws_bus *bus; /* /ws/broadcast reaches the clients of every loop (ws_bus.h) */
};

static void http_stacks_fini(struct http_stacks *hs)
{
    ws_bus_destroy(hs->bus); /* before the groups it joins */
    hs->bus = NULL;
    for (unsigned i = 0; i < hs->count; i++)
        http_stack_fini(&hs->stacks[i]);
    free(hs->stacks);
    free(hs->args);
    hs->stacks = NULL;
    hs->args = NULL;
    hs->count = 0;
}

static int http_stacks_init(struct http_stacks *hs, const cli_options *opt, unsigned n)
{
    hs->stacks = calloc(n, sizeof(*hs->stacks));
    hs->args = calloc(n, sizeof(*hs->args));
    if (!hs->stacks || !hs->args) {
        fprintf(stderr, "ioserve: out of memory for %u HTTP stacks\n", n);
        return -1;
    }
    int err = ws_bus_create(&hs->bus, n);
    if (err < 0) {
        fprintf(stderr, "ioserve: cannot set up WebSocket broadcast: %s\n", strerror(-err));
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        hs->stacks[i].files.root_fd = -1;
        hs->count = i + 1;
        if (http_stack_init(&hs->stacks[i], opt) < 0)
            return -1;
        hs->args[i] = &hs->stacks[i].app;
        ws_bus_attach(hs->bus, i, hs->stacks[i].ws->broadcast_group);
    }
    return 0;
}

/* The protocol the options ask for; -1 (after saying why) when it cannot be set up. */
static int choose_protocol(const cli_options *opt, server_config *cfg, struct etx_config *etx,
                           struct http_stacks *http)
{
    switch (opt->protocol) {
    case CLI_PROTOCOL_ECHO:
        cfg->proto = &echo_proto;
        return 0;
    case CLI_PROTOCOL_ETX:
        etx->ack_delay_ms = opt->ack_delay_ms;
        if (opt->ack_mode == CLI_ACK_WORKER) {
            int err = worker_pool_create(&etx->workers, opt->workers);
            if (err < 0) {
                fprintf(stderr, "ioserve: cannot start %u workers: %s\n", opt->workers, strerror(-err));
                return -1;
            }
        }
        cfg->proto = &etx_proto;
        cfg->proto_arg = etx;
        return 0;
    case CLI_PROTOCOL_HTTP:
        if (http_stacks_init(http, opt, cfg->threads) < 0)
            return -1;
        cfg->proto = &http_proto;
        cfg->proto_args = http->args;
        cfg->on_loop = ws_bus_set_loop;
        cfg->on_loop_arg = http->bus;
        return 0;
    }
    fprintf(stderr, "ioserve: --protocol %s: unknown\n", cli_protocol_name(opt->protocol));
    return -1;
}

/* --threads by default: the CPUs this process may run on (taskset, cgroups' cpusets). */
static unsigned default_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return 1;
    int n = CPU_COUNT(&set);
    return n < 1 ? 1 : n > (int)SERVER_MAX_THREADS ? SERVER_MAX_THREADS : (unsigned)n;
}

/* workers (or NULL) post to the loops: they end after the loops stop, before the loops go. */
static int run_server(const server_config *cfg, worker_pool *workers)
{
    server *s;
    char text[512];
    if (server_create(&s, cfg, text, sizeof(text)) < 0) {
        fprintf(stderr, "ioserve: %s\n", text);
        worker_pool_destroy(workers);
        return 1;
    }
    /* Announced only once loop 0 can serve: callers take the line to mean the server is up. */
    int started = server_start(s);
    if (started == 0) {
        server_describe(s, text, sizeof(text));
        fprintf(stderr, "ioserve: %s\n", text);
    }
    int err = server_run(s);
    conn_set_stats stats = server_stats(s);
    worker_pool_destroy(workers);
    server_destroy(s);
    if (err < 0) {
        fprintf(stderr, "ioserve: %s: %s\n", started < 0 ? "cannot start serving" : "the loop failed",
                net_strerror(err, text, sizeof(text)));
        return 1;
    }
    fprintf(stderr, "ioserve: stopped after %llu connections (%llu refused)\n",
            (unsigned long long)(stats.accepted + stats.rejected), (unsigned long long)stats.rejected);
    return 0;
}

static int serve(const cli_options *opt)
{
    struct etx_config etx = {0};
    struct http_stacks http = {0};
    server_config cfg = {
        .loop = {.backend = opt->backend, .epoll_mode = opt->epoll_mode,
                 .sqpoll = opt->sqpoll ? CLI_SQPOLL_IDLE_MS : 0, .sqpoll_cpu = opt->sqpoll_cpu,
                 .cq_entries = opt->cq_entries},
        .listen = opt->listen,
        .max_conns = opt->max_conns,
        .threads = opt->threads ? opt->threads : default_threads(),
        .accept = opt->accept == CLI_ACCEPT_DISPATCH ? SERVER_ACCEPT_DISPATCH : SERVER_ACCEPT_REUSEPORT,
        .shutdown_timeout_ms = opt->shutdown_timeout_ms,
    };
    if (choose_protocol(opt, &cfg, &etx, &http) < 0) {
        http_stacks_fini(&http);
        return 1;
    }
    int status = run_server(&cfg, etx.workers);
    http_stacks_fini(&http);
    return status;
}

int main(int argc, char **argv)
{
    cli_options opt;
    char err[256];
    if (cli_parse(argc, argv, &opt, err, sizeof(err)) < 0) {
        fprintf(stderr, "ioserve: %s (see ioserve --help)\n", err);
        return CLI_EXIT_USAGE;
    }
    if (opt.help) {
        cli_usage(stdout);
        return 0;
    }
    if (opt.probe)
        return probe_report(stdout) < 0 ? 1 : 0;
    return serve(&opt);
}
