/* db_result.c — read-only accessors over a callback's result. */
#include "db_result.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

static const char *const names[] = {
    [DB_OK] = "ok",
    [DB_ERR_SQL] = "sql",
    [DB_ERR_CONN_LOST] = "conn_lost",
    [DB_ERR_TIMEOUT] = "timeout",
    [DB_ERR_QUEUE_FULL] = "queue_full",
    [DB_ERR_SHUTDOWN] = "shutdown",
    [DB_ERR_MISUSE] = "misuse",
};

const char *db_error_name(enum db_error e)
{
    if ((unsigned)e < ARRAY_LEN(names) && names[e])
        return names[e];
    return "unknown";
}

static const PGresult *rows_of(const struct db_result *r)
{
    return r && r->error == DB_OK ? (const PGresult *)r->pg : NULL;
}

int db_result_rows(const struct db_result *r)
{
    const PGresult *pg = rows_of(r);
    return pg ? PQntuples(pg) : 0;
}

int db_result_cols(const struct db_result *r)
{
    const PGresult *pg = rows_of(r);
    return pg ? PQnfields(pg) : 0;
}

const char *db_result_value(const struct db_result *r, int row, int col)
{
    const PGresult *pg = rows_of(r);
    if (!pg || row < 0 || col < 0 || row >= PQntuples(pg) || col >= PQnfields(pg) ||
        PQgetisnull(pg, row, col))
        return NULL;
    return PQgetvalue(pg, row, col);
}

int db_result_column(const struct db_result *r, const char *name)
{
    const PGresult *pg = rows_of(r);
    return pg ? PQfnumber(pg, name) : -1;
}

int64_t db_result_affected(const struct db_result *r)
{
    const PGresult *pg = rows_of(r);
    if (!pg)
        return 0;
    const char *n = PQcmdTuples((PGresult *)pg);
    return n && *n ? strtoll(n, NULL, 10) : 0;
}

bool db_result_is(const struct db_result *r, const char *state)
{
    return r && r->sqlstate && state && strcmp(r->sqlstate, state) == 0;
}
