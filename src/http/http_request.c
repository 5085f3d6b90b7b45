/* http_request.c — protocol-neutral request object, dispatch and responses.
 *
 * Both protocol layers build a struct http_request, call
 * http_request_dispatch() once the headers are complete, and implement
 * http_proto_ops for the bytes on the wire. Everything a handler can do goes
 * through here, so routing, limits, the JSON error shape, the access log and
 * the per-route metrics are the same for HTTP/1.1 and HTTP/2. */
#include "http.h"
#include "hex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "http_metrics.h"
#include "log.h"
#include "router.h"

uint64_t http_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *http_proto_name(enum http_proto proto)
{
    return proto == HTTP_PROTO_2 ? "h2" : "h1";
}

struct http_request *http_request_new(enum http_proto proto)
{
    struct http_request *req = xcalloc(1, sizeof(*req));
    req->proto = proto;
    req->content_length = -1;
    req->resp_length = -1;
    req->query = xstrdup("");
    return req;
}

static void free_kv(struct http_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].name);
        free(kv[i].value);
    }
    free(kv);
}

void http_request_free(struct http_request *req)
{
    if (!req)
        return;
    free(req->method);
    free(req->path);
    free(req->query);
    free_kv(req->headers, req->nheaders);
    free_kv(req->resp_headers, req->nresp_headers);
    for (size_t i = 0; i < req->nparams; i++)
        free(req->param_values[i]);
    free(req);
}

bool http_request_set_target(struct http_request *req, const char *target)
{
    if (target[0] != '/')
        return false;
    const char *q = strchr(target, '?');
    free(req->path);
    free(req->query);
    if (q) {
        req->path = xstrndup(target, (size_t)(q - target));
        req->query = xstrdup(q + 1);
    } else {
        req->path = xstrdup(target);
        req->query = xstrdup("");
    }
    return true;
}

void http_request_add_header(struct http_request *req, const char *name, size_t nlen,
                             const char *value, size_t vlen)
{
    req->headers = xrealloc(req->headers, (req->nheaders + 1) * sizeof(*req->headers));
    struct http_kv *kv = &req->headers[req->nheaders++];
    kv->name = xstrndup(name, nlen);
    kv->value = xstrndup(value, vlen);
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const char *http_request_param(const struct http_request *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->nparams; i++)
        if (strncmp(req->param_names[i], name, n) == 0 && req->param_names[i][n] == '}')
            return req->param_values[i];
    return NULL;
}

/* Percent-decode [s, s+n) into buf; '+' is a space in query strings. */
static void url_decode(const char *s, size_t n, char *buf, size_t buflen)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < buflen; i++) {
        if (s[i] == '%' && i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            buf[o++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            buf[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    buf[o] = '\0';
}

const char *http_request_query(const struct http_request *req, const char *name, char *buf,
                               size_t buflen)
{
    size_t nlen = strlen(name);
    const char *s = req->query;
    while (s && *s) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        size_t klen = eq ? (size_t)(eq - s) : len;
        if (klen == nlen && strncmp(s, name, nlen) == 0) {
            if (eq)
                url_decode(eq + 1, len - klen - 1, buf, buflen);
            else if (buflen)
                buf[0] = '\0';
            return buf;
        }
        s = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static bool id_is_safe(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

/* 64-bit ids from a per-process xorshift seeded by getrandom: unique enough
 * to follow a request through the logs, cheap enough for every request.
 * Workers reseed after fork (http_request_reseed_ids) so they never share
 * a sequence. */
static uint64_t id_state;

void http_request_reseed_ids(void)
{
    if (getrandom(&id_state, sizeof(id_state), 0) != sizeof(id_state) || !id_state)
        id_state = http_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
}

static uint64_t next_id(void)
{
    if (!id_state)
        http_request_reseed_ids();
    id_state ^= id_state << 13;
    id_state ^= id_state >> 7;
    id_state ^= id_state << 17;
    return id_state;
}

void http_request_assign_id(struct http_request *req, const char *conn_ctx)
{
    const char *given = http_request_header(req, "x-request-id");
    if (given && id_is_safe(given))
        snprintf(req->id, sizeof(req->id), "%s", given);
    else
        snprintf(req->id, sizeof(req->id), "%016llx", (unsigned long long)next_id());
    snprintf(req->log_ctx, sizeof(req->log_ctx), "req=%s %s", req->id, conn_ctx ? conn_ctx : "");
}

static bool method_known(const char *m)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < ARRAY_LEN(known); i++)
        if (strcmp(m, known[i]) == 0)
            return true;
    return false;
}

void http_request_dispatch(struct http_request *req)
{
    req->start_ns = http_now_ns();
    if (!method_known(req->method)) {
        http_respond_error(req, 501, "invalid_request_error", "method_not_implemented",
                           "method %s is not implemented", req->method);
        return;
    }
    char allow[128];
    switch (router_match(req, allow, sizeof(allow))) {
    case ROUTER_NOT_FOUND:
        http_respond_error(req, 404, "invalid_request_error", "not_found", "no route for %s",
                           req->path);
        return;
    case ROUTER_METHOD_NOT_ALLOWED:
        http_response_header(req, "allow", allow);
        http_respond_error(req, 405, "invalid_request_error", "method_not_allowed",
                           "%s is not allowed on %s", req->method, req->path);
        return;
    case ROUTER_FOUND:
        break;
    }
    if (req->content_length > 0 && (uint64_t)req->content_length > req->route->max_body) {
        http_respond_error(req, 413, "invalid_request_error", "body_too_large",
                           "request body of %lld bytes exceeds the limit of %llu bytes",
                           (long long)req->content_length,
                           (unsigned long long)req->route->max_body);
        return;
    }
    req->route->handler(req);
}

void http_request_detach_handler(struct http_request *req)
{
    http_req_fn on_abort = req->on_abort;
    req->on_abort = NULL;
    req->on_body = NULL;
    req->on_body_end = NULL;
    req->on_drain = NULL;
    if (on_abort && !req->resp_finished)
        on_abort(req);
}

enum http_body_result http_request_deliver_body(struct http_request *req, const char *data,
                                                size_t len)
{
    req->body_bytes += len;
    uint64_t limit = req->route ? req->route->max_body : 0;
    if (req->body_bytes > limit) {
        http_request_detach_handler(req);
        if (!req->resp_started)
            http_respond_error(req, 413, "invalid_request_error", "body_too_large",
                               "request body exceeds the limit of %llu bytes",
                               (unsigned long long)limit);
        return HTTP_BODY_ABORT;
    }
    if (!req->on_body || req->resp_finished)
        return HTTP_BODY_OK; /* nobody wants it: discard */
    enum http_body_result r = req->on_body(req, data, len);
    if (r == HTTP_BODY_PAUSE)
        req->body_paused = true;
    return r;
}

void http_request_deliver_end(struct http_request *req)
{
    req->body_done = true;
    if (req->on_body_end && !req->resp_finished)
        req->on_body_end(req);
}

void http_request_deliver_abort(struct http_request *req)
{
    if (req->aborted)
        return;
    req->aborted = true;
    if (!req->resp_finished) {
        if (req->on_abort)
            req->on_abort(req);
        if (!req->status)
            req->status = 499; /* nginx's "client closed request" */
        http_request_log_done(req);
    }
}

void http_request_reset(struct http_request *req)
{
    if (req->aborted)
        return;
    req->on_abort = NULL;
    req->on_body = NULL;
    req->on_body_end = NULL;
    req->on_drain = NULL;
    if (!req->status)
        req->status = 499;
    if (!req->resp_finished)
        http_request_log_done(req);
    req->aborted = true;
    req->ops->reset(req);
}

void http_request_refuse(struct http_request *req)
{
    req->refused = true;
    http_request_reset(req);
}

void http_request_goaway(struct http_request *req)
{
    if (!req->aborted)
        req->ops->goaway(req);
}

void http_request_resume_body(struct http_request *req)
{
    if (!req->body_paused)
        return;
    req->body_paused = false;
    if (req->ops && req->ops->resume_body && !req->aborted)
        req->ops->resume_body(req);
}

void http_response_header(struct http_request *req, const char *name, const char *value)
{
    if (req->resp_started)
        return;
    req->resp_headers =
        xrealloc(req->resp_headers, (req->nresp_headers + 1) * sizeof(*req->resp_headers));
    struct http_kv *kv = &req->resp_headers[req->nresp_headers++];
    kv->name = xstrdup(name);
    kv->value = xstrdup(value);
}

static void start(struct http_request *req, int status, const char *content_type, int64_t length)
{
    req->status = status;
    req->resp_length = length;
    if (content_type)
        http_response_header(req, "content-type", content_type);
    http_response_header(req, "x-request-id", req->id);
    req->resp_started = true;
    req->ops->start(req);
}

void http_respond(struct http_request *req, int status, const char *content_type, const void *body,
                  size_t len)
{
    if (req->resp_started || req->aborted)
        return;
    start(req, status, content_type, (int64_t)len);
    if (len)
        req->ops->write(req, body, len);
    req->resp_bytes += len;
    req->resp_finished = true;
    req->ops->finish(req);
}

void http_respond_json(struct http_request *req, int status, json_t *body)
{
    /* 15 significant digits: 12.3 stays 12.3 (not 12.300000000000001) */
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(body);
    if (!text) {
        static const char fallback[] = "{\"error\":{\"type\":\"server_error\",\"code\":"
                                       "\"internal\",\"message\":\"cannot encode response\"}}\n";
        http_respond(req, 500, "application/json", fallback, sizeof(fallback) - 1);
        return;
    }
    size_t n = strlen(text);
    text = xrealloc(text, n + 2);
    text[n++] = '\n';
    text[n] = '\0';
    http_respond(req, status, "application/json", text, n);
    free(text);
}

void http_respond_error(struct http_request *req, int status, const char *type, const char *code,
                        const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *err =
        json_pack("{s:{s:s,s:s,s:s}}", "error", "type", type, "code", code, "message", msg);
    if (status >= 500)
        log_ctx_warn(req->log_ctx, "http: %d %s: %s", status, code, msg);
    else
        log_ctx_debug(req->log_ctx, "http: %d %s: %s", status, code, msg);
    http_respond_json(req, status, err);
}

void http_response_start(struct http_request *req, int status, const char *content_type)
{
    if (req->resp_started || req->aborted)
        return;
    start(req, status, content_type, -1);
}

bool http_response_write(struct http_request *req, const void *data, size_t len)
{
    if (!req->resp_started || req->resp_finished || req->aborted)
        return false;
    req->ops->write(req, data, len);
    req->resp_bytes += len;
    return req->ops->pending_output(req) < HTTP_OUTPUT_HIGH_WATER;
}

size_t http_response_buffered(struct http_request *req)
{
    if (!req->resp_started || req->aborted)
        return 0;
    return req->ops->pending_output(req);
}

void http_response_finish(struct http_request *req)
{
    if (!req->resp_started || req->resp_finished || req->aborted)
        return;
    req->resp_finished = true;
    req->ops->finish(req);
}

void http_request_log_done(struct http_request *req)
{
    double secs = req->start_ns ? (double)(http_now_ns() - req->start_ns) / 1e9 : 0.0;
    http_metrics_record(req->route ? req->route->index : ROUTER_UNMATCHED, req->proto, req->status,
                        secs);
    log_ctx_info(req->log_ctx, "http: %s %s %s %d %llu %.3fms", http_proto_name(req->proto),
                 req->method ? req->method : "-", req->path ? req->path : "-", req->status,
                 (unsigned long long)req->resp_bytes, secs * 1e3);
}

const char *http_date(void)
{
    static char buf[64];
    static time_t cached;
    time_t now = time(NULL);
    if (now != cached) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached = now;
    }
    return buf;
}

const char *http_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
