/* events.h — per-job progress events: publish, persist, fan out, replay.
 *
 * Every state change of a job is an event (type job, chunk, progress, done
 * or error; JSON data) with a per-job sequence number 1, 2, 3 …. A job runs
 * in one process at a time (its lease), and that process numbers the job's
 * events through an events_source. Each event is:
 *   - delivered at once to the subscribers in this process,
 *   - published on Redis (`steno:job:{id}`) when Redis is available,
 *   - written to PostgreSQL (job_events, jobs.event_seq) — with a
 *     pg_notify('steno_events', …) in the same statement when it could not
 *     go through Redis, so other processes hear it on commit.
 * Writes of one job are serialized (one statement in flight, later events
 * batched behind it), so a job's rows and notifications commit in order.
 *
 * The hub of each process keeps, per job with subscribers here, the highest
 * sequence number seen without a gap, a ring of recent events and the
 * out-of-order ones waiting for a gap to close. Duplicates (a process hears
 * its own events back; Redis and NOTIFY may both carry one) are dropped by
 * number. A gap is filled from the database after a short wait, and skipped
 * (logged) if the database never gets it. Lost messages (a Redis or LISTEN
 * reconnect, a publisher that used the other channel) are caught up from
 * the database: on every (re)subscription, and on each heartbeat tick for
 * jobs that were quiet meanwhile.
 *
 * Subscribers get the events after a given number in order, each once:
 * from the database first (replay), then from the ring, then live. All
 * callbacks come from the loop, never from inside events_subscribe().
 *
 * Single-threaded: every call from the loop's thread. */
#ifndef STENO_EVENTS_H
#define STENO_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "db_pool.h"
#include "redis.h"

struct events;
struct events_source;
struct events_sub;

struct events_options {
    double heartbeat; /* seconds between subscriber ticks (sse-heartbeat) */
};

/* The hub of this process. db is required (events are durable); redis may
 * be NULL. Starts LISTEN steno_events and, with Redis, PSUBSCRIBE
 * steno:job:*. Both must outlive the hub. */
struct events *events_new(struct event_base *base, struct db_pool *db, struct redis *redis,
                          const struct events_options *o);
/* Free everything. Subscribers must have been told (events_drain) or be
 * gone: their callbacks never fire again. Writes in flight are abandoned. */
void events_free(struct events *ev);
/* Graceful shutdown: every subscriber gets EVENTS_SUB_CLOSING. */
void events_drain(struct events *ev);

/* Declare the metrics (before metrics_start / fork). */
void events_metrics_init(void);

/* ---- Publishing (the process running the job) ----
 *
 * Open when the job is claimed; the first number continues the job's
 * sequence (read from jobs.event_seq, or taken over from a source of the
 * same job still flushing in this process). Events emitted before that is
 * known wait. Close when the job leaves this process: queued writes still
 * complete, then the source frees itself. */
struct events_source *events_source_open(struct events *ev, const char *job_id);
/* Number, publish and persist one event. Steals `data` (a JSON object). */
void events_emit(struct events_source *s, const char *type, json_t *data);
void events_source_close(struct events_source *s);

/* ---- Subscribing ---- */

/* What one subscriber sees. `frame` is the event in SSE framing
 * ("id: N\nevent: T\ndata: {…}\n\n"); it is valid during the callback. */
struct events_event {
    int64_t seq;
    const char *type;
    bool terminal; /* done or error */
    bool last;     /* no later event of the job is known here yet */
    const char *frame;
    size_t len;
};

enum events_sub_state {
    EVENTS_SUB_FOUND,       /* first read: the job exists (status, last = highest seq) */
    EVENTS_SUB_LIVE,        /* replay finished; live from now (status as first read) */
    EVENTS_SUB_ENDED,       /* the database says the job is over (status) and no
                               terminal event followed: none will come */
    EVENTS_SUB_NOT_FOUND,   /* no such job (only before FOUND) */
    EVENTS_SUB_UNAVAILABLE, /* the database failed the first read (only before FOUND) */
    EVENTS_SUB_CLOSING,     /* the process is shutting down */
};

struct events_sub_ops {
    void (*event)(void *arg, const struct events_event *e);
    void (*state)(void *arg, enum events_sub_state st, const char *status, int64_t last);
    void (*tick)(void *arg); /* every heartbeat interval, live or replaying */
    /* Replay asks before each event: false pauses it (the subscriber's
     * output is full) until events_sub_resume(). Live events are not held:
     * a subscriber that falls behind on those is the caller's to bound. */
    bool (*writable)(void *arg);
};

/* Subscribe to the events of `job_id` (canonical lower-case uuid) with a
 * number above `after`. ops and arg must stay valid until unsubscribed.
 * After NOT_FOUND or UNAVAILABLE nothing more comes; unsubscribe then. */
struct events_sub *events_subscribe(struct events *ev, const char *job_id, int64_t after,
                                    const struct events_sub_ops *ops, void *arg);
/* Safe from inside the subscriber's own callbacks. */
void events_unsubscribe(struct events_sub *sub);
/* The subscriber can take more (its output drained): go on replaying. */
void events_sub_resume(struct events_sub *sub);

/* Counters for tests and fitness. */
struct events_stats {
    unsigned jobs, subscribers, sources;
    uint64_t published, received, duplicates, gaps_filled, gaps_skipped, db_reads;
};
void events_get_stats(const struct events *ev, struct events_stats *out);

/* "done", "failed" or "cancelled". */
bool events_status_terminal(const char *status);

#endif
