/* jobs_submit.c — POST /v1/transcriptions: upload, check, queue a job.
 *
 * Order matters for durability: the audio is fsync'd and renamed into the
 * content-addressed store (upload.c), then the job row is committed, then
 * 202 goes out. Parameters come from the query string and, for multipart
 * uploads, from the form's fields (fields win). Audio that cannot be
 * decoded is refused here (415/422) rather than failing later in a worker,
 * and nothing it wrote is left behind. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_call.h"
#include "api_jobs.h"
#include "cache.h"
#include "hex.h"
#include "jobs.h"
#include "log.h"
#include "transcribe_params.h"

#include <openssl/rand.h>

/* Single flight: ON CONFLICT DO NOTHING covers both unique indexes — the
 * Idempotency-Key and jobs_single_flight (one joinable queued/running job
 * per cache key, schema/003_cache.sql). When the insert yields, the second
 * SELECT finds the job that holds the key: the idempotent replay first,
 * else the identical job in flight to attach to. Under READ COMMITTED that
 * SELECT uses the statement's snapshot and may miss a row committed while
 * the INSERT waited on it; then no row comes back and the caller runs the
 * statement once more. A twin that finished between our cache lookup and
 * this statement left a transcript instead: then nothing is inserted and
 * the third SELECT says 'cached', so the caller looks the cache up again
 * rather than paying for the same audio twice. Column 4: new | replayed |
 * attached | cached. */
static const char SQL_INSERT[] =
    "WITH ins AS (INSERT INTO jobs (priority, audio_sha256, audio_path, audio_bytes,"
    "                               audio_seconds, params, cache_key, idempotency_key,"
    "                               webhook_url, single_flight)"
    "             SELECT $1::smallint, $2, $3, $4::bigint, $5::double precision, $6::jsonb,"
    "                    $7, $8, $9, true"
    "              WHERE NOT EXISTS (SELECT 1 FROM transcripts WHERE cache_key = $7)"
    "             ON CONFLICT DO NOTHING"
    "             RETURNING id, status, created_at)"
    " SELECT id, status, created_at, 'new', pg_notify('steno_jobs', id::text)::text FROM ins"
    " UNION ALL"
    " (SELECT id, status, created_at,"
    "         CASE WHEN idempotency_key = $8 THEN 'replayed' ELSE 'attached' END, '' FROM jobs"
    "   WHERE (idempotency_key = $8 OR (cache_key = $7 AND single_flight"
    "                                   AND status IN ('queued', 'running')))"
    "     AND NOT EXISTS (SELECT 1 FROM ins)"
    "   ORDER BY idempotency_key = $8 DESC NULLS LAST LIMIT 1)"
    " UNION ALL"
    " SELECT NULL, 'done', NULL, 'cached', '' FROM transcripts"
    "  WHERE cache_key = $7 AND NOT EXISTS (SELECT 1 FROM ins)";
#define INSERT_TRIES 3

/* A cache hit is recorded as a finished job (cache_level says which tier),
 * so /v1/jobs/{id} and /v1/transcripts/{id} work for it as for any job.
 * Written after the answer went out; a failure only loses that record. */
static struct api_stmt st_hit = {
    .sql = "INSERT INTO jobs (id, status, priority, audio_sha256, audio_path, audio_bytes,"
           " audio_seconds, params, cache_key, cache_level, idempotency_key, webhook_url,"
           " started_at, finished_at)"
           " VALUES ($1, 'done', $2, $3, $4, $5,"
           " (SELECT audio_seconds FROM transcripts WHERE cache_key = $7), $6::jsonb, $7, $8,"
           " $9, $10, now(), now())"
           " ON CONFLICT DO NOTHING RETURNING id",
};

struct submit {
    struct http_request *req; /* NULL once the client left */
    struct upload_result *up; /* NULL for a pre-upload lookup */
    char idem[201];
    char want_sha[65]; /* X-Content-SHA256 / ?sha256=, lower-case; "" = none */
    /* known once the parameters are read */
    char *ptext; /* params, canonical JSON */
    int prio;
    bool has_fmt; /* response_format given: answer hits in that format */
    enum transcript_format fmt;
    char key[512];
    char webhook[2048];
    char secs[32]; /* probed duration */
    unsigned tries;
    /* a hit waiting for its job row (Idempotency-Key) */
    enum cache_tier hit_tier;
    char *hit_json;
    char hit_id[40];
};

static void submit_free(struct submit *s)
{
    upload_result_free(s->up);
    free(s->ptext);
    free(s->hit_json);
    free(s);
}

/* Validate the parameters into s: params (canonical JSON), priority,
 * webhook, response format and the cache key for `sha256`. false when a
 * parameter is wrong (answered 400). */
static bool read_params(struct http_request *req, json_t *fields, struct submit *s,
                        const char *sha256)
{
    struct api_transcribe_params p;
    if (!api_transcribe_params_read(req, fields, &p))
        return false;
    s->prio = p.priority;
    s->has_fmt = p.format_given;
    s->fmt = p.format;
    snprintf(s->webhook, sizeof(s->webhook), "%s", p.webhook);
    api_transcribe_cache_key(&p, sha256, s->key, sizeof(s->key));
    json_t *params = api_transcribe_params_json(&p);
    s->ptext = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(params);
    return true;
}

/* A hit's job row is on record: its webhook, if any, can be told now
 * (a receiver that reads /v1/jobs/{id} on the call finds the row). */
struct hit_record {
    char id[40];
    char ctx[64];
    char webhook[2048];
};

static void recorded_cb(const struct db_result *res, void *arg)
{
    struct hit_record *h = arg;
    if (res->error != DB_OK)
        log_warn("submit: cache hit not recorded as a job (%s): %s", db_error_name(res->error),
                 res->message);
    else if (h->webhook[0] && db_result_rows(res) == 1 && jobs_current() &&
             !jobs_webhook_done(jobs_current(), h->id, h->webhook, h->ctx))
        log_warn("submit: webhook URL unusable: %s", h->webhook);
    free(h);
}

/* A random (version 4) uuid in canonical text form, 37 bytes. */
static void new_uuid(char *out)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)random();
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char hex[33];
    hex_encode(b, 16, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* Record the hit as a done job when the database is up; "" otherwise. */
/* The hit as a done job row with `id`; cb(res, arg) when it is written. */
static void send_hit_row(struct db_pool *db, struct submit *s, enum cache_tier tier, const char *id,
                         void (*cb)(const struct db_result *, void *), void *arg)
{
    char prio[8], bytes[32];
    snprintf(prio, sizeof(prio), "%d", s->prio);
    snprintf(bytes, sizeof(bytes), "%llu", s->up ? (unsigned long long)s->up->bytes : 0ULL);
    const char *sha = s->up ? s->up->sha256 : s->want_sha;
    const char *p[] = {id,
                       prio,
                       sha,
                       s->up ? s->up->path : "",
                       bytes,
                       s->ptext,
                       s->key,
                       cache_tier_name(tier),
                       s->idem[0] ? s->idem : NULL,
                       s->webhook[0] ? s->webhook : NULL};
    db_pool_exec(db, api_stmt_get(db, &st_hit), 10, p, cb, arg);
}

/* The database, when it has a connection up; NULL otherwise (a cached
 * answer never waits for PostgreSQL to come back). */
static struct db_pool *db_up(void)
{
    struct db_pool *db = jobs_db(jobs_current());
    struct db_pool_health h;
    if (!db)
        return NULL;
    db_pool_health(db, &h);
    return h.up ? db : NULL;
}

/* Record the hit as a done job when the database is up (fire and forget);
 * its id, or "" without a database. */
static void record_hit(struct submit *s, enum cache_tier tier, char *id)
{
    id[0] = '\0';
    struct db_pool *db = db_up();
    if (!db)
        return;
    new_uuid(id);
    struct hit_record *rec = xcalloc(1, sizeof(*rec));
    snprintf(rec->id, sizeof(rec->id), "%s", id);
    snprintf(rec->ctx, sizeof(rec->ctx), "job=%s", id);
    snprintf(rec->webhook, sizeof(rec->webhook), "%s", s->webhook);
    send_hit_row(db, s, tier, id, recorded_cb, rec);
}

/* 200 from the cache. With response_format: the transcript in that format
 * (as OpenAI answers). Without: {"id","object","status","cache",
 * "cache_key","links","transcript":{verbose_json}} — the cached text is
 * spliced in as is, never re-parsed. The tier is also in X-Steno-Cache. */
static void respond_hit(struct http_request *req, struct submit *s, enum cache_tier tier,
                        const char *json, size_t len, const char *id)
{
    http_response_header(req, "x-steno-cache", cache_tier_name(tier));
    json_t *links = NULL;
    if (id[0]) {
        char self[96], transcript[112];
        snprintf(self, sizeof(self), "/v1/jobs/%s", id);
        snprintf(transcript, sizeof(transcript), "/v1/transcripts/%s", id);
        http_response_header(req, "x-steno-job-id", id);
        links = json_pack("{s:s,s:s}", "self", self, "transcript", transcript);
    }
    if (s->has_fmt) {
        char err[128];
        struct transcript *t = transcript_from_json(json, len, err, sizeof(err));
        if (!t) {
            log_ctx_error(req->log_ctx, "submit: cached transcript %s unreadable: %s", s->key, err);
            json_decref(links);
            http_respond_error(req, 500, "server_error", "internal",
                               "the cached transcript is damaged");
            return;
        }
        size_t blen;
        char *body = transcript_render(t, s->fmt, &blen);
        transcript_free(t);
        json_decref(links);
        http_respond(req, 200, transcript_format_content_type(s->fmt), body, blen);
        free(body);
        return;
    }
    json_t *head =
        json_pack("{s:o,s:s,s:s,s:s,s:s,s:o}", "id", id[0] ? json_string(id) : json_null(),
                  "object", "transcription", "status", "done", "cache", cache_tier_name(tier),
                  "cache_key", s->key, "links", links ? links : json_null());
    char *h = json_dumps(head, JSON_COMPACT);
    json_decref(head);
    size_t hlen = strlen(h) - 1; /* without the closing brace */
    static const char mid[] = ",\"transcript\":";
    size_t blen = hlen + sizeof(mid) - 1 + len + 1;
    char *body = xmalloc(blen + 1);
    memcpy(body, h, hlen);
    memcpy(body + hlen, mid, sizeof(mid) - 1);
    memcpy(body + hlen + sizeof(mid) - 1, json, len);
    body[blen - 1] = '}';
    body[blen] = '\0';
    free(h);
    http_respond(req, 200, "application/json", body, blen);
    free(body);
}

static void insert_job(struct http_request *req, struct submit *s);
static void attach(struct http_request *req, struct submit *s);
static struct http_request *take(struct submit *s);

/* With an Idempotency-Key the hit's job row must exist before the answer
 * names it: a retry of the request then finds the key and gets the same
 * job back. */
static void idem_hit_recorded(const struct db_result *res, void *arg)
{
    struct submit *s = arg;
    struct http_request *req = take(s);
    if (!req)
        return;
    if (res->error == DB_OK && db_result_rows(res) == 0 && s->tries++ < INSERT_TRIES) {
        insert_job(req, s); /* the key was taken meanwhile: answer its job */
        return;
    }
    bool ok = res->error == DB_OK && db_result_rows(res) == 1;
    if (ok && s->webhook[0] &&
        !jobs_webhook_done(jobs_current(), s->hit_id, s->webhook, req->log_ctx))
        log_ctx_warn(req->log_ctx, "submit: webhook URL unusable: %s", s->webhook);
    respond_hit(req, s, s->hit_tier, s->hit_json, strlen(s->hit_json), ok ? s->hit_id : "");
    submit_free(s);
}

/* Answer a hit and free s — or, with an Idempotency-Key, first record it
 * (s lives on, attached to req). */
static void answer_hit(struct http_request *req, struct submit *s, enum cache_tier tier,
                       const char *json, size_t len)
{
    struct db_pool *db = s->idem[0] ? db_up() : NULL;
    if (db) {
        s->hit_tier = tier;
        s->hit_json = xstrndup(json, len);
        new_uuid(s->hit_id);
        attach(req, s);
        send_hit_row(db, s, tier, s->hit_id, idem_hit_recorded, s);
        return;
    }
    char id[40];
    record_hit(s, tier, id);
    respond_hit(req, s, tier, json, len, id);
    submit_free(s);
}

static void lookup(struct http_request *req, struct submit *s);

static void inserted(const struct db_result *res, void *arg)
{
    struct submit *s = arg;
    struct http_request *req = take(s);
    if (!req)
        return; /* the client left; the job (if any) runs anyway */
    if (res->error == DB_OK && db_result_rows(res) < 1 && ++s->tries < INSERT_TRIES) {
        insert_job(req, s); /* the job we collided with was not visible yet */
        return;
    }
    int row = 0; /* a job (new, replayed, attached) wins over 'cached' */
    while (res->error == DB_OK && row + 1 < db_result_rows(res) &&
           strcmp(db_result_value(res, row, 3), "cached") == 0)
        row++;
    if (res->error == DB_OK && db_result_rows(res) > 0 &&
        strcmp(db_result_value(res, row, 3), "cached") == 0 && s->tries++ < INSERT_TRIES) {
        log_ctx_info(req->log_ctx, "submit: %s finished meanwhile; answering from the cache",
                     s->key);
        lookup(req, s);
        return;
    }
    submit_free(s);
    if (res->error != DB_OK || db_result_rows(res) < 1 ||
        strcmp(db_result_value(res, row, 3), "cached") == 0) {
        log_ctx_warn(req->log_ctx, "submit: cannot queue the job: %s", res->message);
        api_respond_unavailable(req, res->error == DB_OK ? "no row returned"
                                                         : db_error_name(res->error));
        return;
    }
    const char *how = db_result_value(res, row, 3);
    const char *id = db_result_value(res, row, 0);
    if (strcmp(how, "new") == 0)
        jobs_kick(jobs_current());
    char self[96];
    snprintf(self, sizeof(self), "/v1/jobs/%s", id);
    http_response_header(req, "location", self);
    http_response_header(req, "x-steno-cache", "miss");
    if (strcmp(how, "replayed") == 0)
        http_response_header(req, "idempotent-replayed", "true");
    else if (strcmp(how, "attached") == 0) /* single flight: an identical job is in flight */
        http_response_header(req, "x-steno-single-flight", "attached");
    char events[112], transcript[112];
    snprintf(events, sizeof(events), "/v1/jobs/%s/events", id);
    snprintf(transcript, sizeof(transcript), "/v1/transcripts/%s", id);
    http_respond_json(req, 202,
                      json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s}}", "id", id, "status",
                                db_result_value(res, row, 1), "created_at",
                                db_result_value(res, row, 2), "links", "self", self, "events",
                                events, "transcript", transcript));
}

static void on_abort(struct http_request *req)
{
    struct submit *s = req->user;
    req->user = NULL;
    if (s)
        s->req = NULL; /* the pending callback frees s */
}

static void attach(struct http_request *req, struct submit *s)
{
    s->req = req;
    req->user = s;
    req->on_abort = on_abort;
}

/* The pending callback's side of attach(): the request back with its hooks
 * off, or NULL (and s freed) when the client left meanwhile. */
static struct http_request *take(struct submit *s)
{
    struct http_request *req = s->req;
    if (!req) {
        submit_free(s);
        return NULL;
    }
    req->user = NULL;
    req->on_abort = NULL;
    s->req = NULL;
    return req;
}

static void insert_job(struct http_request *req, struct submit *s)
{
    struct upload_result *up = s->up;
    char prio_s[8], bytes[32];
    snprintf(prio_s, sizeof(prio_s), "%d", s->prio);
    snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)up->bytes);
    const char *p[] = {prio_s,
                       up->sha256,
                       up->path,
                       bytes,
                       s->secs,
                       s->ptext,
                       s->key,
                       s->idem[0] ? s->idem : NULL,
                       s->webhook[0] ? s->webhook : NULL};
    attach(req, s);
    db_pool_query(jobs_db(jobs_current()), SQL_INSERT, 9, p, inserted, s);
}

/* A miss: check the audio, then queue a job (or attach to its twin). */
static void queue_job(struct http_request *req, struct submit *s)
{
    struct jobs *j = jobs_current();
    struct audio_info info;
    if (!api_probe_upload(req, s->up, &info)) {
        submit_free(s);
        return;
    }
    if (!api_db_pool(req)) { /* answered 503; the audio is of no use now */
        if (s->up->fresh)
            bio_submit(jobs_bio(j), BIO_JOB_UNLINK, -1, s->up->path, NULL, NULL);
        submit_free(s);
        return;
    }
    snprintf(s->secs, sizeof(s->secs), "%.6f", info.duration);
    insert_job(req, s);
}

static void looked_up(enum cache_tier tier, const char *json, size_t len, void *arg)
{
    struct submit *s = arg;
    struct http_request *req = take(s);
    if (!req)
        return;
    if (tier != CACHE_MISS) {
        answer_hit(req, s, tier, json, len);
    } else if (!s->up) {
        submit_free(s);
        http_response_header(req, "x-steno-cache", "miss");
        http_respond_error(req, 404, "invalid_request_error", "cache_miss",
                           "no cached transcript for this sha256 and these parameters; "
                           "upload the audio");
    } else {
        queue_job(req, s);
    }
}

/* L1 answers at once; otherwise wait for L2/L3 (req stays attached). */
static void lookup(struct http_request *req, struct submit *s)
{
    const char *json;
    size_t len;
    if (cache_lookup(jobs_cache(jobs_current()), s->key, &json, &len, looked_up, s) == CACHE_L1) {
        answer_hit(req, s, CACHE_L1, json, len);
        return;
    }
    attach(req, s);
}

static void uploaded(struct http_request *req, struct upload_result *up, enum upload_error err,
                     const char *msg, void *arg)
{
    struct submit *s = arg;
    /* upload.c detached itself from req (user, on_abort) before calling us;
     * answering may free req at once, so it is always the last touch */
    if (err) {
        submit_free(s);
        http_respond_error(req, upload_error_status(err), "invalid_request_error",
                           upload_error_code(err), "%s", msg);
        return;
    }
    s->up = up;
    if (s->want_sha[0] && strcmp(s->want_sha, up->sha256) != 0) {
        if (up->fresh)
            bio_submit(jobs_bio(jobs_current()), BIO_JOB_UNLINK, -1, up->path, NULL, NULL);
        http_respond_error(req, 400, "invalid_request_error", "sha256_mismatch",
                           "the body's SHA-256 is %s, not the %s announced", up->sha256,
                           s->want_sha);
        submit_free(s);
        return;
    }
    if (!read_params(req, up->fields, s, up->sha256)) {
        if (up->fresh)
            bio_submit(jobs_bio(jobs_current()), BIO_JOB_UNLINK, -1, up->path, NULL, NULL);
        submit_free(s);
        return; /* answered 400 */
    }
    if (s->idem[0]) {
        /* a replay answers the job the key named, even when the audio is
         * cached by now: the statement looks for the key first, and says
         * 'cached' (then we look up) only for a key it has never seen */
        queue_job(req, s);
        return;
    }
    lookup(req, s);
}

/* The announced hash (X-Content-SHA256 header or ?sha256=), lower-cased
 * into s->want_sha. false when one is given but malformed (answered 400). */
static bool announced_sha(struct http_request *req, struct submit *s)
{
    char buf[80];
    const char *sha = http_request_header(req, "x-content-sha256");
    if (!sha)
        sha = http_request_query(req, "sha256", buf, sizeof(buf));
    if (!sha)
        return true;
    if (!hex_is_digest(sha, 32)) {
        http_respond_error(req, 400, "invalid_request_error", "invalid_sha256",
                           "X-Content-SHA256 / sha256 must be 64 hexadecimal digits");
        return false;
    }
    for (size_t i = 0; i < 64; i++)
        s->want_sha[i] = (char)tolower((unsigned char)sha[i]);
    s->want_sha[64] = '\0';
    return true;
}

/* POST /v1/transcriptions. With an announced sha256 and an empty body it
 * is a pre-upload lookup: 200 from the cache or 404 cache_miss, nothing
 * stored, no database needed. Otherwise the body is uploaded and hashed,
 * then looked up (a hit answers 200 even while PostgreSQL is down), and a
 * miss queues a job (503 while PostgreSQL is down). */
void api_transcriptions_post(struct http_request *req)
{
    struct jobs *j = jobs_current();
    if (!j) {
        api_respond_unavailable(req, "the jobs service is not running");
        return;
    }
    const char *idem = http_request_header(req, "idempotency-key");
    if (idem && (!*idem || strlen(idem) > 200)) {
        http_respond_error(req, 400, "invalid_request_error", "invalid_parameter",
                           "Idempotency-Key must be 1..200 characters");
        return;
    }
    struct submit *s = xcalloc(1, sizeof(*s));
    if (idem)
        snprintf(s->idem, sizeof(s->idem), "%s", idem);
    if (!announced_sha(req, s)) {
        submit_free(s);
        return;
    }
    if (s->want_sha[0] && req->content_length == 0) {
        if (!read_params(req, NULL, s, s->want_sha)) {
            submit_free(s);
            return;
        }
        lookup(req, s);
        return;
    }
    if (!jobs_db(j)) { /* no database at all: nothing could be queued */
        submit_free(s);
        api_respond_unavailable(req, "no --database-url");
        return;
    }
    enum upload_error err =
        upload_start(req, jobs_config(j)->data_dir, jobs_bio(j), uploaded, s, free);
    if (err) {
        submit_free(s);
        http_respond_error(
            req, upload_error_status(err), "invalid_request_error", upload_error_code(err), "%s",
            err == UPLOAD_UNSUPPORTED_MEDIA ? "send audio (audio/*, application/octet-stream) or "
                                              "multipart/form-data with the audio in field `file`"
                                            : "cannot accept this upload");
    }
}
