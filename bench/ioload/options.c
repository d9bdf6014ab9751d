/* options.c - getopt_long over ioload's flags, with unit suffixes and range checks. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
    CONNECTIONS_MAX = 16 * 1000 * 1000,
    THREADS_MAX = 256,
    DEPTH_MAX = 1024,
    SIZE_MAX_BYTES = 16 << 20,
    TIMEOUT_MS_MAX = 3600 * 1000,
    RPC_SLEEP_MS_MAX = 60 * 1000, /* what ioserve's sleep accepts */
    TICK_US_MAX = 1000 * 1000,
    FIRST_SOURCE_MAX = 1 << 20, /* of 127.0.0.0/8's 16 million addresses */
    /* wrk2's timer granularity, but sending early rather than late: at 10k req/s over 100
     * connections it halves the client's CPU per request against waking for each one. */
    TICK_US_DEFAULT = 1000,
    /* depth copies of one request live in one send buffer per thread */
    PIPELINE_BYTES_MAX = 64 << 20,
};

enum long_only { OPT_DEPTH = 256, OPT_PATH, OPT_HOST, OPT_WARMUP, OPT_TIMEOUT, OPT_ETX_REPLY,
                 OPT_PER_SOURCE, OPT_TICK, OPT_ENGINE, OPT_IDLE, OPT_RPC_METHOD, OPT_RPC_SLEEP,
                 OPT_HOLD, OPT_EVERY, OPT_FIRST_SOURCE, OPT_SERVER_PID };

static const struct option long_options[] = {
    {"protocol", required_argument, NULL, 'p'},
    {"connections", required_argument, NULL, 'c'},
    {"threads", required_argument, NULL, 't'},
    {"duration", required_argument, NULL, 'd'},
    {"requests", required_argument, NULL, 'n'},
    {"rate", required_argument, NULL, 'r'},
    {"size", required_argument, NULL, 's'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {"depth", required_argument, NULL, OPT_DEPTH},
    {"path", required_argument, NULL, OPT_PATH},
    {"host", required_argument, NULL, OPT_HOST},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"etx-reply", required_argument, NULL, OPT_ETX_REPLY},
    {"conns-per-source", required_argument, NULL, OPT_PER_SOURCE},
    {"tick-us", required_argument, NULL, OPT_TICK},
    {"engine", required_argument, NULL, OPT_ENGINE},
    {"idle", required_argument, NULL, OPT_IDLE},
    {"rpc-method", required_argument, NULL, OPT_RPC_METHOD},
    {"rpc-sleep-ms", required_argument, NULL, OPT_RPC_SLEEP},
    {"hold", required_argument, NULL, OPT_HOLD},
    {"every", required_argument, NULL, OPT_EVERY},
    {"first-source", required_argument, NULL, OPT_FIRST_SOURCE},
    {"server-pid", required_argument, NULL, OPT_SERVER_PID},
    {NULL, 0, NULL, 0},
};

void options_usage(FILE *out)
{
    fputs("usage: ioload [options] HOST:PORT\n"
          "  -p, --protocol P        http (default), echo, etx, ws or rpc (msgpack-rpc)\n"
          "  -c, --connections N     concurrent connections (default 10; k/m suffixes)\n"
          "      --idle N            N more connections, opened before the load and silent\n"
          "                          throughout (default 0; k/m suffixes)\n"
          "      --hold N            instead of the load: hold N connections, one request\n"
          "                          each, then report the server's memory per connection\n"
          "      --every S           --hold: then one request per connection every S seconds\n"
          "                          for --duration, with its latency (default 0: none)\n"
          "      --first-source K    --hold: bind from the K-th loopback source slot on\n"
          "                          (127.0.0.1 + K x --conns-per-source), for parallel clients\n"
          "      --server-pid PID    --hold: read this server's resident memory (VmRSS)\n"
          "  -t, --threads N         worker threads, each with its own epoll (default 1)\n"
          "  -d, --duration S        seconds to measure (default 10 unless --requests)\n"
          "  -n, --requests N        stop after N requests finished (answered or failed)\n"
          "      --warmup S          seconds of load before measuring starts (default 0)\n"
          "  -r, --rate R            open loop: R requests/s over all connections, latency\n"
          "                          measured from each request's intended send time\n"
          "      --tick-us N         open loop: requests due within N us leave together, early\n"
          "                          (default 1000; 0: wake for every request, costlier)\n"
          "      --depth N           requests in flight per connection (pipelining, default 1)\n"
          "      --path P            HTTP path (default /), WebSocket path (default /ws)\n"
          "      --host H            Host header (default: the target as given)\n"
          "  -s, --size N            echo/etx/ws message bytes, rpc echo's bin (default 64)\n"
          "      --rpc-method M      rpc: echo (inline on the server) or sleep (on its workers)\n"
          "                          (default echo)\n"
          "      --rpc-sleep-ms N    rpc: the argument of sleep (default 0: a worker round trip)\n"
          "      --etx-reply S       what the ETX server answers (default 'ack'; \\xHH,\n"
          "                          \\n, \\r, \\t, \\\\ escapes)\n"
          "      --timeout-ms N      a request unanswered this long is an error (default 2000)\n"
          "      --conns-per-source N  connections per loopback source address before the\n"
          "                          next (127.0.0.2, ...); default from ip_local_port_range\n"
          "      --engine E          auto (default: io_uring if the kernel allows), uring or\n"
          "                          epoll\n"
          "  -j, --json              machine-readable result on stdout\n"
          "  -h, --help              this text\n",
          out);
}

static int fail(char *err, size_t err_len, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(err, err_len, format, ap);
    va_end(ap);
    return -EINVAL;
}

/* A whole number with an optional k (1e3) or m (1e6) suffix. */
static bool parse_count(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*text < '0' || *text > '9')
        return false;
    unsigned long long value = strtoull(text, &end, 10);
    uint64_t scale = 1;
    if (*end == 'k' || *end == 'K')
        scale = 1000, end++;
    else if (*end == 'm' || *end == 'M')
        scale = 1000 * 1000, end++;
    if (errno || *end || value > max / scale)
        return false;
    *out = (uint64_t)value * scale;
    return *out >= min && *out <= max;
}

/* A decimal number with an optional unit: seconds take s or ms, rates take k or m. */
static bool parse_number(const char *text, bool seconds, double min, double *out)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || end == text || !isfinite(value))
        return false;
    if (seconds && strcmp(end, "ms") == 0)
        value /= 1000.0;
    else if (seconds && strcmp(end, "s") == 0)
        ;
    else if (!seconds && (strcmp(end, "k") == 0 || strcmp(end, "K") == 0))
        value *= 1e3;
    else if (!seconds && (strcmp(end, "m") == 0 || strcmp(end, "M") == 0))
        value *= 1e6;
    else if (*end)
        return false;
    *out = value;
    return value >= min;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* C-like escapes, so a shell user can spell control bytes such as ETX. */
static bool unescape(const char *text, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = 0;
    for (const char *s = text; *s; s++) {
        if (n == cap)
            return false;
        if (*s != '\\') {
            out[n++] = (uint8_t)*s;
            continue;
        }
        s++;
        switch (*s) {
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case '0': out[n++] = '\0'; break;
        case '\\': out[n++] = '\\'; break;
        case 'x': {
            int hi = hex_digit(s[1]), lo = hi < 0 ? -1 : hex_digit(s[2]);
            if (lo < 0)
                return false;
            out[n++] = (uint8_t)(hi << 4 | lo);
            s += 2;
            break;
        }
        default:
            return false;
        }
    }
    *len = n;
    return n > 0;
}

static bool parse_protocol(const char *text, enum proto_kind *kind)
{
    static const enum proto_kind kinds[] = {PROTO_HTTP, PROTO_ECHO, PROTO_ETX, PROTO_WS, PROTO_RPC};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(text, proto_name(kinds[i])) == 0) {
            *kind = kinds[i];
            return true;
        }
    }
    return false;
}

static void set_defaults(struct options *o)
{
    memset(o, 0, sizeof(*o));
    o->protocol = PROTO_HTTP;
    o->connections = 10;
    o->threads = 1;
    o->depth = 1;
    o->size = 64;
    o->timeout_ms = 2000;
    o->tick_us = TICK_US_DEFAULT;
    memcpy(o->etx_reply, "ack", 3);
    o->etx_reply_len = 3;
}

/* One flag's value.  Returns 0, or -EINVAL with the reason in err. */
static int apply(struct options *o, int opt, const char *arg, char *err, size_t err_len)
{
    uint64_t count;
    switch (opt) {
    case 'p':
        if (!parse_protocol(arg, &o->protocol))
            return fail(err, err_len, "--protocol: '%s' is not http, echo, etx, ws or rpc", arg);
        return 0;
    case 'c':
        if (!parse_count(arg, 1, CONNECTIONS_MAX, &o->connections))
            return fail(err, err_len, "--connections: '%s' is not a count in 1..%d", arg,
                        CONNECTIONS_MAX);
        return 0;
    case 't':
        if (!parse_count(arg, 1, THREADS_MAX, &count))
            return fail(err, err_len, "--threads: '%s' is not a count in 1..%d", arg, THREADS_MAX);
        o->threads = (unsigned)count;
        return 0;
    case 'd':
        if (!parse_number(arg, true, 0, &o->duration_s) || o->duration_s <= 0)
            return fail(err, err_len, "--duration: '%s' is not a positive number of seconds", arg);
        return 0;
    case 'n':
        if (!parse_count(arg, 1, UINT64_MAX / 2, &o->requests))
            return fail(err, err_len, "--requests: '%s' is not a positive count", arg);
        return 0;
    case 'r':
        if (!parse_number(arg, false, 0, &o->rate) || o->rate <= 0 || o->rate > 1e9)
            return fail(err, err_len, "--rate: '%s' is not a rate in (0, 1e9] requests/s", arg);
        return 0;
    case 's':
        if (!parse_count(arg, 1, SIZE_MAX_BYTES, &count))
            return fail(err, err_len, "--size: '%s' is not a byte count in 1..%d", arg,
                        SIZE_MAX_BYTES);
        o->size = (size_t)count;
        return 0;
    case 'j':
        o->json = true;
        return 0;
    case OPT_DEPTH:
        if (!parse_count(arg, 1, DEPTH_MAX, &count))
            return fail(err, err_len, "--depth: '%s' is not a count in 1..%d", arg, DEPTH_MAX);
        o->depth = (unsigned)count;
        return 0;
    case OPT_PATH:
        if (arg[0] != '/' || strpbrk(arg, " \r\n"))
            return fail(err, err_len, "--path: '%s' must start with / and hold no spaces", arg);
        o->path = arg;
        return 0;
    case OPT_HOST:
        if (!arg[0] || strpbrk(arg, " \r\n"))
            return fail(err, err_len, "--host: '%s' is not a host name", arg);
        o->host_header = arg;
        return 0;
    case OPT_WARMUP:
        if (!parse_number(arg, true, 0, &o->warmup_s))
            return fail(err, err_len, "--warmup: '%s' is not a number of seconds", arg);
        return 0;
    case OPT_TIMEOUT:
        if (!parse_count(arg, 1, TIMEOUT_MS_MAX, &count))
            return fail(err, err_len, "--timeout-ms: '%s' is not in 1..%d", arg, TIMEOUT_MS_MAX);
        o->timeout_ms = (unsigned)count;
        return 0;
    case OPT_TICK:
        if (!parse_count(arg, 0, TICK_US_MAX, &count))
            return fail(err, err_len, "--tick-us: '%s' is not in 0..%d", arg, TICK_US_MAX);
        o->tick_us = (unsigned)count;
        return 0;
    case OPT_ENGINE:
        if (strcmp(arg, "auto") == 0)
            o->engine = ENGINE_AUTO;
        else if (strcmp(arg, "uring") == 0)
            o->engine = ENGINE_URING;
        else if (strcmp(arg, "epoll") == 0)
            o->engine = ENGINE_EPOLL;
        else
            return fail(err, err_len, "--engine: '%s' is not auto, uring or epoll", arg);
        return 0;
    case OPT_ETX_REPLY:
        if (!unescape(arg, o->etx_reply, sizeof(o->etx_reply), &o->etx_reply_len))
            return fail(err, err_len, "--etx-reply: '%s' is empty, too long or badly escaped",
                        arg);
        return 0;
    case OPT_IDLE:
        if (!parse_count(arg, 0, CONNECTIONS_MAX, &o->idle))
            return fail(err, err_len, "--idle: '%s' is not a count in 0..%d", arg, CONNECTIONS_MAX);
        return 0;
    case OPT_RPC_METHOD:
        if (strcmp(arg, "echo") == 0)
            o->rpc_method = PROTO_RPC_ECHO;
        else if (strcmp(arg, "sleep") == 0)
            o->rpc_method = PROTO_RPC_SLEEP;
        else
            return fail(err, err_len, "--rpc-method: '%s' is not echo or sleep", arg);
        return 0;
    case OPT_RPC_SLEEP:
        if (!parse_count(arg, 0, RPC_SLEEP_MS_MAX, &count))
            return fail(err, err_len, "--rpc-sleep-ms: '%s' is not in 0..%d", arg, RPC_SLEEP_MS_MAX);
        o->rpc_sleep_ms = (uint32_t)count;
        return 0;
    case OPT_HOLD:
        if (!parse_count(arg, 1, CONNECTIONS_MAX, &o->hold))
            return fail(err, err_len, "--hold: '%s' is not a count in 1..%d", arg, CONNECTIONS_MAX);
        return 0;
    case OPT_EVERY:
        if (!parse_number(arg, true, 0, &o->every_s))
            return fail(err, err_len, "--every: '%s' is not a number of seconds", arg);
        return 0;
    case OPT_FIRST_SOURCE:
        if (!parse_count(arg, 0, FIRST_SOURCE_MAX, &o->first_source))
            return fail(err, err_len, "--first-source: '%s' is not in 0..%d", arg, FIRST_SOURCE_MAX);
        return 0;
    case OPT_SERVER_PID:
        if (!parse_count(arg, 1, INT32_MAX, &count))
            return fail(err, err_len, "--server-pid: '%s' is not a process id", arg);
        o->server_pid = (int)count;
        return 0;
    case OPT_PER_SOURCE:
        if (!parse_count(arg, 1, 65535, &o->per_source))
            return fail(err, err_len, "--conns-per-source: '%s' is not in 1..65535", arg);
        return 0;
    default:
        return fail(err, err_len, "unknown option (see --help)");
    }
}

/* Checks that need several flags at once. */
static int check_together(struct options *o, char *err, size_t err_len)
{
    if (o->hold && (o->protocol == PROTO_WS || o->idle || o->rate > 0 || o->depth > 1))
        return fail(err, err_len, "--hold runs alone: http, echo, etx or rpc, without --idle, "
                    "--rate or --depth");
    if (!o->hold && (o->every_s > 0 || o->first_source || o->server_pid))
        return fail(err, err_len, "--every, --first-source and --server-pid go with --hold");
    if (o->threads > o->connections)
        return fail(err, err_len, "--threads %u exceeds --connections %llu", o->threads,
                    (unsigned long long)o->connections);
    size_t message = o->protocol == PROTO_HTTP ? 4096 : o->size + 16;
    if ((uint64_t)o->depth * message > PIPELINE_BYTES_MAX)
        return fail(err, err_len, "--depth %u times --size %zu exceeds %d MiB in flight", o->depth,
                    o->size, PIPELINE_BYTES_MAX >> 20);
    if (o->duration_s == 0 && o->requests == 0)
        o->duration_s = 10;
    if (!o->path)
        o->path = o->protocol == PROTO_WS ? "/ws" : "/";
    if (!o->host_header)
        o->host_header = o->target;
    return 0;
}

int options_parse(struct options *o, int argc, char **argv, char *err, size_t err_len)
{
    set_defaults(o);
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":p:c:t:d:n:r:s:jh", long_options, NULL)) != -1) {
        if (opt == 'h')
            return OPTIONS_HELP;
        if (opt == ':')
            return fail(err, err_len, "%s needs a value", argv[optind - 1]);
        if (opt == '?' && optopt)
            return fail(err, err_len, "unknown option '-%c'", optopt);
        if (opt == '?')
            return fail(err, err_len, "unknown option '%s'", argv[optind - 1]);
        int rc = apply(o, opt, optarg, err, err_len);
        if (rc < 0)
            return rc;
    }
    if (optind != argc - 1)
        return fail(err, err_len, "%s",
                    optind == argc ? "missing HOST:PORT" : "more than one target");
    o->target = argv[optind];
    return check_together(o, err, err_len);
}
