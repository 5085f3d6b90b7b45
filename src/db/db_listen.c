/* db_listen.c — LISTEN/NOTIFY on a dedicated connection.
 *
 * The listener is a db_conn that never runs user queries. Whenever it is
 * idle and some channel is not yet subscribed on the current session (the
 * first time, after db_pool_listen() adds one, after every reconnect) it
 * sends one batch of LISTEN commands; when the batch is acknowledged each
 * newly subscribed channel's callback gets payload NULL. */
#include "db_internal.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_CHANNEL 63 /* NAMEDATALEN - 1 */

static void listen_done(struct db_conn *c, const struct db_result *res)
{
    struct db_pool *p = c->pool;
    bool ok = res->error == DB_OK;
    if (!ok && res->error != DB_ERR_SHUTDOWN)
        log_ctx_warn(c->ctx, "LISTEN failed: %s", res->message);
    for (size_t i = 0; i < p->nsubs; i++) {
        if (!p->subs[i].pending)
            continue;
        p->subs[i].pending = false;
        p->subs[i].subscribed = ok;
        if (!ok || p->closing)
            continue;
        /* Copy before calling: the callback may add channels (realloc). */
        db_notify_cb cb = p->subs[i].cb;
        void *arg = p->subs[i].arg;
        char *channel = xstrdup(p->subs[i].channel);
        cb(channel, NULL, arg);
        free(channel);
    }
}

void dbl_sync(struct db_conn *c)
{
    struct db_pool *p = c->pool;
    if (p->closing || c->state != CS_IDLE || c->req)
        return;
    size_t cap = 1, n = 0;
    for (size_t i = 0; i < p->nsubs; i++)
        cap += 2 * strlen(p->subs[i].channel) + 16;
    char *sql = xmalloc(cap);
    sql[0] = '\0';
    for (size_t i = 0; i < p->nsubs; i++) {
        struct listen_sub *s = &p->subs[i];
        if (s->subscribed || s->pending)
            continue;
        char *id = PQescapeIdentifier(c->pg, s->channel, strlen(s->channel));
        if (!id)
            continue;
        n += (size_t)snprintf(sql + n, cap - n, "LISTEN %s;", id);
        PQfreemem(id);
        s->pending = true;
    }
    if (n)
        dbc_send(c, dbp_req_internal(p, sql, listen_done));
    free(sql);
}

void dbl_reset(struct db_pool *p)
{
    for (size_t i = 0; i < p->nsubs; i++)
        p->subs[i].pending = p->subs[i].subscribed = false;
}

void dbl_notifies(struct db_conn *c)
{
    struct db_pool *p = c->pool;
    unsigned gen = c->gen;
    PGnotify *n;
    while (c->pg && c->gen == gen && (n = PQnotifies(c->pg))) {
        p->depth++;
        for (size_t i = 0; i < p->nsubs && !p->closing; i++) {
            if (strcmp(p->subs[i].channel, n->relname) != 0)
                continue;
            db_notify_cb cb = p->subs[i].cb;
            cb(n->relname, n->extra ? n->extra : "", p->subs[i].arg);
        }
        p->depth--;
        PQfreemem(n);
    }
}

bool db_pool_listen(struct db_pool *p, const char *channel, db_notify_cb cb, void *arg)
{
    size_t len = channel ? strlen(channel) : 0;
    if (len == 0 || len > MAX_CHANNEL || !cb || p->closing)
        return false;
    p->subs = xrealloc(p->subs, (p->nsubs + 1) * sizeof(*p->subs));
    p->subs[p->nsubs++] = (struct listen_sub){.channel = xstrdup(channel), .cb = cb, .arg = arg};
    if (!p->listener) {
        p->listener = dbc_new(p, p->nconns, true);
        dbc_start(p->listener);
    } else {
        dbl_sync(p->listener);
    }
    return true;
}

void dbl_free(struct db_pool *p)
{
    for (size_t i = 0; i < p->nsubs; i++)
        free(p->subs[i].channel);
    free(p->subs);
    p->subs = NULL;
    p->nsubs = 0;
}
