/* redis.c — the command connection, deadlines and the FULL/DEGRADED mode.
 *
 * hiredis owns the socket and its buffers; this file owns what hiredis
 * does not do: a deadline per command, reconnecting, and deciding when
 * Redis is trustworthy. Connections are only ever replaced by the probe
 * timer, so a dead server costs one connection attempt per probe interval
 * and never a storm of them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/adapters/libevent.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "redis_internal.h"

#define UNSET 0xffffffffu /* metrics_* ignore ids they never handed out */

static metric_id m_degraded = UNSET, m_connected = UNSET, m_commands = UNSET, m_messages = UNSET,
                 m_to_full = UNSET, m_to_degraded = UNSET;
static metric_id m_errors[3] = {UNSET, UNSET, UNSET};
static const char *const error_kinds[3] = {"timeout", "disconnected", "connect"};

void redis_metrics_init(void)
{
    if (m_commands != UNSET)
        return;
    m_degraded = metrics_gauge("steno_redis_degraded",
                               "Worker processes running without Redis (degraded mode)", "");
    m_connected = metrics_gauge("steno_redis_connected",
                                "Worker processes with a healthy Redis command connection", "");
    m_commands = metrics_counter("steno_redis_commands_total", "Redis commands answered", "");
    m_messages =
        metrics_counter("steno_redis_messages_total", "Redis pub/sub messages received", "");
    m_to_full = metrics_counter("steno_redis_mode_changes_total",
                                "Transitions between full and degraded mode", "to=\"full\"");
    m_to_degraded =
        metrics_counter("steno_redis_mode_changes_total",
                        "Transitions between full and degraded mode", "to=\"degraded\"");
    for (int i = 0; i < 3; i++) {
        char labels[40];
        snprintf(labels, sizeof(labels), "kind=\"%s\"", error_kinds[i]);
        m_errors[i] = metrics_counter("steno_redis_errors_total",
                                      "Redis failures that degrade: late replies, lost and "
                                      "refused connections",
                                      labels);
    }
}

void redis_metric_error(const char *kind)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(kind, error_kinds[i]) == 0)
            metrics_add(m_errors[i], 1);
}

void redis_metric_message(void)
{
    metrics_add(m_messages, 1);
}

void redis_metric_mode(struct redis *r)
{
    metrics_gauge_set(m_degraded, r->mode == REDIS_MODE_DEGRADED);
    metrics_gauge_set(m_connected, r->cmd_ready);
}

static struct timeval tv_of(double s)
{
    if (s < 0)
        s = 0;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    return tv;
}

void redis_options_default(struct redis_options *o)
{
    memset(o, 0, sizeof(*o));
    o->name = "redis";
    o->command_timeout = 0.5;
    o->connect_timeout = 2;
    o->probe_interval = 30;
    o->recover_after = 120;
    o->max_pending = 10000;
}

const char *redis_mode_name(enum redis_mode m)
{
    return m == REDIS_MODE_FULL ? "full" : "degraded";
}

/* Every transition is logged once, with its reason. */
static void set_mode(struct redis *r, enum redis_mode m, const char *reason)
{
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
    if (r->mode == m)
        return;
    r->mode = m;
    r->since = clock_wall();
    if (m == REDIS_MODE_FULL) {
        r->ever_full = true;
        metrics_add(m_to_full, 1);
        log_ctx_info(r->ctx, "redis: full mode (%s)", reason);
    } else {
        metrics_add(m_to_degraded, 1);
        log_ctx_warn(r->ctx, "redis: degraded mode, running without Redis (%s)", reason);
    }
    redis_metric_mode(r);
}

/* --- the deadline watch --- */

static void arm_deadline(struct redis *r)
{
    struct redis_call *head = TAILQ_FIRST(&r->pending);
    if (!head) {
        event_del(r->deadline_ev);
        return;
    }
    struct timeval tv = tv_of(head->deadline - clock_mono());
    event_add(r->deadline_ev, &tv);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redis *r = arg;
    struct redis_call *head = TAILQ_FIRST(&r->pending);
    if (!head)
        return;
    if (head->deadline > clock_mono()) {
        arm_deadline(r);
        return;
    }
    /* Replies come in order: nothing behind a late reply can arrive sooner,
     * and a server this slow is not one to wait for. */
    head->timed_out = true;
    r->stats.timeouts++;
    redis_metric_error(head->handshake ? "connect" : "timeout");
    redis_failure(r,
                  head->handshake ? "no answer to the connection handshake" : "command timed out");
}

/* --- the command connection --- */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

static struct redis_call *call_new(struct redis *r, redis_reply_cb cb, void *arg, double timeout)
{
    struct redis_call *c = xcalloc(1, sizeof(*c));
    c->r = r;
    c->cb = cb;
    c->arg = arg;
    c->deadline = clock_mono() + timeout;
    return c;
}

static void call_queued(struct redis *r, struct redis_call *c)
{
    TAILQ_INSERT_TAIL(&r->pending, c, link);
    if (++r->npending == 1)
        arm_deadline(r);
    if (r->npending > r->stats.pending)
        r->stats.pending = r->npending;
}

/* The connection answered PING: healthy. The very first time (start-up)
 * that is FULL mode at once; after a failure it must stay healthy for
 * recover_after first. */
static void healthy(struct redis *r)
{
    if (!r->cmd_ready) {
        r->cmd_ready = true;
        r->stats.connected = true;
        redis_metric_mode(r);
    }
    if (!LIST_EMPTY(&r->subs) && !r->sub)
        redis_sub_connect(r);
    if (r->mode == REDIS_MODE_FULL || r->forced_degraded)
        return;
    if (!r->ever_full) {
        set_mode(r, REDIS_MODE_FULL, "connected");
    } else if (!evtimer_pending(r->recover_ev, NULL)) {
        struct timeval tv = tv_of(r->o.recover_after);
        evtimer_add(r->recover_ev, &tv);
        log_ctx_info(r->ctx, "redis: reachable again; full mode in %.0fs if it stays healthy",
                     r->o.recover_after);
    }
}

static void handshake_reply(struct redis *r, struct redis_call *c, redisReply *reply)
{
    if (!reply)
        return; /* the connection went away; its own callback said why */
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof(why), "handshake refused: %s", reply->str);
        redis_metric_error("connect");
        redis_failure(r, why);
        return;
    }
    if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0)
        healthy(r);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_call *c = privdata;
    struct redis *r = c->r;
    redisReply *rep = reply;
    TAILQ_REMOVE(&r->pending, c, link);
    r->npending--;
    if (!r->closing)
        arm_deadline(r);
    if (c->handshake) {
        handshake_reply(r, c, rep);
    } else {
        const char *error = NULL;
        if (!rep)
            error = c->timed_out ? "timeout" : r->closing ? "closed" : "disconnected";
        else if (rep->type == REDIS_REPLY_ERROR)
            error = rep->str;
        if (rep) {
            r->stats.commands++;
            metrics_add(m_commands, 1);
        }
        if (c->cb)
            c->cb(rep, error, c->arg);
    }
    free(c);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis *r = ac->data;
    if (!r || status == REDIS_OK)
        return;
    /* hiredis frees the context when this returns */
    char why[200];
    snprintf(why, sizeof(why), "cannot connect: %s", ac->errstr);
    r->cmd = NULL;
    ((redisAsyncContext *)ac)->data = NULL;
    redis_metric_error("connect");
    redis_failure(r, why);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis *r = ac->data;
    if (!r)
        return; /* we closed it on purpose */
    char why[200];
    snprintf(why, sizeof(why), "connection lost: %s", ac->err ? ac->errstr : "closed by server");
    r->cmd = NULL;
    ((redisAsyncContext *)ac)->data = NULL;
    redis_metric_error("disconnected");
    redis_failure(r, why);
}

/* A new hiredis context for the URL, attached to the loop; NULL when even
 * the socket could not be made (logged through redis_failure). */
redisAsyncContext *redis_open(struct redis *r)
{
    redisAsyncContext *ac =
        r->u.path[0] ? redisAsyncConnectUnix(r->u.path) : redisAsyncConnect(r->u.host, r->u.port);
    if (!ac)
        return NULL;
    if (ac->err) {
        char why[200];
        snprintf(why, sizeof(why), "cannot connect: %s", ac->errstr);
        redisAsyncFree(ac);
        redis_metric_error("connect");
        redis_failure(r, why);
        return NULL;
    }
    redisLibeventAttach(ac, r->base);
    return ac;
}

/* AUTH and SELECT go first on every new connection (pipelined: hiredis
 * buffers them until the socket is up). */
void redis_send_setup(struct redis *r, redisAsyncContext *ac, redisCallbackFn *fn,
                      void *(*privdata)(struct redis *))
{
    if (r->u.password[0]) {
        if (r->u.user[0])
            redisAsyncCommand(ac, fn, privdata(r), "AUTH %s %s", r->u.user, r->u.password);
        else
            redisAsyncCommand(ac, fn, privdata(r), "AUTH %s", r->u.password);
    }
    if (r->u.db)
        redisAsyncCommand(ac, fn, privdata(r), "SELECT %d", r->u.db);
}

static void *handshake_call(struct redis *r)
{
    struct redis_call *c = call_new(r, NULL, NULL, r->o.connect_timeout);
    c->handshake = true;
    call_queued(r, c);
    return c;
}

static void connect_cmd(struct redis *r)
{
    redisAsyncContext *ac = redis_open(r);
    if (!ac)
        return;
    r->stats.reconnects += r->ever_full;
    ac->data = r;
    r->cmd = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redis_send_setup(r, ac, on_reply, handshake_call);
    redisAsyncCommand(ac, on_reply, handshake_call(r), "PING");
}

void redis_failure(struct redis *r, const char *why)
{
    r->stats.failures++;
    evtimer_del(r->recover_ev);
    /* mode first: callbacks fired while the connections are torn down see
     * Redis unavailable and take their fallbacks */
    if (r->mode == REDIS_MODE_FULL)
        set_mode(r, REDIS_MODE_DEGRADED, why);
    else
        log_ctx_debug(r->ctx, "redis: still degraded (%s)", why);
    if (r->cmd_ready) {
        r->cmd_ready = false;
        r->stats.connected = false;
        redis_metric_mode(r);
    }
    redisAsyncContext *ac = r->cmd;
    if (ac) {
        r->cmd = NULL;
        ac->data = NULL;
        redisAsyncFree(ac); /* pending callbacks get "disconnected" (or "timeout") */
    }
    redis_sub_close(r);
}

/* While degraded: reconnect (or, connected, keep checking); in full mode:
 * a PING, so a silent server is noticed without traffic. */
static void ping_reply(const redisReply *reply, const char *error, void *arg)
{
    (void)reply;
    (void)error;
    (void)arg; /* a failure already went through redis_failure */
}

static void probe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redis *r = arg;
    if (!r->cmd) {
        connect_cmd(r);
        return;
    }
    if (!r->cmd_ready)
        return; /* the handshake's own deadline covers it */
    struct redis_call *c = call_new(r, ping_reply, NULL, r->o.command_timeout);
    if (redisAsyncCommand(r->cmd, on_reply, c, "PING") != REDIS_OK) {
        free(c);
        return;
    }
    call_queued(r, c);
    if (!LIST_EMPTY(&r->subs)) {
        if (!r->sub)
            redis_sub_connect(r);
        else if (!r->sub_ready && clock_mono() - r->sub_started > r->o.connect_timeout)
            redis_failure(r, "subscriber connection did not come up");
    }
}

static void recover_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redis *r = arg;
    if (r->cmd_ready && !r->forced_degraded) {
        char why[80];
        snprintf(why, sizeof(why), "healthy for %.0fs", r->o.recover_after);
        set_mode(r, REDIS_MODE_FULL, why);
    }
}

struct redis *redis_new(struct event_base *base, const struct redis_options *o, char *err,
                        size_t errlen)
{
    struct redis_url u;
    if (!redis_url_parse(o->url, &u, err, errlen))
        return NULL;
    struct redis *r = xcalloc(1, sizeof(*r));
    r->base = base;
    r->o = *o;
    r->o.url = NULL;
    r->u = u;
    snprintf(r->name, sizeof(r->name), "%s", o->name ? o->name : "redis");
    r->o.name = r->name;
    snprintf(r->ctx, sizeof(r->ctx), "redis=%s", r->name);
    if (r->o.max_pending == 0)
        r->o.max_pending = 10000;
    TAILQ_INIT(&r->pending);
    LIST_INIT(&r->subs);
    r->mode = REDIS_MODE_DEGRADED;
    snprintf(r->reason, sizeof(r->reason), "connecting");
    r->since = clock_wall();
    r->deadline_ev = evtimer_new(base, deadline_cb, r);
    r->recover_ev = evtimer_new(base, recover_cb, r);
    r->probe_ev = event_new(base, -1, EV_PERSIST, probe_cb, r);
    struct timeval tv = tv_of(r->o.probe_interval);
    event_add(r->probe_ev, &tv);
    redis_metric_mode(r);
    connect_cmd(r);
    return r;
}

void redis_free(struct redis *r)
{
    if (!r)
        return;
    r->closing = true;
    event_free(r->probe_ev);
    event_free(r->recover_ev);
    event_free(r->deadline_ev);
    redis_sub_close(r);
    redisAsyncContext *ac = r->cmd;
    if (ac) {
        r->cmd = NULL;
        ac->data = NULL;
        redisAsyncFree(ac); /* pending callbacks get "closed" */
    }
    redis_subs_free(r);
    metrics_gauge_set(m_degraded, 0);
    metrics_gauge_set(m_connected, 0);
    free(r);
}

enum redis_mode redis_mode(const struct redis *r)
{
    return r ? r->mode : REDIS_MODE_DEGRADED;
}

const char *redis_mode_reason(const struct redis *r)
{
    return r ? r->reason : "no Redis configured";
}

double redis_mode_since(const struct redis *r)
{
    return r ? r->since : 0;
}

bool redis_available(const struct redis *r)
{
    return r && r->mode == REDIS_MODE_FULL && r->cmd_ready && !r->closing;
}

bool redis_overridden(const struct redis *r)
{
    return r && r->forced_degraded;
}

void redis_override(struct redis *r, enum redis_mode m, const char *reason)
{
    if (!r)
        return;
    char why[200];
    snprintf(why, sizeof(why), "override: %s", reason && *reason ? reason : "by an operator");
    if (m == REDIS_MODE_DEGRADED) {
        r->forced_degraded = true;
        evtimer_del(r->recover_ev);
        set_mode(r, REDIS_MODE_DEGRADED, why);
        return;
    }
    r->forced_degraded = false;
    if (r->cmd_ready)
        set_mode(r, REDIS_MODE_FULL, why);
    else
        log_ctx_info(r->ctx, "redis: override cleared (%s); full mode once Redis answers", why);
}

/* The checks every command passes first: NULL means take the fallback. */
static struct redis_call *admit(struct redis *r, redis_reply_cb cb, void *arg)
{
    if (!redis_available(r) || r->npending >= r->o.max_pending)
        return NULL;
    return call_new(r, cb, arg, r->o.command_timeout);
}

static struct redis_call *sent(struct redis *r, struct redis_call *c, int rc)
{
    if (rc != REDIS_OK) {
        free(c);
        return NULL;
    }
    call_queued(r, c);
    return c;
}

struct redis_call *redis_command(struct redis *r, redis_reply_cb cb, void *arg, const char *fmt,
                                 ...)
{
    struct redis_call *c = admit(r, cb, arg);
    if (!c)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->cmd, on_reply, c, fmt, ap);
    va_end(ap);
    return sent(r, c, rc);
}

struct redis_call *redis_command_argv(struct redis *r, redis_reply_cb cb, void *arg, int argc,
                                      const char **argv, const size_t *argvlen)
{
    struct redis_call *c = admit(r, cb, arg);
    if (!c)
        return NULL;
    return sent(r, c, redisAsyncCommandArgv(r->cmd, on_reply, c, argc, argv, argvlen));
}

void redis_call_cancel(struct redis_call *c)
{
    if (c)
        c->cb = NULL;
}

bool redis_publish(struct redis *r, const char *channel, const char *payload, size_t len)
{
    return redis_command(r, NULL, NULL, "PUBLISH %s %b", channel, payload, len) != NULL;
}

void redis_get_stats(const struct redis *r, struct redis_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!r)
        return;
    *out = r->stats;
    out->pending = r->npending;
    out->connected = r->cmd_ready;
    out->subscribed = r->sub_ready;
}
