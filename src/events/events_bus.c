/* events_bus.c — hearing other processes' events: Redis and NOTIFY.
 *
 * Both carry the same message, {"data":{…},"seq":N,"type":T}, for a job
 * (Redis: in the channel name steno:job:{id}; NOTIFY: "{id} {json}" on
 * steno_events). A NOTIFY payload over PostgreSQL's limit has the number
 * only: the job's events are then read back from the table. Either
 * channel's "(re)subscribed" signal means messages may have been lost:
 * every job with subscribers here is read from the database again. */
#include "events_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The LISTEN callback cannot be withdrawn before the pool closes: it goes
 * through this process-wide pointer, cleared when the hub stops. */
static struct events *listening;

void ev_bus_deliver(struct events *ev, enum ev_via via, const char *job_id, const char *json,
                    size_t len)
{
    struct ev_job *job = ev_job_find(ev, job_id);
    if (!job)
        return; /* nobody here follows this job */
    json_t *m = json_loadb(json, len, 0, NULL);
    json_t *seq = json_object_get(m, "seq");
    const char *type = json_string_value(json_object_get(m, "type"));
    json_t *data = json_object_get(m, "data");
    if (!json_is_integer(seq)) {
        log_debug("events: malformed message for job=%s", job_id);
    } else if (!type || !json_is_object(data)) {
        ev_job_refetch(job); /* too big for NOTIFY: read it */
    } else {
        char *text = json_dumps(data, EV_JSON);
        ev_ingest(job, via, (int64_t)json_integer_value(seq), type, text, strlen(text));
        free(text);
    }
    json_decref(m);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    struct events *ev = listening;
    if (!ev)
        return;
    if (!payload) {
        ev_refetch_all(ev); /* (re)subscribed: what was sent meanwhile is lost */
        return;
    }
    const char *sp = strchr(payload, ' ');
    if (!sp || sp - payload >= 40)
        return;
    char id[40];
    memcpy(id, payload, (size_t)(sp - payload));
    id[sp - payload] = '\0';
    ev_bus_deliver(ev, EV_VIA_NOTIFY, id, sp + 1, strlen(sp + 1));
}

static void on_redis(const char *channel, const char *payload, size_t len, void *arg)
{
    struct events *ev = arg;
    if (!channel) {
        ev_refetch_all(ev);
        return;
    }
    size_t plen = strlen(EV_REDIS_PREFIX);
    if (strncmp(channel, EV_REDIS_PREFIX, plen) != 0 || strlen(channel + plen) >= 40)
        return;
    ev_bus_deliver(ev, EV_VIA_REDIS, channel + plen, payload, len);
}

void ev_bus_start(struct events *ev)
{
    listening = ev;
    if (!db_pool_listen(ev->db, EV_NOTIFY_CHANNEL, on_notify, NULL))
        log_warn("events: cannot LISTEN %s", EV_NOTIFY_CHANNEL);
    if (ev->redis)
        ev->rsub = redis_subscribe(ev->redis, EV_REDIS_PATTERN, true, on_redis, ev);
}

void ev_bus_stop(struct events *ev)
{
    if (listening == ev)
        listening = NULL;
    if (ev->rsub)
        redis_unsubscribe(ev->rsub);
    ev->rsub = NULL;
}
