/* db_metrics.c — query outcomes, latency, connections, reconnects. */
#include "db_metrics.h"

#include <limits.h>
#include <stdio.h>

#include "metrics.h"

#define NOUTCOMES (DB_ERR_MISUSE + 1)
#define UNSET     UINT_MAX /* metrics_* ignore ids they never handed out */

static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

static bool declared;
static metric_id queries[NOUTCOMES] = {[0 ... NOUTCOMES - 1] = UNSET};
static metric_id latency = UNSET;
static metric_id connections = UNSET;
static metric_id reconnects = UNSET;
static metric_id connect_failures = UNSET;
static metric_id queue_depth = UNSET;

void db_metrics_init(void)
{
    if (declared)
        return;
    declared = true;
    for (int e = 0; e < NOUTCOMES; e++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "outcome=\"%s\"", db_error_name((enum db_error)e));
        queries[e] = metrics_counter("steno_db_queries_total",
                                     "PostgreSQL queries answered, by outcome", labels);
    }
    latency = metrics_histogram("steno_db_query_seconds",
                                "PostgreSQL query time from submission to answer", "",
                                latency_bounds, ARRAY_LEN(latency_bounds));
    connections = metrics_gauge("steno_db_connections", "PostgreSQL connections up", "");
    reconnects = metrics_counter("steno_db_reconnects_total",
                                 "PostgreSQL connections re-established after a loss", "");
    connect_failures = metrics_counter("steno_db_connect_failures_total",
                                       "Failed PostgreSQL connection attempts", "");
    queue_depth =
        metrics_gauge("steno_db_queue_depth", "Queries waiting for a PostgreSQL connection", "");
}

void db_metrics_query(enum db_error outcome, double seconds)
{
    if ((int)outcome >= 0 && (int)outcome < NOUTCOMES)
        metrics_add(queries[outcome], 1);
    metrics_observe(latency, seconds);
}

void db_metrics_connections(int delta)
{
    metrics_gauge_add(connections, delta);
}

void db_metrics_reconnect(void)
{
    metrics_add(reconnects, 1);
}

void db_metrics_connect_failure(void)
{
    metrics_add(connect_failures, 1);
}

void db_metrics_queue(int delta)
{
    metrics_gauge_add(queue_depth, delta);
}
