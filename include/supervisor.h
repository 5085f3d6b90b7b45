/* supervisor.h — the parent process of --workers N.
 *
 * Forks one worker per spec, restarts a worker that dies (with backoff when
 * it keeps dying at start), forwards SIGTERM/SIGINT/SIGHUP to the workers,
 * and exits 0 once every worker has exited after a shutdown. Workers inherit
 * sockets bound before fork, so a restarted worker takes over the same
 * listening sockets and no queued connection is lost. */
#ifndef STENO_SUPERVISOR_H
#define STENO_SUPERVISOR_H

#include "worker.h"

int supervisor_run(struct worker_spec *specs, unsigned n);

#endif
