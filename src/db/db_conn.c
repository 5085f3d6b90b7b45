/* db_conn.c — one libpq connection driven by libevent: connect, send, read.
 *
 * States: DOWN (waiting for the retry timer) → CONNECTING (PQconnectPoll on
 * a one-shot fd event, re-armed on whatever socket libpq names each step) →
 * IDLE ⇄ BUSY. A lost session goes back to DOWN and retries with
 * exponential backoff; a pinned one is marked broken instead and reconnects
 * only when its holder releases it. */
#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db_metrics.h"
#include "log.h"

double dbi_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timeval tv_of(double s)
{
    if (s < 0)
        s = 0;
    struct timeval tv = {.tv_sec = (time_t)s,
                         .tv_usec = (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    return tv;
}

/* libpq messages end with a newline and may span lines: keep one line,
 * with runs of blanks collapsed. */
static void one_line(char *dst, size_t n, const char *msg)
{
    snprintf(dst, n, "%s", msg && *msg ? msg : "unknown error");
    char *w = dst;
    for (const char *r = dst; *r; r++) {
        char ch = *r == '\n' || *r == '\r' || *r == '\t' ? ' ' : *r;
        if (ch == ' ' && (w == dst || w[-1] == ' '))
            continue;
        *w++ = ch;
    }
    while (w > dst && w[-1] == ' ')
        w--;
    *w = '\0';
}

/* Per-process jitter source: workers forked from one parent must not share
 * a sequence, or they would all retry at the same instants. */
static double jitter(void)
{
    static uint64_t state;
    static pid_t owner;
    if (owner != getpid()) {
        owner = getpid();
        state = ((uint64_t)owner << 32) ^ (uint64_t)(dbi_now() * 1e9) ^ 0x9e3779b97f4a7c15ull;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / 9007199254740992.0; /* [0, 1) */
}

static void on_connect_io(evutil_socket_t fd, short what, void *arg);
static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void on_retry(evutil_socket_t fd, short what, void *arg);

struct db_conn *dbc_new(struct db_pool *p, unsigned id, bool listener)
{
    struct db_conn *c = xcalloc(1, sizeof(*c));
    c->pool = p;
    c->id = id;
    c->listener = listener;
    snprintf(c->ctx, sizeof(c->ctx), "%s conn=%s%u", p->ctx, listener ? "L" : "", id);
    c->ev_connect = event_new(p->base, -1, 0, on_connect_io, c);
    c->ev_retry = evtimer_new(p->base, on_retry, c);
    return c;
}

void dbc_free(struct db_conn *c)
{
    if (c->pg) {
        PQfinish(c->pg);
        if (c->state == CS_IDLE || c->state == CS_BUSY)
            db_metrics_connections(-1);
    }
    if (c->ev_rd)
        event_free(c->ev_rd);
    if (c->ev_wr)
        event_free(c->ev_wr);
    event_free(c->ev_connect);
    event_free(c->ev_retry);
    free(c->prepared);
    free(c);
}

static void on_notice(void *arg, const char *message)
{
    struct db_conn *c = arg;
    char line[512];
    one_line(line, sizeof(line), message);
    log_ctx_debug(c->ctx, "postgres: %s", line);
}

static void connect_failed(struct db_conn *c, const char *msg)
{
    char line[256];
    one_line(line, sizeof(line), msg);
    c->failures++;
    db_metrics_connect_failure();
    dbp_set_error(c->pool, line);
    if (c->failures == 1 || c->failures % 20 == 0)
        log_ctx_warn(c->ctx, "cannot connect to PostgreSQL (attempt %u): %s", c->failures, line);
    event_del(c->ev_connect);
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->state = CS_DOWN;
    dbc_schedule_retry(c, -1);
}

/* Wait for the socket libpq names now, in the direction it asks for, no
 * longer than the attempt's deadline. The socket may change between steps
 * (libpq tries each address in turn), so the event is re-assigned each time. */
static void arm_connect(struct db_conn *c, PostgresPollingStatusType st)
{
    int fd = PQsocket(c->pg);
    if (fd < 0) {
        connect_failed(c, PQerrorMessage(c->pg));
        return;
    }
    event_del(c->ev_connect);
    short what = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;
    event_assign(c->ev_connect, c->pool->base, fd, what, on_connect_io, c);
    struct timeval tv = tv_of(c->deadline - dbi_now());
    event_add(c->ev_connect, &tv);
}

static void conn_ready(struct db_conn *c)
{
    if (PQsetnonblocking(c->pg, 1) != 0) {
        connect_failed(c, PQerrorMessage(c->pg));
        return;
    }
    event_del(c->ev_connect);
    int fd = PQsocket(c->pg);
    if (c->ev_rd)
        event_free(c->ev_rd);
    if (c->ev_wr)
        event_free(c->ev_wr);
    c->ev_rd = event_new(c->pool->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->ev_wr = event_new(c->pool->base, fd, EV_WRITE, on_write, c);
    event_add(c->ev_rd, NULL);
    c->state = CS_IDLE;
    c->flushing = false;
    db_metrics_connections(1);
    if (c->ever_up) {
        c->pool->reconnects++;
        db_metrics_reconnect();
        log_ctx_info(c->ctx, "reconnected to PostgreSQL (server pid %d, %u failed attempt%s)",
                     PQbackendPID(c->pg), c->failures, c->failures == 1 ? "" : "s");
    } else {
        log_ctx_debug(c->ctx, "connected to PostgreSQL (server pid %d)", PQbackendPID(c->pg));
    }
    c->ever_up = true;
    c->failures = 0;
    dbp_conn_up(c);
}

static void on_connect_io(evutil_socket_t fd, short what, void *arg)
{
    struct db_conn *c = arg;
    if (what & EV_TIMEOUT) {
        char msg[96];
        snprintf(msg, sizeof(msg), "connection attempt timed out after %gs",
                 c->pool->opt.connect_timeout);
        connect_failed(c, msg);
        return;
    }
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    if (st == PGRES_POLLING_OK)
        conn_ready(c);
    else if (st == PGRES_POLLING_FAILED)
        connect_failed(c, PQerrorMessage(c->pg));
    else
        arm_connect(c, st);
}

void dbc_start(struct db_conn *c)
{
    struct db_pool *p = c->pool;
    const char *keys[] = {"dbname", "options", "fallback_application_name", NULL};
    const char *vals[] = {p->conninfo, p->options, "stenod", NULL};
    c->state = CS_CONNECTING;
    c->deadline = dbi_now() + p->opt.connect_timeout;
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        connect_failed(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    PQsetNoticeProcessor(c->pg, on_notice, c);
    arm_connect(c, PGRES_POLLING_WRITING);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct db_conn *c = arg;
    if (!c->pool->closing && c->state == CS_DOWN && !c->pinned)
        dbc_start(c);
}

/* Full jitter on top of an exponential bound: many workers that lost the
 * same server do not all knock at the same instant. */
void dbc_schedule_retry(struct db_conn *c, double delay)
{
    const struct db_pool_options *o = &c->pool->opt;
    if (c->pool->closing)
        return;
    if (delay < 0) {
        double d = o->reconnect_min;
        for (unsigned i = 1; i < c->failures && d < o->reconnect_max; i++)
            d *= 2;
        if (d > o->reconnect_max)
            d = o->reconnect_max;
        delay = d * (0.5 + 0.5 * jitter());
    }
    struct timeval tv = tv_of(delay);
    evtimer_add(c->ev_retry, &tv);
}

void dbc_drop(struct db_conn *c, const char *why, double delay)
{
    if (!c->pg)
        return;
    char line[256], msg[300];
    one_line(line, sizeof(line), why);
    struct db_req *q = c->req;
    c->req = NULL;
    bool was_up = c->state == CS_IDLE || c->state == CS_BUSY;
    event_del(c->ev_connect);
    if (c->ev_rd)
        event_del(c->ev_rd);
    if (c->ev_wr)
        event_del(c->ev_wr);
    PQfinish(c->pg);
    c->pg = NULL;
    c->state = CS_DOWN;
    c->flushing = false;
    c->gen++;
    if (c->prepared)
        memset(c->prepared, 0, c->nprepared);
    if (was_up)
        db_metrics_connections(-1);
    if (c->listener)
        dbl_reset(c->pool);
    if (c->pinned)
        c->broken = true;
    else
        dbc_schedule_retry(c, delay);
    dbp_set_error(c->pool, line);
    log_ctx_warn(c->ctx, "PostgreSQL connection closed: %s", line);
    if (q) {
        snprintf(msg, sizeof(msg), "connection lost: %s", line);
        dbp_req_defer(q, DB_ERR_CONN_LOST, msg);
    }
}

void dbc_lost(struct db_conn *c, const char *why)
{
    dbc_drop(c, why, -1);
}

static void flush(struct db_conn *c)
{
    int r = PQflush(c->pg);
    if (r < 0) {
        dbc_lost(c, PQerrorMessage(c->pg));
        return;
    }
    c->flushing = r == 1;
    if (c->flushing)
        event_add(c->ev_wr, NULL);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct db_conn *c = arg;
    if (c->pg && c->flushing)
        flush(c);
}

static bool is_prepared(struct db_conn *c, db_stmt s)
{
    return (size_t)s < c->nprepared && c->prepared[s];
}

static void set_prepared(struct db_conn *c, db_stmt s)
{
    if ((size_t)s >= c->nprepared) {
        size_t n = c->pool->nstmts;
        c->prepared = xrealloc(c->prepared, n);
        memset(c->prepared + c->nprepared, 0, n - c->nprepared);
        c->nprepared = n;
    }
    c->prepared[s] = 1;
}

static int send_statement(struct db_conn *c, struct db_req *q)
{
    char name[32];
    if (q->simple)
        return PQsendQuery(c->pg, q->sql);
    if (q->stmt < 0)
        return PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, q->params, NULL, NULL, 0);
    snprintf(name, sizeof(name), "steno_s%d", q->stmt);
    if (!is_prepared(c, q->stmt)) {
        q->preparing = true;
        return PQsendPrepare(c->pg, name, c->pool->stmts[q->stmt], 0, NULL);
    }
    return PQsendQueryPrepared(c->pg, name, q->nparams, q->params, NULL, NULL, 0);
}

void dbc_send(struct db_conn *c, struct db_req *q)
{
    c->req = q;
    c->state = CS_BUSY;
    q->where = RW_INFLIGHT;
    q->conn = c;
    if (!send_statement(c, q)) {
        dbc_lost(c, PQerrorMessage(c->pg));
        return;
    }
    flush(c);
}

/* Keep the first error of a request's results, else its last result. */
static void keep(struct db_req *q, PGresult *r)
{
    if (!q->res) {
        q->res = r;
    } else if (PQresultStatus(q->res) == PGRES_FATAL_ERROR) {
        PQclear(r);
    } else {
        PQclear(q->res);
        q->res = r;
    }
}

static bool conn_lost_state(const char *state)
{
    /* Class 08 (connection exception) and 57P01-57P03 (the server is going
     * down or not up yet) mean the session is gone, not that SQL failed. */
    return strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
           strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0;
}

/* The request's last result arrived (PQgetResult returned NULL). */
static void request_done(struct db_conn *c)
{
    struct db_req *q = c->req;
    PGresult *r = q->res;
    q->res = NULL;
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
    if (q->preparing && ok) { /* PREPARE done: now the EXECUTE */
        PQclear(r);
        q->preparing = false;
        set_prepared(c, q->stmt);
        dbc_send(c, q);
        return;
    }
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!ok && (!r || PQstatus(c->pg) == CONNECTION_BAD || (state && conn_lost_state(state)))) {
        const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        char why[256];
        snprintf(why, sizeof(why), "%s", m ? m : PQerrorMessage(c->pg));
        PQclear(r);
        dbc_lost(c, why);
        return;
    }
    c->req = NULL;
    c->state = CS_IDLE;
    const char *msg = ok ? "" : PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    struct db_result res = {.error = ok ? DB_OK : DB_ERR_SQL,
                            .sqlstate = state ? state : "",
                            .message = msg ? msg : "",
                            .pg = r};
    dbp_req_finish(q, &res);
    PQclear(r);
    if (c->pg && c->state == CS_IDLE)
        dbp_conn_idle(c);
}

static void collect(struct db_conn *c)
{
    unsigned gen = c->gen;
    while (c->pg && c->gen == gen && c->req && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            request_done(c);
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            PQclear(r);
            dbc_lost(c, "COPY is not supported by the pool");
            return;
        }
        keep(c->req, r);
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct db_conn *c = arg;
    unsigned gen = c->gen;
    if (!c->pg)
        return;
    if (!PQconsumeInput(c->pg)) {
        dbc_lost(c, PQerrorMessage(c->pg));
        return;
    }
    if (c->flushing)
        flush(c);
    if (c->pg && c->gen == gen && c->listener)
        dbl_notifies(c);
    if (c->pg && c->gen == gen)
        collect(c);
    if (c->pg && c->gen == gen && PQstatus(c->pg) == CONNECTION_BAD)
        dbc_lost(c, PQerrorMessage(c->pg));
}
