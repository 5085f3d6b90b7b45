/* http_metrics.h — request/connection metrics of the HTTP layer.
 *
 * http_metrics_init() declares, for every registered route and protocol, a
 * request counter per status code and a latency histogram; call it after
 * the routes are registered and before metrics_start(). */
#ifndef STENO_HTTP_METRICS_H
#define STENO_HTTP_METRICS_H

#include <stdbool.h>

#include "http.h"

void http_metrics_init(void);
/* route_index: struct route.index or ROUTER_UNMATCHED. */
void http_metrics_record(unsigned route_index, enum http_proto proto, int status, double seconds);
/* Connection accounting: opened/closed per protocol ("h1", "h2"), TLS or not. */
void http_metrics_conn_open(enum http_proto proto, bool tls);
void http_metrics_conn_close(enum http_proto proto, bool tls);
/* A connection switched protocol after sniffing (h1 → h2 prior knowledge). */
void http_metrics_conn_switch(enum http_proto from, enum http_proto to, bool tls);
/* Connections refused at accept (over --max-connections) and timeouts. */
void http_metrics_conn_rejected(void);
void http_metrics_timeout(const char *kind);

#endif
