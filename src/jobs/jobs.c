/* jobs.c — the per-worker jobs service: assembly and small helpers. */
#include "jobs.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobs_internal.h"
#include "log.h"

static struct jobs *current;

struct jobs *jobs_current(void)
{
    return current;
}

const struct steno_config *jobs_config(const struct jobs *j)
{
    return j->cfg;
}

struct db_pool *jobs_db(const struct jobs *j)
{
    return j->db;
}

struct bio *jobs_bio(const struct jobs *j)
{
    return j->bio;
}

bool jobs_webhook_done(struct jobs *j, const char *id, const char *url, const char *log_ctx)
{
    char self[64], transcript[72], at[40];
    snprintf(self, sizeof(self), "/v1/jobs/%s", id);
    snprintf(transcript, sizeof(transcript), "/v1/transcripts/%s", id);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(at, sizeof(at), "%Y-%m-%d %H:%M:%S+00", &tm); /* as PostgreSQL prints it */
    json_t *body =
        json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "event", "job.done", "id", id, "status", "done",
                  "finished_at", at, "links", "self", self, "transcript", transcript);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    bool ok = webhooks_send(j->webhooks, url, "job.done", text, log_ctx);
    free(text);
    return ok;
}

void jobs_metrics_init(void)
{
    rate_share_metrics_init();
}

struct engine *jobs_engine(const struct jobs *j)
{
    return j->engine;
}

struct redis *jobs_redis(const struct jobs *j)
{
    return j->redis;
}

struct cache *jobs_cache(const struct jobs *j)
{
    return j->cache;
}

struct events *jobs_events(const struct jobs *j)
{
    return j->events;
}

const char *jobs_owner(const struct jobs *j)
{
    return j->owner;
}

void jobs_local_stats(const struct jobs *j, struct jobs_local_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->running = j->nrunning;
    out->capacity = (unsigned)j->cfg->jobs_per_worker;
    upstream_get_stats(j->up, &out->upstream);
}

bool jobs_priority_parse(const char *name, int *out)
{
    static const char *const names[] = {"high", "medium", "low"};
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = i;
            return true;
        }
    return false;
}

const char *jobs_priority_name(int prio)
{
    static const char *const names[] = {"high", "medium", "low"};
    return prio >= 0 && prio < 3 ? names[prio] : "medium";
}

bool jobs_id_valid(const char *id)
{
    if (!id || strlen(id) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? id[i] != '-' : !isxdigit((unsigned char)id[i]))
            return false;
    }
    return true;
}

static struct upstream *make_upstream(struct event_base *base, const struct steno_config *cfg,
                                      char *err, size_t errlen)
{
    struct upstream_config uc;
    upstream_config_defaults(&uc);
    uc.url = cfg->upstream_url;
    uc.api_key = cfg->api_key;
    uc.ca_file = cfg->upstream_ca_file;
    uc.max_connections = (unsigned)cfg->upstream_connections;
    uc.max_inflight = (unsigned)cfg->upstream_concurrency;
    /* the server-wide rate is shared between processes (rate_share.c) */
    uc.rpm = cfg->upstream_rpm > 0 ? cfg->upstream_rpm / (double)cfg->workers : 0;
    uc.max_retries = (unsigned)cfg->upstream_retries;
    uc.timeout_min = cfg->upstream_timeout_min;
    uc.timeout_factor = cfg->upstream_timeout_factor;
    return upstream_new(base, &uc, err, errlen);
}

static struct engine *make_engine(struct event_base *base, struct upstream *up,
                                  const struct steno_config *cfg)
{
    struct engine_config ec;
    engine_config_defaults(&ec);
    if (!audio_encode_parse_format(cfg->chunk_format, &ec.chunk_format))
        ec.chunk_format = AUDIO_ENCODE_FLAC; /* validated at start-up */
    ec.plan.concurrency = (int)cfg->upstream_concurrency;
    ec.plan.min_chunk_seconds = cfg->chunk_min;
    ec.plan.max_chunk_seconds = cfg->chunk_max;
    /* multipart framing and headers come off the upstream's body limit */
    ec.plan.max_encoded_bytes = (int64_t)cfg->chunk_max_bytes - 64 * 1024;
    ec.max_outstanding = (unsigned)cfg->upstream_concurrency + 4;
    return engine_new(base, up, &ec);
}

struct jobs *jobs_start(struct event_base *base, const struct steno_config *cfg, char *err,
                        size_t errlen)
{
    struct jobs *j = xcalloc(1, sizeof(*j));
    j->base = base;
    j->cfg = cfg;
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    snprintf(j->owner, sizeof(j->owner), "%s:%d", host, (int)getpid());
    j->bio = bio_new(base);
    j->up = make_upstream(base, cfg, err, errlen);
    if (!j->bio || !j->up) {
        if (!j->bio)
            snprintf(err, errlen, "cannot start the background I/O thread");
        jobs_stop(j);
        return NULL;
    }
    j->engine = make_engine(base, j->up, cfg);
    struct webhook_config wc = {.secret = cfg->webhook_secret,
                                .max_attempts = (unsigned)cfg->webhook_attempts};
    j->webhooks = webhooks_new(base, &wc);
    if (cfg->redis_url && *cfg->redis_url) {
        struct redis_options ro;
        redis_options_default(&ro);
        ro.url = cfg->redis_url;
        ro.command_timeout = cfg->redis_timeout;
        ro.connect_timeout = cfg->redis_connect_timeout;
        ro.probe_interval = cfg->redis_probe_interval;
        ro.recover_after = cfg->redis_recover_after;
        j->redis = redis_new(base, &ro, err, errlen);
        if (!j->redis) {
            jobs_stop(j);
            return NULL;
        }
    }
    rate_share_start(j);
    if (cfg->database_url && *cfg->database_url) {
        struct db_pool_options o;
        db_pool_options_default(&o);
        o.conninfo = cfg->database_url;
        o.connections = (unsigned)cfg->db_pool_size;
        o.max_queue = (unsigned)cfg->db_queue_max;
        o.statement_timeout = cfg->db_statement_timeout;
        o.query_timeout = cfg->db_query_timeout;
        o.connect_timeout = cfg->db_connect_timeout;
        j->db = db_pool_new(base, &o, err, errlen);
        if (!j->db) {
            jobs_stop(j);
            return NULL;
        }
        struct events_options eo = {.heartbeat = cfg->sse_heartbeat};
        j->events = events_new(base, j->db, j->redis, &eo);
        jobs_runner_start(j);
        jobs_degradation_start(j);
    }
    struct cache_options co = {.memory = (size_t)cfg->cache_memory,
                               .ttl = cfg->cache_ttl,
                               .warm = (long)cfg->cache_warm,
                               .name = j->owner};
    j->cache = cache_new(base, j->db, j->redis, &co);
    current = j;
    return j;
}

void jobs_stop(struct jobs *j)
{
    if (!j)
        return;
    if (current == j)
        current = NULL;
    cache_shutdown(j->cache); /* before Redis and PostgreSQL go */
    jobs_runner_stop(j);
    rate_share_stop(j);
    events_free(j->events); /* after the runner: its sources are closed */
    engine_free(j->engine);
    webhooks_free(j->webhooks);
    upstream_free(j->up);
    redis_free(j->redis);
    if (j->db)
        db_pool_close(j->db);
    cache_free(j->cache); /* their close fired every callback that pointed here */
    bio_free(j->bio);
    free(j);
}
