/* transcript.h — the transcript data model shared by the upstream client and
 * the API: parsing an upstream (OpenAI/Whisper) response, merging chunk
 * results into one transcript (FR-2.3), and rendering OpenAI's output
 * formats byte for byte.
 *
 * All strings are UTF-8 and owned by the transcript that holds them. */
#ifndef STENO_TRANSCRIPT_H
#define STENO_TRANSCRIPT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

struct transcript_word {
    char *word;
    double start, end; /* seconds */
};

/* Optional numeric fields are NAN when the upstream did not send them. */
struct transcript_segment {
    int id;
    int64_t seek; /* -1 when absent */
    double start, end;
    char *text;     /* as sent, usually with a leading space */
    json_t *tokens; /* array of token ids, or NULL; owned (one reference) */
    double temperature;
    double avg_logprob;
    double compression_ratio;
    double no_speech_prob;
};

struct transcript {
    char *task;      /* "transcribe" unless the upstream said otherwise */
    char *language;  /* NULL when unknown */
    double duration; /* seconds of audio; NAN when unknown */
    char *text;      /* never NULL */
    struct transcript_segment *segments;
    size_t nsegments;
    struct transcript_word *words;
    size_t nwords;
};

enum transcript_format {
    TRANSCRIPT_JSON = 0,
    TRANSCRIPT_TEXT,
    TRANSCRIPT_SRT,
    TRANSCRIPT_VTT,
    TRANSCRIPT_VERBOSE_JSON,
};

/* An empty transcript (text "", task "transcribe"). Free with transcript_free. */
struct transcript *transcript_new(void);
void transcript_free(struct transcript *t);

/* Builders: copy the strings given. Segment ids are assigned in order. */
void transcript_set_text(struct transcript *t, const char *text);
void transcript_set_language(struct transcript *t, const char *language);
struct transcript_segment *transcript_add_segment(struct transcript *t, double start, double end,
                                                  const char *text);
void transcript_add_word(struct transcript *t, const char *word, double start, double end);

/* Parse an OpenAI/Whisper transcription response (response_format json or
 * verbose_json). Robust to missing fields and wrong types: such fields are
 * treated as absent; segments without a usable start/end or text are
 * dropped; a missing top-level text is rebuilt from the segments. Returns
 * NULL, with a message in err, only when the input is not a JSON object. */
struct transcript *transcript_from_json(const char *data, size_t len, char *err,
                                        size_t errlen) MUST_CHECK;

/* Merge chunk results (FR-2.3): parts[i] is the transcript of chunk i, which
 * starts offsets[i] seconds into the file. Segments and words are taken in
 * chunk order with timestamps shifted by the offset (rounded to the
 * millisecond), segment ids renumbered from 0, seek shifted too; texts are
 * trimmed and joined with single spaces. NULL parts count as empty. duration
 * is the end of the last part (offset + its duration or last end) — the
 * caller may set the file's real duration afterwards. Returns a new
 * transcript; the parts are not modified. */
struct transcript *transcript_merge(const struct transcript *const *parts, const double *offsets,
                                    size_t n);

/* "json" | "text" | "srt" | "vtt" | "verbose_json". */
bool transcript_format_parse(const char *name, enum transcript_format *out) MUST_CHECK;
const char *transcript_format_name(enum transcript_format fmt);
/* "application/json" for the JSON formats, "text/plain; charset=utf-8" else. */
const char *transcript_format_content_type(enum transcript_format fmt);

/* Render as OpenAI does:
 *   text          the text + "\n"
 *   json          {"text": …} (2-space indented)
 *   verbose_json  task, language, duration, text, segments[], words[] when present
 *   srt           "1\nHH:MM:SS,mmm --> HH:MM:SS,mmm\ntext\n\n" per segment
 *   vtt           "WEBVTT\n\n" then "HH:MM:SS.mmm --> HH:MM:SS.mmm\ntext\n\n"
 * Returns a NUL-terminated heap string the caller frees; *len (if non-NULL)
 * gets its length. */
char *transcript_render(const struct transcript *t, enum transcript_format fmt,
                        size_t *len) MUST_CHECK;

/* The verbose_json object (new reference), for storage or embedding. */
json_t *transcript_to_json(const struct transcript *t);

#endif
