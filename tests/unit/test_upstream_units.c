/* test_upstream_units.c — admission (fairness, AIMD, token bucket), backoff,
 * Retry-After, upstream URLs and the multipart framing. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"
#include "upstream_admission.h"
#include "upstream_util.h"
#include "../check_run.h"

static int tag(void *p)
{
    return (int)(intptr_t)p;
}

START_TEST(round_robin_between_jobs)
{
    struct admission *a = admission_new(100, 0, 0);
    /* a big job queues 100 chunks first, then a small job queues 2 */
    for (int i = 0; i < 100; i++)
        admission_push(a, "big", UPSTREAM_PRIO_MEDIUM, (void *)(intptr_t)(1000 + i), false);
    admission_push(a, "small", UPSTREAM_PRIO_MEDIUM, (void *)(intptr_t)1, false);
    admission_push(a, "small", UPSTREAM_PRIO_MEDIUM, (void *)(intptr_t)2, false);
    int order[6];
    for (int i = 0; i < 6; i++)
        order[i] = tag(admission_next(a, 0, NULL));
    /* the small job's two chunks are among the first four admitted */
    int small_seen = 0;
    for (int i = 0; i < 4; i++)
        small_seen += order[i] < 1000;
    ck_assert_int_eq(small_seen, 2);
    ck_assert_int_eq(order[0], 1000); /* FIFO inside a job */
    ck_assert_uint_eq(admission_queued(a), 96);
    admission_free(a);
}
END_TEST

START_TEST(strict_priority_and_front_requeue)
{
    struct admission *a = admission_new(10, 0, 0);
    admission_push(a, "low", UPSTREAM_PRIO_LOW, (void *)(intptr_t)3, false);
    admission_push(a, "med", UPSTREAM_PRIO_MEDIUM, (void *)(intptr_t)2, false);
    admission_push(a, "high", UPSTREAM_PRIO_HIGH, (void *)(intptr_t)1, false);
    admission_push(a, "med", UPSTREAM_PRIO_MEDIUM, (void *)(intptr_t)4, true); /* a retry */
    ck_assert_int_eq(tag(admission_next(a, 0, NULL)), 1);
    ck_assert_int_eq(tag(admission_next(a, 0, NULL)), 4);
    ck_assert_int_eq(tag(admission_next(a, 0, NULL)), 2);
    ck_assert_int_eq(tag(admission_next(a, 0, NULL)), 3);
    ck_assert_ptr_null(admission_next(a, 0, NULL));
    admission_free(a);
}
END_TEST

START_TEST(inflight_cap_and_aimd)
{
    struct admission *a = admission_new(8, 0, 0);
    for (int i = 1; i <= 20; i++)
        admission_push(a, "j", UPSTREAM_PRIO_HIGH, (void *)(intptr_t)i, false);
    int started = 0;
    while (admission_next(a, 0, NULL))
        started++;
    ck_assert_int_eq(started, 8);
    ck_assert_uint_eq(admission_inflight(a), 8);
    admission_done(a, ADMISSION_RATE_LIMITED); /* 429: halve */
    ck_assert_uint_eq(admission_cap(a), 4);
    ck_assert_ptr_null(admission_next(a, 0, NULL)); /* 7 in flight > cap 4 */
    for (int i = 0; i < 4; i++)
        admission_done(a, ADMISSION_SUCCESS);
    ck_assert_uint_eq(admission_cap(a), 5); /* +1 after a window of `cap` successes */
    ck_assert_uint_eq(admission_inflight(a), 3);
    ck_assert_ptr_nonnull(admission_next(a, 0, NULL));
    ck_assert_ptr_nonnull(admission_next(a, 0, NULL));
    ck_assert_ptr_null(admission_next(a, 0, NULL));
    for (int i = 0; i < 4; i++)
        admission_done(a, ADMISSION_RATE_LIMITED);
    ck_assert_uint_eq(admission_cap(a), 1); /* never below one */
    admission_free(a);
}
END_TEST

START_TEST(token_bucket)
{
    struct admission *a = admission_new(100, 120, 0); /* 2 per second, burst 2 */
    for (int i = 1; i <= 10; i++)
        admission_push(a, "j", UPSTREAM_PRIO_HIGH, (void *)(intptr_t)i, false);
    double wait;
    ck_assert_ptr_nonnull(admission_next(a, 0, &wait));
    ck_assert_ptr_nonnull(admission_next(a, 0, &wait));
    ck_assert_ptr_null(admission_next(a, 0, &wait));
    ck_assert_double_eq_tol(wait, 0.5, 1e-9);
    ck_assert_ptr_null(admission_next(a, 0.4, &wait));
    ck_assert_ptr_nonnull(admission_next(a, 0.5, &wait));
    /* 10 s later the bucket holds its burst (2), not 20 */
    int n = 0;
    while (admission_next(a, 10.5, NULL))
        n++;
    ck_assert_int_eq(n, 2);
    admission_refund(a);
    ck_assert_ptr_nonnull(admission_next(a, 10.5, NULL));
    admission_free(a);
}
END_TEST

START_TEST(remove_and_free_with_items)
{
    struct admission *a = admission_new(4, 0, 0);
    admission_push(a, "a", UPSTREAM_PRIO_LOW, (void *)(intptr_t)1, false);
    admission_push(a, "b", UPSTREAM_PRIO_LOW, (void *)(intptr_t)2, false);
    admission_push(a, "b", UPSTREAM_PRIO_LOW, (void *)(intptr_t)3, false);
    ck_assert(admission_remove(a, (void *)(intptr_t)2));
    ck_assert(!admission_remove(a, (void *)(intptr_t)2));
    ck_assert(admission_remove(a, (void *)(intptr_t)1));
    ck_assert_uint_eq(admission_queued(a), 1);
    ck_assert_int_eq(tag(admission_next(a, 0, NULL)), 3);
    admission_push(a, "c", UPSTREAM_PRIO_HIGH, (void *)(intptr_t)9, false);
    admission_free(a); /* frees queued items' nodes (ASan checks) */
}
END_TEST

START_TEST(backoff_full_jitter)
{
    ck_assert_double_eq(upstream_backoff(0, 0.5, 30, 0.999999), 0.5 * 0.999999);
    ck_assert_double_eq(upstream_backoff(3, 0.5, 30, 0.5), 2.0);
    ck_assert_double_eq(upstream_backoff(20, 0.5, 30, 0.5), 15.0); /* capped */
    ck_assert_double_eq(upstream_backoff(2, 0.5, 30, 0.0), 0.0);
}
END_TEST

START_TEST(retry_after_forms)
{
    ck_assert_double_eq(upstream_retry_after("7", 0), 7);
    ck_assert_double_eq(upstream_retry_after("0.5", 0), 0.5);
    ck_assert_double_eq(upstream_retry_after("-3", 0), -1);
    ck_assert_double_eq(upstream_retry_after("soon", 0), -1);
    ck_assert_double_eq(upstream_retry_after(NULL, 0), -1);
    /* 1 Jan 2030 00:00:10 GMT = 1893456010 */
    ck_assert_double_eq(upstream_retry_after("Tue, 01 Jan 2030 00:00:10 GMT", 1893456000), 10);
    ck_assert_double_eq(upstream_retry_after("Tue, 01 Jan 2030 00:00:10 GMT", 1893457000), 0);
}
END_TEST

START_TEST(url_parsing)
{
    struct upstream_url u;
    char err[128];
    ck_assert(
        upstream_url_parse("https://foundation-models.api.cloud.ru/v1", &u, err, sizeof(err)));
    ck_assert(u.tls);
    ck_assert_int_eq(u.port, 443);
    ck_assert_str_eq(u.host, "foundation-models.api.cloud.ru");
    ck_assert_str_eq(u.path, "/v1");
    ck_assert(upstream_url_parse("http://127.0.0.1:9000/v1/", &u, err, sizeof(err)));
    ck_assert(!u.tls);
    ck_assert_int_eq(u.port, 9000);
    ck_assert_str_eq(u.path, "/v1");
    ck_assert_str_eq(u.authority, "127.0.0.1:9000");
    ck_assert(upstream_url_parse("https://[::1]:8443", &u, err, sizeof(err)));
    ck_assert_str_eq(u.host, "::1");
    ck_assert_str_eq(u.path, "");
    ck_assert(!upstream_url_parse("ftp://x/v1", &u, err, sizeof(err)));
    ck_assert(!upstream_url_parse("https://:80/v1", &u, err, sizeof(err)));
    ck_assert(!upstream_url_parse("https://h:99999/v1", &u, err, sizeof(err)));
    ck_assert(!upstream_url_parse("https://h/v1?x=1", &u, err, sizeof(err)));
}
END_TEST

struct seen {
    int in_file;
    char names[8][64];
    char values[8][64];
    int n;
    size_t file_bytes;
    char filename[64];
};

static int begin(void *user, const struct multipart_part *part)
{
    struct seen *s = user;
    s->in_file = strcmp(part->name, "file") == 0;
    snprintf(s->names[s->n], 64, "%s", part->name);
    if (part->filename)
        snprintf(s->filename, sizeof(s->filename), "%s", part->filename);
    s->values[s->n][0] = '\0';
    return MULTIPART_CONTINUE;
}

static int data(void *user, const char *d, size_t len)
{
    struct seen *s = user;
    if (s->in_file)
        s->file_bytes += len;
    else
        strncat(s->values[s->n], d, len < 63 ? len : 63);
    return MULTIPART_CONTINUE;
}

static int end(void *user)
{
    struct seen *s = user;
    s->n++;
    return MULTIPART_CONTINUE;
}

START_TEST(form_round_trips_through_our_parser)
{
    struct upstream_form f = {.model = "openai/whisper-large-v3",
                              .language = "ru",
                              .prompt = NULL,
                              .temperature = 0.2,
                              .response_format = "verbose_json",
                              .word_timestamps = true,
                              .filename = "chunk-1.flac",
                              .content_type = "audio/flac"};
    char boundary[64];
    char *head, *tail;
    size_t hl, tl;
    upstream_form_build(&f, boundary, sizeof(boundary), &head, &hl, &tail, &tl);
    char audio[1000];
    memset(audio, 7, sizeof(audio));
    size_t total = hl + sizeof(audio) + tl;
    char *body = malloc(total);
    memcpy(body, head, hl);
    memcpy(body + hl, audio, sizeof(audio));
    memcpy(body + hl + sizeof(audio), tail, tl);
    struct seen s = {0};
    struct multipart_callbacks cbs = {
        .on_part_begin = begin, .on_part_data = data, .on_part_end = end};
    struct multipart_parser *p = multipart_parser_new(boundary, NULL, &cbs, &s);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(multipart_parser_feed(p, body, total), total);
    ck_assert_int_eq(multipart_parser_finish(p), MULTIPART_OK);
    ck_assert_int_eq(s.n, 7);
    ck_assert_str_eq(s.names[0], "model");
    ck_assert_str_eq(s.values[0], "openai/whisper-large-v3");
    ck_assert_str_eq(s.names[1], "language");
    ck_assert_str_eq(s.values[2], "0.2");
    ck_assert_str_eq(s.values[3], "verbose_json");
    ck_assert_str_eq(s.names[4], "timestamp_granularities[]");
    ck_assert_str_eq(s.values[4], "word");
    ck_assert_str_eq(s.names[6], "file");
    ck_assert_str_eq(s.filename, "chunk-1.flac");
    ck_assert_uint_eq(s.file_bytes, sizeof(audio));
    multipart_parser_free(p);
    free(body);
    free(head);
    free(tail);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("upstream_units");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, round_robin_between_jobs);
    tcase_add_test(tc, strict_priority_and_front_requeue);
    tcase_add_test(tc, inflight_cap_and_aimd);
    tcase_add_test(tc, token_bucket);
    tcase_add_test(tc, remove_and_free_with_items);
    tcase_add_test(tc, backoff_full_jitter);
    tcase_add_test(tc, retry_after_forms);
    tcase_add_test(tc, url_parsing);
    tcase_add_test(tc, form_round_trips_through_our_parser);
    suite_add_tcase(s, tc);
    int failed = check_run(s);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
