/* mock_api.h — steno-mock's routes and the state they share.
 *
 * Routes: POST /v1/audio/transcriptions (mock_transcribe.c), GET /v1/models,
 * GET /v1/models/{id}, GET /stats, POST /stats/reset, POST /mock/faults,
 * GET /healthz, GET /metrics. Errors of the OpenAI API use OpenAI's shape:
 * {"error":{"message","type","param","code"}}. */
#ifndef STENO_MOCK_API_H
#define STENO_MOCK_API_H

#include <stdbool.h>

#include <event2/event.h>

#include "alloc.h"
#include "http.h"
#include "mock_config.h"
#include "mock_decode.h"
#include "mock_faults.h"
#include "mock_ratelimit.h"
#include "mock_stats.h"

/* One per process; the routes reach it through mock_api_register's pointer. */
struct mock_ctx {
    const struct mock_config *cfg;
    struct event_base *base;
    struct mock_faults faults;
    struct mock_ratelimit *rl;
    struct mock_stats stats;
    struct mock_decoder *decoder;
    double retry_after;   /* --retry-after, changeable by POST /mock/faults */
    double stall_seconds; /* --stall-seconds, likewise */
};

/* Register every route (before http_metrics_init) and keep m for the
 * handlers; m must outlive the server. */
void mock_api_register(struct mock_ctx *m);

/* OpenAI-shaped error. param and code may be NULL (JSON null). */
void mock_error(struct http_request *req, int status, const char *type, const char *param,
                const char *code, const char *fmt, ...) PRINTF_LIKE(6, 7);

/* The bearer token of the request, or NULL when there is none. */
const char *mock_bearer(const struct http_request *req);

/* Answer 401 unless the request carries an accepted key; true when it does. */
bool mock_check_key(struct mock_ctx *m, struct http_request *req) MUST_CHECK;

/* Connections accepted so far (from the HTTP layer's metrics). */
uint64_t mock_connections_accepted(void);

/* The transcription handler (mock_transcribe.c). */
void mock_transcribe_init(struct mock_ctx *m);
void mock_transcribe(struct http_request *req);

#endif
