/* http_server.h — listeners and client connections (HTTP/1.1, h2c, h2 over TLS).
 *
 * One http_server per worker process, on that worker's event base. It
 * accepts on already-bound listening sockets (the supervisor binds them
 * before fork), sniffs cleartext connections for the HTTP/2 preface (h2c
 * prior knowledge), negotiates h2 or http/1.1 by ALPN on TLS ones, and hands
 * each connection to http1_conn or http2_conn. Both call the router through
 * http_request_dispatch().
 *
 * Connections are never freed inside their own callback chain: they are
 * marked closing and released from a deferred event at the end of the pass. */
#ifndef STENO_HTTP_SERVER_H
#define STENO_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "alloc.h"
#include "http.h"

struct http_server_limits {
    size_t max_header_bytes;
    size_t max_headers;
    size_t max_uri;
    double header_timeout;     /* seconds to receive a complete request head */
    double body_timeout;       /* seconds without a body byte while one is expected */
    double keepalive_timeout;  /* seconds an idle connection is kept */
    unsigned max_connections;  /* per worker */
    unsigned h2_max_streams;   /* SETTINGS_MAX_CONCURRENT_STREAMS */
    uint32_t h2_stream_window; /* initial per-stream receive window */
};

struct http_server;
struct evbuffer_cb_entry;

struct http_conn {
    struct http_server *srv;
    struct bufferevent *bev;
    uint64_t id;
    char ctx[40]; /* "conn=12 peer=127.0.0.1:5555" for logs */
    bool tls;
    bool proto_known;
    enum http_proto proto;
    bool closing;  /* release at the end of this loop pass */
    bool draining; /* graceful shutdown: finish what is in flight, accept no more */
    struct event *release_ev;
    struct event *timer;
    const char *timer_kind; /* "header", "body" or "idle": names the timeout metric */
    void *proto_state;
    /* Called by the server on graceful shutdown and before release. */
    void (*on_drain_request)(struct http_conn *c);
    void (*on_release)(struct http_conn *c);
    bool (*is_idle)(struct http_conn *c);
    TAILQ_ENTRY(http_conn) link;
    /* Cleartext output is written by the server at the end of the loop pass
     * (one write per connection per pass, no epoll change); libevent's
     * write event is armed only while the socket pushes back. */
    bool flush_queued;
    bool write_armed;
    struct evbuffer_cb_entry *out_cb;
    TAILQ_ENTRY(http_conn) flush_link;
};

/* tls may be NULL (no TLS listeners). The server keeps a reference to it. */
struct http_server *http_server_new(struct event_base *base,
                                    const struct http_server_limits *limits, SSL_CTX *tls);
/* Start accepting on a bound, listening, non-blocking socket. */
bool http_server_listen_fd(struct http_server *srv, int fd, bool tls) MUST_CHECK;
/* Stop accepting, let in-flight requests finish; `done` is called once no
 * connection is left (or at the deadline, after force-closing them). */
void http_server_shutdown(struct http_server *srv, double deadline_seconds, void (*done)(void *arg),
                          void *arg);
void http_server_free(struct http_server *srv);
size_t http_server_connections(const struct http_server *srv);

/* --- for the protocol modules (http1_conn, http2_conn) --- */
const struct http_server_limits *http_server_limits(const struct http_server *srv);
struct event_base *http_server_base(const struct http_server *srv);
/* Mark the connection closing and schedule its release (safe anywhere). */
void http_conn_close(struct http_conn *c);
/* (Re)arm the connection's single timer; kind names the metric on expiry. */
void http_conn_set_timer(struct http_conn *c, double seconds, const char *kind);
void http_conn_clear_timer(struct http_conn *c);
/* Enable reading (and, on TLS, writing) on the connection's bufferevent.
 * Protocols call this instead of bufferevent_enable(EV_READ | EV_WRITE):
 * cleartext writes are the server's (see flush_queued above). */
void http_conn_enable_io(struct http_conn *c);
/* Server is draining: protocol modules check it between requests. */
bool http_server_draining(const struct http_server *srv);

/* Protocol entry points, called once the protocol is known. Bytes already
 * read while sniffing stay in the bufferevent's input and are parsed first. */
void http1_conn_start(struct http_conn *c);
void http2_conn_start(struct http_conn *c);

#endif
