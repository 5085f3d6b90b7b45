/* bio.c — background thread for fsync/close/unlink, reporting via eventfd. */
#include "bio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

struct job {
    enum bio_op op;
    int fd;
    char *path;
    bio_cb cb;
    void *arg;
    int err;
    STAILQ_ENTRY(job) link;
};
STAILQ_HEAD(job_list, job);

struct bio {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job_list todo; /* loop → thread */
    struct job_list done; /* thread → loop */
    unsigned pending;
    bool stop;
    int efd;
    struct event *ev;
};

static int run(struct job *j)
{
    int rc = 0;
    switch (j->op) {
    case BIO_JOB_FSYNC:
        rc = fsync(j->fd);
        break;
    case BIO_JOB_FSYNC_CLOSE:
        rc = fsync(j->fd);
        if (close(j->fd) < 0 && rc == 0)
            rc = -1;
        break;
    case BIO_JOB_CLOSE:
        rc = close(j->fd);
        break;
    case BIO_JOB_UNLINK:
        rc = unlink(j->path);
        break;
    case BIO_JOB_FSYNC_DIR: {
        int fd = open(j->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = fd < 0 ? -1 : fsync(fd);
        if (fd >= 0)
            close(fd);
        break;
    }
    }
    return rc < 0 ? errno : 0;
}

static void *thread_main(void *arg)
{
    struct bio *b = arg;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (STAILQ_EMPTY(&b->todo) && !b->stop)
            pthread_cond_wait(&b->cond, &b->lock);
        struct job *j = STAILQ_FIRST(&b->todo);
        if (!j)
            break; /* stop requested and nothing left */
        STAILQ_REMOVE_HEAD(&b->todo, link);
        pthread_mutex_unlock(&b->lock);
        j->err = run(j);
        pthread_mutex_lock(&b->lock);
        STAILQ_INSERT_TAIL(&b->done, j, link);
        uint64_t one = 1;
        (void)!write(b->efd, &one, sizeof(one));
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* Loop side: run the callbacks of finished jobs. */
static void drain_done(struct bio *b)
{
    uint64_t n;
    (void)!read(b->efd, &n, sizeof(n));
    struct job_list done;
    pthread_mutex_lock(&b->lock);
    STAILQ_INIT(&done);
    STAILQ_CONCAT(&done, &b->done);
    pthread_mutex_unlock(&b->lock);
    struct job *j;
    while ((j = STAILQ_FIRST(&done))) {
        STAILQ_REMOVE_HEAD(&done, link);
        pthread_mutex_lock(&b->lock);
        b->pending--;
        pthread_mutex_unlock(&b->lock);
        if (j->cb)
            j->cb(j->err, j->arg);
        free(j->path);
        free(j);
    }
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    drain_done(arg);
}

struct bio *bio_new(struct event_base *base)
{
    struct bio *b = xcalloc(1, sizeof(*b));
    STAILQ_INIT(&b->todo);
    STAILQ_INIT(&b->done);
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->efd < 0)
        goto fail;
    b->ev = event_new(base, b->efd, EV_READ | EV_PERSIST, on_event, b);
    event_add(b->ev, NULL);
    if (pthread_create(&b->thread, NULL, thread_main, b) != 0)
        goto fail;
    return b;
fail:
    if (b->ev)
        event_free(b->ev);
    if (b->efd >= 0)
        close(b->efd);
    free(b);
    return NULL;
}

void bio_submit(struct bio *b, enum bio_op op, int fd, const char *path, bio_cb cb, void *arg)
{
    struct job *j = xcalloc(1, sizeof(*j));
    j->op = op;
    j->fd = fd;
    j->path = path ? xstrdup(path) : NULL;
    j->cb = cb;
    j->arg = arg;
    pthread_mutex_lock(&b->lock);
    STAILQ_INSERT_TAIL(&b->todo, j, link);
    b->pending++;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

unsigned bio_pending(struct bio *b)
{
    pthread_mutex_lock(&b->lock);
    unsigned n = b->pending;
    pthread_mutex_unlock(&b->lock);
    return n;
}

void bio_free(struct bio *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->stop = true;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    drain_done(b);
    event_free(b->ev);
    close(b->efd);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    free(b);
}
