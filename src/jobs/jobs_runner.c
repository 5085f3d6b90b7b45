/* jobs_runner.c — claim jobs under a lease, run them, persist as they go.
 *
 * A worker claims the oldest highest-priority queued job with FOR UPDATE
 * SKIP LOCKED (so processes never collide), holds it under a lease that a
 * heartbeat renews, and hands it to the engine with the chunks an earlier
 * run already finished. Every engine event is written through at once: the
 * plan and chunk rows, each chunk's transcript as it lands, the merged
 * transcript and the final state. A process that dies simply stops
 * renewing; its leases expire and any process puts the jobs back in the
 * queue, where they resume with only the missing chunks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_progress.h"
#include "jobs_internal.h"
#include "log.h"

struct running_job {
    struct jobs *j;
    char id[40];
    char ctx[64];
    char *audio_path, *sha256, *cache_key, *webhook;
    bool failed; /* the final state written is 'failed' */
    json_t *params;
    int priority;
    struct engine_job *ej;
    bool finishing; /* the final UPDATE is in flight or being retried */
    /* A query whose callback gets this job is in flight: the job may be
     * dropped meanwhile (cancel, lost lease, shutdown), but only that
     * callback frees it. */
    bool loading;             /* the chunk list is being read */
    bool final_inflight;      /* the final UPDATE is being executed */
    bool dropped;             /* no longer running here; freed by the pending callback */
    uint64_t claim_gen;       /* heartbeat generation when claimed */
    char *final_sql_args[10]; /* kept for retries of the final UPDATE */
    int final_nargs;
    db_stmt final_stmt;
    struct event *retry_ev;
    struct job_progress *progress; /* its events (SSE) */
    LIST_ENTRY(running_job) link;
};

static const char SQL_CLAIM[] =
    "UPDATE jobs SET status = 'running', lease_owner = $1,"
    " lease_expires_at = now() + make_interval(secs => $2::double precision),"
    " attempts = attempts + 1, started_at = coalesce(started_at, now())"
    " WHERE id = (SELECT id FROM jobs WHERE status = 'queued'"
    "             ORDER BY priority, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " RETURNING id, priority, audio_path, audio_sha256, cache_key, params::text,"
    " coalesce(webhook_url, '')";
static const char SQL_RECLAIM[] =
    "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL"
    " WHERE status = 'running' AND lease_expires_at < now() RETURNING id";
static const char SQL_HEARTBEAT[] =
    "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $2::double precision)"
    " WHERE lease_owner = $1 AND status = 'running' AND id = ANY($3::uuid[]) RETURNING id";
static const char SQL_RELEASE[] =
    "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL"
    " WHERE lease_owner = $1 AND status = 'running'";
static const char SQL_CHUNKS[] =
    "SELECT idx, start_s, duration_s, start_frame, end_frame, status, result::text"
    " FROM chunks WHERE job_id = $1 AND start_frame IS NOT NULL ORDER BY idx";
static const char SQL_PLAN[] =
    "WITH p AS (UPDATE jobs SET plan = $2::jsonb, audio_seconds = $3::double precision"
    "           WHERE id = $1 AND lease_owner = $4)"
    " INSERT INTO chunks (job_id, idx, start_s, duration_s, start_frame, end_frame)"
    " SELECT $1, * FROM unnest($5::int[], $6::float8[], $7::float8[], $8::bigint[], $9::bigint[])"
    " ON CONFLICT (job_id, idx) DO NOTHING";
static const char SQL_CHUNK_START[] =
    "UPDATE chunks SET status = 'running', started_at = now() WHERE job_id = $1 AND idx = $2";
static const char SQL_CHUNK_DONE[] =
    "UPDATE chunks SET status = 'done', result = $3::jsonb, attempts = $4, last_error = NULL,"
    " timings = $5::jsonb, bytes_sent = $6, finished_at = now() WHERE job_id = $1 AND idx = $2";
static const char SQL_CHUNK_FAILED[] =
    "UPDATE chunks SET status = 'failed', last_error = $3::jsonb, attempts = $4,"
    " finished_at = now() WHERE job_id = $1 AND idx = $2";
static const char SQL_SPLIT[] =
    "WITH a AS (UPDATE chunks SET duration_s = $3, end_frame = $4, status = 'pending'"
    "           WHERE job_id = $1 AND idx = $2)"
    " INSERT INTO chunks (job_id, idx, start_s, duration_s, start_frame, end_frame)"
    " VALUES ($1, $5, $6, $7, $8, $9) ON CONFLICT (job_id, idx) DO NOTHING";
static const char SQL_DONE[] =
    "WITH t AS (INSERT INTO transcripts (cache_key, sha256, params, language, result, text,"
    "                                    audio_seconds, job_id)"
    "           VALUES ($3, $4, $5::jsonb, nullif($6, ''), $7::jsonb, $8, $9, $1)"
    "           ON CONFLICT (cache_key) DO UPDATE SET result = EXCLUDED.result,"
    "             text = EXCLUDED.text, language = EXCLUDED.language, job_id = EXCLUDED.job_id,"
    "             audio_seconds = EXCLUDED.audio_seconds)"
    " UPDATE jobs SET status = 'done', finished_at = now(), error = NULL,"
    " lease_owner = NULL, lease_expires_at = NULL"
    " WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING finished_at";
static const char SQL_FAILED[] =
    "UPDATE jobs SET status = 'failed', error = $3::jsonb, finished_at = now(),"
    " lease_owner = NULL, lease_expires_at = NULL"
    " WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING finished_at";

static void kick_cb(evutil_socket_t fd, short what, void *arg);

void jobs_kick(struct jobs *j)
{
    if (j->kick_ev)
        event_active(j->kick_ev, EV_TIMEOUT, 0);
}

static void release(struct running_job *rj)
{
    for (int i = 0; i < rj->final_nargs; i++)
        free(rj->final_sql_args[i]);
    if (rj->retry_ev)
        event_free(rj->retry_ev);
    job_progress_free(rj->progress);
    free(rj->audio_path);
    free(rj->sha256);
    free(rj->cache_key);
    free(rj->webhook);
    json_decref(rj->params);
    free(rj);
}

/* The job stops running here: off the list, its engine work cancelled;
 * freed now, or by the callback of the query still holding it. */
static void free_running(struct running_job *rj)
{
    struct jobs *j = rj->j;
    if (!rj->dropped) {
        LIST_REMOVE(rj, link);
        j->nrunning--;
        rj->dropped = true;
    }
    if (rj->ej) {
        engine_job_cancel(rj->ej);
        rj->ej = NULL;
    }
    if (rj->retry_ev) {
        event_free(rj->retry_ev);
        rj->retry_ev = NULL;
    }
    if (!rj->loading && !rj->final_inflight)
        release(rj);
}

static struct running_job *find_running(struct jobs *j, const char *id)
{
    struct running_job *rj;
    LIST_FOREACH(rj, &j->running, link)
    if (strcmp(rj->id, id) == 0)
        return rj;
    return NULL;
}

/* Fire-and-forget writes: a failure is logged; the state is rebuilt from
 * what did land when the job resumes. */
static void logged_cb(const struct db_result *res, void *arg)
{
    if (res->error != DB_OK)
        log_warn("jobs: write failed (%s): %s", db_error_name(res->error), res->message);
}

/* --- the final write, retried until it lands (the lease is renewed meanwhile) --- */

static void final_cb(const struct db_result *res, void *arg);

/* The job's end is durable: tell its webhook (signed, retried). */
static void notify_webhook(struct running_job *rj, const struct db_result *res)
{
    if (!rj->webhook || !*rj->webhook || db_result_rows(res) < 1)
        return; /* no hook, or the job was no longer ours (cancelled) */
    const char *status = rj->failed ? "failed" : "done";
    char self[64], transcript[72];
    snprintf(self, sizeof(self), "/v1/jobs/%s", rj->id);
    snprintf(transcript, sizeof(transcript), "/v1/transcripts/%s", rj->id);
    json_t *body =
        json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "event", rj->failed ? "job.failed" : "job.done",
                  "id", rj->id, "status", status, "finished_at", db_result_value(res, 0, 0),
                  "links", "self", self, "transcript", transcript);
    if (rj->failed) {
        json_t *err = json_loads(rj->final_sql_args[2], 0, NULL);
        json_object_set_new(body, "error", err ? err : json_null());
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!webhooks_send(rj->j->webhooks, rj->webhook, rj->failed ? "job.failed" : "job.done", text,
                       rj->ctx))
        log_ctx_warn(rj->ctx, "jobs: webhook URL unusable: %s", rj->webhook);
    free(text);
}

static void final_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct running_job *rj = arg;
    rj->final_inflight = true;
    db_pool_exec(rj->j->db, rj->final_stmt, rj->final_nargs,
                 (const char *const *)rj->final_sql_args, final_cb, rj);
}

static void final_cb(const struct db_result *res, void *arg)
{
    struct running_job *rj = arg;
    struct jobs *j = rj->j;
    rj->final_inflight = false;
    if (rj->dropped) {
        release(rj); /* stopped here meanwhile (shutdown): the lease expires */
        return;
    }
    if (res->error == DB_OK || res->error == DB_ERR_SQL || j->stopping) {
        if (res->error != DB_OK) {
            log_ctx_error(rj->ctx, "jobs: final state not written: %s", res->message);
        } else {
            if (!rj->failed) /* L3 is written: now L1 and L2 (key, result) */
                cache_put(j->cache, rj->final_sql_args[2], rj->final_sql_args[6],
                          strlen(rj->final_sql_args[6]));
            notify_webhook(rj, res);
        }
        if (res->error == DB_OK && db_result_rows(res) > 0)
            job_progress_finished(rj->progress, rj->failed, rj->final_sql_args[2],
                                  db_result_value(res, 0, 0));
        free_running(rj);
        jobs_kick(j);
        return;
    }
    log_ctx_warn(rj->ctx, "jobs: final state not written yet (%s), retrying",
                 db_error_name(res->error));
    if (!rj->retry_ev)
        rj->retry_ev = evtimer_new(j->base, final_retry_cb, rj);
    struct timeval tv = {2, 0};
    event_add(rj->retry_ev, &tv);
}

static void write_final(struct running_job *rj, db_stmt stmt, int n, char **args)
{
    rj->finishing = true;
    rj->ej = NULL; /* the engine frees its job after the hook returns */
    rj->final_stmt = stmt;
    rj->final_nargs = n;
    for (int i = 0; i < n; i++)
        rj->final_sql_args[i] = args[i];
    rj->final_inflight = true;
    db_pool_exec(rj->j->db, stmt, n, (const char *const *)rj->final_sql_args, final_cb, rj);
}

/* --- engine hooks --- */

static char *array_of(const struct engine_chunk *c, size_t n, int which)
{
    size_t cap = 16 + n * 24, len = 0;
    char *s = xmalloc(cap);
    s[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        int w;
        switch (which) {
        case 0:
            w = snprintf(s + len, cap - len, "%s%d", i ? "," : "", c[i].index);
            break;
        case 1:
            w = snprintf(s + len, cap - len, "%s%.6f", i ? "," : "", c[i].start);
            break;
        case 2:
            w = snprintf(s + len, cap - len, "%s%.6f", i ? "," : "", c[i].duration);
            break;
        case 3:
            w = snprintf(s + len, cap - len, "%s%lld", i ? "," : "", (long long)c[i].start_frame);
            break;
        default:
            w = snprintf(s + len, cap - len, "%s%lld", i ? "," : "", (long long)c[i].end_frame);
            break;
        }
        len += (size_t)w;
    }
    s[len++] = '}';
    s[len] = '\0';
    return s;
}

static void on_planned(void *arg, const struct audio_info *info, const struct engine_chunk *c,
                       size_t n, const char *plan_json)
{
    struct running_job *rj = arg;
    char secs[32];
    snprintf(secs, sizeof(secs), "%.6f", info->duration);
    char *arrays[5];
    for (int k = 0; k < 5; k++)
        arrays[k] = array_of(c, n, k);
    const char *p[] = {rj->id,    plan_json, secs,      jobs_owner(rj->j), arrays[0],
                       arrays[1], arrays[2], arrays[3], arrays[4]};
    db_pool_exec(rj->j->db, rj->j->st_plan, 9, p, logged_cb, NULL);
    for (int k = 0; k < 5; k++)
        free(arrays[k]);
    job_progress_planned(rj->progress, info->duration, c, n);
    log_ctx_info(rj->ctx, "jobs: planned %zu chunks for %.1fs of audio", n, info->duration);
}

static void on_chunk_started(void *arg, const struct engine_chunk *c)
{
    struct running_job *rj = arg;
    char idx[16];
    snprintf(idx, sizeof(idx), "%d", c->index);
    const char *p[] = {rj->id, idx};
    db_pool_exec(rj->j->db, rj->j->st_chunk_start, 2, p, logged_cb, NULL);
    job_progress_chunk_started(rj->progress, c);
}

static void on_chunk_done(void *arg, const struct engine_chunk *c, const struct transcript *t,
                          unsigned attempts, double seconds)
{
    struct running_job *rj = arg;
    char idx[16], att[16], timings[64];
    snprintf(idx, sizeof(idx), "%d", c->index);
    snprintf(att, sizeof(att), "%u", attempts);
    snprintf(timings, sizeof(timings), "{\"upstream_ms\":%.0f}", seconds * 1000);
    json_t *jt = transcript_to_json(t);
    char *result = json_dumps(jt, JSON_COMPACT);
    json_decref(jt);
    const char *p[] = {rj->id, idx, result, att, timings, "0"};
    db_pool_exec(rj->j->db, rj->j->st_chunk_done, 6, p, logged_cb, NULL);
    free(result);
    job_progress_chunk_done(rj->progress, c, attempts, seconds);
}

static void on_chunk_failed(void *arg, const struct engine_chunk *c, const char *error,
                            unsigned attempts)
{
    struct running_job *rj = arg;
    char idx[16], att[16];
    snprintf(idx, sizeof(idx), "%d", c->index);
    snprintf(att, sizeof(att), "%u", attempts);
    json_t *e = json_pack("{s:s}", "message", error);
    char *err = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    const char *p[] = {rj->id, idx, err, att};
    db_pool_exec(rj->j->db, rj->j->st_chunk_failed, 4, p, logged_cb, NULL);
    free(err);
    job_progress_chunk_failed(rj->progress, c, error, attempts);
}

static void on_chunk_split(void *arg, const struct engine_chunk *a, const struct engine_chunk *b)
{
    struct running_job *rj = arg;
    char ai[16], ad[32], ae[32], bi[16], bs[32], bd[32], bsf[32], bef[32];
    snprintf(ai, sizeof(ai), "%d", a->index);
    snprintf(ad, sizeof(ad), "%.6f", a->duration);
    snprintf(ae, sizeof(ae), "%lld", (long long)a->end_frame);
    snprintf(bi, sizeof(bi), "%d", b->index);
    snprintf(bs, sizeof(bs), "%.6f", b->start);
    snprintf(bd, sizeof(bd), "%.6f", b->duration);
    snprintf(bsf, sizeof(bsf), "%lld", (long long)b->start_frame);
    snprintf(bef, sizeof(bef), "%lld", (long long)b->end_frame);
    const char *p[] = {rj->id, ai, ad, ae, bi, bs, bd, bsf, bef};
    db_pool_query(rj->j->db, SQL_SPLIT, 9, p, logged_cb, NULL);
    job_progress_chunk_split(rj->progress, a, b);
}

static void on_finished(void *arg, struct transcript *merged, enum engine_error err,
                        const char *message)
{
    struct running_job *rj = arg;
    struct jobs *j = rj->j;
    if (err == ENGINE_OK) {
        json_t *jt = transcript_to_json(merged);
        char *result = json_dumps(jt, JSON_COMPACT);
        json_decref(jt);
        char *params = json_dumps(rj->params, JSON_COMPACT | JSON_SORT_KEYS);
        char secs[32];
        snprintf(secs, sizeof(secs), "%.6f", isnan(merged->duration) ? 0.0 : merged->duration);
        char *args[] = {xstrdup(rj->id),
                        xstrdup(jobs_owner(j)),
                        xstrdup(rj->cache_key),
                        xstrdup(rj->sha256),
                        params,
                        xstrdup(merged->language ? merged->language : ""),
                        result,
                        xstrdup(merged->text),
                        xstrdup(secs)};
        log_ctx_info(rj->ctx, "jobs: done (%zu segments)", merged->nsegments);
        transcript_free(merged);
        write_final(rj, j->st_done, 9, args);
        return;
    }
    static const char *const codes[] = {"ok", "bad_audio", "chunks_failed", "upstream_rejected"};
    json_t *e = json_pack("{s:s,s:s,s:s}", "type",
                          err == ENGINE_BAD_AUDIO ? "invalid_request_error" : "upstream_error",
                          "code", codes[err], "message", message ? message : "failed");
    char *args[] = {xstrdup(rj->id), xstrdup(jobs_owner(j)), json_dumps(e, JSON_COMPACT)};
    json_decref(e);
    rj->failed = true;
    write_final(rj, j->st_failed, 3, args);
}

static const struct engine_hooks hooks = {
    .planned = on_planned,
    .chunk_started = on_chunk_started,
    .chunk_done = on_chunk_done,
    .chunk_failed = on_chunk_failed,
    .chunk_split = on_chunk_split,
    .finished = on_finished,
};

/* --- claiming --- */

static void chunks_cb(const struct db_result *res, void *arg)
{
    struct running_job *rj = arg;
    struct jobs *j = rj->j;
    rj->loading = false;
    if (rj->dropped) {
        release(rj); /* cancelled or lost while its chunks were read */
        return;
    }
    if (j->stopping || res->error != DB_OK) {
        if (res->error != DB_OK)
            log_ctx_warn(rj->ctx, "jobs: cannot load chunks (%s); the lease will expire",
                         res->message);
        free_running(rj); /* not started: the lease expires and the job is reclaimed */
        return;
    }
    int n = db_result_rows(res);
    struct engine_chunk *known = xcalloc(n ? (size_t)n : 1, sizeof(*known));
    size_t done = 0;
    for (int r = 0; r < n; r++) {
        struct engine_chunk *c = &known[r];
        c->index = atoi(db_result_value(res, r, 0));
        c->start = atof(db_result_value(res, r, 1));
        c->duration = atof(db_result_value(res, r, 2));
        c->start_frame = atoll(db_result_value(res, r, 3));
        c->end_frame = atoll(db_result_value(res, r, 4));
        const char *result = db_result_value(res, r, 6);
        if (strcmp(db_result_value(res, r, 5), "done") == 0 && result && *result) {
            char err[128];
            c->result = transcript_from_json(result, strlen(result), err, sizeof(err));
            c->state = c->result ? ENGINE_CHUNK_DONE : ENGINE_CHUNK_PENDING;
            done += c->result != NULL;
        }
    }
    if (n)
        log_ctx_info(rj->ctx, "jobs: resuming, %zu of %d chunks already done", done, n);
    const char *model = json_string_value(json_object_get(rj->params, "model"));
    const char *gran = json_string_value(json_object_get(rj->params, "timestamp_granularity"));
    json_t *temp = json_object_get(rj->params, "temperature");
    struct engine_job_params p = {
        .model = model ? model : j->cfg->model,
        .language = json_string_value(json_object_get(rj->params, "language")),
        .prompt = json_string_value(json_object_get(rj->params, "prompt")),
        .temperature = json_is_number(temp) ? json_number_value(temp) : -1,
        .word_timestamps = gran && strcmp(gran, "word") == 0,
        .priority = (enum upstream_priority)rj->priority,
    };
    job_progress_running(rj->progress, (size_t)n, done);
    rj->ej = engine_job_start(j->engine, rj->id, rj->audio_path, &p, known, (size_t)n, &hooks, rj);
    for (int r = 0; r < n; r++)
        transcript_free(known[r].result); /* the engine took the ones it kept */
    free(known);
}

static void claim_cb(const struct db_result *res, void *arg)
{
    struct jobs *j = arg;
    j->claiming = false;
    if (j->stopping)
        return;
    if (res->error != DB_OK) {
        log_debug("jobs: claim failed: %s", res->message);
        return;
    }
    if (db_result_rows(res) == 0)
        return;
    struct running_job *rj = xcalloc(1, sizeof(*rj));
    rj->j = j;
    snprintf(rj->id, sizeof(rj->id), "%s", db_result_value(res, 0, 0));
    snprintf(rj->ctx, sizeof(rj->ctx), "job=%s", rj->id);
    rj->priority = atoi(db_result_value(res, 0, 1));
    rj->audio_path = xstrdup(db_result_value(res, 0, 2));
    rj->sha256 = xstrdup(db_result_value(res, 0, 3));
    rj->cache_key = xstrdup(db_result_value(res, 0, 4));
    rj->params = json_loads(db_result_value(res, 0, 5), 0, NULL);
    rj->webhook = xstrdup(db_result_value(res, 0, 6));
    if (!rj->params)
        rj->params = json_object();
    LIST_INSERT_HEAD(&j->running, rj, link);
    j->nrunning++;
    rj->progress = job_progress_new(j->events, rj->id);
    log_ctx_info(rj->ctx, "jobs: claimed (priority %s)", jobs_priority_name(rj->priority));
    const char *p[] = {rj->id};
    rj->loading = true;
    rj->claim_gen = j->beat_gen;
    db_pool_exec(j->db, j->st_chunks, 1, p, chunks_cb, rj);
    jobs_kick(j); /* there may be more, and room for them */
}

static void try_claim(struct jobs *j)
{
    if (j->stopping || j->claiming || j->nrunning >= (unsigned)j->cfg->jobs_per_worker)
        return;
    j->claiming = true;
    char lease[32];
    snprintf(lease, sizeof(lease), "%.3f", j->cfg->lease);
    const char *p[] = {j->owner, lease};
    db_pool_exec(j->db, j->st_claim, 2, p, claim_cb, j);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    try_claim(arg);
}

static void reclaim_cb(const struct db_result *res, void *arg)
{
    struct jobs *j = arg;
    if (res->error == DB_OK && db_result_rows(res) > 0) {
        log_info("jobs: %d expired leases put back in the queue", db_result_rows(res));
        jobs_kick(j);
    }
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct jobs *j = arg;
    db_pool_exec(j->db, j->st_reclaim, 0, NULL, reclaim_cb, j);
    try_claim(j);
}

/* --- heartbeat --- */

/* One heartbeat in flight: it speaks only for the jobs claimed before it
 * was sent (a job claimed meanwhile is not in its answer, yet ours). */
struct beat {
    struct jobs *j;
    uint64_t gen;
};

static void heartbeat_result(const struct db_result *res, void *arg)
{
    struct beat *b = arg;
    struct jobs *j = b->j;
    uint64_t gen = b->gen;
    free(b);
    if (res->error != DB_OK || j->stopping)
        return; /* try again next beat; the lease has slack for it */
    struct running_job *rj, *next;
    for (rj = LIST_FIRST(&j->running); rj; rj = next) {
        next = LIST_NEXT(rj, link);
        if (rj->finishing || rj->claim_gen >= gen)
            continue;
        bool kept = false;
        for (int r = 0; r < db_result_rows(res) && !kept; r++)
            kept = strcmp(db_result_value(res, r, 0), rj->id) == 0;
        if (!kept) {
            log_ctx_warn(rj->ctx, "jobs: lease lost (cancelled or reclaimed); stopping here");
            free_running(rj);
        }
    }
}

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    struct jobs *j = arg;
    if (!j->nrunning)
        return;
    size_t cap = 4 + (size_t)j->nrunning * 40, len = 0;
    char *ids = xmalloc(cap);
    ids[len++] = '{';
    struct running_job *rj;
    LIST_FOREACH(rj, &j->running, link)
    len += (size_t)snprintf(ids + len, cap - len, "%s%s", len > 1 ? "," : "", rj->id);
    ids[len++] = '}';
    ids[len] = '\0';
    char lease[32];
    snprintf(lease, sizeof(lease), "%.3f", j->cfg->lease);
    const char *p[] = {j->owner, lease, ids};
    struct beat *b = xmalloc(sizeof(*b));
    b->j = j;
    b->gen = ++j->beat_gen;
    db_pool_exec(j->db, j->st_heartbeat, 3, p, heartbeat_result, b);
    free(ids);
}

void jobs_cancel_local(struct jobs *j, const char *id)
{
    struct running_job *rj = find_running(j, id);
    if (rj && !rj->finishing) {
        log_ctx_info(rj->ctx, "jobs: cancelled");
        job_progress_cancelled(rj->progress);
        free_running(rj);
        jobs_kick(j);
    }
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    struct jobs *j = arg;
    if (strcmp(channel, "steno_cancel") == 0 && payload)
        jobs_cancel_local(j, payload);
    else
        jobs_kick(j); /* a new job, or (payload NULL) the listener is back: look */
}

void jobs_runner_start(struct jobs *j)
{
    LIST_INIT(&j->running);
    j->st_claim = db_pool_prepare(j->db, SQL_CLAIM);
    j->st_reclaim = db_pool_prepare(j->db, SQL_RECLAIM);
    j->st_heartbeat = db_pool_prepare(j->db, SQL_HEARTBEAT);
    j->st_chunks = db_pool_prepare(j->db, SQL_CHUNKS);
    j->st_plan = db_pool_prepare(j->db, SQL_PLAN);
    j->st_chunk_start = db_pool_prepare(j->db, SQL_CHUNK_START);
    j->st_chunk_done = db_pool_prepare(j->db, SQL_CHUNK_DONE);
    j->st_chunk_failed = db_pool_prepare(j->db, SQL_CHUNK_FAILED);
    j->st_done = db_pool_prepare(j->db, SQL_DONE);
    j->st_failed = db_pool_prepare(j->db, SQL_FAILED);
    j->kick_ev = event_new(j->base, -1, 0, kick_cb, j);
    if (j->cfg->jobs_per_worker <= 0)
        return; /* API only */
    if (!db_pool_listen(j->db, "steno_jobs", on_notify, j) ||
        !db_pool_listen(j->db, "steno_cancel", on_notify, j))
        log_warn("jobs: cannot LISTEN; polling every %.1fs instead", j->cfg->claim_interval);
    j->claim_ev = event_new(j->base, -1, EV_PERSIST, tick_cb, j);
    struct timeval tv = {(time_t)j->cfg->claim_interval,
                         (suseconds_t)(fmod(j->cfg->claim_interval, 1.0) * 1e6)};
    event_add(j->claim_ev, &tv);
    j->heartbeat_ev = event_new(j->base, -1, EV_PERSIST, heartbeat_cb, j);
    double beat = j->cfg->lease / 3;
    struct timeval hb = {(time_t)beat, (suseconds_t)(fmod(beat, 1.0) * 1e6)};
    event_add(j->heartbeat_ev, &hb);
    jobs_kick(j);
}

/* SIGTERM: give our jobs back to the queue at once, so another process
 * resumes them without waiting for the lease to expire. */
void jobs_drain(struct jobs *j)
{
    if (j) {
        cache_flush(j->cache);
        events_drain(j->events); /* end the event streams: clients reconnect elsewhere */
    }
    if (!j || !j->db || j->stopping)
        return;
    j->stopping = true;
    struct running_job *rj, *next;
    for (rj = LIST_FIRST(&j->running); rj; rj = next) {
        next = LIST_NEXT(rj, link);
        if (!rj->finishing)
            free_running(rj);
    }
    const char *p[] = {j->owner};
    db_pool_query(j->db, SQL_RELEASE, 1, p, logged_cb, NULL);
}

void jobs_runner_stop(struct jobs *j)
{
    j->stopping = true;
    while (!LIST_EMPTY(&j->running))
        free_running(LIST_FIRST(&j->running));
    if (j->claim_ev)
        event_free(j->claim_ev);
    if (j->heartbeat_ev)
        event_free(j->heartbeat_ev);
    if (j->kick_ev)
        event_free(j->kick_ev);
    j->claim_ev = j->heartbeat_ev = j->kick_ev = NULL;
}
