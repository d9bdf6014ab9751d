/* report.h - the end-of-run summary: a few lines for people, or one JSON object for scripts.
 *
 * JSON fields: protocol, target, engine, connections, idle {connections, lost}, threads, depth,
 * mode ("closed"/"open"),
 * rate, tick_us, requests (answered, any status), seconds (measured), req_per_s,
 * latency_us {min, mean, p50, p90, p99, p99_9, max}, errors {connect, handshake, reset,
 * closed, timeout, status, mismatch, protocol, total}, connects, bytes_in, bytes_out,
 * cpu {user_s, system_s, total_s, us_per_request, process_s}: cpu is what the load threads used while measuring (getrusage
 * RUSAGE_THREAD), process_s the whole process from start to exit.
 */
#ifndef IOLOAD_REPORT_H
#define IOLOAD_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "options.h"
#include "stats.h"

struct report {
    const struct options *options;
    const struct load_stats *stats;
    const char *engine;         /* the I/O engine the workers used */
    double process_cpu_s;
    uint64_t idle_lost;         /* --idle connections the server closed before the end */
};

void report_text(FILE *out, const struct report *r);
void report_json(FILE *out, const struct report *r);

#endif
