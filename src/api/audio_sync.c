/* audio_sync.c — POST /v1/audio/transcriptions, OpenAI-compatible and
 * synchronous: a drop-in for the OpenAI SDKs (base_url = steno).
 *
 * The same pipeline as a job — streaming upload, probe, silence-aware
 * chunks in parallel HTTP/2 streams, merge — but run in this process and
 * answered on the same request, in the `response_format` asked for
 * ("whisper-1", the SDKs' model name, means the configured model). The
 * transcript cache is consulted first and filled after (all three tiers,
 * so a later job or sync call for the same audio and parameters is a hit).
 * No job row is written, so this endpoint keeps serving while PostgreSQL
 * is down (../shared/DESIGN.md, "Degradation"). A client that leaves
 * cancels the work: its in-flight upstream streams are reset. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_call.h"
#include "cache.h"
#include "jobs.h"
#include "log.h"
#include "transcribe_params.h"

struct sync {
    struct http_request *req; /* NULL once the client left */
    struct engine_job *ej;
    struct upload_result *up; /* until the engine starts */
    struct api_transcribe_params p;
    char key[512];
    char sha256[65];
    char id[48];
};

/* L3 too, like a job's final write: permanent, shared by every process. */
static const char SQL_L3[] =
    "INSERT INTO transcripts (cache_key, sha256, params, language, result, text, audio_seconds)"
    " VALUES ($1, $2, $3::jsonb, nullif($4, ''), $5::jsonb, $6, $7::double precision)"
    " ON CONFLICT (cache_key) DO NOTHING";

static void sync_free(struct sync *s)
{
    upload_result_free(s->up);
    free(s);
}

static void logged(const struct db_result *res, void *arg)
{
    if (res->error != DB_OK)
        log_warn("sync: transcript not stored in L3: %s", res->message);
}

/* Fill every tier with a fresh transcript (never waits: fire and forget). */
static void store(struct sync *s, const struct transcript *t)
{
    json_t *jt = transcript_to_json(t);
    char *json = json_dumps(jt, JSON_COMPACT);
    json_decref(jt);
    struct jobs *j = jobs_current();
    cache_put(jobs_cache(j), s->key, json, strlen(json));
    struct db_pool *db = jobs_db(j);
    struct db_pool_health h;
    if (db && (db_pool_health(db, &h), h.up > 0)) {
        json_t *params = api_transcribe_params_json(&s->p);
        char *ptext = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(params);
        char secs[32];
        snprintf(secs, sizeof(secs), "%.6f", isnan(t->duration) ? 0.0 : t->duration);
        const char *p[] = {s->key, s->sha256, ptext, t->language ? t->language : "",
                           json,   t->text,   secs};
        db_pool_query(db, SQL_L3, 7, p, logged, NULL);
        free(ptext);
    }
    free(json);
}

static void respond(struct http_request *req, const struct transcript *t,
                    enum transcript_format fmt, const char *tier)
{
    size_t len;
    char *body = transcript_render(t, fmt, &len);
    http_response_header(req, "x-steno-cache", tier);
    http_respond(req, 200, transcript_format_content_type(fmt), body, len);
    free(body);
}

static void finished(void *arg, struct transcript *merged, enum engine_error err,
                     const char *message)
{
    struct sync *s = arg;
    struct http_request *req = s->req;
    req->user = NULL;
    req->on_abort = NULL;
    if (err != ENGINE_OK) {
        sync_free(s); /* the engine frees its job after this returns */
        bool bad = err == ENGINE_BAD_AUDIO;
        http_respond_error(req,
                           bad                      ? 422
                           : err == ENGINE_REJECTED ? 400
                                                    : 502,
                           bad ? "invalid_request_error" : "upstream_error",
                           bad ? "bad_audio" : "transcription_failed", "%s",
                           message ? message : "transcription failed");
        return;
    }
    store(s, merged);
    enum transcript_format fmt = s->p.format;
    sync_free(s);
    respond(req, merged, fmt, "miss");
    transcript_free(merged);
}

/* The client left: stop the work (no hook runs after a cancel). */
static void aborted(struct http_request *req)
{
    struct sync *s = req->user;
    req->user = NULL;
    if (!s)
        return;
    if (!s->ej) {
        s->req = NULL; /* a cache lookup is pending: its callback frees s */
        return;
    }
    log_ctx_info(req->log_ctx, "sync: the client left; %s cancelled", s->id);
    engine_job_cancel(s->ej);
    sync_free(s);
}

static const struct engine_hooks hooks = {.finished = finished};

/* A hit: render it in the format asked for; s is freed. */
static void answer_cached(struct http_request *req, struct sync *s, enum cache_tier tier,
                          const char *json, size_t len)
{
    char err[128];
    struct transcript *t = transcript_from_json(json, len, err, sizeof(err));
    enum transcript_format fmt = s->p.format;
    sync_free(s);
    if (!t) {
        log_ctx_error(req->log_ctx, "sync: cached transcript unreadable: %s", err);
        http_respond_error(req, 500, "server_error", "internal",
                           "the cached transcript is damaged");
        return;
    }
    respond(req, t, fmt, cache_tier_name(tier));
    transcript_free(t);
}

/* A miss: run the pipeline here; the engine reads the stored audio. */
static void run(struct http_request *req, struct sync *s)
{
    struct engine_job_params ep = {
        .model = s->p.model,
        .language = s->p.language[0] ? s->p.language : NULL,
        .prompt = s->p.prompt[0] ? s->p.prompt : NULL,
        .temperature = s->p.temperature,
        .word_timestamps = s->p.word_timestamps,
        .priority = UPSTREAM_PRIO_HIGH, /* someone is waiting on the line */
    };
    s->req = req;
    req->user = s;
    req->on_abort = aborted;
    s->ej =
        engine_job_start(jobs_engine(jobs_current()), s->id, s->up->path, &ep, NULL, 0, &hooks, s);
    upload_result_free(s->up);
    s->up = NULL;
}

static void looked_up(enum cache_tier tier, const char *json, size_t len, void *arg)
{
    struct sync *s = arg;
    struct http_request *req = s->req;
    if (!req) {
        sync_free(s); /* the client left while we looked */
        return;
    }
    req->user = NULL;
    req->on_abort = NULL;
    if (tier != CACHE_MISS)
        answer_cached(req, s, tier, json, len);
    else
        run(req, s);
}

static void uploaded(struct http_request *req, struct upload_result *up, enum upload_error err,
                     const char *msg, void *arg)
{
    struct sync *s = arg;
    if (err) {
        free(s);
        http_respond_error(req, upload_error_status(err), "invalid_request_error",
                           upload_error_code(err), "%s", msg);
        return;
    }
    struct audio_info info;
    s->up = up;
    if (!api_transcribe_params_read(req, up->fields, &s->p) || !api_probe_upload(req, up, &info)) {
        sync_free(s);
        return; /* answered */
    }
    /* OpenAI SDKs name their one Whisper model "whisper-1": that means the
     * model this gateway is configured for. */
    if (strcmp(s->p.model, "whisper-1") == 0)
        snprintf(s->p.model, sizeof(s->p.model), "%s", jobs_config(jobs_current())->model);
    api_transcribe_cache_key(&s->p, up->sha256, s->key, sizeof(s->key));
    snprintf(s->sha256, sizeof(s->sha256), "%s", up->sha256);
    snprintf(s->id, sizeof(s->id), "sync-%s", req->id);
    log_ctx_info(req->log_ctx, "sync: %.1fs of audio, model %s", info.duration, s->p.model);
    const char *json;
    size_t len;
    enum cache_tier tier =
        cache_lookup(jobs_cache(jobs_current()), s->key, &json, &len, looked_up, s);
    if (tier == CACHE_L1) {
        answer_cached(req, s, tier, json, len);
        return;
    }
    s->req = req;
    req->user = s;
    req->on_abort = aborted;
}

void api_audio_transcriptions(struct http_request *req)
{
    struct jobs *j = jobs_current();
    if (!j) {
        api_respond_unavailable(req, "the jobs service is not running");
        return;
    }
    struct sync *s = xcalloc(1, sizeof(*s));
    enum upload_error err =
        upload_start(req, jobs_config(j)->data_dir, jobs_bio(j), uploaded, s, free);
    if (err) {
        free(s);
        http_respond_error(req, upload_error_status(err), "invalid_request_error",
                           upload_error_code(err), "%s",
                           "send multipart/form-data with the audio in field `file`");
    }
}
