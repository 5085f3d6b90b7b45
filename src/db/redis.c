/* redis.c — placeholder until the client lands: always degraded. */
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct redis {
    int unused;
};

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

bool redis_url_parse(const char *url, struct redis_url *out, char *err, size_t errlen)
{
    (void)url;
    memset(out, 0, sizeof(*out));
    snprintf(err, errlen, "not implemented");
    return false;
}

struct redis *redis_new(struct event_base *base, const struct redis_options *o, char *err,
                        size_t errlen)
{
    return xcalloc(1, sizeof(struct redis));
}
void redis_free(struct redis *r)
{
    free(r);
}
enum redis_mode redis_mode(const struct redis *r)
{
    return REDIS_MODE_DEGRADED;
}
const char *redis_mode_reason(const struct redis *r)
{
    return "not implemented";
}
double redis_mode_since(const struct redis *r)
{
    return 0;
}
const char *redis_mode_name(enum redis_mode m)
{
    return m == REDIS_MODE_FULL ? "full" : "degraded";
}
bool redis_available(const struct redis *r)
{
    return false;
}
void redis_override(struct redis *r, enum redis_mode m, const char *reason)
{
}
bool redis_overridden(const struct redis *r)
{
    return false;
}
struct redis_call *redis_command(struct redis *r, redis_reply_cb cb, void *arg, const char *fmt,
                                 ...)
{
    return NULL;
}
struct redis_call *redis_command_argv(struct redis *r, redis_reply_cb cb, void *arg, int argc,
                                      const char **argv, const size_t *argvlen)
{
    return NULL;
}
void redis_call_cancel(struct redis_call *c)
{
}
struct redis_sub *redis_subscribe(struct redis *r, const char *channel, bool pattern,
                                  redis_message_cb cb, void *arg)
{
    return xcalloc(1, 8);
}
void redis_unsubscribe(struct redis_sub *s)
{
    free(s);
}
bool redis_publish(struct redis *r, const char *channel, const char *payload, size_t len)
{
    return false;
}
void redis_get_stats(const struct redis *r, struct redis_stats *out)
{
    memset(out, 0, sizeof(*out));
}
void redis_metrics_init(void)
{
}
