/* cache_sync.c — what keeps the tiers and the processes in step: the
 * start-up warm-up of L1, batched hit counts in L3, invalidation of one
 * sha256 in every tier and its broadcast to every process. */
#include "cache_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The most-hit transcripts whose running size fits the L1 bound, most-hit
 * first. The size is estimated on the server from the same cost formula as
 * the LRU's (text + key + sha + overhead), so the rows fetched never exceed
 * what L1 can hold: a big table cannot make the warm-up allocate more. */
static const char SQL_WARM[] =
    "SELECT cache_key, sha256, r FROM ("
    " SELECT cache_key, sha256, r, sum(octet_length(r) + octet_length(cache_key) + 67 + $3::int)"
    "  OVER (ORDER BY hits DESC, cache_key) AS run"
    " FROM (SELECT cache_key, sha256, result::text AS r, hits FROM transcripts"
    "       ORDER BY hits DESC, cache_key LIMIT $1) t) x"
    " WHERE run <= $2::bigint ORDER BY run";
static const char SQL_BUMP[] =
    "UPDATE transcripts t SET hits = t.hits + u.n::bigint, last_hit_at = now()"
    " FROM jsonb_each_text($1::jsonb) AS u(k, n) WHERE t.cache_key = u.k";
/* L3 rows, the audit row and the broadcast to every process's L1, in one
 * statement (one transaction). */
static const char SQL_INVALIDATE[] =
    "WITH d AS (DELETE FROM transcripts WHERE sha256 = $1 RETURNING cache_key),"
    " a AS (INSERT INTO audit_log (actor, action, target, details)"
    "       SELECT $2, 'cache.delete', 'cache:' || $1, jsonb_build_object('l1_local', $3::int,"
    "              'l3', (SELECT count(*) FROM d), 'request_id', $4::text) RETURNING 1),"
    " n AS (SELECT pg_notify('" CACHE_CHANNEL_PG "', $1))"
    " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM a), (SELECT count(*) FROM n)";
/* Every L2 key of one sha256 (its set's members) and the set itself; the
 * number of transcript keys that existed. One round trip, atomic. */
static const char LUA_DROP[] = "local ks = redis.call('SMEMBERS', KEYS[1]) local n = 0 "
                               "for _, k in ipairs(ks) do n = n + redis.call('DEL', k) end "
                               "redis.call('DEL', KEYS[1]) return n";

#define WARM_RETRY_SECONDS 5

/* ---- hit counts ---- */

static void bump_done(const struct db_result *res, void *arg)
{
    if (res->error != DB_OK)
        log_warn("cache: hit counts not written (%s): %s", db_error_name(res->error), res->message);
}

static void flush_bumps(struct cache *c)
{
    if (!c->bumps || json_object_size(c->bumps) == 0)
        return;
    if (c->db) {
        char *text = json_dumps(c->bumps, JSON_COMPACT);
        const char *p[] = {text};
        db_pool_exec(c->db, c->st_bump, 1, p, bump_done, NULL);
        free(text);
    }
    json_object_clear(c->bumps); /* counts are a hint: lost ones do not matter */
}

void cache_flush(struct cache *c)
{
    if (c)
        flush_bumps(c);
}

static void bump_timer(evutil_socket_t fd, short what, void *arg)
{
    flush_bumps(arg);
}

void cache_bump(struct cache *c, const char *key)
{
    if (!c->db || !c->bump_ev)
        return;
    json_t *n = json_object_get(c->bumps, key);
    if (n) {
        json_integer_set(n, json_integer_value(n) + 1);
        return;
    }
    json_object_set_new(c->bumps, key, json_integer(1));
    if (json_object_size(c->bumps) >= CACHE_BUMP_MAX) {
        flush_bumps(c);
    } else if (!evtimer_pending(c->bump_ev, NULL)) {
        struct timeval tv = {1, 0};
        evtimer_add(c->bump_ev, &tv);
    }
}

/* ---- warm-up ---- */

static void warm_start(struct cache *c);

static void warm_done(const struct db_result *res, void *arg)
{
    struct cache *c = arg;
    if (!c->db)
        return; /* shut down meanwhile */
    if (res->error != DB_OK) {
        log_warn("cache: warm-up failed (%s), retrying in %ds", res->message, WARM_RETRY_SECONDS);
        struct timeval tv = {WARM_RETRY_SECONDS, 0};
        evtimer_add(c->warm_ev, &tv);
        return;
    }
    int n = db_result_rows(res);
    size_t loaded = 0;
    /* least-hit first, so the most-hit end up the most recently used */
    for (int r = n - 1; r >= 0; r--) {
        const char *v = db_result_value(res, r, 2);
        loaded += cache_lru_put(c->l1, db_result_value(res, r, 0), db_result_value(res, r, 1), v,
                                strlen(v));
    }
    c->warmed = true;
    cache_l1_changed(c);
    struct cache_lru_stats st;
    cache_lru_get_stats(c->l1, &st);
    log_info("cache: L1 warmed with %zu transcripts (%zu bytes of %zu)", loaded, st.bytes,
             st.max_bytes);
}

static void warm_timer(evutil_socket_t fd, short what, void *arg)
{
    warm_start(arg);
}

static void warm_start(struct cache *c)
{
    char limit[32], bytes[32], overhead[16];
    snprintf(limit, sizeof(limit), "%ld", c->opt.warm);
    snprintf(bytes, sizeof(bytes), "%zu", c->opt.memory);
    snprintf(overhead, sizeof(overhead), "%d", CACHE_LRU_OVERHEAD);
    const char *p[] = {limit, bytes, overhead};
    db_pool_exec(c->db, c->st_warm, 3, p, warm_done, c);
}

/* ---- invalidation ---- */

static void remember_pending(struct cache *c, const char *sha)
{
    for (size_t i = 0; i < c->npending; i++)
        if (strcmp(c->pending[i], sha) == 0)
            return;
    if (c->npending == CACHE_PENDING_MAX) {
        log_warn("cache: %d invalidations wait for Redis; forgetting the oldest (its L2 keys "
                 "expire by TTL)",
                 CACHE_PENDING_MAX);
        memmove(c->pending, c->pending + 1, (CACHE_PENDING_MAX - 1) * sizeof(*c->pending));
        c->npending--;
    }
    if (!c->pending)
        c->pending = xcalloc(CACHE_PENDING_MAX, sizeof(*c->pending));
    snprintf(c->pending[c->npending++], sizeof(*c->pending), "%s", sha);
}

static struct redis_call *l2_drop(struct cache *c, const char *sha, redis_reply_cb cb, void *arg)
{
    char set[128];
    snprintf(set, sizeof(set), CACHE_SHA_SET_FMT, sha);
    return redis_command(c->redis, cb, arg, "EVAL %s 1 %s", LUA_DROP, set);
}

/* Redis is back (its subscription was re-established): drop the L2 keys of
 * the invalidations it missed. */
static void replay_pending(struct cache *c)
{
    size_t i;
    for (i = 0; i < c->npending; i++)
        if (!l2_drop(c, c->pending[i], NULL, NULL))
            break;
    if (i == 0)
        return; /* nothing replayed (or nothing pending: c->pending may be NULL) */
    log_info("cache: replayed %zu invalidations on Redis", i);
    memmove(c->pending, c->pending + i, (c->npending - i) * sizeof(*c->pending));
    c->npending -= i;
}

struct inval {
    struct cache *c;
    struct cache_invalidation r;
    char sha[65];
    char msg[200];
    cache_invalidate_cb cb;
    void *arg;
};

static void inval_finish(struct inval *iv)
{
    struct cache *c = iv->c;
    if (c->redis && !redis_publish(c->redis, CACHE_CHANNEL_REDIS, iv->sha, strlen(iv->sha)))
        log_debug("cache: invalidation of %s not published on Redis (unavailable)", iv->sha);
    iv->r.sha256 = iv->sha;
    iv->r.db_message = iv->msg;
    iv->cb(&iv->r, iv->arg);
    free(iv);
}

static void inval_l2_done(const redisReply *reply, const char *error, void *arg)
{
    struct inval *iv = arg;
    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        iv->r.l2 = (long)reply->integer;
    } else {
        iv->r.l2 = -1;
        remember_pending(iv->c, iv->sha);
    }
    inval_finish(iv);
}

static void inval_l2(struct inval *iv)
{
    struct cache *c = iv->c;
    if (c->redis && l2_drop(c, iv->sha, inval_l2_done, iv))
        return;
    iv->r.l2 = -1;
    if (c->redis)
        remember_pending(c, iv->sha);
    inval_finish(iv);
}

static void inval_db_done(const struct db_result *res, void *arg)
{
    struct inval *iv = arg;
    iv->r.db_error = res->error;
    snprintf(iv->msg, sizeof(iv->msg), "%s", res->message ? res->message : "");
    if (res->error == DB_OK && db_result_rows(res) == 1)
        iv->r.l3 = atol(db_result_value(res, 0, 0));
    inval_l2(iv);
}

static void inval_no_db(evutil_socket_t fd, short what, void *arg)
{
    inval_l2(arg);
}

void cache_invalidate(struct cache *c, const char *sha256, const char *actor,
                      const char *request_id, cache_invalidate_cb cb, void *arg)
{
    struct inval *iv = xcalloc(1, sizeof(*iv));
    iv->c = c;
    iv->cb = cb;
    iv->arg = arg;
    snprintf(iv->sha, sizeof(iv->sha), "%s", sha256);
    iv->r.l1 = cache_drop_local(c, sha256);
    iv->r.l3 = -1;
    /* L3 first: once its rows are gone no process can refill L2 from them,
     * so deleting L2 afterwards leaves nothing behind to come back */
    struct db_pool_health h = {0};
    if (c->db)
        db_pool_health(c->db, &h);
    if (c->db && !(h.up == 0 && h.last_error[0])) {
        char l1[32];
        snprintf(l1, sizeof(l1), "%zu", iv->r.l1);
        const char *p[] = {iv->sha, actor, l1, request_id};
        db_pool_exec(c->db, c->st_invalidate, 4, p, inval_db_done, iv);
        return;
    }
    iv->r.db_error = DB_ERR_CONN_LOST;
    snprintf(iv->msg, sizeof(iv->msg), "%s",
             c->db ? "no connection to PostgreSQL" : "no database configured");
    event_base_once(c->base, -1, EV_TIMEOUT, inval_no_db, iv, NULL);
}

/* ---- broadcasts from other processes ---- */

static void on_redis_message(const char *channel, const char *payload, size_t len, void *arg)
{
    struct cache *c = arg;
    if (!channel) { /* (re)subscribed after a gap: Redis is usable again */
        replay_pending(c);
        return;
    }
    char sha[65];
    if (len != 64)
        return;
    memcpy(sha, payload, 64);
    sha[64] = '\0';
    size_t n = cache_drop_local(c, sha);
    log_debug("cache: invalidation of %s via Redis dropped %zu L1 entries", sha, n);
}

static void on_pg_notify(const char *channel, const char *payload, void *arg)
{
    struct cache *c = arg;
    if (!payload) {
        /* (re)established: notifications sent while the listener was down
         * are lost, so an L1 entry may be stale; start it over */
        if (c->listened) {
            cache_lru_clear(c->l1);
            cache_l1_changed(c);
            log_info("cache: invalidation listener reconnected; L1 cleared");
        }
        c->listened = true;
        return;
    }
    if (strlen(payload) == 64)
        cache_drop_local(c, payload);
}

void cache_sync_start(struct cache *c)
{
    c->bumps = json_object();
    if (c->redis)
        c->sub = redis_subscribe(c->redis, CACHE_CHANNEL_REDIS, false, on_redis_message, c);
    if (!c->db)
        return;
    c->st_bump = db_pool_prepare(c->db, SQL_BUMP);
    c->st_warm = db_pool_prepare(c->db, SQL_WARM);
    c->st_invalidate = db_pool_prepare(c->db, SQL_INVALIDATE);
    c->bump_ev = evtimer_new(c->base, bump_timer, c);
    c->warm_ev = evtimer_new(c->base, warm_timer, c);
    if (!db_pool_listen(c->db, CACHE_CHANNEL_PG, on_pg_notify, c))
        log_warn("cache: cannot LISTEN on %s", CACHE_CHANNEL_PG);
    if (c->opt.warm > 0 && c->opt.memory > 0)
        warm_start(c);
}

void cache_sync_stop(struct cache *c)
{
    if (c->sub)
        redis_unsubscribe(c->sub);
    c->sub = NULL;
    flush_bumps(c);
    if (c->bump_ev)
        event_free(c->bump_ev);
    if (c->warm_ev)
        event_free(c->warm_ev);
    c->bump_ev = c->warm_ev = NULL;
}
