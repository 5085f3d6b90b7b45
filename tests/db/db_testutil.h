/* db_testutil.h — helpers for the db suites: the stack's URL, scratch
 * databases, running a loop until a condition, restarting the server. */
#ifndef STENO_DB_TESTUTIL_H
#define STENO_DB_TESTUTIL_H

#include <stdbool.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "db_pool.h"

/* STENO_DATABASE_URL (aborts the test when unset: run through run-with-stack.sh). */
const char *tu_url(void);
/* CREATE DATABASE with a unique name; returns its URL (heap, caller frees). */
char *tu_fresh_db(void);
/* Blocking one-off statement on `url`; returns the first value (heap) or NULL. */
char *tu_scalar(const char *url, const char *sql);
/* Run the loop until *flag is true or `seconds` pass; returns *flag. */
bool tu_run_until(struct event_base *base, const bool *flag, double seconds);
/* Run the loop until counter ≥ target or `seconds` pass. */
bool tu_run_until_count(struct event_base *base, const int *counter, int target, double seconds);
/* Run the loop for `seconds`. */
void tu_run_for(struct event_base *base, double seconds);
/* Start "$LOCAL_STACK CMD $STENO_STACK_DIR" in the background; returns its pid. */
int tu_stack_spawn(const char *cmd);
/* True once that child has exited (status 0 in *ok). */
bool tu_child_done(int pid, bool *ok);
/* Pool with defaults for tests: `n` connections, short backoff. */
struct db_pool *tu_pool(struct event_base *base, const char *url, unsigned n);
/* Wait until every query connection of the pool is up. */
bool tu_wait_up(struct event_base *base, struct db_pool *pool, double seconds);
double tu_now(void);

#endif
