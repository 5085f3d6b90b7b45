/* upstream_util.h — small pure helpers of the upstream client: the base URL,
 * retry delays, Retry-After, and the multipart request body. */
#ifndef STENO_UPSTREAM_UTIL_H
#define STENO_UPSTREAM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

struct upstream_url {
    bool tls;       /* https:// (h2 over TLS) or http:// (h2c prior knowledge) */
    char host[256]; /* without brackets for IPv6 */
    int port;
    char path[512];      /* base path without trailing '/', e.g. "/v1" */
    char authority[300]; /* host[:port] as sent in :authority */
};

/* Parse "https://host[:port]/base". False with err filled on anything else. */
bool upstream_url_parse(const char *url, struct upstream_url *out, char *err,
                        size_t errlen) MUST_CHECK;

/* Full-jitter exponential backoff: uniform in [0, min(cap, base·2^attempt)],
 * attempt counted from 0. `rnd` is a uniform number in [0, 1). */
double upstream_backoff(unsigned attempt, double base, double cap, double rnd);

/* Retry-After as delta-seconds or an HTTP date; -1 when absent/invalid.
 * `now` is the current Unix time (for dates). */
double upstream_retry_after(const char *value, double now);

/* The fields of one transcription request. */
struct upstream_form {
    const char *model;
    const char *language;        /* NULL/"" = omitted (auto-detect) */
    const char *prompt;          /* NULL/"" = omitted */
    double temperature;          /* < 0 = omitted */
    const char *response_format; /* e.g. "verbose_json" */
    bool word_timestamps;        /* timestamp_granularities[]=word and =segment */
    const char *filename;        /* e.g. "chunk-3.flac" */
    const char *content_type;    /* of the file part, e.g. "audio/flac" */
};

/* Multipart head (fields + the file part's headers) and tail around the
 * audio bytes, so the audio itself is never copied. `boundary` receives the
 * boundary (≥ 41 bytes). Caller frees head and tail. */
void upstream_form_build(const struct upstream_form *f, char *boundary, size_t boundary_len,
                         char **head, size_t *head_len, char **tail, size_t *tail_len);

#endif
