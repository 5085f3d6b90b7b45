/* db_pool_life.c — creating a pool and tearing it down. */
#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_metrics.h"
#include "log.h"

void db_pool_options_default(struct db_pool_options *o)
{
    *o = (struct db_pool_options){
        .conninfo = NULL,
        .name = "main",
        .connections = 4,
        .max_queue = 1024,
        .statement_timeout = 30,
        .query_timeout = 35,
        .idle_tx_timeout = 60,
        .connect_timeout = 5,
        .reconnect_min = 0.05,
        .reconnect_max = 5,
    };
}

static long ms(double s)
{
    return s > 0 ? (long)(s * 1000 + 0.5) : 0;
}

static void on_close(evutil_socket_t fd, short what, void *arg);

struct db_pool *db_pool_new(struct event_base *base, const struct db_pool_options *o, char *err,
                            size_t errlen)
{
    if (!o->conninfo || !*o->conninfo) {
        snprintf(err, errlen, "no database URL (set --database-url / STENO_DATABASE_URL)");
        return NULL;
    }
    if (o->connections < 1 || o->connections > 1000) {
        snprintf(err, errlen, "database pool size must be 1..1000, not %u", o->connections);
        return NULL;
    }
    struct db_pool *p = xcalloc(1, sizeof(*p));
    p->base = base;
    p->opt = *o;
    p->conninfo = xstrdup(o->conninfo);
    p->name = xstrdup(o->name && *o->name ? o->name : "main");
    p->opt.conninfo = p->conninfo;
    p->opt.name = p->name;
    if (p->opt.reconnect_min <= 0)
        p->opt.reconnect_min = 0.05;
    if (p->opt.reconnect_max < p->opt.reconnect_min)
        p->opt.reconnect_max = p->opt.reconnect_min;
    if (p->opt.connect_timeout <= 0)
        p->opt.connect_timeout = 5;
    p->options = xasprintf("-c statement_timeout=%ld -c idle_in_transaction_session_timeout=%ld "
                           "-c client_connection_check_interval=1000",
                           ms(o->statement_timeout), ms(o->idle_tx_timeout));
    snprintf(p->ctx, sizeof(p->ctx), "db=%s", p->name);
    p->ev_ready = event_new(base, -1, 0, dbp_on_ready, p);
    p->ev_close = event_new(base, -1, 0, on_close, p);
    if (p->opt.query_timeout > 0) {
        struct timeval tv = {
            .tv_sec = (time_t)p->opt.query_timeout,
            .tv_usec =
                (suseconds_t)((p->opt.query_timeout - (double)(time_t)p->opt.query_timeout) * 1e6)};
        p->common_tv = event_base_init_common_timeout(base, &tv);
    }
    p->nconns = o->connections;
    p->conns = xcalloc(p->nconns, sizeof(*p->conns));
    for (unsigned i = 0; i < p->nconns; i++)
        p->conns[i] = dbc_new(p, i, false);
    for (unsigned i = 0; i < p->nconns; i++)
        dbc_start(p->conns[i]);
    return p;
}

/* Take one request that still waits for an outcome, wherever it is. */
static struct db_req *take_pending(struct db_pool *p, enum db_error *e, const char **msg)
{
    static const char *const shutting = "database pool is shutting down";
    *e = DB_ERR_SHUTDOWN;
    *msg = shutting;
    for (unsigned i = 0; i <= p->nconns; i++) {
        struct db_conn *c = i < p->nconns ? p->conns[i] : p->listener;
        if (c && c->req) {
            struct db_req *q = c->req;
            c->req = NULL;
            return q;
        }
    }
    struct db_req *q = p->queue.head;
    if (q) {
        p->queue.head = q->next;
        if (!p->queue.head)
            p->queue.tail = NULL;
        p->queue.n--;
        db_metrics_queue(-1);
        return q;
    }
    if ((q = p->ready.head)) {
        p->ready.head = q->next;
        if (!p->ready.head)
            p->ready.tail = NULL;
        p->ready.n--;
        if (q->kind == REQ_ACQUIRE && q->ready_err == DB_OK)
            q->conn->pinned = false;
        else {
            *e = q->ready_err;
            *msg = q->ready_msg;
        }
    }
    return q;
}

/* Runs at depth 0 only: every outcome is delivered (callbacks may submit
 * again; those land on the ready list as refusals and are drained too),
 * then everything is freed. */
static void teardown(struct db_pool *p)
{
    p->closing = true;
    enum db_error e;
    const char *msg;
    struct db_req *q;
    while ((q = take_pending(p, &e, &msg))) {
        struct db_result res = {.error = e, .sqlstate = "", .message = msg};
        q->where = RW_NONE;
        dbp_req_finish(q, &res);
    }
    for (unsigned i = 0; i < p->nconns; i++) {
        if (p->conns[i]->pinned)
            log_ctx_warn(p->ctx, "pool closed while conn=%u is still acquired", i);
        dbc_free(p->conns[i]);
    }
    if (p->listener)
        dbc_free(p->listener);
    dbl_free(p);
    for (size_t i = 0; i < p->nstmts; i++)
        free(p->stmts[i]);
    free(p->stmts);
    free(p->conns);
    event_free(p->ev_ready);
    event_free(p->ev_close);
    free(p->conninfo);
    free(p->name);
    free(p->options);
    free(p);
}

static void on_close(evutil_socket_t fd, short what, void *arg)
{
    teardown(arg);
}

void db_pool_close(struct db_pool *p)
{
    if (!p)
        return;
    p->closing = true;
    if (p->depth > 0) {
        event_active(p->ev_close, EV_TIMEOUT, 0);
        return;
    }
    teardown(p);
}
