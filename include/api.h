/* api.h — stenod's HTTP endpoints. Registered once at start-up, before
 * metrics are declared and the workers fork. */
#ifndef STENO_API_H
#define STENO_API_H

#include "http.h"
#include "steno_config.h"

void api_register_routes(const struct steno_config *cfg);

/* Individual handlers (for the route table and tests). */
void api_healthz(struct http_request *req);
void api_metrics(struct http_request *req);
/* GET / — the web page: upload, per-chunk progress (EventSource), transcript. */
void api_web_page(struct http_request *req);
/* GET /api/metrics — every metric as JSON, histograms with p50/p95/p99. */
void api_metrics_json(struct http_request *req);
/* POST /v1/audio/transcriptions — OpenAI-compatible, synchronous. */
void api_audio_transcriptions(struct http_request *req);
/* GET /readyz — mode (full|degraded), per-dependency state; 503 when draining. */
void api_readyz(struct http_request *req);
/* POST /admin/degradation/override — force degraded mode, or clear it. */
void api_admin_override(struct http_request *req);

#endif
