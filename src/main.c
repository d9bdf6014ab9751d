/* main.c - ioserve: parse the command line, then probe or serve until SIGINT/SIGTERM.
 * Exit status: 0 after a clean stop, 2 for a usage error, 1 when serving could not start or
 * failed. */
#include <stdio.h>

#include "cli.h"
#include "probe.h"
#include "proto.h"
#include "server.h"

/* The protocol the options ask for; -1 (after saying why) when it is not built. */
static int choose_protocol(const cli_options *opt, server_config *cfg, struct etx_config *etx)
{
    switch (opt->protocol) {
    case CLI_PROTOCOL_ECHO:
        cfg->proto = &echo_proto;
        return 0;
    case CLI_PROTOCOL_ETX:
        etx->ack_delay_ms = opt->ack_delay_ms;
        cfg->proto = &etx_proto;
        cfg->proto_arg = etx;
        return 0;
    case CLI_PROTOCOL_HTTP:
        break;
    }
    fprintf(stderr, "ioserve: --protocol %s: HTTP is not built yet; use --protocol echo or --protocol etx\n",
            cli_protocol_name(opt->protocol));
    return -1;
}

static int serve(const cli_options *opt)
{
    struct etx_config etx = {0};
    server_config cfg = {
        .loop = {.backend = opt->backend, .epoll_mode = opt->epoll_mode},
        .listen = opt->listen,
        .max_conns = opt->max_conns,
    };
    if (choose_protocol(opt, &cfg, &etx) < 0)
        return CLI_EXIT_USAGE;

    server *s;
    char text[512];
    if (server_create(&s, &cfg, text, sizeof(text)) < 0) {
        fprintf(stderr, "ioserve: %s\n", text);
        return 1;
    }
    server_describe(s, text, sizeof(text));
    fprintf(stderr, "ioserve: %s\n", text);

    int err = server_run(s);
    conn_set_stats stats = server_stats(s);
    server_destroy(s);
    if (err < 0) {
        fprintf(stderr, "ioserve: the loop failed: %s\n", net_strerror(err, text, sizeof(text)));
        return 1;
    }
    fprintf(stderr, "ioserve: stopped after %llu connections (%llu refused)\n",
            (unsigned long long)(stats.accepted + stats.rejected), (unsigned long long)stats.rejected);
    return 0;
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
