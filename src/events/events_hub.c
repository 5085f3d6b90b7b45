/* events_hub.c — per-job ordering, the ring of recent events, subscribers.
 *
 * Events reach the hub from anywhere (the local publisher, Redis, NOTIFY,
 * database reads), possibly twice and out of order. Per job the hub keeps
 * `last`, the highest number ingested without a gap: a duplicate (≤ last)
 * is dropped, the next one is delivered, a later one waits in `pending`
 * until the gap closes (from the database, after EV_GAP_WAIT) or is
 * skipped after EV_GAP_GIVEUP. Only jobs with subscribers in this process
 * have an entry; events of other jobs are ignored.
 *
 * Subscribers and jobs are never freed inside a callback chain: an
 * unsubscribed subscriber is marked gone and freed by the next service
 * pass, a job without subscribers is reaped there too. */

#include "events_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

static metric_id m_subs, m_published, m_received[EV_VIA_COUNT], m_gaps_skipped;

static unsigned bucket_of(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % EV_BUCKETS;
}

struct ev_job *ev_job_find(struct events *ev, const char *id)
{
    struct ev_job *job;
    LIST_FOREACH(job, &ev->buckets[bucket_of(id)], link)
    if (strcmp(job->id, id) == 0)
        return job;
    return NULL;
}

static void gap_cb(evutil_socket_t fd, short what, void *arg);

static struct ev_job *job_get(struct events *ev, const char *id)
{
    struct ev_job *job = ev_job_find(ev, id);
    if (job)
        return job;
    job = xcalloc(1, sizeof(*job));
    job->ev = ev;
    snprintf(job->id, sizeof(job->id), "%s", id);
    TAILQ_INIT(&job->subs);
    job->gap_ev = evtimer_new(ev->base, gap_cb, job);
    LIST_INSERT_HEAD(&ev->buckets[bucket_of(id)], job, link);
    ev->stats.jobs++;
    return job;
}

static void ring_clear(struct ev_job *job)
{
    for (unsigned i = 0; i < EV_RING; i++) {
        free(job->ring[i]);
        job->ring[i] = NULL;
    }
    job->nring = 0;
}

static void job_free(struct ev_job *job)
{
    LIST_REMOVE(job, link);
    if (job->reap)
        LIST_REMOVE(job, rlink);
    if (job->fetch)
        job->fetch->owner = NULL;
    ring_clear(job);
    for (unsigned i = 0; i < job->npending; i++)
        free(job->pending[i]);
    event_free(job->gap_ev);
    job->ev->stats.jobs--;
    free(job);
}

/* ---- events ---- */

static bool type_terminal(const char *type)
{
    return strcmp(type, "done") == 0 || strcmp(type, "error") == 0;
}

/* The hub's copy of an event, with its SSE frame. The data is re-encoded
 * compact with sorted keys, so an event reads the same whichever way it
 * came (jsonb reorders keys). NULL for data that is not a JSON object. */
static struct ev_event *event_make(int64_t seq, const char *type, const char *data, size_t dlen)
{
    static const char *const types[] = {"job", "chunk", "progress", "done", "error"};
    bool ok = false;
    for (size_t i = 0; i < ARRAY_LEN(types) && !ok; i++)
        ok = strcmp(type, types[i]) == 0;
    json_t *j = ok ? json_loadb(data, dlen, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        log_warn("events: dropping malformed event %lld (%s)", (long long)seq, type);
        return NULL;
    }
    char *text = json_dumps(j, EV_JSON);
    json_decref(j);
    size_t cap = strlen(text) + 64;
    struct ev_event *e = xmalloc(sizeof(*e) + cap);
    e->seq = seq;
    snprintf(e->type, sizeof(e->type), "%s", type);
    e->terminal = type_terminal(type);
    e->len = (size_t)snprintf(e->frame, cap, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)seq,
                              type, text);
    free(text);
    return e;
}

static void view_of(const struct ev_event *e, bool last, struct events_event *v)
{
    *v = (struct events_event){.seq = e->seq,
                               .type = e->type,
                               .terminal = e->terminal,
                               .last = last,
                               .frame = e->frame,
                               .len = e->len};
}

static void queue_sub(struct events_sub *sub);

/* Give one event to every live subscriber that still needs it. A callback
 * may unsubscribe its own subscriber (or another): iter_next keeps the walk
 * valid. */
static void deliver(struct ev_job *job, const struct ev_event *e, bool last)
{
    struct events_event v;
    view_of(e, last, &v);
    for (struct events_sub *sub = TAILQ_FIRST(&job->subs); sub; sub = job->iter_next) {
        job->iter_next = TAILQ_NEXT(sub, link);
        if (!sub->live || sub->next > e->seq)
            continue;
        sub->next = e->seq + 1;
        sub->ops->event(sub->arg, &v);
    }
    job->iter_next = NULL;
}

static void accept_event(struct ev_job *job, struct ev_event *e)
{
    job->last = e->seq;
    unsigned slot = (unsigned)(e->seq % EV_RING);
    free(job->ring[slot]);
    job->ring[slot] = e;
    if (job->nring < EV_RING)
        job->nring++;
    job->terminal_last = e->terminal;
    job->active = true;
    if (e->terminal) {
        snprintf(job->status, sizeof(job->status), "%s",
                 strcmp(e->type, "done") == 0 ? "done" : "failed");
    }
    bool last = job->npending == 0;
    deliver(job, e, last);
}

static void pending_insert(struct ev_job *job, struct ev_event *e)
{
    unsigned i = 0;
    while (i < job->npending && job->pending[i]->seq < e->seq)
        i++;
    if (i < job->npending && job->pending[i]->seq == e->seq) {
        free(e); /* heard twice while waiting */
        job->ev->stats.duplicates++;
        return;
    }
    if (job->npending == EV_PENDING) {
        /* Full: keep the oldest (they close the gap first); the newest are
         * read back from the database once the gap is closed. */
        if (i == EV_PENDING) {
            free(e);
            return;
        }
        free(job->pending[--job->npending]);
    }
    memmove(&job->pending[i + 1], &job->pending[i], (job->npending - i) * sizeof(e));
    job->pending[i] = e;
    job->npending++;
}

static void arm_gap(struct ev_job *job)
{
    if (job->gap_since == 0)
        job->gap_since = clock_mono();
    if (!evtimer_pending(job->gap_ev, NULL)) {
        struct timeval tv = {0, (suseconds_t)(EV_GAP_WAIT * 1e6)};
        evtimer_add(job->gap_ev, &tv);
    }
}

/* Deliver what the pending list now continues. */
static void drain_pending(struct ev_job *job)
{
    while (job->npending && job->pending[0]->seq <= job->last + 1) {
        struct ev_event *e = job->pending[0];
        memmove(&job->pending[0], &job->pending[1], (job->npending - 1) * sizeof(e));
        job->npending--;
        if (e->seq <= job->last) {
            free(e);
            continue;
        }
        accept_event(job, e);
    }
    if (job->npending == 0) {
        job->gap_since = 0;
        evtimer_del(job->gap_ev);
    } else {
        arm_gap(job);
    }
}

void ev_ingest(struct ev_job *job, enum ev_via via, int64_t seq, const char *type, const char *data,
               size_t dlen)
{
    struct events *ev = job->ev;
    ev->stats.received++;
    metrics_add(m_received[via], 1);
    if (seq <= 0 || (job->known && seq <= job->last)) {
        ev->stats.duplicates++;
        return;
    }
    struct ev_event *e = event_make(seq, type, data, dlen);
    if (!e)
        return;
    if (job->known && seq == job->last + 1) {
        accept_event(job, e);
        drain_pending(job);
        return;
    }
    pending_insert(job, e);
    if (job->known)
        arm_gap(job);
}

/* A gap the database could not close in EV_GAP_GIVEUP: the events are
 * lost (a write that failed for good). Go on from the next one we have. */
static void skip_gap(struct ev_job *job)
{
    int64_t from = job->last + 1, to = job->pending[0]->seq - 1;
    log_warn("events: job=%s events %lld..%lld never arrived; skipped", job->id, (long long)from,
             (long long)to);
    job->ev->stats.gaps_skipped++;
    metrics_add(m_gaps_skipped, 1);
    ring_clear(job); /* the ring must stay contiguous */
    job->last = to;
    job->gap_since = 0;
    drain_pending(job);
}

void ev_job_snapshot(struct ev_job *job, const char *status, int64_t event_seq)
{
    snprintf(job->status, sizeof(job->status), "%s", status);
    if (job->npending && job->gap_since > 0 && clock_mono() - job->gap_since > EV_GAP_GIVEUP)
        skip_gap(job);
    if (job->npending)
        arm_gap(job);
    /* The job is over by the database, yet its last event here is not the
     * final one (cancelled while queued, a job from before events, lost
     * writes): nothing will follow, tell the live subscribers. */
    if (events_status_terminal(status) && !job->terminal_last && job->npending == 0 &&
        event_seq <= job->last && !job->ended_told) {
        job->ended_told = true;
        for (struct events_sub *sub = TAILQ_FIRST(&job->subs); sub; sub = job->iter_next) {
            job->iter_next = TAILQ_NEXT(sub, link);
            if (sub->live)
                sub->ops->state(sub->arg, EVENTS_SUB_ENDED, job->status, job->last);
        }
        job->iter_next = NULL;
    }
}

static void gap_cb(evutil_socket_t fd, short what, void *arg)
{
    ev_job_refetch(arg);
}

/* ---- subscribers ---- */

static void service_cb(evutil_socket_t fd, short what, void *arg);

static void queue_sub(struct events_sub *sub)
{
    struct events *ev = sub->job ? sub->job->ev : NULL;
    if (sub->queued || !ev)
        return;
    sub->queued = true;
    TAILQ_INSERT_TAIL(&ev->service, sub, qlink);
    event_active(ev->service_ev, EV_TIMEOUT, 0);
}

struct events_sub *events_subscribe(struct events *ev, const char *job_id, int64_t after,
                                    const struct events_sub_ops *ops, void *arg)
{
    struct ev_job *job = job_get(ev, job_id);
    struct events_sub *sub = xcalloc(1, sizeof(*sub));
    sub->job = job;
    sub->ops = ops;
    sub->arg = arg;
    sub->next = after + 1;
    TAILQ_INSERT_TAIL(&job->subs, sub, link);
    job->nsubs++;
    ev->stats.subscribers++;
    metrics_gauge_add(m_subs, 1);
    queue_sub(sub);
    return sub;
}

/* The first read of a job is back (or its subscriber left): the others
 * that waited for it move on. */
static void release_reader(struct events_sub *sub)
{
    struct ev_job *job = sub->job;
    if (job->reader != sub)
        return;
    job->reader = NULL;
    for (struct events_sub *o = TAILQ_FIRST(&job->subs); o; o = TAILQ_NEXT(o, link))
        if (o != sub && !o->live && !o->fetch && !o->done)
            queue_sub(o);
}

void events_unsubscribe(struct events_sub *sub)
{
    if (!sub || sub->gone)
        return;
    struct ev_job *job = sub->job;
    struct events *ev = job->ev;
    if (job->iter_next == sub)
        job->iter_next = TAILQ_NEXT(sub, link);
    TAILQ_REMOVE(&job->subs, sub, link);
    if (--job->nsubs == 0 && !job->reap) {
        job->reap = true;
        LIST_INSERT_HEAD(&ev->reap, job, rlink);
    }
    if (sub->fetch)
        sub->fetch->owner = NULL;
    sub->fetch = NULL;
    release_reader(sub);
    sub->gone = true;
    ev->stats.subscribers--;
    metrics_gauge_add(m_subs, -1);
    queue_sub(sub); /* freed by the service pass */
}

void events_sub_resume(struct events_sub *sub)
{
    if (sub && !sub->gone && !sub->live)
        queue_sub(sub);
}

static bool ring_has(const struct ev_job *job, int64_t seq)
{
    return seq <= job->last && seq > job->last - (int64_t)job->nring;
}

/* Move one subscriber forward: read the database while the ring does not
 * reach back to what it needs, then replay the ring and go live. */
static void advance(struct events_sub *sub)
{
    struct ev_job *job = sub->job;
    if (sub->fetch || sub->done || sub->live || (!job->known && job->reader))
        return;
    if (job->known && sub->next > job->last + 1)
        sub->next = job->last + 1; /* an id from the future (a reset database): go from here */
    if (!job->known || (sub->next <= job->last && !ring_has(job, sub->next))) {
        if (!job->known)
            job->reader = sub;
        sub->fetch = xcalloc(1, sizeof(*sub->fetch));
        sub->fetch->kind = EV_FETCH_SUB;
        sub->fetch->owner = sub;
        sub->fetch->ev = job->ev;
        job->ev->stats.db_reads++;
        ev_store_read(job->ev, job->id, sub->next, sub->fetch);
        return;
    }
    if (!sub->found) {
        sub->found = true;
        sub->ops->state(sub->arg, EVENTS_SUB_FOUND, job->status, job->last);
        if (sub->gone)
            return;
    }
    while (sub->next <= job->last && !sub->gone) {
        if (!sub->ops->writable(sub->arg))
            return; /* events_sub_resume() comes back here */
        struct ev_event *e = job->ring[sub->next % EV_RING];
        struct events_event v;
        view_of(e, e->seq == job->last && job->npending == 0, &v);
        sub->next++;
        sub->ops->event(sub->arg, &v);
    }
    if (sub->gone)
        return;
    sub->live = true;
    sub->ops->state(sub->arg, EVENTS_SUB_LIVE, job->status, job->last);
    if (!sub->gone && job->ended_told)
        sub->ops->state(sub->arg, EVENTS_SUB_ENDED, job->status, job->last);
}

struct sub_rows {
    struct events_sub *sub;
    struct ev_job *job;
    int n;
    int64_t from;
    bool paused;
};

static void ingest_row(void *arg, int64_t seq, const char *type, const char *data)
{
    struct sub_rows *r = arg;
    r->n++;
    ev_ingest(r->job, EV_VIA_DATABASE, seq, type, data, strlen(data));
}

static void deliver_row(void *arg, int64_t seq, const char *type, const char *data)
{
    struct sub_rows *r = arg;
    struct events_sub *sub = r->sub;
    if (sub->gone || seq < sub->next || r->paused)
        return;
    if (!sub->ops->writable(sub->arg)) {
        r->paused = true; /* the rest is read again after events_sub_resume() */
        return;
    }
    struct ev_event *e = event_make(seq, type, data, strlen(data));
    if (!e)
        return;
    struct events_event v;
    view_of(e, seq >= r->job->last && r->job->npending == 0, &v);
    sub->next = seq + 1;
    sub->ops->event(sub->arg, &v);
    free(e);
}

/* A subscriber's database read came back: the first one tells whether the
 * job exists and initializes the job's entry; rows from the subscriber's
 * position are replayed to it directly. */
static void sub_read_done(struct events_sub *sub, const struct db_result *res)
{
    struct ev_job *job = sub->job;
    const char *status;
    int64_t event_seq;
    if (res->error != DB_OK) {
        log_warn("events: job=%s read failed: %s", job->id, res->message);
        if (!sub->found) {
            sub->done = true;
            sub->ops->state(sub->arg, EVENTS_SUB_UNAVAILABLE, NULL, 0);
        }
        return; /* a found subscriber is moved on by the next tick */
    }
    struct sub_rows r = {.sub = sub, .job = job, .from = sub->next};
    if (!ev_store_rows(res, &status, &event_seq, NULL, NULL)) {
        sub->done = true;
        sub->ops->state(sub->arg, EVENTS_SUB_NOT_FOUND, NULL, 0);
        return;
    }
    if (sub->next > event_seq + 1)
        sub->next = event_seq + 1; /* an id from the future (a reset database): go from here */
    if (!job->known) {
        job->known = true;
        job->last = r.from - 1 < event_seq ? r.from - 1 : event_seq;
    }
    (void)ev_store_rows(res, &status, &event_seq, ingest_row, &r);
    drain_pending(job);
    ev_job_snapshot(job, status, event_seq);
    if (sub->gone)
        return;
    if (!sub->found) {
        sub->found = true;
        sub->ops->state(sub->arg, EVENTS_SUB_FOUND, status,
                        event_seq > job->last ? event_seq : job->last);
        if (sub->gone)
            return;
    }
    (void)ev_store_rows(res, &status, &event_seq, deliver_row, &r);
    if (sub->gone)
        return;
    if (r.paused)
        return; /* events_sub_resume() queues it again */
    if (r.n < EV_FETCH_MAX && sub->next <= job->last && !ring_has(job, sub->next)) {
        /* holes in the table the ring does not cover: skip them */
        sub->next = job->nring ? job->last - (int64_t)job->nring + 1 : job->last + 1;
    }
    queue_sub(sub);
}

void ev_sub_read_cb(const struct db_result *res, struct ev_fetch *f);
void ev_sub_read_cb(const struct db_result *res, struct ev_fetch *f)
{
    struct events_sub *sub = f->owner;
    free(f);
    if (!sub)
        return;
    sub->fetch = NULL;
    release_reader(sub);
    sub_read_done(sub, res);
}

static void service_cb(evutil_socket_t fd, short what, void *arg)
{
    struct events *ev = arg;
    struct events_sub *sub;
    while ((sub = TAILQ_FIRST(&ev->service))) {
        TAILQ_REMOVE(&ev->service, sub, qlink);
        sub->queued = false;
        if (sub->gone) {
            free(sub);
            continue;
        }
        advance(sub);
    }
    struct ev_job *job;
    while ((job = LIST_FIRST(&ev->reap))) {
        LIST_REMOVE(job, rlink);
        job->reap = false;
        if (job->nsubs == 0)
            job_free(job);
    }
}

/* ---- heartbeat tick ---- */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct events *ev = arg;
    for (unsigned b = 0; b < EV_BUCKETS; b++) {
        struct ev_job *job, *next;
        for (job = LIST_FIRST(&ev->buckets[b]); job; job = next) {
            next = LIST_NEXT(job, link);
            if (job->nsubs == 0)
                continue;
            /* quiet since the last tick: poll, in case a message was lost */
            if (job->known && !job->active && !job->terminal_last)
                ev_job_refetch(job);
            job->active = false;
            for (struct events_sub *sub = TAILQ_FIRST(&job->subs); sub; sub = job->iter_next) {
                job->iter_next = TAILQ_NEXT(sub, link);
                if (!sub->live && !sub->fetch && !sub->done)
                    queue_sub(sub); /* a read failed after FOUND: try again */
                /* Live or replaying (perhaps paused for a client that does
                 * not read): the subscriber's heartbeat, and its chance to
                 * notice a client that takes nothing. */
                if (sub->found && !sub->done && !sub->gone)
                    sub->ops->tick(sub->arg);
            }
            job->iter_next = NULL;
        }
    }
}

/* ---- the hub ---- */

void events_metrics_init(void)
{
    m_subs = metrics_gauge("steno_sse_subscribers", "event subscribers (SSE streams) open", "");
    m_published = metrics_counter("steno_events_published_total",
                                  "job events numbered and published by this server", "");
    static const char *const vias[] = {"local", "redis", "notify", "database"};
    for (int i = 0; i < EV_VIA_COUNT; i++) {
        char label[32];
        snprintf(label, sizeof(label), "via=\"%s\"", vias[i]);
        m_received[i] = metrics_counter("steno_events_received_total",
                                        "job events heard by subscribed jobs, by path", label);
    }
    m_gaps_skipped = metrics_counter("steno_events_gaps_skipped_total",
                                     "event number gaps the database never filled", "");
}

void ev_count_published(void);
void ev_count_published(void)
{
    metrics_add(m_published, 1);
}

struct events *events_new(struct event_base *base, struct db_pool *db, struct redis *redis,
                          const struct events_options *o)
{
    struct events *ev = xcalloc(1, sizeof(*ev));
    ev->base = base;
    ev->db = db;
    ev->redis = redis;
    ev->opt = *o;
    if (ev->opt.heartbeat <= 0)
        ev->opt.heartbeat = 15;
    for (unsigned b = 0; b < EV_BUCKETS; b++)
        LIST_INIT(&ev->buckets[b]);
    LIST_INIT(&ev->sources);
    LIST_INIT(&ev->reap);
    TAILQ_INIT(&ev->service);
    ev->service_ev = event_new(base, -1, 0, service_cb, ev);
    ev->tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, ev);
    struct timeval tv = {
        (time_t)ev->opt.heartbeat,
        (suseconds_t)((ev->opt.heartbeat - (double)(time_t)ev->opt.heartbeat) * 1e6)};
    event_add(ev->tick_ev, &tv);
    ev_store_init(ev);
    ev_bus_start(ev);
    return ev;
}

void events_drain(struct events *ev)
{
    if (!ev || ev->draining)
        return;
    ev->draining = true;
    for (unsigned b = 0; b < EV_BUCKETS; b++) {
        struct ev_job *job;
        LIST_FOREACH(job, &ev->buckets[b], link)
        {
            for (struct events_sub *sub = TAILQ_FIRST(&job->subs); sub; sub = job->iter_next) {
                job->iter_next = TAILQ_NEXT(sub, link);
                if (!sub->done)
                    sub->ops->state(sub->arg, EVENTS_SUB_CLOSING, job->status, job->last);
            }
            job->iter_next = NULL;
        }
    }
}

void events_free(struct events *ev)
{
    if (!ev)
        return;
    ev_bus_stop(ev);
    while (!LIST_EMPTY(&ev->sources))
        ev_source_free(LIST_FIRST(&ev->sources));
    for (unsigned b = 0; b < EV_BUCKETS; b++)
        while (!LIST_EMPTY(&ev->buckets[b])) {
            struct ev_job *job = LIST_FIRST(&ev->buckets[b]);
            struct events_sub *sub;
            while ((sub = TAILQ_FIRST(&job->subs)))
                events_unsubscribe(sub);
            job_free(job);
        }
    struct events_sub *sub;
    while ((sub = TAILQ_FIRST(&ev->service))) {
        TAILQ_REMOVE(&ev->service, sub, qlink);
        if (sub->gone)
            free(sub);
    }
    event_free(ev->service_ev);
    event_free(ev->tick_ev);
    free(ev);
}

void events_get_stats(const struct events *ev, struct events_stats *out)
{
    *out = ev->stats;
}

bool events_status_terminal(const char *status)
{
    return status && (strcmp(status, "done") == 0 || strcmp(status, "failed") == 0 ||
                      strcmp(status, "cancelled") == 0);
}
