/* webhook.c — signed HTTP/1.1 POSTs with retries, one connection per attempt. */
#include "hex.h"
#include "webhook.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"

/* A receiver's answer beyond its status line is not needed; cap what we read. */
#define MAX_REPLY_HEAD 8192

struct delivery {
    struct webhooks *w;
    char *url, *event, *body, *ctx;
    bool tls;
    char host[256];
    int port;
    char *target; /* path and query */
    char *authority;
    unsigned attempt;
    struct bufferevent *bev;
    struct event *timer; /* attempt timeout, then the wait before the next one */
    bool waiting;        /* between attempts */
    LIST_ENTRY(delivery) link;
};

struct webhooks {
    struct event_base *base;
    struct webhook_config cfg;
    char *secret;
    SSL_CTX *ssl;
    struct evdns_base *dns;
    LIST_HEAD(, delivery) list;
    unsigned pending;
};

void webhook_sign(const char *secret, const char *timestamp, const char *body, char *out,
                  size_t outlen)
{
    size_t tlen = strlen(timestamp), blen = strlen(body);
    char *msg = xmalloc(tlen + 1 + blen + 1);
    memcpy(msg, timestamp, tlen);
    msg[tlen] = '.';
    memcpy(msg + tlen + 1, body, blen + 1);
    unsigned char md[32];
    unsigned int mdlen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, tlen + 1 + blen, md,
         &mdlen);
    free(msg);
    char hex[2 * sizeof(md) + 1];
    hex_encode(md, mdlen, hex);
    snprintf(out, outlen, "sha256=%s", hex);
}

static void free_delivery(struct delivery *d)
{
    LIST_REMOVE(d, link);
    d->w->pending--;
    if (d->bev)
        bufferevent_free(d->bev);
    event_free(d->timer);
    free(d->url);
    free(d->event);
    free(d->body);
    free(d->ctx);
    free(d->target);
    free(d->authority);
    free(d);
}

static void start_attempt(struct delivery *d);

/* This attempt is over: done on 2xx, else wait and try again (or give up). */
static void attempt_over(struct delivery *d, int status, const char *why)
{
    if (d->bev) {
        bufferevent_free(d->bev);
        d->bev = NULL;
    }
    event_del(d->timer);
    if (status >= 200 && status < 300) {
        log_ctx_info(d->ctx, "webhook: %s delivered to %s (attempt %u, status %d)", d->event,
                     d->url, d->attempt, status);
        free_delivery(d);
        return;
    }
    if (d->attempt >= d->w->cfg.max_attempts) {
        log_ctx_warn(d->ctx, "webhook: %s to %s abandoned after %u attempts: %s", d->event, d->url,
                     d->attempt, why);
        free_delivery(d);
        return;
    }
    double wait = d->w->cfg.backoff_base * (double)(1u << (d->attempt - 1));
    log_ctx_info(d->ctx, "webhook: %s to %s attempt %u failed (%s); next in %.1fs", d->event,
                 d->url, d->attempt, why, wait);
    d->waiting = true;
    struct timeval tv = {(time_t)wait, (suseconds_t)((wait - (double)(time_t)wait) * 1e6)};
    event_add(d->timer, &tv);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct delivery *d = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
    if (!line) {
        if (evbuffer_get_length(in) > MAX_REPLY_HEAD)
            attempt_over(d, 0, "no status line");
        return;
    }
    int status = 0;
    if (sscanf(line, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    free(line);
    char why[32];
    snprintf(why, sizeof(why), "status %d", status);
    attempt_over(d, status, status ? why : "malformed status line");
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct delivery *d = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    char why[200] = "connection closed before an answer";
    unsigned long e = d->tls ? bufferevent_get_openssl_error(bev) : 0;
    if (e)
        ERR_error_string_n(e, why, sizeof(why));
    else if (what & BEV_EVENT_ERROR)
        snprintf(why, sizeof(why), "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    attempt_over(d, 0, why);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct delivery *d = arg;
    if (d->waiting) {
        d->waiting = false;
        start_attempt(d);
    } else {
        attempt_over(d, 0, "timed out");
    }
}

static void start_attempt(struct delivery *d)
{
    struct webhooks *w = d->w;
    d->attempt++;
    if (d->tls) {
        SSL *ssl = SSL_new(w->ssl);
        struct in6_addr a6;
        if (inet_pton(AF_INET, d->host, &a6) == 1 || inet_pton(AF_INET6, d->host, &a6) == 1) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), d->host);
        } else {
            SSL_set_tlsext_host_name(ssl, d->host);
            SSL_set1_host(ssl, d->host);
        }
        d->bev = bufferevent_openssl_socket_new(w->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    } else {
        d->bev = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    bufferevent_setcb(d->bev, read_cb, NULL, event_cb, d);
    bufferevent_enable(d->bev, EV_READ | EV_WRITE);
    char ts[32], sig[80];
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    webhook_sign(w->secret, ts, d->body, sig, sizeof(sig));
    evbuffer_add_printf(bufferevent_get_output(d->bev),
                        "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: steno/0.1\r\n"
                        "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                        "X-Steno-Event: %s\r\nX-Steno-Timestamp: %s\r\n"
                        "X-Steno-Signature: %s\r\nConnection: close\r\n\r\n%s",
                        d->target, d->authority, strlen(d->body), d->event, ts, sig, d->body);
    struct timeval tv = {(time_t)w->cfg.timeout,
                         (suseconds_t)((w->cfg.timeout - (double)(time_t)w->cfg.timeout) * 1e6)};
    event_add(d->timer, &tv);
    if (bufferevent_socket_connect_hostname(d->bev, w->dns, AF_UNSPEC, d->host, d->port) < 0)
        attempt_over(d, 0, "cannot start connecting");
}

/* http[s]://host[:port][/path][?query] */
static bool parse_url(struct delivery *d, const char *url)
{
    const char *rest;
    if (strncasecmp(url, "https://", 8) == 0) {
        d->tls = true;
        d->port = 443;
        rest = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        d->port = 80;
        rest = url + 7;
    } else {
        return false;
    }
    size_t alen = strcspn(rest, "/?#");
    if (alen == 0 || alen >= sizeof(d->host))
        return false;
    d->authority = xstrndup(rest, alen);
    const char *colon =
        d->authority[0] == '[' ? strstr(d->authority, "]:") : strrchr(d->authority, ':');
    const char *h = d->authority[0] == '[' ? d->authority + 1 : d->authority;
    size_t hlen = colon ? (size_t)(colon - h) : strlen(h) - (d->authority[0] == '[');
    if (colon) {
        d->port = atoi(colon + (d->authority[0] == '[' ? 2 : 1));
        if (d->port < 1 || d->port > 65535)
            return false;
    }
    snprintf(d->host, sizeof(d->host), "%.*s", (int)hlen, h);
    const char *path = rest + alen;
    size_t plen = strcspn(path, "#");
    d->target = plen && path[0] == '/' ? xstrndup(path, plen) : xasprintf("/%.*s", (int)plen, path);
    return d->host[0] != '\0';
}

bool webhooks_send(struct webhooks *w, const char *url, const char *event, const char *body,
                   const char *ctx)
{
    struct delivery *d = xcalloc(1, sizeof(*d));
    d->w = w;
    LIST_INSERT_HEAD(&w->list, d, link);
    w->pending++;
    d->url = xstrdup(url);
    d->event = xstrdup(event);
    d->body = xstrdup(body);
    d->ctx = xstrdup(ctx ? ctx : "");
    d->timer = evtimer_new(w->base, timer_cb, d);
    if (!parse_url(d, url)) {
        log_ctx_warn(d->ctx, "webhook: cannot use URL %s", url);
        free_delivery(d);
        return false;
    }
    start_attempt(d);
    return true;
}

struct webhooks *webhooks_new(struct event_base *base, const struct webhook_config *cfg)
{
    struct webhooks *w = xcalloc(1, sizeof(*w));
    w->base = base;
    w->cfg = *cfg;
    if (!w->cfg.max_attempts)
        w->cfg.max_attempts = 5;
    if (w->cfg.backoff_base <= 0)
        w->cfg.backoff_base = 1;
    if (w->cfg.timeout <= 0)
        w->cfg.timeout = 10;
    w->secret = xstrdup(cfg->secret ? cfg->secret : "");
    w->cfg.secret = NULL;
    w->ssl = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(w->ssl, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_default_verify_paths(w->ssl);
    w->dns =
        evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    LIST_INIT(&w->list);
    return w;
}

void webhooks_free(struct webhooks *w)
{
    if (!w)
        return;
    while (!LIST_EMPTY(&w->list)) {
        struct delivery *d = LIST_FIRST(&w->list);
        log_ctx_warn(d->ctx, "webhook: %s to %s abandoned at shutdown", d->event, d->url);
        free_delivery(d);
    }
    if (w->dns)
        evdns_base_free(w->dns, 0);
    SSL_CTX_free(w->ssl);
    free(w->secret);
    free(w);
}

unsigned webhooks_pending(const struct webhooks *w)
{
    return w->pending;
}
