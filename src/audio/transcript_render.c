/* transcript_render.c — OpenAI's output formats: text, json, verbose_json,
 * srt, vtt. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transcript.h"

/* 15 significant digits: times rounded to the millisecond print short. */
#define DUMP_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(15))

static const char *const format_names[] = {
    [TRANSCRIPT_JSON] = "json",
    [TRANSCRIPT_TEXT] = "text",
    [TRANSCRIPT_SRT] = "srt",
    [TRANSCRIPT_VTT] = "vtt",
    [TRANSCRIPT_VERBOSE_JSON] = "verbose_json",
};

bool transcript_format_parse(const char *name, enum transcript_format *out)
{
    for (size_t i = 0; i < ARRAY_LEN(format_names); i++) {
        if (strcmp(name, format_names[i]) == 0) {
            *out = (enum transcript_format)i;
            return true;
        }
    }
    return false;
}

const char *transcript_format_name(enum transcript_format fmt)
{
    return (unsigned)fmt < ARRAY_LEN(format_names) ? format_names[fmt] : "unknown";
}

const char *transcript_format_content_type(enum transcript_format fmt)
{
    return fmt == TRANSCRIPT_JSON || fmt == TRANSCRIPT_VERBOSE_JSON ? "application/json"
                                                                    : "text/plain; charset=utf-8";
}

static void set_num(json_t *o, const char *key, double v)
{
    if (isfinite(v))
        json_object_set_new(o, key, json_real(v));
}

static json_t *segment_json(const struct transcript_segment *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(s->id));
    if (s->seek >= 0)
        json_object_set_new(o, "seek", json_integer(s->seek));
    json_object_set_new(o, "start", json_real(s->start));
    json_object_set_new(o, "end", json_real(s->end));
    json_object_set_new(o, "text", json_string(s->text));
    if (s->tokens)
        json_object_set(o, "tokens", s->tokens);
    set_num(o, "temperature", s->temperature);
    set_num(o, "avg_logprob", s->avg_logprob);
    set_num(o, "compression_ratio", s->compression_ratio);
    set_num(o, "no_speech_prob", s->no_speech_prob);
    return o;
}

static double known_duration(const struct transcript *t)
{
    if (isfinite(t->duration))
        return t->duration;
    double end = 0;
    if (t->nsegments)
        end = t->segments[t->nsegments - 1].end;
    if (t->nwords && t->words[t->nwords - 1].end > end)
        end = t->words[t->nwords - 1].end;
    return end;
}

json_t *transcript_to_json(const struct transcript *t)
{
    json_t *o = json_object(), *segs = json_array();
    json_object_set_new(o, "task", json_string(t->task));
    if (t->language)
        json_object_set_new(o, "language", json_string(t->language));
    json_object_set_new(o, "duration", json_real(known_duration(t)));
    json_object_set_new(o, "text", json_string(t->text));
    for (size_t i = 0; i < t->nsegments; i++)
        json_array_append_new(segs, segment_json(&t->segments[i]));
    json_object_set_new(o, "segments", segs);
    if (t->nwords) {
        json_t *words = json_array();
        for (size_t i = 0; i < t->nwords; i++)
            json_array_append_new(words,
                                  json_pack("{s:s, s:f, s:f}", "word", t->words[i].word, "start",
                                            t->words[i].start, "end", t->words[i].end));
        json_object_set_new(o, "words", words);
    }
    return o;
}

/* json_dumps into an xmalloc'd string (jansson allocates with malloc too,
 * but returns NULL on failure, which we treat as out-of-memory). */
static char *dump(json_t *o)
{
    char *s = json_dumps(o, DUMP_FLAGS);
    json_decref(o);
    if (!s)
        abort();
    return s;
}

/* HH:MM:SS,mmm (sep ',') or HH:MM:SS.mmm (sep '.'). */
static void timestamp(char *buf, size_t len, double t, char sep)
{
    long long ms = isfinite(t) && t > 0 ? llround(t * 1000.0) : 0;
    snprintf(buf, len, "%02lld:%02lld:%02lld%c%03lld", ms / 3600000, ms / 60000 % 60,
             ms / 1000 % 60, sep, ms % 1000);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->len + n + 1) * 2;
        o->p = xrealloc(o->p, o->cap);
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

/* Cue text: trimmed, and "-->" (the cue separator) turned into "->" as
 * Whisper's own writers do. */
static void put_cue_text(struct out *o, const char *text)
{
    const char *s = text, *e = text + strlen(text);
    while (is_space(*s))
        s++;
    while (e > s && is_space(e[-1]))
        e--;
    while (s < e) {
        if (e - s >= 3 && memcmp(s, "-->", 3) == 0) {
            put(o, "->", 2);
            s += 3;
        } else {
            put(o, s++, 1);
        }
    }
}

static void put_cue(struct out *o, int number, double start, double end, const char *text, char sep)
{
    char a[32], b[32], line[96];
    timestamp(a, sizeof(a), start, sep);
    timestamp(b, sizeof(b), end, sep);
    if (number > 0) {
        int n = snprintf(line, sizeof(line), "%d\n", number);
        put(o, line, (size_t)n);
    }
    int n = snprintf(line, sizeof(line), "%s --> %s\n", a, b);
    put(o, line, (size_t)n);
    put_cue_text(o, text);
    put(o, "\n\n", 2);
}

/* srt (numbered, ',') or vtt (header, '.'). A transcript without segments
 * but with text gets one cue over its whole duration. */
static char *render_cues(const struct transcript *t, bool vtt)
{
    struct out o = {0};
    put(&o, vtt ? "WEBVTT\n\n" : "", vtt ? 8 : 0);
    for (size_t i = 0; i < t->nsegments; i++)
        put_cue(&o, vtt ? 0 : (int)i + 1, t->segments[i].start, t->segments[i].end,
                t->segments[i].text, vtt ? '.' : ',');
    if (t->nsegments == 0 && t->text[0])
        put_cue(&o, vtt ? 0 : 1, 0, known_duration(t), t->text, vtt ? '.' : ',');
    if (!o.p)
        o.p = xstrdup("");
    return o.p;
}

char *transcript_render(const struct transcript *t, enum transcript_format fmt, size_t *len)
{
    char *s;
    switch (fmt) {
    case TRANSCRIPT_TEXT:
        s = xasprintf("%s\n", t->text);
        break;
    case TRANSCRIPT_SRT:
    case TRANSCRIPT_VTT:
        s = render_cues(t, fmt == TRANSCRIPT_VTT);
        break;
    case TRANSCRIPT_VERBOSE_JSON:
        s = dump(transcript_to_json(t));
        break;
    case TRANSCRIPT_JSON:
    default:
        s = dump(json_pack("{s:s}", "text", t->text));
        break;
    }
    if (len)
        *len = strlen(s);
    return s;
}
