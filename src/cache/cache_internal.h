/* cache_internal.h — the tiered cache's state, shared by src/cache files. */
#ifndef STENO_CACHE_INTERNAL_H
#define STENO_CACHE_INTERNAL_H

#include <jansson.h>

#include "cache.h"
#include "cache_lru.h"
#include "metrics.h"

#define CACHE_CHANNEL_REDIS "steno:cache:invalidate"
#define CACHE_CHANNEL_PG    "steno_cache"
#define CACHE_SHA_SET_FMT   "steno:cache:sha:%s"
/* sha256s whose L2 keys still have to go once Redis is back */
#define CACHE_PENDING_MAX 1024
/* distinct keys batched before a hit-count UPDATE is sent early */
#define CACHE_BUMP_MAX 512

struct cache {
    struct event_base *base;
    struct db_pool *db;   /* NULL: no L3 (not configured, or shut down) */
    struct redis *redis;  /* NULL: no L2 */
    struct cache_lru *l1; /* always present; bound 0 = stores nothing */
    struct cache_options opt;
    char name[96];
    db_stmt st_get, st_bump, st_warm, st_invalidate;
    struct redis_sub *sub;
    /* hit counts waiting for the next UPDATE: {cache_key: n} */
    json_t *bumps;
    struct event *bump_ev;
    /* warm-up: retried until one query succeeds */
    struct event *warm_ev;
    bool warmed;
    bool listened; /* the LISTEN was established once already */
    /* invalidations Redis missed */
    char (*pending)[65];
    size_t npending;
    uint64_t evictions_seen; /* l1 evictions already counted in metrics */
};

/* Metrics (cache.c). */
struct cache_metric_ids {
    bool declared;
    metric_id req[4][2]; /* [tier][0 = miss, 1 = hit] */
    metric_id bytes, keys, evictions, invalidations, l2_errors;
};
extern struct cache_metric_ids cache_m;
void cache_count(enum cache_tier tier, bool hit);
/* Publish L1 size gauges and evictions after a change. */
void cache_l1_changed(struct cache *c);

/* The sha256 inside "transcript:{sha}:…" into out (65 bytes); the whole key
 * when it is not shaped so (so grouping still works). */
void cache_key_sha(const char *key, char *out, size_t outlen);

/* L2 write: SET EX + SADD to the sha's set + EXPIRE, pipelined, no reply
 * awaited (cache.c). */
void cache_l2_put(struct cache *c, const char *key, const char *json, size_t len);

/* cache_sync.c: warm-up, hit bumps, invalidation and its broadcast. */
void cache_sync_start(struct cache *c);
void cache_sync_stop(struct cache *c);
void cache_bump(struct cache *c, const char *key);

#endif
