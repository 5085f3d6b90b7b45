/* upstream_admission.h — who may send the next upstream request, and when.
 *
 * Pure logic with no I/O, so it can be tested alone and driven by the pool:
 *   - a global in-flight cap that AIMD adjusts: halved on a 429, raised by
 *     one after a window of `cap` successes, within [1, max_inflight];
 *   - a token bucket of requests per minute (refilled from a clock the
 *     caller passes in, so tests control time);
 *   - fair order: strict priority between classes (high > medium > low),
 *     round-robin between jobs inside a class, FIFO inside a job. A job with
 *     100 chunks queued therefore gets one slot in turn with a job of 2,
 *     never all of them first.
 * Items are opaque pointers the caller owns. */
#ifndef STENO_UPSTREAM_ADMISSION_H
#define STENO_UPSTREAM_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>

#include "alloc.h"

enum upstream_priority { UPSTREAM_PRIO_HIGH = 0, UPSTREAM_PRIO_MEDIUM, UPSTREAM_PRIO_LOW };
#define UPSTREAM_PRIO_COUNT 3

struct admission;

/* rpm <= 0: no requests-per-minute limit. */
struct admission *admission_new(unsigned max_inflight, double rpm, double now);
void admission_free(struct admission *a);

/* Queue an item for job `job` (string copied) at the back of its job's
 * queue, or at the front with `front` (a retry keeps its place). */
void admission_push(struct admission *a, const char *job, enum upstream_priority prio, void *item,
                    bool front);
/* Remove a queued item (cancel); false when it is not queued. */
bool admission_remove(struct admission *a, void *item);

/* The next item allowed to start now, or NULL (nothing queued, cap reached,
 * or no token). On success the item counts as in flight and one token is
 * spent. *wait_seconds (may be NULL) says when a token will exist when the
 * bucket was the reason. */
void *admission_next(struct admission *a, double now, double *wait_seconds);

/* An in-flight item ended: 429 halves the cap; success counts toward +1. */
enum admission_outcome { ADMISSION_SUCCESS, ADMISSION_RATE_LIMITED, ADMISSION_OTHER };
void admission_done(struct admission *a, enum admission_outcome outcome);

/* Give a token back (the item could not be sent after all). */
void admission_refund(struct admission *a);

unsigned admission_inflight(const struct admission *a);
unsigned admission_cap(const struct admission *a);
size_t admission_queued(const struct admission *a);
/* Change the bucket's rate (e.g. a share of a cluster-wide limit). */
void admission_set_rpm(struct admission *a, double rpm, double now);

#endif
