/* jobs_admin.c — POST /v1/jobs/{id}/retry, DELETE /v1/jobs/{id},
 * GET /api/queue-status.
 *
 * The two writes are one statement each (data-modifying CTEs), so the job,
 * its chunks, the audit row and the NOTIFY that wakes other processes commit
 * together or not at all; NOTIFY is delivered at that commit. */
#include "api_jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_call.h"
#include "jobs.h"
#include "log.h"

/* ---- POST /v1/jobs/{id}/retry ---- */

/* A failed job back to queued with only its failed chunks pending again
 * (attempts reset, error cleared); done chunks keep their results, so only
 * the failed ones go upstream again (FR-2.5). Columns: the status before
 * ($1 unknown → NULL), jobs requeued (0/1), chunks requeued. Claimers hear
 * steno_jobs. $2 is the request id for the audit row. A requeued job is
 * not joinable (single_flight false): an identical one may be in flight
 * already, and schema/003's unique index allows only one. The retry is a
 * progress event of its own ("job", state queued, retried), numbered after
 * the old run's error in the same statement — before any worker can claim
 * the job and continue the numbering — so an SSE client that reconnects
 * sees the error superseded instead of the stream ending there. NOTIFY
 * carries it to every process (the runner's later events go by Redis). */
static struct api_stmt st_retry = {
    /* clang-format off */
    .sql =
        "WITH prev AS ("
        "SELECT status "
        "FROM jobs "
        "WHERE id = $1::uuid), j AS ("
        "UPDATE jobs SET status = 'queued', error = NULL, finished_at = NULL, single_flight = false, "
        "event_seq = greatest(event_seq, coalesce(("
        "SELECT max(seq) "
        "FROM job_events "
        "WHERE job_id = $1::uuid), 0)) + 1 "
        "WHERE id = $1::uuid AND status = 'failed' "
        "RETURNING id, event_seq), e AS ("
        "INSERT INTO job_events (job_id, seq, type, data) "
        "SELECT id, event_seq, 'job', jsonb_build_object('at', round(extract(epoch "
        "FROM clock_timestamp()) * 1e6) / 1e6, 'state', 'queued', 'retried', true) "
        "FROM j "
        "RETURNING job_id, seq, type, data), c AS ("
        "UPDATE chunks SET status = 'pending', attempts = 0, last_error = NULL, started_at = "
        "NULL, finished_at = NULL "
        "WHERE job_id = $1::uuid AND status = 'failed' AND EXISTS ("
        "SELECT 1 "
        "FROM j) "
        "RETURNING idx), a AS ("
        "INSERT INTO audit_log (actor, action, target, details) "
        "SELECT 'api', 'job.retry', 'job:' || j.id, jsonb_build_object('chunks_requeued', ("
        "SELECT count(*) "
        "FROM c), 'request_id', $2::text) "
        "FROM j "
        "RETURNING 1), n AS ("
        "SELECT pg_notify('steno_jobs', j.id::text) "
        "FROM j), en AS ("
        "SELECT pg_notify('steno_events', e.job_id || ' ' || jsonb_build_object('seq', e.seq, "
        "'type', e.type, 'data', e.data)::text) "
        "FROM e) "
        "SELECT ("
        "SELECT status "
        "FROM prev), ("
        "SELECT count(*) "
        "FROM j), ("
        "SELECT count(*) "
        "FROM c), ("
        "SELECT count(*) "
        "FROM a) + ("
        "SELECT count(*) "
        "FROM n) + ("
        "SELECT count(*) "
        "FROM en)",
    /* clang-format on */
};

static void retry_done(const struct db_result *r, void *arg)
{
    struct api_call *c = arg;
    struct http_request *req = api_call_take(c);
    if (!req)
        return;
    const char *prev = db_result_value(r, 0, 0);
    if (api_db_failed(req, r, "job retry")) {
        /* answered */
    } else if (!prev) {
        api_respond_job_not_found(req, c->id);
    } else if (strcmp(db_result_value(r, 0, 1), "1") != 0) {
        http_respond_error(req, 409, "invalid_request_error", "job_not_failed",
                           "job %s is %s; only a failed job can be retried", c->id,
                           strcmp(prev, "failed") == 0 ? "no longer failed" : prev);
    } else {
        log_ctx_info(req->log_ctx, "api: job=%s retried, %s failed chunks requeued", c->id,
                     db_result_value(r, 0, 2));
        http_respond_json(req, 202,
                          json_pack("{s:s,s:s,s:I}", "id", c->id, "status", "queued",
                                    "chunks_requeued",
                                    (json_int_t)strtoll(db_result_value(r, 0, 2), NULL, 10)));
    }
    free(c);
}

void api_job_retry(struct http_request *req)
{
    const char *id = api_path_job_id(req);
    struct db_pool *pool = id ? api_db_pool(req) : NULL;
    if (!pool)
        return;
    struct api_call *c = api_call_new(req, id);
    const char *params[] = {c->id, req->id};
    db_pool_exec(pool, api_stmt_get(pool, &st_retry), 2, params, retry_done, c);
}

/* ---- DELETE /v1/jobs/{id} ---- */

/* Cancel a queued/running job (lease cleared, as the schema's CHECK wants;
 * steno_cancel tells the process running it to stop), or delete a finished
 * one (chunks cascade; its transcripts row stays: it is the cache, and its
 * job_id becomes NULL). Columns: the status before (NULL = unknown),
 * cancelled (0/1), deleted (0/1). Neither with a known job means the row
 * changed state under us (running → done): the caller runs it again. */
static struct api_stmt st_delete = {
    /* clang-format off */
    .sql =
        "WITH prev AS ("
        "SELECT status "
        "FROM jobs "
        "WHERE id = $1::uuid), x AS ("
        "UPDATE jobs SET status = 'cancelled', finished_at = now(), lease_owner = NULL, "
        "lease_expires_at = NULL "
        "WHERE id = $1::uuid AND status IN ('queued', 'running') "
        "RETURNING id), d AS ("
        "DELETE "
        "FROM jobs "
        "WHERE id = $1::uuid AND status IN ('done', 'failed', 'cancelled') "
        "RETURNING id, status), a AS ("
        "INSERT INTO audit_log (actor, action, target, details) "
        "SELECT 'api', w.action, 'job:' || w.id, jsonb_build_object('previous_status', "
        "w.status, 'request_id', $2::text) "
        "FROM ("
        "SELECT 'job.cancel' AS action, x.id, p.status "
        "FROM x, prev p "
        "UNION ALL "
        "SELECT 'job.delete', d.id, d.status "
        "FROM d) w "
        "RETURNING 1), n AS ("
        "SELECT pg_notify('steno_cancel', x.id::text) "
        "FROM x) "
        "SELECT ("
        "SELECT status "
        "FROM prev), ("
        "SELECT count(*) "
        "FROM x), ("
        "SELECT count(*) "
        "FROM d), ("
        "SELECT count(*) "
        "FROM a) + ("
        "SELECT count(*) "
        "FROM n)",
    /* clang-format on */
};

/* Runs of st_delete for one request: a second run covers a state change
 * between the snapshot and the row lock; more means something is wrong. */
#define DELETE_TRIES 3

static void delete_run(struct db_pool *pool, struct api_call *c, struct http_request *req);

static void delete_done(const struct db_result *r, void *arg)
{
    struct api_call *c = arg;
    struct http_request *req = api_call_take(c);
    if (!req)
        return;
    const char *prev = db_result_value(r, 0, 0);
    if (api_db_failed(req, r, "job delete")) {
        /* answered */
    } else if (!prev) {
        api_respond_job_not_found(req, c->id);
    } else if (strcmp(db_result_value(r, 0, 1), "1") == 0) {
        struct jobs *j = jobs_current();
        if (j)
            jobs_cancel_local(j, c->id);
        log_ctx_info(req->log_ctx, "api: job=%s cancelled (was %s)", c->id, prev);
        http_respond_json(req, 200, json_pack("{s:s,s:s}", "id", c->id, "status", "cancelled"));
    } else if (strcmp(db_result_value(r, 0, 2), "1") == 0) {
        log_ctx_info(req->log_ctx, "api: job=%s deleted (was %s)", c->id, prev);
        http_respond_json(req, 200, json_pack("{s:s,s:b}", "id", c->id, "deleted", 1));
    } else if (c->tries < DELETE_TRIES) {
        struct jobs *j = jobs_current();
        struct db_pool *pool = j ? jobs_db(j) : NULL;
        if (pool) {
            log_ctx_info(req->log_ctx, "api: job=%s changed state under the delete; again", c->id);
            delete_run(pool, c, req);
            return;
        }
        api_respond_unavailable(req, "shutting down");
    } else {
        http_respond_error(req, 409, "invalid_request_error", "job_busy",
                           "job %s keeps changing state; try again", c->id);
    }
    free(c);
}

/* (Re)attach the call to its request and run the statement. */
static void delete_run(struct db_pool *pool, struct api_call *c, struct http_request *req)
{
    api_call_attach(c, req);
    c->tries++;
    const char *params[] = {c->id, req->id};
    db_pool_exec(pool, api_stmt_get(pool, &st_delete), 2, params, delete_done, c);
}

void api_job_delete(struct http_request *req)
{
    const char *id = api_path_job_id(req);
    struct db_pool *pool = id ? api_db_pool(req) : NULL;
    if (pool)
        delete_run(pool, api_call_new(req, id), req);
}

/* ---- GET /api/queue-status ---- */

/* The queue by status and, for queued jobs, by priority and age, in one
 * pass over jobs (an index-only scan of jobs_list_by_status on a vacuumed
 * table). Columns: queued, running, done, failed, cancelled, queued high,
 * medium, low, oldest queued age in seconds (0 when none). */
static struct api_stmt st_queue = {
    /* clang-format off */
    .sql =
        "SELECT count(*) FILTER ("
        "WHERE status = 'queued'), count(*) FILTER ("
        "WHERE status = 'running'), count(*) FILTER ("
        "WHERE status = 'done'), count(*) FILTER ("
        "WHERE status = 'failed'), count(*) FILTER ("
        "WHERE status = 'cancelled'), count(*) FILTER ("
        "WHERE status = 'queued' AND priority = 0), count(*) FILTER ("
        "WHERE status = 'queued' AND priority = 1), count(*) FILTER ("
        "WHERE status = 'queued' AND priority = 2), COALESCE(round(extract(epoch "
        "FROM now() - min(created_at) FILTER ("
        "WHERE status = 'queued')), 3), 0) "
        "FROM jobs",
    /* clang-format on */
};

static json_int_t col_int(const struct db_result *r, int col)
{
    const char *v = db_result_value(r, 0, col);
    return v ? (json_int_t)strtoll(v, NULL, 10) : 0;
}

static json_t *queue_json(const struct db_result *r)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I},s:f}", "queued", col_int(r, 0),
                     "running", col_int(r, 1), "done", col_int(r, 2), "failed", col_int(r, 3),
                     "cancelled", col_int(r, 4), "queued_by_priority", "high", col_int(r, 5),
                     "medium", col_int(r, 6), "low", col_int(r, 7), "oldest_queued_seconds",
                     strtod(db_result_value(r, 0, 8), NULL));
}

/* What this process does now and its database pool, from memory. */
static json_t *local_json(struct jobs *j, json_t **database)
{
    struct jobs_local_stats s;
    struct db_pool_health h = {0};
    jobs_local_stats(j, &s);
    if (jobs_db(j))
        db_pool_health(jobs_db(j), &h);
    *database = json_pack("{s:I,s:I,s:I}", "up", (json_int_t)h.up, "total", (json_int_t)h.total,
                          "queued", (json_int_t)h.queued);
    return json_pack("{s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I}}", "jobs_running_here",
                     (json_int_t)s.running, "capacity_here", (json_int_t)s.capacity, "upstream",
                     "connections", (json_int_t)s.upstream.connections, "streams",
                     (json_int_t)s.upstream.streams, "inflight", (json_int_t)s.upstream.inflight,
                     "cap", (json_int_t)s.upstream.cap, "queued", (json_int_t)s.upstream.queued);
}

static void queue_done(const struct db_result *r, void *arg)
{
    struct api_call *c = arg;
    struct http_request *req = api_call_take(c);
    if (!req)
        return;
    struct jobs *j = jobs_current();
    if (!j) {
        api_respond_unavailable(req, "shutting down");
    } else if (!api_db_failed(req, r, "queue status")) {
        json_t *database, *processing = local_json(j, &database);
        http_respond_json(req, 200,
                          json_pack("{s:o,s:o,s:o,s:I,s:s}", "queue", queue_json(r), "processing",
                                    processing, "database", database, "workers",
                                    (json_int_t)jobs_config(j)->workers, "mode", "full"));
    }
    free(c);
}

void api_queue_status(struct http_request *req)
{
    struct db_pool *pool = api_db_pool(req);
    if (!pool)
        return;
    db_pool_exec(pool, api_stmt_get(pool, &st_queue), 0, NULL, queue_done, api_call_new(req, NULL));
}
