/* fuzz_cli.c - the command-line parser.
 *
 * The input, cut at NUL bytes, is argv (after "ioserve"); its first byte sizes the error
 * buffer (1-64 bytes, on the heap so a write past it is caught).  Invariants: the answer is 0
 * or -EINVAL; a refusal says why in a NUL-terminated sentence that fits the buffer, a success
 * says nothing; accepted options are within their documented bounds and obey the rules
 * between flags; and written back as a canonical command line they parse to the same options
 * (nothing the parser accepted is lost or misread).
 */
#include <errno.h>
#include <sched.h>

#include "cli.h"
#include "fuzz.h"

#define MAX_ARGS 64

struct argv_buf {
    char *argv[MAX_ARGS + 1];
    char text[MAX_ARGS][NET_ADDR_TEXT_MAX + 32];
    int argc;
};

static void add(struct argv_buf *a, const char *flag, const char *value)
{
    FUZZ_CHECK(a->argc < MAX_ARGS, "too many arguments");
    snprintf(a->text[a->argc], sizeof(a->text[0]), "%s=%s", flag, value);
    a->argv[a->argc] = a->text[a->argc];
    a->argc++;
}

static void add_number(struct argv_buf *a, const char *flag, uint64_t n)
{
    char value[24];
    snprintf(value, sizeof(value), "%llu", (unsigned long long)n);
    add(a, flag, value);
}

static void add_word(struct argv_buf *a, const char *word)
{
    FUZZ_CHECK(a->argc < MAX_ARGS, "too many arguments");
    snprintf(a->text[a->argc], sizeof(a->text[0]), "%s", word);
    a->argv[a->argc] = a->text[a->argc];
    a->argc++;
}

/* The options as the shortest command line that gives them (root is passed by pointer). */
static void render(const cli_options *o, struct argv_buf *a, char **root_arg)
{
    static const char *const backends[] = {"auto", "uring", "epoll", "poll", "select"};
    static const char *const accept_modes[] = {"reuseport", "dispatch"};
    char listen[NET_ADDR_TEXT_MAX];
    a->argc = 0;
    add_word(a, "ioserve");
    add(a, "--listen", net_addr_format(&o->listen, listen, sizeof(listen)));
    add(a, "--backend", backends[o->backend]);
    if (o->backend == IO_BACKEND_AUTO || o->backend == IO_BACKEND_EPOLL)
        add(a, "--epoll-mode", o->epoll_mode == IO_EPOLL_ET ? "et" : "lt");
    add(a, "--protocol", cli_protocol_name(o->protocol));
    if (o->protocol == CLI_PROTOCOL_ETX) {
        add_number(a, "--ack-delay-ms", o->ack_delay_ms);
        add(a, "--ack-mode", o->ack_mode == CLI_ACK_WORKER ? "worker" : "timer");
        add(a, "--etx-ack", o->etx_ack == CLI_ETX_ACK_ETX ? "ack-etx" : "ack");
    }
    if (o->ack_mode == CLI_ACK_WORKER || o->protocol == CLI_PROTOCOL_RPC)
        add_number(a, "--workers", o->workers);
    /* 0 for these is "the default", which no flag value spells */
    if (o->rpc_max_message)
        add_number(a, "--rpc-max-message", o->rpc_max_message);
    if (o->rpc_max_inflight)
        add_number(a, "--rpc-max-inflight", o->rpc_max_inflight);
    if (o->protocol == CLI_PROTOCOL_HTTP) {
        if (o->root) {
            add_word(a, "--root");
            *root_arg = (char *)o->root;
            a->argv[a->argc++] = *root_arg;
        }
        add_number(a, "--max-body", o->max_body);
        add_number(a, "--header-timeout-ms", o->header_timeout_ms);
        add_number(a, "--keepalive-timeout-ms", o->keepalive_timeout_ms);
        add_number(a, "--ws-max-message", o->ws_max_message);
        add_number(a, "--ws-ping-ms", o->ws_ping_ms);
        if (o->serve_dotfiles)
            add_word(a, "--serve-dotfiles");
        if (o->ws_inflate_ratio)
            add_number(a, "--ws-inflate-ratio", o->ws_inflate_ratio);
        if (o->ws_max_inflate_per_conn)
            add_number(a, "--ws-max-inflate-per-conn", o->ws_max_inflate_per_conn);
        if (o->ws_max_inflate_memory)
            add_number(a, "--ws-max-inflate-memory", o->ws_max_inflate_memory);
        if (o->ws_window_bits)
            add_number(a, "--ws-window-bits", o->ws_window_bits);
    }
    if (o->processes)
        add_number(a, "--processes", o->processes);
    if (o->cq_entries)
        add_number(a, "--cq-entries", o->cq_entries);
    if (o->threads)
        add_number(a, "--threads", o->threads);
    add(a, "--accept", accept_modes[o->accept]);
    add_number(a, "--shutdown-timeout-ms", o->shutdown_timeout_ms);
    if (o->sqpoll)
        add_word(a, "--sqpoll");
    if (o->sqpoll_cpu)
        add_number(a, "--sqpoll-cpu", (uint64_t)o->sqpoll_cpu - 1);
    add_number(a, "--max-conns", o->max_conns);
    if (o->probe)
        add_word(a, "--probe");
    if (o->help)
        add_word(a, "--help");
    a->argv[a->argc] = NULL;
}

static void check_bounds(const cli_options *o)
{
    FUZZ_CHECK(o->backend <= IO_BACKEND_SELECT && o->epoll_mode <= IO_EPOLL_ET &&
                   o->protocol <= CLI_PROTOCOL_RPC && o->accept <= CLI_ACCEPT_DISPATCH &&
                   o->ack_mode <= CLI_ACK_WORKER && o->etx_ack <= CLI_ETX_ACK_ETX,
               "an enum out of range");
    FUZZ_CHECK(o->ack_delay_ms <= CLI_MAX_ACK_DELAY_MS, "ack delay %llu",
               (unsigned long long)o->ack_delay_ms);
    FUZZ_CHECK(o->workers >= 1 && o->workers <= CLI_MAX_THREADS, "workers %u", o->workers);
    FUZZ_CHECK(o->threads <= CLI_MAX_THREADS, "threads %u", o->threads);
    FUZZ_CHECK(o->shutdown_timeout_ms >= 1 && o->shutdown_timeout_ms <= CLI_MAX_TIMEOUT_MS,
               "shutdown timeout");
    FUZZ_CHECK(o->header_timeout_ms <= CLI_MAX_TIMEOUT_MS &&
                   o->keepalive_timeout_ms <= CLI_MAX_TIMEOUT_MS && o->ws_ping_ms <= CLI_MAX_TIMEOUT_MS,
               "a timeout over a day");
    FUZZ_CHECK(o->max_body <= CLI_MAX_BODY && o->ws_max_message <= CLI_MAX_WS_MESSAGE, "a size");
    FUZZ_CHECK(o->sqpoll_cpu >= 0 && o->sqpoll_cpu <= CPU_SETSIZE, "sqpoll cpu %d", o->sqpoll_cpu);
    FUZZ_CHECK(!o->sqpoll_cpu || o->sqpoll, "--sqpoll-cpu without --sqpoll");
    FUZZ_CHECK(!o->sqpoll || o->backend == IO_BACKEND_URING || o->backend == IO_BACKEND_AUTO,
               "--sqpoll with a reactor");
    FUZZ_CHECK(!o->root || (o->root[0] && o->protocol == CLI_PROTOCOL_HTTP), "--root");
}

static void check_same(const cli_options *a, const cli_options *b)
{
    char la[NET_ADDR_TEXT_MAX], lb[NET_ADDR_TEXT_MAX];
    net_addr_format(&a->listen, la, sizeof(la));
    net_addr_format(&b->listen, lb, sizeof(lb));
    FUZZ_CHECK(strcmp(la, lb) == 0, "listen %s, again %s", la, lb);
    FUZZ_CHECK(a->backend == b->backend && a->epoll_mode == b->epoll_mode &&
                   a->protocol == b->protocol && a->ack_delay_ms == b->ack_delay_ms &&
                   a->ack_mode == b->ack_mode && a->workers == b->workers &&
                   a->max_conns == b->max_conns && a->threads == b->threads &&
                   a->accept == b->accept && a->shutdown_timeout_ms == b->shutdown_timeout_ms &&
                   a->max_body == b->max_body && a->header_timeout_ms == b->header_timeout_ms &&
                   a->keepalive_timeout_ms == b->keepalive_timeout_ms &&
                   a->ws_max_message == b->ws_max_message && a->ws_ping_ms == b->ws_ping_ms &&
                   a->sqpoll == b->sqpoll && a->sqpoll_cpu == b->sqpoll_cpu &&
                   a->probe == b->probe && a->help == b->help && a->etx_ack == b->etx_ack &&
                   a->processes == b->processes && a->serve_dotfiles == b->serve_dotfiles &&
                   a->rpc_max_message == b->rpc_max_message && a->rpc_max_inflight == b->rpc_max_inflight &&
                   a->ws_inflate_ratio == b->ws_inflate_ratio &&
                   a->ws_max_inflate_per_conn == b->ws_max_inflate_per_conn &&
                   a->ws_max_inflate_memory == b->ws_max_inflate_memory &&
                   a->ws_window_bits == b->ws_window_bits && a->cq_entries == b->cq_entries &&
                   (a->root == NULL) == (b->root == NULL) &&
                   (!a->root || strcmp(a->root, b->root) == 0),
               "the options changed when written back as a command line");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t err_len = 1 + data[0] % 64;
    char *text = fuzz_strndup(data + 1, size - 1);
    char *argv[MAX_ARGS + 1] = {"ioserve"};
    int argc = 1;
    for (char *p = text, *end = text + size - 1; p <= end && argc < MAX_ARGS; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;

    char *err = malloc(err_len);
    FUZZ_CHECK(err != NULL, "out of memory");
    cli_options o;
    int rc = cli_parse(argc, argv, &o, err, err_len);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "cli_parse returned %d", rc);
    FUZZ_CHECK(memchr(err, '\0', err_len) != NULL, "error text not terminated");
    FUZZ_CHECK(rc == 0 ? err[0] == '\0' : err[0] != '\0' || err_len == 1, "error text '%s'", err);
    if (rc == 0) {
        check_bounds(&o);
        struct argv_buf canonical;
        char *root = NULL;
        render(&o, &canonical, &root);
        cli_options again;
        char why[256];
        int rc2 = cli_parse(canonical.argc, canonical.argv, &again, why, sizeof(why));
        FUZZ_CHECK(rc2 == 0, "the canonical command line was refused: %s", why);
        check_same(&o, &again);
    }
    free(err);
    free(text);
    return 0;
}
