/* mock_stats.h — what clients really did, for GET /stats.
 *
 * Counts POST /v1/audio/transcriptions requests: by final status, by fault
 * kind, by key and model and response format and protocol, bytes and audio
 * seconds received, in-flight and peak in-flight requests (with one HTTP/2
 * connection, peak in-flight is its peak of concurrent streams), client
 * aborts, resets and GOAWAYs sent. mock_stats_reset() zeroes everything but
 * the in-flight gauge (the peak restarts from it).
 *
 * The name tables are bounded (MOCK_STATS_MAX_NAMES each; further names
 * count under "(other)"). */
#ifndef STENO_MOCK_STATS_H
#define STENO_MOCK_STATS_H

#include <stdint.h>

#include <jansson.h>

#include "mock_faults.h"

#define MOCK_STATS_MAX_NAMES 64

struct mock_counts {
    char *names[MOCK_STATS_MAX_NAMES];
    uint64_t n[MOCK_STATS_MAX_NAMES];
    uint64_t other;
    unsigned used;
};

struct mock_stats {
    uint64_t requests;  /* transcription requests seen (headers in) */
    uint64_t in_flight; /* seen, not yet answered, reset or aborted */
    uint64_t peak_in_flight;
    uint64_t by_status[600]; /* answered, by status */
    uint64_t by_fault[MOCK_FAULT_COUNT];
    uint64_t rate_limited;  /* 429 from --rpm (not faults) */
    uint64_t resets;        /* streams reset / connections dropped by the mock */
    uint64_t goaways;       /* GOAWAY / connection: close sent */
    uint64_t refused;       /* h2 streams that arrived after our GOAWAY: reset */
    uint64_t client_aborts; /* the client went away before the answer */
    uint64_t bytes_received;
    uint64_t file_bytes;
    double audio_seconds;
    uint64_t delay_ms; /* sum of the scheduled delays */
    uint64_t words;    /* decoded words answered */
    uint64_t by_proto[2];
    struct mock_counts by_key, by_model, by_format;
    uint64_t other_requests;            /* every other route (models, stats, …) */
    uint64_t transcription_connections; /* connections whose 1st request was a transcription */
    uint64_t connections_base;
};

void mock_stats_begin(struct mock_stats *s); /* a transcription request arrived */
void mock_stats_end(struct mock_stats *s);   /* …and is over (answered, reset, aborted) */
void mock_stats_status(struct mock_stats *s, int status);
void mock_stats_count(struct mock_counts *c, const char *name);

/* Counters as JSON (new reference). connections: accepted so far (the
 * caller reads them from the HTTP metrics; this includes the connection
 * asking for /stats); reported minus the base saved at the last reset. */
json_t *mock_stats_json(const struct mock_stats *s, uint64_t connections);
void mock_stats_reset(struct mock_stats *s, uint64_t connections);
void mock_stats_free(struct mock_stats *s);

#endif
