/* upstream.h — the transcription API client: a pool of HTTP/2 connections.
 *
 * One pool per worker process, on its event loop. Each chunk is one HTTP/2
 * stream (POST {base}/audio/transcriptions, multipart). The pool keeps at
 * most max_connections connections and puts each new stream on the
 * least-loaded live one (up to the peer's SETTINGS_MAX_CONCURRENT_STREAMS),
 * closes idle ones, PINGs busy ones, drains on GOAWAY (re-sending what the
 * peer did not process), reconnects with backoff, and retries failed calls
 * (429, 5xx, resets, lost connections, timeouts) with full-jitter backoff
 * that honours Retry-After. Admission (upstream_admission.h) orders calls by
 * priority and job, caps what is in flight (AIMD on 429) and applies a
 * requests-per-minute bucket.
 *
 * The API key is sent as a bearer token and never logged. */
#ifndef STENO_UPSTREAM_H
#define STENO_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "alloc.h"
#include "transcript.h"
#include "upstream_admission.h"

struct upstream_config {
    const char *url;          /* https://host/v1 (h2, TLS) or http://host:port/v1 (h2c) */
    const char *api_key;      /* bearer token; NULL/"" sends no Authorization */
    const char *ca_file;      /* PEM bundle to verify the server; NULL = system store */
    unsigned max_connections; /* default 4 */
    unsigned max_inflight;    /* global cap, default 16 */
    double rpm;               /* requests per minute for this process, 0 = none */
    unsigned max_retries;     /* retries after the first attempt, default 3 */
    double backoff_base;      /* seconds, default 0.5 */
    double backoff_cap;       /* seconds, default 30 */
    double timeout_min;       /* per request: max(timeout_min, factor × audio s) */
    double timeout_factor;    /* default 60 s and 2.5 */
    double idle_timeout;      /* close a connection idle this long, default 30 s */
    double ping_interval;     /* PING a busy connection this often, default 15 s */
    double connect_timeout;   /* TCP + TLS, default 10 s */
};

/* Fill the defaults above (url, key and CA stay NULL). */
void upstream_config_defaults(struct upstream_config *c);

/* What one call carries. Strings are copied; the audio bytes are NOT: the
 * caller keeps them alive and unchanged until the callback ran or the call
 * was cancelled. */
struct upstream_request {
    const char *job; /* fairness key (job id) */
    enum upstream_priority priority;
    const void *audio;
    size_t audio_len;
    const char *content_type; /* e.g. "audio/flac" */
    const char *filename;     /* e.g. "chunk-0003.flac" */
    double audio_seconds;     /* sets the request timeout */
    const char *model;
    const char *language; /* NULL = auto */
    const char *prompt;   /* NULL = none */
    double temperature;   /* < 0 = upstream default */
    bool word_timestamps;
};

enum upstream_status {
    UPSTREAM_OK,        /* transcript parsed */
    UPSTREAM_TOO_LARGE, /* 413: the caller should split the chunk */
    UPSTREAM_REJECTED,  /* another 4xx: not retryable; message from the upstream */
    UPSTREAM_FAILED,    /* retries exhausted (5xx, 429, resets, timeouts, connect) */
};

struct upstream_result {
    enum upstream_status status;
    int http_status;               /* last HTTP status, 0 when none arrived */
    struct transcript *transcript; /* UPSTREAM_OK: the callback takes ownership */
    const char *error;             /* human message otherwise (valid during the callback) */
    unsigned attempts;             /* requests sent for this call */
    double seconds;                /* submit → result */
};

typedef void (*upstream_cb)(struct upstream_result *res, void *arg);

struct upstream;
struct upstream_call;

/* Declare the pool's metrics (before metrics_start / fork). */
void upstream_metrics_init(void);

/* NULL with err filled when the URL or TLS setup is invalid. */
struct upstream *upstream_new(struct event_base *base, const struct upstream_config *cfg, char *err,
                              size_t errlen);
/* Cancels every call (no callbacks) and closes connections. */
void upstream_free(struct upstream *up);

/* Queue a call; cb runs exactly once, later, from the loop — never from
 * inside upstream_submit — unless the call is cancelled first. */
struct upstream_call *upstream_submit(struct upstream *up, const struct upstream_request *req,
                                      upstream_cb cb, void *arg);
/* Cancel: a stream in flight is reset; the callback will not run. */
void upstream_cancel(struct upstream_call *call);

struct upstream_stats {
    unsigned connections;        /* open (connecting or ready) */
    unsigned streams;            /* active */
    unsigned inflight;           /* admitted calls */
    unsigned cap;                /* current AIMD cap */
    size_t queued;               /* waiting for admission */
    size_t calls;                /* not yet completed */
    uint64_t connections_opened; /* since the pool was created */
    uint64_t bytes_sent;         /* request body bytes, all attempts */
};
void upstream_get_stats(const struct upstream *up, struct upstream_stats *out);
/* Change this process's requests-per-minute share (0 = unlimited) and
 * re-examine the queue at once with the new rate. */
void upstream_set_rpm(struct upstream *up, double rpm);

#endif
