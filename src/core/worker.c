/* worker.c — a worker's event loop, signals and graceful shutdown. */
#include "worker.h"

#include <sys/time.h>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "http_server.h"
#include "log.h"
#include "metrics.h"

struct worker {
    const struct worker_spec *spec;
    struct event_base *base;
    struct http_server *srv;
    bool stopping;
    double deadline;       /* wall seconds: the shutdown timeout's end */
    struct event *busy_ev; /* drained, waiting for spec->busy to clear */
};

static void recheck(evutil_socket_t fd, short what, void *arg);

/* HTTP is drained; what the drain hook started (database writes) gets
 * the rest of the deadline to land, checked every 10 ms. */
static void drained(void *arg)
{
    struct worker *w = arg;
    struct timeval now;
    gettimeofday(&now, NULL);
    double t = (double)now.tv_sec + (double)now.tv_usec / 1e6;
    if (w->spec->busy && w->spec->busy(w->spec->setup_arg) && t < w->deadline) {
        if (!w->busy_ev)
            w->busy_ev = evtimer_new(w->base, recheck, w);
        struct timeval tv = {0, 10000};
        event_add(w->busy_ev, &tv);
        return;
    }
    log_info("worker %u: drained, exiting", w->spec->slot);
    event_base_loopexit(w->base, NULL);
}

static void recheck(evutil_socket_t fd, short what, void *arg)
{
    drained(arg);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct worker *w = arg;
    if (w->stopping)
        return;
    w->stopping = true;
    log_info("worker %u: %s, finishing %zu connections (deadline %.0fs)", w->spec->slot,
             sig == SIGINT ? "SIGINT" : "SIGTERM", http_server_connections(w->srv),
             w->spec->cfg->shutdown_timeout);
    struct timeval now;
    gettimeofday(&now, NULL);
    w->deadline = (double)now.tv_sec + (double)now.tv_usec / 1e6 + w->spec->cfg->shutdown_timeout;
    if (w->spec->drain)
        w->spec->drain(w->spec->setup_arg);
    http_server_shutdown(w->srv, w->spec->cfg->shutdown_timeout, drained, w);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    if (!log_reopen())
        log_warn("SIGHUP: log file not reopened, logging to stderr");
    else
        log_info("SIGHUP: log reopened");
}

static struct http_server_limits limits_from(const struct steno_config *cfg)
{
    struct http_server_limits l = {
        .max_header_bytes = cfg->max_header_bytes,
        .max_headers = (size_t)cfg->max_headers,
        .max_uri = cfg->max_uri,
        .header_timeout = cfg->header_timeout,
        .body_timeout = cfg->body_timeout,
        .keepalive_timeout = cfg->keepalive_timeout,
        .max_connections = (unsigned)cfg->max_connections,
        .h2_max_streams = (unsigned)cfg->h2_max_streams,
        .h2_stream_window = (uint32_t)cfg->h2_stream_window,
    };
    return l;
}

int worker_run(const struct worker_spec *spec)
{
    struct worker w = {.spec = spec};
    /* precise timers: the upstream timeouts and the mock's latency model are
     * in milliseconds; the coarse clock fires up to a few ms early */
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    w.base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!w.base) {
        log_error("worker %u: cannot create the event loop", spec->slot);
        return 1;
    }
    metrics_bind_slot(spec->slot);
    http_request_reseed_ids();
    if (spec->setup)
        spec->setup(w.base, spec->setup_arg);
    struct http_server_limits lim = limits_from(spec->cfg);
    w.srv = http_server_new(w.base, &lim, spec->tls);
    for (size_t i = 0; i < spec->nfds; i++)
        if (!http_server_listen_fd(w.srv, spec->fds[i], spec->fd_tls[i])) {
            log_error("worker %u: cannot accept on socket %d", spec->slot, spec->fds[i]);
            http_server_free(w.srv);
            event_base_free(w.base);
            return 1;
        }
    struct event *sigs[3] = {
        evsignal_new(w.base, SIGTERM, on_stop_signal, &w),
        evsignal_new(w.base, SIGINT, on_stop_signal, &w),
        evsignal_new(w.base, SIGHUP, on_hup, &w),
    };
    for (size_t i = 0; i < 3; i++)
        event_add(sigs[i], NULL);
    log_info("worker %u: serving (pid %d)", spec->slot, (int)getpid());
    event_base_dispatch(w.base);
    for (size_t i = 0; i < 3; i++)
        event_free(sigs[i]);
    if (w.busy_ev)
        event_free(w.busy_ev);
    http_server_free(w.srv);
    if (spec->teardown)
        spec->teardown(spec->setup_arg);
    event_base_free(w.base);
    return 0;
}
