/* db_result.h — what a database callback receives: an outcome and, on
 * success, the rows.
 *
 * A struct db_result is owned by the pool and valid only during the callback
 * that receives it: copy what you need (db_result_value() strings included)
 * before returning. All values are in PostgreSQL's text format. */
#ifndef STENO_DB_RESULT_H
#define STENO_DB_RESULT_H

#include <stdbool.h>
#include <stdint.h>

#include "alloc.h"

/* Why a query did not succeed. Callers decide on retries from this alone:
 * only DB_ERR_SQL says for sure what the server did (it refused); after
 * DB_ERR_CONN_LOST or DB_ERR_TIMEOUT of a query that was in flight, the
 * statement may or may not have been applied (make writes idempotent). */
enum db_error {
    DB_OK = 0,         /* ran; rows (possibly none) in the result */
    DB_ERR_SQL,        /* the server refused it (constraint, syntax, statement_timeout …);
                          the connection is fine */
    DB_ERR_CONN_LOST,  /* the connection broke while the query was sent or running */
    DB_ERR_TIMEOUT,    /* the client-side deadline passed (queued, or in flight) */
    DB_ERR_QUEUE_FULL, /* refused at once: too many queries waiting for a connection */
    DB_ERR_SHUTDOWN,   /* the pool is closing */
    DB_ERR_MISUSE,     /* a programming error, e.g. two queries at once on a pinned connection */
};

struct pg_result; /* libpq's PGresult */

struct db_result {
    enum db_error error;
    const char *sqlstate; /* five characters, e.g. "23505", "57014"; "" when none */
    const char *message;  /* the server's or the pool's message; "" on success */
    /* libpq's result for DB_OK and DB_ERR_SQL (NULL otherwise), for callers
     * that want the whole libpq API; freed after the callback. */
    const struct pg_result *pg;
};

/* Stable short name for logs and metric labels: "ok", "sql", "conn_lost" … */
const char *db_error_name(enum db_error e);

/* Rows and columns of a DB_OK result (0 for anything else). */
int db_result_rows(const struct db_result *r);
int db_result_cols(const struct db_result *r);
/* Text value of (row, col), NULL for SQL NULL or out of range. Points into
 * the result: copy it to keep it. */
const char *db_result_value(const struct db_result *r, int row, int col);
/* Column number of a column name, or -1. */
int db_result_column(const struct db_result *r, const char *name);
/* Rows affected by INSERT/UPDATE/DELETE (…RETURNING too), 0 if not applicable. */
int64_t db_result_affected(const struct db_result *r);
/* True when the error is SQLSTATE `state` (e.g. "23505" unique violation). */
bool db_result_is(const struct db_result *r, const char *state);

#endif
