/* histogram.h - a fixed-size log-linear latency histogram (HdrHistogram's bucket layout).
 *
 * Values are nanoseconds.  Below 256 every value has its own bucket; above, each power of two
 * is split into 128 equal sub-buckets, so a reported percentile is within 1/128 (< 0.8 %) of
 * the true value over the whole 64-bit range.  Memory is fixed (about 58 KiB) and recording is
 * a few instructions with no allocation; histograms of several threads merge by addition.
 */
#ifndef IOLOAD_HISTOGRAM_H
#define IOLOAD_HISTOGRAM_H

#include <stdint.h>

#define HISTOGRAM_SUB_BITS 7
#define HISTOGRAM_SUB_COUNT (1u << HISTOGRAM_SUB_BITS)
#define HISTOGRAM_BUCKETS ((64 - HISTOGRAM_SUB_BITS) * HISTOGRAM_SUB_COUNT + HISTOGRAM_SUB_COUNT)

struct histogram {
    uint64_t total;
    uint64_t min;
    uint64_t max;
    double sum;
    uint64_t counts[HISTOGRAM_BUCKETS];
};

void histogram_reset(struct histogram *h);
void histogram_record(struct histogram *h, uint64_t value);
/* Adds every sample of `from` into `into`. */
void histogram_merge(struct histogram *into, const struct histogram *from);
/* The smallest recorded bucket bound at or above `percentile` (0..100) of the samples; 0 when
 * empty.  Reports the bucket's highest value, never below the true one, and never above max. */
uint64_t histogram_percentile(const struct histogram *h, double percentile);
double histogram_mean(const struct histogram *h);

#endif
