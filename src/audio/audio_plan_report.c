/* audio_plan_report.c — the planner's decisions: logged, as text, as JSON. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_plan_priv.h"
#include "log.h"

void plan_decide(struct audio_plan *pl, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_ctx_info(pl->ctx, "audio_plan: %s", buf);
    if (pl->ndecisions == pl->decision_cap) {
        pl->decision_cap = pl->decision_cap ? pl->decision_cap * 2 : 16;
        pl->decisions = xrealloc(pl->decisions, pl->decision_cap * sizeof(char *));
    }
    pl->decisions[pl->ndecisions++] = xstrdup(buf);
}

double plan_dbfs(double rms)
{
    return rms > 1e-6 ? 20.0 * log10(rms) : -120.0;
}

char *audio_plan_text(const struct audio_plan *pl)
{
    size_t len = 1;
    for (size_t i = 0; i < pl->ndecisions; i++)
        len += strlen(pl->decisions[i]) + 1;
    char *out = xmalloc(len), *p = out;
    for (size_t i = 0; i < pl->ndecisions; i++) {
        size_t n = strlen(pl->decisions[i]);
        memcpy(p, pl->decisions[i], n);
        p[n] = '\n';
        p += n + 1;
    }
    *p = '\0';
    return out;
}

static json_t *chunk_json(const struct audio_chunk *c)
{
    return json_pack("{s:i, s:I, s:I, s:f, s:f, s:s}", "index", c->index, "start_frame",
                     (json_int_t)c->start_frame, "end_frame", (json_int_t)c->end_frame, "start",
                     c->start_seconds, "duration", c->duration, "reason", c->reason);
}

char *audio_plan_json(const struct audio_plan *pl)
{
    json_t *chunks = json_array(), *decisions = json_array();
    for (size_t i = 0; i < pl->nchunks; i++)
        json_array_append_new(chunks, chunk_json(&pl->chunks[i]));
    for (size_t i = 0; i < pl->ndecisions; i++)
        json_array_append_new(decisions, json_string(pl->decisions[i]));
    json_t *root =
        json_pack("{s:f, s:f, s:f, s:f, s:I, s:o, s:o}", "duration", (double)pl->frames / pl->rate,
                  "voiced_seconds", pl->voiced, "skipped_seconds", pl->skipped, "silence_dbfs",
                  plan_dbfs(pl->silence), "chunk_count", (json_int_t)pl->nchunks, "chunks", chunks,
                  "decisions", decisions);
    char *s = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(root);
    if (!s)
        abort(); /* only on out-of-memory, like xmalloc */
    char *out = xstrdup(s);
    free(s);
    return out;
}
