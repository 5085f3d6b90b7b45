/* upstream_admission.c — in-flight cap (AIMD), token bucket, fair queueing. */
#include "upstream_admission.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct item {
    void *ptr;
    struct item *next;
};

/* One job's FIFO; jobs of a class form a ring for round-robin. */
struct jobq {
    char *job;
    enum upstream_priority prio;
    struct item *head, *tail;
    struct jobq *next; /* ring inside its class */
};

struct admission {
    struct jobq *rings[UPSTREAM_PRIO_COUNT]; /* points at the job to serve next */
    size_t queued;
    unsigned inflight;
    unsigned cap;
    unsigned max_inflight;
    unsigned successes; /* in the current AIMD window */
    double rpm;
    double tokens;
    double burst;
    double last_refill;
};

struct admission *admission_new(unsigned max_inflight, double rpm, double now)
{
    struct admission *a = xcalloc(1, sizeof(*a));
    a->max_inflight = max_inflight ? max_inflight : 1;
    a->cap = a->max_inflight;
    admission_set_rpm(a, rpm, now);
    a->tokens = a->burst;
    return a;
}

void admission_set_rpm(struct admission *a, double rpm, double now)
{
    a->rpm = rpm > 0 ? rpm : 0;
    /* A burst of one second's worth, at least one request. */
    a->burst = a->rpm > 0 ? fmax(1.0, a->rpm / 60.0) : 0;
    if (a->tokens > a->burst)
        a->tokens = a->burst;
    a->last_refill = now;
}

static void free_job(struct jobq *q)
{
    struct item *it = q->head;
    while (it) {
        struct item *n = it->next;
        free(it);
        it = n;
    }
    free(q->job);
    free(q);
}

void admission_free(struct admission *a)
{
    if (!a)
        return;
    for (int p = 0; p < UPSTREAM_PRIO_COUNT; p++) {
        struct jobq *start = a->rings[p];
        if (!start)
            continue;
        struct jobq *q = start->next;
        while (q != start) {
            struct jobq *n = q->next;
            free_job(q);
            q = n;
        }
        free_job(start);
    }
    free(a);
}

static struct jobq *find_job(struct admission *a, const char *job, enum upstream_priority prio)
{
    struct jobq *start = a->rings[prio];
    if (!start)
        return NULL;
    struct jobq *q = start;
    do {
        if (strcmp(q->job, job) == 0)
            return q;
        q = q->next;
    } while (q != start);
    return NULL;
}

void admission_push(struct admission *a, const char *job, enum upstream_priority prio, void *item,
                    bool front)
{
    if (prio >= UPSTREAM_PRIO_COUNT)
        prio = UPSTREAM_PRIO_LOW;
    struct jobq *q = find_job(a, job, prio);
    if (!q) {
        q = xcalloc(1, sizeof(*q));
        q->job = xstrdup(job);
        q->prio = prio;
        struct jobq *cur = a->rings[prio];
        if (!cur) {
            q->next = q;
            a->rings[prio] = q;
        } else {
            /* join the ring just before the job served next: served last */
            struct jobq *prev = cur;
            while (prev->next != cur)
                prev = prev->next;
            prev->next = q;
            q->next = cur;
        }
    }
    struct item *it = xcalloc(1, sizeof(*it));
    it->ptr = item;
    if (front) {
        it->next = q->head;
        q->head = it;
        if (!q->tail)
            q->tail = it;
    } else {
        if (q->tail)
            q->tail->next = it;
        else
            q->head = it;
        q->tail = it;
    }
    a->queued++;
}

/* Drop an empty job queue from its ring. */
static void unlink_job(struct admission *a, struct jobq *q)
{
    enum upstream_priority p = q->prio;
    if (q->next == q) {
        a->rings[p] = NULL;
    } else {
        struct jobq *prev = q;
        while (prev->next != q)
            prev = prev->next;
        prev->next = q->next;
        if (a->rings[p] == q)
            a->rings[p] = q->next;
    }
    free_job(q);
}

bool admission_remove(struct admission *a, void *item)
{
    for (int p = 0; p < UPSTREAM_PRIO_COUNT; p++) {
        struct jobq *start = a->rings[p];
        if (!start)
            continue;
        struct jobq *q = start;
        do {
            struct item **pp = &q->head, *prev = NULL;
            for (struct item *it = q->head; it; prev = it, pp = &it->next, it = it->next) {
                if (it->ptr != item)
                    continue;
                *pp = it->next;
                if (q->tail == it)
                    q->tail = prev;
                free(it);
                a->queued--;
                if (!q->head)
                    unlink_job(a, q);
                return true;
            }
            q = q->next;
        } while (q != start);
    }
    return false;
}

static void refill(struct admission *a, double now)
{
    if (a->rpm <= 0)
        return;
    double dt = now - a->last_refill;
    if (dt > 0) {
        a->tokens = fmin(a->burst, a->tokens + dt * a->rpm / 60.0);
        a->last_refill = now;
    }
}

void *admission_next(struct admission *a, double now, double *wait_seconds)
{
    if (wait_seconds)
        *wait_seconds = 0;
    if (a->queued == 0 || a->inflight >= a->cap)
        return NULL;
    refill(a, now);
    if (a->rpm > 0 && a->tokens < 1.0) {
        if (wait_seconds)
            *wait_seconds = (1.0 - a->tokens) * 60.0 / a->rpm;
        return NULL;
    }
    for (int p = 0; p < UPSTREAM_PRIO_COUNT; p++) {
        struct jobq *q = a->rings[p];
        if (!q)
            continue;
        struct item *it = q->head;
        void *ptr = it->ptr;
        q->head = it->next;
        if (!q->head)
            q->tail = NULL;
        free(it);
        a->queued--;
        a->rings[p] = q->next; /* the next job goes first next time */
        if (!q->head)
            unlink_job(a, q);
        a->inflight++;
        if (a->rpm > 0)
            a->tokens -= 1.0;
        return ptr;
    }
    return NULL;
}

void admission_done(struct admission *a, enum admission_outcome outcome)
{
    if (a->inflight)
        a->inflight--;
    if (outcome == ADMISSION_RATE_LIMITED) {
        a->cap = a->cap > 1 ? a->cap / 2 : 1;
        a->successes = 0;
    } else if (outcome == ADMISSION_SUCCESS && a->cap < a->max_inflight) {
        if (++a->successes >= a->cap) {
            a->cap++;
            a->successes = 0;
        }
    }
}

void admission_refund(struct admission *a)
{
    if (a->rpm > 0)
        a->tokens = fmin(a->burst, a->tokens + 1.0);
}

unsigned admission_inflight(const struct admission *a)
{
    return a->inflight;
}

unsigned admission_cap(const struct admission *a)
{
    return a->cap;
}

size_t admission_queued(const struct admission *a)
{
    return a->queued;
}
