/* routes.c — the route table of stenod. */
#include "api.h"

#include "api_cache.h"
#include "api_jobs.h"
#include "router.h"

#define ROUTE(m, p, h, body)                                                                       \
    router_add(&(struct route){.method = m, .pattern = p, .handler = h, .max_body = body})

void api_register_routes(const struct steno_config *cfg)
{
    api_job_events_init();
    ROUTE("GET", "/", api_web_page, 0);
    ROUTE("GET", "/healthz", api_healthz, 0);
    ROUTE("GET", "/readyz", api_readyz, 0);
    ROUTE("GET", "/metrics", api_metrics, 0);
    ROUTE("GET", "/api/metrics", api_metrics_json, 0);
    ROUTE("POST", "/admin/degradation/override", api_admin_override, 4096);
    ROUTE("POST", "/v1/transcriptions", api_transcriptions_post, cfg->max_upload);
    ROUTE("POST", "/v1/audio/transcriptions", api_audio_transcriptions, cfg->max_upload);
    /* job read/admin endpoints (src/api/jobs_read.c, jobs_admin.c) */
    ROUTE("GET", "/v1/jobs", api_jobs_list, 0);
    ROUTE("GET", "/v1/jobs/{id}", api_job_get, 0);
    ROUTE("GET", "/v1/jobs/{id}/events", api_job_events, 0);
    ROUTE("DELETE", "/v1/jobs/{id}", api_job_delete, 0);
    ROUTE("POST", "/v1/jobs/{id}/retry", api_job_retry, 0);
    ROUTE("GET", "/v1/transcripts/{id}", api_transcript_get, 0);
    ROUTE("GET", "/api/queue-status", api_queue_status, 0);
    /* the transcript cache (src/api/cache_api.c) */
    ROUTE("DELETE", "/v1/cache/{sha256}", api_cache_delete, 0);
    ROUTE("GET", "/v1/cache/stats", api_cache_stats, 0);
}
