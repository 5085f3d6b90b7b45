/* tonecode_check.c — compare a verbose_json transcript with the tone layout.
 *
 * Every word found is put in the slot its start time rounds to. A slot with
 * no word is missing, a second word in a slot is doubled, and a word whose
 * symbol is not its slot's (or that is outside the layout, or is not w<n>)
 * is misplaced. Words come from the top-level words[] when present, else from
 * each segment's words[], else from the segment text (word i of a segment
 * starts at segment.start + i × 0.6 s). */
#include "tonecode.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct tally {
    struct tonecode_report *report;
    int *occupancy; /* words per slot, `expected` entries */
    double lead;
};

static void fail(char *err, size_t errlen, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "w<n>" with n in 0..63, surrounding whitespace allowed; -1 otherwise. */
static int parse_token(const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len < 2 || len > 3 || s[0] != 'w')
        return -1;
    int n = 0;
    for (size_t i = 1; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        n = n * 10 + (s[i] - '0');
    }
    if (len == 3 && s[1] == '0')
        return -1;
    return n < TONECODE_ALPHABET ? n : -1;
}

static void record(struct tally *t, double start, int symbol)
{
    struct tonecode_report *r = t->report;
    r->found++;
    if (symbol < 0) {
        r->misplaced++;
        return;
    }
    long slot = tonecode_slot(start, t->lead);
    if (slot < 0 || slot >= r->expected) {
        r->misplaced++;
        return;
    }
    if (symbol != slot % TONECODE_ALPHABET)
        r->misplaced++;
    t->occupancy[slot]++;
}

/* One entry of a words[] array: {"word": "w5", "start": 3.0, "end": 3.4}. */
static void take_word(struct tally *t, json_t *w)
{
    json_t *text = json_object_get(w, "word");
    json_t *start = json_object_get(w, "start");
    if (!json_is_string(text) || !json_is_number(start)) {
        t->report->found++;
        t->report->misplaced++;
        return;
    }
    record(t, json_number_value(start),
           parse_token(json_string_value(text), json_string_length(text)));
}

static void take_words(struct tally *t, json_t *words)
{
    for (size_t i = 0; i < json_array_size(words); i++)
        take_word(t, json_array_get(words, i));
}

/* A segment without words[]: its text is space-separated tokens 0.6 s apart. */
static bool take_segment(struct tally *t, json_t *seg, char *err, size_t errlen)
{
    json_t *words = json_object_get(seg, "words");
    if (json_is_array(words)) {
        take_words(t, words);
        return true;
    }
    json_t *text = json_object_get(seg, "text");
    json_t *start = json_object_get(seg, "start");
    if (!json_is_string(text) || !json_is_number(start)) {
        fail(err, errlen, "segment without a string text and a numeric start");
        return false;
    }
    const char *s = json_string_value(text);
    double t0 = json_number_value(start);
    for (int i = 0;; i++) {
        while (isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        size_t len = 0;
        while (s[len] && !isspace((unsigned char)s[len]))
            len++;
        record(t, t0 + i * TONECODE_PERIOD_SECONDS, parse_token(s, len));
        s += len;
    }
    return true;
}

static bool take_transcript(struct tally *t, json_t *root, char *err, size_t errlen)
{
    if (!json_is_object(root)) {
        fail(err, errlen, "transcript is not a JSON object");
        return false;
    }
    json_t *words = json_object_get(root, "words");
    if (json_is_array(words)) {
        take_words(t, words);
        return true;
    }
    json_t *segments = json_object_get(root, "segments");
    if (!json_is_array(segments)) {
        fail(err, errlen, "transcript has neither segments[] nor words[]");
        return false;
    }
    for (size_t i = 0; i < json_array_size(segments); i++) {
        json_t *seg = json_array_get(segments, i);
        if (!json_is_object(seg) || !take_segment(t, seg, err, errlen))
            return false;
    }
    return true;
}

static void summarize(struct tally *t)
{
    struct tonecode_report *r = t->report;
    for (int i = 0; i < r->expected; i++) {
        if (t->occupancy[i] == 0)
            r->missing++;
        else
            r->doubled += t->occupancy[i] - 1;
    }
}

bool tonecode_check_ex(const char *verbose_json, double duration, double lead_silence,
                       struct tonecode_report *report, char *err, size_t errlen)
{
    memset(report, 0, sizeof(*report));
    report->expected = tonecode_word_count(duration, false);
    if (err && errlen)
        err[0] = '\0';
    json_error_t jerr;
    json_t *root = verbose_json ? json_loads(verbose_json, 0, &jerr) : NULL;
    if (!root) {
        fail(err, errlen, "not JSON: %s", verbose_json ? jerr.text : "no input");
        report->missing = report->expected;
        return false;
    }
    struct tally t = {report, xcalloc((size_t)report->expected + 1, sizeof(int)), lead_silence};
    bool ok = take_transcript(&t, root, err, errlen);
    json_decref(root);
    if (!ok) {
        memset(report, 0, sizeof(*report));
        report->expected = report->missing = tonecode_word_count(duration, false);
    } else {
        summarize(&t);
    }
    free(t.occupancy);
    return ok && report->missing == 0 && report->doubled == 0 && report->misplaced == 0 &&
           report->found == report->expected;
}

bool tonecode_check(const char *verbose_json, double duration, double lead_silence,
                    struct tonecode_report *report)
{
    return tonecode_check_ex(verbose_json, duration, lead_silence, report, NULL, 0);
}
