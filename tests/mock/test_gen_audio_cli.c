/* test_gen_audio_cli.c — the gen-audio and tone-check command lines: exit
 * codes, error messages, and a file → transcript → check round trip.
 * GEN_AUDIO and TONE_CHECK hold the binaries' paths (set by meson). */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "tonecode_util.h"
#include "../check_run.h"

/* Run a shell command line; returns its exit status, stdout+stderr in out. */
static int run(char *out, size_t outlen, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int run(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char *full = xasprintf("%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    free(full);
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static const char *gen(void)
{
    const char *g = getenv("GEN_AUDIO");
    ck_assert_ptr_nonnull(g);
    return g;
}

static const char *checker(void)
{
    const char *c = getenv("TONE_CHECK");
    ck_assert_ptr_nonnull(c);
    return c;
}

struct bad_args {
    const char *args;
    int status;
    const char *message;
};

static const struct bad_args bad[] = {
    {"", 2, "exactly one of --duration"},
    {"--duration 3", 2, "--out"},
    {"--duration 3 --size 1000 --out X", 2, "exactly one"},
    {"--duration -1 --out X", 2, "--duration"},
    {"--duration abc --out X", 2, "--duration"},
    {"--duration 3 --rate 4000 --out X", 2, "--rate"},
    {"--duration 3 --channels 9 --out X", 2, "--channels"},
    {"--duration 3 --format wma --out X", 2, "unknown format"},
    {"--duration 3 --subtype pcm12 --out X", 2, "unknown subtype"},
    {"--duration 3 --format ogg --subtype pcm16 --out X", 2, "no --subtype"},
    {"--duration 3 --format flac --subtype float --out X", 2, "flac"},
    {"--duration 3 --noise 2 --out X", 2, "--noise"},
    {"--duration 3 --bogus --out X", 2, "try --help"},
    {"--duration 3 --out X extra", 2, "unexpected argument"},
    {"--duration 3 --format opus --rate 44100 --out X", 1, "Opus"},
    {"--duration 3 --format mp3 --channels 6 --out X", 1, "cannot write"},
    {"--duration 3 --format mp3 --rate 96000 --out X", 1, "MPEG"},
    {"--size 20 --out X", 1, "header"},
};

START_TEST(test_bad_options)
{
    char out[4096];
    char *path = tc_tmp_path("wav");
    char args[512];
    const char *x = strstr(bad[_i].args, "X");
    if (x)
        snprintf(args, sizeof(args), "%.*s%s%s", (int)(x - bad[_i].args), bad[_i].args, path,
                 x + 1);
    else
        snprintf(args, sizeof(args), "%s", bad[_i].args);
    int st = run(out, sizeof(out), "%s %s", gen(), args);
    ck_assert_msg(st == bad[_i].status, "'%s' exited %d, want %d: %s", args, st, bad[_i].status,
                  out);
    ck_assert_msg(strstr(out, bad[_i].message) != NULL, "'%s': no '%s' in: %s", args,
                  bad[_i].message, out);
    ck_assert_msg(access(path, F_OK) != 0, "'%s' left a file behind", args);
    free(path);
}
END_TEST

START_TEST(test_help)
{
    char out[4096];
    ck_assert_int_eq(run(out, sizeof(out), "%s --help", gen()), 0);
    ck_assert(strstr(out, "--no-pauses") && strstr(out, "--subtype") && strstr(out, "--seed"));
    ck_assert_int_eq(run(out, sizeof(out), "%s --help", checker()), 0);
    ck_assert_int_eq(run(out, sizeof(out), "%s", checker()), 2);
}
END_TEST

/* gen-audio → decode → transcript file → tone-check exits 0; a broken
 * transcript exits 1 and says why. */
START_TEST(test_cli_roundtrip)
{
    char out[4096];
    char *wav = tc_tmp_path("flac"), *json = tc_tmp_path("json");
    ck_assert_int_eq(run(out, sizeof(out),
                         "%s --duration 4.2 --rate 22050 --channels 2 --format flac "
                         "--subtype pcm24 --lead 0.5 --trail 0.3 --noise 0.02 --seed 9 "
                         "--no-pauses --out %s",
                         gen(), wav),
                     0);
    ck_assert_msg(strstr(out, "\"words\":7") != NULL, "%s", out);
    SF_INFO info;
    size_t frames;
    float *mono = tc_read_mono(wav, &info, &frames);
    ck_assert_int_eq(info.samplerate, 22050);
    struct tonecode_word w[16];
    size_t n = tonecode_decode(mono, frames, info.samplerate, w, 16);
    ck_assert_uint_eq(n, 7);
    char *text = tc_words_json(w, n, true);
    FILE *f = fopen(json, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(run(out, sizeof(out), "%s --duration 4.2 --lead 0.5 %s", checker(), json), 0);
    ck_assert_msg(strstr(out, "\"exact\":true") && strstr(out, "\"expected\":7"), "%s", out);
    /* Wrong lead: everything misplaced. */
    ck_assert_int_eq(run(out, sizeof(out), "%s --duration 4.2 --lead 1.1 %s", checker(), json), 1);
    ck_assert(strstr(out, "\"exact\":false"));
    f = fopen(json, "w");
    fputs("{\"text\":\"oops\"}", f);
    fclose(f);
    ck_assert_int_eq(run(out, sizeof(out), "%s --duration 4.2 %s", checker(), json), 1);
    ck_assert(strstr(out, "neither segments"));
    ck_assert_int_eq(run(out, sizeof(out), "%s --duration 4.2 /nonexistent.json", checker()), 1);
    free(text);
    free(mono);
    unlink(wav);
    unlink(json);
    free(wav);
    free(json);
}
END_TEST

START_TEST(test_cli_size)
{
    char out[4096];
    char *path = tc_tmp_path("wav");
    ck_assert_int_eq(run(out, sizeof(out), "%s --size 480044 --rate 48000 --out %s", gen(), path),
                     0);
    ck_assert_msg(strstr(out, "\"bytes\":480044") && strstr(out, "\"duration\":5.0,"), "%s", out);
    unlink(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gen-audio-cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_bad_options, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_cli_roundtrip);
    tcase_add_test(tc, test_cli_size);
    suite_add_tcase(s, tc);
    int failed = check_run(s);
    tc_tmp_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
