/* http_metrics.c — per-route, per-protocol request counters and latency. */
#include "http_metrics.h"

#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "router.h"

/* Status codes that get their own series; anything else counts as "other". */
static const int codes[] = {100, 200, 201, 202, 204, 206, 301, 302, 304, 400, 401,
                            403, 404, 405, 408, 409, 410, 411, 413, 414, 415, 417,
                            422, 429, 431, 499, 500, 501, 502, 503, 504, 505};
#define NCODES (ARRAY_LEN(codes) + 1)

static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,   0.5,   1,      2.5,   5,    10,    30,   60};

static metric_id base_counter;   /* [route][proto][code] */
static metric_id base_histogram; /* [route][proto] */
static size_t nroutes_declared;
static bool declared;
static metric_id conn_open[HTTP_PROTO_COUNT][2];
static metric_id conn_total[HTTP_PROTO_COUNT][2];
static metric_id conn_rejected;
static metric_id timeouts[3];
static const char *const timeout_kinds[] = {"header", "body", "idle"};

static const char *route_label(size_t i)
{
    const struct route *r = router_get(i);
    return r ? r->pattern : "unmatched";
}

static const char *route_method(size_t i)
{
    const struct route *r = router_get(i);
    return r ? r->method : "";
}

void http_metrics_init(void)
{
    if (declared)
        return;
    declared = true;
    nroutes_declared = router_count();
    char labels[256];
    /* index nroutes_declared stands for ROUTER_UNMATCHED */
    for (size_t r = 0; r <= nroutes_declared; r++)
        for (int p = 0; p < HTTP_PROTO_COUNT; p++)
            for (size_t c = 0; c < NCODES; c++) {
                char code[8];
                if (c < ARRAY_LEN(codes))
                    snprintf(code, sizeof(code), "%d", codes[c]);
                else
                    snprintf(code, sizeof(code), "other");
                snprintf(labels, sizeof(labels),
                         "method=\"%s\",route=\"%s\",proto=\"%s\",code=\"%s\"", route_method(r),
                         route_label(r), http_proto_name((enum http_proto)p), code);
                metric_id id = metrics_counter(
                    "steno_http_requests_total",
                    "HTTP requests answered, by route, protocol and status", labels);
                if (r == 0 && p == 0 && c == 0)
                    base_counter = id;
            }
    for (size_t r = 0; r <= nroutes_declared; r++)
        for (int p = 0; p < HTTP_PROTO_COUNT; p++) {
            snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",proto=\"%s\"",
                     route_method(r), route_label(r), http_proto_name((enum http_proto)p));
            metric_id id = metrics_histogram(
                "steno_http_request_duration_seconds",
                "Time from complete request headers to the last response byte queued", labels,
                latency_bounds, ARRAY_LEN(latency_bounds));
            if (r == 0 && p == 0)
                base_histogram = id;
        }
    for (int p = 0; p < HTTP_PROTO_COUNT; p++)
        for (int t = 0; t < 2; t++) {
            snprintf(labels, sizeof(labels), "proto=\"%s\",tls=\"%s\"",
                     http_proto_name((enum http_proto)p), t ? "true" : "false");
            conn_open[p][t] =
                metrics_gauge("steno_http_connections", "Client connections open now", labels);
        }
    for (int p = 0; p < HTTP_PROTO_COUNT; p++)
        for (int t = 0; t < 2; t++) {
            snprintf(labels, sizeof(labels), "proto=\"%s\",tls=\"%s\"",
                     http_proto_name((enum http_proto)p), t ? "true" : "false");
            conn_total[p][t] = metrics_counter("steno_http_connections_total",
                                               "Client connections accepted", labels);
        }
    conn_rejected = metrics_counter("steno_http_connections_rejected_total",
                                    "Connections closed at accept: over --max-connections", "");
    for (size_t i = 0; i < ARRAY_LEN(timeout_kinds); i++) {
        snprintf(labels, sizeof(labels), "kind=\"%s\"", timeout_kinds[i]);
        timeouts[i] = metrics_counter("steno_http_timeouts_total",
                                      "Client connections closed by a timeout", labels);
    }
}

void http_metrics_record(unsigned route_index, enum http_proto proto, int status, double seconds)
{
    if (!declared)
        return;
    size_t r = route_index < nroutes_declared ? route_index : nroutes_declared;
    size_t c = ARRAY_LEN(codes);
    for (size_t i = 0; i < ARRAY_LEN(codes); i++)
        if (codes[i] == status) {
            c = i;
            break;
        }
    metrics_add(base_counter + (metric_id)((r * HTTP_PROTO_COUNT + proto) * NCODES + c), 1);
    metrics_observe(base_histogram + (metric_id)(r * HTTP_PROTO_COUNT + proto), seconds);
}

void http_metrics_conn_open(enum http_proto proto, bool tls)
{
    if (!declared)
        return;
    metrics_gauge_add(conn_open[proto][tls], 1);
    metrics_add(conn_total[proto][tls], 1);
}

void http_metrics_conn_close(enum http_proto proto, bool tls)
{
    if (declared)
        metrics_gauge_add(conn_open[proto][tls], -1);
}

void http_metrics_conn_switch(enum http_proto from, enum http_proto to, bool tls)
{
    if (!declared)
        return;
    metrics_gauge_add(conn_open[from][tls], -1);
    metrics_gauge_add(conn_open[to][tls], 1);
    metrics_add(conn_total[to][tls], 1);
}

void http_metrics_conn_rejected(void)
{
    if (declared)
        metrics_add(conn_rejected, 1);
}

void http_metrics_timeout(const char *kind)
{
    if (!declared)
        return;
    for (size_t i = 0; i < ARRAY_LEN(timeout_kinds); i++)
        if (strcmp(kind, timeout_kinds[i]) == 0)
            metrics_add(timeouts[i], 1);
}
