/* api_call.h — what the job endpoints of src/api share: reaching the
 * database from a handler, answering from the database callback, and the
 * errors every endpoint gives the same way.
 *
 * A handler that queries creates one struct api_call and passes it as the
 * query's callback argument. The callback first takes its request back with
 * api_call_take(): NULL means the client left meanwhile (the call is freed
 * then, nothing more to do); otherwise the request is detached from the
 * call — answering may free it at once, so nothing must refer to it
 * afterwards — and the callback answers and frees the call. A callback that
 * queries again instead re-attaches with api_call_attach(). */
#ifndef STENO_API_CALL_H
#define STENO_API_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include "db_pool.h"
#include "http.h"

struct api_call {
    struct http_request *req; /* NULL once the client left (set by on_abort) */
    char id[37];              /* the job id the endpoint works on, lower-case; "" if none */
    int fmt;                  /* endpoint-specific small value (a format, a limit) */
    unsigned tries;           /* statements run so far (retry after a race) */
};

/* A new call attached to `req` (req->user, req->on_abort); `id` (may be
 * NULL) is copied lower-cased. It must go to exactly one db query whose
 * callback starts with api_call_take(). */
struct api_call *api_call_new(struct http_request *req, const char *id);
/* Attach again before the next query (a callback that runs another one). */
void api_call_attach(struct api_call *c, struct http_request *req);
/* The request to answer, detached from the call, or NULL when the client
 * left (the call is freed then and must not be used again). Otherwise the
 * caller frees the call with free(). */
struct http_request *api_call_take(struct api_call *c);

/* The pool of this process's jobs service; NULL after answering 503
 * database_unavailable (Retry-After: 5) when there is none or when no
 * connection is up and the last attempt failed. Checked up front so a
 * request never waits out the query timeout behind a server that is down;
 * a pool still making its first connections takes the query (it waits). */
struct db_pool *api_db_pool(struct http_request *req);

/* When `r` is not DB_OK: answer (503 + Retry-After for an unavailable
 * database — lost connection, timeout, full queue, shutdown, statement
 * timeout — 500 for anything else, logged with `what`) and return true. */
bool api_db_failed(struct http_request *req, const struct db_result *r, const char *what);

/* The {id} path parameter when it is a uuid; otherwise answers 404
 * job_not_found and returns NULL (a malformed id names no job, so it never
 * reaches SQL). */
const char *api_path_job_id(struct http_request *req);
/* 404 job_not_found for `id`. */
void api_respond_job_not_found(struct http_request *req, const char *id);

/* 503 database_unavailable with Retry-After: 5. */
void api_respond_unavailable(struct http_request *req, const char *why);

/* Answer `status` with JSON text built by PostgreSQL (json_build_object…):
 * parsed and re-encoded by http_respond_json. 500 when it does not parse. */
void api_respond_json_text(struct http_request *req, int status, const char *text);

/* A statement prepared lazily on the pool it first runs on. Declare one
 * `static struct api_stmt` per SQL text; the pool is per process, so the
 * handle is cached per process and re-registered only for another pool. */
struct api_stmt {
    const char *sql;
    struct db_pool *pool;
    db_stmt handle;
};
db_stmt api_stmt_get(struct db_pool *pool, struct api_stmt *s);

/* SQL for a timestamptz column as RFC 3339 UTC with milliseconds
 * ("2026-11-22T16:20:01.123Z"); NULL stays NULL. */
#define API_SQL_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#endif
