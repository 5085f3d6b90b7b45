/* http1_conn.c — HTTP/1.1 connections: parse, dispatch, respond, pipeline.
 *
 * One request at a time per connection (responses must go out in order);
 * pipelined requests wait in the input buffer until the current response is
 * complete. Body bytes go to the handler straight from the bufferevent's
 * input (no copy); a handler that pauses stops reads on the socket, which is
 * the backpressure TCP understands. */
#include "http_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "http1_parser.h"
#include "log.h"

#define LINGER_SECONDS 2.0
#define READ_CHUNK     (64 * 1024)

struct h1 {
    struct http_conn *c;
    struct h1_parser *parser;
    struct http_request *req;
    struct event *kick; /* deferred process_input, to avoid recursion */
    bool processing;
    bool body_complete; /* H1_DONE seen for the current request */
    bool keep_alive;
    bool close_after; /* close once the response is flushed */
    bool head;        /* HEAD: no response body bytes */
    bool chunked_out;
    bool lingering;
    uint64_t requests;  /* requests seen on this connection */
    bool linger_needed; /* the client may still be sending: half-close first */
    int version_minor;
};

static void process_input(struct h1 *h);

static struct evbuffer *out(struct h1 *h)
{
    return bufferevent_get_output(h->c->bev);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    process_input(arg);
}

static void kick(struct h1 *h)
{
    event_active(h->kick, EV_TIMEOUT, 0);
}

/* Close once everything queued is written. When the client may still be
 * sending (an unread body), half-close and read-and-drop for a moment so
 * our response is not destroyed by a TCP reset. */
static void close_when_flushed(struct h1 *h)
{
    h->close_after = true;
    if (evbuffer_get_length(out(h)) > 0)
        return; /* write_cb comes back here */
    bool unread = evbuffer_get_length(bufferevent_get_input(h->c->bev)) > 0;
    if (h->linger_needed || unread || (h->req && !h->body_complete)) {
        h->lingering = true;
        evbuffer_drain(bufferevent_get_input(h->c->bev), (size_t)-1);
        shutdown(bufferevent_getfd(h->c->bev), SHUT_WR);
        bufferevent_enable(h->c->bev, EV_READ);
        http_conn_set_timer(h->c, LINGER_SECONDS, "idle");
        return;
    }
    http_conn_close(h->c);
}

/* The current request is over on both sides: free it, then either close or
 * go on with the next (pipelined) request. */
static void complete_request(struct h1 *h)
{
    http_request_free(h->req);
    h->req = NULL;
    h1_parser_reset(h->parser);
    h->body_complete = false;
    if (h->close_after || !h->keep_alive || http_server_draining(h->c->srv)) {
        close_when_flushed(h);
        return;
    }
    bufferevent_enable(h->c->bev, EV_READ);
    http_conn_set_timer(h->c, http_server_limits(h->c->srv)->keepalive_timeout, "idle");
    kick(h);
}

/* --- http_proto_ops --- */

static void h1_start(struct http_request *req)
{
    struct h1 *h = req->proto_ctx;
    struct evbuffer *o = out(h);
    if (!h->keep_alive || http_server_draining(h->c->srv))
        h->close_after = true;
    evbuffer_add_printf(o, "HTTP/1.1 %d %s\r\nserver: steno\r\ndate: %s\r\n", req->status,
                        http_status_reason(req->status), http_date());
    for (size_t i = 0; i < req->nresp_headers; i++)
        evbuffer_add_printf(o, "%s: %s\r\n", req->resp_headers[i].name, req->resp_headers[i].value);
    h->chunked_out = false;
    if (req->status == 204 || req->status == 304) {
        /* no body and, by RFC 9110, no content-length either */
    } else if (req->resp_length >= 0) {
        evbuffer_add_printf(o, "content-length: %lld\r\n", (long long)req->resp_length);
    } else if (h->version_minor == 1) {
        h->chunked_out = true;
        evbuffer_add_printf(o, "transfer-encoding: chunked\r\n");
    } else {
        h->close_after = true; /* HTTP/1.0 streaming: the close delimits the body */
    }
    if (h->close_after)
        evbuffer_add_printf(o, "connection: close\r\n");
    else if (h->version_minor == 0)
        evbuffer_add_printf(o, "connection: keep-alive\r\n");
    evbuffer_add(o, "\r\n", 2);
}

static void h1_write(struct http_request *req, const void *data, size_t len)
{
    struct h1 *h = req->proto_ctx;
    if (h->head || len == 0)
        return;
    if (h->chunked_out)
        evbuffer_add_printf(out(h), "%zx\r\n", len);
    evbuffer_add(out(h), data, len);
    if (h->chunked_out)
        evbuffer_add(out(h), "\r\n", 2);
}

static void h1_finish(struct http_request *req)
{
    struct h1 *h = req->proto_ctx;
    if (h->chunked_out && !h->head)
        evbuffer_add(out(h), "0\r\n\r\n", 5);
    http_request_log_done(req);
    if (h->body_complete) {
        complete_request(h);
        return;
    }
    /* Answered before the body ended (an early error, or a handler that
     * does not need it all). Drop a small rest; close on a big one. */
    int64_t left = req->content_length >= 0 ? req->content_length - (int64_t)req->body_bytes : -1;
    if (left < 0 || left > HTTP_DISCARD_MAX) {
        h->linger_needed = true;
        close_when_flushed(h);
    } else
        kick(h);
}

static void h1_resume_body(struct http_request *req)
{
    struct h1 *h = req->proto_ctx;
    bufferevent_enable(h->c->bev, EV_READ);
    kick(h);
}

static size_t h1_pending(struct http_request *req)
{
    struct h1 *h = req->proto_ctx;
    return evbuffer_get_length(out(h));
}

static void h1_reset(struct http_request *req)
{
    struct h1 *h = req->proto_ctx;
    http_conn_close(h->c);
}

static void h1_goaway(struct http_request *req)
{
    struct h1 *h = req->proto_ctx;
    h->keep_alive = false;
}

static const struct http_proto_ops h1_ops = {
    .start = h1_start,
    .write = h1_write,
    .finish = h1_finish,
    .resume_body = h1_resume_body,
    .pending_output = h1_pending,
    .reset = h1_reset,
    .goaway = h1_goaway,
};

/* --- parsing --- */

static struct http_request *new_request(struct h1 *h)
{
    struct http_request *req = http_request_new(HTTP_PROTO_1);
    req->ops = &h1_ops;
    req->proto_ctx = h;
    req->conn_seq = ++h->requests;
    req->conn_id = h->c->id;
    req->base = http_server_base(h->c->srv);
    return req;
}

static void on_headers(struct h1 *h)
{
    const struct h1_request *r = h1_parser_request(h->parser);
    struct http_request *req = h->req = new_request(h);
    req->method = xstrdup(r->method);
    if (strcmp(r->target, "*") == 0) {
        req->path = xstrdup("*");
    } else if (!http_request_set_target(req, r->target)) {
        req->path = xstrdup(r->target);
    }
    for (size_t i = 0; i < r->nheaders; i++)
        http_request_add_header(req, r->headers[i].name, strlen(r->headers[i].name),
                                r->headers[i].value, strlen(r->headers[i].value));
    req->content_length = r->chunked ? -1 : (r->content_length < 0 ? 0 : r->content_length);
    h->version_minor = r->version_minor;
    h->keep_alive = r->keep_alive && !http_server_draining(h->c->srv);
    h->head = strcmp(r->method, "HEAD") == 0;
    http_request_assign_id(req, h->c->ctx);
    bool has_body = r->chunked || r->content_length > 0;
    h1_parser_set_max_body(h->parser, UINT64_MAX); /* the route limit is enforced on delivery */
    http_request_dispatch(req);
    if (!has_body)
        h1_parser_release_head(h->parser); /* all copied; a stream may last hours */
    if (h->c->closing || !h->req)
        return;
    if (has_body && r->expect_continue && !req->resp_started)
        evbuffer_add(out(h), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    if (has_body && !req->resp_finished)
        http_conn_set_timer(h->c, http_server_limits(h->c->srv)->body_timeout, "body");
    else if (!has_body)
        http_conn_clear_timer(h->c);
}

/* Malformed request: answer the parser's status as JSON and close. */
static void on_parse_error(struct h1 *h)
{
    int status = h1_parser_error_status(h->parser);
    const char *msg = h1_parser_error_message(h->parser);
    h->close_after = true;
    h->keep_alive = false;
    h->linger_needed = true;
    log_ctx_info(h->c->ctx, "http: malformed request: %d %s", status, msg);
    if (h->req && h->req->resp_started) {
        /* mid-body framing error after the response began: nothing to say */
        http_conn_close(h->c);
        return;
    }
    if (!h->req) {
        h->req = new_request(h);
        h->req->method = xstrdup("-");
        h->req->path = xstrdup("-");
        http_request_assign_id(h->req, h->c->ctx);
        h->req->start_ns = http_now_ns();
    }
    http_request_detach_handler(h->req);
    h->body_complete = true; /* nothing more will be read */
    static const char *const codes[][2] = {
        {"400", "bad_request"},
        {"413", "body_too_large"},
        {"414", "uri_too_long"},
        {"417", "expectation_failed"},
        {"431", "headers_too_large"},
        {"501", "not_implemented"},
        {"505", "http_version_not_supported"},
    };
    const char *code = "bad_request";
    char s[8];
    snprintf(s, sizeof(s), "%d", status);
    for (size_t i = 0; i < ARRAY_LEN(codes); i++)
        if (strcmp(codes[i][0], s) == 0)
            code = codes[i][1];
    http_respond_error(h->req, status, "invalid_request_error", code, "%s", msg);
}

/* Feed one step to the parser; false when processing must stop for now. */
static bool step(struct h1 *h, struct evbuffer *in)
{
    struct evbuffer_iovec v = {.iov_base = (void *)"", .iov_len = 0};
    if (evbuffer_get_length(in))
        evbuffer_peek(in, -1, NULL, &v, 1);
    size_t used = 0, blen = 0;
    const char *body = NULL;
    bool was_started = h1_parser_started(h->parser);
    enum h1_event ev = h1_parser_run(h->parser, v.iov_base, v.iov_len, &used, &body, &blen);
    if (!was_started && h1_parser_started(h->parser) && !h->req)
        http_conn_set_timer(h->c, http_server_limits(h->c->srv)->header_timeout, "header");
    switch (ev) {
    case H1_NEED_MORE:
        evbuffer_drain(in, used);
        return used > 0 && evbuffer_get_length(in) > 0;
    case H1_HEADERS:
        evbuffer_drain(in, used);
        on_headers(h);
        return !h->c->closing;
    case H1_BODY: {
        enum http_body_result r = http_request_deliver_body(h->req, body, blen);
        evbuffer_drain(in, used); /* after delivery: body pointed into the buffer */
        if (h->c->closing || !h->req)
            return false;
        if (r == HTTP_BODY_ABORT) {
            h->linger_needed = true;
            close_when_flushed(h);
            return false;
        }
        if (!h->req->resp_finished)
            http_conn_set_timer(h->c, http_server_limits(h->c->srv)->body_timeout, "body");
        if (r == HTTP_BODY_PAUSE) {
            bufferevent_disable(h->c->bev, EV_READ);
            http_conn_clear_timer(h->c);
            return false;
        }
        return true;
    }
    case H1_DONE:
        evbuffer_drain(in, used);
        h->body_complete = true;
        http_conn_clear_timer(h->c);
        if (!h->req->resp_finished) {
            http_request_deliver_end(h->req);
            return false; /* wait for the (possibly deferred) response */
        }
        complete_request(h);
        return false;
    case H1_ERROR:
        evbuffer_drain(in, used);
        on_parse_error(h);
        return false;
    }
    return false;
}

static void process_input(struct h1 *h)
{
    if (h->processing || h->c->closing || h->lingering)
        return;
    h->processing = true;
    struct evbuffer *in = bufferevent_get_input(h->c->bev);
    for (;;) {
        if (h->c->closing || h->lingering || h->close_after)
            break;
        if (h->req && (h->req->body_paused || (h->body_complete && !h->req->resp_finished)))
            break;
        if (!step(h, in))
            break;
    }
    /* Waiting for a response with pipelined bytes piling up: stop reading. */
    if (!h->c->closing && h->req && h->body_complete &&
        evbuffer_get_length(in) > http_server_limits(h->c->srv)->max_header_bytes)
        bufferevent_disable(h->c->bev, EV_READ);
    h->processing = false;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct h1 *h = arg;
    if (h->lingering) {
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
        return;
    }
    process_input(h);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct h1 *h = arg;
    if (h->close_after && !h->lingering && evbuffer_get_length(out(h)) == 0 &&
        (!h->req || h->req->resp_finished)) {
        close_when_flushed(h);
        return;
    }
    if (h->req && h->req->on_drain && h->req->resp_started && !h->req->resp_finished)
        h->req->on_drain(h->req);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct h1 *h = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        http_conn_close(h->c);
}

static void on_release(struct http_conn *c)
{
    struct h1 *h = c->proto_state;
    if (h->req) {
        http_request_deliver_abort(h->req);
        http_request_free(h->req);
    }
    h1_parser_free(h->parser);
    event_free(h->kick);
    free(h);
}

/* Graceful shutdown: an idle connection closes now, a busy one after its
 * current response (keep_alive is off from here on). */
static void on_drain_request(struct http_conn *c)
{
    struct h1 *h = c->proto_state;
    h->keep_alive = false;
    if (!h->req && !h1_parser_started(h->parser))
        http_conn_close(c);
}

void http1_conn_start(struct http_conn *c)
{
    const struct http_server_limits *lim = http_server_limits(c->srv);
    struct h1 *h = xcalloc(1, sizeof(*h));
    struct h1_limits pl = {lim->max_header_bytes, lim->max_headers, lim->max_uri};
    h->c = c;
    h->parser = h1_parser_new(&pl);
    h->kick = event_new(http_server_base(c->srv), -1, 0, kick_cb, h);
    h->keep_alive = true;
    c->proto_state = h;
    c->on_release = on_release;
    c->on_drain_request = on_drain_request;
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, h);
    bufferevent_setwatermark(c->bev, EV_WRITE, HTTP_OUTPUT_LOW_WATER, 0);
    bufferevent_set_max_single_read(c->bev, READ_CHUNK);
    http_conn_enable_io(c);
    if (c->draining)
        h->keep_alive = false;
    process_input(h);
}
