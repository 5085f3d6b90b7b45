/* main.c — stenod: parse settings, bind sockets, run one worker or supervise N. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "audio_encode.h"
#include "db_metrics.h"
#include "cache.h"
#include "db_migrate.h"
#include "events.h"
#include "http_metrics.h"
#include "jobs.h"
#include "upload.h"
#include "upstream.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "steno_config.h"
#include "supervisor.h"
#include "tls.h"
#include "worker.h"

#define VERSION "0.1.0"

/* Each worker runs its own jobs service (database pool, upstream pool,
 * engine, runner), created after fork on the worker's loop. */
static struct jobs *service;

static void worker_setup(struct event_base *base, void *arg)
{
    char err[256];
    service = jobs_start(base, arg, err, sizeof(err));
    if (!service)
        log_error("jobs service not started: %s", err);
}

static void worker_drain(void *arg)
{
    jobs_drain(service);
}

static bool worker_busy(void *arg)
{
    return jobs_busy(service);
}

static void worker_teardown(void *arg)
{
    jobs_stop(service);
    service = NULL;
}

/* Bind every listener once per worker: with SO_REUSEPORT each worker gets
 * its own accept queue, and the supervisor keeps them across restarts. */
static bool bind_all(const struct steno_config *cfg, struct worker_spec *specs, unsigned n)
{
    size_t naddr = cfg->listen.n + cfg->tls_listen.n;
    char err[256];
    for (unsigned w = 0; w < n; w++) {
        specs[w].fds = xcalloc(naddr, sizeof(int));
        specs[w].fd_tls = xcalloc(naddr, sizeof(bool));
        specs[w].nfds = naddr;
    }
    for (size_t a = 0; a < naddr; a++) {
        bool tls = a >= cfg->listen.n;
        const char *spec = tls ? cfg->tls_listen.items[a - cfg->listen.n] : cfg->listen.items[a];
        struct listen_addr addr;
        if (!listen_parse(spec, &addr, err, sizeof(err))) {
            log_error("%s", err);
            return false;
        }
        for (unsigned w = 0; w < n; w++) {
            int fd = listen_open(&addr, n > 1, (int)cfg->backlog, err, sizeof(err));
            if (fd < 0) {
                log_error("%s", err);
                return false;
            }
            specs[w].fds[a] = fd;
            specs[w].fd_tls[a] = tls;
        }
        char name[80];
        listen_format(&addr, name, sizeof(name));
        log_info("listening on %s (%s)", name, tls ? "https: h2, http/1.1" : "http: http/1.1, h2c");
    }
    return true;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    struct steno_config cfg = {0};
    bool help = false;
    char err[512];
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        puts("stenod " VERSION);
        return 0;
    }
    if (!steno_config_load(&cfg, argc, argv, &help, err, sizeof(err))) {
        fprintf(stderr, "stenod: %s\n", err);
        steno_config_free(&cfg);
        return 2;
    }
    if (help) {
        config_print_help(stdout,
                          "usage: stenod [options]\n\nsteno speech-to-text gateway " VERSION,
                          steno_options, steno_noptions);
        steno_config_free(&cfg);
        return 0;
    }
    enum log_level level;
    if (!log_parse_level(cfg.log_level, &level)) {
        fprintf(stderr, "stenod: unknown --log-level '%s'\n", cfg.log_level);
        steno_config_free(&cfg);
        return 2;
    }
    log_set_level(level);
    if (!log_open(cfg.log_file))
        fprintf(stderr, "stenod: logging to stderr\n");

    if (cfg.migrate) {
        int mrc = 0;
        if (!cfg.database_url || !*cfg.database_url) {
            log_error("--migrate needs --database-url (or STENO_DATABASE_URL)");
            mrc = 2;
        } else if (!db_migrate_run(cfg.database_url, err, sizeof(err))) {
            log_error("migrate: %s", err);
            mrc = 1;
        } else {
            log_info("migrate: schema at version %d", db_schema_version());
        }
        steno_config_free(&cfg);
        log_close();
        return mrc;
    }
    /* Refuse to serve on a schema older than this binary needs; an
     * unreachable server is not fatal (degraded start, jobs wait). */
    if (cfg.database_url && *cfg.database_url) {
        int found;
        if (!db_schema_check(cfg.database_url, &found, err, sizeof(err))) {
            if (found >= 0) {
                log_error("%s", err);
                steno_config_free(&cfg);
                log_close();
                return 1;
            }
            log_warn("PostgreSQL unreachable at start-up, starting degraded: %s", err);
        }
    }

    SSL_CTX *tls = NULL;
    if (cfg.tls_listen.n &&
        !(tls = tls_server_ctx_new(cfg.tls_cert, cfg.tls_key, err, sizeof(err)))) {
        log_error("%s", err);
        steno_config_free(&cfg);
        return 1;
    }
    enum audio_encode_format chunk_format;
    if (!audio_encode_parse_format(cfg.chunk_format, &chunk_format)) {
        log_error("--chunk-format must be flac, wav or original, not '%s'", cfg.chunk_format);
        steno_config_free(&cfg);
        return 2;
    }
    if (!upload_prepare_dir(cfg.data_dir, err, sizeof(err))) {
        log_error("%s", err);
        steno_config_free(&cfg);
        return 1;
    }
    api_register_routes(&cfg);
    http_metrics_init();
    upstream_metrics_init();
    db_metrics_init();
    redis_metrics_init();
    jobs_metrics_init();
    cache_metrics_init();
    events_metrics_init();
    unsigned n = (unsigned)cfg.workers;
    int rc = 1;
    struct worker_spec *specs = xcalloc(n, sizeof(*specs));
    for (unsigned i = 0; i < n; i++) {
        specs[i].cfg = &cfg;
        specs[i].slot = i;
        specs[i].tls = tls;
        specs[i].setup = worker_setup;
        specs[i].setup_arg = &cfg;
        specs[i].drain = worker_drain;
        specs[i].busy = worker_busy;
        specs[i].teardown = worker_teardown;
    }
    if (!metrics_start(n)) {
        log_error("cannot map shared memory for metrics");
    } else if (bind_all(&cfg, specs, n)) {
        log_info("stenod %s starting: %u worker%s", VERSION, n, n == 1 ? "" : "s");
        rc = n == 1 ? worker_run(&specs[0]) : supervisor_run(specs, n);
    }
    for (unsigned i = 0; i < n; i++) {
        for (size_t k = 0; k < specs[i].nfds; k++)
            if (specs[i].fds[k] > 0)
                close(specs[i].fds[k]);
        free(specs[i].fds);
        free(specs[i].fd_tls);
    }
    free(specs);
    if (tls)
        SSL_CTX_free(tls);
    metrics_reset();
    steno_config_free(&cfg);
    log_close();
    return rc;
}
