/* server.c — accept loop, protocol selection, connection lifetime, drain. */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/err.h>

#include "http_metrics.h"
#include "log.h"

#define H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

struct listener {
    struct evconnlistener *l;
    bool tls;
    struct http_server *srv;
};

struct http_server {
    struct event_base *base;
    struct http_server_limits limits;
    SSL_CTX *tls;
    struct listener **listeners; /* each its own allocation: libevent keeps the pointer */
    size_t nlisteners;
    TAILQ_HEAD(, http_conn) conns;
    size_t nconns;
    TAILQ_HEAD(, http_conn) flushq; /* cleartext conns with output to write this pass */
    size_t nflush;
    struct event *flush_ev;
    uint64_t next_id;
    bool draining;
    struct event *deadline_ev;
    void (*done)(void *arg);
    void *done_arg;
};

/* --- cleartext output ---
 *
 * A bufferevent left to itself arms its write event when output is added
 * and disarms it once drained: two epoll_ctl calls around every write. For
 * many small writes (SSE fan-out to thousands of streams, keep-alive
 * request/response) those dominate. So on cleartext connections EV_WRITE
 * stays disabled: adding output queues the connection, and once per loop
 * pass the server writes each queued connection's output straight to its
 * socket. Only a socket that pushes back (EAGAIN) gets the write event,
 * until its output drains. TLS connections keep the bufferevent's own
 * path (the SSL layer owns the socket). */

static void conn_write_failed(struct http_conn *c)
{
    bufferevent_event_cb ev = NULL;
    void *arg = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, &ev, &arg);
    if (ev)
        ev(c->bev, BEV_EVENT_WRITING | BEV_EVENT_ERROR, arg);
    else
        http_conn_close(c);
}

static void conn_flush(struct http_conn *c)
{
    struct evbuffer *o = bufferevent_get_output(c->bev);
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    /* A socket bufferevent keeps the start of its output frozen so only it
     * drains it; unfreeze around our write exactly as its own writecb does. */
    int n = 1;
    int err = 0;
    evbuffer_unfreeze(o, 1);
    while (evbuffer_get_length(o) > 0 && (n = evbuffer_write(o, fd)) > 0)
        ;
    err = errno;
    evbuffer_freeze(o, 1);
    if (n <= 0 && !(n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))) {
        conn_write_failed(c); /* EPIPE, ECONNRESET … */
        return;
    }
    if (evbuffer_get_length(o) > 0) {
        c->write_armed = true; /* libevent drains the rest; output_cb disarms */
        bufferevent_enable(c->bev, EV_WRITE);
    }
    /* What libevent would do after a write: call the protocol's write
     * callback once output is at or below the low watermark. */
    size_t low = 0;
    bufferevent_getwatermark(c->bev, EV_WRITE, &low, NULL);
    bufferevent_data_cb wr = NULL;
    void *arg = NULL;
    bufferevent_getcb(c->bev, NULL, &wr, NULL, &arg);
    if (wr && !c->closing && evbuffer_get_length(o) <= low)
        wr(c->bev, arg);
}

static void flush_dequeue(struct http_conn *c)
{
    if (!c->flush_queued)
        return;
    TAILQ_REMOVE(&c->srv->flushq, c, flush_link);
    c->srv->nflush--;
    c->flush_queued = false;
}

/* Once per loop pass: write what the queued connections have. A connection
 * queued again while this runs (its write callback produced more) waits for
 * the next pass, so one busy connection cannot hold the loop. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *srv = arg;
    for (size_t n = srv->nflush; n > 0; n--) {
        struct http_conn *c = TAILQ_FIRST(&srv->flushq);
        flush_dequeue(c);
        if (!c->closing && !c->write_armed)
            conn_flush(c);
    }
}

/* Output changed on a cleartext connection (an evbuffer callback). */
static void output_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct http_conn *c = arg;
    struct http_server *srv = c->srv;
    if (c->closing)
        return;
    if (c->write_armed) {
        if (info->n_deleted && evbuffer_get_length(buf) == 0) {
            c->write_armed = false; /* drained by libevent: back to the fast path */
            bufferevent_disable(c->bev, EV_WRITE);
        }
        return;
    }
    if (info->n_added && !c->flush_queued) {
        c->flush_queued = true;
        TAILQ_INSERT_TAIL(&srv->flushq, c, flush_link);
        if (srv->nflush++ == 0)
            event_active(srv->flush_ev, EV_TIMEOUT, 0);
    }
}

void http_conn_enable_io(struct http_conn *c)
{
    bufferevent_enable(c->bev, c->tls ? EV_READ | EV_WRITE : EV_READ);
}

struct http_server *http_server_new(struct event_base *base,
                                    const struct http_server_limits *limits, SSL_CTX *tls)
{
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->base = base;
    srv->limits = *limits;
    srv->tls = tls;
    if (tls)
        SSL_CTX_up_ref(tls);
    TAILQ_INIT(&srv->conns);
    TAILQ_INIT(&srv->flushq);
    srv->flush_ev = event_new(base, -1, 0, flush_cb, srv);
    return srv;
}

const struct http_server_limits *http_server_limits(const struct http_server *srv)
{
    return &srv->limits;
}

struct event_base *http_server_base(const struct http_server *srv)
{
    return srv->base;
}

size_t http_server_connections(const struct http_server *srv)
{
    return srv->nconns;
}

bool http_server_draining(const struct http_server *srv)
{
    return srv->draining;
}

static void finish_drain_if_done(struct http_server *srv)
{
    if (!srv->draining || srv->nconns || !srv->done)
        return;
    void (*done)(void *) = srv->done;
    srv->done = NULL;
    if (srv->deadline_ev)
        event_del(srv->deadline_ev);
    done(srv->done_arg);
}

/* Deferred release: runs from the loop, never inside the conn's callbacks. */
static void release_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    struct http_server *srv = c->srv;
    if (c->on_release)
        c->on_release(c);
    if (c->proto_known)
        http_metrics_conn_close(c->proto, c->tls);
    TAILQ_REMOVE(&srv->conns, c, link);
    srv->nconns--;
    flush_dequeue(c);
    if (c->out_cb)
        evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
    if (c->bev)
        bufferevent_free(c->bev);
    event_free(c->timer);
    event_free(c->release_ev);
    free(c);
    finish_drain_if_done(srv);
}

void http_conn_close(struct http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->bev)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    http_conn_clear_timer(c);
    event_active(c->release_ev, EV_TIMEOUT, 0);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    const char *kind = c->timer_kind ? c->timer_kind : "idle";
    if (strcmp(kind, "idle") != 0)
        log_ctx_info(c->ctx, "http: %s timeout, closing connection", kind);
    http_metrics_timeout(kind);
    http_conn_close(c);
}

void http_conn_set_timer(struct http_conn *c, double seconds, const char *kind)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    c->timer_kind = kind;
    event_add(c->timer, &tv);
}

void http_conn_clear_timer(struct http_conn *c)
{
    event_del(c->timer);
}

static void start_protocol(struct http_conn *c, enum http_proto proto)
{
    c->proto = proto;
    c->proto_known = true;
    http_metrics_conn_open(proto, c->tls);
    if (proto == HTTP_PROTO_2)
        http2_conn_start(c);
    else
        http1_conn_start(c);
}

/* Cleartext: read until the bytes either match the h2 preface or diverge. */
static void sniff_read_cb(struct bufferevent *bev, void *arg)
{
    struct http_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    size_t cmp = n < H2_PREFACE_LEN ? n : H2_PREFACE_LEN;
    unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)cmp);
    if (memcmp(p, H2_PREFACE, cmp) != 0)
        start_protocol(c, HTTP_PROTO_1);
    else if (n >= H2_PREFACE_LEN)
        start_protocol(c, HTTP_PROTO_2);
    /* else: a prefix of the preface so far; wait for more */
}

static void sniff_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct http_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        /* TLS handshake done: ALPN decides; no ALPN means HTTP/1.1. */
        const unsigned char *alpn = NULL;
        unsigned alpn_len = 0;
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
        bool h2 = alpn_len == 2 && memcmp(alpn, "h2", 2) == 0;
        start_protocol(c, h2 ? HTTP_PROTO_2 : HTTP_PROTO_1);
        return;
    }
    if (what & BEV_EVENT_ERROR && c->tls) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        if (e) {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof(buf));
            log_ctx_debug(c->ctx, "tls: handshake failed: %s", buf);
        }
    }
    http_conn_close(c);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct listener *li = arg;
    struct http_server *srv = li->srv;
    if (srv->draining || srv->nconns >= srv->limits.max_connections) {
        http_metrics_conn_rejected();
        evutil_closesocket(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->id = ++srv->next_id;
    c->tls = li->tls;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(c->ctx, sizeof(c->ctx), "conn=%llu peer=%s:%d", (unsigned long long)c->id, host, port);
    c->release_ev = event_new(srv->base, -1, 0, release_cb, c);
    c->timer = evtimer_new(srv->base, timer_cb, c);
    if (li->tls) {
        SSL *ssl = SSL_new(srv->tls);
        c->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    } else {
        c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    TAILQ_INSERT_TAIL(&srv->conns, c, link);
    srv->nconns++;
    if (!c->bev) {
        evutil_closesocket(fd);
        http_conn_close(c);
        return;
    }
    if (!li->tls) {
        bufferevent_disable(c->bev, EV_WRITE); /* a new bufferevent starts with it on */
        c->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev), output_cb, c);
    }
    bufferevent_setcb(c->bev, li->tls ? NULL : sniff_read_cb, NULL, sniff_event_cb, c);
    http_conn_enable_io(c);
    /* The head of the first request (or the TLS handshake) must arrive in time. */
    http_conn_set_timer(c, srv->limits.header_timeout, "header");
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    log_warn("http: accept failed: %s", evutil_socket_error_to_string(err));
    /* EMFILE & co: libevent retries on the next readiness; nothing to free. */
}

bool http_server_listen_fd(struct http_server *srv, int fd, bool tls)
{
    if (tls && !srv->tls)
        return false;
    struct listener *li = xcalloc(1, sizeof(*li));
    li->tls = tls;
    li->srv = srv;
    li->l = evconnlistener_new(srv->base, accept_cb, li, 0, -1, fd);
    if (!li->l) {
        free(li);
        return false;
    }
    evconnlistener_set_error_cb(li->l, accept_error_cb);
    srv->listeners = xrealloc(srv->listeners, (srv->nlisteners + 1) * sizeof(*srv->listeners));
    srv->listeners[srv->nlisteners++] = li;
    return true;
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *srv = arg;
    struct http_conn *c;
    log_warn("http: shutdown deadline reached, closing %zu connections", srv->nconns);
    TAILQ_FOREACH(c, &srv->conns, link)
    http_conn_close(c);
}

void http_server_shutdown(struct http_server *srv, double deadline_seconds, void (*done)(void *arg),
                          void *arg)
{
    if (srv->draining)
        return;
    srv->draining = true;
    srv->done = done;
    srv->done_arg = arg;
    for (size_t i = 0; i < srv->nlisteners; i++)
        evconnlistener_disable(srv->listeners[i]->l);
    struct http_conn *c, *next;
    for (c = TAILQ_FIRST(&srv->conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        c->draining = true;
        if (!c->proto_known)
            http_conn_close(c);
        else if (c->on_drain_request)
            c->on_drain_request(c);
    }
    struct timeval tv = {(time_t)deadline_seconds, 0};
    srv->deadline_ev = evtimer_new(srv->base, deadline_cb, srv);
    evtimer_add(srv->deadline_ev, &tv);
    finish_drain_if_done(srv);
}

void http_server_free(struct http_server *srv)
{
    if (!srv)
        return;
    struct http_conn *c;
    srv->done = NULL;
    while ((c = TAILQ_FIRST(&srv->conns))) {
        event_del(c->release_ev);
        c->closing = true;
        release_cb(-1, 0, c);
    }
    for (size_t i = 0; i < srv->nlisteners; i++) {
        evconnlistener_free(srv->listeners[i]->l);
        free(srv->listeners[i]);
    }
    free(srv->listeners);
    if (srv->deadline_ev)
        event_free(srv->deadline_ev);
    event_free(srv->flush_ev);
    if (srv->tls)
        SSL_CTX_free(srv->tls);
    free(srv);
}
