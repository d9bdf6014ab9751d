/* options.h - ioload's command line, parsed and checked in one place.
 *
 * options_parse() fills a struct options or explains in `err` what is wrong with the flags;
 * the caller prints that and exits 2.  Every bound is checked here so the rest of ioload can
 * trust the values (no zero counts, no depth times size beyond what one buffer may hold).
 */
#ifndef IOLOAD_OPTIONS_H
#define IOLOAD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto.h"

#define OPTIONS_ETX_REPLY_MAX 256

enum engine_choice { ENGINE_AUTO, ENGINE_URING, ENGINE_EPOLL };

struct options {
    enum proto_kind protocol;
    const char *target;         /* HOST:PORT or [V6]:PORT */
    const char *path;           /* HTTP path, WebSocket upgrade path */
    const char *host_header;    /* defaults to the target as given */
    uint64_t connections;
    uint64_t idle;              /* connections opened beside them that never send */
    uint64_t hold;              /* --hold: held connections instead of the load (hold.h) */
    double every_s;             /* --hold: each sends one request this often (0: none) */
    uint64_t first_source;      /* --hold: the first loopback source slot (127.0.0.1 + this) */
    int server_pid;             /* --hold: whose resident memory to read */
    unsigned threads;
    double duration_s;          /* 0: bounded by --requests only */
    uint64_t requests;          /* 0: bounded by --duration only */
    double warmup_s;
    unsigned depth;             /* requests in flight per connection */
    size_t size;                /* echo/ETX/WebSocket message bytes */
    double rate;                /* requests per second over all connections; 0: closed loop */
    unsigned timeout_ms;
    unsigned tick_us;           /* open loop: requests due within this leave together */
    uint64_t per_source;        /* connections per source address; 0: from the port range */
    bool json;
    enum engine_choice engine;  /* auto: io_uring when the kernel has what it needs */
    uint8_t etx_reply[OPTIONS_ETX_REPLY_MAX];
    size_t etx_reply_len;
    enum proto_rpc_method rpc_method; /* what every RPC request calls */
    uint32_t rpc_sleep_ms;            /* sleep's argument */
};

enum options_outcome { OPTIONS_RUN, OPTIONS_HELP };

/* Returns OPTIONS_RUN, OPTIONS_HELP (the caller prints options_usage() and exits 0), or
 * -EINVAL with a one-line reason in `err`. */
int options_parse(struct options *o, int argc, char **argv, char *err, size_t err_len);
void options_usage(FILE *out);

#endif
