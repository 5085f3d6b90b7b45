/* redis_pubsub.c — the subscriber connection and message fan-out.
 *
 * A connection in subscribed mode can send nothing but (P)SUBSCRIBE and
 * (P)UNSUBSCRIBE, so pub/sub has its own. Our subscriptions are the truth;
 * hiredis's are rebuilt from them on every (re)connection. Several local
 * subscribers may share one Redis channel: Redis is subscribed once and
 * each message fans out to all of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "redis_internal.h"

static bool same(const struct redis_sub *a, const char *channel, bool pattern)
{
    return !a->dead && a->pattern == pattern && strcmp(a->channel, channel) == 0;
}

/* Another live subscriber already holds this channel in Redis? */
static bool shared(const struct redis *r, const struct redis_sub *s)
{
    const struct redis_sub *o;
    LIST_FOREACH(o, &r->subs, link)
    if (o != s && same(o, s->channel, s->pattern))
        return true;
    return false;
}

/* An earlier live subscriber in the list holds the same channel? (So a
 * reconnection subscribes each distinct channel once.) */
static bool shared_before(const struct redis *r, const struct redis_sub *s)
{
    const struct redis_sub *o;
    LIST_FOREACH(o, &r->subs, link)
    {
        if (o == s)
            return false;
        if (same(o, s->channel, s->pattern))
            return true;
    }
    return false;
}

static void purge_dead(struct redis *r)
{
    struct redis_sub *s = LIST_FIRST(&r->subs), *next;
    for (; s; s = next) {
        next = LIST_NEXT(s, link);
        if (s->dead) {
            LIST_REMOVE(s, link);
            free(s->channel);
            free(s);
        }
    }
}

/* Deliver to every live subscriber of (name, pattern); channel NULL
 * announces a (re)subscription. Callbacks may subscribe or unsubscribe:
 * freeing waits until the outermost dispatch ends. */
static void dispatch(struct redis *r, const char *name, bool pattern, const char *channel,
                     const char *payload, size_t len)
{
    r->dispatching++;
    struct redis_sub *s;
    LIST_FOREACH(s, &r->subs, link)
    if (same(s, name, pattern))
        s->cb(channel, payload, len, s->arg);
    if (--r->dispatching == 0)
        purge_dead(r);
}

static const char *elem_str(const redisReply *rep, size_t i, size_t *len)
{
    if (i >= rep->elements || !rep->element[i] || !rep->element[i]->str)
        return NULL;
    if (len)
        *len = rep->element[i]->len;
    return rep->element[i]->str;
}

static void on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis *r = privdata;
    redisReply *rep = reply;
    if (!rep || !ac->data || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3)
        return; /* torn down, or a reply that is not pub/sub traffic */
    const char *kind = elem_str(rep, 0, NULL);
    if (!kind)
        return;
    size_t len = 0;
    if (strcmp(kind, "message") == 0) {
        const char *ch = elem_str(rep, 1, NULL), *payload = elem_str(rep, 2, &len);
        if (ch && payload) {
            r->stats.messages++;
            redis_metric_message();
            dispatch(r, ch, false, ch, payload, len);
        }
    } else if (strcmp(kind, "pmessage") == 0 && rep->elements >= 4) {
        const char *pat = elem_str(rep, 1, NULL), *ch = elem_str(rep, 2, NULL),
                   *payload = elem_str(rep, 3, &len);
        if (pat && ch && payload) {
            r->stats.messages++;
            redis_metric_message();
            dispatch(r, pat, true, ch, payload, len);
        }
    } else if (strcmp(kind, "subscribe") == 0 || strcmp(kind, "psubscribe") == 0) {
        const char *name = elem_str(rep, 1, NULL);
        r->sub_ready = true;
        if (name)
            dispatch(r, name, kind[0] == 'p', NULL, NULL, 0);
    }
}

static void send_subscribe(struct redis *r, const struct redis_sub *s)
{
    redisAsyncCommand(r->sub, on_message, r, s->pattern ? "PSUBSCRIBE %s" : "SUBSCRIBE %s",
                      s->channel);
}

static void on_setup(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis *r = privdata;
    redisReply *rep = reply;
    if (rep && ac->data && rep->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof(why), "subscriber handshake refused: %s", rep->str);
        redis_failure(r, why);
    }
}

static void *self(struct redis *r)
{
    return r;
}

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
    struct redis *r = ac->data;
    if (!r || status == REDIS_OK)
        return;
    char why[200];
    snprintf(why, sizeof(why), "subscriber cannot connect: %s", ac->errstr);
    r->sub = NULL;
    r->sub_ready = false;
    ((redisAsyncContext *)ac)->data = NULL;
    redis_metric_error("connect");
    redis_failure(r, why);
}

static void on_sub_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis *r = ac->data;
    if (!r)
        return;
    r->sub = NULL;
    r->sub_ready = false;
    ((redisAsyncContext *)ac)->data = NULL;
    redis_metric_error("disconnected");
    redis_failure(r, "subscriber connection lost");
}

void redis_sub_connect(struct redis *r)
{
    if (r->sub || r->closing)
        return;
    redisAsyncContext *ac = redis_open(r);
    if (!ac)
        return;
    ac->data = r;
    r->sub = ac;
    r->sub_ready = false;
    r->sub_started = clock_mono();
    redisAsyncSetConnectCallback(ac, on_sub_connect);
    redisAsyncSetDisconnectCallback(ac, on_sub_disconnect);
    redis_send_setup(r, ac, on_setup, self);
    struct redis_sub *s;
    LIST_FOREACH(s, &r->subs, link)
    if (!s->dead && !shared_before(r, s))
        send_subscribe(r, s);
}

void redis_sub_close(struct redis *r)
{
    redisAsyncContext *ac = r->sub;
    if (!ac)
        return;
    r->sub = NULL;
    r->sub_ready = false;
    ac->data = NULL;
    redisAsyncFree(ac);
}

void redis_subs_free(struct redis *r)
{
    while (!LIST_EMPTY(&r->subs)) {
        struct redis_sub *s = LIST_FIRST(&r->subs);
        LIST_REMOVE(s, link);
        free(s->channel);
        free(s);
    }
}

struct redis_sub *redis_subscribe(struct redis *r, const char *channel, bool pattern,
                                  redis_message_cb cb, void *arg)
{
    if (!r)
        return NULL;
    struct redis_sub *s = xcalloc(1, sizeof(*s));
    s->r = r;
    s->channel = xstrdup(channel);
    s->pattern = pattern;
    s->cb = cb;
    s->arg = arg;
    bool known = shared(r, s);
    LIST_INSERT_HEAD(&r->subs, s, link);
    if (!r->sub) {
        if (r->cmd_ready)
            redis_sub_connect(r); /* subscribes everything, this one included */
    } else if (!known) {
        send_subscribe(r, s);
    }
    return s;
}

void redis_unsubscribe(struct redis_sub *s)
{
    if (!s)
        return;
    struct redis *r = s->r;
    s->dead = true;
    if (r->sub && !shared(r, s))
        redisAsyncCommand(r->sub, on_message, r, s->pattern ? "PUNSUBSCRIBE %s" : "UNSUBSCRIBE %s",
                          s->channel);
    if (!r->dispatching)
        purge_dead(r);
}
