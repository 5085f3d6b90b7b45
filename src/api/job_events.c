/* job_events.c — GET /v1/jobs/{id}/events: a job's progress as Server-Sent
 * Events.
 *
 * The stream replays the events after Last-Event-ID (header, or
 * ?last_event_id= for EventSource polyfills that cannot set headers), then
 * follows the job live, and ends after the done or error event. A job that
 * is already over answers its remaining events at once; with none left
 * (the client saw the end already) it answers 204, which also tells an
 * EventSource to stop reconnecting.
 *
 * Ordering, gaps and cross-process delivery are the hub's (events.h); this
 * file frames, writes and bounds. Each stream costs one small struct and
 * the hub's subscriber: no timer (the hub's heartbeat tick writes the
 * comment lines for every stream) and no buffer of its own. A client whose
 * unsent bytes exceed --sse-buffer stopped reading: it is dropped (reset),
 * never buffered without limit. "Unsent" is judged after the socket was
 * offered the bytes: a burst written in one loop pass (a gap filled from
 * the database, a fast job) is not the client's fault. */

#include "api_jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "api_call.h"
#include "events.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"

/* Sent before any event: how long EventSource waits before reconnecting. */
static const char PREAMBLE[] = ": steno job events\nretry: 3000\n\n";
static const char HEARTBEAT[] = ": keep-alive\n\n";

static metric_id m_conns, m_sent, m_slow, m_heartbeats;

struct sse_stream {
    struct http_request *req;
    struct events_sub *sub;
    char id[37];
    int64_t after;    /* the client's Last-Event-ID */
    int64_t sent_seq; /* the last id written */
    size_t limit;     /* --sse-buffer */
    bool started;
    bool suspect;       /* over the limit when last written: checked next pass */
    unsigned stalled;   /* heartbeat ticks in a row with output waiting and none taken */
    uint64_t last_sent; /* body bytes the client had taken at the last tick */
    TAILQ_ENTRY(sse_stream) suspect_link;
};

/* Streams over their limit after a write, re-checked by one shared timer
 * on the next loop pass, after the socket writes of this one. */
static TAILQ_HEAD(, sse_stream) suspects = TAILQ_HEAD_INITIALIZER(suspects);
static struct event *suspect_ev;

void api_job_events_init(void)
{
    m_conns = metrics_gauge("steno_sse_connections", "Server-Sent Events streams open", "");
    m_sent = metrics_counter("steno_sse_events_sent_total", "events written to SSE streams", "");
    m_slow = metrics_counter("steno_sse_slow_consumers_total",
                             "SSE clients dropped for not reading (over --sse-buffer)", "");
    m_heartbeats = metrics_counter("steno_sse_heartbeats_total",
                                   "keep-alive comments written to SSE streams", "");
}

/* Forget the stream; the request is the caller's to answer or reset. */
static struct http_request *detach(struct sse_stream *s)
{
    struct http_request *req = s->req;
    if (s->suspect)
        TAILQ_REMOVE(&suspects, s, suspect_link);
    events_unsubscribe(s->sub);
    req->on_abort = NULL;
    req->on_drain = NULL;
    req->user = NULL;
    if (s->started)
        metrics_gauge_add(m_conns, -1);
    free(s);
    return req;
}

static void end(struct sse_stream *s)
{
    http_response_finish(detach(s));
}

/* A client that does not read: log why, count it, reset the stream. */
static void drop_slow(struct sse_stream *s, const char *why)
{
    log_ctx_warn(s->req->log_ctx, "sse: job=%s client %s, dropped", s->id, why);
    metrics_add(m_slow, 1);
    http_request_reset(detach(s));
}

static void drop_unsent(struct sse_stream *s, size_t queued)
{
    char why[96];
    snprintf(why, sizeof(why), "not reading (%zu bytes unsent > %zu)", queued, s->limit);
    drop_slow(s, why);
}

static void suspects_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sse_stream *s;
    while ((s = TAILQ_FIRST(&suspects))) {
        TAILQ_REMOVE(&suspects, s, suspect_link);
        s->suspect = false;
        size_t queued = http_response_buffered(s->req);
        if (queued > s->limit)
            drop_unsent(s, queued);
    }
}

/* Write; false when the client was dropped for not reading (s is gone).
 * Over the bound after a write, the stream is checked again on the next
 * loop pass, once the socket took what it would: still over, it is
 * dropped. Four times the bound is dropped at once (memory stays bounded
 * whatever one pass brings). Replay does not count against it: it pauses
 * at half the bound and goes on when the output drains. */
static bool put(struct sse_stream *s, const char *data, size_t len)
{
    size_t queued = http_response_buffered(s->req);
    if (queued > 4 * s->limit) {
        drop_unsent(s, queued);
        return false;
    }
    http_response_write(s->req, data, len);
    if (!s->suspect && queued + len > s->limit) {
        if (!suspect_ev)
            suspect_ev = evtimer_new(s->req->base, suspects_cb, NULL);
        s->suspect = true;
        TAILQ_INSERT_TAIL(&suspects, s, suspect_link);
        struct timeval now = {0, 0};
        if (!evtimer_pending(suspect_ev, NULL))
            evtimer_add(suspect_ev, &now);
    }
    return true;
}

static void start(struct sse_stream *s)
{
    struct http_request *req = s->req;
    http_response_header(req, "cache-control", "no-cache");
    http_response_header(req, "x-accel-buffering", "no"); /* nginx: do not buffer */
    http_response_start(req, 200, "text/event-stream; charset=utf-8");
    s->started = true;
    metrics_gauge_add(m_conns, 1);
    (void)put(s, PREAMBLE, sizeof(PREAMBLE) - 1);
}

/* The job is over by the database but its final event is not here (a job
 * cancelled while queued, written before events existed, or whose final
 * event was lost): say so in the same shape, then end. */
static void synthesize_end(struct sse_stream *s, const char *status, int64_t last)
{
    bool done = strcmp(status, "done") == 0;
    char link[64];
    snprintf(link, sizeof(link), "/v1/transcripts/%s", s->id);
    json_t *data = done ? json_pack("{s:s,s:s}", "status", "done", "transcript", link)
                        : json_pack("{s:s,s:{s:s,s:s,s:s}}", "status", status, "error", "type",
                                    "job_error", "code", status, "message",
                                    strcmp(status, "cancelled") == 0 ? "the job was cancelled"
                                                                     : "the job failed");
    char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(data);
    char idline[40] = "";
    if (last > 0)
        snprintf(idline, sizeof(idline), "id: %lld\n", (long long)last);
    size_t cap = strlen(text) + 96;
    char *frame = xmalloc(cap);
    int n =
        snprintf(frame, cap, "%sevent: %s\ndata: %s\n\n", idline, done ? "done" : "error", text);
    free(text);
    bool ok = put(s, frame, (size_t)n);
    free(frame);
    if (ok)
        end(s);
}

static void on_event(void *arg, const struct events_event *e)
{
    struct sse_stream *s = arg;
    if (!s->started)
        start(s);
    if (!put(s, e->frame, e->len))
        return;
    s->sent_seq = e->seq;
    metrics_add(m_sent, 1);
    if (e->terminal && e->last)
        end(s);
}

static void on_state(void *arg, enum events_sub_state st, const char *status, int64_t last)
{
    struct sse_stream *s = arg;
    switch (st) {
    case EVENTS_SUB_FOUND:
        if (events_status_terminal(status) && s->after > 0 && s->after >= last) {
            /* over, and the client has seen it all: no content, no reconnect */
            http_respond(detach(s), 204, NULL, NULL, 0);
            return;
        }
        start(s);
        return;
    case EVENTS_SUB_LIVE:
        if (events_status_terminal(status))
            synthesize_end(s, status, last > s->sent_seq ? last : s->sent_seq);
        return;
    case EVENTS_SUB_ENDED:
        synthesize_end(s, status, last > s->sent_seq ? last : s->sent_seq);
        return;
    case EVENTS_SUB_NOT_FOUND: {
        char id[37];
        memcpy(id, s->id, sizeof(id));
        api_respond_job_not_found(detach(s), id);
        return;
    }
    case EVENTS_SUB_UNAVAILABLE:
        api_respond_unavailable(detach(s), "cannot read the job");
        return;
    case EVENTS_SUB_CLOSING:
        if (s->started)
            end(s); /* EventSource reconnects, to a process that stays */
        else
            api_respond_unavailable(detach(s), "shutting down");
        return;
    }
}

/* A client that takes no byte for this many heartbeats while output waits
 * is dropped even under the byte bound: one that grants no window (h2) or
 * never reads while replay is paused for it would otherwise hold its
 * connection and subscription for ever (nginx's send_timeout). */
#define STALL_TICKS 4

static void on_tick(void *arg)
{
    struct sse_stream *s = arg;
    if (!s->started)
        return;
    size_t queued = http_response_buffered(s->req);
    uint64_t sent = s->req->resp_bytes - queued;
    s->stalled = queued > 0 && sent == s->last_sent ? s->stalled + 1 : 0;
    s->last_sent = sent;
    if (s->stalled >= STALL_TICKS) {
        char why[64];
        snprintf(why, sizeof(why), "took nothing for %u heartbeats", s->stalled);
        drop_slow(s, why);
        return;
    }
    if (put(s, HEARTBEAT, sizeof(HEARTBEAT) - 1))
        metrics_add(m_heartbeats, 1);
}

static bool on_writable(void *arg)
{
    struct sse_stream *s = arg;
    return !s->started || http_response_buffered(s->req) < s->limit / 2;
}

static void on_drain(struct http_request *req)
{
    struct sse_stream *s = req->user;
    if (s)
        events_sub_resume(s->sub);
}

static const struct events_sub_ops ops = {
    .event = on_event, .state = on_state, .tick = on_tick, .writable = on_writable};

static void on_abort(struct http_request *req)
{
    struct sse_stream *s = req->user;
    if (s)
        detach(s);
}

/* Last-Event-ID: decimal, at most 15 digits (ids are per-job counters);
 * empty means "from the start", as EventSource sends after a reset id. */
static bool parse_last_id(const char *v, int64_t *out)
{
    *out = 0;
    if (!v)
        return true;
    size_t n = strlen(v);
    if (n > 15)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        *out = *out * 10 + (v[i] - '0');
    }
    return true;
}

/* Copy `id` lower-cased: the uuid text PostgreSQL prints and the hub keys on. */
static void lower_id(char *dst, const char *id)
{
    size_t i = 0;
    for (; id[i] && i < 36; i++)
        dst[i] = (char)(id[i] >= 'A' && id[i] <= 'F' ? id[i] - 'A' + 'a' : id[i]);
    dst[i] = '\0';
}

void api_job_events(struct http_request *req)
{
    const char *id = api_path_job_id(req);
    if (!id)
        return;
    char qbuf[32];
    const char *last = http_request_header(req, "last-event-id");
    if (!last)
        last = http_request_query(req, "last_event_id", qbuf, sizeof(qbuf));
    int64_t after;
    if (!parse_last_id(last, &after)) {
        http_respond_error(req, 400, "invalid_request_error", "invalid_last_event_id",
                           "Last-Event-ID must be an event number (decimal digits)");
        return;
    }
    if (!api_db_pool(req))
        return;
    struct jobs *j = jobs_current();
    struct events *ev = j ? jobs_events(j) : NULL;
    if (!ev) {
        api_respond_unavailable(req, "no event hub");
        return;
    }
    struct sse_stream *s = xcalloc(1, sizeof(*s));
    s->req = req;
    lower_id(s->id, id);
    s->after = after;
    s->limit = (size_t)jobs_config(j)->sse_buffer;
    req->user = s;
    req->on_abort = on_abort;
    req->on_drain = on_drain;
    s->sub = events_subscribe(ev, s->id, after, &ops, s);
}
