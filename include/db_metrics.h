/* db_metrics.h — Prometheus series of the database layer.
 *
 * db_metrics_init() declares them; call it before metrics_start() (before
 * the workers fork), like http_metrics_init(). Without it the db modules
 * work and record nothing. Series:
 *   steno_db_queries_total{outcome="ok|sql|conn_lost|timeout|queue_full|shutdown|misuse"}
 *   steno_db_query_seconds (histogram, submission to answer, all outcomes)
 *   steno_db_connections (gauge: connections up, listener included)
 *   steno_db_reconnects_total (connections re-established after a loss)
 *   steno_db_connect_failures_total (failed connection attempts)
 *   steno_db_queue_depth (gauge: queries waiting for a connection) */
#ifndef STENO_DB_METRICS_H
#define STENO_DB_METRICS_H

#include "db_result.h"

void db_metrics_init(void);

/* Recording, used by the pool. */
void db_metrics_query(enum db_error outcome, double seconds);
void db_metrics_connections(int delta);
void db_metrics_reconnect(void);
void db_metrics_connect_failure(void);
void db_metrics_queue(int delta);

#endif
