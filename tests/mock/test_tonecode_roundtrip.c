/* test_tonecode_roundtrip.c — gen → libsndfile file → read back → downmix →
 * tonecode_decode → verbose_json → tonecode_check is exact, for every
 * format × rate × channel count × subtype this libsndfile can write.
 *
 * Usage: test_tonecode_roundtrip FORMAT (wav, rf64, aiff, flac, ogg, opus,
 * mp3), one meson test per format so they run in parallel.
 *
 * Skipped combinations, and why:
 *  - opus: libsndfile's Opus encoder takes only 8/12/16/24/48 kHz input, so
 *    44.1 and 96 kHz are skipped (tonecode_write fails cleanly there; the
 *    gen-audio CLI test checks that error);
 *  - mp3: MPEG audio carries at most 2 channels and has no 96 kHz rate, so
 *    6 channels and 96 kHz are skipped;
 *  - flac: no 32-bit or float subtype, so only pcm8/pcm16/pcm24.
 * Each combination whose format is writable here is required to pass: a
 * missing encoder (say LAME) fails the test instead of hiding. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tonecode_util.h"
#include "../check_run.h"

#define DURATION   6.0
#define MAX_COMBOS 128

struct combo {
    int rate;
    int channels;
    const char *subtype; /* NULL for codecs */
};

static const char *format;
static struct combo combos[MAX_COMBOS];
static int ncombos;

static bool has_subtypes(const char *f)
{
    return strcmp(f, "wav") == 0 || strcmp(f, "rf64") == 0 || strcmp(f, "aiff") == 0 ||
           strcmp(f, "flac") == 0;
}

static bool rate_ok(const char *f, int rate)
{
    if (strcmp(f, "opus") == 0)
        return rate == 8000 || rate == 16000 || rate == 48000;
    if (strcmp(f, "mp3") == 0)
        return rate <= 48000;
    return true;
}

static void build_combos(void)
{
    static const int rates[] = {8000, 16000, 44100, 48000, 96000};
    static const int chans[] = {1, 2, 6};
    static const char *const pcm[] = {"pcm8", "pcm16", "pcm24", "pcm32", "float"};
    int nsub = !has_subtypes(format) ? 1 : strcmp(format, "flac") == 0 ? 3 : 5;
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        for (size_t c = 0; c < sizeof(chans) / sizeof(chans[0]); c++) {
            if (!rate_ok(format, rates[r]) || (strcmp(format, "mp3") == 0 && chans[c] > 2))
                continue;
            for (int s = 0; s < nsub; s++) {
                if (ncombos == MAX_COMBOS)
                    abort();
                combos[ncombos++] =
                    (struct combo){rates[r], chans[c], has_subtypes(format) ? pcm[s] : NULL};
            }
        }
    }
}

START_TEST(test_roundtrip)
{
    const struct combo *c = &combos[_i];
    struct tonecode_gen_opts o = {
        .duration = DURATION,
        .rate = c->rate,
        .channels = c->channels,
        .lead_silence = 0.1 * (_i % 4),
        .trail_silence = 0.25,
        .noise_floor = _i % 3 == 0 ? 0.01 : 0.0,
        .seed = (unsigned)_i,
    };
    char err[256], what[128];
    snprintf(what, sizeof(what), "%s %s %d Hz %d ch", format, c->subtype ? c->subtype : "", c->rate,
             c->channels);
    ck_assert_msg(tonecode_sf_format(format, c->subtype, &o.sf_format, err, sizeof(err)), "%s",
                  err);
    char *path = tc_tmp_path(format);
    ck_assert_msg(tonecode_write(&o, path, err, sizeof(err)), "%s: %s", what, err);

    SF_INFO info;
    size_t frames;
    float *mono = tc_read_mono(path, &info, &frames);
    ck_assert_int_eq(info.channels, c->channels);
    double secs = (double)frames / info.samplerate;
    double want = DURATION + o.lead_silence + o.trail_silence;
    ck_assert_msg(fabs(secs - want) < 0.1, "%s: %.3f s read back, want %.3f", what, secs, want);
    size_t n = tc_expect_exact(what, mono, frames, info.samplerate, DURATION, o.lead_silence, 0.03);
    ck_assert_int_eq((int)n, tonecode_word_count(DURATION, false));

    /* The streaming decoder straight from the file finds the same words
     * (checked on every fourth combination to keep the suite fast). */
    if (_i % 4 != 0) {
        free(mono);
        unlink(path);
        free(path);
        return;
    }
    SF_INFO info2 = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info2);
    ck_assert_ptr_nonnull(sf);
    struct tonecode_word a[64], b[64];
    size_t na = tonecode_decode_sndfile(sf, &info2, a, 64);
    sf_close(sf);
    size_t nb = tonecode_decode(mono, frames, info.samplerate, b, 64);
    ck_assert_uint_eq(na, nb);
    for (size_t i = 0; i < na; i++) {
        ck_assert_int_eq(a[i].symbol, b[i].symbol);
        ck_assert(fabs(a[i].start - b[i].start) < 0.002);
    }
    free(mono);
    unlink(path);
    free(path);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s wav|rf64|aiff|flac|ogg|opus|mp3\n", argv[0]);
        return 2;
    }
    format = argv[1];
    build_combos();
    Suite *s = suite_create("tonecode-roundtrip");
    TCase *tc = tcase_create(format);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_roundtrip, 0, ncombos);
    suite_add_tcase(s, tc);
    int failed = check_run(s);
    tc_tmp_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
