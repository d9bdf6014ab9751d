/* cli.c - parse and explain the command line (cli.h). */
#include "cli.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#include "ws/websocket.h"

struct choice {
    const char *word;
    int value;
};

static const struct choice backends[] = {
    {"auto", IO_BACKEND_AUTO}, {"uring", IO_BACKEND_URING}, {"epoll", IO_BACKEND_EPOLL},
    {"poll", IO_BACKEND_POLL}, {"select", IO_BACKEND_SELECT}, {NULL, 0}};
static const struct choice epoll_modes[] = {{"lt", IO_EPOLL_LT}, {"et", IO_EPOLL_ET}, {NULL, 0}};
static const struct choice accept_modes[] = {
    {"reuseport", CLI_ACCEPT_REUSEPORT}, {"dispatch", CLI_ACCEPT_DISPATCH}, {NULL, 0}};
static const struct choice ack_modes[] = {{"timer", CLI_ACK_TIMER}, {"worker", CLI_ACK_WORKER}, {NULL, 0}};
static const struct choice etx_acks[] = {{"ack", CLI_ETX_ACK}, {"ack-etx", CLI_ETX_ACK_ETX}, {NULL, 0}};
static const struct choice protocols[] = {
    {"http", CLI_PROTOCOL_HTTP}, {"echo", CLI_PROTOCOL_ECHO}, {"etx", CLI_PROTOCOL_ETX},
    {"rpc", CLI_PROTOCOL_RPC}, {NULL, 0}};

/* What the parse has seen so far, to check the flags against each other at the end. */
struct parse {
    cli_options *out;
    bool epoll_mode_given;
    bool ack_delay_given;
    bool ack_mode_given;
    bool etx_ack_given;
    bool workers_given;
    bool listen_given;
    const char *http_flag_given; /* the last http-only flag seen, to refuse it for echo/etx */
    const char *rpc_flag_given;  /* the same for the rpc-only flags */
    char *err;
    size_t err_len;
};

static int bad(struct parse *p, const char *flag, const char *value, const char *why)
{
    if (value)
        snprintf(p->err, p->err_len, "%s '%s': %s", flag, value, why);
    else
        snprintf(p->err, p->err_len, "%s: %s", flag, why);
    return -EINVAL;
}

static int pick(struct parse *p, const char *flag, const char *value, const struct choice *choices, int *out)
{
    for (const struct choice *c = choices; c->word; c++) {
        if (strcmp(c->word, value) == 0) {
            *out = c->value;
            return 0;
        }
    }
    char expected[64] = "expected one of:";
    for (const struct choice *c = choices; c->word; c++) {
        strncat(expected, " ", sizeof(expected) - strlen(expected) - 1);
        strncat(expected, c->word, sizeof(expected) - strlen(expected) - 1);
    }
    return bad(p, flag, value, expected);
}

/* A decimal number in 0..max, digits only. */
static int number(struct parse *p, const char *flag, const char *value, uint64_t max, uint64_t *out)
{
    uint64_t n = 0;
    if (!*value)
        return bad(p, flag, value, "expected a number");
    for (const char *c = value; *c; c++) {
        if (*c < '0' || *c > '9')
            return bad(p, flag, value, "expected a whole number (digits only)");
        if (n > (max - (uint64_t)(*c - '0')) / 10) {
            char why[64];
            snprintf(why, sizeof(why), "the largest allowed is %llu", (unsigned long long)max);
            return bad(p, flag, value, why);
        }
        n = n * 10 + (uint64_t)(*c - '0');
    }
    *out = n;
    return 0;
}

static int take_value(struct parse *p, const char *flag, const char *value)
{
    cli_options *o = p->out;
    int choice;
    uint64_t n;
    int err;
    if (strcmp(flag, "--listen") == 0) {
        const char *why;
        if (p->listen_given) /* silently serving only the last one would hide the others' absence */
            return bad(p, flag, value, "given twice: one ioserve serves one address");
        p->listen_given = true;
        return net_addr_parse(value, &o->listen, &why) < 0 ? bad(p, flag, value, why) : 0;
    }
    if (strcmp(flag, "--backend") == 0) {
        err = pick(p, flag, value, backends, &choice);
        o->backend = (enum io_backend_kind)choice;
        return err;
    }
    if (strcmp(flag, "--epoll-mode") == 0) {
        err = pick(p, flag, value, epoll_modes, &choice);
        o->epoll_mode = (enum io_epoll_mode)choice;
        p->epoll_mode_given = true;
        return err;
    }
    if (strcmp(flag, "--protocol") == 0) {
        err = pick(p, flag, value, protocols, &choice);
        o->protocol = (enum cli_protocol)choice;
        return err;
    }
    if (strcmp(flag, "--ack-delay-ms") == 0) {
        err = number(p, flag, value, CLI_MAX_ACK_DELAY_MS, &n);
        o->ack_delay_ms = n;
        p->ack_delay_given = true;
        return err;
    }
    if (strcmp(flag, "--root") == 0) {
        if (!*value)
            return bad(p, flag, value, "expected a directory");
        o->root = value;
        p->http_flag_given = "--root";
        return 0;
    }
    if (strcmp(flag, "--max-body") == 0) {
        p->http_flag_given = "--max-body";
        err = number(p, flag, value, CLI_MAX_BODY, &o->max_body);
        return err;
    }
    if (strcmp(flag, "--header-timeout-ms") == 0) {
        p->http_flag_given = "--header-timeout-ms";
        return number(p, flag, value, CLI_MAX_TIMEOUT_MS, &o->header_timeout_ms);
    }
    if (strcmp(flag, "--min-body-rate") == 0) {
        p->http_flag_given = "--min-body-rate";
        err = number(p, flag, value, CLI_MAX_BODY, &o->min_body_rate);
        if (err == 0 && o->min_body_rate == 0)
            return bad(p, flag, value, "at least 1 byte a second");
        return err;
    }
    if (strcmp(flag, "--keepalive-timeout-ms") == 0) {
        p->http_flag_given = "--keepalive-timeout-ms";
        return number(p, flag, value, CLI_MAX_TIMEOUT_MS, &o->keepalive_timeout_ms);
    }
    if (strcmp(flag, "--ws-max-message") == 0) {
        p->http_flag_given = "--ws-max-message";
        return number(p, flag, value, CLI_MAX_WS_MESSAGE, &o->ws_max_message);
    }
    if (strcmp(flag, "--ws-ping-ms") == 0) {
        p->http_flag_given = "--ws-ping-ms";
        return number(p, flag, value, CLI_MAX_TIMEOUT_MS, &o->ws_ping_ms);
    }
    if (strcmp(flag, "--rpc-max-message") == 0) {
        p->rpc_flag_given = "--rpc-max-message";
        err = number(p, flag, value, CLI_MAX_RPC_MESSAGE, &o->rpc_max_message);
        if (err == 0 && o->rpc_max_message == 0)
            return bad(p, flag, value, "at least 1 byte");
        return err;
    }
    if (strcmp(flag, "--rpc-max-inflight") == 0) {
        p->rpc_flag_given = "--rpc-max-inflight";
        err = number(p, flag, value, CLI_MAX_RPC_INFLIGHT, &n);
        if (err == 0 && n == 0)
            return bad(p, flag, value, "at least 1");
        o->rpc_max_inflight = (uint32_t)n;
        return err;
    }
    if (strcmp(flag, "--ws-inflate-ratio") == 0) {
        p->http_flag_given = "--ws-inflate-ratio";
        return number(p, flag, value, CLI_MAX_WS_INFLATE_RATIO, &o->ws_inflate_ratio);
    }
    if (strcmp(flag, "--ws-max-inflate-per-conn") == 0) {
        p->http_flag_given = "--ws-max-inflate-per-conn";
        return number(p, flag, value, CLI_MAX_WS_INFLATE_MEMORY, &o->ws_max_inflate_per_conn);
    }
    if (strcmp(flag, "--ws-max-inflate-memory") == 0) {
        p->http_flag_given = "--ws-max-inflate-memory";
        return number(p, flag, value, CLI_MAX_WS_INFLATE_MEMORY, &o->ws_max_inflate_memory);
    }
    if (strcmp(flag, "--ws-window-bits") == 0) {
        p->http_flag_given = "--ws-window-bits";
        err = number(p, flag, value, WS_WINDOW_BITS_MAX, &o->ws_window_bits);
        if (err == 0 && o->ws_window_bits < WS_WINDOW_BITS_MIN)
            return bad(p, flag, value, "at least 9 (zlib compresses with no smaller window)");
        return err;
    }
    if (strcmp(flag, "--ack-mode") == 0) {
        err = pick(p, flag, value, ack_modes, &choice);
        o->ack_mode = (enum cli_ack_mode)choice;
        p->ack_mode_given = true;
        return err;
    }
    if (strcmp(flag, "--etx-ack") == 0) {
        err = pick(p, flag, value, etx_acks, &choice);
        o->etx_ack = (enum cli_etx_ack)choice;
        p->etx_ack_given = true;
        return err;
    }
    if (strcmp(flag, "--workers") == 0) {
        err = number(p, flag, value, CLI_MAX_THREADS, &n);
        if (err == 0 && n == 0)
            return bad(p, flag, value, "at least one worker");
        o->workers = (uint32_t)n;
        p->workers_given = true;
        return err;
    }
    if (strcmp(flag, "--accept") == 0) {
        err = pick(p, flag, value, accept_modes, &choice);
        o->accept = (enum cli_accept)choice;
        return err;
    }
    if (strcmp(flag, "--threads") == 0) {
        err = number(p, flag, value, CLI_MAX_THREADS, &n);
        if (err == 0 && n == 0)
            return bad(p, flag, value, "at least one thread");
        o->threads = (uint32_t)n;
        return err;
    }
    if (strcmp(flag, "--processes") == 0) {
        err = number(p, flag, value, CLI_MAX_PROCESSES, &n);
        if (err == 0 && n == 0)
            return bad(p, flag, value, "at least one process");
        o->processes = (uint32_t)n;
        return err;
    }
    if (strcmp(flag, "--shutdown-timeout-ms") == 0) {
        err = number(p, flag, value, CLI_MAX_TIMEOUT_MS, &o->shutdown_timeout_ms);
        if (err == 0 && o->shutdown_timeout_ms == 0)
            return bad(p, flag, value, "at least 1 ms");
        return err;
    }
    if (strcmp(flag, "--send-timeout-ms") == 0) {
        err = number(p, flag, value, CLI_MAX_TIMEOUT_MS, &o->send_timeout_ms);
        if (err == 0 && o->send_timeout_ms == 0)
            return bad(p, flag, value, "at least 1 ms");
        return err;
    }
    if (strcmp(flag, "--sqpoll-cpu") == 0) {
        err = number(p, flag, value, CPU_SETSIZE - 1, &n);
        o->sqpoll_cpu = (int)n + 1;
        return err;
    }
    if (strcmp(flag, "--cq-entries") == 0) {
        err = number(p, flag, value, CLI_MAX_CQ_ENTRIES, &n);
        if (err == 0 && n == 0)
            return bad(p, flag, value, "at least one entry");
        o->cq_entries = (uint32_t)n;
        return err;
    }
    if (strcmp(flag, "--max-conns") == 0) {
        err = number(p, flag, value, UINT32_MAX, &n);
        o->max_conns = (uint32_t)n;
        return err;
    }
    return bad(p, flag, NULL, "unknown option");
}

static bool takes_value(const char *flag)
{
    static const char *const flags[] = {"--listen", "--backend", "--epoll-mode", "--protocol",
                                        "--ack-delay-ms", "--max-conns", "--root", "--max-body",
                                        "--header-timeout-ms", "--keepalive-timeout-ms",
                                        "--ws-max-message", "--ws-ping-ms", "--ws-inflate-ratio",
                                        "--ws-max-inflate-per-conn", "--ws-max-inflate-memory",
                                        "--ws-window-bits", "--threads", "--accept", "--processes",
                                        "--ack-mode", "--etx-ack", "--workers", "--rpc-max-message",
                                        "--rpc-max-inflight",
                                        "--shutdown-timeout-ms", "--sqpoll-cpu", "--cq-entries",
                                        "--send-timeout-ms", "--min-body-rate", NULL};
    for (const char *const *f = flags; *f; f++)
        if (strcmp(*f, flag) == 0)
            return true;
    return false;
}

static int take_switch(struct parse *p, const char *flag)
{
    if (strcmp(flag, "--probe") == 0)
        p->out->probe = true;
    else if (strcmp(flag, "--sqpoll") == 0)
        p->out->sqpoll = true;
    else if (strcmp(flag, "--reuseport-share") == 0)
        p->out->share_port = true;
    else if (strcmp(flag, "--version") == 0)
        p->out->version = true;
    else if (strcmp(flag, "--serve-dotfiles") == 0) {
        p->out->serve_dotfiles = true;
        p->http_flag_given = "--serve-dotfiles";
    } else if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0)
        p->out->help = true;
    else if (flag[0] == '-')
        return bad(p, flag, NULL, "unknown option");
    else
        return bad(p, flag, NULL, "unexpected argument (options start with --)");
    return 0;
}

/* One argument, and the next one when it is this flag's value; returns arguments used. */
static int take_arg(struct parse *p, char *arg, char *next)
{
    char flag[32];
    const char *eq = strchr(arg, '=');
    size_t flag_len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (flag_len >= sizeof(flag))
        return bad(p, arg, NULL, arg[0] == '-' ? "unknown option" : "unexpected argument");
    memcpy(flag, arg, flag_len);
    flag[flag_len] = '\0';
    if (!takes_value(flag)) {
        if (eq && flag[0] == '-') /* a switch given a value; an unknown flag is refused as such */
            return take_switch(p, flag) < 0 ? -EINVAL : bad(p, flag, NULL, "takes no value");
        return take_switch(p, eq ? arg : flag) < 0 ? -EINVAL : 1;
    }
    if (eq)
        return take_value(p, flag, eq + 1) < 0 ? -EINVAL : 1;
    if (!next)
        return bad(p, flag, NULL, "needs a value");
    return take_value(p, flag, next) < 0 ? -EINVAL : 2;
}

static int check_together(struct parse *p)
{
    const cli_options *o = p->out;
    if (p->epoll_mode_given && o->backend != IO_BACKEND_EPOLL && o->backend != IO_BACKEND_AUTO)
        return bad(p, "--epoll-mode", NULL, "applies to the epoll backend (--backend epoll or auto) only");
    if (o->sqpoll_cpu && !o->sqpoll)
        return bad(p, "--sqpoll-cpu", NULL, "applies with --sqpoll only");
    if (o->cq_entries && o->backend != IO_BACKEND_URING && o->backend != IO_BACKEND_AUTO)
        return bad(p, "--cq-entries", NULL, "applies to the io_uring backend (--backend uring or auto) only");
    if (o->sqpoll && o->backend != IO_BACKEND_URING && o->backend != IO_BACKEND_AUTO)
        return bad(p, "--sqpoll", NULL, "applies to the io_uring backend (--backend uring or auto) only");
    if (p->ack_delay_given && o->protocol != CLI_PROTOCOL_ETX)
        return bad(p, "--ack-delay-ms", NULL, "applies to --protocol etx only");
    if (p->ack_mode_given && o->protocol != CLI_PROTOCOL_ETX)
        return bad(p, "--ack-mode", NULL, "applies to --protocol etx only");
    if (p->etx_ack_given && o->protocol != CLI_PROTOCOL_ETX)
        return bad(p, "--etx-ack", NULL, "applies to --protocol etx only");
    if (p->workers_given && o->ack_mode != CLI_ACK_WORKER && o->protocol != CLI_PROTOCOL_RPC)
        return bad(p, "--workers", NULL, "applies to --ack-mode worker and --protocol rpc only");
    if (p->rpc_flag_given && o->protocol != CLI_PROTOCOL_RPC)
        return bad(p, p->rpc_flag_given, NULL, "applies to --protocol rpc only");
    if (p->http_flag_given && o->protocol != CLI_PROTOCOL_HTTP)
        return bad(p, p->http_flag_given, NULL, "applies to --protocol http only");
    return 0;
}

int cli_parse(int argc, char **argv, cli_options *out, char *err, size_t err_len)
{
    struct parse p = {.out = out, .err = err, .err_len = err_len};
    memset(out, 0, sizeof(*out));
    out->backend = IO_BACKEND_AUTO;
    out->epoll_mode = IO_EPOLL_LT;
    out->protocol = CLI_PROTOCOL_HTTP;
    out->ws_ping_ms = CLI_DEFAULT_WS_PING_MS;
    out->shutdown_timeout_ms = CLI_DEFAULT_SHUTDOWN_TIMEOUT_MS;
    out->workers = CLI_DEFAULT_WORKERS;
    net_addr_parse(CLI_DEFAULT_LISTEN, &out->listen, NULL);
    err[0] = '\0';
    for (int i = 1; i < argc;) {
        int used = take_arg(&p, argv[i], i + 1 < argc ? argv[i + 1] : NULL);
        if (used < 0)
            return used;
        i += used;
    }
    return check_together(&p);
}

const char *cli_protocol_name(enum cli_protocol protocol)
{
    for (const struct choice *c = protocols; c->word; c++)
        if (c->value == (int)protocol)
            return c->word;
    return "?";
}

void cli_usage(FILE *out)
{
    fputs("usage: ioserve [options]\n"
          "  --listen ADDR:PORT      address to serve on, [ADDR]:PORT for IPv6 (default " CLI_DEFAULT_LISTEN ")\n"
          "  --backend B             auto (io_uring, else epoll), uring, epoll, poll or select (default\n"
          "                          auto); poll and select are level-triggered, each wait costs every\n"
          "                          open connection, and select refuses fds >= FD_SETSIZE (1024)\n"
          "  --epoll-mode M          lt (level-triggered) or et (edge-triggered) (default lt)\n"
          "  --protocol P            http, echo, etx or rpc (msgpack-rpc, see docs/rpc.md) (default http)\n"
          "  --ack-delay-ms N        etx: answer each message N ms after it arrived (default 0)\n"
          "  --etx-ack A             etx: ack (the three bytes the protocol specifies) or ack-etx\n"
          "                          (an extension: \"ack\" ended by 0x03 like a message) (default ack)\n"
          "  --ack-mode M            etx: timer (the delay is a loop timer) or worker (a blocking sleep\n"
          "                          on a worker thread, the ack posted back to the loop) (default timer)\n"
          "  --workers N             threads of the worker pool for --ack-mode worker and for rpc's\n"
          "                          worker methods (default 4)\n"
          "  --rpc-max-message N     rpc: close a connection sending a message over N bytes\n"
          "                          (default 1048576)\n"
          "  --rpc-max-inflight N    rpc: worker calls out per connection before it stops reading\n"
          "                          (default 128)\n"
          "  --max-conns N           close new connections beyond N open ones (default 0: no limit;\n"
          "                          with --processes, per worker process)\n"
          "  --threads N             N loops, one per thread, each with its own SO_REUSEPORT listener\n"
          "                          (default: the CPUs this process may run on; 1 with --processes)\n"
          "  --accept M              reuseport (a listener per thread) or dispatch (thread 0 accepts\n"
          "                          and deals connections round-robin) (default reuseport)\n"
          "  --processes N           a supervisor forks N worker processes, each with --threads loops\n"
          "                          (default 1 each) on SO_REUSEPORT listeners the supervisor opened\n"
          "                          and keeps; a worker that dies is replaced; SIGHUP replaces them\n"
          "                          all (default: one process, no supervisor)\n"
          "  --shutdown-timeout-ms N  SIGINT/SIGTERM: stop accepting, let requests in flight finish,\n"
          "                          close what is still open after N ms (default 10000)\n"
          "  --reuseport-share       start even where another process listens on the address, and\n"
          "                          share its connections (rolling restarts); without it that is\n"
          "                          refused: \"address already in use\"\n"
          "  --send-timeout-ms N     close a connection whose queued output moves no byte for N ms\n"
          "                          (a peer that stopped reading) (default 60000)\n",
          out);
    /* The protocol-specific flags, apart: one literal stays within what C99 compilers take. */
    fputs("  --root DIR              http: serve the files under DIR (default: none; / says Hello)\n"
          "  --serve-dotfiles        http: also serve names starting with '.' (.env, .git/); without\n"
          "                          it they are 404, except /.well-known/\n"
          "  --max-body N            http: refuse request bodies over N bytes with 413 (default 1048576)\n"
          "  --header-timeout-ms N   http: 408 for a request head not complete within N ms (default 10000)\n"
          "  --keepalive-timeout-ms N  http: close a connection idle for N ms (default 15000)\n"
          "  --min-body-rate N       http: 408 for a request body averaging under N bytes/s once its\n"
          "                          first --header-timeout-ms are over (default 500)\n"
          "  --ws-max-message N      http: close WebSockets sending a message over N bytes with 1009\n"
          "                          (default 0: 16 MiB + 1 KiB, at most 268435456)\n"
          "  --ws-ping-ms N          http: ping a WebSocket idle for N ms, drop it if still silent\n"
          "                          N ms later (default 30000; 0: never)\n"
          "  --ws-inflate-ratio N    http: close with 1009 a compressed WebSocket message inflating to\n"
          "                          more than N times its size, past its first MiB (default 0: 256)\n"
          "  --ws-max-inflate-per-conn N  http: close with 1009 a WebSocket holding more than N bytes of\n"
          "                          inflated message and zlib state (default 0: ws-max-message + 512 KiB)\n"
          "  --ws-max-inflate-memory N  http: the same for all WebSockets of a thread together; when full,\n"
          "                          the largest holder above its fair share closes with 1008\n"
          "                          (default 0: 268435456)\n"
          "  --ws-window-bits N      http: the largest permessage-deflate window agreed to, 9-15\n"
          "                          (default 12: 4 KiB)\n"
          "  --sqpoll                io_uring: a kernel thread submits, so a busy loop makes no system\n"
          "                          calls; it spins on a CPU while busy (see docs/models.md)\n"
          "  --sqpoll-cpu N          --sqpoll: pin that kernel thread to CPU N (default: the kernel's choice)\n"
          "  --cq-entries N          io_uring: completion queue entries, a power of two (default: sized\n"
          "                          for the load); a smaller one overflows, which costs time, not data\n"
          "  --probe                 print what this kernel offers each backend, then exit\n"
          "  --version               print the versions of ioserve, liburing and llhttp, then exit\n"
          "  --help                  print this and exit\n",
          out);
}
