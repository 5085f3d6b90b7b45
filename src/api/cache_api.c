/* cache_api.c — DELETE /v1/cache/{sha256}, GET /v1/cache/stats. */
#include "api_cache.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_call.h"
#include "cache.h"
#include "hex.h"
#include "jobs.h"
#include "log.h"

/* ---- DELETE /v1/cache/{sha256} ---- */

struct deletion {
    struct http_request *req; /* NULL once the client left */
};

static void deletion_abort(struct http_request *req)
{
    struct deletion *d = req->user;
    req->user = NULL;
    if (d)
        d->req = NULL;
}

static void invalidated(const struct cache_invalidation *r, void *arg)
{
    struct deletion *d = arg;
    struct http_request *req = d->req;
    free(d);
    if (!req)
        return; /* the invalidation went through anyway */
    req->user = NULL;
    req->on_abort = NULL;
    if (r->db_error != DB_OK) {
        log_ctx_warn(req->log_ctx, "cache: %s: L3 not invalidated (%s): %s", r->sha256,
                     db_error_name(r->db_error), r->db_message);
        api_respond_unavailable(req, r->db_error == DB_ERR_SQL ? "statement failed"
                                                               : db_error_name(r->db_error));
        return;
    }
    if (r->l1 == 0 && r->l2 <= 0 && r->l3 <= 0) {
        http_respond_error(req, 404, "invalid_request_error", "cache_not_found",
                           "nothing cached for sha256 %s (every process was told anyway)",
                           r->sha256);
        return;
    }
    json_t *l2 = r->l2 < 0 ? json_null() : json_integer(r->l2);
    http_respond_json(req, 200,
                      json_pack("{s:s,s:b,s:{s:I,s:o,s:I},s:s}", "sha256", r->sha256, "deleted", 1,
                                "removed", "l1", (json_int_t)r->l1, "l2", l2, "l3",
                                (json_int_t)r->l3, "l2_state",
                                r->l2 < 0 ? "deferred until Redis is available" : "done"));
}

void api_cache_delete(struct http_request *req)
{
    struct jobs *j = jobs_current();
    const char *sha = http_request_param(req, "sha256");
    if (!hex_is_digest(sha, 32)) {
        http_respond_error(req, 400, "invalid_request_error", "invalid_sha256",
                           "the path must name a sha256: 64 hexadecimal digits");
        return;
    }
    if (!j) {
        api_respond_unavailable(req, "the jobs service is not running");
        return;
    }
    char lower[65];
    for (size_t i = 0; i < 64; i++)
        lower[i] = (char)tolower((unsigned char)sha[i]);
    lower[64] = '\0';
    struct deletion *d = xcalloc(1, sizeof(*d));
    d->req = req;
    req->user = d;
    req->on_abort = deletion_abort;
    cache_invalidate(jobs_cache(j), lower, "api", req->id, invalidated, d);
}

/* ---- GET /v1/cache/stats ---- */

static struct api_stmt st_rows = {.sql = "SELECT count(*) FROM transcripts"};

static json_t *tier_json(uint64_t hits, uint64_t misses)
{
    uint64_t all = hits + misses;
    return json_pack("{s:I,s:I,s:f}", "hits", (json_int_t)hits, "misses", (json_int_t)misses,
                     "hit_rate", all ? (double)hits / (double)all : 0.0);
}

/* Every lookup starts at L1, so its hits + misses count the lookups, and a
 * lookup hits when any tier does. */
static void answer_stats(struct http_request *req, const char *l3_rows)
{
    struct jobs *j = jobs_current();
    struct cache_stats st;
    cache_get_stats(jobs_cache(j), &st);
    uint64_t lookups = st.hits[1] + st.misses[1];
    uint64_t hits = st.hits[1] + st.hits[2] + st.hits[3];
    json_t *l1 = tier_json(st.hits[1], st.misses[1]);
    json_object_set_new(l1, "bytes", json_integer((json_int_t)st.l1_bytes));
    json_object_set_new(l1, "keys", json_integer((json_int_t)st.l1_keys));
    json_object_set_new(l1, "max_bytes_per_worker", json_integer((json_int_t)st.l1_max_bytes));
    json_object_set_new(l1, "evictions", json_integer((json_int_t)st.l1_evictions));
    json_t *l2 = tier_json(st.hits[2], st.misses[2]);
    json_object_set_new(l2, "state",
                        json_string(!st.l2_configured ? "off"
                                    : st.l2_available ? "available"
                                                      : "unavailable"));
    json_t *l3 = tier_json(st.hits[3], st.misses[3]);
    json_object_set_new(l3, "rows", l3_rows ? json_integer(atoll(l3_rows)) : json_null());
    http_respond_json(req, 200,
                      json_pack("{s:I,s:I,s:I,s:f,s:I,s:o,s:o,s:o,s:I}", "lookups",
                                (json_int_t)lookups, "hits", (json_int_t)hits, "misses",
                                (json_int_t)(lookups - (hits < lookups ? hits : lookups)),
                                "hit_rate", lookups ? (double)hits / (double)lookups : 0.0,
                                "workers", (json_int_t)jobs_config(j)->workers, "l1", l1, "l2", l2,
                                "l3", l3, "invalidations", (json_int_t)st.invalidations));
}

static void rows_done(const struct db_result *r, void *arg)
{
    struct api_call *c = arg;
    struct http_request *req = api_call_take(c);
    if (!req)
        return;
    free(c);
    answer_stats(req,
                 r->error == DB_OK && db_result_rows(r) == 1 ? db_result_value(r, 0, 0) : NULL);
}

void api_cache_stats(struct http_request *req)
{
    struct jobs *j = jobs_current();
    if (!j) {
        api_respond_unavailable(req, "the jobs service is not running");
        return;
    }
    struct db_pool *db = jobs_db(j);
    struct db_pool_health h = {0};
    if (db)
        db_pool_health(db, &h);
    if (!db || h.up == 0) { /* the counters never wait for PostgreSQL */
        answer_stats(req, NULL);
        return;
    }
    struct api_call *c = api_call_new(req, NULL);
    db_pool_exec(db, api_stmt_get(db, &st_rows), 0, NULL, rows_done, c);
}
