/* metrics.h — Prometheus metrics summed over all worker processes.
 *
 * Every series (one counter, one gauge, or one histogram with its buckets)
 * is declared at start-up, before the workers fork, and gets cells in a
 * shared anonymous mapping: one slot per worker, each worker writing only
 * its own slot with relaxed atomics. Any worker answering /metrics sums the
 * slots, so a scrape through the shared port sees the whole server. A
 * restarted worker keeps its slot's counters (they stay monotonic) and
 * zeroes its gauges. Before metrics_start() all writes go to a private slot,
 * so modules can be used in tests without it. */
#ifndef STENO_METRICS_H
#define STENO_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

typedef unsigned metric_id;

/* `labels` is the Prometheus label set without braces, e.g.
 * `route="/healthz",proto="h2"`, or "" for none. Strings are copied.
 * Series of one family share name, help and type. Aborts after
 * metrics_start() (a programming error). */
metric_id metrics_counter(const char *name, const char *help, const char *labels);
metric_id metrics_gauge(const char *name, const char *help, const char *labels);
/* bounds: ascending upper bounds of the buckets (+Inf is implicit). */
metric_id metrics_histogram(const char *name, const char *help, const char *labels,
                            const double *bounds, size_t nbounds);

/* Map the shared cells for `nslots` workers. Call once, before fork. */
bool metrics_start(unsigned nslots) MUST_CHECK;
/* In a worker: write to slot `slot` from now on; zero its gauges. */
void metrics_bind_slot(unsigned slot);

void metrics_add(metric_id id, uint64_t n);
void metrics_gauge_add(metric_id id, int64_t delta);
void metrics_gauge_set(metric_id id, int64_t value);
void metrics_observe(metric_id id, double value);
/* Sum of one counter/gauge over all slots (tests, JSON views). */
int64_t metrics_value(metric_id id);

/* Prometheus text exposition (format 0.0.4) of everything; caller frees. */
char *metrics_render(size_t *len);

/* One series, summed over all slots, for views other than Prometheus
 * text (GET /api/metrics). For a histogram, buckets[i] counts the
 * observations in (bounds[i-1], bounds[i]] (not cumulative), with
 * buckets[nbounds] the +Inf bucket; value is the count. */
struct metrics_sample {
    const char *name, *help, *labels; /* labels as declared, without braces */
    const char *type;                 /* "counter", "gauge", "histogram" */
    int64_t value;
    double sum; /* histograms */
    const double *bounds;
    const uint64_t *buckets;
    size_t nbounds;
};
void metrics_foreach(void (*fn)(const struct metrics_sample *s, void *arg), void *arg);
/* The q-quantile (0..1) of a histogram sample, interpolated linearly
 * inside its bucket as Prometheus's histogram_quantile does; NAN when empty. */
double metrics_quantile(const struct metrics_sample *s, double q);

/* Drop every declaration and unmap (tests). */
void metrics_reset(void);

#endif
