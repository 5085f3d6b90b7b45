/* health.c — GET /healthz (the process is alive and its loop turns) and
 * GET /readyz (whether to send it traffic, and in which mode it runs). */
#include "api.h"

#include <math.h>
#include <time.h>
#include <unistd.h>

#include "jobs.h"

void api_healthz(struct http_request *req)
{
    http_respond_json(req, 200, json_pack("{s:s,s:i}", "status", "ok", "pid", (int)getpid()));
}

static json_t *iso_time(double t)
{
    if (t <= 0)
        return json_null();
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    char buf[40];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

static json_t *database_state(struct jobs *j)
{
    struct db_pool *db = jobs_db(j);
    if (!db)
        return json_pack("{s:s}", "state", "disabled");
    struct db_pool_health h;
    db_pool_health(db, &h);
    json_t *o = json_pack("{s:s,s:i,s:i,s:i,s:b}", "state", h.up ? "up" : "down", "connections_up",
                          (int)h.up, "connections", (int)h.total, "queued", (int)h.queued,
                          "listening", h.listener_up);
    if (h.last_error[0])
        json_object_set_new(o, "last_error", json_string(h.last_error));
    return o;
}

static json_t *redis_state(struct jobs *j)
{
    struct redis *r = jobs_redis(j);
    if (!r)
        return json_pack("{s:s}", "state", "disabled");
    struct redis_stats st;
    redis_get_stats(r, &st);
    return json_pack("{s:s,s:s,s:s,s:o,s:b,s:b,s:I,s:I}", "state", st.connected ? "up" : "down",
                     "mode", redis_mode_name(redis_mode(r)), "reason", redis_mode_reason(r),
                     "since", iso_time(redis_mode_since(r)), "subscribed", st.subscribed,
                     "overridden", redis_overridden(r), "failures", (json_int_t)st.failures,
                     "timeouts", (json_int_t)st.timeouts);
}

/* 200 while the process takes work — degraded included, since degraded
 * mode still serves everything (slower, or without the Redis tier) — and
 * 503 once it drains for shutdown, so balancers stop sending. */
void api_readyz(struct http_request *req)
{
    struct jobs *j = jobs_current();
    if (!j) {
        http_respond_json(req, 503,
                          json_pack("{s:s,s:s,s:i}", "status", "not_ready", "reason",
                                    "the jobs service is not running", "pid", (int)getpid()));
        return;
    }
    const char *why;
    enum redis_mode mode = jobs_mode(j, &why);
    bool draining = jobs_draining(j);
    struct jobs_local_stats ls;
    jobs_local_stats(j, &ls);
    json_t *deps = json_pack("{s:o,s:o,s:{s:i,s:i,s:i,s:i}}", "database", database_state(j),
                             "redis", redis_state(j), "upstream", "connections",
                             (int)ls.upstream.connections, "inflight", (int)ls.upstream.inflight,
                             "queued", (int)ls.upstream.queued, "cap", (int)ls.upstream.cap);
    json_t *body =
        json_pack("{s:s,s:s,s:s,s:b,s:i,s:o,s:{s:i,s:i}}", "status",
                  draining ? "draining" : "ready", "mode", redis_mode_name(mode), "mode_reason",
                  why, "mode_forced", jobs_mode_forced(j), "pid", (int)getpid(), "dependencies",
                  deps, "jobs", "running", (int)ls.running, "capacity", (int)ls.capacity);
    if (draining)
        http_response_header(req, "retry-after", "5");
    http_respond_json(req, draining ? 503 : 200, body);
}
