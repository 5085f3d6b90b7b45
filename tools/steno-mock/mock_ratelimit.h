/* mock_ratelimit.h — requests-per-minute limit per API key (token bucket).
 *
 * Each key has a bucket of `rpm` tokens refilled at rpm/60 per second; a
 * request takes one. This is the behaviour OpenAI documents for its
 * x-ratelimit-* headers: "remaining" is what is left now, "reset" is the time
 * until the bucket is full again. Keys beyond MOCK_RATELIMIT_MAX_KEYS share
 * one overflow bucket (memory stays bounded whatever keys a peer sends).
 *
 * Pure: the caller passes the time (seconds on any monotonic clock). */
#ifndef STENO_MOCK_RATELIMIT_H
#define STENO_MOCK_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define MOCK_RATELIMIT_MAX_KEYS 256

struct mock_ratelimit;

struct mock_rl_result {
    bool allowed;
    int64_t limit;      /* rpm */
    int64_t remaining;  /* whole tokens left after this request */
    double reset;       /* seconds until the bucket is full */
    double retry_after; /* when refused: seconds until one token is back */
};

/* rpm 0 = unlimited (every take is allowed, limit reported as 0). */
struct mock_ratelimit *mock_ratelimit_new(int64_t rpm);
void mock_ratelimit_free(struct mock_ratelimit *rl);
/* Change the limit; every bucket starts full again. */
void mock_ratelimit_set_rpm(struct mock_ratelimit *rl, int64_t rpm);
int64_t mock_ratelimit_rpm(const struct mock_ratelimit *rl);

/* Take one token from key's bucket at time now. */
void mock_ratelimit_take(struct mock_ratelimit *rl, const char *key, double now,
                         struct mock_rl_result *out);

#endif
