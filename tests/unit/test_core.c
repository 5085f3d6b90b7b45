/* test_core.c — config table, router, metrics rendering. */
#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "router.h"
#include "steno_config.h"
#include "../check_run.h"

START_TEST(config_values)
{
    uint64_t sz;
    ck_assert(config_parse_size("25M", &sz) && sz == 25u * 1024 * 1024);
    ck_assert(config_parse_size("512k", &sz) && sz == 512u * 1024);
    ck_assert(config_parse_size("1GiB", &sz) && sz == 1024u * 1024 * 1024);
    ck_assert(config_parse_size("100", &sz) && sz == 100);
    ck_assert(!config_parse_size("12q", &sz));
    ck_assert(!config_parse_size("-1", &sz));
    ck_assert(!config_parse_size("", &sz));
    double s;
    ck_assert(config_parse_seconds("500ms", &s) && s == 0.5);
    ck_assert(config_parse_seconds("2m", &s) && s == 120);
    ck_assert(config_parse_seconds("1.5", &s) && s == 1.5);
    ck_assert(!config_parse_seconds("fast", &s));
    bool b;
    ck_assert(config_parse_bool("yes", &b) && b);
    ck_assert(config_parse_bool("off", &b) && !b);
    ck_assert(!config_parse_bool("maybe", &b));
}
END_TEST

START_TEST(config_precedence_flags_over_env)
{
    struct steno_config cfg = {0};
    bool help;
    char err[256];
    setenv("STENO_WORKERS", "3", 1);
    setenv("STENO_LISTEN", "127.0.0.1:1,127.0.0.1:2", 1);
    setenv("STENO_MAX_UPLOAD", "2M", 1);
    char *argv[] = {"stenod", "--workers", "5", "--listen=127.0.0.1:9", "--listen", "[::1]:9"};
    ck_assert(steno_config_load(&cfg, 6, argv, &help, err, sizeof(err)));
    ck_assert(!help);
    ck_assert_int_eq(cfg.workers, 5);           /* flag wins */
    ck_assert_uint_eq(cfg.max_upload, 2 << 20); /* env beats default */
    ck_assert_uint_eq(cfg.listen.n, 2);         /* first flag replaces env list */
    ck_assert_str_eq(cfg.listen.items[1], "[::1]:9");
    ck_assert_str_eq(cfg.model, "openai/whisper-large-v3"); /* default */
    steno_config_free(&cfg);
    unsetenv("STENO_WORKERS");
    unsetenv("STENO_LISTEN");
    unsetenv("STENO_MAX_UPLOAD");
}
END_TEST

START_TEST(config_errors)
{
    struct steno_config cfg = {0};
    bool help;
    char err[256];
    char *a1[] = {"stenod", "--workers", "0"};
    ck_assert(!steno_config_load(&cfg, 3, a1, &help, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "--workers"));
    steno_config_free(&cfg);
    char *a2[] = {"stenod", "--no-such-thing"};
    ck_assert(!steno_config_load(&cfg, 2, a2, &help, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "unknown option"));
    steno_config_free(&cfg);
    char *a3[] = {"stenod", "--tls-listen", "127.0.0.1:0"};
    ck_assert(!steno_config_load(&cfg, 3, a3, &help, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "--tls-cert"));
    steno_config_free(&cfg);
    char *a4[] = {"stenod", "--model"};
    ck_assert(!steno_config_load(&cfg, 2, a4, &help, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "needs a value"));
    steno_config_free(&cfg);
    setenv("STENO_BODY_TIMEOUT", "soon", 1);
    char *a5[] = {"stenod"};
    ck_assert(!steno_config_load(&cfg, 1, a5, &help, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "STENO_BODY_TIMEOUT"));
    unsetenv("STENO_BODY_TIMEOUT");
    steno_config_free(&cfg);
}
END_TEST

static void dummy(struct http_request *req)
{
    (void)req;
}

START_TEST(router_params_and_methods)
{
    router_reset();
    router_add(&(struct route){.method = "GET", .pattern = "/v1/jobs/{id}", .handler = dummy});
    router_add(&(struct route){.method = "DELETE", .pattern = "/v1/jobs/{id}", .handler = dummy});
    router_add(
        &(struct route){.method = "GET", .pattern = "/v1/jobs/{id}/events", .handler = dummy});
    struct http_request *req = http_request_new(HTTP_PROTO_1);
    req->method = strdup("GET");
    ck_assert(http_request_set_target(req, "/v1/jobs/abc123/events?x=1"));
    char allow[64];
    ck_assert_int_eq(router_match(req, allow, sizeof(allow)), ROUTER_FOUND);
    ck_assert_str_eq(req->route->pattern, "/v1/jobs/{id}/events");
    ck_assert_str_eq(http_request_param(req, "id"), "abc123");
    ck_assert_ptr_null(http_request_param(req, "i"));
    char q[16];
    ck_assert_str_eq(http_request_query(req, "x", q, sizeof(q)), "1");
    free(req->method);
    req->method = strdup("POST");
    ck_assert(http_request_set_target(req, "/v1/jobs/abc"));
    ck_assert_int_eq(router_match(req, allow, sizeof(allow)), ROUTER_METHOD_NOT_ALLOWED);
    ck_assert_str_eq(allow, "GET, DELETE");
    ck_assert(http_request_set_target(req, "/v1/jobs/"));
    ck_assert_int_eq(router_match(req, allow, sizeof(allow)), ROUTER_NOT_FOUND);
    ck_assert(http_request_set_target(req, "/v1/jobs/a/b"));
    ck_assert_int_eq(router_match(req, allow, sizeof(allow)), ROUTER_NOT_FOUND);
    free(req->method);
    req->method = strdup("HEAD"); /* HEAD is served by GET routes */
    ck_assert(http_request_set_target(req, "/v1/jobs/zz"));
    ck_assert_int_eq(router_match(req, allow, sizeof(allow)), ROUTER_FOUND);
    http_request_free(req);
    router_reset();
}
END_TEST

START_TEST(query_decoding)
{
    struct http_request *req = http_request_new(HTTP_PROTO_2);
    ck_assert(http_request_set_target(req, "/x?a=1&name=hello+w%6Frld&flag&bad=%zz"));
    char buf[32];
    ck_assert_str_eq(http_request_query(req, "name", buf, sizeof(buf)), "hello world");
    ck_assert_str_eq(http_request_query(req, "flag", buf, sizeof(buf)), "");
    ck_assert_str_eq(http_request_query(req, "bad", buf, sizeof(buf)), "%zz");
    ck_assert_ptr_null(http_request_query(req, "nope", buf, sizeof(buf)));
    http_request_free(req);
}
END_TEST

START_TEST(metrics_sum_over_slots)
{
    metrics_reset();
    metric_id c = metrics_counter("t_total", "a counter", "k=\"v\"");
    metric_id g = metrics_gauge("t_open", "a gauge", "");
    double bounds[] = {0.1, 1};
    metric_id h = metrics_histogram("t_seconds", "a histogram", "", bounds, 2);
    metric_id c2 = metrics_counter("t_total", "a counter", "k=\"w\"");
    ck_assert(metrics_start(2));
    metrics_bind_slot(0);
    metrics_add(c, 2);
    metrics_gauge_add(g, 3);
    metrics_observe(h, 0.05);
    metrics_bind_slot(1);
    metrics_add(c, 5);
    metrics_add(c2, 1);
    metrics_gauge_add(g, -1);
    metrics_observe(h, 0.5);
    metrics_observe(h, 7);
    ck_assert_int_eq(metrics_value(c), 7);
    ck_assert_int_eq(metrics_value(g), 2);
    size_t len;
    char *text = metrics_render(&len);
    ck_assert_uint_eq(strlen(text), len);
    ck_assert_ptr_nonnull(
        strstr(text, "# TYPE t_total counter\nt_total{k=\"v\"} 7\nt_total{k=\"w\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_open 2\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_seconds_bucket{le=\"0.1\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_seconds_bucket{le=\"1\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_seconds_bucket{le=\"+Inf\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_seconds_sum 7.550000\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_seconds_count 3\n"));
    /* one HELP/TYPE per family even with series declared apart */
    ck_assert_ptr_null(strstr(strstr(text, "# TYPE t_total") + 1, "# TYPE t_total"));
    free(text);
    /* a restarted worker keeps counters and zeroes gauges */
    metrics_bind_slot(1);
    ck_assert_int_eq(metrics_value(c), 7);
    ck_assert_int_eq(metrics_value(g), 3);
    metrics_reset();
}
END_TEST

struct seen {
    int series;
    double p50, p99, sum;
    int64_t count, counter;
};

static void look(const struct metrics_sample *m, void *arg)
{
    struct seen *s = arg;
    s->series++;
    if (strcmp(m->name, "q_seconds") == 0) {
        s->p50 = metrics_quantile(m, 0.5);
        s->p99 = metrics_quantile(m, 0.99);
        s->sum = m->sum;
        s->count = m->value;
    } else if (strcmp(m->name, "q_total") == 0) {
        s->counter = m->value;
    }
}

/* The JSON view's numbers: sums over slots and bucket-interpolated quantiles. */
START_TEST(metrics_foreach_and_quantiles)
{
    metrics_reset();
    static const double bounds[] = {0.1, 1, 10};
    metric_id h = metrics_histogram("q_seconds", "h", "", bounds, 3);
    metric_id c = metrics_counter("q_total", "c", "a=\"b\"");
    ck_assert(metrics_start(2));
    metrics_bind_slot(0);
    for (int i = 0; i < 50; i++)
        metrics_observe(h, 0.05); /* 50 in (0, 0.1] */
    metrics_bind_slot(1);
    for (int i = 0; i < 50; i++)
        metrics_observe(h, 0.5); /* 50 in (0.1, 1] */
    metrics_add(c, 4);
    struct seen s = {0};
    metrics_foreach(look, &s);
    ck_assert_int_eq(s.series, 2);
    ck_assert_int_eq(s.count, 100);
    ck_assert_int_eq(s.counter, 4);
    ck_assert_double_eq_tol(s.sum, 27.5, 1e-6);
    ck_assert_double_eq_tol(s.p50, 0.1, 1e-9);              /* the 50th of 100: top of bucket 1 */
    ck_assert_double_eq_tol(s.p99, 0.1 + 0.9 * 0.98, 1e-9); /* 49 of 50 into (0.1, 1] */
    metrics_reset();
    struct metrics_sample empty = {.bounds = bounds, .nbounds = 3};
    ck_assert(isnan(metrics_quantile(&empty, 0.5)));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, config_values);
    tcase_add_test(tc, config_precedence_flags_over_env);
    tcase_add_test(tc, config_errors);
    tcase_add_test(tc, router_params_and_methods);
    tcase_add_test(tc, query_decoding);
    tcase_add_test(tc, metrics_sum_over_slots);
    tcase_add_test(tc, metrics_foreach_and_quantiles);
    suite_add_tcase(s, tc);
    int failed = check_run(s);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
