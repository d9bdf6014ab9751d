/* main.c - ioserve: parse the command line, then probe or serve until SIGINT/SIGTERM.
 * Exit status: 0 after a clean stop, 2 for a usage error, 1 when serving could not start or
 * failed. */
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llhttp.h>

#include "cli.h"
#include "http/http_builtin.h"
#include "http/http_conn.h"
#include "probe.h"
#include "proto.h"
#include "rpc/rpc_builtin.h"
#include "rpc/rpc_conn.h"
#include "sd_service.h"
#include "server.h"
#include "supervisor.h"
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
    http_app_fini(&h->app);
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
    h->files.serve_dotfiles = opt->serve_dotfiles;
    if (opt->root && (err = http_files_open(&h->files, opt->root)) < 0) {
        fprintf(stderr, "ioserve: --root %s: %s\n", opt->root, strerror(-err));
        return -1;
    }
    ws_hub_config ws_cfg = {
        .max_message = (size_t)opt->ws_max_message, /* 0: the default */
        .ping_ms = opt->ws_ping_ms ? opt->ws_ping_ms : WS_PING_NEVER,
        .inflate_ratio = (size_t)opt->ws_inflate_ratio,
        .max_inflate_per_conn = (size_t)opt->ws_max_inflate_per_conn,
        .max_inflate_memory = (size_t)opt->ws_max_inflate_memory,
        .window_bits = (unsigned)opt->ws_window_bits,
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
    if (opt->min_body_rate)
        h->app.min_body_rate = opt->min_body_rate;
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

/* What RPC needs for the server's lifetime: the methods, their workers and limits. */
struct rpc_stack {
    rpc_registry *methods;
    struct rpc_config cfg;
};

static int rpc_stack_init(struct rpc_stack *rpc, const cli_options *opt, worker_pool *workers)
{
    int err = rpc_registry_create(&rpc->methods);
    if (err == 0)
        err = rpc_builtin_methods(rpc->methods);
    if (err < 0) {
        fprintf(stderr, "ioserve: cannot set up RPC methods: %s\n", strerror(-err));
        return -1;
    }
    rpc->cfg = (struct rpc_config){
        .methods = rpc->methods,
        .workers = workers,
        .max_message = (size_t)opt->rpc_max_message, /* 0: the default */
        .max_inflight = opt->rpc_max_inflight,
    };
    return 0;
}

/* The worker pool, for the protocols that use one; -1 after saying why it failed. */
static int start_workers(const cli_options *opt, worker_pool **workers)
{
    bool wanted = opt->protocol == CLI_PROTOCOL_RPC ||
                  (opt->protocol == CLI_PROTOCOL_ETX && opt->ack_mode == CLI_ACK_WORKER);
    int err = wanted ? worker_pool_create(workers, opt->workers) : 0;
    if (err < 0) {
        fprintf(stderr, "ioserve: cannot start %u workers: %s\n", opt->workers, strerror(-err));
        return -1;
    }
    return 0;
}

/* The protocol the options ask for; -1 (after saying why) when it cannot be set up. */
static int choose_protocol(const cli_options *opt, server_config *cfg, worker_pool *workers,
                           struct etx_config *etx, struct rpc_stack *rpc, struct http_stacks *http)
{
    switch (opt->protocol) {
    case CLI_PROTOCOL_ECHO:
        cfg->proto = &echo_proto;
        return 0;
    case CLI_PROTOCOL_ETX:
        etx->ack_framed = opt->etx_ack == CLI_ETX_ACK_ETX;
        etx->ack_delay_ms = opt->ack_delay_ms;
        etx->workers = workers;
        cfg->proto = &etx_proto;
        cfg->proto_arg = etx;
        return 0;
    case CLI_PROTOCOL_RPC:
        if (rpc_stack_init(rpc, opt, workers) < 0)
            return -1;
        cfg->proto = &rpc_proto;
        cfg->proto_arg = &rpc->cfg;
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

/* workers (or NULL) post to the loops: they end after the loops stop, before the loops go.
 * process: this is a worker process of a supervisor (supervisor.h), or NULL. */
static int run_server(const server_config *cfg, worker_pool *workers, const supervisor_worker *process)
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
        if (process) {
            fprintf(stderr, "ioserve: %s; worker process %u of %u (pid %d)\n", text, process->slot + 1,
                    process->count, getpid());
            supervisor_worker_ready(process);
        } else {
            fprintf(stderr, "ioserve: %s\n", text);
            sd_service_ready(text);
        }
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

/* systemd socket activation: its listener replaces --listen; with several threads loop 0
 * accepts on it and deals the connections round-robin. */
static int take_activated_listener(server_config *cfg, int *fd)
{
    const char *why;
    int n = sd_service_listener(fd, &why);
    if (n < 0) {
        char text[128];
        fprintf(stderr, "ioserve: socket activation: %s: %s\n", why, net_strerror(n, text, sizeof(text)));
        return n;
    }
    if (n == 1) {
        cfg->listener_fds = fd;
        cfg->listener_count = 1;
        cfg->accept = SERVER_ACCEPT_DISPATCH;
    }
    return 0;
}

/* One process serving: alone, or as a worker of the supervisor (process set). */
static int serve(const cli_options *opt, const supervisor_worker *process)
{
    struct etx_config etx = {0};
    struct rpc_stack rpc = {0};
    struct http_stacks http = {0};
    worker_pool *workers = NULL;
    server_config cfg = {
        .loop = {.backend = opt->backend, .epoll_mode = opt->epoll_mode,
                 .sqpoll = opt->sqpoll ? CLI_SQPOLL_IDLE_MS : 0, .sqpoll_cpu = opt->sqpoll_cpu,
                 .cq_entries = opt->cq_entries},
        .listen = opt->listen,
        .listener_fds = process ? process->listen_fds : NULL,
        .listener_count = process ? process->listen_count : 0,
        .max_conns = opt->max_conns,
        .threads = opt->threads ? opt->threads : process ? 1 : default_threads(),
        .accept = opt->accept == CLI_ACCEPT_DISPATCH ? SERVER_ACCEPT_DISPATCH : SERVER_ACCEPT_REUSEPORT,
        .shutdown_timeout_ms = opt->shutdown_timeout_ms,
        .share_port = opt->share_port,
        .on_stopping = process ? NULL : sd_service_stopping, /* the supervisor speaks for its workers */
        .send_timeout_ms = opt->send_timeout_ms,
    };
    int activated_fd;
    if (!process && take_activated_listener(&cfg, &activated_fd) < 0)
        return 1;
    if (start_workers(opt, &workers) < 0)
        return 1;
    int status;
    if (choose_protocol(opt, &cfg, workers, &etx, &rpc, &http) < 0) {
        worker_pool_destroy(workers);
        status = 1;
    } else {
        status = run_server(&cfg, workers, process); /* it ends the workers */
    }
    http_stacks_fini(&http);
    rpc_registry_destroy(rpc.methods);
    return status;
}

static int serve_as_worker(void *arg, const supervisor_worker *process)
{
    return serve(arg, process);
}

/* --processes: every listener is opened here, once, and outlives the workers (supervisor.h):
 * one SO_REUSEPORT socket per accepting loop of each worker, the kernel spreading connections
 * over all of them as it does over --threads' listeners. */
static int open_listeners(const cli_options *opt, int *fds, unsigned count)
{
    net_addr addr = opt->listen;
    for (unsigned i = 0; i < count; i++) {
        fds[i] = net_listen(&addr, NET_REUSEPORT | (i == 0 && !opt->share_port ? NET_EXCLUSIVE : 0));
        int err = fds[i] < 0 ? fds[i] : i == 0 ? net_addr_local(fds[0], &addr) : 0; /* port 0: the one given */
        if (err < 0) {
            char text[NET_ADDR_TEXT_MAX], why[128];
            fprintf(stderr, "ioserve: cannot listen on %s: %s\n", net_addr_format(&opt->listen, text, sizeof(text)),
                    net_strerror(err, why, sizeof(why)));
            for (unsigned j = 0; j <= i; j++)
                if (fds[j] >= 0)
                    close(fds[j]);
            return -1;
        }
    }
    return 0;
}

static int supervise(const cli_options *opt)
{
    if (getenv("LISTEN_FDS")) {
        fprintf(stderr, "ioserve: socket activation: not with --processes (the supervisor opens its own "
                        "listeners); use --threads\n");
        return 1;
    }
    unsigned per_worker = opt->accept == CLI_ACCEPT_DISPATCH ? 1 : opt->threads ? opt->threads : 1;
    unsigned count = opt->processes * per_worker;
    int *fds = calloc(count, sizeof(*fds));
    if (!fds || open_listeners(opt, fds, count) < 0) {
        if (!fds)
            fprintf(stderr, "ioserve: out of memory for %u listeners\n", count);
        free(fds);
        return 1;
    }
    supervisor_config cfg = {.workers = opt->processes, .listen_fds = fds, .per_worker = per_worker,
                             .work = serve_as_worker, .arg = (void *)opt};
    int status = supervisor_run(&cfg);
    free(fds);
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
    if (opt.version) {
        printf("ioserve %s (liburing %s, llhttp %d.%d.%d)\n", IOSERVE_VERSION, IOSERVE_LIBURING_VERSION,
               LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
        return 0;
    }
    if (opt.probe)
        return probe_report(stdout) < 0 ? 1 : 0;
    if (opt.processes)
        return supervise(&opt);
    return serve(&opt, NULL);
}
