/* steno-mock — the upstream emulator: the Cloud.ru/OpenAI transcription API
 * on steno's own HTTP stack (HTTP/1.1, h2c prior knowledge, h2 over TLS),
 * transcribing tone-coded audio with an emulated latency, limits and
 * injected faults. One process, one event loop; nothing blocks it.
 *
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish within
 * --shutdown-timeout, exit 0. Test tooling: never linked into stenod. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "http_metrics.h"
#include "http_server.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "mock_api.h"
#include "tls.h"

#define DECODE_BUDGET 0.002 /* seconds of decoding per loop pass */
#define MAX_LISTENERS 16

struct mock_main {
    struct mock_config cfg;
    struct mock_ctx ctx;
    struct http_server *srv;
    int fds[MAX_LISTENERS];
    size_t nfds;
    bool stopping;
};

static void drained(void *arg)
{
    struct mock_main *mm = arg;
    event_base_loopexit(mm->ctx.base, NULL);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    struct mock_main *mm = arg;
    if (mm->stopping)
        return;
    mm->stopping = true;
    log_info("steno-mock: %s, finishing %zu connections", sig == SIGINT ? "SIGINT" : "SIGTERM",
             http_server_connections(mm->srv));
    http_server_shutdown(mm->srv, mm->cfg.shutdown_timeout, drained, mm);
}

/* Bind one listener per --listen / --tls-listen and hand it to the server. */
static bool open_listeners(struct mock_main *mm, const struct config_list *specs, bool tls)
{
    char err[256], name[80];
    for (size_t i = 0; i < specs->n; i++) {
        struct listen_addr addr;
        if (!specs->items[i][0])
            continue; /* --listen '' turns the default listener off */
        if (mm->nfds == MAX_LISTENERS) {
            fprintf(stderr, "steno-mock: at most %d listeners\n", MAX_LISTENERS);
            return false;
        }
        int fd = -1;
        if (!listen_parse(specs->items[i], &addr, err, sizeof(err)) ||
            (fd = listen_open(&addr, false, 1024, err, sizeof(err))) < 0) {
            fprintf(stderr, "steno-mock: %s\n", err);
            return false;
        }
        mm->fds[mm->nfds++] = fd;
        if (!http_server_listen_fd(mm->srv, fd, tls)) {
            fprintf(stderr, "steno-mock: cannot accept on %s\n", specs->items[i]);
            return false;
        }
        listen_format(&addr, name, sizeof(name));
        log_info("steno-mock: listening on %s%s", name, tls ? " (TLS)" : "");
    }
    return true;
}

static struct http_server_limits limits_of(const struct mock_config *cfg)
{
    return (struct http_server_limits){
        .max_header_bytes = 64 * 1024,
        .max_headers = 100,
        .max_uri = 8192,
        .header_timeout = 10,
        .body_timeout = 60,
        .keepalive_timeout = 75,
        .max_connections = (unsigned)cfg->max_connections,
        .h2_max_streams = (unsigned)cfg->max_streams,
        .h2_stream_window = 1024 * 1024,
    };
}

static bool setup_ctx(struct mock_main *mm, struct event_base *base)
{
    char err[256];
    struct mock_ctx *m = &mm->ctx;
    m->cfg = &mm->cfg;
    m->base = base;
    m->retry_after = mm->cfg.retry_after;
    m->stall_seconds = mm->cfg.stall_seconds;
    if (!mock_faults_init(&m->faults, mm->cfg.fail_rate, mm->cfg.fail_mix, mm->cfg.script,
                          (uint64_t)mm->cfg.seed, err, sizeof(err))) {
        fprintf(stderr, "steno-mock: %s\n", err);
        return false;
    }
    m->rl = mock_ratelimit_new(mm->cfg.rpm);
    m->decoder = mock_decoder_new(base, DECODE_BUDGET);
    return true;
}

static void teardown(struct mock_main *mm)
{
    http_server_free(mm->srv); /* aborts what is left: jobs free themselves */
    mock_decoder_free(mm->ctx.decoder);
    mock_ratelimit_free(mm->ctx.rl);
    mock_faults_free(&mm->ctx.faults);
    mock_stats_free(&mm->ctx.stats);
    for (size_t i = 0; i < mm->nfds; i++)
        close(mm->fds[i]);
    metrics_reset();
}

/* Serve until a stop signal; returns the exit code. */
static int serve(struct mock_main *mm, SSL_CTX *tls)
{
    /* Precise timers: libevent's default coarse clock (~4 ms ticks) would
     * blur the emulated latency that tests and benchmarks compare against. */
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!base || !setup_ctx(mm, base))
        return 1;
    mock_api_register(&mm->ctx);
    http_metrics_init();
    if (!metrics_start(1))
        return 1;
    http_request_reseed_ids();
    struct http_server_limits lim = limits_of(&mm->cfg);
    mm->srv = http_server_new(base, &lim, tls);
    int rc = 1;
    struct event *sigterm = evsignal_new(base, SIGTERM, on_stop, mm);
    struct event *sigint = evsignal_new(base, SIGINT, on_stop, mm);
    if (open_listeners(mm, &mm->cfg.listen, false) &&
        open_listeners(mm, &mm->cfg.tls_listen, true)) {
        evsignal_add(sigterm, NULL);
        evsignal_add(sigint, NULL);
        event_base_dispatch(base);
        rc = 0;
    }
    event_free(sigterm);
    event_free(sigint);
    teardown(mm);
    event_base_free(base);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    static struct mock_main mm;
    bool help;
    char err[512];
    if (!mock_config_load(&mm.cfg, argc, argv, &help, err, sizeof(err)) || help) {
        if (help)
            mock_config_print_help(stdout);
        else
            fprintf(stderr, "steno-mock: %s\n", err);
        mock_config_free(&mm.cfg);
        return help ? 0 : 2;
    }
    enum log_level level = LOG_INFO;
    if (!log_parse_level(mm.cfg.log_level, &level) || !log_open("-")) {
        fprintf(stderr, "steno-mock: invalid --log-level '%s'\n", mm.cfg.log_level);
        mock_config_free(&mm.cfg);
        return 2;
    }
    log_set_level(level);
    SSL_CTX *tls = NULL;
    if (mm.cfg.tls_listen.n &&
        !(tls = tls_server_ctx_new(mm.cfg.tls_cert, mm.cfg.tls_key, err, sizeof(err)))) {
        fprintf(stderr, "steno-mock: %s\n", err);
        mock_config_free(&mm.cfg);
        return 1;
    }
    int rc = serve(&mm, tls);
    if (tls)
        SSL_CTX_free(tls);
    mock_config_free(&mm.cfg);
    log_close();
    return rc;
}
