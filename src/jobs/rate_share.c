/* rate_share.c — one requests-per-minute limit for the whole cluster.
 *
 * --upstream-rpm is what the upstream allows the account, however many
 * processes and hosts send. Without Redis each process takes an even
 * share (rpm / --workers): safe, but a worker with all the work gets only
 * its share. With Redis, every process says every couple of seconds
 * whether it has upstream work (queued or in flight) in a sorted set
 * scored by time; the busy ones split the limit between them, so the rate
 * follows the work across workers and hosts. An idle process assumes it
 * would be one more busy one, which bounds the overshoot to one interval
 * when it gets work. Entries older than three intervals are dropped, so a
 * dead process stops counting by itself. */
#include <stdio.h>
#include <time.h>

#include "clock.h"
#include "jobs_internal.h"
#include "log.h"
#include "metrics.h"

#define SHARE_INTERVAL 2.0 /* seconds between announcements */
#define SHARE_KEY      "steno:rpm:busy"

static metric_id m_share = 0xffffffffu;

void rate_share_metrics_init(void)
{
    if (m_share == 0xffffffffu)
        m_share = metrics_gauge("steno_upstream_rpm_share",
                                "This process's share of --upstream-rpm (summed: the shares "
                                "in force), requests per minute",
                                "");
}

static void apply(struct jobs *j, double share)
{
    if (share == j->rate_share)
        return;
    log_debug("upstream: requests-per-minute share %.1f -> %.1f", j->rate_share, share);
    j->rate_share = share;
    upstream_set_rpm(j->up, share);
    metrics_gauge_set(m_share, (int64_t)(share + 0.5));
}

static void counted(const redisReply *reply, const char *error, void *arg)
{
    struct jobs *j = arg;
    if (error || !reply || reply->type != REDIS_REPLY_INTEGER || j->stopping)
        return; /* keep the last share; a Redis failure is handled on the next tick */
    long long busy = reply->integer + (j->rate_busy ? 0 : 1);
    apply(j, j->cfg->upstream_rpm / (double)(busy > 0 ? busy : 1));
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct jobs *j = arg;
    struct upstream_stats st;
    upstream_get_stats(j->up, &st);
    j->rate_busy = st.queued > 0 || st.inflight > 0;
    if (!redis_available(j->redis)) {
        apply(j, j->cfg->upstream_rpm / (double)j->cfg->workers);
        return;
    }
    double now = clock_wall();
    char score[32], stale[32];
    snprintf(score, sizeof(score), "%.3f", now);
    snprintf(stale, sizeof(stale), "(%.3f", now - 3 * SHARE_INTERVAL);
    /* pipelined; only the count's answer matters */
    if (j->rate_busy)
        redis_command(j->redis, NULL, NULL, "ZADD %s %s %s", SHARE_KEY, score, j->owner);
    else
        redis_command(j->redis, NULL, NULL, "ZREM %s %s", SHARE_KEY, j->owner);
    redis_command(j->redis, NULL, NULL, "ZREMRANGEBYSCORE %s -inf %s", SHARE_KEY, stale);
    redis_command(j->redis, NULL, NULL, "EXPIRE %s 60", SHARE_KEY);
    redis_command(j->redis, counted, j, "ZCARD %s", SHARE_KEY);
}

void rate_share_start(struct jobs *j)
{
    j->rate_share = -1;
    if (j->cfg->upstream_rpm <= 0)
        return;
    apply(j, j->cfg->upstream_rpm / (double)j->cfg->workers);
    j->rate_ev = event_new(j->base, -1, EV_PERSIST, tick, j);
    struct timeval tv = {(time_t)SHARE_INTERVAL, 0};
    event_add(j->rate_ev, &tv);
}

void rate_share_stop(struct jobs *j)
{
    if (j->rate_ev)
        event_free(j->rate_ev);
    j->rate_ev = NULL;
}
