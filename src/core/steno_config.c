/* steno_config.c — the declarative table of stenod's options. */
#include "steno_config.h"

#include <stddef.h>
#include <stdio.h>

#define OPT(name, env, type, field, def, help)                                                     \
    {                                                                                              \
        name, env, type, offsetof(struct steno_config, field), def, help, 0, 0                     \
    }
#define OPT_RANGE(name, env, type, field, def, help, lo, hi)                                       \
    {                                                                                              \
        name, env, type, offsetof(struct steno_config, field), def, help, lo, hi                   \
    }

const struct config_option steno_options[] = {
    OPT("listen", "STENO_LISTEN", CFG_LIST, listen, "127.0.0.1:8080",
        "host:port for HTTP/1.1 and h2c (prior knowledge); repeatable"),
    OPT("tls-listen", "STENO_TLS_LISTEN", CFG_LIST, tls_listen, NULL,
        "host:port for TLS (h2 and http/1.1 by ALPN); repeatable"),
    OPT("tls-cert", "STENO_TLS_CERT", CFG_STRING, tls_cert, NULL, "PEM certificate chain file"),
    OPT("tls-key", "STENO_TLS_KEY", CFG_STRING, tls_key, NULL, "PEM private key file"),
    OPT_RANGE("workers", "STENO_WORKERS", CFG_INT, workers, "1",
              "worker processes sharing the ports (SO_REUSEPORT); 1 = no supervisor", 1, 256),
    OPT("data-dir", "STENO_DATA_DIR", CFG_STRING, data_dir, "./var",
        "audio store and temporary files"),
    OPT("database-url", "STENO_DATABASE_URL", CFG_STRING, database_url, NULL,
        "PostgreSQL conninfo or URL"),
    OPT("redis-url", "STENO_REDIS_URL", CFG_STRING, redis_url, NULL,
        "redis://host:port/db (empty = run without Redis)"),
    OPT("upstream-url", "STENO_UPSTREAM_URL", CFG_STRING, upstream_url,
        "https://foundation-models.api.cloud.ru/v1", "transcription API base URL"),
    OPT("api-key", "CLOUDRU_API_KEY", CFG_STRING, api_key, NULL,
        "bearer key for the upstream (never logged)"),
    OPT("model", "STENO_MODEL", CFG_STRING, model, "openai/whisper-large-v3",
        "default transcription model"),
    OPT("log-file", "STENO_LOG_FILE", CFG_STRING, log_file, "-",
        "log file ('-' = stderr); reopened on SIGHUP"),
    OPT("log-level", "STENO_LOG_LEVEL", CFG_STRING, log_level, "info",
        "error, warn, info or debug"),
    OPT("max-upload", "STENO_MAX_UPLOAD", CFG_SIZE, max_upload, "1G",
        "largest accepted upload (413 above)"),
    OPT_RANGE("max-header-bytes", "STENO_MAX_HEADER_BYTES", CFG_SIZE, max_header_bytes, "16k",
              "request line + headers limit (431 above)", 1024, 1048576),
    OPT_RANGE("max-headers", "STENO_MAX_HEADERS", CFG_INT, max_headers, "100",
              "header field count limit (431 above)", 1, 10000),
    OPT_RANGE("max-uri", "STENO_MAX_URI", CFG_SIZE, max_uri, "8k",
              "request-target length limit (414 above)", 16, 1048576),
    OPT("header-timeout", "STENO_HEADER_TIMEOUT", CFG_SECONDS, header_timeout, "10s",
        "time allowed for a complete request head (slowloris guard)"),
    OPT("body-timeout", "STENO_BODY_TIMEOUT", CFG_SECONDS, body_timeout, "60s",
        "idle time allowed between request body bytes"),
    OPT("keepalive-timeout", "STENO_KEEPALIVE_TIMEOUT", CFG_SECONDS, keepalive_timeout, "75s",
        "idle keep-alive connection lifetime"),
    OPT("shutdown-timeout", "STENO_SHUTDOWN_TIMEOUT", CFG_SECONDS, shutdown_timeout, "30s",
        "on SIGTERM, how long in-flight requests may take to finish"),
    OPT_RANGE("max-connections", "STENO_MAX_CONNECTIONS", CFG_INT, max_connections, "10000",
              "client connections per worker", 1, 1000000),
    OPT_RANGE("h2-max-streams", "STENO_H2_MAX_STREAMS", CFG_INT, h2_max_streams, "128",
              "HTTP/2 concurrent streams per client connection", 1, 10000),
    OPT_RANGE("h2-stream-window", "STENO_H2_STREAM_WINDOW", CFG_SIZE, h2_stream_window, "256k",
              "HTTP/2 per-stream receive window (upload backpressure)", 65535, 2147483647),
    OPT_RANGE("backlog", "STENO_BACKLOG", CFG_INT, backlog, "511", "listen(2) backlog", 1, 65535),
    OPT("migrate", NULL, CFG_BOOL, migrate, "false",
        "apply pending schema migrations to --database-url, then exit"),
    OPT_RANGE("db-pool-size", "STENO_DB_POOL_SIZE", CFG_INT, db_pool_size, "4",
              "PostgreSQL connections per worker process", 1, 100),
    OPT_RANGE("db-queue-max", "STENO_DB_QUEUE_MAX", CFG_INT, db_queue_max, "1024",
              "queries that may wait for a PostgreSQL connection, per worker", 0, 1000000),
    OPT("db-statement-timeout", "STENO_DB_STATEMENT_TIMEOUT", CFG_SECONDS, db_statement_timeout,
        "30s", "server-side limit per SQL statement (0 = none)"),
    OPT("db-query-timeout", "STENO_DB_QUERY_TIMEOUT", CFG_SECONDS, db_query_timeout, "35s",
        "client-side limit from submission to answer, queue wait included (0 = none)"),
    OPT("upstream-ca-file", "STENO_UPSTREAM_CA_FILE", CFG_STRING, upstream_ca_file, NULL,
        "PEM CA bundle to verify the upstream (default: the system store)"),
    OPT_RANGE("upstream-connections", "STENO_UPSTREAM_CONNECTIONS", CFG_INT, upstream_connections,
              "4", "HTTP/2 connections to the upstream per worker", 1, 64),
    OPT_RANGE("upstream-concurrency", "STENO_UPSTREAM_CONCURRENCY", CFG_INT, upstream_concurrency,
              "16", "upstream requests in flight per worker (AIMD cap)", 1, 4096),
    OPT("upstream-rpm", "STENO_UPSTREAM_RPM", CFG_DOUBLE, upstream_rpm, "0",
        "upstream requests per minute for the whole server, split between workers (0 = none)"),
    OPT_RANGE("upstream-retries", "STENO_UPSTREAM_RETRIES", CFG_INT, upstream_retries, "3",
              "retries per chunk after the first attempt", 0, 20),
    OPT("upstream-timeout-min", "STENO_UPSTREAM_TIMEOUT_MIN", CFG_SECONDS, upstream_timeout_min,
        "60s", "per-request timeout: max(this, factor x audio seconds)"),
    OPT("upstream-timeout-factor", "STENO_UPSTREAM_TIMEOUT_FACTOR", CFG_DOUBLE,
        upstream_timeout_factor, "2.5", "per-request timeout per audio second"),
    OPT("chunk-format", "STENO_CHUNK_FORMAT", CFG_STRING, chunk_format, "flac",
        "what goes upstream: flac (16 kHz mono), wav (16 kHz mono) or original"),
    OPT("chunk-min", "STENO_CHUNK_MIN", CFG_SECONDS, chunk_min, "30s", "shortest chunk"),
    OPT("chunk-max", "STENO_CHUNK_MAX", CFG_SECONDS, chunk_max, "10m", "longest chunk"),
    OPT_RANGE("chunk-max-bytes", "STENO_CHUNK_MAX_BYTES", CFG_SIZE, chunk_max_bytes, "25M",
              "largest encoded chunk (the upstream's body limit)", 1024, 1073741824),
    OPT_RANGE("jobs-per-worker", "STENO_JOBS_PER_WORKER", CFG_INT, jobs_per_worker, "4",
              "jobs one worker runs at once (0 = serve the API only)", 0, 1000),
    OPT("lease", "STENO_LEASE", CFG_SECONDS, lease, "30s",
        "job lease: a crashed process's jobs are reclaimed after it"),
    OPT("claim-interval", "STENO_CLAIM_INTERVAL", CFG_SECONDS, claim_interval, "1s",
        "how often an idle worker looks for queued jobs (NOTIFY wakes it sooner)"),
    OPT("webhook-secret", "STENO_WEBHOOK_SECRET", CFG_STRING, webhook_secret, NULL,
        "HMAC-SHA256 key signing webhook calls (X-Steno-Signature)"),
    OPT_RANGE("webhook-attempts", "STENO_WEBHOOK_ATTEMPTS", CFG_INT, webhook_attempts, "5",
              "webhook deliveries tried per job end (1 s, 2 s, 4 s … apart)", 1, 20),
    OPT("db-connect-timeout", "STENO_DB_CONNECT_TIMEOUT", CFG_SECONDS, db_connect_timeout, "5s",
        "limit per PostgreSQL connection attempt"),
    OPT("redis-timeout", "STENO_REDIS_TIMEOUT", CFG_SECONDS, redis_timeout, "500ms",
        "limit per Redis command; a late reply degrades to running without Redis"),
    OPT("redis-connect-timeout", "STENO_REDIS_CONNECT_TIMEOUT", CFG_SECONDS, redis_connect_timeout,
        "2s", "limit per Redis connection attempt"),
    OPT("redis-probe-interval", "STENO_REDIS_PROBE_INTERVAL", CFG_SECONDS, redis_probe_interval,
        "30s", "how often Redis is probed while degraded"),
    OPT("redis-recover-after", "STENO_REDIS_RECOVER_AFTER", CFG_SECONDS, redis_recover_after, "2m",
        "Redis healthy this long before leaving degraded mode"),
    OPT("admin-key", "STENO_ADMIN_KEY", CFG_STRING, admin_key, NULL,
        "bearer key for /admin/* (unset = admin endpoints refused)"),
    OPT_RANGE("cache-memory", "STENO_CACHE_MEMORY", CFG_SIZE, cache_memory, "64M",
              "L1 in-process transcript cache per worker, in bytes (0 = off)", 0, 68719476736.0),
    OPT("cache-ttl", "STENO_CACHE_TTL", CFG_SECONDS, cache_ttl, "24h",
        "L2 (Redis) transcript lifetime"),
    OPT_RANGE("cache-warm", "STENO_CACHE_WARM", CFG_INT, cache_warm, "1000",
              "most-requested transcripts loaded into L1 at start (0 = none)", 0, 1000000),
    OPT("sse-heartbeat", "STENO_SSE_HEARTBEAT", CFG_SECONDS, sse_heartbeat, "15s",
        "comment line sent on idle event streams"),
    OPT_RANGE("sse-buffer", "STENO_SSE_BUFFER", CFG_SIZE, sse_buffer, "256k",
              "unsent bytes allowed per event stream before a slow client is dropped", 4096,
              1073741824),
};
const size_t steno_noptions = sizeof(steno_options) / sizeof(steno_options[0]);

bool steno_config_load(struct steno_config *cfg, int argc, char **argv, bool *help, char *err,
                       size_t errlen)
{
    if (!config_parse(steno_options, steno_noptions, cfg, argc, argv, help, err, errlen))
        return false;
    if (*help)
        return true;
    return config_check_listeners(&cfg->listen, &cfg->tls_listen, cfg->tls_cert, cfg->tls_key, err,
                                  errlen);
}

void steno_config_free(struct steno_config *cfg)
{
    config_free(steno_options, steno_noptions, cfg);
}
