/* upstream_conn.c — one HTTP/2 client connection to the transcription API.
 *
 * TCP (+ TLS with SNI, ALPN h2 and certificate verification) → nghttp2
 * client session. Streams carry one call each; the multipart body is framed
 * by a data provider straight from the call's head, audio and tail buffers.
 * nghttp2 callbacks only record what happened; attempts are handed to the
 * pool, which finishes them from its own deferred event. The connection is
 * released from a deferred event too, never inside its callbacks. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "upstream_internal.h"

#define OUTPUT_LIMIT  (1024 * 1024)
#define MAX_RESPONSE  (16 * 1024 * 1024)
#define STREAM_WINDOW (1024 * 1024)

static void schedule_flush(struct up_conn *c)
{
    event_active(c->flush_ev, EV_TIMEOUT, 0);
}

static void set_timer(struct up_conn *c, double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    event_add(c->timer_ev, &tv);
}

/* --- streams --- */

/* Record how an attempt ended and hand it to the pool (at most once). */
static void finish_stream(struct up_stream *s, enum attempt_end end, const char *why)
{
    if (s->closed)
        return;
    s->closed = true;
    struct upstream_call *call = s->call;
    if (s->timeout)
        event_del(s->timeout);
    if (!call)
        return;
    call->stream = NULL;
    call->end = s->timed_out ? END_TIMEOUT : end;
    call->http_status = s->status;
    call->retry_after = upstream_retry_after(s->retry_after, (double)time(NULL));
    if (call->end == END_TIMEOUT)
        snprintf(call->error, sizeof(call->error), "no answer within the request timeout");
    else if (why)
        snprintf(call->error, sizeof(call->error), "%s", why);
    if (end == END_HTTP) {
        size_t n = evbuffer_get_length(s->body);
        char *text = (char *)evbuffer_pullup(s->body, (ev_ssize_t)n);
        if (s->status == 200) {
            char err[256];
            call->transcript = transcript_from_json(text ? text : "", n, err, sizeof(err));
            if (!call->transcript)
                snprintf(call->error, sizeof(call->error), "unreadable transcript: %s", err);
        } else {
            /* OpenAI-shaped {"error":{"message":…}} or whatever text came */
            json_t *j = json_loadb(text ? text : "", n, 0, NULL);
            const char *m =
                json_string_value(json_object_get(json_object_get(j, "error"), "message"));
            snprintf(call->error, sizeof(call->error), "upstream %d: %.400s", s->status,
                     m ? m : (n ? text : "(empty body)"));
            json_decref(j);
        }
    }
    s->call = NULL;
    up_pool_attempt_done(call);
}

static void free_stream(struct up_stream *s)
{
    LIST_REMOVE(s, link);
    s->conn->active--;
    metrics_gauge_add(upstream_m.streams, -1);
    if (s->timeout)
        event_free(s->timeout);
    evbuffer_free(s->body);
    free(s);
}

static void stream_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct up_stream *s = arg;
    s->timed_out = true;
    nghttp2_submit_rst_stream(s->conn->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    schedule_flush(s->conn);
}

/* Frame the body: head, then the audio bytes, then the tail. */
static ssize_t body_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                            size_t length, uint32_t *flags, nghttp2_data_source *src, void *arg)
{
    struct up_stream *s = src->ptr;
    struct upstream_call *call = s->call;
    if (!call) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    const char *parts[3] = {call->head, call->req.audio, call->tail};
    size_t lens[3] = {call->head_len, call->req.audio_len, call->tail_len};
    size_t out = 0, pos = s->sent, base = 0;
    for (int i = 0; i < 3 && out < length; i++) {
        if (pos < base + lens[i]) {
            size_t off = pos - base;
            size_t n = lens[i] - off;
            if (n > length - out)
                n = length - out;
            memcpy(buf + out, parts[i] + off, n);
            out += n;
            pos += n;
        }
        base += lens[i];
    }
    s->sent = pos;
    metrics_add(upstream_m.bytes_sent, out);
    s->conn->up->bytes_sent += out;
    if (s->sent >= base)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)out;
}

bool up_conn_has_room(const struct up_conn *c)
{
    if (c->state != CONN_READY)
        return false;
    uint32_t peer =
        nghttp2_session_get_remote_settings(c->session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return c->active < peer;
}

bool up_conn_start_stream(struct up_conn *c, struct upstream_call *call)
{
    struct upstream *up = c->up;
    char clen[32];
    snprintf(clen, sizeof(clen), "%zu", call->head_len + call->req.audio_len + call->tail_len);
    char ctype[128];
    snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", call->boundary);
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nva[] = {
        NV(":method", "POST"),
        NV(":scheme", up->url.tls ? "https" : "http"),
        NV(":authority", up->url.authority),
        NV(":path", up->path),
        NV("content-type", ctype),
        NV("content-length", clen),
        NV("user-agent", "steno/0.1"),
        NV("accept", "application/json"),
        {(uint8_t *)"authorization", (uint8_t *)(up->auth_header ? up->auth_header : ""), 13,
         up->auth_header ? strlen(up->auth_header) : 0, NGHTTP2_NV_FLAG_NO_INDEX},
    };
#undef NV
    size_t nnv = ARRAY_LEN(nva) - (up->auth_header ? 0 : 1);
    struct up_stream *s = xcalloc(1, sizeof(*s));
    s->conn = c;
    s->call = call;
    s->body = evbuffer_new();
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = body_read_cb};
    int32_t id = nghttp2_submit_request(c->session, NULL, nva, nnv, &prd, s);
    if (id < 0) {
        log_ctx_warn(c->ctx, "upstream: cannot open a stream: %s", nghttp2_strerror(id));
        evbuffer_free(s->body);
        free(s);
        return false;
    }
    s->id = id;
    LIST_INSERT_HEAD(&c->streams, s, link);
    c->active++;
    metrics_gauge_add(upstream_m.streams, 1);
    call->stream = s;
    double t = call->req.audio_seconds * up->cfg.timeout_factor;
    if (t < up->cfg.timeout_min)
        t = up->cfg.timeout_min;
    s->timeout = evtimer_new(up->base, stream_timeout_cb, s);
    struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
    event_add(s->timeout, &tv);
    c->last_active = up_now();
    schedule_flush(c);
    return true;
}

void up_conn_cancel_stream(struct up_stream *s)
{
    s->call = NULL;
    if (!s->closed)
        nghttp2_submit_rst_stream(s->conn->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    schedule_flush(s->conn);
}

/* --- nghttp2 callbacks --- */

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *arg)
{
    struct up_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0)
        s->status = atoi((const char *)value);
    else if (namelen == 11 && memcmp(name, "retry-after", 11) == 0)
        snprintf(s->retry_after, sizeof(s->retry_after), "%.*s", (int)valuelen, value);
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *arg)
{
    struct up_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s && evbuffer_get_length(s->body) + len <= MAX_RESPONSE)
        evbuffer_add(s->body, data, len);
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *arg)
{
    struct up_conn *c = arg;
    c->last_active = up_now();
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK))
        c->ping_outstanding = false;
    if (frame->hd.type == NGHTTP2_GOAWAY && c->state == CONN_READY) {
        log_ctx_info(c->ctx, "upstream: GOAWAY (last stream %d, code %u), draining",
                     frame->goaway.last_stream_id, frame->goaway.error_code);
        c->state = CONN_DRAINING;
        up_pool_schedule_dispatch(c->up); /* new calls go elsewhere */
    }
    if (frame->hd.type == NGHTTP2_SETTINGS)
        up_pool_schedule_dispatch(c->up); /* the stream limit may have changed */
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *arg)
{
    struct up_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s)
        return 0;
    if (error_code == NGHTTP2_NO_ERROR && s->status) {
        finish_stream(s, END_HTTP, NULL);
    } else {
        char why[96];
        snprintf(why, sizeof(why), "stream reset by the upstream (%s)",
                 nghttp2_http2_strerror(error_code));
        finish_stream(s, error_code == NGHTTP2_REFUSED_STREAM ? END_REFUSED : END_RESET, why);
    }
    free_stream(s);
    up_pool_schedule_dispatch(((struct up_conn *)arg)->up);
    return 0;
}

/* --- I/O --- */

static void release_cb(evutil_socket_t fd, short what, void *arg)
{
    up_conn_free_now(arg);
}

void up_conn_close(struct up_conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    bool was_connecting = c->state == CONN_CONNECTING;
    c->state = CONN_CLOSED;
    if (why)
        log_ctx_info(c->ctx, "upstream: connection closed: %s", why);
    /* nghttp2_session_del calls no stream callbacks: end them here. */
    struct up_stream *s;
    LIST_FOREACH(s, &c->streams, link)
    finish_stream(s, END_CONNECTION, why ? why : "connection lost");
    if (was_connecting)
        up_pool_conn_failed(c->up, why ? why : "connect failed");
    if (c->bev)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    event_del(c->timer_ev);
    event_active(c->release_ev, EV_TIMEOUT, 0);
}

void up_conn_free_now(struct up_conn *c)
{
    struct up_stream *s;
    while ((s = LIST_FIRST(&c->streams))) {
        finish_stream(s, END_CONNECTION, "connection closed");
        free_stream(s);
    }
    if (c->session)
        nghttp2_session_del(c->session);
    if (c->bev)
        bufferevent_free(c->bev);
    event_free(c->flush_ev);
    event_free(c->timer_ev);
    event_free(c->release_ev);
    metrics_gauge_add(upstream_m.conns, -1);
    metrics_add(upstream_m.conns_closed, 1);
    up_pool_conn_gone(c->up, c);
    free(c);
}

static void flush(struct up_conn *c)
{
    if (c->state == CONN_CLOSED || !c->session)
        return;
    struct evbuffer *o = bufferevent_get_output(c->bev);
    while (evbuffer_get_length(o) < OUTPUT_LIMIT) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0) {
            up_conn_close(c, nghttp2_strerror((int)n));
            return;
        }
        if (n == 0)
            break;
        evbuffer_add(o, data, (size_t)n);
    }
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session) &&
        evbuffer_get_length(o) == 0)
        up_conn_close(c, NULL);
    else if (c->state == CONN_DRAINING && c->active == 0 && evbuffer_get_length(o) == 0)
        up_conn_close(c, "drained after GOAWAY");
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    flush(arg);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct up_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (evbuffer_get_length(in) && c->state != CONN_CLOSED) {
        struct evbuffer_iovec v;
        evbuffer_peek(in, -1, NULL, &v, 1);
        ssize_t n = nghttp2_session_mem_recv(c->session, v.iov_base, v.iov_len);
        if (n < 0) {
            up_conn_close(c, nghttp2_strerror((int)n));
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    flush(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    flush(arg);
}

/* Idle close, liveness PING, connect timeout: one timer, by state. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct up_conn *c = arg;
    const struct upstream_config *cfg = &c->up->cfg;
    if (c->state == CONN_CONNECTING) {
        up_conn_close(c, "connect timeout");
        return;
    }
    if (c->active == 0 && up_now() - c->last_active >= cfg->idle_timeout) {
        nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
        flush(c);
        up_conn_close(c, NULL);
        return;
    }
    if (c->active && c->ping_outstanding) {
        up_conn_close(c, "no PING answer: connection dead");
        return;
    }
    if (c->active) {
        nghttp2_submit_ping(c->session, NGHTTP2_FLAG_NONE, NULL);
        c->ping_outstanding = true;
        flush(c);
    }
    set_timer(c, c->active ? cfg->ping_interval : cfg->idle_timeout);
}

static void start_session(struct up_conn *c)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_client_new(&c->session, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
    };
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, 16 * STREAM_WINDOW);
    c->state = CONN_READY;
    c->last_active = up_now();
    bufferevent_setcb(c->bev, read_cb, write_cb, NULL, c);
    set_timer(c, c->up->cfg.ping_interval);
    log_ctx_debug(c->ctx, "upstream: connected");
    up_pool_conn_ready(c->up);
    flush(c);
}

static void tls_error(struct up_conn *c, char *buf, size_t len)
{
    unsigned long e;
    buf[0] = '\0';
    while ((e = bufferevent_get_openssl_error(c->bev)))
        ERR_error_string_n(e, buf, len);
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (vr != X509_V_OK)
        snprintf(buf, len, "TLS certificate verification failed: %s",
                 X509_verify_cert_error_string(vr));
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct up_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->up->url.tls) {
            const unsigned char *alpn = NULL;
            unsigned alen = 0;
            SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(bev), &alpn, &alen);
            if (alen != 2 || memcmp(alpn, "h2", 2) != 0) {
                up_conn_close(c, "the upstream did not negotiate HTTP/2 (ALPN h2)");
                return;
            }
        }
        start_session(c);
        return;
    }
    char why[300];
    if (c->up->url.tls)
        tls_error(c, why, sizeof(why));
    else
        why[0] = '\0';
    if (!why[0]) {
        int err = EVUTIL_SOCKET_ERROR();
        if (what & BEV_EVENT_EOF)
            snprintf(why, sizeof(why), "connection closed by the upstream");
        else if (bufferevent_socket_get_dns_error(bev))
            snprintf(why, sizeof(why), "DNS: %s",
                     evutil_gai_strerror(bufferevent_socket_get_dns_error(bev)));
        else
            snprintf(why, sizeof(why), "%s",
                     err ? evutil_socket_error_to_string(err) : "connection error");
    }
    up_conn_close(c, why);
}

static SSL *new_ssl(struct upstream *up)
{
    SSL *ssl = SSL_new(up->ssl);
    struct in6_addr a6;
    struct in_addr a4;
    bool ip =
        inet_pton(AF_INET, up->url.host, &a4) == 1 || inet_pton(AF_INET6, up->url.host, &a6) == 1;
    if (ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), up->url.host);
    } else {
        SSL_set_tlsext_host_name(ssl, up->url.host);
        SSL_set1_host(ssl, up->url.host);
    }
    return ssl;
}

struct up_conn *up_conn_open(struct upstream *up)
{
    struct up_conn *c = xcalloc(1, sizeof(*c));
    c->up = up;
    c->id = ++up->next_conn_id;
    snprintf(c->ctx, sizeof(c->ctx), "upconn=%llu", (unsigned long long)c->id);
    LIST_INIT(&c->streams);
    c->state = CONN_CONNECTING;
    c->flush_ev = event_new(up->base, -1, 0, flush_cb, c);
    c->timer_ev = evtimer_new(up->base, timer_cb, c);
    c->release_ev = event_new(up->base, -1, 0, release_cb, c);
    if (up->url.tls)
        c->bev =
            bufferevent_openssl_socket_new(up->base, -1, new_ssl(up), BUFFEREVENT_SSL_CONNECTING,
                                           BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    else
        c->bev = bufferevent_socket_new(up->base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, NULL, NULL, event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    set_timer(c, up->cfg.connect_timeout);
    metrics_gauge_add(upstream_m.conns, 1);
    metrics_add(upstream_m.conns_opened, 1);
    up->opened++;
    if (bufferevent_socket_connect_hostname(c->bev, up->dns, AF_UNSPEC, up->url.host,
                                            up->url.port) < 0)
        up_conn_close(c, "cannot start connecting");
    return c;
}
