/* db_pool.c — the query queue, request lifetimes and callbacks of a pool.
 *
 * A request lives in exactly one place: the FIFO queue (waiting for a
 * connection), in flight on one connection, or the ready list (its outcome
 * is known and is delivered on the next loop pass). dbp_req_finish() is the
 * only place a user callback runs for a request, and it frees the request,
 * so each callback fires once. */
#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_metrics.h"
#include "log.h"

static void list_push(struct req_list *l, struct db_req *q)
{
    q->prev = l->tail;
    q->next = NULL;
    if (l->tail)
        l->tail->next = q;
    else
        l->head = q;
    l->tail = q;
    l->n++;
}

static void list_remove(struct req_list *l, struct db_req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        l->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        l->tail = q->prev;
    q->prev = q->next = NULL;
    l->n--;
}

static struct db_req *list_pop(struct req_list *l)
{
    struct db_req *q = l->head;
    if (q)
        list_remove(l, q);
    return q;
}

/* One allocation holds the request, its parameter pointers and copies of
 * the SQL text and every parameter. */
static struct db_req *req_new(struct db_pool *p, enum req_kind kind, const struct db_query *dq)
{
    size_t n = dq ? (size_t)(dq->nparams > 0 ? dq->nparams : 0) : 0;
    size_t size = sizeof(struct db_req) + n * sizeof(char *);
    const char *sql = dq && dq->stmt < 0 ? dq->sql : NULL;
    size += sql ? strlen(sql) + 1 : 0;
    for (size_t i = 0; i < n; i++)
        size += dq->params[i] ? strlen(dq->params[i]) + 1 : 0;
    struct db_req *q = xcalloc(1, size);
    q->pool = p;
    q->kind = kind;
    q->stmt = dq ? dq->stmt : -1;
    q->submitted = dbi_now();
    q->params = (const char **)(q + 1);
    char *s = (char *)(q->params + n);
    for (size_t i = 0; i < n; i++) {
        q->params[i] = NULL;
        if (dq->params[i]) {
            size_t len = strlen(dq->params[i]) + 1;
            q->params[i] = memcpy(s, dq->params[i], len);
            s += len;
        }
    }
    q->nparams = (int)n;
    if (sql)
        q->sql = memcpy(s, sql, strlen(sql) + 1);
    if (dq) {
        q->cb = dq->cb;
        q->arg = dq->arg;
    }
    return q;
}

struct db_req *dbp_req_internal(struct db_pool *p, const char *sql,
                                void (*done)(struct db_conn *, const struct db_result *))
{
    struct db_query dq = {.sql = sql, .stmt = -1};
    struct db_req *q = req_new(p, REQ_INTERNAL, &dq);
    q->simple = true;
    q->done = done;
    return q;
}

static void invoke(struct db_req *q, const struct db_result *res)
{
    struct db_pool *p = q->pool;
    p->depth++;
    if (q->kind == REQ_INTERNAL) {
        if (q->done)
            q->done(q->conn, res);
    } else if (q->kind == REQ_ACQUIRE) {
        struct db_conn *c = res->error == DB_OK ? q->conn : NULL;
        q->acb(c, res->error == DB_OK ? NULL : res, q->arg);
    } else if (q->cb) {
        q->cb(res, q->arg);
    }
    p->depth--;
}

void dbp_req_finish(struct db_req *q, const struct db_result *res)
{
    if (q->timer)
        event_free(q->timer);
    q->timer = NULL;
    if (q->kind == REQ_QUERY)
        db_metrics_query(res->error, dbi_now() - q->submitted);
    invoke(q, res);
    if (q->res)
        PQclear(q->res);
    free(q->ready_msg);
    free(q);
}

static void finish_error(struct db_req *q, enum db_error e, const char *msg)
{
    struct db_result res = {.error = e, .sqlstate = "", .message = msg ? msg : ""};
    dbp_req_finish(q, &res);
}

void dbp_req_defer(struct db_req *q, enum db_error e, const char *msg)
{
    struct db_pool *p = q->pool;
    if (q->timer)
        event_del(q->timer);
    q->where = RW_READY;
    q->ready_err = e;
    q->ready_msg = xstrdup(msg ? msg : "");
    list_push(&p->ready, q);
    /* A zero timer, not event_active(): libevent runs events activated
     * during its active-queue pass in that same pass, so a caller that
     * resubmits on every refusal could starve I/O. Timers wait for the next
     * pass, after the poll. */
    if (!evtimer_pending(p->ev_ready, NULL)) {
        struct timeval zero = {0, 0};
        evtimer_add(p->ev_ready, &zero);
    }
}

/* Outcomes decided outside a handler (refusals, lost connections found while
 * sending, acquire grants) are delivered here, one loop pass later. Only the
 * requests present on entry are run, so a callback that resubmits into a
 * refusal cannot spin this pass forever. */
void dbp_on_ready(evutil_socket_t fd, short what, void *arg)
{
    struct db_pool *p = arg;
    struct req_list batch = p->ready;
    p->ready = (struct req_list){0};
    struct db_req *q;
    while ((q = list_pop(&batch))) {
        q->where = RW_NONE;
        if (q->kind == REQ_ACQUIRE && q->ready_err == DB_OK && p->closing) {
            q->conn->pinned = false;
            finish_error(q, DB_ERR_SHUTDOWN, "database pool is shutting down");
        } else {
            finish_error(q, q->ready_err, q->ready_msg);
        }
    }
}

void dbp_set_error(struct db_pool *p, const char *msg)
{
    snprintf(p->last_error, sizeof(p->last_error), "%s", msg);
}

static double effective_timeout(const struct db_pool *p, double t)
{
    return t < 0 ? p->opt.query_timeout : t;
}

static void on_req_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct db_req *q = arg;
    struct db_pool *p = q->pool;
    char msg[160];
    if (q->where == RW_QUEUED) {
        list_remove(&p->queue, q);
        db_metrics_queue(-1);
        snprintf(msg, sizeof(msg), "timed out after %.3gs waiting for a database connection",
                 dbi_now() - q->submitted);
        finish_error(q, DB_ERR_TIMEOUT, msg);
    } else if (q->where == RW_INFLIGHT) {
        /* libpq 15 has no non-blocking cancel: abandon the session; the
         * server notices (client_connection_check_interval) and stops. */
        struct db_conn *c = q->conn;
        c->req = NULL;
        dbc_drop(c, "statement abandoned after a client-side timeout", 0);
        snprintf(msg, sizeof(msg), "timed out after %.3gs in flight (outcome unknown)",
                 dbi_now() - q->submitted);
        finish_error(q, DB_ERR_TIMEOUT, msg);
    }
}

static void arm_timer(struct db_pool *p, struct db_req *q, double timeout)
{
    timeout = effective_timeout(p, timeout);
    if (timeout <= 0)
        return;
    q->timer = evtimer_new(p->base, on_req_timeout, q);
    if (p->common_tv && timeout == p->opt.query_timeout) {
        evtimer_add(q->timer, p->common_tv);
    } else {
        struct timeval tv = {.tv_sec = (time_t)timeout,
                             .tv_usec = (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
        evtimer_add(q->timer, &tv);
    }
}

static struct db_conn *find_idle(struct db_pool *p)
{
    for (unsigned i = 0; i < p->nconns; i++) {
        struct db_conn *c = p->conns[(p->rr + i) % p->nconns];
        if (c->state == CS_IDLE && !c->pinned && !c->req) {
            p->rr = (p->rr + i + 1) % p->nconns;
            return c;
        }
    }
    return NULL;
}

static void pump(struct db_pool *p)
{
    struct db_conn *c;
    while (!p->closing && p->queue.head && (c = find_idle(p))) {
        struct db_req *q = list_pop(&p->queue);
        db_metrics_queue(-1);
        if (q->kind == REQ_ACQUIRE) {
            c->pinned = true;
            q->conn = c;
            dbp_req_defer(q, DB_OK, NULL);
        } else {
            dbc_send(c, q);
        }
    }
}

static void enqueue(struct db_pool *p, struct db_req *q, double timeout)
{
    char msg[96];
    if (p->closing) {
        dbp_req_defer(q, DB_ERR_SHUTDOWN, "database pool is shutting down");
        return;
    }
    if (p->queue.n >= p->opt.max_queue && !find_idle(p)) {
        snprintf(msg, sizeof(msg), "database queue full (%u waiting)", p->queue.n);
        dbp_req_defer(q, DB_ERR_QUEUE_FULL, msg);
        return;
    }
    arm_timer(p, q, timeout);
    q->where = RW_QUEUED;
    list_push(&p->queue, q);
    db_metrics_queue(1);
    pump(p);
}

void dbp_conn_up(struct db_conn *c)
{
    if (c->listener)
        dbl_sync(c);
    else
        dbp_conn_idle(c);
}

void dbp_conn_idle(struct db_conn *c)
{
    struct db_pool *p = c->pool;
    if (c->listener) {
        dbl_sync(c);
        return;
    }
    if (c->pinned || c->state != CS_IDLE)
        return;
    PGTransactionStatusType ts = PQtransactionStatus(c->pg);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        log_ctx_debug(c->ctx, "rolling back a transaction left open by its holder");
        dbc_send(c, dbp_req_internal(p, "ROLLBACK", NULL));
        return;
    }
    pump(p);
}

static bool valid_query(const struct db_pool *p, const struct db_query *q)
{
    if (!q->cb || q->nparams < 0 || (q->nparams > 0 && !q->params))
        return false;
    return q->stmt < 0 ? q->sql != NULL : (size_t)q->stmt < p->nstmts;
}

void db_pool_submit(struct db_pool *p, const struct db_query *dq)
{
    struct db_req *q = req_new(p, REQ_QUERY, dq);
    if (!valid_query(p, dq)) {
        dbp_req_defer(q, DB_ERR_MISUSE, "invalid query (no callback, SQL or statement)");
        return;
    }
    enqueue(p, q, dq->timeout);
}

void db_pool_query(struct db_pool *p, const char *sql, int nparams, const char *const *params,
                   db_query_cb cb, void *arg)
{
    struct db_query q = {sql, -1, nparams, params, -1, cb, arg};
    db_pool_submit(p, &q);
}

void db_pool_exec(struct db_pool *p, db_stmt stmt, int nparams, const char *const *params,
                  db_query_cb cb, void *arg)
{
    struct db_query q = {NULL, stmt, nparams, params, -1, cb, arg};
    db_pool_submit(p, &q);
}

db_stmt db_pool_prepare(struct db_pool *p, const char *sql)
{
    p->stmts = xrealloc(p->stmts, (p->nstmts + 1) * sizeof(char *));
    p->stmts[p->nstmts] = xstrdup(sql);
    return (db_stmt)p->nstmts++;
}

void db_pool_acquire(struct db_pool *p, double timeout, db_acquire_cb cb, void *arg)
{
    struct db_req *q = req_new(p, REQ_ACQUIRE, NULL);
    q->acb = cb;
    q->arg = arg;
    enqueue(p, q, timeout);
}

void db_conn_submit(struct db_conn *c, const struct db_query *dq)
{
    struct db_pool *p = c->pool;
    struct db_req *q = req_new(p, REQ_QUERY, dq);
    q->conn = c;
    if (!valid_query(p, dq) || !c->pinned)
        dbp_req_defer(q, DB_ERR_MISUSE, "invalid query or connection not acquired");
    else if (p->closing)
        dbp_req_defer(q, DB_ERR_SHUTDOWN, "database pool is shutting down");
    else if (c->req)
        dbp_req_defer(q, DB_ERR_MISUSE, "a statement is already in flight on this connection");
    else if (c->broken || c->state != CS_IDLE)
        dbp_req_defer(q, DB_ERR_CONN_LOST, "connection lost earlier in this session");
    else {
        arm_timer(p, q, dq->timeout);
        dbc_send(c, q);
    }
}

void db_conn_query(struct db_conn *c, const char *sql, int nparams, const char *const *params,
                   db_query_cb cb, void *arg)
{
    struct db_query q = {sql, -1, nparams, params, -1, cb, arg};
    db_conn_submit(c, &q);
}

void db_conn_exec(struct db_conn *c, db_stmt stmt, int nparams, const char *const *params,
                  db_query_cb cb, void *arg)
{
    struct db_query q = {NULL, stmt, nparams, params, -1, cb, arg};
    db_conn_submit(c, &q);
}

void db_conn_release(struct db_conn *c)
{
    if (!c->pinned) {
        log_ctx_error(c->ctx, "db_conn_release of a connection that is not acquired");
        return;
    }
    c->pinned = false;
    if (c->broken) {
        c->broken = false;
        dbc_schedule_retry(c, 0);
        return;
    }
    /* In flight: dbp_conn_idle() runs when the statement completes. */
    if (c->state == CS_IDLE && !c->req)
        dbp_conn_idle(c);
}

/* A request found every connection down. The backoff may hold the next
 * attempt for seconds after the server came back: try one connection now,
 * at most every reconnect_min·4, so a stream of requests during an outage
 * does not turn into a connect storm. */
void db_pool_wake(struct db_pool *p)
{
    double now = dbi_now();
    if (p->closing || now - p->last_wake < 4 * p->opt.reconnect_min)
        return;
    for (unsigned i = 0; i < p->nconns; i++) {
        struct db_conn *c = p->conns[i];
        if (c->state == CS_DOWN && !c->pinned && evtimer_pending(c->ev_retry, NULL)) {
            p->last_wake = now;
            dbc_schedule_retry(c, 0);
            return;
        }
    }
}

void db_pool_health(const struct db_pool *p, struct db_pool_health *h)
{
    memset(h, 0, sizeof(*h));
    h->total = p->nconns;
    for (unsigned i = 0; i < p->nconns; i++) {
        const struct db_conn *c = p->conns[i];
        if (c->state == CS_IDLE || c->state == CS_BUSY)
            h->up++;
        if (c->req || c->pinned)
            h->busy++;
    }
    h->queued = p->queue.n;
    h->listener = p->listener != NULL;
    if (p->listener) {
        h->listener_up = p->listener->state == CS_IDLE || p->listener->state == CS_BUSY;
        for (size_t i = 0; i < p->nsubs; i++)
            h->listener_up = h->listener_up && p->subs[i].subscribed;
    }
    h->reconnects = p->reconnects;
    snprintf(h->last_error, sizeof(h->last_error), "%s", p->last_error);
}
