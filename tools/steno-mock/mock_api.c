/* mock_api.c — the small routes (models, stats, fault control, health) and
 * the helpers every handler shares (OpenAI errors, the bearer check). */
#include "mock_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "metrics.h"
#include "router.h"

#define CONTROL_BODY_MAX (64 * 1024)

static struct mock_ctx *ctx;

static json_t *faults_json(void);

void mock_error(struct http_request *req, int status, const char *type, const char *param,
                const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_ctx_debug(req->log_ctx, "mock: %d %s: %s", status, code ? code : "-", msg);
    json_t *err = json_pack("{s:{s:s,s:s,s:o,s:o}}", "error", "message", msg, "type", type, "param",
                            param ? json_string(param) : json_null(), "code",
                            code ? json_string(code) : json_null());
    http_respond_json(req, status, err);
}

const char *mock_bearer(const struct http_request *req)
{
    const char *h = http_request_header(req, "authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

bool mock_check_key(struct mock_ctx *m, struct http_request *req)
{
    const char *key = mock_bearer(req);
    if (key && mock_config_key_ok(m->cfg, key))
        return true;
    mock_error(req, 401, "invalid_request_error", NULL, "invalid_api_key",
               key ? "Incorrect API key provided." : "You didn't provide an API key.");
    return false;
}

uint64_t mock_connections_accepted(void)
{
    static const char name[] = "steno_http_connections_total{";
    size_t len;
    char *text = metrics_render(&len);
    uint64_t total = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, name, sizeof(name) - 1) == 0) {
            char *sp = memrchr(line, ' ', nl ? (size_t)(nl - line) : strlen(line));
            if (sp)
                total += strtoull(sp + 1, NULL, 10);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return total;
}

/* 200 with o (stolen), reals with 10 significant digits (3.6, not
 * 3.5999999999999996). */
static void respond_json(struct http_request *req, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (!text) {
        mock_error(req, 500, "server_error", NULL, NULL, "cannot encode JSON");
        return;
    }
    size_t n = strlen(text);
    text = xrealloc(text, n + 2);
    text[n++] = '\n';
    http_respond(req, 200, "application/json", text, n);
    free(text);
}

static json_t *model_json(const char *id)
{
    return json_pack("{s:s,s:s,s:i,s:s}", "id", id, "object", "model", "created", 1700000000,
                     "owned_by", "steno-mock");
}

static void models(struct http_request *req)
{
    ctx->stats.other_requests++;
    if (!mock_check_key(ctx, req))
        return;
    json_t *data = json_array();
    for (size_t i = 0; i < ctx->cfg->models.n; i++)
        json_array_append_new(data, model_json(ctx->cfg->models.items[i]));
    http_respond_json(req, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

static void model_one(struct http_request *req)
{
    ctx->stats.other_requests++;
    if (!mock_check_key(ctx, req))
        return;
    const char *owner = http_request_param(req, "owner");
    char id[512];
    snprintf(id, sizeof(id), "%s%s%s", owner ? owner : "", owner ? "/" : "",
             http_request_param(req, "id"));
    if (!mock_config_model_ok(ctx->cfg, id)) {
        mock_error(req, 404, "invalid_request_error", "model", "model_not_found",
                   "The model `%.200s` does not exist or you do not have access to it.", id);
        return;
    }
    http_respond_json(req, 200, model_json(id));
}

static void stats(struct http_request *req)
{
    json_t *o = mock_stats_json(&ctx->stats, mock_connections_accepted());
    struct mock_decoder_stats ds;
    mock_decoder_stats(ctx->decoder, &ds);
    json_object_set_new(o, "decoding", json_integer((json_int_t)mock_decoder_active(ctx->decoder)));
    json_object_set_new(o, "decode_slices", json_integer((json_int_t)ds.slices));
    json_object_set_new(o, "decode_max_slice_ms", json_real(ds.max_slice_ms));
    json_object_set_new(o, "faults", faults_json());
    respond_json(req, o);
}

static void stats_reset(struct http_request *req)
{
    mock_stats_reset(&ctx->stats, mock_connections_accepted());
    mock_decoder_reset_stats(ctx->decoder);
    stats(req);
}

static void health(struct http_request *req)
{
    http_respond(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void metrics(struct http_request *req)
{
    size_t len;
    char *text = metrics_render(&len);
    http_respond(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

struct control_body {
    char *data;
    size_t len;
};

static enum http_body_result control_data(struct http_request *req, const char *data, size_t len)
{
    struct control_body *b = req->user;
    b->data = xrealloc(b->data, b->len + len + 1);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return HTTP_BODY_OK;
}

static void control_abort(struct http_request *req)
{
    struct control_body *b = req->user;
    free(b->data);
    free(b);
    req->user = NULL;
}

/* A non-negative number field of o into *out (untouched when absent). */
static bool seconds_field(const json_t *o, const char *name, double *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, name);
    if (!v)
        return true;
    if (!json_is_number(v) || json_number_value(v) < 0) {
        snprintf(err, errlen, "%s must be a non-negative number of seconds", name);
        return false;
    }
    *out = json_number_value(v);
    return true;
}

/* Validate and apply {"fail_rate","fail_mix","script","seed","rpm",
 * "retry_after","stall_seconds"}: all or nothing. */
static bool apply_faults(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *o = json_loadb(text ? text : "", len, 0, &jerr);
    if (!o) {
        snprintf(err, errlen, "invalid JSON: %s", jerr.text);
        return false;
    }
    double retry_after = ctx->retry_after, stall = ctx->stall_seconds;
    json_t *rpm = json_object_get(o, "rpm");
    bool ok = seconds_field(o, "retry_after", &retry_after, err, errlen) &&
              seconds_field(o, "stall_seconds", &stall, err, errlen);
    if (ok && rpm && (!json_is_integer(rpm) || json_integer_value(rpm) < 0)) {
        snprintf(err, errlen, "rpm must be a non-negative integer");
        ok = false;
    }
    ok = ok && mock_faults_update_json(&ctx->faults, o, err, errlen);
    if (ok) {
        if (rpm)
            mock_ratelimit_set_rpm(ctx->rl, (int64_t)json_integer_value(rpm));
        ctx->retry_after = retry_after;
        ctx->stall_seconds = stall;
    }
    json_decref(o);
    return ok;
}

/* The fault settings as JSON (new reference). */
static json_t *faults_json(void)
{
    json_t *f = mock_faults_to_json(&ctx->faults);
    json_object_set_new(f, "rpm", json_integer((json_int_t)mock_ratelimit_rpm(ctx->rl)));
    json_object_set_new(f, "retry_after", json_real(ctx->retry_after));
    json_object_set_new(f, "stall_seconds", json_real(ctx->stall_seconds));
    return f;
}

static void control_end(struct http_request *req)
{
    struct control_body *b = req->user;
    char err[256];
    bool ok = apply_faults(b->data, b->len, err, sizeof(err));
    control_abort(req);
    req->on_abort = NULL;
    if (!ok) {
        mock_error(req, 400, "invalid_request_error", NULL, "invalid_faults", "%s", err);
        return;
    }
    log_ctx_info(req->log_ctx, "mock: faults now rate=%g script='%s' seed=%llu rpm=%lld",
                 ctx->faults.rate, ctx->faults.script_text, (unsigned long long)ctx->faults.seed,
                 (long long)mock_ratelimit_rpm(ctx->rl));
    respond_json(req, faults_json());
}

/* POST /mock/faults: change the faults at runtime (tests reuse one mock). */
static void faults(struct http_request *req)
{
    req->user = xcalloc(1, sizeof(struct control_body));
    req->on_body = control_data;
    req->on_body_end = control_end;
    req->on_abort = control_abort;
}

void mock_api_register(struct mock_ctx *m)
{
    ctx = m;
    mock_transcribe_init(m);
    router_add(&(struct route){.method = "POST",
                               .pattern = "/v1/audio/transcriptions",
                               .handler = mock_transcribe,
                               .max_body = UINT64_MAX}); /* the handler enforces --max-body */
    router_add(&(struct route){.method = "GET", .pattern = "/v1/models", .handler = models});
    router_add(
        &(struct route){.method = "GET", .pattern = "/v1/models/{id}", .handler = model_one});
    router_add(&(struct route){
        .method = "GET", .pattern = "/v1/models/{owner}/{id}", .handler = model_one});
    router_add(&(struct route){.method = "GET", .pattern = "/stats", .handler = stats});
    router_add(&(struct route){
        .method = "POST", .pattern = "/stats/reset", .handler = stats_reset, .max_body = 1024});
    router_add(&(struct route){.method = "POST",
                               .pattern = "/mock/faults",
                               .handler = faults,
                               .max_body = CONTROL_BODY_MAX});
    router_add(&(struct route){.method = "GET", .pattern = "/healthz", .handler = health});
    router_add(&(struct route){.method = "GET", .pattern = "/metrics", .handler = metrics});
}
