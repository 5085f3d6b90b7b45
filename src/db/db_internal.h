/* db_internal.h — the pool's private structures, shared by db_pool.c (queue,
 * requests, callbacks), db_conn.c (one libpq connection's state machine) and
 * db_listen.c (LISTEN/NOTIFY). Not for use outside src/db.
 *
 * Callback discipline: user callbacks run only from libevent handlers of
 * this module (never from inside a public call), with pool->depth raised so
 * db_pool_close() knows not to free the pool under them. A handler that
 * calls out re-checks its connection's generation afterwards: the callback
 * may have caused the connection to be dropped and restarted. */
#ifndef STENO_DB_INTERNAL_H
#define STENO_DB_INTERNAL_H

#include <libpq-fe.h>

#include "db_pool.h"

enum req_kind { REQ_QUERY, REQ_ACQUIRE, REQ_INTERNAL };
enum req_where { RW_NONE, RW_QUEUED, RW_INFLIGHT, RW_READY };

struct db_req {
    struct db_req *prev, *next; /* links in pool->queue or pool->ready */
    struct db_pool *pool;
    enum req_kind kind;
    enum req_where where;
    struct db_conn *conn; /* the pinned target, or the connection running it */
    const char *sql;      /* NULL when stmt ≥ 0 */
    db_stmt stmt;
    bool simple;    /* internal, possibly several statements: PQsendQuery */
    bool preparing; /* the PREPARE for stmt is in flight; EXECUTE follows */
    int nparams;
    const char **params; /* inside this allocation */
    double submitted;
    struct event *timer;
    db_query_cb cb;
    db_acquire_cb acb;
    void *arg;
    /* REQ_INTERNAL: called instead of cb. */
    void (*done)(struct db_conn *c, const struct db_result *res);
    PGresult *res; /* results gathered so far: the first error, else the last */
    /* RW_READY: the outcome to deliver on the next loop pass. */
    enum db_error ready_err;
    char *ready_msg;
};

struct req_list {
    struct db_req *head, *tail;
    unsigned n;
};

enum conn_state { CS_DOWN, CS_CONNECTING, CS_IDLE, CS_BUSY };

struct db_conn {
    struct db_pool *pool;
    unsigned id; /* 0..connections-1; the listener is `connections` */
    bool listener;
    PGconn *pg;
    enum conn_state state;
    bool pinned;   /* reserved by db_pool_acquire() */
    bool broken;   /* pinned, and its session was lost: statements fail until release */
    bool ever_up;  /* for the reconnect counter */
    bool flushing; /* PQflush has more to write: EV_WRITE armed */
    unsigned gen;  /* bumped on every drop */
    unsigned failures;
    double deadline; /* of the current connection attempt */
    struct event *ev_rd, *ev_wr, *ev_connect, *ev_retry;
    struct db_req *req;      /* in flight */
    unsigned char *prepared; /* one flag per registered statement */
    size_t nprepared;
    char ctx[64]; /* "db=main conn=1" */
};

struct listen_sub {
    char *channel;
    db_notify_cb cb;
    void *arg;
    bool pending;    /* LISTEN sent, not yet acknowledged */
    bool subscribed; /* acknowledged on the current session */
};

struct db_pool {
    struct event_base *base;
    struct db_pool_options opt; /* strings point at the copies below */
    char *conninfo, *name, *options;
    char ctx[48]; /* "db=main" */
    struct db_conn **conns;
    unsigned nconns, rr;
    struct db_conn *listener;
    struct listen_sub *subs;
    size_t nsubs;
    char **stmts;
    size_t nstmts;
    struct req_list queue; /* waiting for a connection, FIFO */
    struct req_list ready; /* outcomes due on the next loop pass */
    struct event *ev_ready, *ev_close;
    const struct timeval *common_tv; /* the default query timeout, shared */
    unsigned depth;                  /* > 0 while a user callback runs */
    bool closing;
    uint64_t reconnects;
    double last_wake; /* dbi_now() of the last db_pool_wake that acted */
    char last_error[256];
};

double dbi_now(void);

/* db_conn.c */
struct db_conn *dbc_new(struct db_pool *p, unsigned id, bool listener);
void dbc_free(struct db_conn *c);
void dbc_start(struct db_conn *c);
/* c is idle: put q in flight on it. Failures are delivered on the next pass. */
void dbc_send(struct db_conn *c, struct db_req *q);
/* Close the session (PQfinish) and reconnect after `delay` seconds (< 0:
 * the backoff), unless the connection is pinned (then it is marked broken).
 * A statement still in flight fails with DB_ERR_CONN_LOST on the next pass
 * (callers that report it otherwise clear c->req first). */
void dbc_drop(struct db_conn *c, const char *why, double delay);
/* The server went away: drop with the backoff. */
void dbc_lost(struct db_conn *c, const char *why);
void dbc_schedule_retry(struct db_conn *c, double delay);

/* db_pool.c */
void dbp_conn_up(struct db_conn *c);
/* c finished a statement and is idle: roll back a transaction left open by
 * a released holder, else hand it the next queued request. */
void dbp_conn_idle(struct db_conn *c);
/* Deliver q's outcome now (from a handler): cb, metrics, free. res->pg is
 * cleared by the caller afterwards. */
void dbp_req_finish(struct db_req *q, const struct db_result *res);
/* Deliver q's outcome on the next loop pass. */
void dbp_req_defer(struct db_req *q, enum db_error e, const char *msg);
void dbp_set_error(struct db_pool *p, const char *msg);
/* The ready list's handler (pool->ev_ready). */
void dbp_on_ready(evutil_socket_t fd, short what, void *arg);
struct db_req *dbp_req_internal(struct db_pool *p, const char *sql,
                                void (*done)(struct db_conn *, const struct db_result *));

/* db_listen.c */
void dbl_sync(struct db_conn *c);
void dbl_reset(struct db_pool *p);
void dbl_notifies(struct db_conn *c);
void dbl_free(struct db_pool *p);

#endif
