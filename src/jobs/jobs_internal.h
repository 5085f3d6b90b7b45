/* jobs_internal.h — the jobs service's state, shared by src/jobs files. */
#ifndef STENO_JOBS_INTERNAL_H
#define STENO_JOBS_INTERNAL_H

#include <sys/queue.h>

#include "cache.h"
#include "jobs.h"
#include "redis.h"
#include "webhook.h"

struct running_job;

struct jobs {
    struct event_base *base;
    const struct steno_config *cfg;
    struct db_pool *db;
    struct redis *redis; /* NULL without --redis-url */
    struct bio *bio;
    struct cache *cache; /* transcript cache (L1 here, L2 Redis, L3 transcripts) */
    struct upstream *up;
    struct engine *engine;
    struct webhooks *webhooks;
    struct events *events; /* progress events hub (NULL without a database) */
    char owner[96];
    bool forced_degraded;  /* operator override, also without Redis */
    struct event *rate_ev; /* rate_share.c: announce, recompute the rpm share */
    bool rate_busy;
    double rate_share;
    char forced_reason[160];
    /* runner */
    LIST_HEAD(, running_job) running;
    unsigned nrunning;
    bool claiming; /* a claim query is in flight */
    bool stopping;
    struct event *claim_ev;     /* periodic claim + reclaim of expired leases */
    struct event *heartbeat_ev; /* lease renewal */
    uint64_t beat_gen;          /* heartbeats sent */
    struct event *kick_ev;      /* claim now */
    db_stmt st_claim, st_reclaim, st_heartbeat, st_chunks, st_chunk_start, st_chunk_done,
        st_chunk_failed, st_done, st_failed, st_plan;
};

void jobs_runner_start(struct jobs *j);
/* Share --upstream-rpm between the busy processes of the cluster (Redis),
 * or evenly between this server's workers without it. */
void rate_share_start(struct jobs *j);
void rate_share_stop(struct jobs *j);
void rate_share_metrics_init(void);
/* LISTEN for operator overrides and apply the last one recorded. */
void jobs_degradation_start(struct jobs *j);
void jobs_runner_stop(struct jobs *j);

#endif
