/* upstream-client — drive stenod's real upstream pool from the command line.
 *
 * Integration tests and fitness/upstream use it against steno-mock:
 *   upstream-client --url http://127.0.0.1:P/v1 --api-key K \
 *       --job big:low:FILE:100 --job small:high:FILE:2 [--sequential N]
 * Each --job submits COUNT calls of FILE for job NAME at a priority; all jobs
 * are submitted at once (in order) unless --sequential, which sends the
 * calls one after another. One JSON line per finished call on stdout, then
 * a summary line with the pool's own gauges (they must be zero at the end:
 * no stream, connection or call leaked). Test tooling, never installed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include <stddef.h>
#include "upstream.h"

struct opts {
    char *url, *api_key, *ca_file, *out_dir, *log_level, *model;
    struct config_list jobs;
    int64_t connections, inflight, retries, sequential, parallel;
    double timeout_min, backoff_base, backoff_cap, rpm, idle, ping;
    bool words;
};

#define O(n, t, f, d, h)                                                                           \
    {                                                                                              \
        n, NULL, t, offsetof(struct opts, f), d, h, 0, 0                                           \
    }
static const struct config_option options[] = {
    O("url", CFG_STRING, url, NULL, "upstream base URL"),
    O("api-key", CFG_STRING, api_key, NULL, "bearer key"),
    O("ca-file", CFG_STRING, ca_file, NULL, "CA bundle for https"),
    O("job", CFG_LIST, jobs, NULL, "NAME:PRIORITY:FILE:COUNT, repeatable"),
    O("connections", CFG_INT, connections, "4", "max connections"),
    O("inflight", CFG_INT, inflight, "16", "global in-flight cap"),
    O("retries", CFG_INT, retries, "3", "retries per call"),
    O("sequential", CFG_INT, sequential, "0", "send N calls in a closed loop (first job's file)"),
    O("parallel", CFG_INT, parallel, "1", "with --sequential: calls kept in flight"),
    O("timeout-min", CFG_SECONDS, timeout_min, "60", "minimum request timeout"),
    O("backoff-base", CFG_SECONDS, backoff_base, "0.05", "retry backoff base"),
    O("backoff-cap", CFG_SECONDS, backoff_cap, "2", "retry backoff cap"),
    O("rpm", CFG_DOUBLE, rpm, "0", "requests per minute"),
    O("idle-timeout", CFG_SECONDS, idle, "30", "idle connection close"),
    O("ping-interval", CFG_SECONDS, ping, "15", "PING interval"),
    O("words", CFG_BOOL, words, "false", "ask for word timestamps"),
    O("model", CFG_STRING, model, "openai/whisper-large-v3", "model"),
    O("out-dir", CFG_STRING, out_dir, NULL, "write each transcript as verbose_json here"),
    O("log-level", CFG_STRING, log_level, "warn", "log level"),
};

struct job {
    char name[64];
    enum upstream_priority prio;
    char *audio;
    size_t len;
    unsigned count;
};

struct call_ctx {
    struct job *job;
    unsigned index;
};

static struct event_base *base;
static struct upstream *up;
static double t0;
static unsigned outstanding, ok_count, failed_count, sequential_left;
static struct opts o;
static struct job *jobs;
static size_t njobs;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *status_name(enum upstream_status s)
{
    static const char *const names[] = {"ok", "too_large", "rejected", "failed"};
    return names[s];
}

static void submit(struct job *j, unsigned index);

static void done(struct upstream_result *res, void *arg)
{
    struct call_ctx *cc = arg;
    size_t nseg = res->transcript ? res->transcript->nsegments : 0;
    json_t *line =
        json_pack("{s:s,s:i,s:s,s:i,s:i,s:f,s:f,s:i,s:s?}", "job", cc->job->name, "index",
                  (int)cc->index, "status", status_name(res->status), "http_status",
                  res->http_status, "attempts", (int)res->attempts, "seconds", res->seconds,
                  "finished_at", now() - t0, "segments", (int)nseg, "error", res->error);
    char *text = json_dumps(line, JSON_COMPACT);
    printf("%s\n", text);
    free(text);
    json_decref(line);
    if (res->transcript && o.out_dir) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s-%u.json", o.out_dir, cc->job->name, cc->index);
        size_t len;
        char *body = transcript_render(res->transcript, TRANSCRIPT_VERBOSE_JSON, &len);
        FILE *f = fopen(path, "w");
        if (f) {
            fwrite(body, 1, len, f);
            fclose(f);
        }
        free(body);
    }
    transcript_free(res->transcript);
    res->status == UPSTREAM_OK ? ok_count++ : failed_count++;
    struct job *j = cc->job;
    unsigned index = cc->index;
    free(cc);
    outstanding--;
    if (sequential_left) {
        sequential_left--;
        submit(j, index + 1);
    } else if (outstanding == 0) {
        event_base_loopexit(base, NULL);
    }
}

static void submit(struct job *j, unsigned index)
{
    struct call_ctx *cc = xcalloc(1, sizeof(*cc));
    cc->job = j;
    cc->index = index;
    char fname[96];
    snprintf(fname, sizeof(fname), "%s-%u.wav", j->name, index);
    struct upstream_request r = {
        .job = j->name,
        .priority = j->prio,
        .audio = j->audio,
        .audio_len = j->len,
        .content_type = "audio/wav",
        .filename = fname,
        .audio_seconds = 1,
        .model = o.model,
        .temperature = -1,
        .word_timestamps = o.words,
    };
    outstanding++;
    upstream_submit(up, &r, done, cc);
}

static bool load_job(const char *spec, struct job *j)
{
    char prio[16], path[400];
    unsigned count;
    if (sscanf(spec, "%63[^:]:%15[^:]:%399[^:]:%u", j->name, prio, path, &count) != 4)
        return false;
    j->prio = strcmp(prio, "high") == 0     ? UPSTREAM_PRIO_HIGH
              : strcmp(prio, "medium") == 0 ? UPSTREAM_PRIO_MEDIUM
                                            : UPSTREAM_PRIO_LOW;
    j->count = count;
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    struct stat st;
    fstat(fileno(f), &st);
    j->len = (size_t)st.st_size;
    j->audio = xmalloc(j->len ? j->len : 1);
    bool ok = fread(j->audio, 1, j->len, f) == j->len;
    fclose(f);
    return ok;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    bool help;
    char err[256];
    if (!config_parse(options, ARRAY_LEN(options), &o, argc, argv, &help, err, sizeof(err)) ||
        help || !o.url || !o.jobs.n) {
        if (help || !o.url || !o.jobs.n)
            config_print_help(stderr, "usage: upstream-client --url URL --job N:P:FILE:COUNT",
                              options, ARRAY_LEN(options));
        else
            fprintf(stderr, "upstream-client: %s\n", err);
        return 2;
    }
    enum log_level lvl;
    if (log_parse_level(o.log_level, &lvl))
        log_set_level(lvl);
    upstream_metrics_init();
    njobs = o.jobs.n;
    jobs = xcalloc(njobs, sizeof(*jobs));
    for (size_t i = 0; i < njobs; i++)
        if (!load_job(o.jobs.items[i], &jobs[i])) {
            fprintf(stderr, "upstream-client: bad --job %s\n", o.jobs.items[i]);
            return 2;
        }
    base = event_base_new();
    struct upstream_config cfg;
    upstream_config_defaults(&cfg);
    cfg.url = o.url;
    cfg.api_key = o.api_key;
    cfg.ca_file = o.ca_file;
    cfg.max_connections = (unsigned)o.connections;
    cfg.max_inflight = (unsigned)o.inflight;
    cfg.max_retries = (unsigned)o.retries;
    cfg.timeout_min = o.timeout_min;
    cfg.timeout_factor = 0;
    cfg.backoff_base = o.backoff_base;
    cfg.backoff_cap = o.backoff_cap;
    cfg.rpm = o.rpm;
    cfg.idle_timeout = o.idle;
    cfg.ping_interval = o.ping;
    up = upstream_new(base, &cfg, err, sizeof(err));
    if (!up) {
        fprintf(stderr, "upstream-client: %s\n", err);
        return 2;
    }
    t0 = now();
    if (o.sequential > 0) {
        unsigned first = o.parallel > 0 && o.parallel < o.sequential ? (unsigned)o.parallel
                                                                     : (unsigned)o.sequential;
        sequential_left = (unsigned)o.sequential - first;
        for (unsigned k = 0; k < first; k++)
            submit(&jobs[0], k * 1000000u);
    } else {
        for (size_t i = 0; i < njobs; i++)
            for (unsigned k = 0; k < jobs[i].count; k++)
                submit(&jobs[i], k);
    }
    event_base_dispatch(base);
    struct upstream_stats st;
    upstream_get_stats(up, &st);
    printf("{\"summary\":true,\"ok\":%u,\"failed\":%u,\"seconds\":%.3f,\"streams\":%u,"
           "\"inflight\":%u,\"queued\":%zu,\"calls\":%zu,\"connections_opened\":%lld,"
           "\"bytes_sent\":%lld}\n",
           ok_count, failed_count, now() - t0, st.streams, st.inflight, st.queued, st.calls,
           (long long)st.connections_opened, (long long)st.bytes_sent);
    upstream_free(up);
    event_base_free(base);
    for (size_t i = 0; i < njobs; i++)
        free(jobs[i].audio);
    free(jobs);
    config_free(options, ARRAY_LEN(options), &o);
    metrics_reset();
    return failed_count ? 1 : 0;
}
