/* transcript_merge.c — chunk transcripts into one, in time (FR-2.3). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "transcript.h"

/* Shifted times are rounded to the millisecond so that 60.31 + 1.2 prints as
 * 61.51 and not 61.510000000000005. */
static double shift(double t, double offset)
{
    return round((t + offset) * 1000.0) / 1000.0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Append text, trimmed, after a single space when out is not empty. */
static void join(char **out, size_t *len, const char *text)
{
    const char *s = text, *e = text + strlen(text);
    while (is_space(*s))
        s++;
    while (e > s && is_space(e[-1]))
        e--;
    if (e == s)
        return;
    size_t n = (size_t)(e - s);
    *out = xrealloc(*out, *len + n + 2);
    if (*len)
        (*out)[(*len)++] = ' ';
    memcpy(*out + *len, s, n);
    *len += n;
    (*out)[*len] = '\0';
}

static void copy_segment(struct transcript *t, const struct transcript_segment *s, double offset)
{
    struct transcript_segment *d =
        transcript_add_segment(t, shift(s->start, offset), shift(s->end, offset), s->text);
    /* seek counts 10 ms mel frames from the start of the chunk. */
    d->seek = s->seek >= 0 ? s->seek + (int64_t)llround(offset * 100.0) : -1;
    d->tokens = s->tokens ? json_incref(s->tokens) : NULL;
    d->temperature = s->temperature;
    d->avg_logprob = s->avg_logprob;
    d->compression_ratio = s->compression_ratio;
    d->no_speech_prob = s->no_speech_prob;
}

static double part_end(const struct transcript *p, double offset)
{
    if (isfinite(p->duration))
        return offset + p->duration;
    double end = offset;
    if (p->nsegments)
        end = fmax(end, offset + p->segments[p->nsegments - 1].end);
    if (p->nwords)
        end = fmax(end, offset + p->words[p->nwords - 1].end);
    return end;
}

struct transcript *transcript_merge(const struct transcript *const *parts, const double *offsets,
                                    size_t n)
{
    struct transcript *t = transcript_new();
    char *text = NULL;
    size_t text_len = 0;

    for (size_t i = 0; i < n; i++) {
        const struct transcript *p = parts[i];
        if (!p)
            continue;
        for (size_t k = 0; k < p->nsegments; k++)
            copy_segment(t, &p->segments[k], offsets[i]);
        for (size_t k = 0; k < p->nwords; k++)
            transcript_add_word(t, p->words[k].word, shift(p->words[k].start, offsets[i]),
                                shift(p->words[k].end, offsets[i]));
        join(&text, &text_len, p->text);
        if (!t->language && p->language)
            transcript_set_language(t, p->language);
        double end = part_end(p, offsets[i]);
        t->duration = isfinite(t->duration) ? fmax(t->duration, end) : end;
    }
    free(t->text);
    t->text = text ? text : xstrdup("");
    if (isfinite(t->duration))
        t->duration = round(t->duration * 1000.0) / 1000.0;
    return t;
}
