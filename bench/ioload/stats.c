/* stats.c - resetting, merging and naming the counters of stats.h. */
#include "stats.h"

#include <string.h>

void stats_reset(struct load_stats *s)
{
    memset(s, 0, sizeof(*s));
    histogram_reset(&s->latency);
}

void stats_merge(struct load_stats *into, const struct load_stats *from)
{
    into->answers += from->answers;
    for (int k = 0; k < ERR_KINDS; k++)
        into->errors[k] += from->errors[k];
    into->connects += from->connects;
    into->bytes_in += from->bytes_in;
    into->bytes_out += from->bytes_out;
    if (from->seconds > into->seconds)
        into->seconds = from->seconds;
    into->cpu_user_s += from->cpu_user_s;
    into->cpu_system_s += from->cpu_system_s;
    histogram_merge(&into->latency, &from->latency);
}

uint64_t stats_error_total(const struct load_stats *s)
{
    uint64_t total = 0;
    for (int k = 0; k < ERR_KINDS; k++)
        total += s->errors[k];
    return total;
}

const char *stats_error_name(enum load_error kind)
{
    static const char *const names[ERR_KINDS] = {
        "connect", "handshake", "reset", "closed", "timeout", "status", "mismatch", "protocol",
    };
    return kind < ERR_KINDS ? names[kind] : "?";
}
