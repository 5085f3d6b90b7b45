/* mock_ratelimit.c — per-key token buckets. */
#include "mock_ratelimit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct bucket {
    char *key;
    double tokens;
    double last; /* time of the last refill */
};

struct mock_ratelimit {
    int64_t rpm;
    struct bucket buckets[MOCK_RATELIMIT_MAX_KEYS + 1]; /* the last one is the overflow */
    size_t n;
};

struct mock_ratelimit *mock_ratelimit_new(int64_t rpm)
{
    struct mock_ratelimit *rl = xcalloc(1, sizeof(*rl));
    rl->rpm = rpm;
    return rl;
}

static void forget(struct mock_ratelimit *rl)
{
    for (size_t i = 0; i <= MOCK_RATELIMIT_MAX_KEYS; i++)
        free(rl->buckets[i].key);
    memset(rl->buckets, 0, sizeof(rl->buckets));
    rl->n = 0;
}

void mock_ratelimit_free(struct mock_ratelimit *rl)
{
    if (!rl)
        return;
    forget(rl);
    free(rl);
}

void mock_ratelimit_set_rpm(struct mock_ratelimit *rl, int64_t rpm)
{
    forget(rl);
    rl->rpm = rpm;
}

int64_t mock_ratelimit_rpm(const struct mock_ratelimit *rl)
{
    return rl->rpm;
}

/* The key's bucket, created full on first use. */
static struct bucket *find(struct mock_ratelimit *rl, const char *key, double now)
{
    for (size_t i = 0; i < rl->n; i++)
        if (strcmp(rl->buckets[i].key, key) == 0)
            return &rl->buckets[i];
    struct bucket *b;
    if (rl->n < MOCK_RATELIMIT_MAX_KEYS) {
        b = &rl->buckets[rl->n++];
        b->key = xstrdup(key);
    } else {
        b = &rl->buckets[MOCK_RATELIMIT_MAX_KEYS];
        if (b->key)
            return b;
        b->key = xstrdup("");
    }
    b->tokens = (double)rl->rpm;
    b->last = now;
    return b;
}

void mock_ratelimit_take(struct mock_ratelimit *rl, const char *key, double now,
                         struct mock_rl_result *out)
{
    memset(out, 0, sizeof(*out));
    out->allowed = true;
    out->limit = rl->rpm;
    if (rl->rpm <= 0)
        return;
    double cap = (double)rl->rpm, rate = cap / 60.0;
    struct bucket *b = find(rl, key, now);
    if (now > b->last) {
        b->tokens = fmin(cap, b->tokens + (now - b->last) * rate);
        b->last = now;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        out->allowed = false;
        out->retry_after = (1.0 - b->tokens) / rate;
    }
    out->remaining = (int64_t)floor(b->tokens);
    out->reset = (cap - b->tokens) / rate;
}
