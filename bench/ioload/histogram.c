/* histogram.c - log-linear bucket arithmetic for histogram.h. */
#include "histogram.h"

#include <math.h>
#include <string.h>

/* Bucket layout: values below 2 * SUB_COUNT map to themselves; a value whose top bit is
 * e >= SUB_BITS + 1 keeps its top SUB_BITS + 1 bits (a number in [SUB_COUNT, 2 * SUB_COUNT))
 * and lands in block e - SUB_BITS, each block holding SUB_COUNT buckets. */
static unsigned bucket_of(uint64_t value)
{
    if (value < 2 * HISTOGRAM_SUB_COUNT)
        return (unsigned)value;
    unsigned top_bit = 63u - (unsigned)__builtin_clzll(value);
    unsigned shift = top_bit - HISTOGRAM_SUB_BITS;
    return shift * HISTOGRAM_SUB_COUNT + (unsigned)(value >> shift);
}

static uint64_t bucket_highest(unsigned bucket)
{
    if (bucket < 2 * HISTOGRAM_SUB_COUNT)
        return bucket;
    unsigned shift = bucket / HISTOGRAM_SUB_COUNT - 1;
    uint64_t sub = HISTOGRAM_SUB_COUNT + bucket % HISTOGRAM_SUB_COUNT;
    return ((sub + 1) << shift) - 1;
}

void histogram_reset(struct histogram *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void histogram_record(struct histogram *h, uint64_t value)
{
    h->counts[bucket_of(value)]++;
    h->total++;
    h->sum += (double)value;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

void histogram_merge(struct histogram *into, const struct histogram *from)
{
    for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->total += from->total;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t histogram_percentile(const struct histogram *h, double percentile)
{
    if (h->total == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(percentile / 100.0 * (double)h->total);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t value = bucket_highest(i);
            return value < h->max ? value : h->max;
        }
    }
    return h->max;
}

double histogram_mean(const struct histogram *h)
{
    return h->total ? h->sum / (double)h->total : 0.0;
}
