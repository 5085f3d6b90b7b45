/* events_store.c — events in PostgreSQL: the publisher's writes, reads.
 *
 * A source numbers its job's events and writes them in order: one statement
 * in flight per job, the events emitted meanwhile batched into the next.
 * Rows of one job therefore commit in number order, and so do the
 * notifications sent in the same statement (PostgreSQL delivers them on
 * commit, in commit order) — readers in other processes never see event n+1
 * committed before n unless n's write failed for good. */
#include "events_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define WRITE_TRIES 5

/* $1 job, $2 [{seq,type,data}, …] in order, $3 also NOTIFY (Redis was not
 * available for some of them). The job's counter only grows. Payloads over
 * NOTIFY's limit carry the number alone; listeners read the event back. */
static const char SQL_WRITE[] =
    "WITH b AS (SELECT (e->>'seq')::bigint AS seq, e->>'type' AS type, e->'data' AS data, e, i"
    "           FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS a(e, i)),"
    " ins AS (INSERT INTO job_events (job_id, seq, type, data)"
    "         SELECT $1::uuid, seq, type, data FROM b ON CONFLICT DO NOTHING),"
    " upd AS (UPDATE jobs SET event_seq = greatest(event_seq, (SELECT max(seq) FROM b))"
    "         WHERE id = $1::uuid)"
    " SELECT count(pg_notify('" EV_NOTIFY_CHANNEL "', $1 || ' ' ||"
    "   CASE WHEN octet_length(n.e::text) < 7900 THEN n.e::text"
    "   ELSE jsonb_build_object('seq', n.seq)::text END))"
    " FROM (SELECT * FROM b WHERE $3::boolean ORDER BY i) n";
/* Status, counter and up to EV_FETCH_MAX events from $2 on; no row for an
 * unknown job, one row with NULL seq when it has no such events. */
static const char SQL_READ[] =
    "SELECT j.status, j.event_seq, e.seq, e.type, e.data::text FROM jobs j"
    " LEFT JOIN LATERAL (SELECT seq, type, data FROM job_events"
    "                    WHERE job_id = j.id AND seq >= $2::bigint ORDER BY seq LIMIT $3) e ON true"
    " WHERE j.id = $1::uuid ORDER BY e.seq";
static const char SQL_SEQ[] =
    "SELECT greatest(j.event_seq, coalesce((SELECT max(seq) FROM job_events"
    " WHERE job_id = j.id), 0)) FROM jobs j WHERE j.id = $1::uuid";

void ev_sub_read_cb(const struct db_result *res, struct ev_fetch *f);
void ev_count_published(void);

static void fetch_cb(const struct db_result *res, void *arg);

void ev_store_init(struct events *ev)
{
    ev->st_read = db_pool_prepare(ev->db, SQL_READ);
    ev->st_write = db_pool_prepare(ev->db, SQL_WRITE);
    ev->st_seq = db_pool_prepare(ev->db, SQL_SEQ);
}

void ev_store_read(struct events *ev, const char *job_id, int64_t from, struct ev_fetch *f)
{
    char s_from[24], s_max[16];
    snprintf(s_from, sizeof(s_from), "%lld", (long long)from);
    snprintf(s_max, sizeof(s_max), "%d", EV_FETCH_MAX);
    const char *p[] = {job_id, s_from, s_max};
    db_pool_exec(ev->db, ev->st_read, 3, p, fetch_cb, f);
}

bool ev_store_rows(const struct db_result *r, const char **status, int64_t *event_seq,
                   ev_read_row_fn fn, void *arg)
{
    int n = db_result_rows(r);
    if (n == 0)
        return false;
    *status = db_result_value(r, 0, 0);
    *event_seq = strtoll(db_result_value(r, 0, 1), NULL, 10);
    for (int i = 0; fn && i < n; i++) {
        const char *seq = db_result_value(r, i, 2);
        if (seq)
            fn(arg, strtoll(seq, NULL, 10), db_result_value(r, i, 3), db_result_value(r, i, 4));
    }
    return true;
}

/* ---- hub-level reads: gaps, lost messages, quiet jobs ---- */

void ev_job_refetch(struct ev_job *job)
{
    if (!job->known)
        return; /* a subscriber's first read is on its way and will do */
    if (job->fetch) {
        job->refetch = true;
        return;
    }
    job->fetch = xcalloc(1, sizeof(*job->fetch));
    job->fetch->kind = EV_FETCH_JOB;
    job->fetch->owner = job;
    job->fetch->ev = job->ev;
    job->ev->stats.db_reads++;
    ev_store_read(job->ev, job->id, job->last + 1, job->fetch);
}

void ev_refetch_all(struct events *ev)
{
    for (unsigned b = 0; b < EV_BUCKETS; b++) {
        struct ev_job *job;
        LIST_FOREACH(job, &ev->buckets[b], link)
        ev_job_refetch(job);
    }
}

struct job_rows {
    struct ev_job *job;
    int n;
};

static void ingest_row(void *arg, int64_t seq, const char *type, const char *data)
{
    struct job_rows *r = arg;
    r->n++;
    ev_ingest(r->job, EV_VIA_DATABASE, seq, type, data, strlen(data));
}

static void job_read_done(struct ev_job *job, const struct db_result *res)
{
    if (res->error != DB_OK) {
        log_debug("events: job=%s read failed: %s", job->id, res->message);
        return; /* the gap timer or the next tick tries again */
    }
    int64_t before = job->last;
    struct job_rows r = {job, 0};
    const char *status;
    int64_t event_seq;
    if (!ev_store_rows(res, &status, &event_seq, ingest_row, &r)) {
        ev_job_snapshot(job, "cancelled", 0); /* the job was deleted */
        return;
    }
    if (job->last > before)
        job->ev->stats.gaps_filled++;
    ev_job_snapshot(job, status, event_seq);
    if (r.n == EV_FETCH_MAX || job->refetch) {
        job->refetch = false;
        ev_job_refetch(job);
    }
}

/* ---- sources (the publisher) ---- */

static void source_write(struct events_source *s);

void ev_source_free(struct events_source *s)
{
    LIST_REMOVE(s, link);
    if (s->fetch)
        s->fetch->owner = NULL;
    if (s->retry_ev)
        event_free(s->retry_ev);
    json_decref(s->queue);
    json_decref(s->inflight);
    json_decref(s->unnumbered);
    s->ev->stats.sources--;
    free(s);
}

static void number(struct events_source *s, const char *type, json_t *data)
{
    struct events *ev = s->ev;
    int64_t seq = ++s->next_seq;
    char *dtext = json_dumps(data, EV_JSON);
    json_t *e = json_pack("{s:I,s:s,s:o}", "seq", (json_int_t)seq, "type", type, "data", data);
    struct ev_job *job = ev_job_find(ev, s->id);
    if (job)
        ev_ingest(job, EV_VIA_LOCAL, seq, type, dtext,
                  strlen(dtext)); /* subscribers here: at once */
    free(dtext);
    bool published = false;
    if (redis_available(ev->redis)) {
        char channel[64];
        snprintf(channel, sizeof(channel), EV_REDIS_PREFIX "%s", s->id);
        char *text = json_dumps(e, EV_JSON);
        published = redis_publish(ev->redis, channel, text, strlen(text));
        free(text);
    }
    json_array_append_new(s->queue, e);
    if (!published)
        s->queue_notify = true;
    ev->stats.published++;
    ev_count_published();
}

static void flush(struct events_source *s)
{
    /* one batch at a time: in flight, or waiting to be retried */
    if (s->fetch || s->inflight || !s->seq_known || json_array_size(s->queue) == 0)
        return;
    s->inflight = s->queue;
    s->inflight_notify = s->queue_notify;
    s->queue = json_array();
    s->queue_notify = false;
    s->tries = 0;
    source_write(s);
}

static void source_write(struct events_source *s)
{
    s->fetch = xcalloc(1, sizeof(*s->fetch));
    s->fetch->kind = EV_FETCH_WRITE;
    s->fetch->owner = s;
    s->fetch->ev = s->ev;
    char *batch = json_dumps(s->inflight, EV_JSON);
    const char *p[] = {s->id, batch, s->inflight_notify ? "true" : "false"};
    db_pool_exec(s->ev->db, s->ev->st_write, 3, p, fetch_cb, s->fetch);
    free(batch);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct events_source *s = arg;
    if (s->inflight)
        source_write(s);
    else if (!s->seq_known) {
        s->fetch = xcalloc(1, sizeof(*s->fetch));
        s->fetch->kind = EV_FETCH_SEQ;
        s->fetch->owner = s;
        s->fetch->ev = s->ev;
        const char *p[] = {s->id};
        db_pool_exec(s->ev->db, s->ev->st_seq, 1, p, fetch_cb, s->fetch);
    }
}

static void retry_later(struct events_source *s)
{
    if (!s->retry_ev)
        s->retry_ev = evtimer_new(s->ev->base, retry_cb, s);
    struct timeval tv = {1, 0};
    evtimer_add(s->retry_ev, &tv);
}

static void after_write(struct events_source *s)
{
    if (s->closed && json_array_size(s->queue) == 0) {
        ev_source_free(s);
        return;
    }
    flush(s);
}

static void write_done(struct events_source *s, const struct db_result *res)
{
    if (res->error != DB_OK && res->error != DB_ERR_SQL && res->error != DB_ERR_SHUTDOWN &&
        ++s->tries < WRITE_TRIES) {
        log_warn("events: job=%s write failed (%s), retrying", s->id, db_error_name(res->error));
        retry_later(s);
        return;
    }
    if (res->error != DB_OK)
        log_warn("events: job=%s %zu events not stored: %s", s->id, json_array_size(s->inflight),
                 res->message);
    json_decref(s->inflight);
    s->inflight = NULL;
    after_write(s);
}

static void seq_done(struct events_source *s, const struct db_result *res)
{
    if (res->error != DB_OK || db_result_rows(res) != 1) {
        if (res->error == DB_OK || res->error == DB_ERR_SQL || res->error == DB_ERR_SHUTDOWN ||
            ++s->tries >= WRITE_TRIES) {
            log_warn("events: job=%s cannot read its event counter; events dropped", s->id);
            if (s->closed) {
                ev_source_free(s);
                return;
            }
            s->tries = 0;
        }
        retry_later(s);
        return;
    }
    s->next_seq = strtoll(db_result_value(res, 0, 0), NULL, 10);
    s->seq_known = true;
    s->tries = 0;
    json_t *u = s->unnumbered;
    s->unnumbered = NULL;
    size_t i;
    json_t *pair;
    json_array_foreach(u, i, pair)
    {
        number(s, json_string_value(json_array_get(pair, 0)), json_incref(json_array_get(pair, 1)));
    }
    json_decref(u);
    after_write(s);
}

static void fetch_cb(const struct db_result *res, void *arg)
{
    struct ev_fetch *f = arg;
    if (f->kind == EV_FETCH_SUB) {
        ev_sub_read_cb(res, f); /* frees f */
        return;
    }
    void *owner = f->owner;
    enum ev_fetch_kind kind = f->kind;
    free(f);
    if (!owner)
        return;
    if (kind == EV_FETCH_JOB) {
        struct ev_job *job = owner;
        job->fetch = NULL;
        job_read_done(job, res);
    } else {
        struct events_source *s = owner;
        s->fetch = NULL;
        if (kind == EV_FETCH_SEQ)
            seq_done(s, res);
        else
            write_done(s, res);
    }
}

struct events_source *events_source_open(struct events *ev, const char *job_id)
{
    struct events_source *s = xcalloc(1, sizeof(*s)), *old;
    s->ev = ev;
    snprintf(s->id, sizeof(s->id), "%s", job_id);
    s->queue = json_array();
    LIST_FOREACH(old, &ev->sources, link)
    if (old->seq_known && strcmp(old->id, job_id) == 0) {
        /* the same job again in this process, its last writes maybe still
         * in flight: continue the numbers from memory */
        s->next_seq = old->next_seq;
        s->seq_known = true;
    }
    LIST_INSERT_HEAD(&ev->sources, s, link);
    ev->stats.sources++;
    if (!s->seq_known) {
        s->unnumbered = json_array();
        retry_cb(-1, 0, s); /* reads the counter */
    }
    return s;
}

void events_emit(struct events_source *s, const char *type, json_t *data)
{
    if (!s) {
        json_decref(data);
        return;
    }
    if (!s->seq_known) {
        json_array_append_new(s->unnumbered, json_pack("[s,o]", type, data));
        return;
    }
    number(s, type, data);
    flush(s);
}

void events_source_close(struct events_source *s)
{
    if (!s)
        return;
    s->closed = true;
    if (!s->fetch && (!s->seq_known || json_array_size(s->queue) == 0) &&
        !(s->retry_ev && evtimer_pending(s->retry_ev, NULL)))
        ev_source_free(s);
}
