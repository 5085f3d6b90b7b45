/* http.h — the protocol-neutral request/response interface handlers see.
 *
 * HTTP/1.1 (http1_conn) and HTTP/2 (http2_conn) both produce a struct
 * http_request and call the route's handler once the headers are in. The
 * handler then:
 *   - sets req->on_body / on_body_end (streaming request body, with
 *     backpressure via return HTTP_BODY_PAUSE and http_request_resume_body),
 *   - sets req->on_abort to learn that the client went away,
 *   - answers now or later (deferred) with http_respond*() or the streaming
 *     http_response_start/write/finish trio.
 *
 * Lifetime: the request belongs to its connection. It stays valid until the
 * response is finished AND the body was read, or until on_abort has
 * returned, whichever comes first; a handler must drop its pointer then. A
 * handler that sets no on_body has the body read and discarded. */
#ifndef STENO_HTTP_H
#define STENO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "alloc.h"

enum http_proto { HTTP_PROTO_1 = 0, HTTP_PROTO_2 = 1 };
#define HTTP_PROTO_COUNT 2

/* What on_body tells the protocol layer. ABORT is returned by the layer
 * itself (body over the route limit): stop reading this body. */
enum http_body_result { HTTP_BODY_OK = 0, HTTP_BODY_PAUSE = 1, HTTP_BODY_ABORT = 2 };

struct http_request;
struct route;

typedef enum http_body_result (*http_body_fn)(struct http_request *req, const char *data,
                                              size_t len);
typedef void (*http_req_fn)(struct http_request *req);

struct http_kv {
    char *name;
    char *value;
};

#define HTTP_MAX_PARAMS 4
/* Streaming responses: http_response_write returns false above this many
 * queued bytes; on_drain fires once they fall below the low-water mark. */
#define HTTP_OUTPUT_HIGH_WATER (256 * 1024)
#define HTTP_OUTPUT_LOW_WATER  (64 * 1024)
/* A request body still arriving after the response is read and dropped when
 * at most this much is left, so the exchange ends cleanly (keep-alive on
 * HTTP/1.1, no RST_STREAM on HTTP/2); a bigger rest is cut off. */
#define HTTP_DISCARD_MAX (1024 * 1024)

/* Operations a protocol implements for its requests (internal to src/http). */
struct http_proto_ops {
    void (*start)(struct http_request *req);                               /* status+headers */
    void (*write)(struct http_request *req, const void *data, size_t len); /* body bytes */
    void (*finish)(struct http_request *req);                              /* end of body */
    void (*resume_body)(struct http_request *req);                         /* after PAUSE */
    size_t (*pending_output)(struct http_request *req);                    /* queued bytes */
    void (*reset)(struct http_request *req);  /* h2: RST_STREAM; h1: drop the connection */
    void (*goaway)(struct http_request *req); /* no more requests on this connection */
};

struct http_request {
    /* --- read-only for handlers --- */
    enum http_proto proto;
    char *method;
    char *path;              /* raw path without the query (not percent-decoded) */
    char *query;             /* after '?', "" when none */
    struct http_kv *headers; /* names lower-case */
    size_t nheaders;
    int64_t content_length; /* -1 when unknown */
    char id[33];            /* request id (X-Request-Id or generated) */
    char log_ctx[96];       /* "req=… conn=…" for log_ctx_* */
    const struct route *route;
    const char *param_names[HTTP_MAX_PARAMS];
    char *param_values[HTTP_MAX_PARAMS];
    size_t nparams;
    uint64_t start_ns;       /* monotonic time the headers were complete */
    uint64_t conn_seq;       /* 1 for the first request on its connection, then 2, … */
    uint64_t conn_id;        /* the connection number in this process (logs: conn=) */
    struct event_base *base; /* the loop this request lives on */

    /* --- set by the handler --- */
    http_body_fn on_body;
    http_req_fn on_body_end;
    http_req_fn on_abort;
    http_req_fn on_drain; /* streaming response: output fell below the low-water mark */
    void *user;

    /* --- response state (internal) --- */
    int status;
    struct http_kv *resp_headers;
    size_t nresp_headers;
    bool resp_started;
    bool resp_finished;
    bool body_done;   /* request body fully received */
    bool body_paused; /* handler asked to pause */
    bool aborted;
    bool refused;        /* reset as REFUSED_STREAM (http_request_refuse) */
    int64_t resp_length; /* Content-Length of the response, -1 = streamed */
    uint64_t resp_bytes;
    uint64_t body_bytes; /* request body bytes delivered so far */
    const struct http_proto_ops *ops;
    void *proto_ctx; /* the protocol's per-request state */
};

/* --- reading the request --- */
const char *http_request_header(const struct http_request *req, const char *name);
/* Path parameter by name ("id" in /v1/jobs/{id}), or NULL. */
const char *http_request_param(const struct http_request *req, const char *name);
/* Query parameter, percent-decoded into buf; NULL when absent. */
const char *http_request_query(const struct http_request *req, const char *name, char *buf,
                               size_t buflen);
/* Let body delivery go on after on_body returned HTTP_BODY_PAUSE. */
void http_request_resume_body(struct http_request *req);

/* --- answering --- */
/* Add a response header (before the response starts). Copies both strings. */
void http_response_header(struct http_request *req, const char *name, const char *value);
/* A complete response from memory (copied). */
void http_respond(struct http_request *req, int status, const char *content_type, const void *body,
                  size_t len);
/* JSON response; steals the reference to `body`. */
void http_respond_json(struct http_request *req, int status, json_t *body);
/* {"error":{"type","code","message"}} with the given status. */
void http_respond_error(struct http_request *req, int status, const char *type, const char *code,
                        const char *fmt, ...) PRINTF_LIKE(5, 6);
/* Streaming response: headers now, body through write, then finish. */
void http_response_start(struct http_request *req, int status, const char *content_type);
/* Queues body bytes; returns false when output is above the high-water mark
 * (keep data, wait for on_drain). */
bool http_response_write(struct http_request *req, const void *data, size_t len);
void http_response_finish(struct http_request *req);
/* Response bytes queued and not yet handed to the kernel: the connection's
 * output buffer on HTTP/1.1, the stream's unframed data on HTTP/2 (what its
 * flow-control window holds back). 0 before the response starts. Long-lived
 * streams compare it with their own bound to drop a client that stopped
 * reading (http_request_reset) instead of buffering without limit. */
size_t http_response_buffered(struct http_request *req);

/* --- connection control (emulators, fault injection, draining) --- */
/* Abort the exchange now: HTTP/2 resets the stream (INTERNAL_ERROR), HTTP/1.1
 * drops the connection. The request is freed later by its connection; the
 * handler must not touch it after this call (on_abort is not called). */
void http_request_reset(struct http_request *req);
/* Like http_request_reset, but tells the client the request was not
 * processed and is safe to retry (HTTP/2 REFUSED_STREAM). */
void http_request_refuse(struct http_request *req);
/* Accept no further requests on this request's connection: HTTP/2 sends
 * GOAWAY naming this stream as the last one, HTTP/1.1 answers with
 * "connection: close". In-flight requests still complete. */
void http_request_goaway(struct http_request *req);

/* --- for the protocol layers --- */
struct http_request *http_request_new(enum http_proto proto);
/* Frees everything the request owns (not the protocol's proto_ctx). */
void http_request_free(struct http_request *req);
/* Set path and query from an origin-form target; false for any other form. */
bool http_request_set_target(struct http_request *req, const char *target) MUST_CHECK;
void http_request_add_header(struct http_request *req, const char *name, size_t nlen,
                             const char *value, size_t vlen);
/* New random seed for generated request ids (each worker, after fork). */
void http_request_reseed_ids(void);
/* Pick X-Request-Id when it is safe, else generate; fill log_ctx. */
void http_request_assign_id(struct http_request *req, const char *conn_ctx);
/* Route and call the handler (or answer 404/405/413/501 itself). */
void http_request_dispatch(struct http_request *req);
/* Deliver body bytes / end / abort to the handler (protocol layers). */
enum http_body_result http_request_deliver_body(struct http_request *req, const char *data,
                                                size_t len);
void http_request_deliver_end(struct http_request *req);
void http_request_deliver_abort(struct http_request *req);
/* The server is about to answer for the handler (a framing error, a body
 * over the limit): give the handler its on_abort and stop calling it. */
void http_request_detach_handler(struct http_request *req);
/* Record metrics and the access log line once the response is complete. */
void http_request_log_done(struct http_request *req);

const char *http_status_reason(int status);
/* IMF-fixdate of now ("Sun, 22 Nov 2026 16:23:56 GMT"), cached per second. */
const char *http_date(void);
const char *http_proto_name(enum http_proto proto);
uint64_t http_now_ns(void);

#endif
