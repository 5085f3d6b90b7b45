/* db_migrate.c — apply embedded schema migrations (blocking libpq, before
 * the loop) and check the schema version before serving. */
#include "hex.h"
#include "db_migrate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "db_pool.h"
#include "log.h"

/* pg_advisory_lock key: "steno-mg" in ASCII. */
#define MIGRATE_LOCK "6075871283513952103"

static const char create_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   " version integer PRIMARY KEY,"
                                   " name text NOT NULL,"
                                   " checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"
                                   " applied_at timestamptz NOT NULL DEFAULT now())";

struct applied {
    int version;
    char name[128];
    char checksum[65];
};

static void fail(char *err, size_t errlen, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    size_t n = strlen(err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

void db_migrate_checksum(const char *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        out[0] = '\0';
        return;
    }
    hex_encode(md, 32, out);
}

int db_schema_version(void)
{
    return db_schema_nmigrations ? db_schema_migrations[db_schema_nmigrations - 1].version : 0;
}

static void quiet_notice(void *arg, const char *message)
{
    log_debug("postgres: %s", message);
}

static PGconn *connect_blocking(const char *conninfo, char *err, size_t errlen)
{
    const char *keys[] = {"dbname", "fallback_application_name", "connect_timeout", NULL};
    const char *vals[] = {conninfo, "stenod-migrate", "10", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        fail(err, errlen, "cannot connect to PostgreSQL: %s",
             pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, quiet_notice, NULL);
    return pg;
}

/* Run a statement; false (with err) unless it succeeded. */
static bool run(PGconn *pg, const char *sql, int n, const char *const *params, PGresult **out,
                char *err, size_t errlen)
{
    PGresult *r = n ? PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0) : PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fail(err, errlen, "%s", PQresultErrorMessage(r) ? PQresultErrorMessage(r) : "?");
        PQclear(r);
        return false;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return true;
}

static struct applied *load_applied(PGconn *pg, size_t *n, char *err, size_t errlen)
{
    PGresult *r;
    if (!run(pg, "SELECT version, name, checksum FROM schema_migrations ORDER BY version", 0, NULL,
             &r, err, errlen))
        return NULL;
    *n = (size_t)PQntuples(r);
    struct applied *a = xcalloc(*n ? *n : 1, sizeof(*a));
    for (size_t i = 0; i < *n; i++) {
        a[i].version = atoi(PQgetvalue(r, (int)i, 0));
        snprintf(a[i].name, sizeof(a[i].name), "%s", PQgetvalue(r, (int)i, 1));
        snprintf(a[i].checksum, sizeof(a[i].checksum), "%s", PQgetvalue(r, (int)i, 2));
    }
    PQclear(r);
    return a;
}

static const struct applied *find_applied(const struct applied *a, size_t n, int version)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].version == version)
            return &a[i];
    return NULL;
}

/* Every applied migration the binary knows must be byte-identical. */
static bool verify(const struct db_migration *m, size_t n, const struct applied *a, size_t na,
                   char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct applied *x = find_applied(a, na, m[i].version);
        char sum[65];
        db_migrate_checksum(m[i].sql, m[i].len, sum);
        if (x && strcmp(x->checksum, sum) != 0) {
            fail(err, errlen,
                 "migration %s was changed after it was applied (database has checksum %.12s…, "
                 "this binary %.12s…); refusing: never edit an applied migration, add a new "
                 "numbered file",
                 m[i].name, x->checksum, sum);
            return false;
        }
    }
    for (size_t i = 0; i < na; i++) {
        bool known = false;
        for (size_t k = 0; k < n && !known; k++)
            known = m[k].version == a[i].version;
        if (!known)
            log_warn("database has migration %d (%s) that this binary does not know: it is "
                     "newer than this stenod",
                     a[i].version, a[i].name);
    }
    return true;
}

static bool apply_one(PGconn *pg, const struct db_migration *m, char *err, size_t errlen)
{
    char sum[65], version[16], msg[512];
    db_migrate_checksum(m->sql, m->len, sum);
    snprintf(version, sizeof(version), "%d", m->version);
    const char *params[] = {version, m->name, sum};
    if (!run(pg, "BEGIN", 0, NULL, NULL, err, errlen))
        return false;
    if (!run(pg, m->sql, 0, NULL, NULL, msg, sizeof(msg)) ||
        !run(pg, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", 3,
             params, NULL, msg, sizeof(msg))) {
        fail(err, errlen, "migration %s failed (rolled back): %s", m->name, msg);
        PGresult *r = PQexec(pg, "ROLLBACK");
        PQclear(r);
        return false;
    }
    if (!run(pg, "COMMIT", 0, NULL, NULL, msg, sizeof(msg))) {
        fail(err, errlen, "migration %s failed at COMMIT: %s", m->name, msg);
        return false;
    }
    log_info("migrate: applied %s (version %d)", m->name, m->version);
    return true;
}

static bool migrate_locked(PGconn *pg, const struct db_migration *m, size_t n, unsigned *applied,
                           char *err, size_t errlen)
{
    size_t na = 0;
    struct applied *a = NULL;
    bool ok = run(pg, create_table, 0, NULL, NULL, err, errlen) &&
              (a = load_applied(pg, &na, err, errlen)) && verify(m, n, a, na, err, errlen);
    for (size_t i = 0; ok && i < n; i++) {
        if (find_applied(a, na, m[i].version))
            continue;
        ok = apply_one(pg, &m[i], err, errlen);
        if (ok && applied)
            (*applied)++;
    }
    free(a);
    return ok;
}

bool db_migrate_apply(const char *conninfo, const struct db_migration *m, size_t n,
                      unsigned *applied, char *err, size_t errlen)
{
    if (applied)
        *applied = 0;
    for (size_t i = 1; i < n; i++)
        if (m[i].version <= m[i - 1].version) {
            fail(err, errlen, "migrations out of order or duplicated: %s after %s", m[i].name,
                 m[i - 1].name);
            return false;
        }
    PGconn *pg = connect_blocking(conninfo, err, errlen);
    if (!pg)
        return false;
    bool ok = run(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", 0, NULL, NULL, err, errlen);
    if (ok) {
        ok = migrate_locked(pg, m, n, applied, err, errlen);
        char ignore[64];
        (void)run(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", 0, NULL, NULL, ignore,
                  sizeof(ignore));
    }
    PQfinish(pg);
    return ok;
}

bool db_migrate_run(const char *conninfo, char *err, size_t errlen)
{
    unsigned applied = 0;
    if (!db_migrate_apply(conninfo, db_schema_migrations, db_schema_nmigrations, &applied, err,
                          errlen))
        return false;
    log_info("migrate: schema at version %d (%u migration%s applied now)", db_schema_version(),
             applied, applied == 1 ? "" : "s");
    return true;
}

/* The serve-time rule: every embedded migration applied, none edited. */
static bool compare(const struct applied *a, size_t na, int *found, char *err, size_t errlen)
{
    int max = 0;
    for (size_t i = 0; i < na; i++)
        max = a[i].version > max ? a[i].version : max;
    *found = max;
    if (!verify(db_schema_migrations, db_schema_nmigrations, a, na, err, errlen))
        return false;
    for (size_t i = 0; i < db_schema_nmigrations; i++)
        if (!find_applied(a, na, db_schema_migrations[i].version)) {
            fail(err, errlen,
                 "database schema is at version %d but this stenod needs version %d (%s is not "
                 "applied): run `stenod --migrate` first",
                 max, db_schema_version(), db_schema_migrations[i].name);
            return false;
        }
    return true;
}

static bool check_against(PGconn *pg, int *found, char *err, size_t errlen)
{
    PGresult *r;
    if (!run(pg, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL, &r, err, errlen))
        return false;
    bool exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    size_t na = 0;
    struct applied *a = exists ? load_applied(pg, &na, err, errlen) : xcalloc(1, sizeof(*a));
    if (!a)
        return false;
    bool ok = compare(a, na, found, err, errlen);
    free(a);
    return ok;
}

struct async_check {
    db_schema_cb cb;
    void *arg;
};

static void on_versions(const struct db_result *res, void *arg)
{
    struct async_check *ac = arg;
    char err[512] = "";
    int found = -1;
    bool ok = false;
    if (res->error == DB_OK || db_result_is(res, "42P01")) { /* 42P01: no table yet */
        size_t na = (size_t)db_result_rows(res);
        struct applied *a = xcalloc(na ? na : 1, sizeof(*a));
        for (int i = 0; i < (int)na; i++) {
            a[i].version = atoi(db_result_value(res, i, 0));
            snprintf(a[i].name, sizeof(a[i].name), "%s", db_result_value(res, i, 1));
            snprintf(a[i].checksum, sizeof(a[i].checksum), "%s", db_result_value(res, i, 2));
        }
        ok = compare(a, na, &found, err, sizeof(err));
        free(a);
    } else {
        fail(err, sizeof(err), "cannot read the schema version: %s", res->message);
    }
    ac->cb(ok, found, err, ac->arg);
    free(ac);
}

void db_schema_check_async(struct db_pool *pool, db_schema_cb cb, void *arg)
{
    struct async_check *ac = xmalloc(sizeof(*ac));
    *ac = (struct async_check){cb, arg};
    db_pool_query(pool, "SELECT version, name, checksum FROM schema_migrations ORDER BY version", 0,
                  NULL, on_versions, ac);
}

bool db_schema_check(const char *conninfo, int *found, char *err, size_t errlen)
{
    int dummy;
    if (!found)
        found = &dummy;
    *found = -1;
    PGconn *pg = connect_blocking(conninfo, err, errlen);
    if (!pg)
        return false;
    bool ok = check_against(pg, found, err, errlen);
    PQfinish(pg);
    return ok;
}
