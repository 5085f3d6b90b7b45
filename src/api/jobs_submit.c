/* jobs_submit.c — POST /v1/transcriptions: upload, check, queue a job.
 *
 * Order matters for durability: the audio is fsync'd and renamed into the
 * content-addressed store (upload.c), then the job row is committed, then
 * 202 goes out. Parameters come from the query string and, for multipart
 * uploads, from the form's fields (fields win). Audio that cannot be
 * decoded is refused here (415/422) rather than failing later in a worker,
 * and nothing it wrote is left behind. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_call.h"
#include "api_jobs.h"
#include "audio_probe.h"
#include "cache_key.h"
#include "jobs.h"
#include "log.h"
#include "upload.h"

#define MAX_PROMPT 4000

static const char SQL_INSERT[] =
    "WITH ins AS (INSERT INTO jobs (priority, audio_sha256, audio_path, audio_bytes,"
    "                               audio_seconds, params, cache_key, idempotency_key,"
    "                               webhook_url)"
    "             VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)"
    "             ON CONFLICT (idempotency_key) DO NOTHING"
    "             RETURNING id, status, created_at)"
    " SELECT id, status, created_at, true, pg_notify('steno_jobs', id::text)::text FROM ins"
    " UNION ALL"
    " SELECT id, status, created_at, false, '' FROM jobs"
    "  WHERE idempotency_key = $8 AND NOT EXISTS (SELECT 1 FROM ins)";

struct submit {
    struct http_request *req; /* NULL once the client left */
    struct upload_result *up;
    char idem[201];
};

/* A field from the form, else the query string, else NULL. */
static const char *param(struct http_request *req, json_t *fields, const char *name, char *buf,
                         size_t len)
{
    json_t *v = json_object_get(fields, name);
    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (json_is_string(v)) {
        snprintf(buf, len, "%s", json_string_value(v));
        return buf;
    }
    return http_request_query(req, name, buf, len);
}

/* Any value of a (possibly repeated) field equals `want`? */
static bool has_value(struct http_request *req, json_t *fields, const char *name, const char *want)
{
    json_t *v = json_object_get(fields, name);
    if (json_is_string(v))
        return strcmp(json_string_value(v), want) == 0;
    size_t i;
    json_t *it;
    json_array_foreach(v, i, it) if (json_is_string(it) &&
                                     strcmp(json_string_value(it), want) == 0) return true;
    char buf[32];
    const char *q = http_request_query(req, name, buf, sizeof(buf));
    return q && strcmp(q, want) == 0;
}

static bool bad(struct http_request *req, const char *what, const char *rule)
{
    http_respond_error(req, 400, "invalid_request_error", "invalid_parameter", "%s must be %s",
                       what, rule);
    return false;
}

/* Validate the parameters into a params object (NULL + answered on error). */
static json_t *read_params(struct http_request *req, json_t *fields, int *prio, char *webhook,
                           size_t wlen)
{
    const struct steno_config *cfg = jobs_config(jobs_current());
    char model[128], lang[32], tbuf[32], pbuf[16];
    char prompt[MAX_PROMPT + 1];
    const char *m = param(req, fields, "model", model, sizeof(model));
    const char *l = param(req, fields, "language", lang, sizeof(lang));
    const char *t = param(req, fields, "temperature", tbuf, sizeof(tbuf));
    const char *pr = param(req, fields, "priority", pbuf, sizeof(pbuf));
    const char *p = param(req, fields, "prompt", prompt, sizeof(prompt));
    const char *w = param(req, fields, "webhook_url", webhook, wlen);
    if (m && (!*m || strlen(m) >= sizeof(model) - 1))
        return bad(req, "model", "1..126 characters"), NULL;
    if (l && (strlen(l) > 16 ||
              strspn(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") != strlen(l)))
        return bad(req, "language", "a language code such as en or ru"), NULL;
    double temp = -1;
    if (t) {
        char *end;
        temp = strtod(t, &end);
        if (end == t || *end || !(temp >= 0 && temp <= 1))
            return bad(req, "temperature", "a number from 0 to 1"), NULL;
    }
    *prio = 1;
    if (pr && !jobs_priority_parse(pr, prio))
        return bad(req, "priority", "high, medium or low"), NULL;
    if (p && strlen(p) >= MAX_PROMPT)
        return bad(req, "prompt", "under 4000 characters"), NULL;
    if (w && *w && strncmp(w, "http://", 7) != 0 && strncmp(w, "https://", 8) != 0)
        return bad(req, "webhook_url", "an http:// or https:// URL"), NULL;
    bool words = has_value(req, fields, "timestamp_granularities[]", "word") ||
                 has_value(req, fields, "timestamp_granularities", "word");
    json_t *params = json_pack("{s:s,s:s}", "model", m ? m : cfg->model, "timestamp_granularity",
                               words ? "word" : "segment");
    if (l && *l)
        json_object_set_new(params, "language", json_string(l));
    if (p && *p)
        json_object_set_new(params, "prompt", json_string(p));
    if (temp >= 0)
        json_object_set_new(params, "temperature", json_real(temp));
    if (!w || !*w)
        webhook[0] = '\0';
    return params;
}

static void inserted(const struct db_result *res, void *arg)
{
    struct submit *s = arg;
    struct http_request *req = s->req;
    upload_result_free(s->up);
    free(s);
    if (!req)
        return; /* the client left; the job (if any) runs anyway */
    req->user = NULL;
    req->on_abort = NULL;
    if (res->error != DB_OK || db_result_rows(res) < 1) {
        log_ctx_warn(req->log_ctx, "submit: cannot queue the job: %s", res->message);
        api_respond_unavailable(req, res->error == DB_OK ? "no row returned"
                                                         : db_error_name(res->error));
        return;
    }
    const char *id = db_result_value(res, 0, 0);
    bool fresh = strcmp(db_result_value(res, 0, 3), "t") == 0;
    if (fresh)
        jobs_kick(jobs_current());
    char self[96];
    snprintf(self, sizeof(self), "/v1/jobs/%s", id);
    http_response_header(req, "location", self);
    if (!fresh)
        http_response_header(req, "idempotent-replayed", "true");
    char events[112], transcript[112];
    snprintf(events, sizeof(events), "/v1/jobs/%s/events", id);
    snprintf(transcript, sizeof(transcript), "/v1/transcripts/%s", id);
    http_respond_json(req, 202,
                      json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s}}", "id", id, "status",
                                db_result_value(res, 0, 1), "created_at",
                                db_result_value(res, 0, 2), "links", "self", self, "events", events,
                                "transcript", transcript));
}

static void on_abort(struct http_request *req)
{
    struct submit *s = req->user;
    if (s)
        s->req = NULL; /* the insert callback frees s */
}

/* Refuse audio we could never transcribe, and drop the file we stored. */
static bool probe_ok(struct http_request *req, struct upload_result *up, struct audio_info *info)
{
    char detail[200];
    enum audio_probe_error err = audio_probe(up->path, info, detail, sizeof(detail));
    if (err == AUDIO_PROBE_OK)
        return true;
    int status = err == AUDIO_PROBE_NOT_AUDIO ? 415 : err == AUDIO_PROBE_EMPTY ? 400 : 422;
    if (up->fresh)
        bio_submit(jobs_bio(jobs_current()), BIO_JOB_UNLINK, -1, up->path, NULL, NULL);
    http_respond_error(req, status, "invalid_request_error", audio_probe_error_name(err), "%s: %s",
                       audio_probe_error_message(err), detail);
    return false;
}

static void uploaded(struct http_request *req, struct upload_result *up, enum upload_error err,
                     const char *msg, void *arg)
{
    struct submit *s = arg;
    /* upload.c detached itself from req (user, on_abort) before calling us;
     * answering may free req at once, so it is always the last touch */
    if (err) {
        free(s);
        http_respond_error(req, upload_error_status(err), "invalid_request_error",
                           upload_error_code(err), "%s", msg);
        return;
    }
    struct jobs *j = jobs_current();
    char webhook[2048];
    int prio;
    struct audio_info info;
    json_t *params = read_params(req, up->fields, &prio, webhook, sizeof(webhook));
    if (!params || !probe_ok(req, up, &info)) {
        if (params)
            json_decref(params);
        else if (up->fresh)
            bio_submit(jobs_bio(j), BIO_JOB_UNLINK, -1, up->path, NULL, NULL);
        upload_result_free(up);
        free(s);
        return; /* answered by read_params or probe_ok */
    }
    json_t *temp = json_object_get(params, "temperature");
    struct cache_key_params kp = {
        .sha256 = up->sha256,
        .language = json_string_value(json_object_get(params, "language")),
        .model = json_string_value(json_object_get(params, "model")),
        .prompt = json_string_value(json_object_get(params, "prompt")),
        .temperature = json_is_number(temp) ? json_number_value(temp) : -1,
        .word_timestamps =
            strcmp(json_string_value(json_object_get(params, "timestamp_granularity")), "word") ==
            0,
    };
    char key[512], prio_s[8], bytes[32], secs[32];
    if (!cache_key_build(&kp, key, sizeof(key)))
        snprintf(key, sizeof(key), "transcript:%s:unkeyable", up->sha256);
    snprintf(prio_s, sizeof(prio_s), "%d", prio);
    snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)up->bytes);
    snprintf(secs, sizeof(secs), "%.6f", info.duration);
    char *ptext = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(params);
    s->up = up;
    const char *p[] = {prio_s,
                       up->sha256,
                       up->path,
                       bytes,
                       secs,
                       ptext,
                       key,
                       s->idem[0] ? s->idem : NULL,
                       webhook[0] ? webhook : NULL};
    req->user = s;
    req->on_abort = on_abort;
    db_pool_query(jobs_db(j), SQL_INSERT, 9, p, inserted, s);
    free(ptext);
}

void api_transcriptions_post(struct http_request *req)
{
    struct jobs *j = jobs_current();
    if (!api_db_pool(req))
        return; /* answered 503: no database, or it is down */
    const char *idem = http_request_header(req, "idempotency-key");
    if (idem && (!*idem || strlen(idem) > 200)) {
        http_respond_error(req, 400, "invalid_request_error", "invalid_parameter",
                           "Idempotency-Key must be 1..200 characters");
        return;
    }
    struct submit *s = xcalloc(1, sizeof(*s));
    s->req = req;
    if (idem)
        snprintf(s->idem, sizeof(s->idem), "%s", idem);
    enum upload_error err =
        upload_start(req, jobs_config(j)->data_dir, jobs_bio(j), uploaded, s, free);
    if (err) {
        free(s);
        http_respond_error(
            req, upload_error_status(err), "invalid_request_error", upload_error_code(err), "%s",
            err == UPLOAD_UNSUPPORTED_MEDIA ? "send audio (audio/*, application/octet-stream) or "
                                              "multipart/form-data with the audio in field `file`"
                                            : "cannot accept this upload");
    }
}
