/* test_transcript.c — parsing upstream responses, merging chunks, rendering
 * OpenAI's formats (golden files in tests/audio/golden/; UPDATE_GOLDEN=1
 * rewrites them). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transcript.h"
#include "../check_run.h"

static const char chunk0[] =
    "{\"task\":\"transcribe\",\"language\":\"english\",\"duration\":30.5,"
    "\"text\":\" Hello there.  How are you? \","
    "\"segments\":[{\"id\":0,\"seek\":0,\"start\":0.0,\"end\":2.5,\"text\":\" Hello there.\","
    "\"tokens\":[50364,2425,456,13],\"temperature\":0.0,\"avg_logprob\":-0.25,"
    "\"compression_ratio\":1.1,\"no_speech_prob\":0.01},"
    "{\"id\":1,\"seek\":0,\"start\":2.5,\"end\":4.75,\"text\":\" How are you?\","
    "\"tokens\":[1012,366,291,30],\"temperature\":0.0,\"avg_logprob\":-0.3,"
    "\"compression_ratio\":1.1,\"no_speech_prob\":0.02}],"
    "\"words\":[{\"word\":\"Hello\",\"start\":0.0,\"end\":0.5},"
    "{\"word\":\"there.\",\"start\":0.5,\"end\":1.0}]}";

static const char chunk1[] =
    "{\"task\":\"transcribe\",\"language\":\"english\",\"duration\":20.0,"
    "\"text\":\"I am fine --> thanks.\","
    "\"segments\":[{\"id\":0,\"seek\":0,\"start\":0.3,\"end\":3.1,"
    "\"text\":\" I am fine --> thanks.\",\"avg_logprob\":-0.2,\"no_speech_prob\":0.05}],"
    "\"words\":[{\"word\":\"fine\",\"start\":1.0,\"end\":1.4}]}";

static struct transcript *parse(const char *s)
{
    char err[128];
    struct transcript *t = transcript_from_json(s, strlen(s), err, sizeof(err));
    ck_assert_msg(t != NULL, "parse failed: %s", err);
    return t;
}

static struct transcript *merged_fixture(void)
{
    struct transcript *a = parse(chunk0), *b = parse(chunk1);
    const struct transcript *parts[] = {a, NULL, b};
    const double offsets[] = {0.0, 30.5, 3600.1};
    struct transcript *m = transcript_merge(parts, offsets, 3);
    transcript_free(a);
    transcript_free(b);
    return m;
}

START_TEST(parse_verbose_json)
{
    struct transcript *t = parse(chunk0);
    ck_assert_str_eq(t->task, "transcribe");
    ck_assert_str_eq(t->language, "english");
    ck_assert(fabs(t->duration - 30.5) < 1e-9);
    ck_assert_str_eq(t->text, " Hello there.  How are you? ");
    ck_assert_uint_eq(t->nsegments, 2);
    ck_assert_int_eq(t->segments[1].id, 1);
    ck_assert(fabs(t->segments[1].end - 4.75) < 1e-9);
    ck_assert_int_eq(t->segments[1].seek, 0);
    ck_assert_int_eq(json_array_size(t->segments[0].tokens), 4);
    ck_assert(fabs(t->segments[1].no_speech_prob - 0.02) < 1e-9);
    ck_assert_uint_eq(t->nwords, 2);
    ck_assert_str_eq(t->words[1].word, "there.");
    transcript_free(t);
}
END_TEST

START_TEST(parse_plain_json)
{
    struct transcript *t = parse("{\"text\":\"Just text.\"}");
    ck_assert_str_eq(t->text, "Just text.");
    ck_assert_str_eq(t->task, "transcribe");
    ck_assert_ptr_null(t->language);
    ck_assert(isnan(t->duration));
    ck_assert_uint_eq(t->nsegments, 0);
    ck_assert_uint_eq(t->nwords, 0);
    transcript_free(t);
}
END_TEST

START_TEST(parse_is_robust)
{
    /* Wrong types everywhere: each field is treated as absent. */
    struct transcript *t = parse(
        "{\"text\":5,\"language\":[],\"duration\":\"long\",\"task\":null,"
        "\"segments\":[{\"start\":\"0\",\"end\":1,\"text\":\"bad start\"},"
        "{\"start\":1,\"text\":\" no end \"},"
        "{\"start\":2,\"end\":1,\"text\":\"end before start\"},"
        "{\"start\":3,\"end\":4},"
        "7, null, {\"start\":5,\"end\":6,\"text\":\"ok\",\"seek\":\"x\",\"tokens\":{},"
        "\"avg_logprob\":\"high\"}],"
        "\"words\":[{\"word\":1,\"start\":0},{\"word\":\"w\"},{\"word\":\"ok\",\"start\":1}]}");
    ck_assert_uint_eq(t->nsegments, 3);
    ck_assert(fabs(t->segments[0].end - 1.0) < 1e-9); /* missing end = start */
    ck_assert(fabs(t->segments[1].end - 2.0) < 1e-9);
    ck_assert_int_eq(t->segments[2].id, 2);
    ck_assert_int_eq(t->segments[2].seek, -1);
    ck_assert_ptr_null(t->segments[2].tokens);
    ck_assert(isnan(t->segments[2].avg_logprob));
    ck_assert_str_eq(t->text, "no end end before start ok"); /* rebuilt from segments */
    ck_assert_ptr_null(t->language);
    ck_assert(isnan(t->duration));
    ck_assert_uint_eq(t->nwords, 1);
    transcript_free(t);

    t = parse("{\"segments\":{\"start\":1},\"words\":\"none\"}");
    ck_assert_uint_eq(t->nsegments, 0);
    ck_assert_str_eq(t->text, "");
    transcript_free(t);

    char err[128] = "";
    ck_assert_ptr_null(transcript_from_json("[1,2]", 5, err, sizeof(err)));
    ck_assert_str_ne(err, "");
    ck_assert_ptr_null(transcript_from_json("{\"text\":", 8, err, sizeof(err)));
    ck_assert_ptr_null(transcript_from_json("", 0, NULL, 0));
    ck_assert_ptr_null(transcript_from_json("{\"a\":1,\"a\":2}", 13, err, sizeof(err)));
}
END_TEST

START_TEST(merge_shifts_and_renumbers)
{
    struct transcript *m = merged_fixture();
    ck_assert_uint_eq(m->nsegments, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(m->segments[i].id, (int)i);
    ck_assert(fabs(m->segments[2].start - 3600.4) < 1e-9);
    ck_assert(fabs(m->segments[2].end - 3603.2) < 1e-9);
    ck_assert_int_eq(m->segments[2].seek, 360010);
    ck_assert(fabs(m->segments[2].avg_logprob + 0.2) < 1e-9);
    ck_assert(isnan(m->segments[2].temperature));
    ck_assert_uint_eq(m->nwords, 3);
    ck_assert(fabs(m->words[2].start - 3601.1) < 1e-9);
    ck_assert_str_eq(m->text, "Hello there.  How are you? I am fine --> thanks.");
    ck_assert_str_eq(m->language, "english");
    ck_assert(fabs(m->duration - 3620.1) < 1e-9);
    /* Timestamps stay in order across the seams. */
    for (size_t i = 1; i < m->nsegments; i++)
        ck_assert(m->segments[i].start >= m->segments[i - 1].end);
    transcript_free(m);
}
END_TEST

START_TEST(merge_of_nothing)
{
    struct transcript *m = transcript_merge(NULL, NULL, 0);
    ck_assert_str_eq(m->text, "");
    ck_assert_uint_eq(m->nsegments, 0);
    char *s = transcript_render(m, TRANSCRIPT_TEXT, NULL);
    ck_assert_str_eq(s, "\n");
    free(s);
    s = transcript_render(m, TRANSCRIPT_VTT, NULL);
    ck_assert_str_eq(s, "WEBVTT\n\n");
    free(s);
    s = transcript_render(m, TRANSCRIPT_SRT, NULL);
    ck_assert_str_eq(s, "");
    free(s);
    transcript_free(m);
}
END_TEST

static char *read_golden(const char *name, size_t *len)
{
    const char *dir = getenv("GOLDEN_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/audio/golden", name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *buf = xmalloc(1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void write_golden(const char *name, const char *s, size_t len)
{
    const char *dir = getenv("GOLDEN_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/audio/golden", name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(s, 1, len, f);
    fclose(f);
}

START_TEST(render_goldens)
{
    static const struct {
        enum transcript_format fmt;
        const char *file;
    } cases[] = {
        {TRANSCRIPT_TEXT, "merged.txt"},
        {TRANSCRIPT_JSON, "merged.json"},
        {TRANSCRIPT_VERBOSE_JSON, "merged.verbose.json"},
        {TRANSCRIPT_SRT, "merged.srt"},
        {TRANSCRIPT_VTT, "merged.vtt"},
    };
    struct transcript *m = merged_fixture();
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        size_t len, glen;
        char *s = transcript_render(m, cases[i].fmt, &len);
        ck_assert_uint_eq(len, strlen(s));
        if (getenv("UPDATE_GOLDEN"))
            write_golden(cases[i].file, s, len);
        char *g = read_golden(cases[i].file, &glen);
        ck_assert_msg(glen == len && memcmp(g, s, len) == 0, "%s differs:\n%s", cases[i].file, s);
        free(g);
        free(s);
    }
    transcript_free(m);
}
END_TEST

START_TEST(render_round_trip)
{
    struct transcript *m = merged_fixture();
    char *s = transcript_render(m, TRANSCRIPT_VERBOSE_JSON, NULL);
    struct transcript *t = parse(s);
    ck_assert_uint_eq(t->nsegments, m->nsegments);
    ck_assert_uint_eq(t->nwords, m->nwords);
    ck_assert_str_eq(t->text, m->text);
    ck_assert(fabs(t->segments[2].start - m->segments[2].start) < 1e-9);
    transcript_free(t);
    free(s);
    transcript_free(m);
}
END_TEST

START_TEST(timestamps_round_to_the_millisecond)
{
    struct transcript *t = transcript_new();
    transcript_add_segment(t, 3661.2345, 3661.9996, " a ");
    transcript_add_segment(t, -1, 0.0004, "b");
    char *s = transcript_render(t, TRANSCRIPT_SRT, NULL);
    ck_assert_str_eq(s, "1\n01:01:01,235 --> 01:01:02,000\na\n\n"
                        "2\n00:00:00,000 --> 00:00:00,000\nb\n\n");
    free(s);
    s = transcript_render(t, TRANSCRIPT_VTT, NULL);
    ck_assert_str_eq(s, "WEBVTT\n\n01:01:01.235 --> 01:01:02.000\na\n\n"
                        "00:00:00.000 --> 00:00:00.000\nb\n\n");
    free(s);
    transcript_free(t);
}
END_TEST

START_TEST(text_only_transcript_gets_one_cue)
{
    struct transcript *t = transcript_new();
    transcript_set_text(t, "Only text.");
    t->duration = 4.2;
    char *s = transcript_render(t, TRANSCRIPT_SRT, NULL);
    ck_assert_str_eq(s, "1\n00:00:00,000 --> 00:00:04,200\nOnly text.\n\n");
    free(s);
    transcript_free(t);
}
END_TEST

START_TEST(format_names)
{
    enum transcript_format f;
    ck_assert(transcript_format_parse("verbose_json", &f));
    ck_assert_int_eq(f, TRANSCRIPT_VERBOSE_JSON);
    ck_assert(transcript_format_parse("srt", &f));
    ck_assert_str_eq(transcript_format_name(f), "srt");
    ck_assert(!transcript_format_parse("xml", &f));
    ck_assert_str_eq(transcript_format_content_type(TRANSCRIPT_JSON), "application/json");
    ck_assert_str_eq(transcript_format_content_type(TRANSCRIPT_VTT), "text/plain; charset=utf-8");
}
END_TEST

static Suite *transcript_suite(void)
{
    Suite *s = suite_create("transcript");
    TCase *tc = tcase_create("transcript");
    tcase_add_test(tc, parse_verbose_json);
    tcase_add_test(tc, parse_plain_json);
    tcase_add_test(tc, parse_is_robust);
    tcase_add_test(tc, merge_shifts_and_renumbers);
    tcase_add_test(tc, merge_of_nothing);
    tcase_add_test(tc, render_goldens);
    tcase_add_test(tc, render_round_trip);
    tcase_add_test(tc, timestamps_round_to_the_millisecond);
    tcase_add_test(tc, text_only_transcript_gets_one_cue);
    tcase_add_test(tc, format_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = check_run(transcript_suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
