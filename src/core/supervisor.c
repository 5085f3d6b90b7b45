/* supervisor.c — fork, watch and restart workers; forward signals. */
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

/* A worker that dies within this many seconds of starting is restarted
 * after a growing delay, so a crash loop does not spin the machine. */
#define QUICK_DEATH_SECONDS 2.0
#define MAX_BACKOFF_SECONDS 30.0
/* After the shutdown deadline, stragglers get SIGKILL this much later. */
#define KILL_GRACE_SECONDS 5.0

struct slot {
    struct supervisor *sv;
    struct worker_spec *spec;
    pid_t pid;
    double started;
    double backoff;
    struct event *restart_ev;
};

struct supervisor {
    struct event_base *base;
    struct slot *slots;
    unsigned n;
    bool stopping;
    struct event *kill_ev;
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In the child: drop the parent's loop (re-initialised first so nothing is
 * removed from the epoll set the parent still uses), keep only this
 * worker's sockets, then run the worker. Never returns. */
static void run_child(struct supervisor *sv, struct slot *s)
{
    if (event_reinit(sv->base) == 0)
        event_base_free(sv->base);
    for (unsigned i = 0; i < sv->n; i++) {
        if (&sv->slots[i] == s)
            continue;
        for (size_t k = 0; k < sv->slots[i].spec->nfds; k++)
            close(sv->slots[i].spec->fds[k]);
    }
    _exit(worker_run(s->spec));
}

static void spawn(struct slot *s)
{
    pid_t pid = fork();
    if (pid < 0) {
        log_error("supervisor: fork failed: %s; retrying", strerror(errno));
        s->backoff = s->backoff ? s->backoff * 2 : 1.0;
        struct timeval tv = {(time_t)s->backoff, 0};
        event_add(s->restart_ev, &tv);
        return;
    }
    if (pid == 0)
        run_child(s->sv, s);
    s->pid = pid;
    s->started = now_seconds();
    log_info("supervisor: worker %u started (pid %d)", s->spec->slot, (int)pid);
}

static void restart_cb(evutil_socket_t fd, short what, void *arg)
{
    struct slot *s = arg;
    if (!s->sv->stopping && s->pid == 0)
        spawn(s);
}

static unsigned live_workers(const struct supervisor *sv)
{
    unsigned n = 0;
    for (unsigned i = 0; i < sv->n; i++)
        n += sv->slots[i].pid != 0;
    return n;
}

static void reaped(struct supervisor *sv, struct slot *s, int status)
{
    double lived = now_seconds() - s->started;
    s->pid = 0;
    if (sv->stopping) {
        log_info("supervisor: worker %u exited", s->spec->slot);
        if (live_workers(sv) == 0)
            event_base_loopexit(sv->base, NULL);
        return;
    }
    if (WIFSIGNALED(status))
        log_error("supervisor: worker %u killed by signal %d after %.1fs; restarting",
                  s->spec->slot, WTERMSIG(status), lived);
    else
        log_error("supervisor: worker %u exited with status %d after %.1fs; restarting",
                  s->spec->slot, WEXITSTATUS(status), lived);
    if (lived < QUICK_DEATH_SECONDS) {
        s->backoff = s->backoff ? s->backoff * 2 : 0.5;
        if (s->backoff > MAX_BACKOFF_SECONDS)
            s->backoff = MAX_BACKOFF_SECONDS;
    } else {
        s->backoff = 0;
    }
    struct timeval tv = {(time_t)s->backoff,
                         (suseconds_t)((s->backoff - (double)(time_t)s->backoff) * 1e6)};
    event_add(s->restart_ev, &tv);
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    struct supervisor *sv = arg;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (unsigned i = 0; i < sv->n; i++)
            if (sv->slots[i].pid == pid)
                reaped(sv, &sv->slots[i], status);
}

static void forward(struct supervisor *sv, int sig)
{
    for (unsigned i = 0; i < sv->n; i++)
        if (sv->slots[i].pid)
            kill(sv->slots[i].pid, sig);
}

static void on_kill_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct supervisor *sv = arg;
    log_warn("supervisor: %u workers still running after the deadline; killing them",
             live_workers(sv));
    forward(sv, SIGKILL);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    struct supervisor *sv = arg;
    if (sv->stopping) {
        forward(sv, (int)sig);
        return;
    }
    sv->stopping = true;
    log_info("supervisor: %s, stopping %u workers", sig == SIGINT ? "SIGINT" : "SIGTERM",
             live_workers(sv));
    for (unsigned i = 0; i < sv->n; i++)
        event_del(sv->slots[i].restart_ev);
    forward(sv, (int)sig);
    double grace = sv->slots[0].spec->cfg->shutdown_timeout + KILL_GRACE_SECONDS;
    struct timeval tv = {(time_t)grace, 0};
    sv->kill_ev = evtimer_new(sv->base, on_kill_deadline, sv);
    event_add(sv->kill_ev, &tv);
    if (live_workers(sv) == 0)
        event_base_loopexit(sv->base, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    if (!log_reopen())
        log_warn("SIGHUP: log file not reopened");
    forward(arg, SIGHUP);
}

int supervisor_run(struct worker_spec *specs, unsigned n)
{
    struct supervisor sv = {.n = n};
    sv.base = event_base_new();
    if (!sv.base)
        return 1;
    sv.slots = xcalloc(n, sizeof(*sv.slots));
    struct event *sigs[] = {
        evsignal_new(sv.base, SIGCHLD, on_sigchld, &sv),
        evsignal_new(sv.base, SIGTERM, on_stop, &sv),
        evsignal_new(sv.base, SIGINT, on_stop, &sv),
        evsignal_new(sv.base, SIGHUP, on_hup, &sv),
    };
    for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
        event_add(sigs[i], NULL);
    for (unsigned i = 0; i < n; i++) {
        sv.slots[i].sv = &sv;
        sv.slots[i].spec = &specs[i];
        sv.slots[i].restart_ev = evtimer_new(sv.base, restart_cb, &sv.slots[i]);
    }
    for (unsigned i = 0; i < n; i++)
        spawn(&sv.slots[i]);
    event_base_dispatch(sv.base);
    for (unsigned i = 0; i < n; i++)
        event_free(sv.slots[i].restart_ev);
    for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
        event_free(sigs[i]);
    if (sv.kill_ev)
        event_free(sv.kill_ev);
    free(sv.slots);
    event_base_free(sv.base);
    log_info("supervisor: all workers exited");
    return 0;
}
