/* api_call.c — database plumbing shared by the job endpoints. */
#include "api_call.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "log.h"

/* The client left: forget the request; the pending db callback frees the
 * call when it fires. */
static void on_abort(struct http_request *req)
{
    struct api_call *c = req->user;
    req->user = NULL;
    if (c)
        c->req = NULL;
}

void api_call_attach(struct api_call *c, struct http_request *req)
{
    c->req = req;
    req->user = c;
    req->on_abort = on_abort;
}

struct api_call *api_call_new(struct http_request *req, const char *id)
{
    struct api_call *c = xcalloc(1, sizeof(*c));
    for (size_t i = 0; id && id[i] && i < sizeof(c->id) - 1; i++)
        c->id[i] = (char)tolower((unsigned char)id[i]); /* uuid text as PostgreSQL prints it */
    api_call_attach(c, req);
    return c;
}

struct http_request *api_call_take(struct api_call *c)
{
    struct http_request *req = c->req;
    if (!req) {
        free(c);
        return NULL;
    }
    req->on_abort = NULL;
    req->user = NULL;
    c->req = NULL;
    return req;
}

void api_respond_unavailable(struct http_request *req, const char *why)
{
    http_response_header(req, "retry-after", "5");
    http_respond_error(req, 503, "server_error", "database_unavailable",
                       "the job database is unavailable (%s); try again shortly", why);
}

void api_respond_job_not_found(struct http_request *req, const char *id)
{
    http_respond_error(req, 404, "invalid_request_error", "job_not_found", "no job with id '%.64s'",
                       id);
}

const char *api_path_job_id(struct http_request *req)
{
    const char *id = http_request_param(req, "id");
    if (!jobs_id_valid(id)) {
        api_respond_job_not_found(req, id ? id : "");
        return NULL;
    }
    return id;
}

struct db_pool *api_db_pool(struct http_request *req)
{
    struct jobs *j = jobs_current();
    struct db_pool *pool = j ? jobs_db(j) : NULL;
    if (!pool) {
        api_respond_unavailable(req, j ? "no --database-url" : "the jobs service is not running");
        return NULL;
    }
    struct db_pool_health h;
    db_pool_health(pool, &h);
    if (h.up == 0 && h.last_error[0]) { /* down, not merely still connecting */
        db_pool_wake(pool);
        api_respond_unavailable(req, "no connection to PostgreSQL");
        return NULL;
    }
    return pool;
}

bool api_db_failed(struct http_request *req, const struct db_result *r, const char *what)
{
    switch (r->error) {
    case DB_OK:
        return false;
    case DB_ERR_CONN_LOST:
    case DB_ERR_TIMEOUT:
    case DB_ERR_QUEUE_FULL:
    case DB_ERR_SHUTDOWN:
        api_respond_unavailable(req, db_error_name(r->error));
        return true;
    case DB_ERR_SQL:
        /* statement_timeout, admin shutdown, too many connections …: transient */
        if (db_result_is(r, "57014") || strncmp(r->sqlstate, "57P", 3) == 0 ||
            strncmp(r->sqlstate, "08", 2) == 0 || db_result_is(r, "53300")) {
            api_respond_unavailable(req, r->sqlstate);
            return true;
        }
        break;
    case DB_ERR_MISUSE:
        break;
    }
    log_ctx_error(req->log_ctx, "api: %s: %s %s %s", what, db_error_name(r->error), r->sqlstate,
                  r->message);
    http_respond_error(req, 500, "server_error", "internal", "%s failed", what);
    return true;
}

void api_respond_json_text(struct http_request *req, int status, const char *text)
{
    json_error_t jerr;
    json_t *o = text ? json_loads(text, 0, &jerr) : NULL;
    if (!o) {
        log_ctx_error(req->log_ctx, "api: a database JSON answer does not parse: %s",
                      text ? jerr.text : "NULL");
        http_respond_error(req, 500, "server_error", "internal", "cannot encode the response");
        return;
    }
    http_respond_json(req, status, o);
}

db_stmt api_stmt_get(struct db_pool *pool, struct api_stmt *s)
{
    if (s->pool != pool) {
        s->handle = db_pool_prepare(pool, s->sql);
        s->pool = pool;
    }
    return s->handle;
}
