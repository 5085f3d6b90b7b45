/* transcript.c — the transcript model: builders and the upstream parser. */
#include "transcript.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct transcript *transcript_new(void)
{
    struct transcript *t = xcalloc(1, sizeof(*t));
    t->task = xstrdup("transcribe");
    t->text = xstrdup("");
    t->duration = NAN;
    return t;
}

void transcript_free(struct transcript *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nsegments; i++) {
        free(t->segments[i].text);
        json_decref(t->segments[i].tokens);
    }
    for (size_t i = 0; i < t->nwords; i++)
        free(t->words[i].word);
    free(t->segments);
    free(t->words);
    free(t->task);
    free(t->language);
    free(t->text);
    free(t);
}

void transcript_set_text(struct transcript *t, const char *text)
{
    free(t->text);
    t->text = xstrdup(text ? text : "");
}

void transcript_set_language(struct transcript *t, const char *language)
{
    free(t->language);
    t->language = language ? xstrdup(language) : NULL;
}

struct transcript_segment *transcript_add_segment(struct transcript *t, double start, double end,
                                                  const char *text)
{
    /* Grow by powers of two: the array is reallocated when its count is one. */
    if ((t->nsegments & (t->nsegments - 1)) == 0)
        t->segments =
            xrealloc(t->segments, (t->nsegments ? t->nsegments * 2 : 1) * sizeof(*t->segments));
    struct transcript_segment *s = &t->segments[t->nsegments];
    memset(s, 0, sizeof(*s));
    s->id = (int)t->nsegments++;
    s->seek = -1;
    s->start = start;
    s->end = end;
    s->text = xstrdup(text ? text : "");
    s->temperature = s->avg_logprob = s->compression_ratio = s->no_speech_prob = NAN;
    return s;
}

void transcript_add_word(struct transcript *t, const char *word, double start, double end)
{
    if ((t->nwords & (t->nwords - 1)) == 0)
        t->words = xrealloc(t->words, (t->nwords ? t->nwords * 2 : 1) * sizeof(*t->words));
    struct transcript_word *w = &t->words[t->nwords++];
    w->word = xstrdup(word ? word : "");
    w->start = start;
    w->end = end;
}

/* A number field, or NAN when absent or not a number. */
static double num(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void parse_segment(struct transcript *t, const json_t *js)
{
    double start = num(js, "start"), end = num(js, "end");
    const char *text = str(js, "text");
    if (!json_is_object(js) || !isfinite(start) || !text)
        return;
    if (!isfinite(end) || end < start)
        end = start;
    struct transcript_segment *s = transcript_add_segment(t, start, end, text);
    json_t *seek = json_object_get(js, "seek");
    if (json_is_integer(seek))
        s->seek = json_integer_value(seek);
    json_t *tokens = json_object_get(js, "tokens");
    if (json_is_array(tokens))
        s->tokens = json_incref(tokens);
    s->temperature = num(js, "temperature");
    s->avg_logprob = num(js, "avg_logprob");
    s->compression_ratio = num(js, "compression_ratio");
    s->no_speech_prob = num(js, "no_speech_prob");
}

static void parse_word(struct transcript *t, const json_t *jw)
{
    double start = num(jw, "start"), end = num(jw, "end");
    const char *word = str(jw, "word");
    if (!word || !isfinite(start))
        return;
    transcript_add_word(t, word, start, isfinite(end) && end >= start ? end : start);
}

/* No top-level text: the segments' texts, trimmed and space-joined. */
static void text_from_segments(struct transcript *t)
{
    size_t cap = 1;
    for (size_t i = 0; i < t->nsegments; i++)
        cap += strlen(t->segments[i].text) + 1;
    char *out = xmalloc(cap), *p = out;
    for (size_t i = 0; i < t->nsegments; i++) {
        const char *s = t->segments[i].text, *e = s + strlen(s);
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
            e--;
        if (e == s)
            continue;
        if (p != out)
            *p++ = ' ';
        memcpy(p, s, (size_t)(e - s));
        p += e - s;
    }
    *p = '\0';
    free(t->text);
    t->text = out;
}

struct transcript *transcript_from_json(const char *data, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        if (err)
            snprintf(err, errlen, "%s", root ? "response is not a JSON object" : jerr.text);
        json_decref(root);
        return NULL;
    }
    struct transcript *t = transcript_new();
    if (str(root, "task")) {
        free(t->task);
        t->task = xstrdup(str(root, "task"));
    }
    transcript_set_language(t, str(root, "language"));
    t->duration = num(root, "duration");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(root, "segments"), i, v) parse_segment(t, v);
    json_array_foreach(json_object_get(root, "words"), i, v) parse_word(t, v);
    if (str(root, "text"))
        transcript_set_text(t, str(root, "text"));
    else
        text_from_segments(t);
    json_decref(root);
    return t;
}
