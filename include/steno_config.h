/* steno_config.h — stenod's settings and the option table that fills them.
 *
 * The names of the options and variables in ../shared/DESIGN.md are fixed:
 * scripts rely on them. Every option is a flag and an environment variable;
 * `stenod --help` prints the table with defaults. */
#ifndef STENO_STENO_CONFIG_H
#define STENO_STENO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct steno_config {
    struct config_list listen;
    struct config_list tls_listen;
    char *tls_cert;
    char *tls_key;
    int64_t workers;
    char *data_dir;
    char *database_url;
    char *redis_url;
    char *upstream_url;
    char *api_key;
    char *model;
    char *log_file;
    char *log_level;
    uint64_t max_upload;
    uint64_t max_header_bytes;
    int64_t max_headers;
    uint64_t max_uri;
    double header_timeout;
    double body_timeout;
    double keepalive_timeout;
    double shutdown_timeout;
    int64_t max_connections;
    int64_t h2_max_streams;
    uint64_t h2_stream_window;
    int64_t backlog;
    bool migrate;
    int64_t db_pool_size;
    int64_t db_queue_max;
    double db_statement_timeout;
    double db_query_timeout;
    double db_connect_timeout;
    char *upstream_ca_file;
    int64_t upstream_connections;
    int64_t upstream_concurrency;
    double upstream_rpm;
    int64_t upstream_retries;
    double upstream_timeout_min;
    double upstream_timeout_factor;
    char *chunk_format;
    double chunk_min;
    double chunk_max;
    uint64_t chunk_max_bytes;
    int64_t jobs_per_worker;
    double lease;
    double claim_interval;
    char *webhook_secret;
    int64_t webhook_attempts;
    double redis_timeout;
    double redis_connect_timeout;
    double redis_probe_interval;
    double redis_recover_after;
    char *admin_key;
    uint64_t cache_memory;
    double cache_ttl;
    int64_t cache_warm;
    double sse_heartbeat;
    uint64_t sse_buffer;
};

extern const struct config_option steno_options[];
extern const size_t steno_noptions;

/* Parse argv + environment into cfg (zeroed by the caller). Checks that
 * cross options (TLS listeners need a cert and key). */
bool steno_config_load(struct steno_config *cfg, int argc, char **argv, bool *help, char *err,
                       size_t errlen) MUST_CHECK;
void steno_config_free(struct steno_config *cfg);

#endif
