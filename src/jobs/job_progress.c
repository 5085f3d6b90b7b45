/* job_progress.c — engine hooks → job, chunk, progress, done, error events. */
#include "job_progress.h"

#include "clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job_progress {
    struct events_source *src;
    char id[40];
    size_t total, done, failed;
    size_t done_here; /* chunks finished by this run (the ETA's rate) */
    double started;   /* monotonic seconds this run began */
};

/* Event times in whole microseconds: short in JSON, exact enough. */
static double unix_now(void)
{
    return floor(clock_wall() * 1e6) / 1e6;
}

static void emit(struct job_progress *p, const char *type, json_t *data)
{
    json_object_set_new(data, "at", json_real(unix_now()));
    events_emit(p->src, type, data);
}

struct job_progress *job_progress_new(struct events *ev, const char *job_id)
{
    if (!ev)
        return NULL;
    struct job_progress *p = xcalloc(1, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", job_id);
    p->src = events_source_open(ev, job_id);
    p->started = clock_mono();
    return p;
}

void job_progress_free(struct job_progress *p)
{
    if (!p)
        return;
    events_source_close(p->src);
    free(p);
}

void job_progress_running(struct job_progress *p, size_t n, size_t done)
{
    if (!p)
        return;
    p->total = n;
    p->done = done;
    emit(p, "job",
         json_pack("{s:s,s:I,s:I,s:b}", "state", "running", "chunks_total", (json_int_t)n,
                   "chunks_done", (json_int_t)done, "resumed", n > 0));
}

void job_progress_planned(struct job_progress *p, double audio_seconds,
                          const struct engine_chunk *c, size_t n)
{
    if (!p)
        return;
    p->total = n;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("[f,f]", c[i].start, c[i].start + c[i].duration));
    emit(p, "job",
         json_pack("{s:s,s:I,s:f,s:o}", "state", "planned", "chunks_total", (json_int_t)n,
                   "audio_seconds", isnan(audio_seconds) ? 0.0 : audio_seconds, "chunks", list));
}

static json_t *chunk_data(const struct engine_chunk *c, const char *state)
{
    return json_pack("{s:i,s:f,s:f,s:s}", "index", c->index, "start", c->start, "end",
                     c->start + c->duration, "state", state);
}

static void progress(struct job_progress *p)
{
    double elapsed = clock_mono() - p->started;
    size_t finished = p->done + p->failed;
    double percent = p->total ? 100.0 * (double)finished / (double)p->total : 0;
    json_t *eta = json_null();
    if (p->done_here > 0 && p->total >= finished)
        eta = json_real(round(elapsed / (double)p->done_here * (double)(p->total - finished) * 10) /
                        10);
    emit(p, "progress",
         json_pack("{s:I,s:I,s:I,s:f,s:f,s:o}", "chunks_done", (json_int_t)p->done, "chunks_failed",
                   (json_int_t)p->failed, "chunks_total", (json_int_t)p->total, "percent",
                   round(percent * 10) / 10, "elapsed_seconds", round(elapsed * 10) / 10,
                   "eta_seconds", eta));
}

void job_progress_chunk_started(struct job_progress *p, const struct engine_chunk *c)
{
    if (p)
        emit(p, "chunk", chunk_data(c, "running"));
}

void job_progress_chunk_done(struct job_progress *p, const struct engine_chunk *c,
                             unsigned attempts, double seconds)
{
    if (!p)
        return;
    json_t *d = chunk_data(c, "done");
    json_object_set_new(d, "attempts", json_integer(attempts));
    json_object_set_new(d, "seconds", json_real(round(seconds * 1000) / 1000));
    emit(p, "chunk", d);
    p->done++;
    p->done_here++;
    progress(p);
}

void job_progress_chunk_failed(struct job_progress *p, const struct engine_chunk *c,
                               const char *error, unsigned attempts)
{
    if (!p)
        return;
    json_t *d = chunk_data(c, "failed");
    json_object_set_new(d, "attempts", json_integer(attempts));
    json_object_set_new(d, "error", json_string(error ? error : "failed"));
    emit(p, "chunk", d);
    p->failed++;
    progress(p);
}

void job_progress_chunk_split(struct job_progress *p, const struct engine_chunk *a,
                              const struct engine_chunk *b)
{
    if (!p)
        return;
    json_t *d = chunk_data(a, "split");
    json_object_set_new(d, "into", json_integer(b->index));
    emit(p, "chunk", d);
    p->total++;
}

void job_progress_finished(struct job_progress *p, bool failed, const char *error_json,
                           const char *finished_at)
{
    if (!p)
        return;
    if (failed) {
        json_t *err = error_json ? json_loads(error_json, 0, NULL) : NULL;
        emit(p, "error",
             json_pack("{s:s,s:o}", "status", "failed", "error", err ? err : json_object()));
        return;
    }
    char link[64];
    snprintf(link, sizeof(link), "/v1/transcripts/%s", p->id);
    emit(p, "done",
         json_pack("{s:s,s:s,s:s?,s:I,s:I}", "status", "done", "transcript", link, "finished_at",
                   finished_at, "chunks_total", (json_int_t)p->total, "chunks_done",
                   (json_int_t)p->done));
}

void job_progress_cancelled(struct job_progress *p)
{
    if (!p)
        return;
    emit(p, "error",
         json_pack("{s:s,s:{s:s,s:s,s:s}}", "status", "cancelled", "error", "type",
                   "invalid_request_error", "code", "cancelled", "message",
                   "the job was cancelled"));
}
