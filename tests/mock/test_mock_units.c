/* test_mock_units.c — the pure pieces of tools/steno-mock: fault mix and
 * script parsing and the seeded draw, the rate limiter, the latency model,
 * segment grouping, and the streaming multipart upload. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_faults.h"
#include "mock_latency.h"
#include "mock_ratelimit.h"
#include "mock_transcript.h"
#include "mock_upload.h"
#include "../check_run.h"

static char err[512];

START_TEST(mix_parse)
{
    struct mock_fault_mix m;
    ck_assert(mock_fault_mix_parse("500:1, 503:2 ,stall:3", &m, err, sizeof(err)));
    ck_assert_uint_eq(m.weight[MOCK_FAULT_500], 1);
    ck_assert_uint_eq(m.weight[MOCK_FAULT_503], 2);
    ck_assert_uint_eq(m.weight[MOCK_FAULT_STALL], 3);
    ck_assert_uint_eq(m.weight[MOCK_FAULT_RST], 0);
    ck_assert_uint_eq(m.total, 6);
    static const char *const bad[] = {"",      "500",    "500:x",         "404:1",        "none:1",
                                      "500:0", "rst:-1", "500:1,,goaway", "stall:1000001"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!mock_fault_mix_parse(bad[i], &m, err, sizeof(err)), "%s", bad[i]);
    ck_assert(strstr(err, "--fail-mix"));
}
END_TEST

START_TEST(script_parse)
{
    struct mock_fault_script s;
    ck_assert(mock_fault_script_parse(" 3=503, 5=stall,7-9=rst,8=ok ,2=goaway,1=429,4=500", &s, err,
                                      sizeof(err)));
    ck_assert_uint_eq(s.n, 7);
    static const enum mock_fault want[] = {MOCK_FAULT_NONE, MOCK_FAULT_429, MOCK_FAULT_GOAWAY,
                                           MOCK_FAULT_503,  MOCK_FAULT_500, MOCK_FAULT_STALL,
                                           MOCK_FAULT_NONE, MOCK_FAULT_RST, MOCK_FAULT_NONE,
                                           MOCK_FAULT_RST,  MOCK_FAULT_NONE};
    for (uint64_t n = 0; n <= 10; n++)
        ck_assert_msg(mock_fault_script_lookup(&s, n) == want[n], "request %llu",
                      (unsigned long long)n);
    mock_fault_script_free(&s);
    ck_assert(mock_fault_script_parse("", &s, err, sizeof(err)));
    ck_assert_uint_eq(s.n, 0);
    static const char *const bad[] = {"3",    "0=503",  "3=404",  "x=503",  "5-3=rst",    "3=",
                                      "=rst", "3==rst", "1-=rst", "-1=rst", "3=503;4=rst"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(!mock_fault_script_parse(bad[i], &s, err, sizeof(err)), "%s", bad[i]);
        ck_assert_ptr_null(s.rules);
    }
    ck_assert(strstr(err, "--script"));
}
END_TEST

START_TEST(script_mode_numbers)
{
    struct mock_faults f;
    ck_assert(mock_faults_init(&f, 1.0, "500:1", "2=503,4=stall", 7, err, sizeof(err)));
    uint64_t n;
    ck_assert_int_eq(mock_faults_next(&f, &n), MOCK_FAULT_NONE); /* the rate is ignored */
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(mock_faults_next(&f, &n), MOCK_FAULT_503);
    ck_assert_int_eq(mock_faults_next(&f, &n), MOCK_FAULT_NONE);
    ck_assert_int_eq(mock_faults_next(&f, &n), MOCK_FAULT_STALL);
    ck_assert_uint_eq(n, 4);
    json_t *u = json_pack("{s:s}", "script", "1=rst");
    ck_assert(mock_faults_update_json(&f, u, err, sizeof(err)));
    json_decref(u);
    ck_assert_int_eq(mock_faults_next(&f, &n), MOCK_FAULT_RST); /* numbering restarts */
    ck_assert_uint_eq(n, 1);
    mock_faults_free(&f);
}
END_TEST

/* Same seed, same sequence; the rate is honoured; every kind of the mix shows. */
START_TEST(rate_mode_seeded)
{
    struct mock_faults a, b;
    ck_assert(mock_faults_init(&a, 0.3, "500:1,503:1,429:1,rst:1,goaway:1,stall:1", "", 42, err,
                               sizeof(err)));
    ck_assert(mock_faults_init(&b, 0.3, "500:1,503:1,429:1,rst:1,goaway:1,stall:1", "", 42, err,
                               sizeof(err)));
    unsigned kinds[MOCK_FAULT_COUNT] = {0};
    uint64_t n;
    for (int i = 0; i < 10000; i++) {
        enum mock_fault x = mock_faults_next(&a, &n);
        ck_assert_int_eq(x, mock_faults_next(&b, &n));
        kinds[x]++;
    }
    ck_assert_uint_gt(kinds[MOCK_FAULT_NONE], 6700);
    ck_assert_uint_lt(kinds[MOCK_FAULT_NONE], 7300);
    for (int k = 1; k < MOCK_FAULT_COUNT; k++)
        ck_assert_uint_gt(kinds[k], 350);
    mock_faults_free(&a);
    mock_faults_free(&b);
}
END_TEST

START_TEST(update_all_or_nothing)
{
    struct mock_faults f;
    ck_assert(mock_faults_init(&f, 0.5, "500:1", "", 1, err, sizeof(err)));
    json_t *bad = json_pack("{s:f,s:s}", "fail_rate", 0.1, "script", "x=1");
    ck_assert(!mock_faults_update_json(&f, bad, err, sizeof(err)));
    json_decref(bad);
    ck_assert(f.rate == 0.5);
    bad = json_pack("{s:f}", "fail_rate", 1.5);
    ck_assert(!mock_faults_update_json(&f, bad, err, sizeof(err)));
    json_decref(bad);
    json_t *good = json_pack("{s:f,s:s,s:i}", "fail_rate", 0.0, "fail_mix", "rst:1", "seed", 9);
    ck_assert(mock_faults_update_json(&f, good, err, sizeof(err)));
    json_decref(good);
    ck_assert(f.rate == 0.0 && f.seed == 9 && f.mix.total == 1);
    json_t *j = mock_faults_to_json(&f);
    ck_assert_str_eq(json_string_value(json_object_get(j, "fail_mix")), "rst:1");
    json_decref(j);
    mock_faults_free(&f);
}
END_TEST

START_TEST(ratelimit_bucket)
{
    struct mock_ratelimit *rl = mock_ratelimit_new(60); /* one token per second */
    struct mock_rl_result r;
    for (int i = 0; i < 60; i++) {
        mock_ratelimit_take(rl, "k", 100.0, &r);
        ck_assert(r.allowed);
        ck_assert_int_eq(r.remaining, 59 - i);
    }
    ck_assert_double_eq_tol(r.reset, 60.0, 1e-9);
    mock_ratelimit_take(rl, "k", 100.0, &r);
    ck_assert(!r.allowed);
    ck_assert_int_eq(r.limit, 60);
    ck_assert_double_eq_tol(r.retry_after, 1.0, 1e-9);
    mock_ratelimit_take(rl, "other", 100.0, &r); /* per key */
    ck_assert(r.allowed);
    mock_ratelimit_take(rl, "k", 100.5, &r);
    ck_assert(!r.allowed);
    ck_assert_double_eq_tol(r.retry_after, 0.5, 1e-9);
    mock_ratelimit_take(rl, "k", 101.0, &r);
    ck_assert(r.allowed);
    ck_assert_int_eq(r.remaining, 0);
    mock_ratelimit_set_rpm(rl, 0);
    for (int i = 0; i < 1000; i++) {
        mock_ratelimit_take(rl, "k", 101.0, &r);
        ck_assert(r.allowed);
    }
    mock_ratelimit_free(rl);
}
END_TEST

START_TEST(ratelimit_many_keys_bounded)
{
    struct mock_ratelimit *rl = mock_ratelimit_new(1);
    struct mock_rl_result r;
    char key[32];
    for (int i = 0; i < MOCK_RATELIMIT_MAX_KEYS; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        mock_ratelimit_take(rl, key, 0, &r);
        ck_assert(r.allowed);
    }
    mock_ratelimit_take(rl, "overflow-a", 0, &r);
    ck_assert(r.allowed);
    mock_ratelimit_take(rl, "overflow-b", 0, &r); /* shares the overflow bucket */
    ck_assert(!r.allowed);
    mock_ratelimit_free(rl);
}
END_TEST

START_TEST(latency_model)
{
    /* the calibration: 25 MB of 44.1 kHz stereo 16-bit WAV is ~148.6 s → ~13 s */
    double secs = 25.0 * 1024 * 1024 / (44100 * 2 * 2);
    double d = mock_latency_delay(1.0, 0.08, 1.0, secs);
    ck_assert(d > 12.0 && d < 14.0);
    ck_assert_double_eq_tol(mock_latency_delay(1.0, 0.08, 0.01, 10), 0.018, 1e-12);
    ck_assert_double_eq(mock_latency_delay(1.0, 0.08, 0, 10), 0);
    ck_assert_double_eq(mock_latency_delay(-1, NAN, 1, 10), 0);
    ck_assert_int_eq(mock_latency_ms(0.0185), 19);
    ck_assert_int_eq(mock_latency_ms(12.8888), 12889);
    ck_assert_int_eq(mock_latency_retry_after(0), 0);
    ck_assert_int_eq(mock_latency_retry_after(0.01), 1);
    ck_assert_int_eq(mock_latency_retry_after(2.0), 2);
    ck_assert_int_eq(mock_latency_retry_after(2.0004), 2);
    static const struct {
        double s;
        const char *text;
    } f[] = {{0, "0s"},        {0.02, "20ms"}, {0.9994, "999ms"}, {1, "1s"},         {1.55, "1.5s"},
             {59.99, "59.9s"}, {60, "1m0s"},   {360, "6m0s"},     {3723.4, "1h2m3s"}};
    char buf[32];
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        mock_latency_format(f[i].s, buf, sizeof(buf));
        ck_assert_str_eq(buf, f[i].text);
    }
}
END_TEST

static struct tonecode_word word(int sym, double start)
{
    return (struct tonecode_word){sym, start, start + 0.4};
}

START_TEST(segments_group)
{
    /* 7 words, a 2 s gap after the third, given out of order */
    struct tonecode_word w[] = {word(1, 0.6),  word(0, 0.0), word(2, 1.2), word(5, 3.6),
                                word(6, 4.2),  word(7, 4.8), word(8, 5.4), word(9, 6.0),
                                word(10, 6.6), word(11, 7.2)};
    struct mock_transcript_opts o = {.words = true, .duration = 8.0, .temperature = 0.2};
    struct transcript *t = mock_transcript_build(w, 10, &o);
    ck_assert_str_eq(t->text, "w0 w1 w2 w5 w6 w7 w8 w9 w10 w11");
    ck_assert_uint_eq(t->nsegments, 3);
    ck_assert_str_eq(t->segments[0].text, " w0 w1 w2");
    ck_assert_str_eq(t->segments[1].text, " w5 w6 w7 w8 w9");
    ck_assert_str_eq(t->segments[2].text, " w10 w11");
    ck_assert_double_eq_tol(t->segments[1].start, 3.6, 1e-9);
    ck_assert_double_eq_tol(t->segments[1].end, 6.4, 1e-9);
    ck_assert_int_eq(t->segments[1].seek, 360);
    ck_assert_double_eq_tol(t->segments[2].temperature, 0.2, 1e-9);
    ck_assert_uint_eq(t->nwords, 10);
    ck_assert_str_eq(t->words[9].word, "w11");
    ck_assert_str_eq(t->language, "english");
    transcript_free(t);
    o.words = false;
    o.language = "de";
    t = mock_transcript_build(NULL, 0, &o);
    ck_assert_str_eq(t->text, "");
    ck_assert_uint_eq(t->nsegments + t->nwords, 0);
    ck_assert_str_eq(t->language, "de");
    transcript_free(t);
}
END_TEST

#define BODY                                                                                       \
    "--XB\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nm1\r\n"                         \
    "--XB\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nword\r\n"   \
    "--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n"            \
    "RIFF\r\n--X-not-a-boundary\r\n"                                                               \
    "--XB\r\nContent-Disposition: form-data; name=\"extra\"\r\n\r\nignored\r\n"                    \
    "--XB\r\nContent-Disposition: form-data; "                                                     \
    "name=\"timestamp_granularities[]\"\r\n\r\nsegment\r\n"                                        \
    "--XB--\r\n"

START_TEST(upload_fields)
{
    const char *body = BODY;
    size_t len = strlen(body);
    for (size_t step = 1; step <= len; step = step * 3 + 1) {
        struct mock_upload *u =
            mock_upload_new("multipart/form-data; boundary=XB", err, sizeof(err));
        ck_assert_ptr_nonnull(u);
        for (size_t i = 0; i < len; i += step)
            ck_assert(
                mock_upload_feed(u, body + i, i + step > len ? len - i : step, err, sizeof(err)));
        ck_assert(mock_upload_finish(u, err, sizeof(err)));
        const struct mock_upload_fields *f = mock_upload_fields(u);
        ck_assert_str_eq(f->model, "m1");
        ck_assert(f->gran_word && f->gran_segment && !f->gran_invalid);
        ck_assert(f->have_file);
        ck_assert_str_eq(f->filename, "a.wav");
        ck_assert_ptr_null(f->language);
        size_t n;
        unsigned char *file = mock_upload_take_file(u, &n);
        ck_assert_uint_eq(n, 24);
        ck_assert(memcmp(file, "RIFF\r\n--X-not-a-boundary", n) == 0);
        free(file);
        mock_upload_free(u);
    }
}
END_TEST

START_TEST(upload_errors)
{
    ck_assert_ptr_null(mock_upload_new("application/json", err, sizeof(err)));
    ck_assert_ptr_null(mock_upload_new(NULL, err, sizeof(err)));
    struct mock_upload *u = mock_upload_new("multipart/form-data; boundary=XB", err, sizeof(err));
    ck_assert(mock_upload_feed(u, "--XB\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nab",
                               54, err, sizeof(err)));
    ck_assert(!mock_upload_finish(u, err, sizeof(err)));
    ck_assert(strstr(err, "malformed multipart"));
    mock_upload_free(u);
    /* a small field over the limit */
    u = mock_upload_new("multipart/form-data; boundary=XB", err, sizeof(err));
    const char *head = "--XB\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n";
    ck_assert(mock_upload_feed(u, head, strlen(head), err, sizeof(err)));
    char *big = malloc(MOCK_FIELD_MAX + 10);
    memset(big, 'p', MOCK_FIELD_MAX + 10);
    ck_assert(!mock_upload_feed(u, big, MOCK_FIELD_MAX + 10, err, sizeof(err)));
    ck_assert(strstr(err, "longer than"));
    free(big);
    mock_upload_free(u);
}
END_TEST

static Suite *mock_suite(void)
{
    Suite *s = suite_create("steno-mock");
    TCase *tc = tcase_create("units");
    tcase_add_test(tc, mix_parse);
    tcase_add_test(tc, script_parse);
    tcase_add_test(tc, script_mode_numbers);
    tcase_add_test(tc, rate_mode_seeded);
    tcase_add_test(tc, update_all_or_nothing);
    tcase_add_test(tc, ratelimit_bucket);
    tcase_add_test(tc, ratelimit_many_keys_bounded);
    tcase_add_test(tc, latency_model);
    tcase_add_test(tc, segments_group);
    tcase_add_test(tc, upload_fields);
    tcase_add_test(tc, upload_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = check_run(mock_suite());
    return failed ? 1 : 0;
}
