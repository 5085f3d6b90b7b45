/* api_cache.h — the cache endpoints of ../shared/DESIGN.md's HTTP API.
 *
 * Both use this process's cache (jobs_cache(jobs_current())); see cache.h
 * for the tiers and the broadcast. Errors use http_respond_error's shape. */
#ifndef STENO_API_CACHE_H
#define STENO_API_CACHE_H

#include "http.h"

/* DELETE /v1/cache/{sha256} — every tier, every process; audited.
 * 400 invalid_sha256 for anything but 64 hex digits; 200 with what was
 * removed per tier; 404 cache_not_found when no tier held anything;
 * 503 when PostgreSQL (L3) could not be reached (L1/L2 were still cleared:
 * repeat the call). */
void api_cache_delete(struct http_request *req);
/* GET /v1/cache/stats — per tier hits/misses/hit rate over all workers,
 * L1 bytes/keys, L2 state, L3 rows (null while PostgreSQL is down). */
void api_cache_stats(struct http_request *req);

#endif
