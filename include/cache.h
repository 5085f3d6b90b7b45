/* cache.h — the three-tier transcript cache of one worker process.
 *
 * L1 is this process's byte-bounded LRU (cache_lru.h), L2 is Redis (SET …
 * EX ttl, shared by every process and host), L3 is the `transcripts` table
 * (permanent, written by the job runner when a job finishes). Values are
 * the merged verbose_json text of a transcript; every output format is
 * rendered from it, so one entry serves them all. Keys are cache_key.h's.
 *
 * A lookup tries L1 → L2 → L3 and fills the tiers above the one that hit.
 * Redis and PostgreSQL are both optional at any moment: an unavailable
 * Redis (redis_available() false, or a command failing) makes L2 a miss at
 * once, a PostgreSQL pool that is down makes L3 a miss at once; nobody
 * waits for a dependency that is known to be down, and no error reaches a
 * caller.
 *
 * Invalidation (DELETE /v1/cache/{sha256}) removes every key of one audio
 * file from all tiers and tells every process to drop its L1 entries,
 * twice over: a Redis PUBLISH on steno:cache:invalidate and a pg_notify on
 * steno_cache (clearing twice is harmless; either path alone suffices).
 * Redis keeps a set per sha256 (steno:cache:sha:{sha256}) of the L2 keys
 * written for it, so L2 removal needs no SCAN. When Redis is unavailable
 * during an invalidation, the sha256 is remembered (bounded) and its L2
 * keys are deleted as soon as the Redis subscription comes back.
 *
 * Hits are counted per tier (steno_cache_requests_total{tier,result}) and
 * bumped in transcripts.hits in batches (one UPDATE per second at most), so
 * that the start-up warm-up (the most-hit transcripts, up to the L1 bound)
 * loads what is really used.
 *
 * Single-threaded: every call from the loop's thread. */
#ifndef STENO_CACHE_H
#define STENO_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "db_pool.h"
#include "redis.h"

enum cache_tier { CACHE_MISS = 0, CACHE_L1 = 1, CACHE_L2 = 2, CACHE_L3 = 3 };
/* "miss" | "l1" | "l2" | "l3" */
const char *cache_tier_name(enum cache_tier t);

struct cache_options {
    size_t memory;    /* L1 bound in bytes (0 = no L1) */
    double ttl;       /* L2 expiry in seconds (≥ 1) */
    long warm;        /* transcripts loaded into L1 at start (0 = none) */
    const char *name; /* for logs: the worker's owner name */
};

struct cache;

/* db and redis may be NULL (not configured); both must outlive the cache
 * until cache_shutdown(). Starts the warm-up and the invalidation
 * listeners. */
struct cache *cache_new(struct event_base *base, struct db_pool *db, struct redis *redis,
                        const struct cache_options *o);
/* Forget db and redis (call before they are freed): from now on L2/L3 are
 * misses and nothing new is sent to them. Lookups still pending get their
 * callback when those clients fire them on close. */
void cache_shutdown(struct cache *c);
/* Free; after cache_shutdown and after db/redis were closed (so that no
 * callback of theirs still points here). NULL is fine. */
void cache_free(struct cache *c);

/* The lookup's answer: tier CACHE_MISS (json NULL) or the tier that hit and
 * the transcript text (valid only during the callback). */
typedef void (*cache_lookup_cb)(enum cache_tier tier, const char *json, size_t len, void *arg);

/* Look `key` up. An L1 hit answers at once: returns CACHE_L1 with *json and
 * *len set (valid until the next call into the cache), and cb is not
 * called. Otherwise returns CACHE_MISS and cb fires exactly once, later,
 * from the loop (never inside this call) — so `arg` must stay valid until
 * then (keep a flag for "the client left" rather than freeing it). */
enum cache_tier cache_lookup(struct cache *c, const char *key, const char **json, size_t *len,
                             cache_lookup_cb cb, void *arg);

/* A finished transcript: into L1 and L2 (L3 is the runner's own write). */
void cache_put(struct cache *c, const char *key, const char *json, size_t len);

/* What an invalidation removed. l2 is -1 when Redis was unavailable (its
 * keys are deleted later, on recovery). db_error is DB_OK when L3 and the
 * audit row were written; otherwise nothing was deleted from L3. */
struct cache_invalidation {
    const char *sha256;
    size_t l1;
    long l2;
    long l3;
    enum db_error db_error;
    const char *db_message;
};
typedef void (*cache_invalidate_cb)(const struct cache_invalidation *r, void *arg);

/* Remove every key of `sha256` (64 lower-case hex) from every tier and
 * every process; audited as actor/"cache.delete" with request_id. cb fires
 * exactly once, from the loop, never inside this call. */
void cache_invalidate(struct cache *c, const char *sha256, const char *actor,
                      const char *request_id, cache_invalidate_cb cb, void *arg);

/* Drop the L1 entries of one sha256 in this process only (what a broadcast
 * does on arrival). Returns how many. */
size_t cache_drop_local(struct cache *c, const char *sha256);

/* Send the batched hit counts now (SIGTERM drain: the pool is closed soon
 * after, and queries still queued then are dropped). */
void cache_flush(struct cache *c);

/* Counters summed over all worker processes (shared-memory metrics), and
 * this process's L1. */
struct cache_stats {
    uint64_t hits[4], misses[4]; /* indexed by enum cache_tier (0 unused) */
    uint64_t l1_bytes, l1_keys;  /* all workers */
    uint64_t l1_evictions, invalidations;
    size_t l1_max_bytes; /* per worker */
    bool l2_configured, l2_available;
};
void cache_get_stats(const struct cache *c, struct cache_stats *out);

/* Declare the cache's metrics (before metrics_start / fork). */
void cache_metrics_init(void);

#endif
