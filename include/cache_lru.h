/* cache_lru.h — the L1 transcript cache: an LRU bounded in bytes.
 *
 * A chained hash table by key plus an intrusive doubly linked recency list:
 * get (which makes the entry the most recent), put (which evicts from the
 * least recent end until the new entry fits) and delete are O(1). Each
 * entry also belongs to a *group* (the audio's sha256): a second chain,
 * hashed by group, links the entries of one group, so dropping every
 * parameter variant of one file (DELETE /v1/cache/{sha256}) costs the
 * group's size plus the few collisions in its bucket, never a full scan.
 *
 * An entry's cost is its key + group + value + CACHE_LRU_OVERHEAD bytes
 * (the node and its share of the bucket arrays), so the bound holds for the
 * memory really used, not just the payload. Keys and values are copied.
 *
 * Single-threaded (one per worker process); no callbacks. */
#ifndef STENO_CACHE_LRU_H
#define STENO_CACHE_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

/* Bytes charged per entry on top of key, group and value. */
#define CACHE_LRU_OVERHEAD 160

struct cache_lru;

struct cache_lru_stats {
    size_t bytes;        /* charged bytes now (≤ max_bytes) */
    size_t keys;         /* entries now */
    size_t max_bytes;    /* the bound */
    uint64_t evictions;  /* entries dropped to make room */
    uint64_t rejections; /* puts refused because one entry exceeds the bound */
};

/* max_bytes 0 makes a cache that stores nothing (every put is refused). */
struct cache_lru *cache_lru_new(size_t max_bytes);
void cache_lru_free(struct cache_lru *c);

/* The value for key (and its length), now the most recently used, or NULL.
 * The pointer stays valid until the next put/delete/clear on this cache. */
const char *cache_lru_get(struct cache_lru *c, const char *key, size_t *len);

/* Store a copy of value under key (replacing any old value), in `group`,
 * evicting least recently used entries as needed. false when the entry alone
 * is larger than the bound (nothing stored; an old value for key is gone). */
bool cache_lru_put(struct cache_lru *c, const char *key, const char *group, const char *value,
                   size_t len);

/* Drop one key; true when it was there. */
bool cache_lru_delete(struct cache_lru *c, const char *key);
/* Drop every entry of a group; returns how many. */
size_t cache_lru_delete_group(struct cache_lru *c, const char *group);
/* Drop everything. */
void cache_lru_clear(struct cache_lru *c);

/* Would an entry of this size be accepted at all? (for warming) */
size_t cache_lru_entry_cost(const char *key, const char *group, size_t len);

void cache_lru_get_stats(const struct cache_lru *c, struct cache_lru_stats *out);

#endif
