/* engine.h — the job pipeline, without storage: probe → scan → plan →
 * encode → upstream → merge (../shared/DESIGN.md steps 4–7).
 *
 * One engine per worker process, on its loop. CPU work (the energy scan, the
 * chunk encoder) runs in bounded slices from a zero-delay timer, one slice
 * per loop pass, round-robin over the jobs, so I/O is polled between slices
 * and no job holds the loop. Chunks are encoded lazily, only while fewer
 * than max_outstanding calls are with the upstream (backpressure: memory is
 * bounded by that many encoded chunks), picked by priority and round-robin
 * across jobs. Each chunk's result is reported through a hook as it lands,
 * so the storage layer can persist it; a resumed job passes its known
 * chunks back in and only the missing ones are sent again.
 *
 * Hooks run on the loop, never from inside engine_job_start. */
#ifndef STENO_ENGINE_H
#define STENO_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "audio_encode.h"
#include "audio_plan.h"
#include "audio_probe.h"
#include "transcript.h"
#include "upstream.h"

struct engine_config {
    enum audio_encode_format chunk_format;
    struct audio_plan_params plan;
    unsigned max_outstanding; /* encoded chunks with the upstream, all jobs */
    size_t scan_budget;       /* frames per scan slice (0: module default) */
    size_t encode_budget;     /* frames per encode slice (0: module default) */
};

/* Defaults: FLAC, audio_plan_params_default, 20 outstanding. */
void engine_config_defaults(struct engine_config *c);

enum engine_chunk_state { ENGINE_CHUNK_PENDING = 0, ENGINE_CHUNK_DONE, ENGINE_CHUNK_FAILED };

/* A chunk as the storage layer keeps it. */
struct engine_chunk {
    int index;           /* stable identity; a split adds new indexes at the end */
    int64_t start_frame; /* in the original file's rate */
    int64_t end_frame;
    double start; /* seconds */
    double duration;
    enum engine_chunk_state state;
    struct transcript *result; /* DONE chunks handed to engine_job_start: the engine takes it */
};

struct engine_job_params {
    const char *model;
    const char *language; /* NULL = auto */
    const char *prompt;
    double temperature; /* < 0 = upstream default */
    bool word_timestamps;
    enum upstream_priority priority;
};

enum engine_error {
    ENGINE_OK = 0,
    ENGINE_BAD_AUDIO,     /* probe/scan/encode failed: the file is unusable */
    ENGINE_CHUNKS_FAILED, /* some chunks failed after their retries */
    ENGINE_REJECTED,      /* the upstream refused the request (4xx other than 413/429) */
};

struct engine_hooks {
    /* A fresh job was planned (not called when chunks were passed in). */
    void (*planned)(void *arg, const struct audio_info *info, const struct engine_chunk *chunks,
                    size_t n, const char *plan_json);
    /* A chunk's request went to the upstream (encoded and submitted). */
    void (*chunk_started)(void *arg, const struct engine_chunk *c);
    /* A chunk's transcript landed (t is the chunk's own, times relative to it). */
    void (*chunk_done)(void *arg, const struct engine_chunk *c, const struct transcript *t,
                       unsigned attempts, double seconds);
    void (*chunk_failed)(void *arg, const struct engine_chunk *c, const char *error,
                         unsigned attempts);
    /* The upstream said 413: chunk `old` became a and b (a keeps old's index). */
    void (*chunk_split)(void *arg, const struct engine_chunk *a, const struct engine_chunk *b);
    /* The end: the merged transcript (the hook takes ownership) or an error.
     * The job is freed right after this returns. */
    void (*finished)(void *arg, struct transcript *merged, enum engine_error err,
                     const char *message);
};

struct engine;
struct engine_job;

struct engine *engine_new(struct event_base *base, struct upstream *up,
                          const struct engine_config *cfg);
/* Cancels every job (no hooks). */
void engine_free(struct engine *e);

/* Start a job on the audio at `path`. `known` (may be NULL) is the chunk list
 * persisted by an earlier run: planning is skipped and DONE chunks are not
 * sent again; the engine takes their results. id is copied. */
struct engine_job *engine_job_start(struct engine *e, const char *id, const char *path,
                                    const struct engine_job_params *params,
                                    struct engine_chunk *known, size_t nknown,
                                    const struct engine_hooks *hooks, void *arg);
/* Stop a job: in-flight requests are reset; no hook runs afterwards. */
void engine_job_cancel(struct engine_job *job);

/* Jobs running, and chunks with the upstream (for metrics and tests). */
size_t engine_jobs(const struct engine *e);
unsigned engine_outstanding(const struct engine *e);

#endif
