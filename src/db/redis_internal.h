/* redis_internal.h — the client's state, shared by src/db/redis*.c. */
#ifndef STENO_REDIS_INTERNAL_H
#define STENO_REDIS_INTERNAL_H

#include <sys/queue.h>

#include <hiredis/async.h>

#include "redis.h"

struct redis_call {
    struct redis *r;
    redis_reply_cb cb; /* NULL: fire and forget, or cancelled */
    void *arg;
    double deadline; /* monotonic seconds */
    bool timed_out;  /* the deadline watch gave up on it */
    bool handshake;  /* AUTH/SELECT/PING of a new connection */
    TAILQ_ENTRY(redis_call) link;
};

struct redis_sub {
    struct redis *r;
    char *channel;
    bool pattern;
    bool dead; /* unsubscribed while messages were being dispatched */
    redis_message_cb cb;
    void *arg;
    LIST_ENTRY(redis_sub) link;
};

struct redis {
    struct event_base *base;
    struct redis_options o;
    struct redis_url u;
    char name[64];
    char ctx[80]; /* log context "redis=NAME" */

    /* command connection: replies come back in order, so `pending` is the
     * FIFO of calls awaiting one and its head is the one whose deadline
     * the watch timer guards */
    redisAsyncContext *cmd;
    bool cmd_ready; /* handshake answered */
    TAILQ_HEAD(, redis_call) pending;
    unsigned npending;
    struct event *deadline_ev;

    /* subscriber connection */
    redisAsyncContext *sub;
    bool sub_ready;
    double sub_started; /* monotonic, when the attempt began */
    LIST_HEAD(, redis_sub) subs;
    unsigned dispatching; /* depth of message dispatch (deferred frees) */

    /* the mode machine */
    enum redis_mode mode;
    char reason[160];
    double since;             /* realtime of the last change */
    bool ever_full;           /* the first success switches at once, later ones wait */
    bool forced_degraded;     /* admin override */
    struct event *probe_ev;   /* every probe_interval: reconnect or PING */
    struct event *recover_ev; /* fires recover_after healthy seconds after a success */
    bool closing;

    struct redis_stats stats;
};

/* A connection failed or was declared broken: switch to DEGRADED (logged
 * once), drop both connections unless they are already going away, and
 * let the probe timer reconnect. */
void redis_failure(struct redis *r, const char *why);

/* A new hiredis context for the URL, attached to the loop; NULL (after
 * redis_failure) when even the socket could not be made. */
redisAsyncContext *redis_open(struct redis *r);
/* AUTH and SELECT for a new connection, each with callback fn and the
 * privdata that privdata(r) returns. */
void redis_send_setup(struct redis *r, redisAsyncContext *ac, redisCallbackFn *fn,
                      void *(*privdata)(struct redis *));

/* pub/sub (redis_pubsub.c) */
void redis_sub_connect(struct redis *r);
void redis_sub_close(struct redis *r);
void redis_subs_free(struct redis *r);

/* metrics (redis.c) */
void redis_metric_mode(struct redis *r);
void redis_metric_error(const char *kind);
void redis_metric_message(void);

#endif
