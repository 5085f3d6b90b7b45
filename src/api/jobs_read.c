/* jobs_read.c — GET /v1/jobs/{id}, GET /v1/jobs, GET /v1/transcripts/{id}.
 *
 * Each answer is one statement (one round trip). The job view is built as
 * JSON by PostgreSQL itself, chunks included; the list walks the
 * jobs_list / jobs_list_by_status indexes by keyset; the transcript is read
 * from the L3 cache row the job filled and rendered here. */
#include "api_jobs.h"
#include "hex.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_call.h"
#include "jobs.h"
#include "log.h"
#include "transcript.h"

/* ---- GET /v1/jobs/{id} ---- */

/* Everything about one job in one statement: the row, its chunks in audio
 * order with their progress counts, and the links. An unknown id gives no
 * row. The priority names match jobs_priority_name(). */
static struct api_stmt st_job_get = {
    /* clang-format off */
    .sql =
        "SELECT json_build_object('id', j.id, 'status', j.status, 'priority', "
        "(ARRAY['high','medium','low'])[j.priority + 1], 'created_at', "
        API_SQL_TS("j.created_at")
        ", 'started_at', "
        API_SQL_TS("j.started_at")
        ", 'finished_at', "
        API_SQL_TS("j.finished_at")
        ", 'attempts', j.attempts, 'audio', json_build_object('sha256', j.audio_sha256, "
        "'bytes', j.audio_bytes, 'seconds', j.audio_seconds), 'params', j.params, 'plan', "
        "j.plan, 'error', j.error, 'cache_key', j.cache_key, 'cache_level', j.cache_level, 'chunks', COALESCE(c.list, "
        "'[]'::json), 'progress', json_build_object('chunks_total', c.total, 'chunks_done', "
        "c.done, 'chunks_failed', c.failed), 'links', json_build_object('self', '/v1/jobs/' "
        "|| j.id, 'events', '/v1/jobs/' || j.id || '/events', 'transcript', "
        "'/v1/transcripts/' || j.id))::text "
        "FROM jobs j "
        "CROSS JOIN LATERAL ( "
        "SELECT json_agg(json_build_object( 'index', k.idx, 'start', k.start_s, 'duration', "
        "k.duration_s, 'status', k.status, 'attempts', k.attempts, 'error', k.last_error, "
        "'started_at', "
        API_SQL_TS("k.started_at")
        ", 'finished_at', "
        API_SQL_TS("k.finished_at")
        ", 'timings', k.timings) "
        "ORDER BY k.start_s, k.idx) AS list, count(*) AS total, count(*) FILTER ("
        "WHERE k.status IN ('done', 'skipped')) AS done, count(*) FILTER ("
        "WHERE k.status = 'failed') AS failed "
        "FROM chunks k "
        "WHERE k.job_id = j.id) c "
        "WHERE j.id = $1",
    /* clang-format on */
};

static void job_get_done(const struct db_result *r, void *arg)
{
    struct api_call *c = arg;
    struct http_request *req = api_call_take(c);
    if (!req)
        return;
    if (!api_db_failed(req, r, "job lookup")) {
        if (db_result_rows(r) == 0)
            api_respond_job_not_found(req, c->id);
        else
            api_respond_json_text(req, 200, db_result_value(r, 0, 0));
    }
    free(c);
}

void api_job_get(struct http_request *req)
{
    const char *id = api_path_job_id(req);
    struct db_pool *pool = id ? api_db_pool(req) : NULL;
    if (!pool)
        return;
    struct api_call *c = api_call_new(req, id);
    const char *params[] = {c->id};
    db_pool_exec(pool, api_stmt_get(pool, &st_job_get), 1, params, job_get_done, c);
}

/* ---- GET /v1/jobs ---- */

#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX     100

/* Keyset pages, newest first, on (created_at, id): $1 the cursor's
 * created_at in microseconds since the epoch (NULL = first page), $2 its
 * id, $3 how many rows (the page + 1, to learn whether another follows).
 * Both shapes match an index exactly (jobs_list, jobs_list_by_status), so a
 * page is a short index range scan whatever its depth. */
#define LIST_CREATED  API_SQL_TS("created_at")
#define LIST_FINISHED API_SQL_TS("finished_at")
#define LIST_COLUMNS                                                                               \
    "SELECT id, status, priority, " LIST_CREATED ", " LIST_FINISHED ","                            \
    " (extract(epoch FROM created_at) * 1000000)::bigint FROM jobs WHERE "
#define LIST_AFTER                                                                                 \
    "(created_at, id) < (CASE WHEN $1::bigint IS NULL THEN 'infinity'::timestamptz"                \
    " ELSE 'epoch'::timestamptz + $1::bigint * interval '1 microsecond' END,"                      \
    " COALESCE($2::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))"                                 \
    " ORDER BY created_at DESC, id DESC LIMIT $3"

static struct api_stmt st_list = {.sql = LIST_COLUMNS LIST_AFTER};
static struct api_stmt st_list_status = {.sql = LIST_COLUMNS "status = $4 AND " LIST_AFTER};

/* The cursor: 8 bytes of created_at (µs, big-endian) and the 16 bytes of
 * the uuid, base64url without padding — 32 characters. Opaque to clients;
 * validated strictly, so a damaged cursor is a 400 and never a SQL error. */
#define CURSOR_LEN 32
/* 2^53 µs: year 2255, and exact through PostgreSQL's float interval math. */
#define CURSOR_MICROS_MAX (UINT64_C(1) << 53)
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* micros + canonical uuid text → cursor (out: CURSOR_LEN + 1 bytes). */
static void cursor_encode(int64_t micros, const char *uuid, char *out)
{
    unsigned char raw[24];
    for (int i = 0; i < 8; i++)
        raw[i] = (unsigned char)((uint64_t)micros >> (56 - 8 * i));
    for (int i = 0, k = 0; k < 16; i++) {
        if (uuid[i] == '-')
            continue;
        raw[8 + k++] = (unsigned char)(hex_value(uuid[i]) << 4 | hex_value(uuid[i + 1]));
        i++;
    }
    for (int i = 0; i < 8; i++) {
        uint32_t v = (uint32_t)raw[3 * i] << 16 | (uint32_t)raw[3 * i + 1] << 8 | raw[3 * i + 2];
        for (int k = 0; k < 4; k++)
            out[4 * i + k] = b64url[(v >> (18 - 6 * k)) & 63];
    }
    out[CURSOR_LEN] = '\0';
}

/* The reverse; false for anything that is not exactly such a cursor.
 * micros_out gets decimal text, uuid_out the canonical uuid (37 bytes). */
static bool cursor_decode(const char *s, char *micros_out, size_t mlen, char *uuid_out)
{
    if (strlen(s) != CURSOR_LEN)
        return false;
    unsigned char raw[24];
    for (int i = 0; i < 8; i++) {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            const char *p = strchr(b64url, s[4 * i + k]);
            if (!p || !*p)
                return false;
            v = v << 6 | (uint32_t)(p - b64url);
        }
        raw[3 * i] = (unsigned char)(v >> 16);
        raw[3 * i + 1] = (unsigned char)(v >> 8);
        raw[3 * i + 2] = (unsigned char)v;
    }
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | raw[i];
    if (u >= CURSOR_MICROS_MAX)
        return false; /* no job was created then: a forged cursor */
    snprintf(micros_out, mlen, "%" PRId64, (int64_t)u);
    char *o = uuid_out;
    for (int k = 0; k < 16; k++) {
        if (k == 4 || k == 6 || k == 8 || k == 10)
            *o++ = '-';
        o += sprintf(o, "%02x", raw[8 + k]);
    }
    return true;
}

static bool status_valid(const char *s)
{
    static const char *const names[] = {"queued", "running", "done", "failed", "cancelled"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}

/* limit= → 1..100, default 20; false after answering 400. */
static bool parse_limit(struct http_request *req, int *out)
{
    char buf[16];
    const char *s = http_request_query(req, "limit", buf, sizeof(buf));
    *out = LIST_LIMIT_DEFAULT;
    if (!s)
        return true;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 1 || v > LIST_LIMIT_MAX || strlen(s) >= sizeof(buf) - 1) {
        http_respond_error(req, 400, "invalid_request_error", "invalid_limit",
                           "limit must be an integer from 1 to %d", LIST_LIMIT_MAX);
        return false;
    }
    *out = (int)v;
    return true;
}

static json_t *list_item(const struct db_result *r, int row)
{
    const char *finished = db_result_value(r, row, 4);
    return json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", db_result_value(r, row, 0), "status",
                     db_result_value(r, row, 1), "priority",
                     jobs_priority_name(atoi(db_result_value(r, row, 2))), "created_at",
                     db_result_value(r, row, 3), "finished_at",
                     finished ? json_string(finished) : json_null());
}

static void list_done(const struct db_result *r, void *arg)
{
    struct api_call *c = arg;
    struct http_request *req = api_call_take(c);
    if (!req)
        return;
    if (!api_db_failed(req, r, "job list")) {
        int limit = c->fmt, n = db_result_rows(r);
        json_t *data = json_array(), *next = json_null();
        for (int i = 0; i < n && i < limit; i++)
            json_array_append_new(data, list_item(r, i));
        if (n > limit) {
            char cur[CURSOR_LEN + 1];
            cursor_encode(strtoll(db_result_value(r, limit - 1, 5), NULL, 10),
                          db_result_value(r, limit - 1, 0), cur);
            next = json_string(cur);
        }
        http_respond_json(
            req, 200,
            json_pack("{s:s,s:o,s:o}", "object", "list", "data", data, "next_cursor", next));
    }
    free(c);
}

/* Query parameters → statement parameters; false after answering 400.
 * An empty status= counts as absent (what an HTML form sends). */
static bool list_params(struct http_request *req, char *status, size_t slen, char *micros,
                        size_t mlen, char *uuid, int *limit)
{
    char buf[64];
    if (!parse_limit(req, limit))
        return false;
    const char *s = http_request_query(req, "status", status, slen);
    if (s && *s && !status_valid(s)) {
        http_respond_error(req, 400, "invalid_request_error", "invalid_status",
                           "status must be one of queued, running, done, failed, cancelled");
        return false;
    }
    if (!s)
        status[0] = '\0';
    const char *cur = http_request_query(req, "cursor", buf, sizeof(buf));
    micros[0] = uuid[0] = '\0';
    if (cur && !cursor_decode(cur, micros, mlen, uuid)) {
        http_respond_error(req, 400, "invalid_request_error", "invalid_cursor",
                           "cursor is not one this server handed out (use next_cursor as is)");
        return false;
    }
    return true;
}

void api_jobs_list(struct http_request *req)
{
    char status[16], micros[24], uuid[37], lim[16];
    int limit;
    if (!list_params(req, status, sizeof(status), micros, sizeof(micros), uuid, &limit))
        return;
    struct db_pool *pool = api_db_pool(req);
    if (!pool)
        return;
    struct api_call *c = api_call_new(req, NULL);
    c->fmt = limit;
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    const char *params[] = {micros[0] ? micros : NULL, uuid[0] ? uuid : NULL, lim, status};
    if (status[0])
        db_pool_exec(pool, api_stmt_get(pool, &st_list_status), 4, params, list_done, c);
    else
        db_pool_exec(pool, api_stmt_get(pool, &st_list), 3, params, list_done, c);
}

/* ---- GET /v1/transcripts/{id} ---- */

/* The job's status and, when its cache row exists, the merged transcript. */
static struct api_stmt st_transcript = {
    /* clang-format off */
    .sql =
        "SELECT j.status, t.result::text "
        "FROM jobs j "
        "LEFT JOIN transcripts t ON t.cache_key = j.cache_key "
        "WHERE j.id = $1",
    /* clang-format on */
};

static void render_transcript(struct http_request *req, const char *id, const char *json,
                              enum transcript_format fmt)
{
    char err[128];
    struct transcript *t = transcript_from_json(json, strlen(json), err, sizeof(err));
    if (!t) {
        log_ctx_error(req->log_ctx, "api: job=%s: stored transcript unreadable: %s", id, err);
        http_respond_error(req, 500, "server_error", "internal",
                           "the stored transcript is damaged");
        return;
    }
    size_t len;
    char *body = transcript_render(t, fmt, &len);
    http_respond(req, 200, transcript_format_content_type(fmt), body, len);
    free(body);
    transcript_free(t);
}

static void transcript_done(const struct db_result *r, void *arg)
{
    struct api_call *c = arg;
    struct http_request *req = api_call_take(c);
    if (!req)
        return;
    if (api_db_failed(req, r, "transcript lookup")) {
        /* answered */
    } else if (db_result_rows(r) == 0) {
        api_respond_job_not_found(req, c->id);
    } else if (strcmp(db_result_value(r, 0, 0), "done") != 0) {
        http_respond_error(req, 409, "invalid_request_error", "transcript_not_ready",
                           "job %s is %s; its transcript exists once it is done", c->id,
                           db_result_value(r, 0, 0));
    } else if (!db_result_value(r, 0, 1)) {
        /* done, but the cache row was invalidated since (DELETE /v1/cache) */
        http_respond_error(req, 404, "invalid_request_error", "transcript_not_found",
                           "the transcript of job %s was removed from the cache", c->id);
    } else {
        render_transcript(req, c->id, db_result_value(r, 0, 1), (enum transcript_format)c->fmt);
    }
    free(c);
}

void api_transcript_get(struct http_request *req)
{
    char buf[32];
    enum transcript_format fmt = TRANSCRIPT_JSON;
    const char *f = http_request_query(req, "format", buf, sizeof(buf));
    if (f && !transcript_format_parse(f, &fmt)) {
        http_respond_error(req, 400, "invalid_request_error", "invalid_format",
                           "format must be one of json, text, srt, vtt, verbose_json");
        return;
    }
    const char *id = api_path_job_id(req);
    struct db_pool *pool = id ? api_db_pool(req) : NULL;
    if (!pool)
        return;
    struct api_call *c = api_call_new(req, id);
    c->fmt = (int)fmt;
    const char *params[] = {c->id};
    db_pool_exec(pool, api_stmt_get(pool, &st_transcript), 1, params, transcript_done, c);
}
