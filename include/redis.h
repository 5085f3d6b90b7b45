/* redis.h — non-blocking Redis for one event loop, with degradation.
 *
 * hiredis's async API on its libevent adapter, two connections per process:
 * one for commands (pipelined: every command is written at once and the
 * replies come back in order) and one for pub/sub. Nothing blocks the loop;
 * as with libpq, hiredis resolves a host *name* synchronously, so give an IP
 * address or a unix socket in production.
 *
 * Redis is an accelerator, never a dependency (../shared/DESIGN.md,
 * "Degradation"): the client is either in FULL mode (commands go to Redis)
 * or DEGRADED (they are refused at once and callers take their fallback:
 * L2 skipped, PostgreSQL for single-flight, LISTEN/NOTIFY for events). Any
 * failure — a refused connection, a lost one, a command past its deadline —
 * switches to DEGRADED at once. While degraded the client probes Redis
 * every `probe_interval` (connect + PING); it returns to FULL only after it
 * has been healthy for `recover_after` without a failure, so a flapping
 * server does not flap the mode. At start-up the first successful PING
 * switches to FULL immediately. Every transition is logged.
 *
 * Every command has a deadline. Replies arrive in order, so the oldest
 * pending command is the one to watch: when it is late the connection is
 * declared broken and closed, and every pending callback gets an error.
 *
 * Callbacks fire exactly once per accepted command (unless cancelled),
 * always from the loop, never from inside redis_command(). A NULL
 * `struct redis *` is valid everywhere and means "no Redis configured":
 * redis_available() is false and commands are refused.
 *
 * Single-threaded: every call from the loop's thread. */
#ifndef STENO_REDIS_H
#define STENO_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "alloc.h"

struct redis;
struct redis_call;

struct redis_options {
    const char *url;        /* redis://[[user]:password@]host[:port][/db] | unix:/path[?db=N] */
    const char *name;       /* for logs (default "redis") */
    double command_timeout; /* seconds from send to reply (0.5) */
    double connect_timeout; /* seconds per connection attempt, AUTH/SELECT/PING included (2) */
    double probe_interval;  /* seconds between probes while degraded, and PINGs in full mode (30) */
    double recover_after;   /* seconds healthy before going back to FULL (120) */
    unsigned max_pending;   /* commands in flight on the command connection (10000) */
};

void redis_options_default(struct redis_options *o);

/* Parse a URL into its parts (for tests and checks). false with a message
 * for anything that is not a redis:// or unix: URL. */
struct redis_url {
    char host[256]; /* empty for unix sockets */
    int port;       /* 6379 when absent */
    char path[256]; /* unix socket path, or empty */
    char user[128]; /* ACL user (AUTH user password), or empty */
    char password[256];
    int db;
};
bool redis_url_parse(const char *url, struct redis_url *out, char *err, size_t errlen) MUST_CHECK;

/* Create the client and start connecting. NULL with err only for a URL that
 * cannot work; an unreachable server is just DEGRADED mode. */
struct redis *redis_new(struct event_base *base, const struct redis_options *o, char *err,
                        size_t errlen);
/* Close both connections. Pending command callbacks fire with the error
 * "closed" (callers must still be alive); subscriptions are dropped. */
void redis_free(struct redis *r);

enum redis_mode { REDIS_MODE_FULL = 0, REDIS_MODE_DEGRADED = 1 };
/* The mode, the last reason it changed ("connection refused", "probe ok
 * for 120s", "override: …"), and since when (CLOCK_REALTIME seconds). */
enum redis_mode redis_mode(const struct redis *r);
const char *redis_mode_reason(const struct redis *r);
double redis_mode_since(const struct redis *r);
const char *redis_mode_name(enum redis_mode m); /* "full" | "degraded" */
/* Redis configured, connected and in FULL mode: commands will be sent. */
bool redis_available(const struct redis *r);
/* Force a mode (POST /admin/degradation/override): DEGRADED bypasses Redis
 * even while it is healthy; FULL clears the override and, when Redis is
 * healthy, switches back at once. Logged with the reason. */
void redis_override(struct redis *r, enum redis_mode m, const char *reason);
bool redis_overridden(const struct redis *r);

/* A reply (NULL on failure) or an error: "unavailable", "timeout",
 * "disconnected", "closed", or the server's error text (then reply is the
 * REDIS_REPLY_ERROR reply). The reply is valid only during the callback. */
typedef void (*redis_reply_cb)(const redisReply *reply, const char *error, void *arg);

/* Send a command in hiredis's format ("SET %s %b EX %d", key, buf, len, ttl).
 * Returns NULL — and calls nothing — when Redis is not available or the
 * pipeline is full: take the fallback path. cb may be NULL (fire and
 * forget; failures still count toward degradation). */
struct redis_call *redis_command(struct redis *r, redis_reply_cb cb, void *arg, const char *fmt,
                                 ...);
/* The same with an argument vector (binary safe; argvlen may be NULL for
 * NUL-terminated strings). */
struct redis_call *redis_command_argv(struct redis *r, redis_reply_cb cb, void *arg, int argc,
                                      const char **argv, const size_t *argvlen);
/* The caller no longer wants the answer (its object is going away): the
 * callback will not run. The command itself still completes. */
void redis_call_cancel(struct redis_call *c);

/* Pub/sub. A message on a subscribed channel (or pattern) calls cb with the
 * channel and payload. cb with channel == NULL means "(re)subscribed after
 * a gap": messages may have been lost meanwhile, so a caller that cares
 * re-reads its state. Subscriptions persist across reconnects and modes;
 * while degraded nothing arrives. */
typedef void (*redis_message_cb)(const char *channel, const char *payload, size_t len, void *arg);
struct redis_sub;
/* pattern: PSUBSCRIBE (glob) instead of SUBSCRIBE. */
struct redis_sub *redis_subscribe(struct redis *r, const char *channel, bool pattern,
                                  redis_message_cb cb, void *arg);
void redis_unsubscribe(struct redis_sub *s);
/* PUBLISH on the command connection; false (nothing sent) when unavailable. */
bool redis_publish(struct redis *r, const char *channel, const char *payload, size_t len);

/* Counters for /readyz and tests. */
struct redis_stats {
    uint64_t commands, failures, timeouts, reconnects, messages;
    unsigned pending;
    bool connected, subscribed;
};
void redis_get_stats(const struct redis *r, struct redis_stats *out);

/* Declare the metrics (before metrics_start / fork). */
void redis_metrics_init(void);

#endif
