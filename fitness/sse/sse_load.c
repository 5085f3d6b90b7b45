/* sse_load.c — hold many SSE streams on one job and time the fan-out.
 *
 * Opens --conns HTTP/1.1 connections to 127.0.0.1:--port (non-blocking,
 * --batch new connects per millisecond-scale step), sends GET --path on
 * each, and reads with epoll. It does not parse SSE fully: steno's event
 * data is JSON with sorted keys, so each data line starts with
 * `data: {"at":<unix seconds>` — the time the server emitted it. For every
 * event received after all connections were up, latency = receipt − at
 * (same machine, CLOCK_REALTIME). A stream counts as finished when it saw
 * `event: done`.
 *
 * Prints `name value unit` lines: held, finished, events, samples,
 * latency_p50/p99/max (ms). Writes --ready-file once every stream got its
 * response head (so the caller can measure the server's RSS then).
 * Exits after every stream closed or --seconds passed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char PAT[] = "data: {\"at\":";
static const char DONE[] = "event: done\n";

struct conn {
    int fd;
    bool sent, head, done, closed;
    unsigned char m_at, m_done; /* matched prefix lengths */
    unsigned char nlen;
    bool in_num;
    char num[32];
};

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double *samples;
static size_t nsamples, capsamples;
static double measure_from; /* only events emitted after this (all connected) */
static unsigned long events;

static void sample(double at, double rx)
{
    events++;
    if (measure_from == 0 || at < measure_from)
        return;
    if (nsamples == capsamples) {
        capsamples = capsamples ? capsamples * 2 : 65536;
        samples = realloc(samples, capsamples * sizeof(*samples));
        if (!samples)
            abort();
    }
    samples[nsamples++] = (rx - at) * 1e3;
}

/* Feed received bytes through the two tiny matchers. */
static void scan(struct conn *c, const char *p, size_t n, double rx)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (c->in_num) {
            if ((ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == '+' || ch == '-') {
                if (c->nlen < sizeof(c->num) - 1)
                    c->num[c->nlen++] = ch;
                continue;
            }
            c->num[c->nlen] = '\0';
            c->in_num = false;
            sample(strtod(c->num, NULL), rx);
        }
        c->m_at = ch == PAT[c->m_at] ? c->m_at + 1 : (ch == PAT[0] ? 1 : 0);
        if (c->m_at == sizeof(PAT) - 1) {
            c->m_at = 0;
            c->in_num = true;
            c->nlen = 0;
        }
        c->m_done = ch == DONE[c->m_done] ? c->m_done + 1 : (ch == DONE[0] ? 1 : 0);
        if (c->m_done == sizeof(DONE) - 1) {
            c->m_done = 0;
            c->done = true;
        }
        if (!c->head && ch == '\n')
            c->head = true; /* first line of the response head */
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int port = 0, nconns = 1000, batch = 200;
    double seconds = 120;
    const char *path = "/", *ready_file = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--conns"))
            nconns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--path"))
            path = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--ready-file"))
            ready_file = argv[i + 1];
    }
    if (port <= 0 || nconns <= 0) {
        fprintf(stderr, "usage: sse_load --port P --path /v1/jobs/ID/events [--conns N] "
                        "[--seconds S] [--batch B] [--ready-file F]\n");
        return 2;
    }
    char req[512];
    int reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    struct conn *conns = calloc((size_t)nconns, sizeof(*conns));
    int ep = epoll_create1(0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int opened = 0, heads = 0, closed = 0, failed = 0;
    double start = now_mono(), deadline = start + seconds;
    static char buf[65536];
    struct epoll_event evs[256];
    bool ready_written = false;
    while (now_mono() < deadline && closed < nconns) {
        for (int k = 0; k < batch && opened < nconns; k++, opened++) {
            struct conn *c = &conns[opened];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (c->fd < 0) {
                perror("socket");
                c->closed = true;
                closed++;
                failed++;
                continue;
            }
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                close(c->fd);
                c->closed = true;
                closed++;
                failed++;
                continue;
            }
            struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)opened};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
        }
        int n = epoll_wait(ep, evs, 256, 5);
        double rx = now_real();
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[evs[i].data.u32];
            if (c->closed)
                continue;
            if ((evs[i].events & EPOLLOUT) && !c->sent) {
                if (write(c->fd, req, (size_t)reqlen) == reqlen) {
                    c->sent = true;
                    struct epoll_event e = {.events = EPOLLIN, .data.u32 = evs[i].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    ssize_t r = read(c->fd, buf, sizeof(buf));
                    if (r > 0) {
                        bool had = c->head;
                        scan(c, buf, (size_t)r, rx);
                        heads += !had && c->head;
                        continue;
                    }
                    if (r < 0 && (errno == EAGAIN || errno == EINTR))
                        break;
                    close(c->fd);
                    c->closed = true;
                    closed++;
                    break;
                }
            }
        }
        if (!ready_written && heads + failed >= nconns) {
            ready_written = true;
            measure_from = now_real();
            printf("connect_seconds %.2f s\n", now_mono() - start);
            fflush(stdout);
            if (ready_file) {
                FILE *f = fopen(ready_file, "w");
                if (f)
                    fclose(f);
            }
        }
    }
    int finished = 0;
    for (int i = 0; i < nconns; i++) {
        finished += conns[i].done;
        if (!conns[i].closed)
            close(conns[i].fd);
    }
    printf("held %d connections\nfailed %d connections\nfinished %d streams\n", heads, failed,
           finished);
    printf("events %lu received\nsamples %zu events\n", events, nsamples);
    if (nsamples) {
        qsort(samples, nsamples, sizeof(*samples), cmp);
        printf("latency_p50 %.3f ms\nlatency_p99 %.3f ms\nlatency_max %.3f ms\n",
               samples[nsamples / 2], samples[(size_t)((double)nsamples * 0.99)],
               samples[nsamples - 1]);
    }
    free(samples);
    free(conns);
    close(ep);
    return heads > 0 ? 0 : 1;
}
