/* bio.h — one background thread for blocking file syscalls (Redis bio.c style).
 *
 * fsync, close and unlink can block for a long time on a busy disk; the
 * event loop must not. A worker submits them here; the thread runs them in
 * order and reports each result back through an eventfd watched by the
 * loop, so callbacks always run on the loop thread. The thread touches
 * nothing but its own queue (mutex-protected) and the file descriptors and
 * paths handed to it. */
#ifndef STENO_BIO_H
#define STENO_BIO_H

#include <event2/event.h>

#include "alloc.h"

enum bio_op {
    BIO_JOB_FSYNC,       /* fsync(fd) */
    BIO_JOB_FSYNC_CLOSE, /* fsync(fd) then close(fd) (fd owned by bio from now on) */
    BIO_JOB_CLOSE,       /* close(fd) (fd owned by bio from now on) */
    BIO_JOB_UNLINK,      /* unlink(path) */
    BIO_JOB_FSYNC_DIR,   /* open(path, O_DIRECTORY) + fsync: make a rename durable */
};

/* err is 0 or an errno value. Runs on the loop thread. */
typedef void (*bio_cb)(int err, void *arg);

struct bio;

/* NULL when the thread or eventfd cannot be created. */
struct bio *bio_new(struct event_base *base);
/* Finishes every queued job (callbacks run), then joins the thread. */
void bio_free(struct bio *b);
/* Queue a job; cb may be NULL. path is copied. */
void bio_submit(struct bio *b, enum bio_op op, int fd, const char *path, bio_cb cb, void *arg);
/* Jobs queued or running (for metrics and tests). */
unsigned bio_pending(struct bio *b);

#endif
