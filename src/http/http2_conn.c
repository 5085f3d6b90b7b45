/* http2_conn.c — HTTP/2 server connections on nghttp2 (h2c and h2 over TLS).
 *
 * nghttp2 callbacks only record state and hand events to the request layer;
 * all output goes through one flush (nghttp2_session_mem_send into the
 * bufferevent) scheduled once per loop pass. Request bodies use manual flow
 * control: bytes are "consumed" (window reopened) only once the handler took
 * them, so a paused upload stops the peer within one window. */
#include "http_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <nghttp2/nghttp2.h>

#include "log.h"

/* Stop generating frames while this much is queued for the socket. */
#define OUTPUT_LIMIT (1024 * 1024)
#define CONN_WINDOW  (16 * 1024 * 1024)

struct h2;

struct h2_stream {
    struct h2 *h;
    int32_t id;
    struct http_request *req;
    struct evbuffer *out;     /* response body not yet framed */
    struct evbuffer *held_in; /* body received while the handler paused */
    bool out_eof;
    bool deferred; /* the data provider said DEFERRED: resume on new data */
    bool dispatched;
    bool end_stream; /* END_STREAM received */
    bool end_delivered;
    bool rst_after; /* answered before the body ended: reset once sent */
    size_t header_bytes;
    size_t nheaders;
    int bad_status; /* 400/431 found while reading headers */
    struct h2_stream *next, *prev;
};

struct h2 {
    struct http_conn *c;
    nghttp2_session *session;
    struct event *flush_ev;
    struct h2_stream *streams;
    unsigned nstreams;
    uint64_t requests; /* streams opened on this connection */
    bool goaway;
    int32_t goaway_last; /* streams above it were not accepted: refuse them */
};

static void schedule_flush(struct h2 *h)
{
    event_active(h->flush_ev, EV_TIMEOUT, 0);
}

static struct h2_stream *stream_of(struct h2 *h, int32_t id)
{
    return nghttp2_session_get_stream_user_data(h->session, id);
}

/* --- response side (http_proto_ops) --- */

static ssize_t data_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                            size_t length, uint32_t *flags, nghttp2_data_source *src, void *arg)
{
    struct h2_stream *s = src->ptr;
    int n = evbuffer_remove(s->out, buf, length);
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (n == 0 && !s->out_eof) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (s->out_eof && evbuffer_get_length(s->out) == 0)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (n > 0 && s->req && s->req->on_drain && !s->out_eof &&
        evbuffer_get_length(s->out) < HTTP_OUTPUT_LOW_WATER)
        s->req->on_drain(s->req);
    return n;
}

static void h2_start(struct http_request *req)
{
    struct h2_stream *s = req->proto_ctx;
    size_t n = req->nresp_headers + 4;
    nghttp2_nv *nva = xcalloc(n, sizeof(*nva));
    char status[4], clen[24];
    size_t k = 0;
    snprintf(status, sizeof(status), "%d", req->status);
    nva[k++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, strlen(status),
                            NGHTTP2_NV_FLAG_NONE};
    nva[k++] = (nghttp2_nv){(uint8_t *)"server", (uint8_t *)"steno", 6, 5, NGHTTP2_NV_FLAG_NONE};
    const char *date = http_date();
    nva[k++] =
        (nghttp2_nv){(uint8_t *)"date", (uint8_t *)date, 4, strlen(date), NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < req->nresp_headers; i++)
        nva[k++] =
            (nghttp2_nv){(uint8_t *)req->resp_headers[i].name,
                         (uint8_t *)req->resp_headers[i].value, strlen(req->resp_headers[i].name),
                         strlen(req->resp_headers[i].value), NGHTTP2_NV_FLAG_NONE};
    if (req->resp_length >= 0 && req->status != 204 && req->status != 304) {
        snprintf(clen, sizeof(clen), "%lld", (long long)req->resp_length);
        nva[k++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)clen, 14, strlen(clen),
                                NGHTTP2_NV_FLAG_NONE};
    }
    bool head = strcmp(req->method, "HEAD") == 0;
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = data_read_cb};
    bool no_body = head || req->resp_length == 0;
    if (no_body)
        s->out_eof = true;
    int rv = nghttp2_submit_response(s->h->session, s->id, nva, k, no_body ? NULL : &prd);
    if (rv != 0)
        log_ctx_warn(req->log_ctx, "h2: submit_response: %s", nghttp2_strerror(rv));
    free(nva);
    schedule_flush(s->h);
}

static void h2_write(struct http_request *req, const void *data, size_t len)
{
    struct h2_stream *s = req->proto_ctx;
    if (strcmp(req->method, "HEAD") == 0)
        return;
    evbuffer_add(s->out, data, len);
    if (s->deferred) {
        s->deferred = false;
        nghttp2_session_resume_data(s->h->session, s->id);
    }
    schedule_flush(s->h);
}

static void h2_finish(struct http_request *req)
{
    struct h2_stream *s = req->proto_ctx;
    s->out_eof = true;
    if (s->deferred) {
        s->deferred = false;
        nghttp2_session_resume_data(s->h->session, s->id);
    }
    if (!s->end_stream) {
        /* answered before the body ended: drop a small rest, reset a big one */
        int64_t left =
            req->content_length >= 0 ? req->content_length - (int64_t)req->body_bytes : -1;
        if (left < 0 || left > HTTP_DISCARD_MAX)
            s->rst_after = true;
    }
    http_request_log_done(req);
    schedule_flush(s->h);
}

static void deliver_held(struct h2_stream *s);

static void h2_resume_body(struct http_request *req)
{
    struct h2_stream *s = req->proto_ctx;
    deliver_held(s);
    schedule_flush(s->h);
}

static size_t h2_pending(struct http_request *req)
{
    struct h2_stream *s = req->proto_ctx;
    return evbuffer_get_length(s->out);
}

static void h2_reset(struct http_request *req)
{
    struct h2_stream *s = req->proto_ctx;
    nghttp2_submit_rst_stream(s->h->session, NGHTTP2_FLAG_NONE, s->id,
                              req->refused ? NGHTTP2_REFUSED_STREAM : NGHTTP2_INTERNAL_ERROR);
    schedule_flush(s->h);
}

static void h2_goaway(struct http_request *req)
{
    struct h2_stream *s = req->proto_ctx;
    if (s->h->goaway)
        return;
    s->h->goaway = true;
    s->h->goaway_last = s->id;
    nghttp2_submit_goaway(s->h->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR, NULL, 0);
    schedule_flush(s->h);
}

static const struct http_proto_ops h2_ops = {
    .start = h2_start,
    .write = h2_write,
    .finish = h2_finish,
    .resume_body = h2_resume_body,
    .pending_output = h2_pending,
    .reset = h2_reset,
    .goaway = h2_goaway,
};

/* --- request side --- */

static void deliver_end_once(struct h2_stream *s)
{
    if (s->end_delivered || !s->dispatched)
        return;
    s->end_delivered = true;
    if (!s->req->resp_finished)
        http_request_deliver_end(s->req);
    else
        s->req->body_done = true;
}

/* Hand body bytes to the handler; keep what it does not take yet. */
static void deliver(struct h2_stream *s, const uint8_t *data, size_t len)
{
    if (s->req->body_paused || (s->held_in && evbuffer_get_length(s->held_in))) {
        if (!s->held_in)
            s->held_in = evbuffer_new();
        evbuffer_add(s->held_in, data, len);
        return;
    }
    enum http_body_result r = http_request_deliver_body(s->req, (const char *)data, len);
    nghttp2_session_consume(s->h->session, s->id, len);
    if (r == HTTP_BODY_ABORT)
        s->rst_after = true;
}

static void deliver_held(struct h2_stream *s)
{
    while (s->held_in && evbuffer_get_length(s->held_in) && !s->req->body_paused) {
        struct evbuffer_iovec v;
        evbuffer_peek(s->held_in, -1, NULL, &v, 1);
        size_t len = v.iov_len;
        enum http_body_result r = http_request_deliver_body(s->req, v.iov_base, len);
        evbuffer_drain(s->held_in, len);
        nghttp2_session_consume(s->h->session, s->id, len);
        if (r == HTTP_BODY_ABORT) {
            s->rst_after = true;
            evbuffer_drain(s->held_in, evbuffer_get_length(s->held_in));
            return;
        }
    }
    if (s->end_stream && (!s->held_in || !evbuffer_get_length(s->held_in)) && !s->req->body_paused)
        deliver_end_once(s);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *arg)
{
    struct h2 *h = arg;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (h->goaway && frame->hd.stream_id > h->goaway_last) {
        /* opened before our GOAWAY reached the client: never processed */
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    struct h2_stream *s = xcalloc(1, sizeof(*s));
    s->h = h;
    s->id = frame->hd.stream_id;
    s->out = evbuffer_new();
    s->req = http_request_new(HTTP_PROTO_2);
    s->req->ops = &h2_ops;
    s->req->proto_ctx = s;
    s->req->conn_seq = ++h->requests;
    s->req->conn_id = h->c->id;
    s->req->base = http_server_base(h->c->srv);
    s->next = h->streams;
    if (h->streams)
        h->streams->prev = s;
    h->streams = s;
    h->nstreams++;
    nghttp2_session_set_stream_user_data(session, s->id, s);
    http_conn_clear_timer(h->c);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *arg)
{
    struct h2 *h = arg;
    struct h2_stream *s = stream_of(h, frame->hd.stream_id);
    if (!s || frame->hd.type != NGHTTP2_HEADERS || s->dispatched)
        return 0; /* trailers are ignored */
    const struct http_server_limits *lim = http_server_limits(h->c->srv);
    s->header_bytes += namelen + valuelen + 32;
    if (s->header_bytes > lim->max_header_bytes || ++s->nheaders > lim->max_headers) {
        s->bad_status = 431;
        return 0;
    }
    struct http_request *req = s->req;
    if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
        free(req->method);
        req->method = xstrndup((const char *)value, valuelen);
    } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
        if (valuelen > lim->max_uri) {
            s->bad_status = 414;
            return 0;
        }
        char *t = xstrndup((const char *)value, valuelen);
        if (!http_request_set_target(req, t))
            s->bad_status = 400;
        free(t);
    } else if (namelen == 10 && memcmp(name, ":authority", 10) == 0) {
        http_request_add_header(req, "host", 4, (const char *)value, valuelen);
    } else if (name[0] != ':') {
        http_request_add_header(req, (const char *)name, namelen, (const char *)value, valuelen);
    }
    return 0;
}

static void dispatch(struct h2_stream *s)
{
    struct http_request *req = s->req;
    s->dispatched = true;
    const char *cl = http_request_header(req, "content-length");
    if (cl)
        req->content_length = strtoll(cl, NULL, 10); /* nghttp2 validated it */
    else if (s->end_stream)
        req->content_length = 0;
    http_request_assign_id(req, s->h->c->ctx);
    if (!req->method || !req->path) {
        if (!req->method)
            req->method = xstrdup("-");
        if (!req->path)
            req->path = xstrdup("-");
        s->bad_status = s->bad_status ? s->bad_status : 400;
    }
    if (s->bad_status) {
        req->start_ns = http_now_ns();
        http_respond_error(req, s->bad_status, "invalid_request_error",
                           s->bad_status == 431   ? "headers_too_large"
                           : s->bad_status == 414 ? "uri_too_long"
                                                  : "bad_request",
                           "malformed request headers");
        return;
    }
    http_request_dispatch(req);
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *arg)
{
    struct h2 *h = arg;
    struct h2_stream *s = stream_of(h, frame->hd.stream_id);
    if (!s)
        return 0;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        s->end_stream = end;
        dispatch(s);
        if (end)
            deliver_end_once(s);
    } else if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && end) {
        s->end_stream = true;
        deliver_held(s);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *arg)
{
    struct h2 *h = arg;
    struct h2_stream *s = stream_of(h, stream_id);
    if (!s || !s->dispatched || s->rst_after) {
        nghttp2_session_consume(session, stream_id, len);
        return 0;
    }
    deliver(s, data, len);
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *arg)
{
    struct h2 *h = arg;
    struct h2_stream *s = stream_of(h, frame->hd.stream_id);
    /* Our response is complete but the client is still sending: stop it. */
    if (s && s->rst_after && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *arg)
{
    struct h2 *h = arg;
    struct h2_stream *s = stream_of(h, stream_id);
    if (!s)
        return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    if (!s->req->resp_finished || !s->end_delivered)
        http_request_deliver_abort(s->req);
    if (s->prev)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    h->nstreams--;
    http_request_free(s->req);
    evbuffer_free(s->out);
    if (s->held_in)
        evbuffer_free(s->held_in);
    free(s);
    return 0;
}

/* --- I/O --- */

static void update_timer(struct h2 *h)
{
    const struct http_server_limits *lim = http_server_limits(h->c->srv);
    if (h->nstreams == 0) {
        http_conn_set_timer(h->c, lim->keepalive_timeout, "idle");
        return;
    }
    for (struct h2_stream *s = h->streams; s; s = s->next)
        if (s->dispatched && !s->end_stream && !s->req->body_paused) {
            http_conn_set_timer(h->c, lim->body_timeout, "body");
            return;
        }
    http_conn_clear_timer(h->c); /* waiting for handlers, not the client */
}

static void flush(struct h2 *h)
{
    struct evbuffer *o = bufferevent_get_output(h->c->bev);
    while (evbuffer_get_length(o) < OUTPUT_LIMIT) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->session, &data);
        if (n < 0) {
            log_ctx_info(h->c->ctx, "h2: send failed: %s", nghttp2_strerror((int)n));
            http_conn_close(h->c);
            return;
        }
        if (n == 0)
            break;
        evbuffer_add(o, data, (size_t)n);
    }
    bool done = !nghttp2_session_want_read(h->session) && !nghttp2_session_want_write(h->session);
    if ((done || (h->goaway && h->nstreams == 0)) && evbuffer_get_length(o) == 0)
        http_conn_close(h->c);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2 *h = arg;
    if (!h->c->closing)
        flush(h);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct h2 *h = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (evbuffer_get_length(in) && !h->c->closing) {
        struct evbuffer_iovec v;
        evbuffer_peek(in, -1, NULL, &v, 1);
        ssize_t n = nghttp2_session_mem_recv(h->session, v.iov_base, v.iov_len);
        if (n < 0) {
            log_ctx_info(h->c->ctx, "h2: protocol error: %s", nghttp2_strerror((int)n));
            nghttp2_session_terminate_session(h->session, NGHTTP2_PROTOCOL_ERROR);
            flush(h);
            http_conn_close(h->c);
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    if (!h->c->closing) {
        update_timer(h);
        flush(h);
    }
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct h2 *h = arg;
    if (!h->c->closing)
        flush(h);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct h2 *h = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        http_conn_close(h->c);
}

static void on_release(struct http_conn *c)
{
    struct h2 *h = c->proto_state;
    /* nghttp2_session_del does not call on_stream_close: abort and free the
     * streams still open ourselves. */
    while (h->streams)
        on_stream_close(h->session, h->streams->id, NGHTTP2_CANCEL, h);
    nghttp2_session_del(h->session);
    event_free(h->flush_ev);
    free(h);
}

static void on_drain_request(struct http_conn *c)
{
    struct h2 *h = c->proto_state;
    h->goaway = true;
    h->goaway_last = nghttp2_session_get_last_proc_stream_id(h->session);
    nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE, h->goaway_last, NGHTTP2_NO_ERROR, NULL, 0);
    schedule_flush(h);
}

void http2_conn_start(struct http_conn *c)
{
    const struct http_server_limits *lim = http_server_limits(c->srv);
    struct h2 *h = xcalloc(1, sizeof(*h));
    h->c = c;
    h->flush_ev = event_new(http_server_base(c->srv), -1, 0, flush_cb, h);
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
    nghttp2_session_server_new2(&h->session, cbs, h, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    c->proto_state = h;
    c->on_release = on_release;
    c->on_drain_request = on_drain_request;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim->h2_max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, lim->h2_stream_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)lim->max_header_bytes},
    };
    nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, h);
    bufferevent_set_max_single_read(c->bev, 64 * 1024);
    http_conn_enable_io(c);
    if (c->draining)
        on_drain_request(c);
    read_cb(c->bev, h); /* bytes read while sniffing */
}
