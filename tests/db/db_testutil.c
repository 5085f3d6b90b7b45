/* db_testutil.c — see db_testutil.h. */
#include "db_testutil.h"

#include <check.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"

extern char **environ;

const char *tu_url(void)
{
    const char *u = getenv("STENO_DATABASE_URL");
    ck_assert_msg(u && *u, "STENO_DATABASE_URL unset: run through tests/db/run-with-stack.sh");
    return u;
}

double tu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *tu_scalar(const char *url, const char *sql)
{
    PGconn *pg = PQconnectdb(url);
    ck_assert_msg(PQstatus(pg) == CONNECTION_OK, "connect %s: %s", url, PQerrorMessage(pg));
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    ck_assert_msg(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", sql,
                  PQresultErrorMessage(r));
    char *v = NULL;
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
    return v;
}

/* The stack's URL ends in "/steno": swap the database name. */
char *tu_fresh_db(void)
{
    static int counter;
    const char *url = tu_url();
    char name[64];
    snprintf(name, sizeof(name), "t_%d_%d_%ld", (int)getpid(), ++counter,
             (long)time(NULL) % 100000);
    char *sql = xasprintf("CREATE DATABASE %s", name);
    free(tu_scalar(url, sql));
    free(sql);
    const char *slash = strrchr(url, '/');
    ck_assert_ptr_nonnull(slash);
    return xasprintf("%.*s/%s", (int)(slash - url), url, name);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
}

static bool run_while(struct event_base *base, bool (*done)(const void *, int), const void *p,
                      int target, double seconds)
{
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 5000};
    event_add(tick, &tv);
    double end = tu_now() + seconds;
    bool ok;
    while (!(ok = done(p, target)) && tu_now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    return ok;
}

static bool flag_set(const void *p, int target)
{
    return *(const bool *)p;
}

static bool count_reached(const void *p, int target)
{
    return *(const int *)p >= target;
}

static bool never(const void *p, int target)
{
    return false;
}

bool tu_run_until(struct event_base *base, const bool *flag, double seconds)
{
    return run_while(base, flag_set, flag, 0, seconds);
}

bool tu_run_until_count(struct event_base *base, const int *counter, int target, double seconds)
{
    return run_while(base, count_reached, counter, target, seconds);
}

void tu_run_for(struct event_base *base, double seconds)
{
    run_while(base, never, NULL, 0, seconds);
}

int tu_stack_spawn(const char *cmd)
{
    const char *stack = getenv("LOCAL_STACK"), *dir = getenv("STENO_STACK_DIR");
    ck_assert_msg(stack && dir, "LOCAL_STACK/STENO_STACK_DIR unset: use run-with-stack.sh");
    char *argv[] = {(char *)stack, (char *)cmd, (char *)dir, NULL};
    pid_t pid;
    ck_assert_int_eq(posix_spawn(&pid, stack, NULL, NULL, argv, environ), 0);
    return (int)pid;
}

bool tu_child_done(int pid, bool *ok)
{
    int status;
    if (waitpid(pid, &status, WNOHANG) != pid)
        return false;
    *ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return true;
}

struct db_pool *tu_pool(struct event_base *base, const char *url, unsigned n)
{
    struct db_pool_options o;
    db_pool_options_default(&o);
    o.conninfo = url;
    o.connections = n;
    o.name = "test";
    o.reconnect_min = 0.02;
    o.reconnect_max = 0.5;
    char err[256];
    struct db_pool *p = db_pool_new(base, &o, err, sizeof(err));
    ck_assert_msg(p != NULL, "db_pool_new: %s", err);
    return p;
}

static bool all_up(const void *p, int target)
{
    struct db_pool_health h;
    db_pool_health((const struct db_pool *)p, &h);
    return h.up == h.total;
}

bool tu_wait_up(struct event_base *base, struct db_pool *pool, double seconds)
{
    return run_while(base, all_up, pool, 0, seconds);
}
