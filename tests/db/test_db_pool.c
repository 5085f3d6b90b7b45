/* test_db_pool.c — the async pool against a real PostgreSQL: queries,
 * parameters, prepared statements, concurrency, the bounded queue,
 * timeouts, close. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_metrics.h"
#include "db_pool.h"
#include "db_testutil.h"
#include "metrics.h"
#include "../check_run.h"

/* What one callback saw, copied out of the result. */
struct answer {
    bool done;
    int calls;
    enum db_error error;
    char sqlstate[6];
    char message[256];
    char value[256];
    int rows;
    double at;
};

static void on_answer(const struct db_result *res, void *arg)
{
    struct answer *a = arg;
    a->calls++;
    a->done = true;
    a->error = res->error;
    a->at = tu_now();
    snprintf(a->sqlstate, sizeof(a->sqlstate), "%s", res->sqlstate);
    snprintf(a->message, sizeof(a->message), "%s", res->message);
    const char *v = db_result_value(res, 0, 0);
    snprintf(a->value, sizeof(a->value), "%s", v ? v : "(null)");
    a->rows = db_result_rows(res);
}

static struct event_base *base;

static void setup(void)
{
    base = event_base_new();
}

static void teardown(void)
{
    event_base_free(base);
}

START_TEST(connects_and_answers)
{
    struct db_pool *p = tu_pool(base, tu_url(), 2);
    ck_assert(tu_wait_up(base, p, 10));
    struct db_pool_health h;
    db_pool_health(p, &h);
    ck_assert_uint_eq(h.up, 2);
    ck_assert_uint_eq(h.total, 2);
    ck_assert_str_eq(h.last_error, "");
    struct answer a = {0};
    db_pool_query(p, "SELECT current_user || '@' || current_database()", 0, NULL, on_answer, &a);
    ck_assert(tu_run_until(base, &a.done, 5));
    ck_assert_int_eq(a.error, DB_OK);
    ck_assert_str_eq(a.value, "steno@steno");
    db_pool_close(p);
}
END_TEST

START_TEST(parameters_nulls_and_sql_errors)
{
    struct db_pool *p = tu_pool(base, tu_url(), 1);
    const char *params[] = {"2", "3", NULL, "it's \"quoted\"; DROP TABLE x"};
    struct answer a = {0}, b = {0}, c = {0}, d = {0};
    db_pool_query(p, "SELECT $1::int + $2::int, $3::text IS NULL, $4::text", 4, params, on_answer,
                  &a);
    db_pool_query(p, "SELECT 1 / 0", 0, NULL, on_answer, &b);
    db_pool_query(p, "SELEC nonsense", 0, NULL, on_answer, &c);
    db_pool_query(p, "SELECT $1::text", 1, params + 3, on_answer, &d);
    ck_assert(tu_run_until(base, &d.done, 10));
    ck_assert_int_eq(a.error, DB_OK);
    ck_assert_str_eq(a.value, "5");
    ck_assert_int_eq(b.error, DB_ERR_SQL);
    ck_assert_str_eq(b.sqlstate, "22012");
    ck_assert_ptr_nonnull(strstr(b.message, "division by zero"));
    ck_assert_int_eq(c.error, DB_ERR_SQL);
    ck_assert_str_eq(c.sqlstate, "42601");
    ck_assert_int_eq(d.error, DB_OK); /* the connection survived both errors */
    ck_assert_str_eq(d.value, params[3]);
    db_pool_close(p);
}
END_TEST

struct rowcheck {
    bool done;
    int nulls, rows;
    char second[32];
};

static void on_rows(const struct db_result *res, void *arg)
{
    struct rowcheck *r = arg;
    r->rows = db_result_rows(res);
    int col = db_result_column(res, "maybe");
    for (int i = 0; i < r->rows; i++)
        r->nulls += db_result_value(res, i, col) == NULL;
    snprintf(r->second, sizeof(r->second), "%s", db_result_value(res, 1, 0));
    r->done = true;
}

START_TEST(result_accessors)
{
    struct db_pool *p = tu_pool(base, tu_url(), 1);
    struct rowcheck r = {0};
    db_pool_query(p,
                  "SELECT g::text AS n, CASE WHEN g % 2 = 0 THEN NULL ELSE 'x' END AS maybe "
                  "FROM generate_series(1, 10) g",
                  0, NULL, on_rows, &r);
    ck_assert(tu_run_until(base, &r.done, 5));
    ck_assert_int_eq(r.rows, 10);
    ck_assert_int_eq(r.nulls, 5);
    ck_assert_str_eq(r.second, "2");
    db_pool_close(p);
}
END_TEST

/* Big enough that PQflush needs write events and the result needs many
 * read events. */
START_TEST(large_parameters_and_results)
{
    struct db_pool *p = tu_pool(base, tu_url(), 1);
    size_t n = 8u << 20;
    char *big = malloc(n + 1);
    memset(big, 'z', n);
    big[n] = '\0';
    const char *params[] = {big};
    struct answer a = {0}, b = {0};
    db_pool_query(p, "SELECT length($1)", 1, params, on_answer, &a);
    free(big); /* parameters are copied at submission */
    db_pool_query(p, "SELECT repeat('x', 1000) FROM generate_series(1, 5000)", 0, NULL, on_answer,
                  &b);
    ck_assert(tu_run_until(base, &b.done, 20));
    ck_assert_int_eq(a.error, DB_OK);
    ck_assert_int_eq(atoi(a.value), (int)n);
    ck_assert_int_eq(b.error, DB_OK);
    ck_assert_int_eq(b.rows, 5000);
    db_pool_close(p);
}
END_TEST

START_TEST(bad_prepared_statement_fails_cleanly)
{
    struct db_pool *p = tu_pool(base, tu_url(), 1);
    db_stmt bad = db_pool_prepare(p, "SELEC $1");
    db_stmt good = db_pool_prepare(p, "SELECT $1::int + 1");
    const char *params[] = {"41"};
    struct answer a = {0}, b = {0}, c = {0}, d = {0};
    db_pool_exec(p, bad, 1, params, on_answer, &a);
    db_pool_exec(p, good, 1, params, on_answer, &b);
    db_pool_exec(p, bad, 1, params, on_answer, &c);
    db_pool_exec(p, 99, 1, params, on_answer, &d); /* never registered */
    ck_assert(tu_run_until(base, &c.done, 5));
    ck_assert_int_eq(a.error, DB_ERR_SQL);
    ck_assert_str_eq(a.sqlstate, "42601");
    ck_assert_int_eq(b.error, DB_OK);
    ck_assert_str_eq(b.value, "42");
    ck_assert_int_eq(c.error, DB_ERR_SQL); /* prepared again, fails again */
    ck_assert_int_eq(d.error, DB_ERR_MISUSE);
    db_pool_close(p);
}
END_TEST

struct many {
    int answered;
    int wrong;
    int *calls;
};

struct many_item {
    struct many *m;
    int i;
};

static void on_many(const struct db_result *res, void *arg)
{
    struct many_item *it = arg;
    it->m->calls[it->i]++;
    it->m->answered++;
    const char *v = db_result_value(res, 0, 0);
    if (res->error != DB_OK || !v || atoi(v) != it->i * 2)
        it->m->wrong++;
}

/* 1000 queries over 4 connections, half of them prepared: each answered
 * exactly once, with its own result. */
START_TEST(thousand_concurrent_queries)
{
    enum { N = 1000 };
    struct db_pool *p = tu_pool(base, tu_url(), 4);
    db_stmt twice = db_pool_prepare(p, "SELECT $1::int * 2");
    struct many m = {.calls = calloc(N, sizeof(int))};
    struct many_item *items = calloc(N, sizeof(*items));
    for (int i = 0; i < N; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        const char *params[] = {v};
        items[i] = (struct many_item){&m, i};
        if (i % 2)
            db_pool_exec(p, twice, 1, params, on_many, &items[i]);
        else
            db_pool_query(p, "SELECT $1::int + $1::int", 1, params, on_many, &items[i]);
    }
    ck_assert(tu_run_until_count(base, &m.answered, N, 30));
    tu_run_for(base, 0.05); /* nothing answers twice */
    ck_assert_int_eq(m.answered, N);
    ck_assert_int_eq(m.wrong, 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(m.calls[i], 1);
    struct db_pool_health h;
    db_pool_health(p, &h);
    ck_assert_uint_eq(h.up, 4);
    ck_assert_uint_eq(h.queued, 0);
    db_pool_close(p);
    free(m.calls);
    free(items);
}
END_TEST

struct sync_probe {
    bool submitting;
    bool called_inside;
    struct answer a;
};

static void on_probe(const struct db_result *res, void *arg)
{
    struct sync_probe *s = arg;
    if (s->submitting)
        s->called_inside = true;
    on_answer(res, &s->a);
}

START_TEST(queue_full_is_refused_on_next_pass)
{
    struct db_pool_options o;
    db_pool_options_default(&o);
    o.conninfo = tu_url();
    o.connections = 1;
    o.max_queue = 3;
    char err[128];
    struct db_pool *p = db_pool_new(base, &o, err, sizeof(err));
    ck_assert(tu_wait_up(base, p, 10));
    struct answer busy = {0}, queued[3] = {{0}};
    struct sync_probe over[2] = {{0}};
    db_pool_query(p, "SELECT pg_sleep(0.3)", 0, NULL, on_answer, &busy);
    for (int i = 0; i < 3; i++)
        db_pool_query(p, "SELECT 1", 0, NULL, on_answer, &queued[i]);
    for (int i = 0; i < 2; i++) {
        over[i].submitting = true;
        db_pool_query(p, "SELECT 1", 0, NULL, on_probe, &over[i]);
        over[i].submitting = false;
        ck_assert(!over[i].a.done); /* never from inside the submitting call */
    }
    struct db_pool_health h;
    db_pool_health(p, &h);
    ck_assert_uint_eq(h.queued, 3);
    ck_assert(tu_run_until(base, &over[1].a.done, 1));
    ck_assert(!busy.done); /* refused at once, not after the busy query */
    for (int i = 0; i < 2; i++) {
        ck_assert(!over[i].called_inside);
        ck_assert_int_eq(over[i].a.error, DB_ERR_QUEUE_FULL);
    }
    ck_assert(tu_run_until(base, &queued[2].done, 5));
    ck_assert_int_eq(busy.error, DB_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(queued[i].error, DB_OK);
    db_pool_close(p);
}
END_TEST

START_TEST(client_timeout_in_flight_and_queued)
{
    struct db_pool *p = tu_pool(base, tu_url(), 1);
    ck_assert(tu_wait_up(base, p, 10));
    struct answer slow = {0}, waiting = {0}, after = {0};
    struct db_query q = {
        .sql = "SELECT pg_sleep(5)", .stmt = -1, .timeout = 0.3, .cb = on_answer, .arg = &slow};
    db_pool_submit(p, &q);
    struct db_query w = {
        .sql = "SELECT 1", .stmt = -1, .timeout = 0.1, .cb = on_answer, .arg = &waiting};
    db_pool_submit(p, &w);
    double t0 = tu_now();
    ck_assert(tu_run_until(base, &slow.done, 3));
    ck_assert_int_eq(waiting.error, DB_ERR_TIMEOUT); /* timed out in the queue first */
    ck_assert_ptr_nonnull(strstr(waiting.message, "waiting"));
    ck_assert_int_eq(slow.error, DB_ERR_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(slow.message, "in flight"));
    ck_assert(slow.at - t0 < 1.0);
    /* The abandoned session is replaced: the next query just works. */
    db_pool_query(p, "SELECT 'fine'", 0, NULL, on_answer, &after);
    ck_assert(tu_run_until(base, &after.done, 5));
    ck_assert_int_eq(after.error, DB_OK);
    ck_assert_str_eq(after.value, "fine");
    db_pool_close(p);
}
END_TEST

START_TEST(server_statement_timeout)
{
    struct db_pool_options o;
    db_pool_options_default(&o);
    o.conninfo = tu_url();
    o.connections = 1;
    o.statement_timeout = 0.2;
    char err[128];
    struct db_pool *p = db_pool_new(base, &o, err, sizeof(err));
    struct answer a = {0}, b = {0}, setting = {0};
    db_pool_query(p, "SHOW statement_timeout", 0, NULL, on_answer, &setting);
    db_pool_query(p, "SELECT pg_sleep(3)", 0, NULL, on_answer, &a);
    db_pool_query(p, "SELECT pg_backend_pid() > 0", 0, NULL, on_answer, &b);
    ck_assert(tu_run_until(base, &b.done, 5));
    ck_assert_str_eq(setting.value, "200ms");
    ck_assert_int_eq(a.error, DB_ERR_SQL);
    ck_assert_str_eq(a.sqlstate, "57014"); /* query_canceled */
    ck_assert_int_eq(b.error, DB_OK);
    struct db_pool_health h;
    db_pool_health(p, &h);
    ck_assert_uint_eq(h.reconnects, 0); /* same session throughout */
    db_pool_close(p);
}
END_TEST

struct closing {
    struct db_pool *pool;
    int calls;
    int shutdown;
    int resubmitted;
};

static void on_closing(const struct db_result *res, void *arg)
{
    struct closing *c = arg;
    c->calls++;
    c->shutdown += res->error == DB_ERR_SHUTDOWN;
    if (res->error == DB_ERR_SHUTDOWN && c->resubmitted < 3) {
        c->resubmitted++;
        db_pool_query(c->pool, "SELECT 1", 0, NULL, on_closing, c); /* refused too */
    }
}

START_TEST(close_fails_everything_once)
{
    struct db_pool *p = tu_pool(base, tu_url(), 2);
    ck_assert(tu_wait_up(base, p, 10));
    struct closing c = {.pool = p};
    db_pool_query(p, "SELECT pg_sleep(10)", 0, NULL, on_closing, &c);
    db_pool_query(p, "SELECT pg_sleep(10)", 0, NULL, on_closing, &c);
    for (int i = 0; i < 5; i++)
        db_pool_query(p, "SELECT 1", 0, NULL, on_closing, &c);
    tu_run_for(base, 0.1);
    db_pool_close(p); /* outside any callback: everything happens now */
    ck_assert_int_eq(c.calls, 7 + 3);
    ck_assert_int_eq(c.shutdown, 7 + 3);
}
END_TEST

struct close_inside {
    struct db_pool *pool;
    bool first;
    int others;
    enum db_error other_error;
};

static void on_other(const struct db_result *res, void *arg)
{
    struct close_inside *ci = arg;
    ci->others++;
    ci->other_error = res->error;
}

static void on_first_then_close(const struct db_result *res, void *arg)
{
    struct close_inside *ci = arg;
    ci->first = true;
    db_pool_close(ci->pool); /* deferred: the pool is inside its own handler */
    db_pool_query(ci->pool, "SELECT 1", 0, NULL, on_other, ci);
}

START_TEST(close_from_inside_a_callback)
{
    struct db_pool *p = tu_pool(base, tu_url(), 1);
    struct close_inside ci = {.pool = p};
    db_pool_query(p, "SELECT 1", 0, NULL, on_first_then_close, &ci);
    db_pool_query(p, "SELECT pg_sleep(5)", 0, NULL, on_other, &ci);
    ck_assert(tu_run_until_count(base, &ci.others, 2, 3));
    ck_assert(ci.first);
    ck_assert_int_eq(ci.other_error, DB_ERR_SHUTDOWN);
    tu_run_for(base, 0.05);
    ck_assert_int_eq(ci.others, 2); /* and the pool is gone: ASan would see a use after free */
}
END_TEST

START_TEST(unreachable_server)
{
    /* A port nothing listens on: the pool keeps trying, says why in
     * health, and queries end at their deadline. */
    struct db_pool_options o;
    db_pool_options_default(&o);
    o.conninfo = "postgresql://steno@127.0.0.1:1/steno";
    o.connections = 2;
    o.query_timeout = 0.3;
    o.reconnect_min = 0.02;
    o.reconnect_max = 0.1;
    char err[128];
    struct db_pool *p = db_pool_new(base, &o, err, sizeof(err));
    ck_assert_ptr_nonnull(p);
    struct answer a = {0};
    db_pool_query(p, "SELECT 1", 0, NULL, on_answer, &a);
    ck_assert(tu_run_until(base, &a.done, 3));
    ck_assert_int_eq(a.error, DB_ERR_TIMEOUT);
    struct db_pool_health h;
    db_pool_health(p, &h);
    ck_assert_uint_eq(h.up, 0);
    ck_assert_ptr_nonnull(strstr(h.last_error, "refused"));
    db_pool_close(p);
    o.conninfo = "";
    ck_assert_ptr_null(db_pool_new(base, &o, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "STENO_DATABASE_URL"));
}
END_TEST

START_TEST(metrics_count_outcomes)
{
    int64_t ok0 = metrics_value(0); /* steno_db_queries_total{outcome="ok"} is declared first */
    struct db_pool *p = tu_pool(base, tu_url(), 1);
    struct answer a = {0}, b = {0};
    db_pool_query(p, "SELECT 1", 0, NULL, on_answer, &a);
    db_pool_query(p, "SELECT 1/0", 0, NULL, on_answer, &b);
    ck_assert(tu_run_until(base, &b.done, 5));
    ck_assert_int_eq(metrics_value(0), ok0 + 1);
    size_t len;
    char *text = metrics_render(&len);
    ck_assert_ptr_nonnull(strstr(text, "steno_db_queries_total{outcome=\"sql\"} 1"));
    ck_assert_ptr_nonnull(strstr(text, "steno_db_connections 1"));
    ck_assert_ptr_nonnull(strstr(text, "steno_db_query_seconds_count 2"));
    free(text);
    db_pool_close(p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("db_pool");
    TCase *tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, connects_and_answers);
    tcase_add_test(tc, parameters_nulls_and_sql_errors);
    tcase_add_test(tc, result_accessors);
    tcase_add_test(tc, large_parameters_and_results);
    tcase_add_test(tc, bad_prepared_statement_fails_cleanly);
    tcase_add_test(tc, thousand_concurrent_queries);
    tcase_add_test(tc, queue_full_is_refused_on_next_pass);
    tcase_add_test(tc, client_timeout_in_flight_and_queued);
    tcase_add_test(tc, server_statement_timeout);
    tcase_add_test(tc, close_fails_everything_once);
    tcase_add_test(tc, close_from_inside_a_callback);
    tcase_add_test(tc, unreachable_server);
    tcase_add_test(tc, metrics_count_outcomes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    db_metrics_init(); /* before the forks of Check: every test sees the series */
    int failed = check_run(suite());
    metrics_reset();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
