/* db_migrate.h — schema migrations, embedded in the binary at build time.
 *
 * schema/NNN_name.sql files are compiled into db_schema_migrations[] (see
 * src/db/meson.build), so an installed stenod needs no source tree. Each is
 * applied once, in version order, inside its own transaction, and recorded
 * in schema_migrations (version, name, sha256 checksum, applied_at), a table
 * the migrator itself creates. A pg_advisory_lock serialises migrators
 * started at the same time on several hosts.
 *
 * These calls use blocking libpq (except db_schema_check_async): run them
 * before the event loop starts (`stenod --migrate`, and the start-up schema
 * check), never from it.
 * Migrations must not contain statements that refuse a transaction block
 * (CREATE INDEX CONCURRENTLY, VACUUM …). */
#ifndef STENO_DB_MIGRATE_H
#define STENO_DB_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "alloc.h"

struct db_migration {
    int version;      /* the file name's numeric prefix */
    const char *name; /* "001_init.sql" */
    const char *sql;  /* the file's bytes, NUL-terminated */
    size_t len;
};

/* Generated from the schema/NNN_*.sql files, sorted by version. */
extern const struct db_migration db_schema_migrations[];
extern const size_t db_schema_nmigrations;

/* Apply every embedded migration not yet recorded. Idempotent: a second run
 * applies nothing. Refuses (false, nothing applied) when an applied
 * migration's checksum differs from the embedded file, i.e. someone edited
 * a migration after it ran: add a new numbered file instead. A database
 * newer than this binary (versions it does not know) is logged, not an
 * error. On failure err says which file and why. */
bool db_migrate_run(const char *conninfo, char *err, size_t errlen) MUST_CHECK;

/* Same with an explicit list (sorted by version; tests use it). *applied
 * (may be NULL) receives the number of migrations applied by this call. */
bool db_migrate_apply(const char *conninfo, const struct db_migration *m, size_t n,
                      unsigned *applied, char *err, size_t errlen) MUST_CHECK;

/* The schema version this binary needs: its highest embedded migration. */
int db_schema_version(void);

/* Before serving: true when every embedded migration is applied with an
 * unchanged checksum. Else false, with err saying what is wrong, e.g.
 * "database schema is at version 0 but this stenod needs version 1: run
 * `stenod --migrate`". *found (may be NULL) gets the database's highest
 * applied version (0 when none, -1 when it could not be read). */
bool db_schema_check(const char *conninfo, int *found, char *err, size_t errlen) MUST_CHECK;

/* The same check through a running pool, for a worker that started while
 * PostgreSQL was unreachable (db_schema_check said found = -1) and must not
 * touch the queue until the schema is known to fit. cb fires once, from the
 * loop: ok, the database's version (-1 if unreadable) and, when not ok,
 * the reason (valid during the call). Non-blocking. */
struct db_pool;
typedef void (*db_schema_cb)(bool ok, int found, const char *err, void *arg);
void db_schema_check_async(struct db_pool *pool, db_schema_cb cb, void *arg);

/* Lower-case hex SHA-256 of `len` bytes into out[65]. */
void db_migrate_checksum(const char *data, size_t len, char out[65]);

#endif
