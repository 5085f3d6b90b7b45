/* test_db_restart.c — the server goes away under the pool: in-flight
 * queries fail cleanly, queued ones wait, everything reconnects (prepared
 * statements re-prepared, LISTEN re-subscribed). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_pool.h"
#include "db_testutil.h"
#include "../check_run.h"

static struct event_base *base;

static void setup(void)
{
    base = event_base_new();
}

static void teardown(void)
{
    event_base_free(base);
}

struct tally {
    int answered, ok, lost, other;
    char last_message[256];
};

static void on_tally(const struct db_result *res, void *arg)
{
    struct tally *t = arg;
    t->answered++;
    if (res->error == DB_OK)
        t->ok++;
    else if (res->error == DB_ERR_CONN_LOST)
        t->lost++;
    else
        t->other++;
    if (res->error != DB_OK)
        snprintf(t->last_message, sizeof(t->last_message), "%s", res->message);
}

static void run_stack(const char *cmd)
{
    int pid = tu_stack_spawn(cmd);
    bool ok = false;
    double end = tu_now() + 30;
    while (!tu_child_done(pid, &ok) && tu_now() < end)
        tu_run_for(base, 0.02); /* the loop keeps running while the server restarts */
    ck_assert_msg(ok, "local-stack %s failed", cmd);
}

START_TEST(server_restart_mid_run)
{
    struct db_pool *p = tu_pool(base, tu_url(), 3);
    db_stmt pid_stmt = db_pool_prepare(p, "SELECT pg_backend_pid()::text || $1::text");
    ck_assert(tu_wait_up(base, p, 10));
    struct tally before = {0}, inflight = {0}, during = {0}, after = {0};
    const char *x[] = {"x"};
    for (int i = 0; i < 6; i++)
        db_pool_exec(p, pid_stmt, 1, x, on_tally, &before);
    ck_assert(tu_run_until_count(base, &before.answered, 6, 5));
    ck_assert_int_eq(before.ok, 6);

    /* Three long statements in flight when the server stops. */
    for (int i = 0; i < 3; i++)
        db_pool_query(p, "SELECT pg_sleep(20)", 0, NULL, on_tally, &inflight);
    tu_run_for(base, 0.2);
    int pid = tu_stack_spawn("pg-stop");
    ck_assert(tu_run_until_count(base, &inflight.answered, 3, 10));
    ck_assert_int_eq(inflight.lost, 3);
    ck_assert_ptr_nonnull(strstr(inflight.last_message, "connection lost"));
    bool ok = false;
    while (!tu_child_done(pid, &ok))
        tu_run_for(base, 0.02);
    ck_assert(ok);

    /* Server down: queries queue up and wait for a connection. */
    for (int i = 0; i < 10; i++)
        db_pool_exec(p, pid_stmt, 1, x, on_tally, &during);
    tu_run_for(base, 0.3);
    ck_assert_int_eq(during.answered, 0);
    struct db_pool_health h;
    db_pool_health(p, &h);
    ck_assert_uint_eq(h.up, 0);
    ck_assert_uint_eq(h.queued, 10);
    ck_assert_str_ne(h.last_error, "");

    run_stack("pg-start");
    ck_assert(tu_run_until_count(base, &during.answered, 10, 15));
    ck_assert_int_eq(during.ok, 10); /* re-prepared on the new sessions */
    for (int i = 0; i < 20; i++)
        db_pool_exec(p, pid_stmt, 1, x, on_tally, &after);
    ck_assert(tu_run_until_count(base, &after.answered, 20, 10));
    ck_assert_int_eq(after.ok, 20);
    ck_assert(tu_wait_up(base, p, 10));
    db_pool_health(p, &h);
    ck_assert_uint_ge(h.reconnects, 3);
    db_pool_close(p);
}
END_TEST

struct heard {
    int subscribed;
    int messages;
    char last[128];
};

static void on_notify(const char *channel, const char *payload, void *arg)
{
    struct heard *h = arg;
    ck_assert_str_eq(channel, "steno_progress");
    if (!payload) {
        h->subscribed++;
        return;
    }
    h->messages++;
    snprintf(h->last, sizeof(h->last), "%s", payload);
}

static void notify(struct db_pool *p, const char *payload)
{
    struct tally t = {0};
    const char *params[] = {"steno_progress", payload};
    db_pool_query(p, "SELECT pg_notify($1, $2)", 2, params, on_tally, &t);
    ck_assert(tu_run_until_count(base, &t.answered, 1, 5));
    ck_assert_int_eq(t.ok, 1);
}

static void kill_listener(struct db_pool *p)
{
    struct tally t = {0};
    db_pool_query(p,
                  "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()",
                  0, NULL, on_tally, &t);
    ck_assert(tu_run_until_count(base, &t.answered, 1, 5));
    ck_assert_int_eq(t.ok, 1);
}

START_TEST(listen_notify_survives_reconnect)
{
    struct db_pool *p = tu_pool(base, tu_url(), 1);
    struct heard h = {0};
    ck_assert(!db_pool_listen(p, "", on_notify, &h));
    ck_assert(db_pool_listen(p, "steno_progress", on_notify, &h));
    ck_assert(tu_run_until_count(base, &h.subscribed, 1, 10));
    notify(p, "job 1: chunk 3 done");
    ck_assert(tu_run_until_count(base, &h.messages, 1, 5));
    ck_assert_str_eq(h.last, "job 1: chunk 3 done");

    kill_listener(p); /* the server drops the LISTEN session */
    ck_assert(tu_run_until_count(base, &h.subscribed, 2, 10));
    struct db_pool_health ph;
    db_pool_health(p, &ph);
    ck_assert(ph.listener && ph.listener_up);
    notify(p, "after reconnect");
    ck_assert(tu_run_until_count(base, &h.messages, 2, 5));
    ck_assert_str_eq(h.last, "after reconnect");

    run_stack("pg-restart"); /* and a whole server restart */
    ck_assert(tu_run_until_count(base, &h.subscribed, 3, 15));
    notify(p, "after restart");
    ck_assert(tu_run_until_count(base, &h.messages, 3, 5));
    ck_assert_str_eq(h.last, "after restart");
    db_pool_close(p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("db_restart");
    TCase *tc = tcase_create("restart");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, server_restart_mid_run);
    tcase_add_test(tc, listen_notify_survives_reconnect);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = check_run(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
