/* test_audio_probe.c — probe results, and a distinct error for every kind of
 * bad input (run under ASan to prove nothing leaks on the error paths). */
#include <check.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audio_encode.h"
#include "audio_probe.h"
#include "audio_scan.h"
#include "audio_testutil.h"
#include "log.h"
#include "tonecode.h"
#include "../check_run.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
}

static void teardown(void)
{
    tu_rmdir(dir);
}

/* A tone file of `seconds` in dir/name; returns its path. */
static char *tone(const char *name, int sf_format, int rate, int channels, double seconds)
{
    struct tonecode_gen_opts o = {.duration = seconds,
                                  .rate = rate,
                                  .channels = channels,
                                  .sf_format = sf_format,
                                  .lead_silence = 0.5,
                                  .trail_silence = 0.5};
    char err[256];
    char *path = tu_path(dir, name);
    ck_assert_msg(tonecode_write(&o, path, err, sizeof(err)), "%s", err);
    return path;
}

/* The first `keep` bytes of src as a new file (keep < 0: half of it). */
static char *cut(const char *src, const char *name, long keep)
{
    size_t len;
    unsigned char *b = tu_read(src, &len);
    char *path = tu_path(dir, name);
    tu_write(path, b, keep < 0 ? len / 2 : (size_t)keep);
    free(b);
    return path;
}

static enum audio_probe_error probe(const char *path)
{
    struct audio_info info;
    char detail[256];
    enum audio_probe_error e = audio_probe(path, &info, detail, sizeof(detail));
    if (e != AUDIO_PROBE_OK) {
        ck_assert_int_eq(info.rate, 0); /* nothing half-filled on failure */
    }
    return e;
}

START_TEST(good_files_probe)
{
    char *wav = tone("a.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 3.0);
    char *flac = tone("a.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 48000, 1, 3.0);
    struct audio_info info;
    ck_assert_int_eq(audio_probe(wav, &info, NULL, 0), AUDIO_PROBE_OK);
    ck_assert_str_eq(info.container, "wav");
    ck_assert_str_eq(info.codec, "pcm_s16");
    ck_assert_int_eq(info.rate, 44100);
    ck_assert_int_eq(info.channels, 2);
    ck_assert(fabs(info.duration - 4.0) < 1.0 / 44100 + 1e-9);
    struct stat st;
    ck_assert_int_eq(stat(wav, &st), 0);
    ck_assert_int_eq(info.file_size, st.st_size);
    ck_assert(fabs(info.bitrate - st.st_size * 8.0 / info.duration) < 1e-6);
    ck_assert(fabs(info.bitrate - 1411200) < 2000); /* CD quality */
    ck_assert_int_eq(audio_probe(flac, &info, NULL, 0), AUDIO_PROBE_OK);
    ck_assert_str_eq(info.container, "flac");
    ck_assert_str_eq(info.codec, "flac");
    ck_assert(info.lengths_exact);
    free(wav);
    free(flac);
}
END_TEST

START_TEST(bad_inputs_have_distinct_errors)
{
    char *wav = tone("good.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 2.0);
    char *flac = tone("good.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 1, 6.0);
    char *ogg = tone("good.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 16000, 1, 6.0);
    char *empty = tu_path(dir, "empty.wav"), *text = tu_path(dir, "notes.txt");
    char *random = tu_path(dir, "random.bin"), *missing = tu_path(dir, "missing.wav");
    char *corrupt = tu_path(dir, "corrupt.wav"), *wide = tu_path(dir, "wide.wav");
    tu_write(empty, "", 0);
    const char *words = "This is a text file, not audio at all.\n";
    tu_write(text, words, strlen(words));
    unsigned char noise[5000];
    unsigned seed = 1;
    for (size_t i = 0; i < sizeof(noise); i++)
        noise[i] = (unsigned char)rand_r(&seed);
    tu_write(random, noise, sizeof(noise));
    /* Corrupt: a whole file whose 'fmt ' chunk is garbage. */
    size_t len;
    unsigned char *b = tu_read(wav, &len);
    memset(b + 12, 'X', 24);
    tu_write(corrupt, b, len);
    free(b);
    /* Unsupported: more channels than we accept. */
    SF_INFO si = {.samplerate = 16000, .channels = 20, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(wide, SFM_WRITE, &si);
    ck_assert_ptr_nonnull(sf);
    short zeros[20 * 100] = {0};
    sf_writef_short(sf, zeros, 100);
    sf_close(sf);

    struct {
        char *path;
        enum audio_probe_error want;
    } cases[] = {
        {empty, AUDIO_PROBE_EMPTY},
        {random, AUDIO_PROBE_NOT_AUDIO},
        {cut(wav, "header.wav", 30), AUDIO_PROBE_TRUNCATED},
        {cut(wav, "half.wav", -1), AUDIO_PROBE_TRUNCATED},
        {text, AUDIO_PROBE_NOT_AUDIO},
        {missing, AUDIO_PROBE_EIO},
        {xstrdup(dir), AUDIO_PROBE_EIO},
        {corrupt, AUDIO_PROBE_CORRUPT},
        {cut(flac, "half.flac", -1), AUDIO_PROBE_TRUNCATED},
        {cut(flac, "header.flac", 40), AUDIO_PROBE_TRUNCATED},
        {cut(ogg, "half.ogg", -1), AUDIO_PROBE_TRUNCATED},
        {wide, AUDIO_PROBE_UNSUPPORTED},
        {cut(wav, "nodata.wav", 44), AUDIO_PROBE_TRUNCATED},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        enum audio_probe_error e = probe(cases[i].path);
        ck_assert_msg(e == cases[i].want, "%s: got %s, want %s", cases[i].path,
                      audio_probe_error_name(e), audio_probe_error_name(cases[i].want));
        free(cases[i].path);
    }
    /* Names and messages are distinct. */
    for (int a = AUDIO_PROBE_OK; a <= AUDIO_PROBE_UNSUPPORTED; a++)
        for (int c = a + 1; c <= AUDIO_PROBE_UNSUPPORTED; c++) {
            ck_assert_str_ne(audio_probe_error_name(a), audio_probe_error_name(c));
            ck_assert_str_ne(audio_probe_error_message(a), audio_probe_error_message(c));
        }
    free(wav);
    free(flac);
    free(ogg);
}
END_TEST

/* A file with a header but no frames is empty, not broken. */
START_TEST(header_only_is_empty)
{
    char *path = tu_path(dir, "zero.wav");
    SF_INFO si = {.samplerate = 16000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &si);
    ck_assert_ptr_nonnull(sf);
    sf_close(sf);
    ck_assert_int_eq(probe(path), AUDIO_PROBE_EMPTY);
    free(path);
}
END_TEST

/* Garbage in the middle of a FLAC stream: the probe (header and tail) may
 * pass, but the scan and the encoder stop with "corrupt". */
START_TEST(corrupt_middle_fails_scan_and_encode)
{
    char *flac = tone("mid.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 2, 20.0);
    size_t len;
    unsigned char *b = tu_read(flac, &len);
    unsigned seed = 3;
    for (size_t i = len / 3; i < len / 3 + 20000; i++)
        b[i] = (unsigned char)rand_r(&seed);
    tu_write(flac, b, len);
    free(b);

    struct audio_info info;
    enum audio_probe_error err = audio_probe(flac, &info, NULL, 0);
    ck_assert(err == AUDIO_PROBE_OK || err == AUDIO_PROBE_CORRUPT);
    if (err == AUDIO_PROBE_OK) {
        struct audio_scan *scan = audio_scan_new(flac, &info, 0, &err);
        ck_assert_ptr_nonnull(scan);
        enum audio_step st;
        while ((st = audio_scan_step(scan)) == AUDIO_STEP_MORE)
            ;
        ck_assert_int_eq(st, AUDIO_STEP_ERROR);
        ck_assert_int_eq(audio_scan_error(scan), AUDIO_PROBE_CORRUPT);
        ck_assert_str_ne(audio_scan_error_detail(scan), "");
        audio_scan_free(scan);

        struct audio_encode *enc =
            audio_encode_new(flac, 0, info.frames, AUDIO_ENCODE_FLAC, 0, &err);
        ck_assert_ptr_nonnull(enc);
        while ((st = audio_encode_step(enc)) == AUDIO_STEP_MORE)
            ;
        ck_assert_int_eq(st, AUDIO_STEP_ERROR);
        ck_assert_int_eq(audio_encode_error(enc), AUDIO_PROBE_CORRUPT);
        size_t n;
        ck_assert_ptr_null(audio_encode_take(enc, &n));
        audio_encode_free(enc);
    }
    free(flac);
}
END_TEST

/* Objects freed half-way through their work release everything. */
START_TEST(free_mid_way)
{
    char *wav = tone("mid.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 5.0);
    struct audio_info info;
    enum audio_probe_error err;
    ck_assert_int_eq(audio_probe(wav, &info, NULL, 0), AUDIO_PROBE_OK);
    struct audio_scan *scan = audio_scan_new(wav, &info, 1000, &err);
    ck_assert_int_eq(audio_scan_step(scan), AUDIO_STEP_MORE);
    audio_scan_free(scan);
    for (int f = AUDIO_ENCODE_FLAC; f <= AUDIO_ENCODE_ORIGINAL; f++) {
        struct audio_encode *enc = audio_encode_new(wav, 100, 90000, f, 1000, &err);
        ck_assert_ptr_nonnull(enc);
        ck_assert_int_eq(audio_encode_step(enc), AUDIO_STEP_MORE);
        audio_encode_free(enc);
    }
    ck_assert_ptr_null(audio_encode_new(wav, 500, 500, AUDIO_ENCODE_FLAC, 0, &err));
    ck_assert_int_eq(err, AUDIO_PROBE_EMPTY);
    char *missing = tu_path(dir, "nope.wav");
    ck_assert_ptr_null(audio_scan_new(missing, &info, 0, &err));
    ck_assert_int_eq(err, AUDIO_PROBE_EIO);
    ck_assert_ptr_null(audio_encode_new(missing, 0, 10, AUDIO_ENCODE_FLAC, 0, &err));
    free(missing);
    free(wav);
}
END_TEST

static Suite *probe_suite(void)
{
    Suite *s = suite_create("audio_probe");
    TCase *tc = tcase_create("probe");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, good_files_probe);
    tcase_add_test(tc, bad_inputs_have_distinct_errors);
    tcase_add_test(tc, header_only_is_empty);
    tcase_add_test(tc, corrupt_middle_fails_scan_and_encode);
    tcase_add_test(tc, free_mid_way);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    log_set_level(LOG_WARN);
    int failed = check_run(probe_suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
