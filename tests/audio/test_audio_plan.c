/* test_audio_plan.c — the chunk planner on synthetic energy arrays. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio_plan.h"
#include "log.h"
#include "../check_run.h"

#define RATE  16000
#define WPS   100
#define LOUD  0.3f
#define QUIET 0.0f

/* An energy array of `seconds`, all loud. */
static float *loud(double seconds, size_t *n)
{
    *n = (size_t)lround(seconds * WPS);
    float *e = xmalloc(*n * sizeof(float));
    for (size_t i = 0; i < *n; i++)
        e[i] = LOUD;
    return e;
}

static void fill(float *e, double from, double to, float v)
{
    for (size_t w = (size_t)lround(from * WPS); w < (size_t)lround(to * WPS); w++)
        e[w] = v;
}

static struct audio_plan_params params(int concurrency, double min, double max)
{
    struct audio_plan_params p;
    audio_plan_params_default(&p);
    p.concurrency = concurrency;
    p.min_chunk_seconds = min;
    p.max_chunk_seconds = max;
    return p;
}

static struct audio_plan *plan(float *e, size_t n, const struct audio_plan_params *p)
{
    return audio_plan_new(e, n, RATE, (int64_t)n * RATE / WPS, p, "test=plan");
}

/* Chunks are in order, do not overlap, and each lies within limits. */
static void check_chunks(const struct audio_plan *pl, double lmax)
{
    int64_t prev_end = 0;
    for (size_t i = 0; i < audio_plan_count(pl); i++) {
        const struct audio_chunk *c = audio_plan_chunk(pl, i);
        ck_assert_int_eq(c->index, (int)i);
        ck_assert_int_ge(c->start_frame, prev_end);
        ck_assert_int_gt(c->end_frame, c->start_frame);
        ck_assert(c->duration <= lmax + 1e-9);
        ck_assert(fabs(c->start_seconds - (double)c->start_frame / RATE) < 1e-9);
        ck_assert_ptr_nonnull(c->reason);
        prev_end = c->end_frame;
    }
}

START_TEST(one_wave_per_concurrency)
{
    static const int conc[] = {1, 2, 3, 4, 8, 16};
    for (size_t k = 0; k < ARRAY_LEN(conc); k++) {
        size_t n;
        float *e = loud(600, &n);
        struct audio_plan_params p = params(conc[k], 10, 600);
        struct audio_plan *pl = plan(e, n, &p);
        ck_assert_uint_eq(audio_plan_count(pl), (size_t)conc[k]);
        check_chunks(pl, 600);
        /* Continuous audio: every cut at its target, so chunks are equal. */
        for (size_t i = 0; i < audio_plan_count(pl); i++)
            ck_assert(fabs(audio_plan_chunk(pl, i)->duration - 600.0 / conc[k]) < 0.011);
        audio_plan_free(pl);
    }
}
END_TEST

START_TEST(low_concurrency_means_fewer_longer_chunks)
{
    size_t n;
    float *e = loud(1200, &n);
    struct audio_plan_params p = params(2, 30, 900);
    struct audio_plan *pl = plan(e, n, &p);
    ck_assert_uint_eq(audio_plan_count(pl), 2);
    ck_assert(audio_plan_chunk(pl, 0)->duration > 590);
    audio_plan_free(pl);
}
END_TEST

START_TEST(min_length_caps_the_count)
{
    size_t n;
    float *e = loud(100, &n);
    struct audio_plan_params p = params(16, 30, 600);
    struct audio_plan *pl = plan(e, n, &p);
    ck_assert_uint_eq(audio_plan_count(pl), 3); /* not 16 chunks of 6 s */
    for (size_t i = 0; i < 3; i++)
        ck_assert(audio_plan_chunk(pl, i)->duration >= 30);
    audio_plan_free(pl);
}
END_TEST

START_TEST(file_shorter_than_min_is_one_chunk)
{
    size_t n;
    float *e = loud(5, &n);
    struct audio_plan_params p = params(4, 30, 600);
    struct audio_plan *pl = plan(e, n, &p);
    ck_assert_uint_eq(audio_plan_count(pl), 1);
    ck_assert(fabs(audio_plan_chunk(pl, 0)->duration - 5.0) < 1e-9);
    audio_plan_free(pl);
}
END_TEST

START_TEST(max_length_forces_waves)
{
    size_t n;
    float *e = loud(3600, &n);
    struct audio_plan_params p = params(2, 30, 600);
    struct audio_plan *pl = plan(e, n, &p);
    ck_assert_uint_eq(audio_plan_count(pl), 6);
    check_chunks(pl, 600);
    audio_plan_free(pl);
}
END_TEST

START_TEST(size_limit_caps_chunks)
{
    size_t n;
    float *e = loud(3600, &n);
    struct audio_plan_params p = params(1, 30, 100000);
    p.encoded_bytes_per_second = 32000;
    struct audio_plan *pl = plan(e, n, &p);
    ck_assert_uint_eq(audio_plan_count(pl), 5); /* 25 MiB / 32000 B/s ≈ 817 s */
    for (size_t i = 0; i < audio_plan_count(pl); i++)
        ck_assert(audio_plan_chunk(pl, i)->duration * 32000 <= AUDIO_PLAN_DEFAULT_MAX_BYTES);
    audio_plan_free(pl);

    /* Even with pauses near the targets, no cut may push a chunk past the limit. */
    e = loud(1700, &n);
    for (double t = 10; t < 1700; t += 13)
        fill(e, t, t + 0.3, QUIET);
    pl = plan(e, n, &p);
    ck_assert_uint_eq(audio_plan_count(pl), 3);
    for (size_t i = 0; i < audio_plan_count(pl); i++)
        ck_assert(audio_plan_chunk(pl, i)->duration * 32000 <= AUDIO_PLAN_DEFAULT_MAX_BYTES);
    audio_plan_free(pl);
}
END_TEST

START_TEST(cut_moves_to_quietest_window)
{
    size_t n;
    float *e = loud(200, &n);
    fill(e, 97.3, 97.5, QUIET);   /* the pause nearest the 100 s target */
    fill(e, 103.0, 103.1, 0.01f); /* quieter than speech but not silence */
    struct audio_plan_params p = params(2, 10, 600);
    struct audio_plan *pl = plan(e, n, &p);
    ck_assert_uint_eq(audio_plan_count(pl), 2);
    double cut = audio_plan_chunk(pl, 1)->start_seconds;
    ck_assert_msg(cut >= 97.3 && cut <= 97.5, "cut at %f", cut);
    ck_assert(fabs(audio_plan_chunk(pl, 0)->start_seconds + audio_plan_chunk(pl, 0)->duration -
                   cut) < 1e-9);
    audio_plan_free(pl);
}
END_TEST

START_TEST(min_gives_way_to_a_pause)
{
    size_t n;
    float *e = loud(100, &n);
    fill(e, 47.0, 47.2, QUIET); /* the only pause: would leave chunk 0 under min */
    struct audio_plan_params p = params(2, 49, 600);
    struct audio_plan *pl = plan(e, n, &p);
    ck_assert_uint_eq(audio_plan_count(pl), 2);
    double cut = audio_plan_chunk(pl, 1)->start_seconds;
    ck_assert_msg(cut >= 47.0 && cut <= 47.2, "cut at %f", cut);
    ck_assert_ptr_nonnull(strstr(audio_plan_chunk(pl, 0)->reason, "under min"));
    audio_plan_free(pl);
}
END_TEST

START_TEST(pause_outside_window_is_ignored)
{
    size_t n;
    float *e = loud(200, &n);
    fill(e, 90.0, 90.2, QUIET); /* 10 s from the target: beyond W = 5 s */
    struct audio_plan_params p = params(2, 10, 600);
    struct audio_plan *pl = plan(e, n, &p);
    ck_assert(fabs(audio_plan_chunk(pl, 1)->start_seconds - 100.0) < 1e-9);
    audio_plan_free(pl);
}
END_TEST

START_TEST(noisy_continuous_audio_cut_at_target)
{
    size_t n;
    float *e = loud(300, &n);
    unsigned seed = 7;
    for (size_t i = 0; i < n; i++)
        e[i] = LOUD * (0.8f + 0.4f * (float)rand_r(&seed) / (float)RAND_MAX);
    struct audio_plan_params p = params(3, 10, 600);
    struct audio_plan *pl = plan(e, n, &p);
    ck_assert_uint_eq(audio_plan_count(pl), 3);
    ck_assert(fabs(audio_plan_chunk(pl, 1)->start_seconds - 100.0) < 1e-9);
    ck_assert(fabs(audio_plan_chunk(pl, 2)->start_seconds - 200.0) < 1e-9);
    audio_plan_free(pl);
}
END_TEST

START_TEST(silence_is_not_sent)
{
    size_t n;
    float *e = loud(60, &n);
    fill(e, 0, 4, QUIET);     /* leading */
    fill(e, 20, 30, 0.0001f); /* long stretch, -70 dB: silence */
    fill(e, 40, 41, QUIET);   /* 1 s: a pause, kept */
    fill(e, 55, 60, QUIET);   /* trailing */
    struct audio_plan_params p = params(4, 1, 600);
    struct audio_plan *pl = plan(e, n, &p);
    double pad = p.pad_seconds, covered = 0;
    for (size_t i = 0; i < audio_plan_count(pl); i++) {
        const struct audio_chunk *c = audio_plan_chunk(pl, i);
        double a = c->start_seconds, b = a + c->duration;
        covered += c->duration;
        ck_assert_msg(a >= 4 - pad - 1e-9, "chunk %zu starts in leading silence", i);
        ck_assert_msg(b <= 55 + pad + 1e-9, "chunk %zu ends in trailing silence", i);
        ck_assert_msg(b <= 20 + pad + 1e-9 || a >= 30 - pad - 1e-9, "chunk %zu spans the gap", i);
    }
    double skipped = 4 - pad + (10 - 2 * pad) + 5 - pad;
    ck_assert(fabs(audio_plan_skipped_seconds(pl) - skipped) < 0.011);
    ck_assert(fabs(covered - (60 - skipped)) < 0.011);
    ck_assert(fabs(audio_plan_voiced_seconds(pl) - (60 - skipped)) < 0.011);
    audio_plan_free(pl);
}
END_TEST

START_TEST(silence_is_relative_to_the_file)
{
    /* A quiet recording: speech at -50 dBFS, silence at -90 dBFS. */
    size_t n;
    float *e = loud(30, &n);
    for (size_t i = 0; i < n; i++)
        e[i] = 0.003f;
    fill(e, 0, 3, 0.00003f);
    fill(e, 10, 15, 0.00003f);
    struct audio_plan_params p = params(4, 1, 600);
    struct audio_plan *pl = plan(e, n, &p);
    ck_assert(audio_plan_skipped_seconds(pl) > 7.0);
    ck_assert_uint_ge(audio_plan_count(pl), 2);
    audio_plan_free(pl);
}
END_TEST

START_TEST(all_silent_file_has_no_chunks)
{
    size_t n;
    float *e = loud(20, &n);
    fill(e, 0, 20, QUIET);
    struct audio_plan_params p = params(4, 1, 600);
    struct audio_plan *pl = plan(e, n, &p);
    ck_assert_uint_eq(audio_plan_count(pl), 0);
    ck_assert(fabs(audio_plan_skipped_seconds(pl) - 20) < 1e-9);
    audio_plan_free(pl);
}
END_TEST

START_TEST(a_click_in_silence_is_dropped)
{
    size_t n;
    float *e = loud(30, &n);
    fill(e, 10, 20, QUIET);
    fill(e, 15, 15.02, LOUD); /* 20 ms click */
    struct audio_plan_params p = params(4, 1, 600);
    struct audio_plan *pl = plan(e, n, &p);
    for (size_t i = 0; i < audio_plan_count(pl); i++) {
        const struct audio_chunk *c = audio_plan_chunk(pl, i);
        ck_assert(c->start_seconds + c->duration <= 10.2 || c->start_seconds >= 19.8);
    }
    audio_plan_free(pl);
}
END_TEST

START_TEST(split_for_413)
{
    size_t n;
    float *e = loud(120, &n);
    fill(e, 27.0, 27.2, QUIET); /* quiet point inside chunk 0 */
    struct audio_plan_params p = params(2, 10, 600);
    struct audio_plan *pl = plan(e, n, &p);
    ck_assert_uint_eq(audio_plan_count(pl), 2);
    const struct audio_chunk before = *audio_plan_chunk(pl, 0);
    int64_t next_start = audio_plan_chunk(pl, 1)->start_frame;

    ck_assert(audio_plan_split(pl, 0));
    ck_assert_uint_eq(audio_plan_count(pl), 3);
    check_chunks(pl, 600);
    const struct audio_chunk *a = audio_plan_chunk(pl, 0), *b = audio_plan_chunk(pl, 1);
    ck_assert_int_eq(a->start_frame, before.start_frame);
    ck_assert_int_eq(a->end_frame, b->start_frame);
    ck_assert_int_eq(b->end_frame, before.end_frame);
    ck_assert_msg(b->start_seconds >= 27.0 && b->start_seconds <= 27.2, "split at %f",
                  b->start_seconds);
    ck_assert_int_eq(audio_plan_chunk(pl, 2)->start_frame, next_start);
    ck_assert_int_eq(audio_plan_chunk(pl, 2)->index, 2);
    ck_assert_ptr_nonnull(strstr(b->reason, "413"));

    /* Continuous chunk: split in the middle. */
    ck_assert(audio_plan_split(pl, 2));
    ck_assert(fabs(audio_plan_chunk(pl, 3)->start_seconds - 90.0) < 0.011);
    ck_assert(!audio_plan_split(pl, 99));
    audio_plan_free(pl);

    /* Split down to single 10 ms windows, which cannot be split. */
    e = loud(0.05, &n);
    pl = plan(e, n, &p);
    ck_assert_uint_eq(audio_plan_count(pl), 1);
    while (audio_plan_split(pl, 0))
        ;
    ck_assert_int_eq(audio_plan_chunk(pl, 0)->end_frame, RATE / WPS);
    ck_assert_uint_eq(audio_plan_count(pl), 3);
    audio_plan_free(pl);
}
END_TEST

START_TEST(text_and_json_record)
{
    size_t n;
    float *e = loud(100, &n);
    fill(e, 0, 3, QUIET);
    struct audio_plan_params p = params(2, 10, 600);
    struct audio_plan *pl = plan(e, n, &p);
    char *text = audio_plan_text(pl);
    ck_assert_ptr_nonnull(strstr(text, "leading silence"));
    ck_assert_ptr_nonnull(strstr(text, "chunk 1"));
    ck_assert_ptr_nonnull(strstr(text, "wave"));
    free(text);
    char *js = audio_plan_json(pl);
    json_error_t err;
    json_t *root = json_loads(js, 0, &err);
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(json_integer_value(json_object_get(root, "chunk_count")), 2);
    ck_assert_int_eq(json_array_size(json_object_get(root, "chunks")), 2);
    ck_assert(json_array_size(json_object_get(root, "decisions")) >= 4);
    json_decref(root);
    free(js);
    audio_plan_free(pl);
}
END_TEST

static Suite *plan_suite(void)
{
    Suite *s = suite_create("audio_plan");
    TCase *tc = tcase_create("plan");
    tcase_add_test(tc, one_wave_per_concurrency);
    tcase_add_test(tc, low_concurrency_means_fewer_longer_chunks);
    tcase_add_test(tc, min_length_caps_the_count);
    tcase_add_test(tc, file_shorter_than_min_is_one_chunk);
    tcase_add_test(tc, max_length_forces_waves);
    tcase_add_test(tc, size_limit_caps_chunks);
    tcase_add_test(tc, cut_moves_to_quietest_window);
    tcase_add_test(tc, min_gives_way_to_a_pause);
    tcase_add_test(tc, pause_outside_window_is_ignored);
    tcase_add_test(tc, noisy_continuous_audio_cut_at_target);
    tcase_add_test(tc, silence_is_not_sent);
    tcase_add_test(tc, silence_is_relative_to_the_file);
    tcase_add_test(tc, all_silent_file_has_no_chunks);
    tcase_add_test(tc, a_click_in_silence_is_dropped);
    tcase_add_test(tc, split_for_413);
    tcase_add_test(tc, text_and_json_record);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    log_set_level(getenv("PLAN_LOG") ? LOG_INFO
                                     : LOG_WARN); /* the planner logs every decision at INFO */
    int failed = check_run(plan_suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
