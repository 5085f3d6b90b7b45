/* test_redis.c — the Redis client against a real redis-server: commands,
 * pipelining, pub/sub, and the FULL/DEGRADED mode when the server stops,
 * freezes (SIGSTOP) and comes back. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_testutil.h"
#include "redis.h"
#include "../check_run.h"

static struct event_base *base;

static void setup(void)
{
    base = event_base_new();
}

static void teardown(void)
{
    event_base_free(base);
}

static const char *url(void)
{
    const char *u = getenv("STENO_REDIS_URL");
    ck_assert_msg(u && *u,
                  "STENO_REDIS_URL unset: run through run-with-stack.sh with STACK_REDIS=1");
    return u;
}

/* Fast probes so a test sees the whole mode cycle in seconds. */
static struct redis *client(double timeout, double probe, double recover)
{
    struct redis_options o;
    redis_options_default(&o);
    o.url = url();
    o.command_timeout = timeout;
    o.connect_timeout = 1;
    o.probe_interval = probe;
    o.recover_after = recover;
    char err[256];
    struct redis *r = redis_new(base, &o, err, sizeof(err));
    ck_assert_msg(r, "%s", err);
    return r;
}

static bool full(struct redis *r)
{
    return redis_mode(r) == REDIS_MODE_FULL;
}

static bool wait_mode(struct redis *r, enum redis_mode m, double seconds)
{
    double end = tu_now() + seconds;
    while (redis_mode(r) != m && tu_now() < end)
        tu_run_for(base, 0.01);
    return redis_mode(r) == m;
}

struct tally {
    int answered, ok, errors;
    long long last_int;
    char last_str[256], last_error[128];
};

static void on_reply(const redisReply *reply, const char *error, void *arg)
{
    struct tally *t = arg;
    t->answered++;
    if (error) {
        t->errors++;
        snprintf(t->last_error, sizeof(t->last_error), "%s", error);
        return;
    }
    t->ok++;
    if (reply->type == REDIS_REPLY_INTEGER)
        t->last_int = reply->integer;
    if (reply->str) { /* binary safe: values may hold NULs */
        size_t n = reply->len < sizeof(t->last_str) - 1 ? reply->len : sizeof(t->last_str) - 1;
        memcpy(t->last_str, reply->str, n);
        t->last_str[n] = '\0';
    }
}

static void stack(const char *cmd)
{
    int pid = tu_stack_spawn(cmd);
    bool ok = false;
    double end = tu_now() + 30;
    while (!tu_child_done(pid, &ok) && tu_now() < end)
        tu_run_for(base, 0.02); /* the loop keeps turning meanwhile */
    ck_assert_msg(ok, "local-stack %s failed", cmd);
}

static int redis_server_pid(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/redis/redis.pid", getenv("STENO_STACK_DIR"));
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "no %s", path);
    int pid = 0;
    ck_assert_int_eq(fscanf(f, "%d", &pid), 1);
    fclose(f);
    return pid;
}

START_TEST(url_parsing)
{
    struct redis_url u;
    char err[200];
    ck_assert(redis_url_parse("redis://127.0.0.1:6390/3", &u, err, sizeof(err)));
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_int_eq(u.port, 6390);
    ck_assert_int_eq(u.db, 3);
    ck_assert(redis_url_parse("redis://:p%40ss@[::1]", &u, err, sizeof(err)));
    ck_assert_str_eq(u.host, "::1");
    ck_assert_int_eq(u.port, 6379);
    ck_assert_str_eq(u.password, "p@ss");
    ck_assert_str_eq(u.user, "");
    ck_assert(redis_url_parse("redis://app:secret@localhost:7000", &u, err, sizeof(err)));
    ck_assert_str_eq(u.user, "app");
    ck_assert_str_eq(u.password, "secret");
    ck_assert(redis_url_parse("unix:/run/redis.sock?db=2", &u, err, sizeof(err)));
    ck_assert_str_eq(u.path, "/run/redis.sock");
    ck_assert_int_eq(u.db, 2);
    static const char *const bad[] = {"",
                                      "http://x",
                                      "redis://",
                                      "redis://h:0",
                                      "redis://h:99999",
                                      "redis://h:12x",
                                      "redis://h/db",
                                      "redis://[::1",
                                      "unix:relative",
                                      "unix:/s?db=x",
                                      "unix:/s?color=red"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!redis_url_parse(bad[i], &u, err, sizeof(err)), "accepted '%s'", bad[i]);
    struct redis_options o;
    redis_options_default(&o);
    o.url = "ftp://nope";
    ck_assert_ptr_null(redis_new(base, &o, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "redis://"));
    /* NULL means "no Redis": safe everywhere, never available */
    ck_assert(!redis_available(NULL));
    ck_assert_ptr_null(redis_command(NULL, NULL, NULL, "PING"));
    ck_assert(!redis_publish(NULL, "c", "x", 1));
    redis_free(NULL);
}
END_TEST

START_TEST(commands_pipelined_in_order)
{
    struct redis *r = client(2, 30, 120);
    ck_assert_msg(wait_mode(r, REDIS_MODE_FULL, 5), "not full: %s", redis_mode_reason(r));
    ck_assert(redis_available(r));
    struct tally t = {0};
    ck_assert_ptr_nonnull(redis_command(r, on_reply, &t, "DEL steno:test:n"));
    /* 2000 INCRs written back to back: answers arrive in order, 1..2000 */
    static struct tally each[2000];
    memset(each, 0, sizeof(each));
    for (int i = 0; i < 2000; i++)
        ck_assert_ptr_nonnull(redis_command(r, on_reply, &each[i], "INCR steno:test:n"));
    ck_assert_int_eq(each[0].answered, 0); /* never from inside redis_command */
    ck_assert(tu_run_until_count(base, &each[1999].answered, 1, 10));
    for (int i = 0; i < 2000; i++)
        ck_assert_int_eq(each[i].last_int, i + 1);
    /* binary-safe values through the argv form, with a TTL */
    const char val[] = {'a', 0, 'b', '\n', 'c'};
    const char *argv[] = {"SET", "steno:test:bin", val, "EX", "60"};
    size_t lens[] = {3, 14, sizeof(val), 2, 2};
    struct tally set = {0}, get = {0}, ttl = {0}, bad = {0};
    ck_assert_ptr_nonnull(redis_command_argv(r, on_reply, &set, 5, argv, lens));
    ck_assert_ptr_nonnull(redis_command(r, on_reply, &get, "GET steno:test:bin"));
    ck_assert_ptr_nonnull(redis_command(r, on_reply, &ttl, "TTL steno:test:bin"));
    ck_assert_ptr_nonnull(redis_command(r, on_reply, &bad, "NOSUCHCOMMAND"));
    ck_assert(tu_run_until_count(base, &bad.answered, 1, 5));
    ck_assert_int_eq(get.ok, 1);
    ck_assert_int_eq(memcmp(get.last_str, val, sizeof(val)), 0);
    ck_assert(ttl.last_int > 50 && ttl.last_int <= 60);
    /* a server error is an answer, not an outage */
    ck_assert_int_eq(bad.errors, 1);
    ck_assert_ptr_nonnull(strstr(bad.last_error, "unknown command"));
    ck_assert(full(r));
    /* a cancelled call still runs, its callback does not */
    struct tally cancelled = {0}, after = {0};
    redis_call_cancel(redis_command(r, on_reply, &cancelled, "INCR steno:test:n"));
    ck_assert_ptr_nonnull(redis_command(r, on_reply, &after, "GET steno:test:n"));
    ck_assert(tu_run_until_count(base, &after.answered, 1, 5));
    ck_assert_int_eq(cancelled.answered, 0);
    ck_assert_str_eq(after.last_str, "2001");
    /* freeing with commands in flight answers them "closed" */
    struct tally pending = {0};
    for (int i = 0; i < 5; i++)
        redis_command(r, on_reply, &pending, "PING");
    redis_free(r);
    ck_assert_int_eq(pending.answered, 5);
    ck_assert_str_eq(pending.last_error, "closed");
}
END_TEST

struct inbox {
    int messages, resubscribed;
    char channel[128], payload[128];
};

static void on_msg(const char *channel, const char *payload, size_t len, void *arg)
{
    struct inbox *in = arg;
    if (!channel) {
        in->resubscribed++;
        return;
    }
    in->messages++;
    snprintf(in->channel, sizeof(in->channel), "%s", channel);
    snprintf(in->payload, sizeof(in->payload), "%.*s", (int)len, payload);
}

START_TEST(pubsub_channels_and_patterns)
{
    struct redis *r = client(2, 30, 120);
    ck_assert(wait_mode(r, REDIS_MODE_FULL, 5));
    struct inbox exact = {0}, pat = {0}, twin = {0};
    struct redis_sub *s1 = redis_subscribe(r, "steno:test:ch", false, on_msg, &exact);
    struct redis_sub *s2 = redis_subscribe(r, "steno:job:*", true, on_msg, &pat);
    struct redis_sub *s3 = redis_subscribe(r, "steno:test:ch", false, on_msg, &twin);
    ck_assert(tu_run_until_count(base, &pat.resubscribed, 1, 5));
    ck_assert(tu_run_until_count(base, &exact.resubscribed, 1, 5));
    ck_assert(redis_publish(r, "steno:test:ch", "hello", 5));
    ck_assert(redis_publish(r, "steno:job:42", "chunk", 5));
    ck_assert(tu_run_until_count(base, &pat.messages, 1, 5));
    ck_assert(tu_run_until_count(base, &twin.messages, 1, 5));
    ck_assert_int_eq(exact.messages, 1); /* one Redis subscription, two local receivers */
    ck_assert_str_eq(exact.payload, "hello");
    ck_assert_str_eq(pat.channel, "steno:job:42");
    ck_assert_str_eq(pat.payload, "chunk");
    /* one receiver leaves: the other keeps the channel */
    redis_unsubscribe(s1);
    ck_assert(redis_publish(r, "steno:test:ch", "again", 5));
    ck_assert(tu_run_until_count(base, &twin.messages, 2, 5));
    ck_assert_int_eq(exact.messages, 1);
    redis_unsubscribe(s3);
    redis_unsubscribe(s2);
    tu_run_for(base, 0.1);
    struct redis_stats st;
    redis_get_stats(r, &st);
    ck_assert_uint_eq(st.messages, 3);
    redis_free(r);
}
END_TEST

START_TEST(server_stops_then_recovers)
{
    struct redis *r = client(1, 0.2, 1.0);
    ck_assert(wait_mode(r, REDIS_MODE_FULL, 5));
    struct inbox in = {0};
    redis_subscribe(r, "steno:test:life", false, on_msg, &in);
    ck_assert(tu_run_until_count(base, &in.resubscribed, 1, 5));
    struct tally inflight = {0};
    ck_assert_ptr_nonnull(redis_command(r, on_reply, &inflight, "BLPOP steno:test:never 0"));
    stack("redis-stop");
    /* the loss is noticed from the socket, without waiting for a probe */
    ck_assert(wait_mode(r, REDIS_MODE_DEGRADED, 5));
    ck_assert_int_eq(inflight.errors, 1);
    ck_assert_str_eq(inflight.last_error, "disconnected");
    ck_assert(!redis_available(r));
    ck_assert_ptr_null(redis_command(r, on_reply, &inflight, "PING")); /* refused at once */
    ck_assert(!redis_publish(r, "steno:test:life", "lost", 4));
    tu_run_for(base, 1.0); /* probes fail quietly meanwhile */
    ck_assert(!full(r));
    stack("redis-start");
    /* reachable again, but FULL only after recover_after healthy seconds */
    ck_assert(wait_mode(r, REDIS_MODE_FULL, 10));
    ck_assert_msg(strstr(redis_mode_reason(r), "healthy for"), "reason: %s", redis_mode_reason(r));
    /* the subscription came back by itself, announced with channel NULL */
    ck_assert(tu_run_until_count(base, &in.resubscribed, 2, 5));
    ck_assert(redis_publish(r, "steno:test:life", "back", 4));
    ck_assert(tu_run_until_count(base, &in.messages, 1, 5));
    ck_assert_str_eq(in.payload, "back");
    redis_free(r);
}
END_TEST

START_TEST(frozen_server_times_out)
{
    struct redis *r = client(0.3, 0.2, 0.6);
    ck_assert(wait_mode(r, REDIS_MODE_FULL, 5));
    int pid = redis_server_pid();
    ck_assert_int_eq(kill(pid, SIGSTOP), 0);
    struct tally t = {0};
    double sent = tu_now();
    ck_assert_ptr_nonnull(redis_command(r, on_reply, &t, "PING"));
    ck_assert(tu_run_until_count(base, &t.answered, 1, 5));
    double waited = tu_now() - sent;
    ck_assert_str_eq(t.last_error, "timeout");
    ck_assert_msg(waited >= 0.29, "answered after %.3fs", waited);
    ck_assert(!full(r));
    struct redis_stats st;
    redis_get_stats(r, &st);
    ck_assert_uint_ge(st.timeouts, 1);
    tu_run_for(base, 0.8); /* probes against a frozen server: they time out too */
    ck_assert(!full(r));
    ck_assert_int_eq(kill(pid, SIGCONT), 0);
    ck_assert(wait_mode(r, REDIS_MODE_FULL, 10));
    struct tally ok = {0};
    ck_assert_ptr_nonnull(redis_command(r, on_reply, &ok, "PING"));
    ck_assert(tu_run_until_count(base, &ok.answered, 1, 5));
    ck_assert_str_eq(ok.last_str, "PONG");
    redis_free(r);
}
END_TEST

START_TEST(operator_override)
{
    struct redis *r = client(1, 0.2, 0.5);
    ck_assert(wait_mode(r, REDIS_MODE_FULL, 5));
    redis_override(r, REDIS_MODE_DEGRADED, "maintenance");
    ck_assert(!redis_available(r));
    ck_assert(redis_overridden(r));
    ck_assert_str_eq(redis_mode_reason(r), "override: maintenance");
    tu_run_for(base, 1.0); /* healthy probes do not undo an override */
    ck_assert(!full(r));
    redis_override(r, REDIS_MODE_FULL, "done");
    ck_assert(full(r)); /* healthy: back at once */
    ck_assert(!redis_overridden(r));
    redis_free(r);
}
END_TEST

START_TEST(unreachable_at_start)
{
    struct redis_options o;
    redis_options_default(&o);
    o.url = "redis://127.0.0.1:1"; /* nothing listens on port 1 */
    o.probe_interval = 0.1;
    char err[200];
    struct redis *r = redis_new(base, &o, err, sizeof(err));
    ck_assert_ptr_nonnull(r); /* not an error: just degraded */
    tu_run_for(base, 0.5);
    ck_assert(!full(r));
    ck_assert_ptr_nonnull(strstr(redis_mode_reason(r), "connect"));
    ck_assert_ptr_null(redis_command(r, NULL, NULL, "PING"));
    redis_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("redis");
    TCase *tc = tcase_create("redis");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, url_parsing);
    tcase_add_test(tc, commands_pipelined_in_order);
    tcase_add_test(tc, pubsub_channels_and_patterns);
    tcase_add_test(tc, server_stops_then_recovers);
    tcase_add_test(tc, frozen_server_times_out);
    tcase_add_test(tc, operator_override);
    tcase_add_test(tc, unreachable_at_start);
    suite_add_tcase(s, tc);
    int failed = check_run(s);
    return failed ? 1 : 0;
}
