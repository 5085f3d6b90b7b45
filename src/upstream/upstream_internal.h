/* upstream_internal.h — shared by upstream_pool.c (calls, admission,
 * retries) and upstream_conn.c (one HTTP/2 client connection). Private to
 * src/upstream. */
#ifndef STENO_UPSTREAM_INTERNAL_H
#define STENO_UPSTREAM_INTERNAL_H

#include <sys/queue.h>

#include <event2/bufferevent.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "metrics.h"
#include "upstream.h"
#include "upstream_util.h"

enum call_state { CALL_QUEUED, CALL_INFLIGHT, CALL_RETRY_WAIT, CALL_DONE };

/* Why an attempt ended without an HTTP answer (or with one). */
enum attempt_end {
    END_HTTP,       /* a complete response: see http_status */
    END_REFUSED,    /* GOAWAY/REFUSED_STREAM: not processed, send again */
    END_RESET,      /* RST_STREAM from the peer */
    END_TIMEOUT,    /* our per-request timeout */
    END_CONNECTION, /* the connection died */
    END_CONNECT,    /* no connection could be made */
};

struct up_conn;
struct up_stream;

struct upstream_call {
    struct upstream *up;
    struct upstream_request req; /* strings owned by the call */
    upstream_cb cb;
    void *arg;
    enum call_state state;
    unsigned attempts;
    double submitted;
    struct up_stream *stream;
    struct event *timer; /* retry wait */
    char boundary[64];
    char *head, *tail;
    size_t head_len, tail_len;
    /* outcome of the last attempt */
    enum attempt_end end;
    int http_status;
    double retry_after;
    char error[512];
    struct transcript *transcript;
    bool done_queued;
    TAILQ_ENTRY(upstream_call) link;      /* up->calls */
    TAILQ_ENTRY(upstream_call) done_link; /* up->done */
};
TAILQ_HEAD(call_list, upstream_call);

struct up_stream {
    struct up_conn *conn;
    struct upstream_call *call; /* NULL once cancelled */
    int32_t id;
    size_t sent;
    int status;
    char retry_after[64];
    struct evbuffer *body;
    struct event *timeout;
    bool timed_out;
    bool closed;
    LIST_ENTRY(up_stream) link;
};

enum conn_state { CONN_CONNECTING, CONN_READY, CONN_DRAINING, CONN_CLOSED };

struct up_conn {
    struct upstream *up;
    uint64_t id;
    char ctx[48];
    enum conn_state state;
    struct bufferevent *bev;
    nghttp2_session *session;
    unsigned active;
    bool ping_outstanding;
    struct event *flush_ev, *timer_ev, *release_ev;
    double last_active;
    LIST_HEAD(, up_stream) streams;
    TAILQ_ENTRY(up_conn) link;
};
TAILQ_HEAD(conn_list, up_conn);

struct upstream_metrics {
    metric_id conns, conns_opened, conns_closed, streams, bytes_sent, queue_depth, cap;
    metric_id latency;
    metric_id retries[6]; /* by enum attempt_end-ish cause, see upstream_pool.c */
    metric_id requests_other;
};
extern struct upstream_metrics upstream_m;

struct upstream {
    struct event_base *base;
    struct upstream_config cfg;
    char *api_key;
    struct upstream_url url;
    char *path;        /* {base}/audio/transcriptions */
    char *auth_header; /* "Bearer …" */
    SSL_CTX *ssl;
    struct evdns_base *dns;
    struct admission *adm;
    struct conn_list conns;
    unsigned nconns;
    uint64_t next_conn_id;
    struct call_list calls;
    struct call_list done;
    struct event *dispatch_ev;
    struct event *token_ev;
    double next_connect_at;
    unsigned connect_failures;
    uint64_t rnd;
    uint64_t opened; /* connections opened, for upstream_get_stats */
    uint64_t bytes_sent;
};

/* upstream_conn.c */
struct up_conn *up_conn_open(struct upstream *up);
bool up_conn_has_room(const struct up_conn *c);
/* Start a stream for call on c; false when nghttp2 refused it. */
bool up_conn_start_stream(struct up_conn *c, struct upstream_call *call);
/* Reset the call's stream (cancel); the stream forgets the call. */
void up_conn_cancel_stream(struct up_stream *s);
/* Close every connection now (pool teardown). */
void up_conn_close(struct up_conn *c, const char *why);
void up_conn_free_now(struct up_conn *c);

/* upstream_pool.c, called by the connections */
void up_pool_attempt_done(struct upstream_call *call); /* outcome fields are set */
void up_pool_conn_ready(struct upstream *up);
void up_pool_conn_failed(struct upstream *up, const char *why);
void up_pool_conn_gone(struct upstream *up, struct up_conn *c);
void up_pool_schedule_dispatch(struct upstream *up);
double up_now(void);

#endif
