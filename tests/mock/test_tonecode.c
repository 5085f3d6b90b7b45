/* test_tonecode.c — tools/tonecode: layout arithmetic, format names, decoder
 * robustness (noise, resampling, lossy codecs, words cut at buffer edges,
 * no-pause audio, streaming), size_bytes mode, and the transcript checker. */
#include <check.h>
#include <math.h>
#include <samplerate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "tonecode_util.h"
#include "../check_run.h"

/* ---- helpers ---- */

struct audio {
    float *mono;
    size_t frames;
    int rate;
};

/* Generate with `o`, read back, optionally resample to `to_rate`. */
static struct audio make_audio(const char *format, struct tonecode_gen_opts o, int to_rate)
{
    char err[256];
    ck_assert_msg(tonecode_sf_format(format, NULL, &o.sf_format, err, sizeof(err)), "%s", err);
    char *path = tc_tmp_path(format);
    ck_assert_msg(tonecode_write(&o, path, err, sizeof(err)), "%s", err);
    SF_INFO info;
    struct audio a;
    a.mono = tc_read_mono(path, &info, &a.frames);
    a.rate = info.samplerate;
    unlink(path);
    free(path);
    if (to_rate && to_rate != a.rate) {
        double ratio = (double)to_rate / a.rate;
        size_t out_frames = (size_t)(a.frames * ratio) + 16;
        float *out = xmalloc(out_frames * sizeof(float));
        SRC_DATA d = {.data_in = a.mono,
                      .data_out = out,
                      .input_frames = (long)a.frames,
                      .output_frames = (long)out_frames,
                      .src_ratio = ratio};
        ck_assert_int_eq(src_simple(&d, SRC_SINC_FASTEST, 1), 0);
        free(a.mono);
        a.mono = out;
        a.frames = (size_t)d.output_frames_gen;
        a.rate = to_rate;
    }
    return a;
}

static struct tonecode_gen_opts opts(double duration, int rate, int channels)
{
    return (struct tonecode_gen_opts){
        .duration = duration, .rate = rate, .channels = channels, .seed = 7};
}

/* ---- layout ---- */

START_TEST(test_layout)
{
    ck_assert(tonecode_freq(0) == 300.0);
    ck_assert(tonecode_freq(63) == 300.0 + 40.0 * 63);
    ck_assert(tonecode_freq(64) == 300.0);
    ck_assert(tonecode_freq(-1) == tonecode_freq(63));
    ck_assert_int_eq(tonecode_word_count(0, false), 0);
    ck_assert_int_eq(tonecode_word_count(0.39, false), 0);
    ck_assert_int_eq(tonecode_word_count(0.4, false), 1);
    ck_assert_int_eq(tonecode_word_count(0.99, false), 1);
    ck_assert_int_eq(tonecode_word_count(1.0, false), 2);
    ck_assert_int_eq(tonecode_word_count(6.0, false), 10);
    ck_assert_int_eq(tonecode_word_count(6.0, true), 10);
    ck_assert_int_eq(tonecode_word_count(0.6 * 100 + 0.4, false), 101);
    ck_assert_int_eq(tonecode_slot(0.0, 0.0), 0);
    ck_assert_int_eq(tonecode_slot(1.79, 0.0), 3);
    ck_assert_int_eq(tonecode_slot(2.3, 0.5), 3);
    ck_assert_int_eq(tonecode_slot(0.1, 0.5), -1);
}
END_TEST

START_TEST(test_format_names)
{
    int f;
    char err[128];
    ck_assert(tonecode_sf_format("wav", NULL, &f, err, sizeof(err)));
    ck_assert_int_eq(f, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    ck_assert(tonecode_sf_format("wav", "pcm8", &f, err, sizeof(err)));
    ck_assert_int_eq(f, SF_FORMAT_WAV | SF_FORMAT_PCM_U8);
    ck_assert(tonecode_sf_format("aiff", "pcm8", &f, err, sizeof(err)));
    ck_assert_int_eq(f, SF_FORMAT_AIFF | SF_FORMAT_PCM_S8);
    ck_assert(tonecode_sf_format("rf64", "float", &f, err, sizeof(err)));
    ck_assert_int_eq(f, SF_FORMAT_RF64 | SF_FORMAT_FLOAT);
    ck_assert(tonecode_sf_format("opus", NULL, &f, err, sizeof(err)));
    ck_assert_int_eq(f, SF_FORMAT_OGG | SF_FORMAT_OPUS);
    ck_assert(tonecode_sf_format("mp3", NULL, &f, err, sizeof(err)));
    ck_assert_int_eq(f, SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III);
    ck_assert(!tonecode_sf_format("ogg", "pcm16", &f, err, sizeof(err)));
    ck_assert(!tonecode_sf_format("flac", "float", &f, err, sizeof(err)));
    ck_assert(!tonecode_sf_format("flac", "pcm32", &f, err, sizeof(err)));
    ck_assert(!tonecode_sf_format("wma", NULL, &f, err, sizeof(err)));
    ck_assert(strstr(err, "wma") != NULL);
    ck_assert(!tonecode_sf_format("wav", "pcm12", &f, err, sizeof(err)));
    ck_assert(tonecode_is_pcm(SF_FORMAT_AIFF | SF_FORMAT_PCM_24));
    ck_assert(!tonecode_is_pcm(SF_FORMAT_FLAC | SF_FORMAT_PCM_16));
    ck_assert(!tonecode_is_pcm(SF_FORMAT_OGG | SF_FORMAT_VORBIS));
}
END_TEST

START_TEST(test_write_errors)
{
    char err[256];
    char *path = tc_tmp_path("opus");
    struct tonecode_gen_opts o = opts(2, 44100, 1);
    o.sf_format = SF_FORMAT_OGG | SF_FORMAT_OPUS;
    ck_assert(!tonecode_write(&o, path, err, sizeof(err)));
    ck_assert(access(path, F_OK) != 0); /* nothing partial left */
    o = opts(2, 16000, 0);
    o.sf_format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    ck_assert(!tonecode_write(&o, path, err, sizeof(err)));
    o = opts(2, 4000, 1);
    o.sf_format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    ck_assert(!tonecode_write(&o, path, err, sizeof(err)));
    o = opts(0, 16000, 1);
    o.sf_format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    ck_assert(!tonecode_write(&o, path, err, sizeof(err)));
    ck_assert(!tonecode_write(&o, "/nonexistent/dir/x.wav", err, sizeof(err)));
    free(path);
}
END_TEST

/* ---- decoder ---- */

START_TEST(test_silence_and_noise)
{
    struct tonecode_word w[8];
    float *buf = xcalloc(16000 * 3, sizeof(float));
    ck_assert_uint_eq(tonecode_decode(buf, 16000 * 3, 16000, w, 8), 0);
    unsigned x = 1;
    for (size_t i = 0; i < 16000 * 3; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (float)((x >> 8) / 8388608.0 - 1.0) * 0.3f;
    }
    ck_assert_uint_eq(tonecode_decode(buf, 16000 * 3, 16000, w, 8), 0);
    ck_assert_uint_eq(tonecode_decode(buf, 16000 * 3, 7999, w, 8), 0);
    ck_assert_ptr_null(tonecode_decoder_new(4000));
    ck_assert_uint_eq(tonecode_decode(buf, 0, 16000, w, 8), 0);
    free(buf);
}
END_TEST

static const double noise_levels[] = {0.05, 0.2, 0.3};

START_TEST(test_noise_floor)
{
    struct tonecode_gen_opts o = opts(9, 16000, 1);
    o.noise_floor = noise_levels[_i];
    o.lead_silence = 0.3;
    struct audio a = make_audio("wav", o, 0);
    tc_expect_exact("noise wav", a.mono, a.frames, a.rate, 9, 0.3, 0.03);
    free(a.mono);
    o.rate = 44100;
    o.channels = 2;
    a = make_audio("mp3", o, 16000);
    tc_expect_exact("noise mp3 → 16 kHz", a.mono, a.frames, a.rate, 9, 0.3, 0.04);
    free(a.mono);
}
END_TEST

struct lossy_case {
    const char *format;
    int rate;
    int channels;
};

static const struct lossy_case lossy[] = {
    {"flac", 44100, 2}, {"ogg", 44100, 2}, {"opus", 48000, 2}, {"mp3", 44100, 2},
    {"wav", 96000, 6},  {"opus", 8000, 1}, {"mp3", 8000, 1},   {"ogg", 8000, 1},
};

/* The pipeline stenod runs before upload: codec → downmix → 16 kHz. */
START_TEST(test_resampled_lossy)
{
    const struct lossy_case *c = &lossy[_i];
    struct tonecode_gen_opts o = opts(9, c->rate, c->channels);
    o.lead_silence = 0.45;
    o.noise_floor = 0.01;
    struct audio a = make_audio(c->format, o, 16000);
    char what[64];
    snprintf(what, sizeof(what), "%s %d Hz → 16 kHz", c->format, c->rate);
    tc_expect_exact(what, a.mono, a.frames, a.rate, 9, 0.45, 0.04);
    free(a.mono);
}
END_TEST

static const struct lossy_case no_pause_cases[] = {
    {"wav", 16000, 1},
    {"ogg", 44100, 2},
    {"opus", 48000, 1},
    {"mp3", 16000, 1},
};

START_TEST(test_no_pauses)
{
    const struct lossy_case *c = &no_pause_cases[_i];
    struct tonecode_gen_opts o = opts(9.3, c->rate, c->channels);
    o.no_pauses = true;
    o.lead_silence = 0.2;
    struct audio a = make_audio(c->format, o, 0);
    size_t n = tc_expect_exact(c->format, a.mono, a.frames, a.rate, 9.3, 0.2, 0.04);
    struct tonecode_word w[32];
    ck_assert_uint_eq(tonecode_decode(a.mono, a.frames, a.rate, w, 32), n);
    for (size_t i = 0; i + 1 < n; i++) {
        ck_assert_msg(fabs(w[i].end - w[i + 1].start) < 0.04, "%s: gap %.3f..%.3f", c->format,
                      w[i].end, w[i + 1].start);
        ck_assert(w[i].end - w[i].start > 0.5);
    }
    /* Continuous audio: no 10 ms window inside the layout is quiet. */
    size_t win = (size_t)a.rate / 100;
    size_t from = (size_t)(0.25 * a.rate), to = (size_t)((0.2 + 9.0) * a.rate) - win;
    for (size_t s = from; s < to; s += win / 2) {
        double e = 0;
        for (size_t i = s; i < s + win; i++)
            e += (double)a.mono[i] * a.mono[i];
        ck_assert_msg(sqrt(e / win) > 0.1, "%s: quiet window at %.3f s", c->format,
                      (double)s / a.rate);
    }
    free(a.mono);
}
END_TEST

/* Cut the buffer inside word 0 (start) or the last word (end): a visible
 * part <= 0.15 s must not be reported, >= 0.25 s must be, with the right
 * symbol, and every whole word must be there. */
static void check_edges(const char *what, const struct audio *a)
{
    const int words = 10; /* 6 s layout, no lead */
    struct tonecode_word w[32];
    for (int ms = 0; ms <= 600; ms += 10) {
        size_t cut = (size_t)(ms / 1000.0 * a->rate);
        size_t n = tonecode_decode(a->mono + cut, a->frames - cut, a->rate, w, 32);
        double visible = 0.4 - ms / 1000.0;
        int whole = ms == 0 ? words : words - 1;
        if (visible >= 0.25) {
            ck_assert_msg(n == (size_t)whole + (ms > 0) && w[0].symbol == 0 && w[0].start < 0.03,
                          "%s: start cut %d ms: %zu words, first w%d at %.3f", what, ms, n,
                          w[0].symbol, w[0].start);
        } else if (visible <= 0.15) {
            ck_assert_msg(n == (size_t)whole && w[0].symbol == 1,
                          "%s: start cut %d ms: %zu words, first w%d", what, ms, n, w[0].symbol);
        }
        double end_visible = ms / 1000.0 - 0.0; /* of word 9 at 5.4 s */
        size_t end = (size_t)((5.4 + ms / 1000.0) * a->rate);
        n = tonecode_decode(a->mono, end, a->rate, w, 32);
        if (end_visible >= 0.25)
            ck_assert_msg(n == (size_t)words && w[n - 1].symbol == 9,
                          "%s: end cut +%d ms: %zu words", what, ms, n);
        else if (end_visible <= 0.15)
            ck_assert_msg(n == (size_t)words - 1 && w[n - 1].symbol == 8,
                          "%s: end cut +%d ms: %zu words", what, ms, n);
    }
}

static const struct lossy_case edge_cases[] = {
    {"wav", 16000, 1},
    {"flac", 8000, 1},
    {"opus", 48000, 2},
    {"mp3", 44100, 2},
};

START_TEST(test_chunk_edges)
{
    const struct lossy_case *c = &edge_cases[_i];
    struct tonecode_gen_opts o = opts(6, c->rate, c->channels);
    o.noise_floor = 0.01;
    struct audio a = make_audio(c->format, o, 16000);
    check_edges(c->format, &a);
    free(a.mono);
}
END_TEST

START_TEST(test_streaming_split)
{
    struct tonecode_gen_opts o = opts(8, 44100, 1);
    o.lead_silence = 0.37;
    struct audio a = make_audio("wav", o, 0);
    struct tonecode_word ref[32], got[32];
    size_t n = tonecode_decode(a.mono, a.frames, a.rate, ref, 32);
    ck_assert_uint_eq(n, 13);
    struct tonecode_decoder *d = tonecode_decoder_new(a.rate);
    ck_assert_ptr_nonnull(d);
    unsigned x = 42;
    for (size_t off = 0; off < a.frames;) {
        x = x * 1103515245u + 12345u;
        size_t piece = 1 + (x >> 16) % 3000;
        if (piece > a.frames - off)
            piece = a.frames - off;
        tonecode_decoder_feed(d, a.mono + off, piece);
        off += piece;
    }
    ck_assert_uint_eq(tonecode_decoder_finish(d, got, 4), n); /* counts past max */
    tonecode_decoder_free(d);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(got[i].symbol, ref[i].symbol);
        ck_assert(fabs(got[i].start - ref[i].start) < 1e-6);
        ck_assert(fabs(got[i].end - ref[i].end) < 1e-6);
    }
    free(a.mono);
}
END_TEST

START_TEST(test_symbols_wrap)
{
    /* 70 words: symbols wrap from 63 to 0 and every frequency is decoded. */
    struct tonecode_gen_opts o = opts(0.6 * 69 + 0.4, 16000, 1);
    struct audio a = make_audio("flac", o, 0);
    size_t n = tc_expect_exact("70 words", a.mono, a.frames, a.rate, o.duration, 0, 0.02);
    ck_assert_uint_eq(n, 70);
    free(a.mono);
}
END_TEST

/* ---- size_bytes mode ---- */

static long long file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return (long long)st.st_size;
}

struct size_case {
    const char *format;
    const char *subtype;
    int channels;
    long long bytes;
};

static const struct size_case pcm_sizes[] = {
    {"wav", "pcm16", 1, 100000},  {"wav", "pcm16", 2, 100001}, {"wav", "pcm8", 1, 64001},
    {"wav", "pcm8", 1, 64000},    {"wav", "pcm24", 6, 300000}, {"wav", "float", 2, 123457},
    {"rf64", "pcm16", 1, 100000}, {"rf64", "pcm8", 1, 99999},  {"aiff", "pcm16", 2, 250000},
    {"aiff", "pcm8", 1, 77777},   {"aiff", "pcm32", 1, 90000}, {"aiff", "float", 6, 500000},
};

START_TEST(test_size_pcm)
{
    const struct size_case *c = &pcm_sizes[_i];
    struct tonecode_gen_opts o = {.size_bytes = c->bytes,
                                  .rate = 16000,
                                  .channels = c->channels,
                                  .lead_silence = 0.2,
                                  .trail_silence = 0.1};
    char err[256];
    ck_assert(tonecode_sf_format(c->format, c->subtype, &o.sf_format, err, sizeof(err)));
    double duration;
    ck_assert_msg(tonecode_plan_duration(&o, &duration, err, sizeof(err)), "%s", err);
    char *path = tc_tmp_path(c->format);
    ck_assert_msg(tonecode_write(&o, path, err, sizeof(err)), "%s", err);
    long long size = file_size(path);
    int bpf = c->channels * (strcmp(c->subtype, "pcm8") == 0    ? 1
                             : strcmp(c->subtype, "pcm16") == 0 ? 2
                             : strcmp(c->subtype, "pcm24") == 0 ? 3
                                                                : 4);
    ck_assert_msg(size <= c->bytes && size > c->bytes - bpf - 1,
                  "%s %s: asked %lld bytes, got %lld", c->format, c->subtype, c->bytes, size);
    SF_INFO info;
    size_t frames;
    float *mono = tc_read_mono(path, &info, &frames);
    ck_assert(fabs((double)frames / 16000 - (duration + 0.3)) < 1e-9);
    tc_expect_exact("size", mono, frames, 16000, duration, 0.2, 0.03);
    free(mono);
    unlink(path);
    free(path);
}
END_TEST

static const struct size_case coded_sizes[] = {
    {"flac", NULL, 1, 150000},
    {"ogg", NULL, 2, 60000},
    {"opus", NULL, 1, 80000},
    {"mp3", NULL, 2, 120000},
};

START_TEST(test_size_coded)
{
    const struct size_case *c = &coded_sizes[_i];
    struct tonecode_gen_opts o = {
        .size_bytes = c->bytes, .rate = 48000, .channels = c->channels, .noise_floor = 0.01};
    char err[256];
    ck_assert(tonecode_sf_format(c->format, NULL, &o.sf_format, err, sizeof(err)));
    char *path = tc_tmp_path(c->format);
    ck_assert_msg(tonecode_write(&o, path, err, sizeof(err)), "%s", err);
    long long size = file_size(path);
    ck_assert_msg(size > c->bytes * 0.85 && size < c->bytes * 1.15, "%s: asked %lld, got %lld",
                  c->format, c->bytes, size);
    unlink(path);
    free(path);
    o.size_bytes = 10;
    double d;
    ck_assert(!tonecode_plan_duration(&o, &d, err, sizeof(err)));
}
END_TEST

/* ---- checker ---- */

static bool check(const char *json, double duration, double lead, struct tonecode_report *r)
{
    return tonecode_check(json, duration, lead, r);
}

#define W(sym, t) "{\"word\":\"w" #sym "\",\"start\":" #t ",\"end\":" #t "}"

START_TEST(test_check_exact_forms)
{
    struct tonecode_report r;
    /* words[] */
    ck_assert(check("{\"segments\":[],\"words\":[" W(0, 0.0) "," W(1, 0.61) "," W(2, 1.19) "]}",
                    1.6, 0, &r));
    ck_assert_int_eq(r.expected, 3);
    ck_assert_int_eq(r.found, 3);
    /* segments only, several words per segment, with lead */
    ck_assert(check("{\"segments\":[{\"start\":1.0,\"end\":2.0,\"text\":\" w0 w1\"},"
                    "{\"start\":2.2,\"end\":2.6,\"text\":\"w2  \"}]}",
                    1.6, 1.0, &r));
    /* words inside segments */
    ck_assert(check("{\"segments\":[{\"start\":0,\"end\":1,\"text\":\"x\",\"words\":[" W(
                        0, 0.02) "," W(1, 0.6) "]}]}",
                    1.0, 0, &r));
    /* silence */
    ck_assert(check("{\"text\":\"\",\"segments\":[]}", 0.3, 0, &r));
    ck_assert_int_eq(r.expected, 0);
    /* wrap-around: slot 64 reads w0 */
    char json[256];
    snprintf(json, sizeof(json), "{\"segments\":[{\"start\":%.2f,\"end\":0,\"text\":\"w63 w0\"}]}",
             63 * 0.6);
    ck_assert(!check(json, 64 * 0.6 + 0.4, 0, &r));
    ck_assert_int_eq(r.missing, 63);
    ck_assert_int_eq(r.misplaced, 0);
}
END_TEST

START_TEST(test_check_errors)
{
    struct tonecode_report r;
    /* missing w1 */
    ck_assert(!check("{\"words\":[" W(0, 0.0) "," W(2, 1.2) "]}", 1.6, 0, &r));
    ck_assert_int_eq(r.missing, 1);
    ck_assert_int_eq(r.doubled, 0);
    ck_assert_int_eq(r.misplaced, 0);
    ck_assert_int_eq(r.found, 2);
    /* doubled w1 (a seam repeated a word) */
    ck_assert(!check("{\"words\":[" W(0, 0.0) "," W(1, 0.6) "," W(1, 0.64) "," W(2, 1.2) "]}", 1.6,
                     0, &r));
    ck_assert_int_eq(r.doubled, 1);
    ck_assert_int_eq(r.missing, 0);
    ck_assert_int_eq(r.misplaced, 0);
    ck_assert_int_eq(r.found, 4);
    /* misplaced: right words, one offset by a period */
    ck_assert(!check("{\"words\":[" W(0, 0.0) "," W(1, 1.2) "," W(2, 1.8) "]}", 2.2, 0, &r));
    ck_assert_int_eq(r.misplaced, 2); /* w1 in slot 2, w2 in slot 3 */
    ck_assert_int_eq(r.missing, 1);
    /* misplaced: wrong symbol in its slot */
    ck_assert(!check("{\"words\":[" W(0, 0.0) "," W(5, 0.6) "]}", 1.0, 0, &r));
    ck_assert_int_eq(r.misplaced, 1);
    ck_assert_int_eq(r.missing, 0);
    /* a word past the layout, a bad token, a negative slot */
    ck_assert(!check("{\"segments\":[{\"start\":0,\"end\":1,\"text\":\"w0 hello\"},"
                     "{\"start\":-1,\"end\":0,\"text\":\"w63\"},"
                     "{\"start\":9,\"end\":9.4,\"text\":\"w15\"}]}",
                     0.4, 0, &r));
    ck_assert_int_eq(r.found, 4);
    ck_assert_int_eq(r.misplaced, 3);
    ck_assert_int_eq(r.missing, 0);
    /* tokens that look close but are not w<n> */
    ck_assert(!check("{\"words\":[{\"word\":\"w64\",\"start\":0}]}", 0.4, 0, &r));
    ck_assert(!check("{\"words\":[{\"word\":\"W0\",\"start\":0}]}", 0.4, 0, &r));
    ck_assert(!check("{\"words\":[{\"word\":\"w00\",\"start\":0}]}", 0.4, 0, &r));
    ck_assert(!check("{\"words\":[{\"word\":\"w0\"}]}", 0.4, 0, &r));
    ck_assert(check("{\"words\":[{\"word\":\" w0 \",\"start\":0}]}", 0.4, 0, &r));
}
END_TEST

START_TEST(test_check_unusable)
{
    struct tonecode_report r;
    char err[128];
    ck_assert(!tonecode_check_ex("not json", 1.0, 0, &r, err, sizeof(err)));
    ck_assert(strstr(err, "JSON") != NULL);
    ck_assert_int_eq(r.missing, 2);
    ck_assert(!tonecode_check_ex("{\"text\":\"w0 w1\"}", 1.0, 0, &r, err, sizeof(err)));
    ck_assert(strstr(err, "segments") != NULL);
    ck_assert(!tonecode_check_ex("[1,2]", 1.0, 0, &r, err, sizeof(err)));
    ck_assert(
        !tonecode_check_ex("{\"segments\":[{\"text\":\"w0\"}]}", 1.0, 0, &r, err, sizeof(err)));
    ck_assert_int_eq(r.missing, 2);
    ck_assert_int_eq(r.found, 0);
    ck_assert(!tonecode_check(NULL, 1.0, 0, &r));
}
END_TEST

static Suite *tonecode_suite(void)
{
    Suite *s = suite_create("tonecode");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_format_names);
    tcase_add_test(tc, test_write_errors);
    tcase_add_test(tc, test_silence_and_noise);
    tcase_add_loop_test(tc, test_noise_floor, 0, 3);
    tcase_add_loop_test(tc, test_resampled_lossy, 0, (int)(sizeof(lossy) / sizeof(lossy[0])));
    tcase_add_loop_test(tc, test_no_pauses, 0,
                        (int)(sizeof(no_pause_cases) / sizeof(no_pause_cases[0])));
    tcase_add_loop_test(tc, test_chunk_edges, 0, (int)(sizeof(edge_cases) / sizeof(edge_cases[0])));
    tcase_add_test(tc, test_streaming_split);
    tcase_add_test(tc, test_symbols_wrap);
    tcase_add_loop_test(tc, test_size_pcm, 0, (int)(sizeof(pcm_sizes) / sizeof(pcm_sizes[0])));
    tcase_add_loop_test(tc, test_size_coded, 0,
                        (int)(sizeof(coded_sizes) / sizeof(coded_sizes[0])));
    tcase_add_test(tc, test_check_exact_forms);
    tcase_add_test(tc, test_check_errors);
    tcase_add_test(tc, test_check_unusable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = check_run(tonecode_suite());
    tc_tmp_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
