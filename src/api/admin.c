/* admin.c — POST /admin/degradation/override {"mode":"full"|"degraded","reason"}.
 *
 * Guarded by --admin-key (Authorization: Bearer …, compared in constant
 * time); without one configured the endpoint is refused outright. The
 * audit row and the NOTIFY that carries the override to every process are
 * one statement, so an override is applied everywhere exactly when it is
 * on record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api.h"
#include "api_call.h"
#include "jobs.h"
#include "log.h"

#define MAX_BODY 4096

static struct api_stmt st_override = {
    .sql = "WITH a AS (INSERT INTO audit_log (actor, action, target, details)"
           " VALUES ('admin', 'degradation.override', 'degradation',"
           "         jsonb_build_object('mode', $1::text, 'reason', $2::text,"
           "                            'request_id', $3::text, 'pid', $4::int))"
           " RETURNING id)"
           " SELECT id, pg_notify('steno_override', $1 || ':' || $2)::text FROM a",
};

struct override {
    struct api_call *call;
    char body[MAX_BODY + 1];
    size_t len;
    enum redis_mode mode;
    char reason[200];
};

/* Bearer token equal to --admin-key? 401/403 answered otherwise. */
static bool authorized(struct http_request *req)
{
    const char *key = jobs_config(jobs_current())->admin_key;
    if (!key || !*key) {
        http_respond_error(req, 403, "permission_error", "admin_disabled",
                           "admin endpoints are disabled: start stenod with --admin-key");
        return false;
    }
    const char *auth = http_request_header(req, "authorization");
    size_t klen = strlen(key);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) != klen ||
        CRYPTO_memcmp(auth + 7, key, klen) != 0) {
        http_response_header(req, "www-authenticate", "Bearer");
        http_respond_error(req, 401, "authentication_error", "invalid_admin_key",
                           "a valid admin key is required (Authorization: Bearer …)");
        return false;
    }
    return true;
}

static void recorded(const struct db_result *res, void *arg)
{
    struct override *o = arg;
    struct http_request *req = api_call_take(o->call);
    if (!req) {
        free(o);
        return;
    }
    free(o->call);
    if (api_db_failed(req, res, "override")) {
        free(o);
        return;
    }
    struct jobs *j = jobs_current();
    jobs_override(j, o->mode, o->reason); /* here at once; NOTIFY does the others */
    const char *why;
    enum redis_mode now = jobs_mode(j, &why);
    log_ctx_warn(req->log_ctx, "admin: degradation override to %s (%s)", redis_mode_name(o->mode),
                 o->reason);
    http_respond_json(req, 200,
                      json_pack("{s:s,s:s,s:s,s:b,s:s}", "requested", redis_mode_name(o->mode),
                                "reason", o->reason, "mode", redis_mode_name(now), "forced",
                                jobs_mode_forced(j), "audit_id", db_result_value(res, 0, 0)));
    free(o);
}

static void body_end(struct http_request *req)
{
    struct override *o = req->user;
    req->user = NULL;
    req->on_abort = NULL;
    o->body[o->len] = '\0';
    json_error_t jerr;
    json_t *doc = json_loadb(o->body, o->len, 0, &jerr);
    const char *mode = json_string_value(json_object_get(doc, "mode"));
    json_t *reason = json_object_get(doc, "reason");
    if (!json_is_object(doc) || !mode ||
        (strcmp(mode, "full") != 0 && strcmp(mode, "degraded") != 0) ||
        (reason && !json_is_string(reason)) ||
        (reason && strlen(json_string_value(reason)) >= sizeof(o->reason))) {
        json_decref(doc);
        free(o);
        http_respond_error(req, 400, "invalid_request_error", "invalid_body",
                           "send JSON {\"mode\": \"full\"|\"degraded\", \"reason\": \"…\"} "
                           "(reason under 200 characters)");
        return;
    }
    o->mode = strcmp(mode, "full") == 0 ? REDIS_MODE_FULL : REDIS_MODE_DEGRADED;
    snprintf(o->reason, sizeof(o->reason), "%s",
             reason ? json_string_value(reason) : "by an operator");
    json_decref(doc);
    struct db_pool *pool = api_db_pool(req);
    if (!pool) {
        free(o);
        return; /* 503: an override must be on record */
    }
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    const char *p[] = {redis_mode_name(o->mode), o->reason, req->id, pid};
    o->call = api_call_new(req, NULL);
    db_pool_exec(pool, api_stmt_get(pool, &st_override), 4, p, recorded, o);
}

static enum http_body_result body(struct http_request *req, const char *data, size_t len)
{
    struct override *o = req->user;
    if (o->len + len > MAX_BODY)
        len = MAX_BODY - o->len; /* the route's body limit answers 413 first */
    memcpy(o->body + o->len, data, len);
    o->len += len;
    return HTTP_BODY_OK;
}

static void aborted(struct http_request *req)
{
    free(req->user);
    req->user = NULL;
}

void api_admin_override(struct http_request *req)
{
    if (!jobs_current()) {
        api_respond_unavailable(req, "the jobs service is not running");
        return;
    }
    if (!authorized(req))
        return;
    struct override *o = xcalloc(1, sizeof(*o));
    req->user = o;
    req->on_body = body;
    req->on_body_end = body_end;
    req->on_abort = aborted;
}
