/* mock_transcribe.c — POST /v1/audio/transcriptions.
 *
 * One job per request, through these stages:
 *   headers  number the request and draw its fault; key (401), requests per
 *            minute (429), GOAWAY (--goaway-after or a goaway fault),
 *            Content-Length over --max-body (413), Content-Type (400);
 *   body     streamed into the multipart parser (413 as soon as the body
 *            outgrows the limit, 400 when malformed);
 *   end      fields checked (400, 404 unknown model), audio opened (400),
 *            then the fault, if any: 500/503/429 answered now, rst resets,
 *            stall holds the request; otherwise the audio is decoded in
 *            slices;
 *   answer   the latency model (on the decoded duration) counts from the end
 *            of the upload: the answer leaves at upload end + delay, or when
 *            the decode finishes if that is later.
 * The job is freed exactly once: when it answers, resets, or the client
 * goes away (on_abort). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mock_api.h"
#include "mock_latency.h"
#include "mock_transcript.h"
#include "mock_upload.h"

static struct mock_ctx *ctx;

struct job {
    struct http_request *req;
    uint64_t number;
    enum mock_fault fault;
    struct mock_rl_result rl;
    struct mock_upload *up;
    struct mock_decode *dec;
    struct event *timer; /* the delay, or the stall limit */
    struct tonecode_word *words;
    size_t nwords;
    double seconds; /* audio decoded */
    int64_t delay_ms;
    uint64_t body_bytes;
    uint64_t upload_done_ns;
    enum transcript_format fmt;
    struct mock_transcript_opts opts;
    struct early *early; /* an answer waiting for the end of the body (h2) */
};

/* An error decided at the headers, held until the body is over. */
struct early {
    int status;
    const char *type, *param, *code; /* literals */
    char msg[512];
};

void mock_transcribe_init(struct mock_ctx *m)
{
    ctx = m;
}

static void job_free(struct job *j)
{
    mock_decode_cancel(j->dec);
    if (j->timer)
        event_free(j->timer);
    mock_upload_free(j->up);
    free(j->words);
    free((char *)j->opts.language);
    free(j->early);
    free(j);
}

/* Headers every answer carries. */
static void add_headers(struct job *j)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)j->number);
    http_response_header(j->req, "x-mock-request-number", buf);
    if (j->rl.limit <= 0)
        return;
    snprintf(buf, sizeof(buf), "%lld", (long long)j->rl.limit);
    http_response_header(j->req, "x-ratelimit-limit-requests", buf);
    snprintf(buf, sizeof(buf), "%lld", (long long)j->rl.remaining);
    http_response_header(j->req, "x-ratelimit-remaining-requests", buf);
    mock_latency_format(j->rl.reset, buf, sizeof(buf));
    http_response_header(j->req, "x-ratelimit-reset-requests", buf);
}

/* Detach and free the job before answering with `status`; returns the
 * request to answer on. */
static struct http_request *release(struct job *j, int status)
{
    struct http_request *req = j->req;
    add_headers(j);
    mock_stats_status(&ctx->stats, status);
    mock_stats_end(&ctx->stats);
    req->user = NULL;
    req->on_abort = NULL;
    req->on_body = NULL;
    req->on_body_end = NULL;
    job_free(j);
    return req;
}

/* Answer an OpenAI-shaped error. The message is formatted before the job
 * (and the upload its arguments may point into) is freed. */
static void job_error(struct job *j, int status, const char *type, const char *param,
                      const char *code, const char *fmt, ...) PRINTF_LIKE(6, 7);
static void job_error(struct job *j, int status, const char *type, const char *param,
                      const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mock_error(release(j, status), status, type, param, code, "%s", msg);
}

static void send_early(struct job *j)
{
    struct early e = *j->early;
    job_error(j, e.status, e.type, e.param, e.code, "%s", e.msg);
}

static enum http_body_result discard_body(struct http_request *req, const char *data, size_t len)
{
    struct job *j = req->user;
    j->body_bytes += len;
    ctx->stats.bytes_received += len;
    if (j->body_bytes > ctx->cfg->max_body)
        send_early(j); /* no more patience: answer now, the stack resets the rest */
    return HTTP_BODY_OK;
}

static void early_end(struct http_request *req)
{
    send_early(req->user);
}

/* An error known from the headers alone (401, 429, 400 Content-Type).
 * HTTP/1.1 answers at once (the server reads and drops or lingers). On
 * HTTP/2 an answer before the end of the body is followed by RST_STREAM,
 * which some clients (curl 7.88) report as a failed transfer instead of
 * showing the response; so the answer waits for the body (discarded), up
 * to --max-body. */
static void early_error(struct job *j, int status, const char *type, const char *param,
                        const char *code, const char *fmt, ...) PRINTF_LIKE(6, 7);
static void early_error(struct job *j, int status, const char *type, const char *param,
                        const char *code, const char *fmt, ...)
{
    struct early *e = xcalloc(1, sizeof(*e));
    *e = (struct early){status, type, param, code, ""};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    j->early = e;
    if (j->req->proto != HTTP_PROTO_2 || j->req->body_done) {
        send_early(j);
        return;
    }
    j->req->on_body = discard_body;
    j->req->on_body_end = early_end;
}

/* Reset the stream (HTTP/1.1: drop the connection). */
static void reset(struct job *j)
{
    struct http_request *req = j->req;
    mock_stats_end(&ctx->stats);
    req->user = NULL;
    job_free(j);
    http_request_reset(req);
}

static void on_abort(struct http_request *req)
{
    struct job *j = req->user;
    req->user = NULL;
    ctx->stats.client_aborts++;
    mock_stats_end(&ctx->stats);
    job_free(j);
}

/* Retry-After of a fault: --retry-after scaled, whole seconds and ms. */
static void retry_after_headers(struct http_request *req, double seconds)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)mock_latency_retry_after(seconds));
    http_response_header(req, "retry-after", buf);
    snprintf(buf, sizeof(buf), "%lld", (long long)mock_latency_ms(seconds));
    http_response_header(req, "retry-after-ms", buf);
}

static void answer(struct job *j)
{
    struct transcript *t = mock_transcript_build(j->words, j->nwords, &j->opts);
    size_t len;
    char *body = transcript_render(t, j->fmt, &len);
    char buf[32];
    ctx->stats.words += j->nwords;
    snprintf(buf, sizeof(buf), "%lld", (long long)j->delay_ms);
    http_response_header(j->req, "x-mock-delay-ms", buf);
    snprintf(buf, sizeof(buf), "%.3f", j->seconds);
    http_response_header(j->req, "x-mock-audio-seconds", buf);
    snprintf(buf, sizeof(buf), "%llu",
             (unsigned long long)((http_now_ns() - j->upload_done_ns) / 1000000));
    http_response_header(j->req, "openai-processing-ms", buf);
    enum transcript_format fmt = j->fmt;
    http_respond(release(j, 200), 200, transcript_format_content_type(fmt), body, len);
    free(body);
    transcript_free(t);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct job *j = arg;
    if (j->fault == MOCK_FAULT_STALL) {
        ctx->stats.resets++;
        reset(j);
        return;
    }
    answer(j);
}

static void start_timer(struct job *j, double seconds)
{
    int64_t us = (int64_t)llround(seconds * 1e6);
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    j->timer = evtimer_new(ctx->base, timer_cb, j);
    /* libevent counts from the time cached at the start of this loop pass,
     * which a busy pass makes stale: the delay must start now. */
    event_base_update_cache_time(ctx->base);
    evtimer_add(j->timer, &tv);
}

/* The decode is done: the answer is due the model's delay after the end of
 * the upload, or now if decoding took longer than that. */
static void decode_done(void *arg, const struct mock_decode_result *r)
{
    struct job *j = arg;
    j->dec = NULL;
    if (!r->ok) {
        job_error(j, 400, "invalid_request_error", "file", "invalid_file_format",
                  "could not decode the audio file: %s", r->error ? r->error : "read error");
        return;
    }
    j->seconds = j->opts.duration = r->seconds;
    j->nwords = r->nwords;
    j->words = xmalloc((r->nwords ? r->nwords : 1) * sizeof(*j->words));
    if (r->nwords)
        memcpy(j->words, r->words, r->nwords * sizeof(*j->words));
    const struct mock_config *c = ctx->cfg;
    j->delay_ms = mock_latency_ms(
        mock_latency_delay(c->base_latency, c->per_second, c->time_scale, r->seconds));
    ctx->stats.audio_seconds += r->seconds;
    ctx->stats.delay_ms += (uint64_t)j->delay_ms;
    double left = (double)j->delay_ms / 1e3 - (double)(http_now_ns() - j->upload_done_ns) / 1e9;
    if (left > 0)
        start_timer(j, left);
    else
        answer(j);
}

/* The fault drawn for this request, at the end of its upload: answer,
 * reset or stall (the decode is cancelled). Nothing for none and goaway. */
static void apply_fault(struct job *j)
{
    double wait = ctx->retry_after * ctx->cfg->time_scale;
    if (j->fault == MOCK_FAULT_NONE || j->fault == MOCK_FAULT_GOAWAY)
        return;
    ctx->stats.by_fault[j->fault]++;
    mock_decode_cancel(j->dec); /* a failed request is never transcribed */
    j->dec = NULL;
    struct http_request *req = j->req;
    switch (j->fault) {
    case MOCK_FAULT_500:
        job_error(j, 500, "server_error", NULL, NULL,
                  "The server had an error while processing your request. Sorry about that!");
        break;
    case MOCK_FAULT_503:
        retry_after_headers(req, wait);
        job_error(j, 503, "server_error", NULL, "service_unavailable",
                  "The server is overloaded or not ready yet.");
        break;
    case MOCK_FAULT_429:
        retry_after_headers(req, wait);
        job_error(j, 429, "requests", NULL, "rate_limit_exceeded",
                  "Rate limit reached for requests. Please try again in %.3gs.", wait);
        break;
    case MOCK_FAULT_RST:
        ctx->stats.resets++;
        reset(j);
        break;
    default: /* stall: hold it; reset after --stall-seconds if set */
        log_ctx_info(req->log_ctx, "mock: request %llu stalls", (unsigned long long)j->number);
        if (ctx->stall_seconds > 0)
            start_timer(j, ctx->stall_seconds);
        break;
    }
}

/* Check the form fields; answers 400/404 and returns false when wrong. */
static bool check_fields(struct job *j, const struct mock_upload_fields *f)
{
    char *end;
    if (!f->model || !*f->model) {
        job_error(j, 400, "invalid_request_error", "model", "missing_required_parameter",
                  "you must provide a model parameter");
        return false;
    }
    if (!mock_config_model_ok(ctx->cfg, f->model)) {
        job_error(j, 404, "invalid_request_error", NULL, "model_not_found",
                  "The model `%.200s` does not exist or you do not have access to it.", f->model);
        return false;
    }
    if (f->response_format && !transcript_format_parse(f->response_format, &j->fmt)) {
        job_error(j, 400, "invalid_request_error", "response_format", "invalid_value",
                  "'%.100s' is not one of ['json', 'text', 'srt', 'verbose_json', 'vtt'] - "
                  "'response_format'",
                  f->response_format);
        return false;
    }
    if (f->gran_invalid) {
        job_error(j, 400, "invalid_request_error", "timestamp_granularities[]", "invalid_value",
                  "'%.100s' is not one of ['word', 'segment']", f->gran_invalid);
        return false;
    }
    j->opts.temperature = f->temperature ? strtod(f->temperature, &end) : 0;
    if (f->temperature && (end == f->temperature || *end || !isfinite(j->opts.temperature) ||
                           j->opts.temperature < 0 || j->opts.temperature > 1)) {
        job_error(j, 400, "invalid_request_error", "temperature", "invalid_value",
                  "temperature must be a number from 0 to 1");
        return false;
    }
    if (!f->have_file) {
        job_error(j, 400, "invalid_request_error", "file", "missing_required_parameter",
                  "you must provide a file parameter");
        return false;
    }
    return true;
}

/* Fields are good: count them, open the audio and queue its decode, apply
 * the fault if there is one. */
static void start_work(struct job *j)
{
    const struct mock_upload_fields *f = mock_upload_fields(j->up);
    mock_stats_count(&ctx->stats.by_model, f->model);
    mock_stats_count(&ctx->stats.by_format, transcript_format_name(j->fmt));
    j->opts.words = f->gran_word;
    j->opts.language = f->language && *f->language ? xstrdup(f->language) : NULL;
    size_t len;
    unsigned char *data = mock_upload_take_file(j->up, &len);
    char err[256];
    j->dec = mock_decode_start(ctx->decoder, data, len, decode_done, j, err, sizeof(err));
    if (!j->dec) {
        job_error(j, 400, "invalid_request_error", "file", "invalid_file_format", "%s", err);
        return;
    }
    apply_fault(j); /* if none, decode_done carries on */
}

static void on_body_end(struct http_request *req)
{
    struct job *j = req->user;
    char err[256];
    j->upload_done_ns = http_now_ns();
    if (!mock_upload_finish(j->up, err, sizeof(err))) {
        job_error(j, 400, "invalid_request_error", NULL, "invalid_multipart", "%s", err);
        return;
    }
    ctx->stats.file_bytes += mock_upload_file_len(j->up);
    if (check_fields(j, mock_upload_fields(j->up)))
        start_work(j);
}

static void too_large(struct job *j, uint64_t bytes, const char *how)
{
    unsigned long long limit = (unsigned long long)ctx->cfg->max_body;
    job_error(j, 413, "invalid_request_error", NULL, "request_too_large",
              "Maximum content size limit (%llu) exceeded (%llu bytes %s)", limit,
              (unsigned long long)bytes, how);
}

static enum http_body_result on_body(struct http_request *req, const char *data, size_t len)
{
    struct job *j = req->user;
    char err[256];
    j->body_bytes += len;
    ctx->stats.bytes_received += len;
    if (j->body_bytes > ctx->cfg->max_body)
        too_large(j, j->body_bytes, "read");
    else if (!mock_upload_feed(j->up, data, len, err, sizeof(err)))
        job_error(j, 400, "invalid_request_error", NULL, "invalid_multipart", "%s", err);
    return HTTP_BODY_OK;
}

/* Key and rate limit; false when the request was answered. */
static bool admit(struct job *j)
{
    const char *key = mock_bearer(j->req);
    if (!key || !mock_config_key_ok(ctx->cfg, key)) {
        early_error(j, 401, "invalid_request_error", NULL, "invalid_api_key",
                    key ? "Incorrect API key provided. You can find your API key in your account "
                          "settings."
                        : "You didn't provide an API key. You need to provide your API key in an "
                          "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                          "YOUR_KEY).");
        return false;
    }
    mock_stats_count(&ctx->stats.by_key, key);
    mock_ratelimit_take(ctx->rl, key, (double)http_now_ns() / 1e9, &j->rl);
    if (j->rl.allowed)
        return true;
    ctx->stats.rate_limited++;
    retry_after_headers(j->req, j->rl.retry_after);
    char wait[32];
    mock_latency_format(j->rl.retry_after, wait, sizeof(wait));
    early_error(
        j, 429, "requests", NULL, "rate_limit_exceeded",
        "Rate limit reached for requests on this key: Limit %lld / min. Please try again in "
        "%s.",
        (long long)j->rl.limit, wait);
    return false;
}

void mock_transcribe(struct http_request *req)
{
    struct job *j = xcalloc(1, sizeof(*j));
    j->req = req;
    j->fmt = TRANSCRIPT_JSON;
    j->fault = mock_faults_next(&ctx->faults, &j->number);
    mock_stats_begin(&ctx->stats);
    ctx->stats.by_proto[req->proto == HTTP_PROTO_2]++;
    if (req->conn_seq == 1)
        ctx->stats.transcription_connections++;
    req->user = j;
    req->on_abort = on_abort;
    if (!admit(j))
        return;
    if (ctx->cfg->goaway_after && req->conn_seq > (uint64_t)ctx->cfg->goaway_after) {
        /* An h2 stream the client opened before our GOAWAY reached it: the
         * server stack still dispatches it (see the report); refuse it. */
        ctx->stats.refused++;
        reset(j);
        return;
    }
    if ((ctx->cfg->goaway_after && req->conn_seq == (uint64_t)ctx->cfg->goaway_after) ||
        j->fault == MOCK_FAULT_GOAWAY) {
        if (j->fault == MOCK_FAULT_GOAWAY)
            ctx->stats.by_fault[MOCK_FAULT_GOAWAY]++;
        ctx->stats.goaways++;
        http_request_goaway(req);
    }
    if (req->content_length > 0 && (uint64_t)req->content_length > ctx->cfg->max_body) {
        too_large(j, (uint64_t)req->content_length, "announced");
        return;
    }
    char err[256];
    if (!(j->up = mock_upload_new(http_request_header(req, "content-type"), err, sizeof(err)))) {
        early_error(j, 400, "invalid_request_error", NULL, "invalid_content_type", "%s", err);
        return;
    }
    if (req->content_length > 0)
        mock_upload_size_hint(j->up, (size_t)req->content_length);
    req->on_body = on_body;
    req->on_body_end = on_body_end;
}
