/* cli.h - the command line of ioserve.
 *
 * cli_parse() fills the options from argv, defaults first (127.0.0.1:8080, backend auto, epoll
 * mode lt, protocol http).  Flags take their value as the next argument or after '='.  On an
 * unknown flag, a missing or bad value, or flags that contradict each other it returns -EINVAL
 * and writes one sentence into err; the caller prints it and exits with CLI_EXIT_USAGE.
 */
#ifndef IOSERVE_CLI_H
#define IOSERVE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "loop.h"
#include "net.h"

#define CLI_EXIT_USAGE 2
#define CLI_DEFAULT_LISTEN "127.0.0.1:8080"
#define CLI_MAX_ACK_DELAY_MS 3600000u /* an hour */
#define CLI_MAX_TIMEOUT_MS 86400000u   /* a day */
#define CLI_MAX_BODY (1ull << 40)
#define CLI_MAX_WS_MESSAGE (256ull << 20)  /* within the WebSocket message memory (websocket.h) */
#define CLI_DEFAULT_WS_PING_MS 30000u
#define CLI_MAX_WS_INFLATE_RATIO 1000000u
#define CLI_MAX_WS_INFLATE_MEMORY (64ull << 30)
#define CLI_MAX_THREADS 1024u
#define CLI_DEFAULT_WORKERS 4u
#define CLI_MAX_PROCESSES 256u /* SUPERVISOR_MAX_WORKERS */
/* How long an idle SQPOLL thread spins before it sleeps and submissions need a wake-up call. */
#define CLI_SQPOLL_IDLE_MS 1000
#define CLI_DEFAULT_SHUTDOWN_TIMEOUT_MS 10000u
#define CLI_MAX_RPC_MESSAGE (256ull << 20)
#define CLI_MAX_RPC_INFLIGHT 65536u
#define CLI_MAX_CQ_ENTRIES 65536u /* the kernel's own limit */

enum cli_protocol { CLI_PROTOCOL_HTTP, CLI_PROTOCOL_ECHO, CLI_PROTOCOL_ETX, CLI_PROTOCOL_RPC };
enum cli_accept { CLI_ACCEPT_REUSEPORT, CLI_ACCEPT_DISPATCH };
enum cli_ack_mode { CLI_ACK_TIMER, CLI_ACK_WORKER };
enum cli_etx_ack { CLI_ETX_ACK, CLI_ETX_ACK_ETX }; /* "ack" as specified, or "ack" 0x03 */

typedef struct cli_options {
    net_addr listen;
    enum io_backend_kind backend;
    enum io_epoll_mode epoll_mode;
    enum cli_protocol protocol;
    uint64_t ack_delay_ms;
    enum cli_etx_ack etx_ack;   /* etx: the acknowledgement's bytes */
    enum cli_ack_mode ack_mode; /* etx: the delay as a loop timer, or a worker's blocking sleep */
    uint32_t workers;           /* threads of the worker pool (etx ack mode worker, rpc) */
    uint32_t max_conns; /* 0: no limit */
    uint32_t threads;   /* loops, one per thread (0: as many as the CPUs this process may use,
                         * or one per worker process with --processes) */
    uint32_t processes; /* worker processes under a supervisor (0: none, one process serves) */
    enum cli_accept accept; /* reuseport: a listener per loop; dispatch: loop 0 deals fds */
    uint64_t shutdown_timeout_ms; /* SIGINT/SIGTERM: connections left open then are closed */
    uint64_t send_timeout_ms;     /* output moving no byte this long closes (0: conn.h's default) */
    /* http: 0 or NULL for each means its default */
    const char *root;              /* serve static files from this directory */
    bool serve_dotfiles;           /* also files and directories whose name starts with '.' */
    uint64_t max_body;             /* request bodies over this are 413 */
    uint64_t header_timeout_ms;    /* a request head not complete by then is 408 */
    uint64_t keepalive_timeout_ms; /* an idle connection closes after this */
    uint64_t min_body_rate;        /* bytes/s a request body must average after its grace */
    uint64_t ws_max_message;       /* WebSocket: larger messages are closed with 1009 */
    uint64_t ws_ping_ms;           /* WebSocket: ping after this long idle (set: 0 never) */
    /* rpc: 0 for each means its default */
    uint64_t rpc_max_message;      /* a larger message closes the connection */
    uint32_t rpc_max_inflight;     /* worker calls out per connection before reading pauses */
    uint64_t ws_inflate_ratio;     /* WebSocket: inflated/compressed bytes per message */
    uint64_t ws_max_inflate_per_conn; /* WebSocket: inflated bytes and zlib state, one conn */
    uint64_t ws_max_inflate_memory;   /* WebSocket: the same, all connections of a loop */
    uint64_t ws_window_bits;       /* WebSocket: the largest LZ77 window agreed to */
    bool sqpoll;
    int sqpoll_cpu;  /* 1 + --sqpoll-cpu, 0 when not given */
    uint32_t cq_entries; /* io_uring completion queue size; 0: sized for the load */
    bool share_port; /* --reuseport-share: join another process's listeners on purpose */
    bool probe;
    bool help;
    bool version;
} cli_options;

int cli_parse(int argc, char **argv, cli_options *out, char *err, size_t err_len);
void cli_usage(FILE *out);
const char *cli_protocol_name(enum cli_protocol protocol);

#endif
