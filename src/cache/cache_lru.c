/* cache_lru.c — L1: a byte-bounded LRU with a by-group index. */
#include "cache_lru.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

/* One allocation per entry: the node, then key, group and value, each
 * NUL-terminated (values are JSON text, so callers may treat them as C
 * strings). */
struct node {
    struct node *hnext; /* chain of the key bucket */
    struct node *gnext; /* chain of the group bucket */
    struct node *prev;  /* towards the most recent */
    struct node *next;  /* towards the least recent */
    uint64_t hash, ghash;
    size_t cost, vlen;
    char *key, *group, *value;
};

struct cache_lru {
    struct node **keys;   /* nbuckets chains by key hash */
    struct node **groups; /* nbuckets chains by group hash */
    size_t nbuckets;      /* power of two, ≥ number of entries after a put */
    struct node *head;    /* most recently used */
    struct node *tail;    /* least recently used: evicted first */
    uint64_t seed;        /* per cache: keys partly come from clients */
    struct cache_lru_stats st;
};

/* FNV-1a with a random starting point. Keys are mostly SHA-256 hex (not
 * chosen freely by a client), so this only has to spread well; the seed
 * keeps a crafted model/language string from predicting buckets. */
static uint64_t hash_str(uint64_t seed, const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

struct cache_lru *cache_lru_new(size_t max_bytes)
{
    struct cache_lru *c = xcalloc(1, sizeof(*c));
    c->nbuckets = 64;
    c->keys = xcalloc(c->nbuckets, sizeof(*c->keys));
    c->groups = xcalloc(c->nbuckets, sizeof(*c->groups));
    c->st.max_bytes = max_bytes;
    if (RAND_bytes((unsigned char *)&c->seed, sizeof(c->seed)) != 1)
        c->seed = (uint64_t)(uintptr_t)c;
    return c;
}

void cache_lru_free(struct cache_lru *c)
{
    if (!c)
        return;
    cache_lru_clear(c);
    free(c->keys);
    free(c->groups);
    free(c);
}

size_t cache_lru_entry_cost(const char *key, const char *group, size_t len)
{
    return strlen(key) + strlen(group) + len + 3 + CACHE_LRU_OVERHEAD;
}

static void list_unlink(struct cache_lru *c, struct node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        c->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        c->tail = n->prev;
    n->prev = n->next = NULL;
}

static void list_push_head(struct cache_lru *c, struct node *n)
{
    n->prev = NULL;
    n->next = c->head;
    if (c->head)
        c->head->prev = n;
    c->head = n;
    if (!c->tail)
        c->tail = n;
}

static struct node **key_slot(struct cache_lru *c, struct node *n)
{
    struct node **pp = &c->keys[n->hash & (c->nbuckets - 1)];
    while (*pp != n)
        pp = &(*pp)->hnext;
    return pp;
}

static struct node **group_slot(struct cache_lru *c, struct node *n)
{
    struct node **pp = &c->groups[n->ghash & (c->nbuckets - 1)];
    while (*pp != n)
        pp = &(*pp)->gnext;
    return pp;
}

/* Unlink from all three structures and free. */
static void remove_node(struct cache_lru *c, struct node *n)
{
    *key_slot(c, n) = n->hnext;
    *group_slot(c, n) = n->gnext;
    list_unlink(c, n);
    c->st.bytes -= n->cost;
    c->st.keys--;
    free(n);
}

static struct node *find(struct cache_lru *c, const char *key, uint64_t h)
{
    for (struct node *n = c->keys[h & (c->nbuckets - 1)]; n; n = n->hnext)
        if (n->hash == h && strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

/* Double both bucket arrays (amortized O(1) per put). */
static void grow(struct cache_lru *c)
{
    size_t nb = c->nbuckets * 2;
    struct node **keys = xcalloc(nb, sizeof(*keys));
    struct node **groups = xcalloc(nb, sizeof(*groups));
    for (struct node *n = c->head; n; n = n->next) {
        n->hnext = keys[n->hash & (nb - 1)];
        keys[n->hash & (nb - 1)] = n;
        n->gnext = groups[n->ghash & (nb - 1)];
        groups[n->ghash & (nb - 1)] = n;
    }
    free(c->keys);
    free(c->groups);
    c->keys = keys;
    c->groups = groups;
    c->nbuckets = nb;
}

const char *cache_lru_get(struct cache_lru *c, const char *key, size_t *len)
{
    struct node *n = find(c, key, hash_str(c->seed, key));
    if (!n)
        return NULL;
    if (c->head != n) {
        list_unlink(c, n);
        list_push_head(c, n);
    }
    if (len)
        *len = n->vlen;
    return n->value;
}

bool cache_lru_put(struct cache_lru *c, const char *key, const char *group, const char *value,
                   size_t len)
{
    uint64_t h = hash_str(c->seed, key);
    struct node *old = find(c, key, h);
    if (old)
        remove_node(c, old);
    size_t klen = strlen(key), glen = strlen(group);
    size_t cost = cache_lru_entry_cost(key, group, len);
    if (cost > c->st.max_bytes) {
        c->st.rejections++;
        return false;
    }
    while (c->st.bytes + cost > c->st.max_bytes && c->tail) {
        remove_node(c, c->tail);
        c->st.evictions++;
    }
    struct node *n = xmalloc(sizeof(*n) + klen + glen + len + 3);
    memset(n, 0, sizeof(*n));
    n->key = (char *)(n + 1);
    n->group = n->key + klen + 1;
    n->value = n->group + glen + 1;
    memcpy(n->key, key, klen + 1);
    memcpy(n->group, group, glen + 1);
    memcpy(n->value, value, len);
    n->value[len] = '\0';
    n->vlen = len;
    n->cost = cost;
    n->hash = h;
    n->ghash = hash_str(c->seed, group);
    if (c->st.keys + 1 > c->nbuckets)
        grow(c);
    struct node **kb = &c->keys[h & (c->nbuckets - 1)];
    n->hnext = *kb;
    *kb = n;
    struct node **gb = &c->groups[n->ghash & (c->nbuckets - 1)];
    n->gnext = *gb;
    *gb = n;
    list_push_head(c, n);
    c->st.bytes += cost;
    c->st.keys++;
    return true;
}

bool cache_lru_delete(struct cache_lru *c, const char *key)
{
    struct node *n = find(c, key, hash_str(c->seed, key));
    if (!n)
        return false;
    remove_node(c, n);
    return true;
}

size_t cache_lru_delete_group(struct cache_lru *c, const char *group)
{
    uint64_t gh = hash_str(c->seed, group);
    size_t dropped = 0;
    struct node *n = c->groups[gh & (c->nbuckets - 1)];
    while (n) {
        struct node *next = n->gnext;
        if (n->ghash == gh && strcmp(n->group, group) == 0) {
            remove_node(c, n);
            dropped++;
        }
        n = next;
    }
    return dropped;
}

void cache_lru_clear(struct cache_lru *c)
{
    struct node *n = c->head;
    while (n) {
        struct node *next = n->next;
        free(n);
        n = next;
    }
    memset(c->keys, 0, c->nbuckets * sizeof(*c->keys));
    memset(c->groups, 0, c->nbuckets * sizeof(*c->groups));
    c->head = c->tail = NULL;
    c->st.bytes = 0;
    c->st.keys = 0;
}

void cache_lru_get_stats(const struct cache_lru *c, struct cache_lru_stats *out)
{
    *out = c->st;
}
