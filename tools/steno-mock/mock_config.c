/* mock_config.c — the option table of steno-mock. */
#include "mock_config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mock_faults.h"

#define OPT(name, env, type, field, def, help, lo, hi)                                             \
    {                                                                                              \
        name, "STENO_MOCK_" env, type, offsetof(struct mock_config, field), def, help, lo, hi      \
    }

static const struct config_option options[] = {
    OPT("listen", "LISTEN", CFG_LIST, listen, "127.0.0.1:8090",
        "host:port for HTTP/1.1 and h2c (prior knowledge); repeatable; '' for none", 0, 0),
    OPT("tls-listen", "TLS_LISTEN", CFG_LIST, tls_listen, NULL,
        "host:port for TLS (h2 and http/1.1 by ALPN); repeatable", 0, 0),
    OPT("tls-cert", "TLS_CERT", CFG_STRING, tls_cert, NULL, "PEM certificate chain file", 0, 0),
    OPT("tls-key", "TLS_KEY", CFG_STRING, tls_key, NULL, "PEM private key file", 0, 0),
    OPT("api-key", "API_KEY", CFG_LIST, api_keys, "test-key",
        "accepted bearer key (repeatable); an empty value accepts any bearer", 0, 0),
    OPT("models", "MODELS", CFG_LIST, models, "openai/whisper-large-v3",
        "accepted model ids (repeatable, comma-separated in the environment)", 0, 0),
    OPT("time-scale", "TIME_SCALE", CFG_DOUBLE, time_scale, "1",
        "multiplies the latency model and announced Retry-After (tests: 0.01 or less)", 0, 1e6),
    OPT("fail-rate", "FAIL_RATE", CFG_DOUBLE, fail_rate, "0",
        "share of transcription requests that get a fault from --fail-mix", 0, 1),
    OPT("fail-mix", "FAIL_MIX", CFG_STRING, fail_mix, "500:1,503:1,429:1,rst:1,goaway:1,stall:1",
        "fault weights: kind:weight,… (kinds 500 503 429 rst goaway stall)", 0, 0),
    OPT("script", "SCRIPT", CFG_STRING, script, NULL,
        "exact faults by request number, e.g. \"3=503,5=stall,7-9=rst\" (replaces --fail-rate)", 0,
        0),
    OPT("seed", "SEED", CFG_INT, seed, "1", "fault RNG seed (reproducible runs)", 0, 9e15),
    OPT("rpm", "RPM", CFG_INT, rpm, "0", "requests per minute per key, real time (0 = unlimited)",
        0, 1e9),
    OPT("max-streams", "MAX_STREAMS", CFG_INT, max_streams, "100",
        "HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection", 1, 100000),
    OPT("goaway-after", "GOAWAY_AFTER", CFG_INT, goaway_after, "0",
        "GOAWAY (HTTP/1.1: connection: close) after N requests on a connection (0 = never)", 0,
        1e12),
    OPT("max-body", "MAX_BODY", CFG_SIZE, max_body, "25M",
        "largest transcription request body (413 above)", 1, 17179869184.0),
    OPT("base-latency", "BASE_LATENCY", CFG_SECONDS, base_latency, "1s",
        "latency of every transcription, before --time-scale", 0, 0),
    OPT("per-second", "PER_SECOND", CFG_DOUBLE, per_second, "0.08",
        "latency added per second of audio (0.08: 25 MB of CD WAV, 148 s, takes ~13 s)", 0, 1e6),
    OPT("stall-seconds", "STALL_SECONDS", CFG_SECONDS, stall_seconds, "0",
        "a stall fault resets the stream after this long, real time (0 = never)", 0, 0),
    OPT("retry-after", "RETRY_AFTER", CFG_SECONDS, retry_after, "1s",
        "Retry-After of 503/429 faults, before --time-scale", 0, 0),
    OPT("shutdown-timeout", "SHUTDOWN_TIMEOUT", CFG_SECONDS, shutdown_timeout, "2s",
        "on SIGTERM/SIGINT, how long in-flight requests may take", 0, 0),
    OPT("max-connections", "MAX_CONNECTIONS", CFG_INT, max_connections, "10000",
        "client connections at once", 1, 1000000),
    OPT("log-level", "LOG_LEVEL", CFG_STRING, log_level, "info", "error, warn, info or debug", 0,
        0),
};

static const char usage[] =
    "usage: steno-mock [options]\n\n"
    "Emulates the Cloud.ru/OpenAI transcription API for tests: POST /v1/audio/transcriptions\n"
    "transcribes tone-coded audio (tools/gen-audio), GET /v1/models, GET /stats,\n"
    "POST /stats/reset, POST /mock/faults, GET /healthz, GET /metrics.\n"
    "The default key is \"test-key\" (Authorization: Bearer test-key).";

bool mock_config_load(struct mock_config *cfg, int argc, char **argv, bool *help, char *err,
                      size_t errlen)
{
    if (!config_parse(options, ARRAY_LEN(options), cfg, argc, argv, help, err, errlen))
        return false;
    if (*help)
        return true;
    if (!config_check_listeners(&cfg->listen, &cfg->tls_listen, cfg->tls_cert, cfg->tls_key, err,
                                errlen))
        return false;
    if (!cfg->models.n) {
        snprintf(err, errlen, "--models: at least one model is needed");
        return false;
    }
    struct mock_fault_mix mix;
    if (!mock_fault_mix_parse(cfg->fail_mix ? cfg->fail_mix : "", &mix, err, errlen))
        return false;
    struct mock_fault_script script;
    if (!mock_fault_script_parse(cfg->script ? cfg->script : "", &script, err, errlen))
        return false;
    mock_fault_script_free(&script);
    return true;
}

void mock_config_print_help(FILE *f)
{
    config_print_help(f, usage, options, ARRAY_LEN(options));
}

void mock_config_free(struct mock_config *cfg)
{
    config_free(options, ARRAY_LEN(options), cfg);
}

bool mock_config_key_ok(const struct mock_config *cfg, const char *key)
{
    if (cfg->api_keys.n == 0)
        return true;
    for (size_t i = 0; i < cfg->api_keys.n; i++)
        if (!cfg->api_keys.items[i][0] || strcmp(cfg->api_keys.items[i], key) == 0)
            return true;
    return false;
}

bool mock_config_model_ok(const struct mock_config *cfg, const char *model)
{
    for (size_t i = 0; i < cfg->models.n; i++)
        if (strcmp(cfg->models.items[i], model) == 0)
            return true;
    return false;
}
