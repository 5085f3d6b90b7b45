/* cache.c — the tiered transcript cache: lookup L1 → L2 → L3, fill, put.
 *
 * A lookup that misses L1 becomes a small heap object that walks down the
 * tiers: a Redis GET (when Redis is available), then a prepared SELECT on
 * the transcripts table (when the pool is up). Each step's failure is just
 * a miss at that tier; the object calls its owner back once and frees
 * itself. Metrics count every tier consulted, so per-tier hit rates mean
 * "of the lookups that reached this tier". */
#include "cache_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct cache_metric_ids cache_m;

static const char SQL_GET[] = "SELECT result::text FROM transcripts WHERE cache_key = $1";

struct lookup {
    struct cache *c;
    char *key;
    cache_lookup_cb cb;
    void *arg;
};

const char *cache_tier_name(enum cache_tier t)
{
    static const char *const names[] = {"miss", "l1", "l2", "l3"};
    return (unsigned)t < 4 ? names[t] : "miss";
}

void cache_metrics_init(void)
{
    static const char *const tiers[] = {"", "l1", "l2", "l3"};
    for (int t = 1; t < 4; t++)
        for (int h = 0; h < 2; h++) {
            char labels[64];
            snprintf(labels, sizeof(labels), "tier=\"%s\",result=\"%s\"", tiers[t],
                     h ? "hit" : "miss");
            cache_m.req[t][h] =
                metrics_counter("steno_cache_requests_total",
                                "Transcript cache lookups by tier and outcome", labels);
        }
    cache_m.bytes = metrics_gauge("steno_cache_bytes", "L1 cache bytes used (all workers)", "");
    cache_m.keys = metrics_gauge("steno_cache_keys", "L1 cache entries (all workers)", "");
    cache_m.evictions =
        metrics_counter("steno_cache_evictions_total", "L1 entries evicted to make room", "");
    cache_m.invalidations = metrics_counter("steno_cache_invalidations_total",
                                            "sha256 invalidations applied to an L1", "");
    cache_m.l2_errors = metrics_counter("steno_cache_l2_errors_total",
                                        "Redis cache commands that failed (taken as misses)", "");
    cache_m.declared = true;
}

void cache_count(enum cache_tier tier, bool hit)
{
    if (cache_m.declared && tier >= CACHE_L1 && tier <= CACHE_L3)
        metrics_add(cache_m.req[tier][hit], 1);
}

void cache_l1_changed(struct cache *c)
{
    if (!cache_m.declared)
        return;
    struct cache_lru_stats st;
    cache_lru_get_stats(c->l1, &st);
    metrics_gauge_set(cache_m.bytes, (int64_t)st.bytes);
    metrics_gauge_set(cache_m.keys, (int64_t)st.keys);
    if (st.evictions > c->evictions_seen) {
        metrics_add(cache_m.evictions, st.evictions - c->evictions_seen);
        c->evictions_seen = st.evictions;
    }
}

void cache_key_sha(const char *key, char *out, size_t outlen)
{
    static const char prefix[] = "transcript:";
    const char *s = strncmp(key, prefix, sizeof(prefix) - 1) == 0 ? key + sizeof(prefix) - 1 : NULL;
    if (s && strlen(s) > 64 && s[64] == ':' && strspn(s, "0123456789abcdef") == 64)
        snprintf(out, outlen, "%.64s", s);
    else
        snprintf(out, outlen, "%s", key);
}

static void l1_put(struct cache *c, const char *key, const char *json, size_t len)
{
    char sha[80];
    cache_key_sha(key, sha, sizeof(sha));
    cache_lru_put(c->l1, key, sha, json, len);
    cache_l1_changed(c);
}

void cache_l2_put(struct cache *c, const char *key, const char *json, size_t len)
{
    if (!redis_available(c->redis))
        return;
    char sha[80], set[128], ttl[32];
    cache_key_sha(key, sha, sizeof(sha));
    snprintf(set, sizeof(set), CACHE_SHA_SET_FMT, sha);
    snprintf(ttl, sizeof(ttl), "%ld", (long)(c->opt.ttl < 1 ? 1 : c->opt.ttl));
    /* pipelined: the three go out in one write, no reply awaited */
    const char *setv[] = {"SET", key, json, "EX", ttl};
    const size_t setl[] = {3, strlen(key), len, 2, strlen(ttl)};
    if (!redis_command_argv(c->redis, NULL, NULL, 5, setv, setl))
        return;
    redis_command(c->redis, NULL, NULL, "SADD %s %s", set, key);
    redis_command(c->redis, NULL, NULL, "EXPIRE %s %s", set, ttl);
}

/* The lookup ends: bump the hit count, call back, free. */
static void finish(struct lookup *l, enum cache_tier tier, const char *json, size_t len)
{
    if (tier != CACHE_MISS)
        cache_bump(l->c, l->key);
    l->cb(tier, json, len, l->arg);
    free(l->key);
    free(l);
}

static bool db_usable(const struct cache *c)
{
    if (!c->db)
        return false;
    struct db_pool_health h;
    db_pool_health(c->db, &h);
    return !(h.up == 0 && h.last_error[0]); /* down, not merely still connecting */
}

static void l3_done(const struct db_result *res, void *arg)
{
    struct lookup *l = arg;
    struct cache *c = l->c;
    if (res->error != DB_OK || db_result_rows(res) < 1) {
        if (res->error != DB_OK)
            log_debug("cache: L3 lookup failed (%s): %s", db_error_name(res->error), res->message);
        cache_count(CACHE_L3, false);
        finish(l, CACHE_MISS, NULL, 0);
        return;
    }
    const char *json = db_result_value(res, 0, 0);
    size_t len = strlen(json);
    cache_count(CACHE_L3, true);
    l1_put(c, l->key, json, len);
    cache_l2_put(c, l->key, json, len);
    finish(l, CACHE_L3, json, len);
}

static void try_l3(struct lookup *l)
{
    struct cache *c = l->c;
    if (!db_usable(c)) {
        cache_count(CACHE_L3, false);
        finish(l, CACHE_MISS, NULL, 0);
        return;
    }
    const char *p[] = {l->key};
    db_pool_exec(c->db, c->st_get, 1, p, l3_done, l);
}

static void l2_done(const redisReply *reply, const char *error, void *arg)
{
    struct lookup *l = arg;
    if (reply && reply->type == REDIS_REPLY_STRING) {
        cache_count(CACHE_L2, true);
        l1_put(l->c, l->key, reply->str, reply->len);
        finish(l, CACHE_L2, reply->str, reply->len);
        return;
    }
    if (error && cache_m.declared)
        metrics_add(cache_m.l2_errors, 1);
    cache_count(CACHE_L2, false);
    try_l3(l);
}

/* Both lower tiers unreachable: the miss must still arrive from the loop,
 * never inside cache_lookup(). */
static void deferred_miss(evutil_socket_t fd, short what, void *arg)
{
    struct lookup *l = arg;
    finish(l, CACHE_MISS, NULL, 0);
}

enum cache_tier cache_lookup(struct cache *c, const char *key, const char **json, size_t *len,
                             cache_lookup_cb cb, void *arg)
{
    const char *v = cache_lru_get(c->l1, key, len);
    cache_count(CACHE_L1, v != NULL);
    if (v) {
        cache_bump(c, key);
        *json = v;
        return CACHE_L1;
    }
    struct lookup *l = xcalloc(1, sizeof(*l));
    l->c = c;
    l->key = xstrdup(key);
    l->cb = cb;
    l->arg = arg;
    if (c->redis && redis_command(c->redis, l2_done, l, "GET %s", key))
        return CACHE_MISS;
    if (c->redis)
        cache_count(CACHE_L2, false); /* configured but unavailable: a miss, no wait */
    if (db_usable(c)) {
        try_l3(l);
        return CACHE_MISS;
    }
    cache_count(CACHE_L3, false);
    event_base_once(c->base, -1, EV_TIMEOUT, deferred_miss, l, NULL);
    return CACHE_MISS;
}

void cache_put(struct cache *c, const char *key, const char *json, size_t len)
{
    l1_put(c, key, json, len);
    cache_l2_put(c, key, json, len);
}

size_t cache_drop_local(struct cache *c, const char *sha256)
{
    size_t n = cache_lru_delete_group(c->l1, sha256);
    cache_l1_changed(c);
    if (cache_m.declared)
        metrics_add(cache_m.invalidations, 1);
    return n;
}

void cache_get_stats(const struct cache *c, struct cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (cache_m.declared) {
        for (int t = 1; t < 4; t++) {
            out->hits[t] = (uint64_t)metrics_value(cache_m.req[t][1]);
            out->misses[t] = (uint64_t)metrics_value(cache_m.req[t][0]);
        }
        out->l1_bytes = (uint64_t)metrics_value(cache_m.bytes);
        out->l1_keys = (uint64_t)metrics_value(cache_m.keys);
        out->l1_evictions = (uint64_t)metrics_value(cache_m.evictions);
        out->invalidations = (uint64_t)metrics_value(cache_m.invalidations);
    }
    out->l1_max_bytes = c->opt.memory;
    out->l2_configured = c->redis != NULL;
    out->l2_available = redis_available(c->redis);
}

struct cache *cache_new(struct event_base *base, struct db_pool *db, struct redis *redis,
                        const struct cache_options *o)
{
    struct cache *c = xcalloc(1, sizeof(*c));
    c->base = base;
    c->db = db;
    c->redis = redis;
    c->opt = *o;
    snprintf(c->name, sizeof(c->name), "%s", o->name ? o->name : "cache");
    c->opt.name = c->name;
    c->l1 = cache_lru_new(o->memory);
    if (db)
        c->st_get = db_pool_prepare(db, SQL_GET);
    cache_sync_start(c);
    cache_l1_changed(c);
    return c;
}

void cache_shutdown(struct cache *c)
{
    if (!c)
        return;
    cache_sync_stop(c);
    c->db = NULL;
    c->redis = NULL;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    cache_shutdown(c);
    cache_lru_free(c->l1);
    json_decref(c->bumps);
    free(c->pending);
    free(c);
}
