/* audio_plan_priv.h — the planner's state, shared by audio_plan.c (the
 * decisions) and audio_plan_report.c (logging them, text and JSON). Private
 * to src/audio. */
#ifndef STENO_AUDIO_PLAN_PRIV_H
#define STENO_AUDIO_PLAN_PRIV_H

#include "audio_plan.h"

#define PLAN_WPS 100 /* energy windows per second */

struct audio_plan {
    struct audio_plan_params p;
    float *energy; /* owned */
    size_t nwin;
    int rate;
    int64_t frames;
    char *ctx;      /* log context, may be NULL */
    double loud;    /* linear RMS of the loud level (98th percentile) */
    double silence; /* linear RMS under which a window is silence */
    double voiced, skipped;
    struct audio_chunk *chunks;
    size_t nchunks, chunk_cap;
    char **decisions;
    size_t ndecisions, decision_cap;
};

/* Record one decision: log it (FR-1.5) and keep it for the job record. */
void plan_decide(struct audio_plan *pl, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* dBFS of a linear RMS, floored at -120. */
double plan_dbfs(double rms);

#endif
