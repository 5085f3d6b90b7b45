/* mock_transcript.c — segment grouping of tone words. */
#include "mock_transcript.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double ms_round(double t)
{
    return round(t * 1000.0) / 1000.0;
}

static int by_start(const void *a, const void *b)
{
    double x = ((const struct tonecode_word *)a)->start,
           y = ((const struct tonecode_word *)b)->start;
    return (x > y) - (x < y);
}

/* Words [first, last) become one segment. */
static void add_segment(struct transcript *t, const struct tonecode_word *w, size_t first,
                        size_t last, const struct mock_transcript_opts *o)
{
    char text[MOCK_SEGMENT_WORDS * 8 + 8];
    size_t len = 0;
    for (size_t i = first; i < last; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, " w%d", w[i].symbol);
    double start = ms_round(w[first].start), end = ms_round(w[last - 1].end);
    struct transcript_segment *s = transcript_add_segment(t, start, end, text);
    s->seek = (int64_t)llround(start * 100.0); /* Whisper counts 10 ms frames */
    s->tokens = json_array();
    for (size_t i = first; i < last; i++)
        json_array_append_new(s->tokens, json_integer(50364 + w[i].symbol));
    s->temperature = o->temperature;
    s->avg_logprob = -0.1;
    s->compression_ratio = 1.0;
    s->no_speech_prob = 0.01;
}

/* The joined text: "w1 w2 w3". */
static char *join_words(const struct tonecode_word *w, size_t n)
{
    char *text = xmalloc(n * 8 + 1);
    size_t len = 0;
    text[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "%sw%d", i ? " " : "", w[i].symbol);
    return text;
}

struct transcript *mock_transcript_build(const struct tonecode_word *words, size_t n,
                                         const struct mock_transcript_opts *o)
{
    struct transcript *t = transcript_new();
    transcript_set_language(t, o->language && *o->language ? o->language : "english");
    t->duration = ms_round(o->duration);
    struct tonecode_word *w = xmalloc((n ? n : 1) * sizeof(*w));
    if (n)
        memcpy(w, words, n * sizeof(*w));
    qsort(w, n, sizeof(*w), by_start);
    size_t first = 0;
    for (size_t i = 1; i <= n; i++) {
        bool split = i == n || i - first == MOCK_SEGMENT_WORDS ||
                     w[i].start - w[i - 1].end > MOCK_SEGMENT_GAP;
        if (split && i > first) {
            add_segment(t, w, first, i, o);
            first = i;
        }
    }
    if (o->words) {
        char name[16];
        for (size_t i = 0; i < n; i++) {
            snprintf(name, sizeof(name), "w%d", w[i].symbol);
            transcript_add_word(t, name, ms_round(w[i].start), ms_round(w[i].end));
        }
    }
    char *text = join_words(w, n);
    transcript_set_text(t, text);
    free(text);
    free(w);
    return t;
}
