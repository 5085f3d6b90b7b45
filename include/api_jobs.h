/* api_jobs.h — the job endpoints of ../shared/DESIGN.md's HTTP API.
 *
 * Every handler uses jobs_current() (include/jobs.h) and its database pool;
 * without one (no --database-url, or PostgreSQL down) they answer 503 with
 * Retry-After. Errors use http_respond_error's JSON shape. */
#ifndef STENO_API_JOBS_H
#define STENO_API_JOBS_H

#include "http.h"

/* POST /v1/transcriptions — upload → 202 {id,status,links}. */
void api_transcriptions_post(struct http_request *req);
/* GET /v1/jobs/{id} — state, plan, per-chunk states/attempts/timings. */
void api_job_get(struct http_request *req);
/* GET /v1/jobs?status=&cursor=&limit= — keyset pagination, newest first. */
void api_jobs_list(struct http_request *req);
/* GET /v1/transcripts/{id}?format=json|text|srt|vtt|verbose_json */
void api_transcript_get(struct http_request *req);
/* POST /v1/jobs/{id}/retry — re-run the failed chunks of a failed job. */
void api_job_retry(struct http_request *req);
/* DELETE /v1/jobs/{id} — cancel a queued/running job, delete a finished one. */
void api_job_delete(struct http_request *req);
/* GET /v1/jobs/{id}/events — Server-Sent Events: replay after Last-Event-ID, then live. */
void api_job_events(struct http_request *req);
/* Declare the SSE metrics (at route registration, before fork). */
void api_job_events_init(void);
/* GET /api/queue-status — queue length, processing, database and workers. */
void api_queue_status(struct http_request *req);

#endif
