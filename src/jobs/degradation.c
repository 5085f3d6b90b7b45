/* degradation.c — the process's mode: Redis's health plus an operator's
 * override, kept the same in every process.
 *
 * Redis decides FULL/DEGRADED by itself (src/db/redis.c). An operator can
 * force DEGRADED (maintenance of Redis, a misbehaving cluster) through
 * POST /admin/degradation/override: the handler writes an audit row and
 * NOTIFYs steno_override in one statement; every process LISTENs and
 * applies it. A process that starts later — a worker the supervisor
 * restarted, another host — reads the latest override from the audit log,
 * so an override is never silently lost. */
#include <stdio.h>
#include <string.h>

#include "jobs_internal.h"
#include "log.h"

static const char SQL_LAST_OVERRIDE[] =
    "SELECT details->>'mode', coalesce(details->>'reason', '') FROM audit_log"
    " WHERE target = 'degradation' AND action = 'degradation.override'"
    " ORDER BY at DESC, id DESC LIMIT 1";

bool jobs_draining(const struct jobs *j)
{
    return j && j->stopping;
}

bool jobs_busy(const struct jobs *j)
{
    if (!j || !j->db)
        return false;
    struct db_pool_health h;
    db_pool_health(j->db, &h);
    return h.up > 0 &&
           (h.busy > 0 || h.queued > 0); /* a pool that is down has nothing to wait for */
}

enum redis_mode jobs_mode(const struct jobs *j, const char **reason)
{
    if (j->forced_degraded) {
        *reason = j->forced_reason;
        return REDIS_MODE_DEGRADED;
    }
    if (j->redis && redis_mode(j->redis) == REDIS_MODE_DEGRADED) {
        *reason = redis_mode_reason(j->redis);
        return REDIS_MODE_DEGRADED;
    }
    *reason = j->redis ? redis_mode_reason(j->redis) : "no Redis configured";
    return REDIS_MODE_FULL;
}

bool jobs_mode_forced(const struct jobs *j)
{
    return j->forced_degraded;
}

void jobs_override(struct jobs *j, enum redis_mode m, const char *reason)
{
    bool force = m == REDIS_MODE_DEGRADED;
    if (force == j->forced_degraded)
        return; /* NOTIFY reaches the process that sent it too */
    j->forced_degraded = force;
    snprintf(j->forced_reason, sizeof(j->forced_reason), "override: %s",
             reason && *reason ? reason : "by an operator");
    log_warn("mode: %s forced by an operator (%s)", force ? "degraded" : "full", reason);
    redis_override(j->redis, m, reason);
}

/* Payload "degraded:reason" or "full:reason". */
static void on_override(const char *channel, const char *payload, void *arg)
{
    struct jobs *j = arg;
    if (!payload)
        return; /* listener (re)connected; the start-up read covers the gap */
    const char *colon = strchr(payload, ':');
    size_t n = colon ? (size_t)(colon - payload) : strlen(payload);
    enum redis_mode m =
        n == 4 && strncmp(payload, "full", 4) == 0 ? REDIS_MODE_FULL : REDIS_MODE_DEGRADED;
    jobs_override(j, m, colon ? colon + 1 : "");
}

static void last_override_cb(const struct db_result *res, void *arg)
{
    struct jobs *j = arg;
    if (res->error != DB_OK) {
        log_warn("mode: cannot read the last override (%s); assuming none", res->message);
        return;
    }
    if (db_result_rows(res) == 1 && strcmp(db_result_value(res, 0, 0), "degraded") == 0)
        jobs_override(j, REDIS_MODE_DEGRADED, db_result_value(res, 0, 1));
}

void jobs_degradation_start(struct jobs *j)
{
    if (!db_pool_listen(j->db, "steno_override", on_override, j))
        log_warn("mode: cannot LISTEN steno_override; overrides apply per process");
    db_pool_query(j->db, SQL_LAST_OVERRIDE, 0, NULL, last_override_cb, j);
}
