/* stats.h - what one worker measured, and how several workers' measurements add up.
 *
 * Errors are counted per request they cost: a connection that dies with three requests in
 * flight adds three to its kind, so answers + errors other than `status`, `connect` and
 * `handshake` equals the requests that finished.  `status` counts answers that arrived but
 * said the request failed (HTTP non-2xx); `connect` and `handshake` count failed attempts;
 * bytes arriving with no request in flight count once as `protocol` or `mismatch`.
 */
#ifndef IOLOAD_STATS_H
#define IOLOAD_STATS_H

#include <stdint.h>

#include "histogram.h"

enum load_error {
    ERR_CONNECT,    /* connect() failed or timed out */
    ERR_HANDSHAKE,  /* the WebSocket upgrade was refused or timed out */
    ERR_RESET,      /* a read or write failed (ECONNRESET, EPIPE...) */
    ERR_CLOSED,     /* the server closed with requests unanswered */
    ERR_TIMEOUT,    /* no answer within --timeout-ms */
    ERR_STATUS,     /* an answer saying the request failed (HTTP status not 2xx) */
    ERR_MISMATCH,   /* an echo that differs from what was sent */
    ERR_PROTOCOL,   /* bytes that are not a valid answer, or more answers than requests */
    ERR_KINDS,
};

struct load_stats {
    uint64_t answers;           /* requests answered, whatever the status */
    uint64_t errors[ERR_KINDS];
    uint64_t connects;          /* connections established */
    uint64_t bytes_in;
    uint64_t bytes_out;
    double seconds;             /* measured wall time */
    double cpu_user_s;          /* CPU the measuring threads used during that time */
    double cpu_system_s;
    struct histogram latency;   /* nanoseconds, from the (intended) send to the answer */
};

void stats_reset(struct load_stats *s);
/* Adds `from` into `into`; the wall time is the longest of the two (workers run together). */
void stats_merge(struct load_stats *into, const struct load_stats *from);
uint64_t stats_error_total(const struct load_stats *s);
const char *stats_error_name(enum load_error kind);

#endif
