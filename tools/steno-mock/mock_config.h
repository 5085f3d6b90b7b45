/* mock_config.h — steno-mock's options: one declarative table (config.h)
 * drives flags, STENO_MOCK_* environment variables and --help.
 *
 * Time: --time-scale multiplies the latency model (--base-latency,
 * --per-second) and the Retry-After the faults announce (--retry-after).
 * The requests/minute limit (--rpm) and --stall-seconds run on real time:
 * they are about the client's own clock (its timeouts, its pacing). */
#ifndef STENO_MOCK_CONFIG_H
#define STENO_MOCK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct mock_config {
    struct config_list listen;
    struct config_list tls_listen;
    char *tls_cert;
    char *tls_key;
    struct config_list api_keys; /* empty, or one empty item: any bearer is accepted */
    struct config_list models;
    double time_scale;
    double fail_rate;
    char *fail_mix;
    char *script;
    int64_t seed;
    int64_t rpm; /* per key; 0 = unlimited */
    int64_t max_streams;
    int64_t goaway_after; /* 0 = never */
    uint64_t max_body;
    double base_latency;
    double per_second;
    double stall_seconds; /* 0 = until the client gives up */
    double retry_after;
    double shutdown_timeout;
    int64_t max_connections;
    char *log_level;
};

/* Defaults, then the environment, then the flags; then cross-checks (TLS
 * files, a listener, fail-mix and script syntax, at least one model).
 * Returns false with a message in err; *help is set for --help. The caller
 * frees with mock_config_free either way. */
bool mock_config_load(struct mock_config *cfg, int argc, char **argv, bool *help, char *err,
                      size_t errlen) MUST_CHECK;
void mock_config_print_help(FILE *f);
void mock_config_free(struct mock_config *cfg);

/* True when `key` is one of the accepted API keys (or any key is). */
bool mock_config_key_ok(const struct mock_config *cfg, const char *key);
/* True when `model` is one of --models. */
bool mock_config_model_ok(const struct mock_config *cfg, const char *model);

#endif
