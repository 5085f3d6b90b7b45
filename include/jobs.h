/* jobs.h — the per-worker jobs service: storage, upstream, engine, runner.
 *
 * Each worker process creates one service after fork (jobs_start, from the
 * worker's setup hook) and frees it before its loop is freed (jobs_stop).
 * The HTTP handlers of src/api reach it through jobs_current(): one per
 * process, single-threaded, so a process-wide pointer is the whole story.
 *
 * Pieces: a PostgreSQL pool (NULL without --database-url: job endpoints
 * answer 503), the bio thread for fsync/unlink, the upstream pool, the
 * engine, and the runner that claims queued jobs under a lease, renews it by
 * heartbeat, reclaims expired leases and persists every chunk as it lands. */
#ifndef STENO_JOBS_H
#define STENO_JOBS_H

#include <stdbool.h>

#include <event2/event.h>

#include "bio.h"
#include "db_pool.h"
#include "engine.h"
#include "events.h"
#include "redis.h"
#include "steno_config.h"
#include "upstream.h"

struct jobs;

/* Create this worker's service; NULL with err when the configuration
 * cannot work (a bad upstream URL or CA). An unreachable database is not an
 * error: the pool reconnects, job endpoints answer 503 meanwhile. */
struct jobs *jobs_start(struct event_base *base, const struct steno_config *cfg, char *err,
                        size_t errlen);
/* Stop claiming, cancel running engine jobs (their leases expire and another
 * process resumes them), close everything. */
void jobs_stop(struct jobs *j);

/* The service of this process, or NULL (not started, or a tool without it). */
struct jobs *jobs_current(void);

const struct steno_config *jobs_config(const struct jobs *j);
struct db_pool *jobs_db(const struct jobs *j); /* NULL without --database-url */
struct bio *jobs_bio(const struct jobs *j);
/* The engine: the synchronous endpoint runs its work in-process on it. */
struct engine *jobs_engine(const struct jobs *j);
/* NULL without --redis-url; see redis.h for the degraded mode. */
struct redis *jobs_redis(const struct jobs *j);
/* The transcript cache of this process (include/cache.h); never NULL
 * while the service runs. */
struct cache *jobs_cache(const struct jobs *j);
/* The progress event hub (events.h); NULL without a database. */
struct events *jobs_events(const struct jobs *j);
/* The lease owner name of this process ("host:pid"). */
const char *jobs_owner(const struct jobs *j);
/* SIGTERM: stop claiming and hand this process's jobs back to the queue. */
void jobs_drain(struct jobs *j);
/* Tell `url` a job is done (a cache hit recorded as a done job): signed
 * and retried like a job's own. false when the URL is unusable. */
bool jobs_webhook_done(struct jobs *j, const char *id, const char *url, const char *log_ctx);
/* Wake the claimer now (after a submission in this process). */
void jobs_kick(struct jobs *j);
/* A job was cancelled by the API: stop it here if this process runs it. */
void jobs_cancel_local(struct jobs *j, const char *id);

/* What this process is doing now (for /api/queue-status). */
struct jobs_local_stats {
    unsigned running;  /* jobs this process runs */
    unsigned capacity; /* --jobs-per-worker */
    struct upstream_stats upstream;
};
void jobs_local_stats(const struct jobs *j, struct jobs_local_stats *out);

/* Database writes still in flight (the drain's hand-back of jobs, hit
 * counts): the worker waits for them before exiting. */
bool jobs_busy(const struct jobs *j);
/* SIGTERM seen: readiness answers 503 so balancers stop sending. */
bool jobs_draining(const struct jobs *j);

/* Degradation (../shared/DESIGN.md, FR-10). The mode is DEGRADED when an
 * operator forced it or Redis is configured but not usable; `reason` says
 * why. A forced mode reaches every process through NOTIFY steno_override
 * (see POST /admin/degradation/override) and is re-read from the audit log
 * when a process starts, so a restarted worker keeps it. */
enum redis_mode jobs_mode(const struct jobs *j, const char **reason);
bool jobs_mode_forced(const struct jobs *j);
/* Apply a forced mode in this process (FULL clears the override). */
void jobs_override(struct jobs *j, enum redis_mode m, const char *reason);

/* Declare the service's metrics (before metrics_start / fork). */
void jobs_metrics_init(void);

/* Priority names ↔ the jobs.priority column (0 high, 1 medium, 2 low). */
bool jobs_priority_parse(const char *name, int *out) MUST_CHECK;
const char *jobs_priority_name(int prio);

/* A uuid in canonical text form (8-4-4-4-12 hex)? Checked before SQL, so a
 * malformed id is a 404, not a database error. */
bool jobs_id_valid(const char *id);

#endif
