/* events_internal.h — the hub's state, shared by the src/events files. */
#ifndef STENO_EVENTS_INTERNAL_H
#define STENO_EVENTS_INTERNAL_H

#include <sys/queue.h>

#include "events.h"

#define EV_RING           128  /* recent events kept per job (replay without the database) */
#define EV_PENDING        256  /* out-of-order events held per job while a gap is open */
#define EV_FETCH_MAX      200  /* events per database read */
#define EV_BUCKETS        256  /* job table buckets */
#define EV_GAP_WAIT       0.3  /* seconds before a gap is read from the database */
#define EV_GAP_GIVEUP     10.0 /* seconds after which a gap the database cannot fill is skipped */
#define EV_NOTIFY_CHANNEL "steno_events"
/* One JSON text per event whichever way it came: compact, sorted keys, and
 * reals with 16 digits (microsecond Unix times; 7.1 stays 7.1). */
#define EV_JSON          (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(16))
#define EV_REDIS_PATTERN "steno:job:*"
#define EV_REDIS_PREFIX  "steno:job:"

/* One event as the hub holds it: the SSE frame is built once and copied to
 * every subscriber's output. */
struct ev_event {
    int64_t seq;
    char type[12];
    bool terminal;
    size_t len;
    char frame[]; /* "id: …\nevent: …\ndata: …\n\n" */
};

struct ev_job;

struct events_sub {
    struct ev_job *job;
    const struct events_sub_ops *ops;
    void *arg;
    int64_t next;                  /* the next sequence number this subscriber needs */
    bool found;                    /* FOUND was reported */
    bool live;                     /* caught up: receives events as they are ingested */
    bool queued;                   /* on the hub's service queue */
    bool done;                     /* NOT_FOUND/UNAVAILABLE reported: nothing more */
    bool gone;                     /* unsubscribed: freed by the next service pass */
    struct ev_fetch *fetch;        /* database read in flight for this subscriber */
    TAILQ_ENTRY(events_sub) link;  /* job->subs */
    TAILQ_ENTRY(events_sub) qlink; /* ev->service */
};
TAILQ_HEAD(ev_sub_list, events_sub);

struct ev_job {
    struct events *ev;
    char id[40];
    struct ev_sub_list subs;
    unsigned nsubs;
    struct events_sub *iter_next;   /* delivery loop's next subscriber (removal-safe) */
    bool known;                     /* `last` and `status` come from a database read */
    struct events_sub *reader;      /* its read of the unknown job is out: the other
                                  subscribers wait for it instead of piling up reads */
    int64_t last;                   /* every event up to here was ingested */
    char status[12];                /* job status as last read (or set by a terminal event) */
    bool terminal_last;             /* the event numbered `last` is done/error */
    struct ev_event *ring[EV_RING]; /* ring[seq % EV_RING] for seq in (last - nring, last] */
    unsigned nring;
    struct ev_event *pending[EV_PENDING]; /* sorted by seq, all > last + 1 */
    unsigned npending;
    double gap_since;       /* monotonic seconds the oldest open gap was seen; 0 = none */
    struct event *gap_ev;   /* reads the gap from the database */
    struct ev_fetch *fetch; /* hub-level database read in flight */
    bool refetch;           /* another read is wanted once this one returns */
    bool active;            /* something was ingested since the last tick */
    bool ended_told;        /* ENDED was reported to the live subscribers */
    bool reap;              /* on ev->reap: free it if still without subscribers */
    LIST_ENTRY(ev_job) link;
    LIST_ENTRY(ev_job) rlink;
};
LIST_HEAD(ev_job_list, ev_job);

struct events_source {
    struct events *ev;
    char id[40];
    bool seq_known; /* next_seq is valid */
    bool closed;    /* the runner let go; free once flushed */
    int64_t next_seq;
    json_t *queue;          /* events waiting for the next write: [{seq,type,data}, …] */
    bool queue_notify;      /* some queued event did not go through Redis */
    json_t *unnumbered;     /* emitted before next_seq was known: [[type, data], …] */
    struct ev_fetch *fetch; /* the write (or the event_seq read) in flight */
    unsigned tries;
    json_t *inflight; /* the batch being written (kept for a retry) */
    bool inflight_notify;
    struct event *retry_ev;
    LIST_ENTRY(events_source) link;
};
LIST_HEAD(ev_source_list, events_source);

/* A database read or write in flight. The owner may go away before the
 * answer: it then clears `owner`, and the callback only frees the ticket. */
enum ev_fetch_kind { EV_FETCH_SUB, EV_FETCH_JOB, EV_FETCH_SEQ, EV_FETCH_WRITE };
struct ev_fetch {
    enum ev_fetch_kind kind;
    void *owner;
    struct events *ev;
};

struct events {
    struct event_base *base;
    struct db_pool *db;
    struct redis *redis;
    struct events_options opt;
    struct ev_job_list buckets[EV_BUCKETS];
    struct ev_source_list sources;
    struct ev_job_list reap;          /* jobs left without subscribers */
    TAILQ_HEAD(, events_sub) service; /* subscribers to move forward on the next pass */
    struct event *service_ev;
    struct event *tick_ev;
    struct redis_sub *rsub;
    db_stmt st_read, st_write, st_seq;
    bool draining;
    struct events_stats stats;
};

/* Where an event was heard (the steno_events_received_total label). */
enum ev_via { EV_VIA_LOCAL, EV_VIA_REDIS, EV_VIA_NOTIFY, EV_VIA_DATABASE, EV_VIA_COUNT };

/* events_hub.c */
struct ev_job *ev_job_find(struct events *ev, const char *id);
/* One event from any source (local, Redis, NOTIFY, database): dedupe,
 * order, ring, deliver. data is JSON text (any key order). */
void ev_ingest(struct ev_job *job, enum ev_via via, int64_t seq, const char *type, const char *data,
               size_t dlen);
/* A database read of the job: status, highest number, and rows from some
 * number on (already ingested by the caller). */
void ev_job_snapshot(struct ev_job *job, const char *status, int64_t event_seq);
/* Read the job's events after `last` from the database (coalesced). */
void ev_job_refetch(struct ev_job *job);
void ev_refetch_all(struct events *ev);

/* events_store.c */
void ev_store_init(struct events *ev);
/* Read status, event_seq and events >= from (EV_FETCH_MAX) for a job. */
void ev_store_read(struct events *ev, const char *job_id, int64_t from, struct ev_fetch *f);
typedef void (*ev_read_row_fn)(void *arg, int64_t seq, const char *type, const char *data);
/* Walk a read's answer: false when the job does not exist. */
bool ev_store_rows(const struct db_result *r, const char **status, int64_t *event_seq,
                   ev_read_row_fn fn, void *arg);
void ev_source_free(struct events_source *s);

/* events_bus.c */
void ev_bus_start(struct events *ev);
void ev_bus_stop(struct events *ev);
/* Parse {"seq":N,"type":T,"data":{…}} and ingest it for job_id. */
void ev_bus_deliver(struct events *ev, enum ev_via via, const char *job_id, const char *json,
                    size_t len);

#endif
