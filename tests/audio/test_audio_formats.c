/* test_audio_formats.c — the whole audio path on tone-coded files of every
 * format gen-audio writes: probe → scan (sliced) → plan → encode (sliced)
 * → decode each chunk → per-chunk transcripts → merge → tonecode_check.
 *
 * Not every (format, rate, channels, subtype) combination exists; the table
 * covers every format and subtype, rates 8–96 kHz and 1–6 channels, and says
 * why combinations are left out. Files are 12 s of words plus lead/trail
 * silence, so the suite stays fast. */
#include <check.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_encode.h"
#include "audio_plan.h"
#include "audio_probe.h"
#include "audio_scan.h"
#include "audio_testutil.h"
#include "log.h"
#include "tonecode.h"
#include "transcript.h"
#include "../check_run.h"

#define LAYOUT        12.0 /* seconds of words */
#define LEAD          1.5
#define TRAIL         2.0
#define SCAN_BUDGET   3000
#define ENCODE_BUDGET 2500
#define MAX_WORDS     64

struct fcase {
    const char *format;  /* gen-audio name */
    const char *subtype; /* NULL for codecs */
    int rate, channels;
    double noise;
    enum audio_encode_format chunk_format;
};

/* Left out, because the codec cannot do it:
 *  - opus: only 8, 12, 16, 24 and 48 kHz;
 *  - mp3 (LAME): at most 2 channels and 48 kHz;
 *  - flac: no 32-bit integer or float subtypes;
 *  - 8-bit is unsigned in WAV/RF64 and signed in AIFF/FLAC (tonecode picks). */
static const struct fcase cases[] = {
    {"wav", "pcm8", 8000, 1, 0, AUDIO_ENCODE_FLAC},
    {"wav", "pcm16", 16000, 2, 0.001, AUDIO_ENCODE_ORIGINAL},
    {"wav", "pcm16", 22050, 4, 0, AUDIO_ENCODE_WAV},
    {"wav", "pcm24", 44100, 6, 0, AUDIO_ENCODE_FLAC},
    {"wav", "pcm32", 48000, 5, 0, AUDIO_ENCODE_ORIGINAL},
    {"wav", "float", 96000, 3, 0.001, AUDIO_ENCODE_FLAC},
    {"flac", "pcm8", 11025, 1, 0, AUDIO_ENCODE_FLAC},
    {"flac", "pcm16", 44100, 2, 0.001, AUDIO_ENCODE_ORIGINAL}, /* falls back to FLAC */
    {"flac", "pcm24", 96000, 6, 0, AUDIO_ENCODE_WAV},
    {"flac", "pcm16", 8000, 3, 0, AUDIO_ENCODE_FLAC},
    {"ogg", NULL, 22050, 1, 0, AUDIO_ENCODE_FLAC},
    {"ogg", NULL, 44100, 2, 0.001, AUDIO_ENCODE_FLAC},
    {"ogg", NULL, 48000, 6, 0, AUDIO_ENCODE_WAV},
    {"ogg", NULL, 96000, 2, 0, AUDIO_ENCODE_FLAC},
    {"opus", NULL, 8000, 1, 0, AUDIO_ENCODE_FLAC},
    {"opus", NULL, 16000, 2, 0, AUDIO_ENCODE_WAV},
    {"opus", NULL, 24000, 3, 0.001, AUDIO_ENCODE_FLAC},
    {"opus", NULL, 48000, 6, 0, AUDIO_ENCODE_FLAC},
    {"mp3", NULL, 8000, 1, 0, AUDIO_ENCODE_FLAC},
    {"mp3", NULL, 22050, 2, 0, AUDIO_ENCODE_FLAC},
    {"mp3", NULL, 44100, 2, 0.001, AUDIO_ENCODE_ORIGINAL}, /* falls back to FLAC */
    {"mp3", NULL, 48000, 1, 0, AUDIO_ENCODE_WAV},
    {"rf64", "pcm16", 44100, 2, 0, AUDIO_ENCODE_ORIGINAL},
    {"rf64", "float", 16000, 1, 0, AUDIO_ENCODE_FLAC},
    {"rf64", "pcm24", 96000, 6, 0.001, AUDIO_ENCODE_FLAC},
    {"rf64", "pcm8", 32000, 2, 0, AUDIO_ENCODE_ORIGINAL},
    {"aiff", "pcm8", 8000, 2, 0, AUDIO_ENCODE_FLAC},
    {"aiff", "pcm16", 48000, 1, 0, AUDIO_ENCODE_ORIGINAL}, /* falls back to FLAC */
    {"aiff", "pcm24", 22050, 5, 0, AUDIO_ENCODE_WAV},
    {"aiff", "float", 44100, 4, 0.001, AUDIO_ENCODE_FLAC},
};

static bool lossy(const char *format)
{
    return !strcmp(format, "ogg") || !strcmp(format, "opus") || !strcmp(format, "mp3");
}

static char *write_case(const char *dir, const struct fcase *c)
{
    struct tonecode_gen_opts o = {.duration = LAYOUT,
                                  .rate = c->rate,
                                  .channels = c->channels,
                                  .noise_floor = c->noise,
                                  .lead_silence = LEAD,
                                  .trail_silence = TRAIL,
                                  .seed = 42};
    char err[256], name[64];
    ck_assert_msg(tonecode_sf_format(c->format, c->subtype, &o.sf_format, err, sizeof(err)), "%s",
                  err);
    snprintf(name, sizeof(name), "t.%s", c->format);
    char *path = tu_path(dir, name);
    ck_assert_msg(tonecode_write(&o, path, err, sizeof(err)), "%s", err);
    return path;
}

static void check_probe(const struct audio_info *info, const struct fcase *c)
{
    double want = LEAD + LAYOUT + TRAIL;
    ck_assert_int_eq(info->rate, c->rate);
    ck_assert_int_eq(info->channels, c->channels);
    /* Exact to a frame, or within codec padding (encoder delay, last packet). */
    double tol = lossy(c->format) ? 0.15 : 1.0 / c->rate + 1e-9;
    ck_assert_msg(fabs(info->duration - want) <= tol, "duration %f, want %f", info->duration, want);
    ck_assert(info->bitrate > 0);
}

/* Scan in slices; no slice may pass its frame budget. */
static float *scan(const char *path, const struct audio_info *info, size_t *nwin, int64_t *frames)
{
    enum audio_probe_error err;
    struct audio_scan *s = audio_scan_new(path, info, SCAN_BUDGET, &err);
    ck_assert_ptr_nonnull(s);
    enum audio_step st;
    int steps = 0;
    do {
        st = audio_scan_step(s);
        ck_assert_uint_le(audio_scan_last_step_frames(s), SCAN_BUDGET);
        steps++;
    } while (st == AUDIO_STEP_MORE);
    ck_assert_msg(st == AUDIO_STEP_DONE, "scan: %s", audio_scan_error_detail(s));
    *frames = audio_scan_frames(s);
    ck_assert_int_ge(steps, (int)(*frames / SCAN_BUDGET));
    float *e = audio_scan_take_energy(s, nwin);
    ck_assert_uint_eq(*nwin, (size_t)((*frames * 100 + info->rate - 1) / info->rate));
    audio_scan_free(s);
    return e;
}

/* Every cut between two chunks lies in a gap between a word end and the next
 * word start; the first chunk starts after most of the lead silence and the
 * last ends soon after the last word. */
static void check_cuts(const struct audio_plan *pl)
{
    size_t n = audio_plan_count(pl);
    int words = tonecode_word_count(LAYOUT, false);
    double last_end = LEAD + (words - 1) * TONECODE_PERIOD_SECONDS + TONECODE_WORD_SECONDS;
    ck_assert_uint_ge(n, 3);
    const struct audio_chunk *first = audio_plan_chunk(pl, 0), *last = audio_plan_chunk(pl, n - 1);
    ck_assert_msg(first->start_seconds > LEAD - 0.25 && first->start_seconds < LEAD,
                  "first chunk starts at %f", first->start_seconds);
    double end = last->start_seconds + last->duration;
    ck_assert_msg(end > last_end && end < last_end + 0.25, "last chunk ends at %f", end);
    for (size_t i = 1; i < n; i++) {
        const struct audio_chunk *c = audio_plan_chunk(pl, i), *p = audio_plan_chunk(pl, i - 1);
        ck_assert_int_eq(c->start_frame, p->end_frame);
        double rel = c->start_seconds - LEAD;
        double pos = rel - floor(rel / TONECODE_PERIOD_SECONDS) * TONECODE_PERIOD_SECONDS;
        ck_assert_msg(pos >= TONECODE_WORD_SECONDS && pos <= TONECODE_PERIOD_SECONDS,
                      "cut %zu at %f s is inside a word (%.3f into its period)", i,
                      c->start_seconds, pos);
    }
}

static unsigned char *encode(const char *path, const struct audio_chunk *c,
                             enum audio_encode_format fmt, size_t *len, const char **type,
                             enum audio_encode_format *used)
{
    enum audio_probe_error err;
    struct audio_encode *e =
        audio_encode_new(path, c->start_frame, c->end_frame, fmt, ENCODE_BUDGET, &err);
    ck_assert_ptr_nonnull(e);
    enum audio_step st;
    do {
        st = audio_encode_step(e);
        ck_assert_uint_le(audio_encode_last_step_frames(e), ENCODE_BUDGET);
    } while (st == AUDIO_STEP_MORE);
    ck_assert_msg(st == AUDIO_STEP_DONE, "encode: %s", audio_encode_error_detail(e));
    *type = audio_encode_content_type(e);
    *used = audio_encode_format_used(e);
    unsigned char *bytes = audio_encode_take(e, len);
    ck_assert_ptr_nonnull(bytes);
    audio_encode_free(e);
    return bytes;
}

/* The chunk decodes to the right rate, channels and length; its tone words,
 * shifted by the chunk start, become the chunk's transcript. */
static struct transcript *chunk_transcript(const unsigned char *bytes, size_t len,
                                           const struct audio_chunk *c, const struct fcase *fc,
                                           enum audio_encode_format used, const char *type)
{
    struct tu_audio a;
    ck_assert(tu_decode(bytes, len, &a));
    if (used == AUDIO_ENCODE_ORIGINAL) {
        ck_assert_int_eq(a.rate, fc->rate);
        ck_assert_int_eq(a.channels, fc->channels);
        ck_assert_int_eq(a.frames, c->end_frame - c->start_frame);
        ck_assert_str_eq(type, "audio/wav");
    } else {
        ck_assert_int_eq(a.rate, AUDIO_ENCODE_RATE);
        ck_assert_int_eq(a.channels, 1);
        ck_assert_msg(fabs((double)a.frames / AUDIO_ENCODE_RATE - c->duration) < 0.002,
                      "chunk of %f s decodes to %f s", c->duration,
                      (double)a.frames / AUDIO_ENCODE_RATE);
        ck_assert_str_eq(type, used == AUDIO_ENCODE_FLAC ? "audio/flac" : "audio/wav");
        ck_assert_int_eq(a.format & SF_FORMAT_TYPEMASK,
                         used == AUDIO_ENCODE_FLAC ? SF_FORMAT_FLAC : SF_FORMAT_WAV);
    }
    struct tonecode_word w[MAX_WORDS];
    size_t n = tonecode_decode(a.mono, (size_t)a.frames, a.rate, w, MAX_WORDS);
    struct transcript *t = transcript_new();
    char *text = NULL;
    for (size_t i = 0; i < n && i < MAX_WORDS; i++) {
        char word[8];
        snprintf(word, sizeof(word), "w%d", w[i].symbol);
        transcript_add_segment(t, w[i].start, w[i].end, word);
        transcript_add_word(t, word, w[i].start, w[i].end);
        char *more = xasprintf("%s %s", text ? text : "", word);
        free(text);
        text = more;
    }
    transcript_set_text(t, text ? text : "");
    free(text);
    free(a.mono);
    return t;
}

static void run_case(const struct fcase *fc)
{
    char *dir = tu_tmpdir();
    char *path = write_case(dir, fc);
    struct audio_info info;
    char detail[256];
    ck_assert_msg(audio_probe(path, &info, detail, sizeof(detail)) == AUDIO_PROBE_OK, "%s", detail);
    check_probe(&info, fc);

    size_t nwin;
    int64_t frames;
    float *energy = scan(path, &info, &nwin, &frames);
    struct audio_plan_params p;
    audio_plan_params_default(&p);
    p.concurrency = 8;
    p.min_chunk_seconds = 1.0;
    p.max_chunk_seconds = 4;
    p.search_window_seconds = 0.8;
    p.encoded_bytes_per_second = audio_encode_bytes_per_second(fc->chunk_format, &info);
    struct audio_plan *pl = audio_plan_new(energy, nwin, info.rate, frames, &p, "test=formats");
    check_cuts(pl);

    size_t n = audio_plan_count(pl);
    struct transcript **parts = xcalloc(n, sizeof(*parts));
    double *offsets = xcalloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        const struct audio_chunk *c = audio_plan_chunk(pl, i);
        size_t len;
        const char *type;
        enum audio_encode_format used;
        unsigned char *bytes = encode(path, c, fc->chunk_format, &len, &type, &used);
        ck_assert(used == fc->chunk_format ||
                  (fc->chunk_format == AUDIO_ENCODE_ORIGINAL && used == AUDIO_ENCODE_FLAC &&
                   !audio_encode_original_allowed(&info)));
        parts[i] = chunk_transcript(bytes, len, c, fc, used, type);
        offsets[i] = c->start_seconds;
        free(bytes);
    }
    struct transcript *m = transcript_merge((const struct transcript *const *)parts, offsets, n);
    char *json = transcript_render(m, TRANSCRIPT_VERBOSE_JSON, NULL);
    struct tonecode_report r;
    char err[256];
    bool ok = tonecode_check_ex(json, LAYOUT, LEAD, &r, err, sizeof(err));
    ck_assert_msg(ok,
                  "%s %s %d Hz %d ch: expected %d found %d missing %d doubled %d misplaced %d %s",
                  fc->format, fc->subtype ? fc->subtype : "", fc->rate, fc->channels, r.expected,
                  r.found, r.missing, r.doubled, r.misplaced, err);
    free(json);
    transcript_free(m);
    for (size_t i = 0; i < n; i++)
        transcript_free(parts[i]);
    free(parts);
    free(offsets);
    audio_plan_free(pl);
    free(path);
    tu_rmdir(dir);
}

START_TEST(format_case)
{
    run_case(&cases[_i]);
}
END_TEST

static Suite *formats_suite(void)
{
    Suite *s = suite_create("audio_formats");
    TCase *tc = tcase_create("formats");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, format_case, 0, (int)ARRAY_LEN(cases));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    log_set_level(getenv("PLAN_LOG") ? LOG_INFO : LOG_WARN);
    int failed = check_run(formats_suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
