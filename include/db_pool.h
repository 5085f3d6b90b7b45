/* db_pool.h — non-blocking PostgreSQL for one event loop.
 *
 * A pool owns N libpq connections driven entirely by libevent: connecting
 * (PQconnectStart/PQconnectPoll), sending (PQsend*, PQflush on write events)
 * and reading (PQconsumeInput/PQisBusy/PQgetResult on read events). Nothing
 * in here blocks the loop, with one documented exception: libpq resolves a
 * host *name* synchronously, so give IP addresses (127.0.0.1, ::1) or a unix
 * socket directory in production conninfo.
 *
 * Queries wait in one bounded FIFO until a connection is free; a query that
 * would overflow it fails at once with DB_ERR_QUEUE_FULL. Every query's
 * callback fires exactly once, always from the loop and never from inside
 * the call that submitted it (an immediate refusal is delivered on the next
 * loop pass). A lost connection fails its in-flight query with
 * DB_ERR_CONN_LOST and reconnects with exponential backoff; queued queries
 * wait for it, bounded by their deadline.
 *
 * Sessions are set up with `-c statement_timeout=…` (server-side limit per
 * statement), `idle_in_transaction_session_timeout` and
 * `client_connection_check_interval` (so the server abandons a statement
 * whose client went away; PostgreSQL ≥ 14). These override the same
 * settings in a conninfo `options`.
 *
 * Single-threaded: every call from the loop's thread. */
#ifndef STENO_DB_POOL_H
#define STENO_DB_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "alloc.h"
#include "db_result.h"

struct db_pool;
struct db_conn;

struct db_pool_options {
    const char *conninfo;     /* libpq conninfo or postgresql:// URL (copied) */
    const char *name;         /* for logs, "db=NAME" (copied); default "main" */
    unsigned connections;     /* query connections (≥ 1; default 4) */
    unsigned max_queue;       /* queries that may wait for a connection (default 1024) */
    double statement_timeout; /* seconds, server-side per statement; 0 = none (30) */
    double query_timeout;     /* seconds from submission to answer, client-side; 0 = none (35) */
    double idle_tx_timeout;   /* seconds a session may idle inside a transaction; 0 = none (60) */
    double connect_timeout;   /* seconds per connection attempt (5) */
    double reconnect_min;     /* first retry delay after a failure (0.05) */
    double reconnect_max;     /* backoff cap (5) */
};

/* Fill *o with the defaults in the comments above (conninfo NULL). */
void db_pool_options_default(struct db_pool_options *o);

/* Create a pool on `base` and start connecting at once. Returns NULL (with a
 * message in err) only for options that cannot work (no conninfo, zero
 * connections); an unreachable server is not an error here: the pool keeps
 * retrying and db_pool_health() says so. The base must outlive the pool. */
struct db_pool *db_pool_new(struct event_base *base, const struct db_pool_options *o, char *err,
                            size_t errlen) MUST_CHECK;

/* Stop everything. Every queued and in-flight query, and every waiting
 * acquire, gets its callback with DB_ERR_SHUTDOWN; a callback that submits
 * again during close gets DB_ERR_SHUTDOWN too. Then the connections close
 * and the pool is freed.
 * Called outside any db callback, all that happens before it returns.
 * Called from inside a db callback, it only marks the pool closing and
 * finishes on the next loop pass (the pool is never freed under its own
 * callback chain); if the loop stops before that, call it once more from
 * outside the loop. Connections held with db_pool_acquire() must have been
 * released: their handles become invalid. Call before event_base_free(). */
void db_pool_close(struct db_pool *pool);

typedef void (*db_query_cb)(const struct db_result *res, void *arg);

/* A prepared statement registered with db_pool_prepare(). */
typedef int db_stmt;

/* Register a statement once (typically at start-up); it is prepared lazily
 * on each connection the first time it runs there, and again after a
 * reconnect. `sql` uses $1, $2 … and is copied. Returns the handle. */
db_stmt db_pool_prepare(struct db_pool *pool, const char *sql);

/* One query. Exactly one of `sql` (run unprepared, PQsendQueryParams: a
 * single statement) or `stmt` (≥ 0, from db_pool_prepare) is used: set
 * stmt = -1 for sql. params[i] NULL is SQL NULL; all are text and are copied,
 * so they may live on the caller's stack. timeout: seconds from submission
 * to answer, < 0 = the pool's query_timeout, 0 = none. */
struct db_query {
    const char *sql;
    db_stmt stmt;
    int nparams;
    const char *const *params;
    double timeout;
    db_query_cb cb;
    void *arg;
};

/* Submit on the pool: runs on the next free connection, in FIFO order.
 * cb fires exactly once, from the loop, never before this returns. */
void db_pool_submit(struct db_pool *pool, const struct db_query *q);
/* Shorthands with the pool's default timeout. */
void db_pool_query(struct db_pool *pool, const char *sql, int nparams, const char *const *params,
                   db_query_cb cb, void *arg);
void db_pool_exec(struct db_pool *pool, db_stmt stmt, int nparams, const char *const *params,
                  db_query_cb cb, void *arg);

/* ---- Pinned connections: several statements in one session (transactions).
 *
 * db_pool_acquire() waits in the same FIFO as queries; cb gets a connection
 * reserved for the caller (err NULL), or conn NULL and an error (timeout,
 * queue full, shutdown). Run statements on it one at a time with
 * db_conn_submit() (a second one while the first is in flight fails with
 * DB_ERR_MISUSE), e.g. BEGIN → INSERT … → COMMIT, then db_conn_release().
 * If the connection is lost or a statement times out, every later statement
 * on it fails with DB_ERR_CONN_LOST until release: the transaction is gone,
 * start over with a new acquire. Releasing inside an open transaction rolls
 * it back. The holder must release every acquired connection exactly once
 * (it may do so from any callback, including one of its own statements). */
typedef void (*db_acquire_cb)(struct db_conn *conn, const struct db_result *err, void *arg);

void db_pool_acquire(struct db_pool *pool, double timeout, db_acquire_cb cb, void *arg);
void db_conn_submit(struct db_conn *conn, const struct db_query *q);
void db_conn_query(struct db_conn *conn, const char *sql, int nparams, const char *const *params,
                   db_query_cb cb, void *arg);
void db_conn_exec(struct db_conn *conn, db_stmt stmt, int nparams, const char *const *params,
                  db_query_cb cb, void *arg);
/* Give the connection back. The handle is invalid afterwards. */
void db_conn_release(struct db_conn *conn);

/* ---- LISTEN/NOTIFY on one dedicated connection (opened on first use).
 *
 * cb(channel, payload, arg) for each notification on `channel`, from the
 * loop. cb(channel, NULL, arg) each time the subscription is established,
 * the first time and after every reconnect: notifications sent while the
 * listener was down are lost, so a caller that cares re-reads state then.
 * Returns false for an empty or over-long (> 63 bytes) channel name. The
 * subscription lasts until db_pool_close(). Send with
 * `SELECT pg_notify($1, $2)` through any query. */
typedef void (*db_notify_cb)(const char *channel, const char *payload, void *arg);

bool db_pool_listen(struct db_pool *pool, const char *channel, db_notify_cb cb,
                    void *arg) MUST_CHECK;

/* ---- Health, for /readyz and logs. */
struct db_pool_health {
    unsigned up;          /* query connections ready (idle, busy or pinned) */
    unsigned total;       /* query connections configured */
    unsigned busy;        /* with a statement in flight or pinned */
    unsigned queued;      /* queries and acquires waiting */
    bool listener;        /* a LISTEN connection exists … */
    bool listener_up;     /* … and is subscribed */
    uint64_t reconnects;  /* connections re-established after a loss */
    char last_error[256]; /* latest connection error, "" if none */
};
void db_pool_health(const struct db_pool *pool, struct db_pool_health *h);

/* Every connection is down and a caller is turning a request away: let one
 * connection in backoff try again now (rate-limited), so the pool is back
 * within a round trip once the server is, not after the backoff. */
void db_pool_wake(struct db_pool *pool);

#endif
