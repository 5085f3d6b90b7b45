/* job_progress.h — the events of one running job, from the engine's hooks.
 *
 * The runner owns one per job it runs (src/jobs/jobs_runner.c): created at
 * claim, fed by the engine hooks, freed when the job leaves the process.
 * It keeps the counts a progress event needs (chunks done/failed/total,
 * when this run started) and emits through the job's events_source:
 *   job      {state:"running", chunks_total, chunks_done, resumed} at start,
 *            {state:"planned", chunks_total, audio_seconds, chunks:[[start,end]…]}
 *   chunk    {index, start, end, state:"running"|"done"|"failed"|"split",
 *             attempts, seconds (upstream time), error, into (a split's new index)}
 *   progress {chunks_done, chunks_failed, chunks_total, percent, elapsed_seconds,
 *             eta_seconds (null until a chunk finished in this run)}
 *   done     {status:"done", transcript, finished_at, chunks_total}
 *   error    {status:"failed"|"cancelled", error:{type, code, message}}
 * Every event's data also has "at": the Unix time it was emitted (seconds,
 * microsecond precision). Any of these may be called with p == NULL. */
#ifndef STENO_JOB_PROGRESS_H
#define STENO_JOB_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "events.h"

struct job_progress;

/* NULL when ev is NULL (no events in this process). */
struct job_progress *job_progress_new(struct events *ev, const char *job_id);
void job_progress_free(struct job_progress *p);

/* The engine is about to run the job: n chunks known from an earlier run,
 * `done` of them finished (n = 0 for a fresh job, which is planned next). */
void job_progress_running(struct job_progress *p, size_t n, size_t done);
void job_progress_planned(struct job_progress *p, double audio_seconds,
                          const struct engine_chunk *c, size_t n);
void job_progress_chunk_started(struct job_progress *p, const struct engine_chunk *c);
void job_progress_chunk_done(struct job_progress *p, const struct engine_chunk *c,
                             unsigned attempts, double seconds);
void job_progress_chunk_failed(struct job_progress *p, const struct engine_chunk *c,
                               const char *error, unsigned attempts);
void job_progress_chunk_split(struct job_progress *p, const struct engine_chunk *a,
                              const struct engine_chunk *b);
/* The final state is durable: done, or failed with the job's error JSON. */
void job_progress_finished(struct job_progress *p, bool failed, const char *error_json,
                           const char *finished_at);
void job_progress_cancelled(struct job_progress *p);

#endif
