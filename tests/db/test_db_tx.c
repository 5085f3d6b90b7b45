/* test_db_tx.c — pinned connections (transactions) on the real schema:
 * commit, rollback on release, the idempotent job insert, and the
 * FOR UPDATE SKIP LOCKED claim with concurrent claimers. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_migrate.h"
#include "db_pool.h"
#include "db_testutil.h"
#include "../check_run.h"

static struct event_base *base;
static char *url;

static void setup(void)
{
    base = event_base_new();
    url = tu_fresh_db();
    char err[512];
    ck_assert_msg(db_migrate_run(url, err, sizeof(err)), "%s", err);
}

static void teardown(void)
{
    event_base_free(base);
    free(url);
}

static const char insert_job[] =
    "INSERT INTO jobs (audio_sha256, audio_path, audio_bytes, cache_key, priority, "
    "idempotency_key) VALUES (repeat('a', 64), '/tmp/x', 1, 'k', $1::smallint, $2) "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id";

/* ---- A submission: BEGIN; INSERT … ON CONFLICT DO NOTHING; if another
 * submission holds the key, SELECT its id; COMMIT. The callback chain below
 * is how a handler runs a transaction on a pinned connection. */
struct submit {
    struct db_pool *pool;
    struct db_conn *conn;
    const char *key;
    char id[64];
    bool created, done, failed;
};

static void step_fail(struct submit *s, const struct db_result *res)
{
    s->failed = s->done = true;
    fprintf(stderr, "submit failed: %s\n", res->message);
    db_conn_release(s->conn);
}

static void on_commit(const struct db_result *res, void *arg)
{
    struct submit *s = arg;
    if (res->error != DB_OK)
        return step_fail(s, res);
    s->done = true;
    db_conn_release(s->conn);
}

static void on_existing(const struct db_result *res, void *arg)
{
    struct submit *s = arg;
    if (res->error != DB_OK || db_result_rows(res) != 1)
        return step_fail(s, res);
    snprintf(s->id, sizeof(s->id), "%s", db_result_value(res, 0, 0));
    db_conn_query(s->conn, "COMMIT", 0, NULL, on_commit, s);
}

static void on_insert(const struct db_result *res, void *arg)
{
    struct submit *s = arg;
    if (res->error != DB_OK)
        return step_fail(s, res);
    if (db_result_rows(res) == 1) {
        s->created = true;
        snprintf(s->id, sizeof(s->id), "%s", db_result_value(res, 0, 0));
        db_conn_query(s->conn, "COMMIT", 0, NULL, on_commit, s);
        return;
    }
    const char *params[] = {s->key};
    db_conn_query(s->conn, "SELECT id FROM jobs WHERE idempotency_key = $1", 1, params, on_existing,
                  s);
}

static void on_begin(const struct db_result *res, void *arg)
{
    struct submit *s = arg;
    if (res->error != DB_OK)
        return step_fail(s, res);
    const char *params[] = {"1", s->key};
    db_conn_query(s->conn, insert_job, 2, params, on_insert, s);
}

static void on_acquired(struct db_conn *conn, const struct db_result *err, void *arg)
{
    struct submit *s = arg;
    ck_assert_ptr_null(err);
    s->conn = conn;
    db_conn_query(conn, "BEGIN", 0, NULL, on_begin, s);
}

START_TEST(idempotent_submission_in_a_transaction)
{
    enum { N = 6 };
    struct db_pool *p = tu_pool(base, url, 4);
    struct submit s[N + 1];
    for (int i = 0; i <= N; i++) {
        s[i] = (struct submit){.pool = p, .key = i < N ? "same-key" : "other-key"};
        db_pool_acquire(p, -1, on_acquired, &s[i]);
    }
    for (int i = 0; i <= N; i++)
        ck_assert(tu_run_until(base, &s[i].done, 10));
    int created = 0;
    for (int i = 0; i <= N; i++) {
        ck_assert(!s[i].failed);
        created += s[i].created;
        if (i < N)
            ck_assert_str_eq(s[i].id, s[0].id); /* same key → same job */
    }
    ck_assert_int_eq(created, 2);
    ck_assert_str_ne(s[N].id, s[0].id);
    char *count = tu_scalar(url, "SELECT count(*) FROM jobs");
    ck_assert_str_eq(count, "2");
    free(count);
    /* A later retry of the same submission finds the same job. */
    struct submit again = {.pool = p, .key = "same-key"};
    db_pool_acquire(p, -1, on_acquired, &again);
    ck_assert(tu_run_until(base, &again.done, 5));
    ck_assert(!again.created);
    ck_assert_str_eq(again.id, s[0].id);
    db_pool_close(p);
}
END_TEST

/* ---- Release inside an open transaction rolls it back; misuse is caught. */
struct pinned {
    bool acquired;
    struct db_conn *conn;
    int answered;
    enum db_error errors[4];
};

static void on_pinned_step(const struct db_result *res, void *arg)
{
    struct pinned *pn = arg;
    pn->errors[pn->answered++] = res->error;
}

static void on_pin(struct db_conn *conn, const struct db_result *err, void *arg)
{
    struct pinned *pn = arg;
    pn->conn = conn;
    pn->acquired = true;
}

START_TEST(release_rolls_back_and_misuse_is_refused)
{
    struct db_pool *p = tu_pool(base, url, 1);
    struct pinned pn = {0};
    db_pool_acquire(p, -1, on_pin, &pn);
    ck_assert(tu_run_until(base, &pn.acquired, 5));
    ck_assert_ptr_nonnull(pn.conn);
    db_conn_query(pn.conn, "BEGIN", 0, NULL, on_pinned_step, &pn);
    db_conn_query(pn.conn, "SELECT 1", 0, NULL, on_pinned_step, &pn); /* while BEGIN in flight */
    ck_assert(tu_run_until_count(base, &pn.answered, 2, 5));
    /* one refused (a second statement while BEGIN is in flight), one run;
     * the refusal comes on the next loop pass, which on a busy machine may
     * be the pass that also reads BEGIN's reply — so either order */
    ck_assert_msg((pn.errors[0] == DB_ERR_MISUSE && pn.errors[1] == DB_OK) ||
                      (pn.errors[0] == DB_OK && pn.errors[1] == DB_ERR_MISUSE),
                  "errors %d, %d", pn.errors[0], pn.errors[1]);
    const char *params[] = {"2", "rolled-back"};
    db_conn_query(pn.conn, insert_job, 2, params, on_pinned_step, &pn);
    ck_assert(tu_run_until_count(base, &pn.answered, 3, 5));
    ck_assert_int_eq(pn.errors[2], DB_OK);
    db_conn_release(pn.conn); /* no COMMIT */
    /* The only connection is handed on only after the ROLLBACK. */
    struct pinned q = {0};
    db_pool_query(p, "SELECT count(*)::int FROM jobs", 0, NULL, on_pinned_step, &q);
    ck_assert(tu_run_until_count(base, &q.answered, 1, 5));
    char *count = tu_scalar(url, "SELECT count(*) FROM jobs");
    ck_assert_str_eq(count, "0");
    free(count);
    db_pool_close(p);
}
END_TEST

struct waiter {
    bool done;
    struct db_conn *conn;
    enum db_error error;
};

static void on_wait(struct db_conn *conn, const struct db_result *err, void *arg)
{
    struct waiter *w = arg;
    w->done = true;
    w->conn = conn;
    w->error = err ? err->error : DB_OK;
}

START_TEST(acquire_waits_in_the_queue_with_a_deadline)
{
    struct db_pool *p = tu_pool(base, url, 1);
    struct waiter a = {0}, b = {0}, c = {0};
    db_pool_acquire(p, -1, on_wait, &a);
    db_pool_acquire(p, 0.2, on_wait, &b);
    db_pool_acquire(p, 5, on_wait, &c);
    ck_assert(tu_run_until(base, &b.done, 5));
    ck_assert(a.done && a.conn);
    ck_assert_ptr_null(b.conn);
    ck_assert_int_eq(b.error, DB_ERR_TIMEOUT);
    ck_assert(!c.done); /* still waiting for a's connection */
    db_conn_release(a.conn);
    ck_assert(tu_run_until(base, &c.done, 5));
    ck_assert_ptr_eq(c.conn, a.conn);
    db_conn_release(c.conn);
    db_pool_close(p);
}
END_TEST

/* ---- Claiming with FOR UPDATE SKIP LOCKED: claimers on two pools (two
 * "processes") run concurrently until the queue is empty. */
static const char claim_sql[] =
    "UPDATE jobs SET status = 'running', lease_owner = $1, "
    "lease_expires_at = now() + interval '30 seconds', attempts = attempts + 1, "
    "started_at = coalesce(started_at, now()) "
    "WHERE id = (SELECT id FROM jobs WHERE status = 'queued' "
    "ORDER BY priority, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
    "RETURNING id, priority";

enum { NJOBS = 300 };

struct claimer {
    struct db_pool *pool;
    db_stmt claim;
    const char *owner;
    char (*ids)[40];
    int *nids;
    int *finished;
    int errors;
};

static void claim_next(struct claimer *c);

static void on_claim(const struct db_result *res, void *arg)
{
    struct claimer *c = arg;
    if (res->error != DB_OK) {
        c->errors++;
        (*c->finished)++;
        return;
    }
    if (db_result_rows(res) == 0) {
        (*c->finished)++;
        return;
    }
    snprintf(c->ids[(*c->nids)++], 40, "%s", db_result_value(res, 0, 0));
    claim_next(c);
}

static void claim_next(struct claimer *c)
{
    const char *params[] = {c->owner};
    db_pool_exec(c->pool, c->claim, 1, params, on_claim, c);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

START_TEST(skip_locked_claimers_never_share_a_job)
{
    char *sql = xasprintf("INSERT INTO jobs (audio_sha256, audio_path, audio_bytes, cache_key, "
                          "priority) SELECT repeat('b', 64), '/a', 1, 'k' || g, (g %% 3) "
                          "FROM generate_series(1, %d) g",
                          NJOBS);
    free(tu_scalar(url, sql));
    free(sql);
    struct db_pool *pools[2] = {tu_pool(base, url, 4), tu_pool(base, url, 4)};
    static char ids[NJOBS + 8][40];
    int nids = 0, finished = 0;
    struct claimer cl[8];
    for (int i = 0; i < 8; i++) {
        struct db_pool *p = pools[i % 2];
        cl[i] = (struct claimer){.pool = p,
                                 .owner = i % 2 ? "host-b" : "host-a",
                                 .ids = ids,
                                 .nids = &nids,
                                 .finished = &finished};
        cl[i].claim = db_pool_prepare(p, claim_sql); /* same text, per pool */
    }
    for (int i = 0; i < 8; i++)
        claim_next(&cl[i]);
    ck_assert(tu_run_until_count(base, &finished, 8, 30));
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(cl[i].errors, 0);
    ck_assert_int_eq(nids, NJOBS);
    qsort(ids, (size_t)nids, sizeof(ids[0]), cmp_id);
    for (int i = 1; i < nids; i++)
        ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "job %s claimed twice", ids[i]);
    char *left = tu_scalar(url, "SELECT count(*) FROM jobs WHERE status = 'queued'");
    ck_assert_str_eq(left, "0");
    free(left);
    char *owners = tu_scalar(url, "SELECT count(DISTINCT lease_owner) FROM jobs");
    ck_assert_str_eq(owners, "2"); /* both "processes" got work */
    free(owners);
    db_pool_close(pools[0]);
    db_pool_close(pools[1]);
}
END_TEST

struct one_claim {
    bool done;
    char key[32];
};

static void on_one_claim(const struct db_result *res, void *arg)
{
    struct one_claim *oc = arg;
    const char *k = db_result_value(res, 0, 2);
    snprintf(oc->key, sizeof(oc->key), "%s", k ? k : "(none)");
    oc->done = true;
}

START_TEST(claim_order_and_lease_reclaim)
{
    /* Priority first (0 = high), then age. */
    free(tu_scalar(url, "INSERT INTO jobs (audio_sha256, audio_path, audio_bytes, cache_key, "
                        "priority, created_at) VALUES "
                        "(repeat('c', 64), '/a', 1, 'low-old', 2, now() - interval '1 hour'),"
                        "(repeat('c', 64), '/a', 1, 'high-new', 0, now()),"
                        "(repeat('c', 64), '/a', 1, 'medium', 1, now()),"
                        "(repeat('c', 64), '/a', 1, 'high-old', 0, now() - interval '1 minute')"));
    const char *order[] = {"high-old", "high-new", "medium", "low-old", "(none)"};
    struct db_pool *p = tu_pool(base, url, 1);
    char *sql = xasprintf("%s, cache_key", claim_sql);
    db_stmt claim = db_pool_prepare(p, sql);
    free(sql);
    for (int i = 0; i < 5; i++) {
        struct one_claim oc = {0};
        const char *params[] = {"owner"};
        db_pool_exec(p, claim, 1, params, on_one_claim, &oc);
        ck_assert(tu_run_until(base, &oc.done, 5));
        ck_assert_str_eq(oc.key, order[i]);
    }
    db_pool_close(p);
    /* A lease that ran out is found by the reclaim query (jobs_lease_expiry). */
    free(tu_scalar(url, "UPDATE jobs SET lease_expires_at = now() - interval '1 second' "
                        "WHERE cache_key = 'medium'"));
    char *expired = tu_scalar(url, "SELECT string_agg(cache_key, ',') FROM jobs "
                                   "WHERE status = 'running' AND lease_expires_at < now()");
    ck_assert_str_eq(expired, "medium");
    free(expired);
    /* The schema enforces that a running job has a lease and a finished one an end. */
    PGconn *pg = PQconnectdb(url);
    PGresult *r = PQexec(pg, "UPDATE jobs SET status = 'done' WHERE cache_key = 'medium'");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23514");
    PQclear(r);
    PQfinish(pg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("db_tx");
    TCase *tc = tcase_create("tx");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, idempotent_submission_in_a_transaction);
    tcase_add_test(tc, release_rolls_back_and_misuse_is_refused);
    tcase_add_test(tc, acquire_waits_in_the_queue_with_a_deadline);
    tcase_add_test(tc, skip_locked_claimers_never_share_a_job);
    tcase_add_test(tc, claim_order_and_lease_reclaim);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = check_run(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
