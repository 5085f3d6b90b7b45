/* worker.h — one worker process: an event loop serving HTTP on its sockets.
 *
 * SIGTERM/SIGINT start a graceful shutdown: stop accepting, let in-flight
 * requests finish within --shutdown-timeout, exit 0. SIGHUP reopens the log. */
#ifndef STENO_WORKER_H
#define STENO_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "steno_config.h"

struct worker_spec {
    const struct steno_config *cfg;
    unsigned slot; /* metrics slot, 0..workers-1 */
    int *fds;      /* this worker's listening sockets */
    bool *fd_tls;  /* whether fds[i] is a TLS listener */
    size_t nfds;
    SSL_CTX *tls; /* NULL without TLS listeners */
    /* Optional: called once the worker's loop exists, before serving (other
     * modules, or a test server's handlers, attach to the loop here). */
    void (*setup)(struct event_base *base, void *arg);
    void *setup_arg;
    /* Optional: called after the loop stopped, before it is freed. */
    void (*teardown)(void *arg);
    /* Optional: called at SIGTERM/SIGINT, when the drain starts. */
    void (*drain)(void *arg);
    /* Optional: once HTTP is drained, the loop keeps turning while this
     * says writes started by the drain are still in flight (say, jobs
     * handed back to the queue), until the shutdown deadline. */
    bool (*busy)(void *arg);
};

/* Runs until shut down; returns the process exit code. */
int worker_run(const struct worker_spec *spec);

#endif
