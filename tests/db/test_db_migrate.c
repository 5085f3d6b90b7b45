/* test_db_migrate.c — embedded migrations: applied once, checksums
 * guarded, failures rolled back, the serve-time schema check, concurrent
 * migrators, and the embedded list matching schema/. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db_migrate.h"
#include "db_pool.h"
#include "db_testutil.h"
#include "../check_run.h"

static char *url;

static void setup(void)
{
    url = tu_fresh_db();
}

static void teardown(void)
{
    free(url);
}

START_TEST(migrate_twice_is_idempotent)
{
    char err[512];
    unsigned applied = 99;
    ck_assert_msg(db_migrate_apply(url, db_schema_migrations, db_schema_nmigrations, &applied, err,
                                   sizeof(err)),
                  "%s", err);
    ck_assert_uint_eq(applied, db_schema_nmigrations);
    ck_assert(db_migrate_apply(url, db_schema_migrations, db_schema_nmigrations, &applied, err,
                               sizeof(err)));
    ck_assert_uint_eq(applied, 0);
    ck_assert(db_migrate_run(url, err, sizeof(err)));
    char *n = tu_scalar(url, "SELECT count(*) FROM schema_migrations");
    ck_assert_int_eq(atoi(n), (int)db_schema_nmigrations);
    free(n);
    char *tables = tu_scalar(url, "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class "
                                  "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace");
    ck_assert_str_eq(tables,
                     "api_keys,audit_log,chunks,job_events,jobs,schema_migrations,transcripts");
    free(tables);
    char sum[65];
    db_migrate_checksum(db_schema_migrations[0].sql, db_schema_migrations[0].len, sum);
    char *stored = tu_scalar(url, "SELECT checksum FROM schema_migrations WHERE version = 1");
    ck_assert_str_eq(stored, sum);
    free(stored);
}
END_TEST

#define MIG(v, name, sql)                                                                          \
    {                                                                                              \
        v, name, sql, sizeof(sql) - 1                                                              \
    }

static const struct db_migration v1[] = {
    MIG(1, "001_a.sql", "CREATE TABLE a (x int);"),
    MIG(2, "002_b.sql", "CREATE TABLE b (y int); INSERT INTO b VALUES (1);"),
};

START_TEST(changed_checksum_is_refused)
{
    char err[512];
    unsigned applied;
    ck_assert_msg(db_migrate_apply(url, v1, 2, &applied, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(applied, 2);
    const struct db_migration edited[] = {
        v1[0],
        MIG(2, "002_b.sql", "CREATE TABLE b (y bigint); INSERT INTO b VALUES (1);"),
        MIG(3, "003_c.sql", "CREATE TABLE c (z int);"),
    };
    ck_assert(!db_migrate_apply(url, edited, 3, &applied, err, sizeof(err)));
    ck_assert_uint_eq(applied, 0);
    ck_assert_ptr_nonnull(strstr(err, "002_b.sql was changed after it was applied"));
    char *c = tu_scalar(url, "SELECT to_regclass('c') IS NULL");
    ck_assert_str_eq(c, "t"); /* nothing after the refusal ran */
    free(c);
}
END_TEST

START_TEST(failed_migration_rolls_back)
{
    const struct db_migration bad[] = {
        v1[0],
        MIG(2, "002_bad.sql", "CREATE TABLE b (y int); SELECT 1 / 0;"),
    };
    char err[512];
    unsigned applied;
    ck_assert(!db_migrate_apply(url, bad, 2, &applied, err, sizeof(err)));
    ck_assert_uint_eq(applied, 1);
    ck_assert_ptr_nonnull(strstr(err, "002_bad.sql failed (rolled back)"));
    ck_assert_ptr_nonnull(strstr(err, "division by zero"));
    char *b = tu_scalar(url, "SELECT to_regclass('b') IS NULL");
    ck_assert_str_eq(b, "t");
    free(b);
    char *v = tu_scalar(url, "SELECT string_agg(version::text, ',') FROM schema_migrations");
    ck_assert_str_eq(v, "1");
    free(v);
    /* Out-of-order lists are a programming error. */
    const struct db_migration swapped[] = {v1[1], v1[0]};
    ck_assert(!db_migrate_apply(url, swapped, 2, &applied, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "out of order"));
}
END_TEST

START_TEST(schema_check_before_serving)
{
    char err[512];
    int found = 42;
    ck_assert(!db_schema_check(url, &found, err, sizeof(err)));
    ck_assert_int_eq(found, 0);
    ck_assert_ptr_nonnull(strstr(err, "this stenod needs version"));
    ck_assert_ptr_nonnull(strstr(err, "stenod --migrate"));
    ck_assert(db_migrate_run(url, err, sizeof(err)));
    ck_assert_msg(db_schema_check(url, &found, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(found, db_schema_version());
    ck_assert_int_ge(db_schema_version(), 1);
    /* Someone edited an applied migration in the binary: refuse to serve. */
    free(tu_scalar(url, "UPDATE schema_migrations SET checksum = repeat('0', 64)"));
    ck_assert(!db_schema_check(url, &found, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "changed after it was applied"));
    /* No server at all. */
    ck_assert(!db_schema_check("postgresql://steno@127.0.0.1:1/steno", &found, err, sizeof(err)));
    ck_assert_int_eq(found, -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot connect"));
}
END_TEST

struct verdict {
    bool done, ok;
    int found;
    char err[512];
};

static void on_verdict(bool ok, int found, const char *err, void *arg)
{
    struct verdict *v = arg;
    v->done = true;
    v->ok = ok;
    v->found = found;
    snprintf(v->err, sizeof(v->err), "%s", err);
}

static struct verdict check_async(struct event_base *base, struct db_pool *p)
{
    struct verdict v = {0};
    db_schema_check_async(p, on_verdict, &v);
    ck_assert(tu_run_until(base, &v.done, 5));
    return v;
}

START_TEST(schema_check_through_the_pool)
{
    struct event_base *base = event_base_new();
    struct db_pool *p = tu_pool(base, url, 1);
    struct verdict v = check_async(base, p); /* no schema_migrations table at all */
    ck_assert(!v.ok);
    ck_assert_int_eq(v.found, 0);
    ck_assert_ptr_nonnull(strstr(v.err, "stenod --migrate"));
    char err[512];
    ck_assert(db_migrate_run(url, err, sizeof(err)));
    v = check_async(base, p);
    ck_assert_msg(v.ok, "%s", v.err);
    ck_assert_int_eq(v.found, db_schema_version());
    db_pool_close(p);
    event_base_free(base);
}
END_TEST

/* Several hosts start `stenod --migrate` at once: the advisory lock makes
 * exactly one of them apply each migration. */
START_TEST(concurrent_migrators)
{
    enum { N = 4 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            char err[512];
            unsigned applied = 0;
            bool ok = db_migrate_apply(url, db_schema_migrations, db_schema_nmigrations, &applied,
                                       err, sizeof(err));
            _exit(ok ? (int)applied : 100);
        }
    }
    unsigned total = 0;
    for (int i = 0; i < N; i++) {
        int st;
        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) != 100);
        total += (unsigned)WEXITSTATUS(st);
    }
    ck_assert_uint_eq(total, db_schema_nmigrations);
}
END_TEST

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* src/db/meson.build lists the schema files by hand (meson has no glob):
 * every schema/NNN_*.sql file must be in the binary, byte for byte. */
START_TEST(embedded_list_matches_schema_dir)
{
    const char *src = getenv("SOURCE");
    ck_assert_msg(src != NULL, "SOURCE unset");
    char *dir = xasprintf("%s/schema", src);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".sql") != 0)
            continue;
        found++;
        const struct db_migration *m = NULL;
        for (size_t i = 0; i < db_schema_nmigrations; i++)
            if (strcmp(db_schema_migrations[i].name, e->d_name) == 0)
                m = &db_schema_migrations[i];
        ck_assert_msg(m != NULL, "schema/%s is not listed in src/db/meson.build", e->d_name);
        char *path = xasprintf("%s/%s", dir, e->d_name);
        size_t len;
        char *bytes = slurp(path, &len);
        ck_assert_uint_eq(len, m->len);
        ck_assert(memcmp(bytes, m->sql, len) == 0);
        free(bytes);
        free(path);
    }
    closedir(d);
    free(dir);
    ck_assert_uint_eq(found, db_schema_nmigrations);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("db_migrate");
    TCase *tc = tcase_create("migrate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, migrate_twice_is_idempotent);
    tcase_add_test(tc, changed_checksum_is_refused);
    tcase_add_test(tc, failed_migration_rolls_back);
    tcase_add_test(tc, schema_check_before_serving);
    tcase_add_test(tc, schema_check_through_the_pool);
    tcase_add_test(tc, concurrent_migrators);
    tcase_add_test(tc, embedded_list_matches_schema_dir);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = check_run(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
