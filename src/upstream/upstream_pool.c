/* upstream_pool.c — calls, admission, connection choice, retries.
 *
 * A call waits in admission until the cap, the token bucket and a
 * connection with room allow it, then becomes one stream. When an attempt
 * ends, the pool decides from a deferred event (never inside nghttp2's
 * callbacks): success, 413, a final 4xx, or a retry after full-jitter
 * backoff / Retry-After. Streams the peer refused (GOAWAY) go again at once
 * and do not count as attempts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <event2/dns.h>
#include <openssl/err.h>

#include "log.h"
#include "upstream_internal.h"

struct upstream_metrics upstream_m;

/* retry causes, in metrics order */
enum cause { C_429, C_5XX, C_RESET, C_TIMEOUT, C_CONNECTION, C_GOAWAY };
static const char *const cause_names[] = {"429", "5xx", "reset", "timeout", "connection", "goaway"};
static const int tracked_codes[] = {200, 400, 401, 403, 404, 413, 422, 429, 500, 502, 503, 504};
static metric_id code_ids[ARRAY_LEN(tracked_codes)];

void upstream_metrics_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    struct upstream_metrics *m = &upstream_m;
    m->conns = metrics_gauge("steno_upstream_connections", "Upstream connections open", "");
    m->conns_opened = metrics_counter("steno_upstream_connections_opened_total",
                                      "Upstream connections opened", "");
    m->conns_closed = metrics_counter("steno_upstream_connections_closed_total",
                                      "Upstream connections closed", "");
    m->streams = metrics_gauge("steno_upstream_streams", "Upstream HTTP/2 streams active", "");
    m->bytes_sent =
        metrics_counter("steno_upstream_bytes_sent_total", "Request body bytes sent upstream", "");
    m->queue_depth = metrics_gauge("steno_upstream_queue_depth", "Calls waiting for admission", "");
    m->cap = metrics_gauge("steno_upstream_inflight_cap", "Current AIMD in-flight cap", "");
    static const double bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120};
    m->latency =
        metrics_histogram("steno_upstream_request_duration_seconds",
                          "Upstream request time, per attempt", "", bounds, ARRAY_LEN(bounds));
    char labels[64];
    for (size_t i = 0; i < ARRAY_LEN(cause_names); i++) {
        snprintf(labels, sizeof(labels), "cause=\"%s\"", cause_names[i]);
        m->retries[i] = metrics_counter("steno_upstream_retries_total",
                                        "Upstream attempts retried, by cause", labels);
    }
    for (size_t i = 0; i < ARRAY_LEN(tracked_codes); i++) {
        snprintf(labels, sizeof(labels), "code=\"%d\"", tracked_codes[i]);
        code_ids[i] = metrics_counter("steno_upstream_requests_total",
                                      "Upstream attempts, by HTTP status", labels);
    }
    m->requests_other = metrics_counter("steno_upstream_requests_total",
                                        "Upstream attempts, by HTTP status", "code=\"other\"");
}

double up_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double random01(struct upstream *up)
{
    up->rnd ^= up->rnd << 13;
    up->rnd ^= up->rnd >> 7;
    up->rnd ^= up->rnd << 17;
    return (double)(up->rnd >> 11) / 9007199254740992.0;
}

void upstream_config_defaults(struct upstream_config *c)
{
    memset(c, 0, sizeof(*c));
    c->max_connections = 4;
    c->max_inflight = 16;
    c->max_retries = 3;
    c->backoff_base = 0.5;
    c->backoff_cap = 30;
    c->timeout_min = 60;
    c->timeout_factor = 2.5;
    c->idle_timeout = 30;
    c->ping_interval = 15;
    c->connect_timeout = 10;
}

void up_pool_schedule_dispatch(struct upstream *up)
{
    event_active(up->dispatch_ev, EV_TIMEOUT, 0);
}

/* The least-loaded connection with room, or NULL. */
static struct up_conn *pick_conn(struct upstream *up)
{
    struct up_conn *best = NULL, *c;
    TAILQ_FOREACH(c, &up->conns, link)
    if (up_conn_has_room(c) && (!best || c->active < best->active))
        best = c;
    return best;
}

static bool connecting(struct upstream *up)
{
    struct up_conn *c;
    TAILQ_FOREACH(c, &up->conns, link)
    if (c->state == CONN_CONNECTING)
        return true;
    return false;
}

static void dispatch(struct upstream *up)
{
    for (;;) {
        if (admission_queued(up->adm) == 0)
            break;
        struct up_conn *c = pick_conn(up);
        if (!c) {
            double now = up_now();
            if (up->nconns < up->cfg.max_connections && !connecting(up)) {
                if (now >= up->next_connect_at) {
                    struct up_conn *n = up_conn_open(up);
                    TAILQ_INSERT_TAIL(&up->conns, n, link);
                    up->nconns++;
                } else {
                    double w = up->next_connect_at - now;
                    struct timeval tv = {(time_t)w, (suseconds_t)((w - (double)(time_t)w) * 1e6)};
                    event_add(up->token_ev, &tv);
                }
            }
            break;
        }
        double wait = 0;
        struct upstream_call *call = admission_next(up->adm, up_now(), &wait);
        if (!call) {
            if (wait > 0) {
                struct timeval tv = {(time_t)wait,
                                     (suseconds_t)((wait - (double)(time_t)wait) * 1e6)};
                event_add(up->token_ev, &tv);
            }
            break;
        }
        call->state = CALL_INFLIGHT;
        call->attempts++;
        call->end = END_HTTP;
        call->http_status = 0;
        call->error[0] = '\0';
        if (!up_conn_start_stream(c, call)) {
            call->attempts--;
            call->state = CALL_QUEUED;
            admission_done(up->adm, ADMISSION_OTHER);
            admission_refund(up->adm);
            admission_push(up->adm, call->req.job, call->req.priority, call, true);
            break;
        }
    }
    metrics_gauge_set(upstream_m.queue_depth, (int64_t)admission_queued(up->adm));
    metrics_gauge_set(upstream_m.cap, (int64_t)admission_cap(up->adm));
}

static void finish_attempt(struct upstream_call *call);

static void dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct upstream *up = arg;
    /* finished attempts first: they free slots and requeue retries */
    struct upstream_call *call;
    while ((call = TAILQ_FIRST(&up->done))) {
        TAILQ_REMOVE(&up->done, call, done_link);
        call->done_queued = false;
        finish_attempt(call);
    }
    dispatch(up);
}

void up_pool_attempt_done(struct upstream_call *call)
{
    struct upstream *up = call->up;
    if (!call->done_queued) {
        call->done_queued = true;
        TAILQ_INSERT_TAIL(&up->done, call, done_link);
    }
    up_pool_schedule_dispatch(up);
}

static void free_call(struct upstream_call *call)
{
    struct upstream *up = call->up;
    TAILQ_REMOVE(&up->calls, call, link);
    if (call->done_queued)
        TAILQ_REMOVE(&up->done, call, done_link);
    if (call->timer)
        event_free(call->timer);
    transcript_free(call->transcript);
    free((char *)call->req.job);
    free((char *)call->req.content_type);
    free((char *)call->req.filename);
    free((char *)call->req.model);
    free((char *)call->req.language);
    free((char *)call->req.prompt);
    free(call->head);
    free(call->tail);
    free(call);
}

static void complete(struct upstream_call *call, enum upstream_status st)
{
    /* the message outlives the call: the callback runs after it is freed */
    char error[sizeof(call->error)];
    snprintf(error, sizeof(error), "%s", call->error);
    struct upstream_result res = {
        .status = st,
        .http_status = call->http_status,
        .transcript = st == UPSTREAM_OK ? call->transcript : NULL,
        .error = error[0] ? error : NULL,
        .attempts = call->attempts,
        .seconds = up_now() - call->submitted,
    };
    if (st == UPSTREAM_OK)
        call->transcript = NULL; /* ownership goes to the callback */
    call->state = CALL_DONE;
    upstream_cb cb = call->cb;
    void *arg = call->arg;
    free_call(call);
    cb(&res, arg);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_call *call = arg;
    call->state = CALL_QUEUED;
    admission_push(call->up->adm, call->req.job, call->req.priority, call, true);
    up_pool_schedule_dispatch(call->up);
}

static void count_status(int status)
{
    for (size_t i = 0; i < ARRAY_LEN(tracked_codes); i++)
        if (tracked_codes[i] == status) {
            metrics_add(code_ids[i], 1);
            return;
        }
    metrics_add(upstream_m.requests_other, 1);
}

/* Wait, then queue the call again (front of its job). */
static void schedule_retry(struct upstream_call *call, enum cause cause, double delay)
{
    struct upstream *up = call->up;
    metrics_add(upstream_m.retries[cause], 1);
    log_debug("upstream: retry job=%s attempt=%u cause=%s in %.2fs: %s", call->req.job,
              call->attempts, cause_names[cause], delay, call->error);
    call->state = CALL_RETRY_WAIT;
    if (!call->timer)
        call->timer = evtimer_new(up->base, retry_cb, call);
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (double)(time_t)delay) * 1e6)};
    event_add(call->timer, &tv);
}

/* Decide what an ended attempt means for its call. */
static void finish_attempt(struct upstream_call *call)
{
    struct upstream *up = call->up;
    if (call->state != CALL_INFLIGHT)
        return;
    int st = call->http_status;
    bool http = call->end == END_HTTP;
    admission_done(up->adm, http && st == 200   ? ADMISSION_SUCCESS
                            : http && st == 429 ? ADMISSION_RATE_LIMITED
                                                : ADMISSION_OTHER);
    if (http)
        count_status(st);
    if (call->end == END_REFUSED) {
        call->attempts--; /* never processed by the peer */
        schedule_retry(call, C_GOAWAY, 0);
        return;
    }
    if (http && st == 200) {
        complete(call, call->transcript ? UPSTREAM_OK : UPSTREAM_REJECTED);
        return;
    }
    if (http && st == 413) {
        complete(call, UPSTREAM_TOO_LARGE);
        return;
    }
    bool retryable =
        !http || st == 429 || st == 500 || st == 502 || st == 503 || st == 504 || st == 408;
    if (!retryable) {
        complete(call, UPSTREAM_REJECTED);
        return;
    }
    if (call->attempts > up->cfg.max_retries) {
        complete(call, UPSTREAM_FAILED);
        return;
    }
    enum cause cause = http                       ? (st == 429 ? C_429 : C_5XX)
                       : call->end == END_TIMEOUT ? C_TIMEOUT
                       : call->end == END_RESET   ? C_RESET
                                                  : C_CONNECTION;
    double delay = upstream_backoff(call->attempts - 1, up->cfg.backoff_base, up->cfg.backoff_cap,
                                    random01(up));
    if (call->retry_after >= 0 && call->retry_after > delay)
        delay = call->retry_after;
    schedule_retry(call, cause, delay);
}

void up_pool_conn_ready(struct upstream *up)
{
    up->connect_failures = 0;
    up->next_connect_at = 0;
    up_pool_schedule_dispatch(up);
}

/* No connection could be made: every waiting call loses an attempt to it,
 * so a wrong CA or a dead host ends in a clear error, not an endless wait. */
void up_pool_conn_failed(struct upstream *up, const char *why)
{
    log_warn("upstream: cannot connect to %s: %s", up->url.authority, why);
    up->connect_failures++;
    double delay = upstream_backoff(up->connect_failures, up->cfg.backoff_base, up->cfg.backoff_cap,
                                    0.5 + random01(up) / 2);
    up->next_connect_at = up_now() + delay;
    struct upstream_call *call, *next;
    for (call = TAILQ_FIRST(&up->calls); call; call = next) {
        next = TAILQ_NEXT(call, link);
        if (call->state != CALL_QUEUED)
            continue;
        call->attempts++;
        call->end = END_CONNECT;
        snprintf(call->error, sizeof(call->error), "cannot connect to the upstream: %s", why);
        metrics_add(upstream_m.retries[C_CONNECTION], 1);
        if (call->attempts > up->cfg.max_retries) {
            admission_remove(up->adm, call);
            complete(call, UPSTREAM_FAILED);
        }
    }
    up_pool_schedule_dispatch(up);
}

void up_pool_conn_gone(struct upstream *up, struct up_conn *c)
{
    TAILQ_REMOVE(&up->conns, c, link);
    up->nconns--;
    up_pool_schedule_dispatch(up);
}

static void token_cb(evutil_socket_t fd, short what, void *arg)
{
    dispatch(arg);
}

static SSL_CTX *client_ctx(const struct upstream_config *cfg, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = cfg->ca_file && *cfg->ca_file ? SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL)
                                           : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        char buf[200];
        ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
        snprintf(err, errlen, "cannot load CA %s: %s", cfg->ca_file ? cfg->ca_file : "(system)",
                 buf);
        SSL_CTX_free(ctx);
        return NULL;
    }
    static const unsigned char alpn[] = "\x02h2";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    return ctx;
}

struct upstream *upstream_new(struct event_base *base, const struct upstream_config *cfg, char *err,
                              size_t errlen)
{
    struct upstream_url url;
    if (!upstream_url_parse(cfg->url ? cfg->url : "", &url, err, errlen))
        return NULL;
    struct upstream *up = xcalloc(1, sizeof(*up));
    up->base = base;
    up->cfg = *cfg;
    up->url = url;
    if (url.tls && !(up->ssl = client_ctx(cfg, err, errlen))) {
        free(up);
        return NULL;
    }
    up->cfg.url = NULL;
    up->cfg.api_key = NULL;
    up->cfg.ca_file = NULL;
    if (cfg->api_key && *cfg->api_key)
        up->auth_header = xasprintf("Bearer %s", cfg->api_key);
    up->path = xasprintf("%s/audio/transcriptions", url.path);
    up->dns =
        evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    TAILQ_INIT(&up->conns);
    TAILQ_INIT(&up->calls);
    TAILQ_INIT(&up->done);
    up->adm = admission_new(cfg->max_inflight, cfg->rpm, up_now());
    up->dispatch_ev = event_new(base, -1, 0, dispatch_cb, up);
    up->token_ev = evtimer_new(base, token_cb, up);
    if (getrandom(&up->rnd, sizeof(up->rnd), 0) != sizeof(up->rnd) || !up->rnd)
        up->rnd = 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL);
    return up;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

struct upstream_call *upstream_submit(struct upstream *up, const struct upstream_request *req,
                                      upstream_cb cb, void *arg)
{
    struct upstream_call *call = xcalloc(1, sizeof(*call));
    call->up = up;
    call->req = *req;
    call->req.job = xstrdup(req->job ? req->job : "-");
    call->req.content_type = dup_or_null(req->content_type);
    call->req.filename = dup_or_null(req->filename);
    call->req.model = xstrdup(req->model ? req->model : "openai/whisper-large-v3");
    call->req.language = dup_or_null(req->language);
    call->req.prompt = dup_or_null(req->prompt);
    call->cb = cb;
    call->arg = arg;
    call->submitted = up_now();
    struct upstream_form form = {
        .model = call->req.model,
        .language = call->req.language,
        .prompt = call->req.prompt,
        .temperature = req->temperature,
        .response_format = "verbose_json",
        .word_timestamps = req->word_timestamps,
        .filename = call->req.filename,
        .content_type = call->req.content_type,
    };
    upstream_form_build(&form, call->boundary, sizeof(call->boundary), &call->head, &call->head_len,
                        &call->tail, &call->tail_len);
    call->state = CALL_QUEUED;
    TAILQ_INSERT_TAIL(&up->calls, call, link);
    admission_push(up->adm, call->req.job, call->req.priority, call, false);
    up_pool_schedule_dispatch(up);
    return call;
}

void upstream_cancel(struct upstream_call *call)
{
    struct upstream *up = call->up;
    switch (call->state) {
    case CALL_QUEUED:
        admission_remove(up->adm, call);
        break;
    case CALL_INFLIGHT:
        if (call->stream)
            up_conn_cancel_stream(call->stream);
        admission_done(up->adm, ADMISSION_OTHER); /* finish_attempt never runs for it */
        break;
    case CALL_RETRY_WAIT:
    case CALL_DONE:
        break;
    }
    free_call(call);
    up_pool_schedule_dispatch(up);
}

void upstream_get_stats(const struct upstream *up, struct upstream_stats *out)
{
    memset(out, 0, sizeof(*out));
    const struct up_conn *c;
    TAILQ_FOREACH(c, &up->conns, link)
    {
        if (c->state != CONN_CLOSED)
            out->connections++;
        out->streams += c->active;
    }
    out->inflight = admission_inflight(up->adm);
    out->cap = admission_cap(up->adm);
    out->queued = admission_queued(up->adm);
    out->connections_opened = up->opened;
    out->bytes_sent = up->bytes_sent;
    const struct upstream_call *call;
    TAILQ_FOREACH(call, &up->calls, link)
    out->calls++;
}

void upstream_set_rpm(struct upstream *up, double rpm)
{
    admission_set_rpm(up->adm, rpm, up_now());
    event_active(up->token_ev, EV_TIMEOUT, 0); /* a wait computed at the old rate is stale */
}

void upstream_free(struct upstream *up)
{
    if (!up)
        return;
    struct upstream_call *call;
    while ((call = TAILQ_FIRST(&up->calls))) {
        if (call->stream)
            call->stream->call = NULL;
        free_call(call);
    }
    struct up_conn *c;
    while ((c = TAILQ_FIRST(&up->conns))) {
        event_del(c->release_ev);
        c->state = CONN_CLOSED;
        up_conn_free_now(c);
    }
    admission_free(up->adm);
    event_free(up->dispatch_ev);
    event_free(up->token_ev);
    if (up->dns)
        evdns_base_free(up->dns, 0);
    if (up->ssl)
        SSL_CTX_free(up->ssl);
    free(up->auth_header);
    free(up->path);
    free(up);
}
