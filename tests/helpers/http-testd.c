/* http-testd — stenod's real HTTP stack and worker with extra test routes.
 *
 * Integration tests use it to drive what stenod's own routes cannot show
 * yet: streaming request bodies (SHA-256 of what arrived), a consumer that
 * pauses (backpressure), deferred answers (graceful shutdown with requests
 * in flight) and streamed responses. Takes stenod's flags. Test tooling:
 * never installed, never linked into stenod. */
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "hex.h"
#include "api.h"
#include "http_metrics.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "steno_config.h"
#include "tls.h"
#include "upload.h"
#include "worker.h"

static struct event_base *loop;

struct upload {
    EVP_MD_CTX *md;
    uint64_t bytes;
    unsigned pause_ms;
    struct event *timer;
    struct http_request *req;
};

static void upload_free(struct upload *u)
{
    EVP_MD_CTX_free(u->md);
    if (u->timer)
        event_free(u->timer);
    free(u);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct upload *u = arg;
    http_request_resume_body(u->req);
}

static enum http_body_result on_body(struct http_request *req, const char *data, size_t len)
{
    struct upload *u = req->user;
    EVP_DigestUpdate(u->md, data, len);
    u->bytes += len;
    if (u->pause_ms) {
        struct timeval tv = {0, (suseconds_t)u->pause_ms * 1000};
        event_add(u->timer, &tv);
        return HTTP_BODY_PAUSE;
    }
    return HTTP_BODY_OK;
}

static void on_body_end(struct http_request *req)
{
    struct upload *u = req->user;
    unsigned char md[32];
    char hex[65];
    EVP_DigestFinal_ex(u->md, md, NULL);
    hex_encode(md, sizeof(md), hex);
    json_int_t bytes = (json_int_t)u->bytes;
    req->user = NULL;
    upload_free(u);
    http_respond_json(req, 200, json_pack("{s:I,s:s}", "bytes", bytes, "sha256", hex));
}

static void on_abort(struct http_request *req)
{
    if (req->user)
        upload_free(req->user);
    req->user = NULL;
}

/* POST /test/upload[?pause_ms=N]: hash the streamed body, answer at its end. */
static void upload(struct http_request *req)
{
    struct upload *u = xcalloc(1, sizeof(*u));
    char buf[16];
    u->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(u->md, EVP_sha256(), NULL);
    u->req = req;
    if (http_request_query(req, "pause_ms", buf, sizeof(buf)))
        u->pause_ms = (unsigned)atoi(buf);
    u->timer = evtimer_new(loop, resume_cb, u);
    req->user = u;
    req->on_body = on_body;
    req->on_body_end = on_body_end;
    req->on_abort = on_abort;
}

struct later {
    struct http_request *req;
    struct event *timer;
};

static void later_cb(evutil_socket_t fd, short what, void *arg)
{
    struct later *l = arg;
    l->req->user = NULL;
    l->req->on_abort = NULL;
    http_respond_json(l->req, 200, json_pack("{s:b}", "deferred", 1));
    event_free(l->timer);
    free(l);
}

static void later_abort(struct http_request *req)
{
    struct later *l = req->user;
    event_free(l->timer);
    free(l);
}

/* GET /test/deferred?ms=N: answer N ms later (a handler waiting on I/O). */
static void deferred(struct http_request *req)
{
    char buf[16];
    unsigned ms = http_request_query(req, "ms", buf, sizeof(buf)) ? (unsigned)atoi(buf) : 100;
    struct later *l = xcalloc(1, sizeof(*l));
    l->req = req;
    l->timer = evtimer_new(loop, later_cb, l);
    req->user = l;
    req->on_abort = later_abort;
    struct timeval tv = {ms / 1000, (suseconds_t)(ms % 1000) * 1000};
    event_add(l->timer, &tv);
}

/* GET /test/stream?chunks=N&size=B: a streamed body of N×B bytes, written
 * as the output drains (on_drain), never all queued at once. */
struct stream {
    unsigned left;
    size_t size;
    char *block;
};

static void stream_fill(struct http_request *req)
{
    struct stream *s = req->user;
    while (s->left) {
        s->left--;
        if (!http_response_write(req, s->block, s->size))
            return; /* above high water: on_drain brings us back */
    }
    free(s->block);
    free(s);
    req->user = NULL;
    req->on_drain = NULL;
    req->on_abort = NULL;
    http_response_finish(req);
}

static void stream_abort(struct http_request *req)
{
    struct stream *s = req->user;
    free(s->block);
    free(s);
}

static void stream(struct http_request *req)
{
    char buf[16];
    struct stream *s = xcalloc(1, sizeof(*s));
    s->left = http_request_query(req, "chunks", buf, sizeof(buf)) ? (unsigned)atoi(buf) : 10;
    s->size = http_request_query(req, "size", buf, sizeof(buf)) ? (size_t)atoi(buf) : 1000;
    s->block = xmalloc(s->size);
    memset(s->block, 'x', s->size);
    req->user = s;
    req->on_drain = stream_fill;
    req->on_abort = stream_abort;
    http_response_start(req, 200, "application/octet-stream");
    stream_fill(req);
}

static struct bio *bio;
static const char *data_dir;

static void stored(struct http_request *req, struct upload_result *res, enum upload_error err,
                   const char *msg, void *arg)
{
    if (err) {
        http_respond_error(req, upload_error_status(err), "invalid_request_error",
                           upload_error_code(err), "%s", msg);
        return;
    }
    http_respond_json(req, 200,
                      json_pack("{s:s,s:I,s:s,s:s?,s:s?,s:O}", "sha256", res->sha256, "bytes",
                                (json_int_t)res->bytes, "path", res->path, "filename",
                                res->filename, "content_type", res->content_type, "fields",
                                res->fields));
    upload_result_free(res);
}

/* POST /test/store: the real upload module (temp file, sha256, fsync, rename). */
static void store(struct http_request *req)
{
    enum upload_error err = upload_start(req, data_dir, bio, stored, NULL, NULL);
    if (err)
        http_respond_error(req, upload_error_status(err), "invalid_request_error",
                           upload_error_code(err), "unsupported upload");
}

/* POST /test/hook[?fail=N[&event=E]]: a webhook receiver. Records every
 * delivery (event, timestamp, signature, body); answers 500 to the first N
 * (of event E only, when given). */
static json_t *hooks;
static unsigned hooks_failed;

struct hook_body {
    char *data;
    size_t len;
};

static enum http_body_result hook_body(struct http_request *req, const char *data, size_t len)
{
    struct hook_body *b = req->user;
    b->data = xrealloc(b->data, b->len + len + 1);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return HTTP_BODY_OK;
}

static void hook_free(struct http_request *req)
{
    struct hook_body *b = req->user;
    free(b->data);
    free(b);
    req->user = NULL;
}

static void hook_end(struct http_request *req)
{
    struct hook_body *b = req->user;
    char buf[16], only[32];
    unsigned fail = http_request_query(req, "fail", buf, sizeof(buf)) ? (unsigned)atoi(buf) : 0;
    const char *ev = http_request_header(req, "x-steno-event");
    const char *ts = http_request_header(req, "x-steno-timestamp");
    const char *sig = http_request_header(req, "x-steno-signature");
    bool counted =
        !http_request_query(req, "event", only, sizeof(only)) || (ev && strcmp(ev, only) == 0);
    bool failing = counted && hooks_failed < fail; /* N failures in all, then success */
    hooks_failed += failing;
    json_array_append_new(hooks, json_pack("{s:s?,s:s?,s:s?,s:s,s:i}", "event", ev, "timestamp", ts,
                                           "signature", sig, "body", b->data ? b->data : "",
                                           "answered", failing ? 500 : 200));
    hook_free(req);
    req->on_abort = NULL;
    if (failing)
        http_respond_error(req, 500, "server_error", "test_failure", "failing on purpose");
    else
        http_respond(req, 200, "text/plain", "ok\n", 3);
}

static void hook(struct http_request *req)
{
    req->user = xcalloc(1, sizeof(struct hook_body));
    req->on_body = hook_body;
    req->on_body_end = hook_end;
    req->on_abort = hook_free;
}

/* GET /test/hooks: what /test/hook received, in order. */
static void hooks_list(struct http_request *req)
{
    http_respond_json(req, 200, json_incref(hooks));
}

static void setup(struct event_base *base, void *arg)
{
    loop = base;
    bio = bio_new(base);
    hooks = json_array();
}

static void teardown(void *arg)
{
    json_decref(hooks);
    bio_free(bio); /* runs the last callbacks while the loop still exists */
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    struct steno_config cfg = {0};
    bool help;
    char err[512];
    if (!steno_config_load(&cfg, argc, argv, &help, err, sizeof(err)) || help) {
        fprintf(stderr, "http-testd: %s\n", help ? "takes stenod's options" : err);
        return 2;
    }
    enum log_level level = LOG_INFO;
    if (!log_parse_level(cfg.log_level, &level) || !log_open(cfg.log_file))
        return 2;
    log_set_level(level);
    SSL_CTX *tls = NULL;
    if (cfg.tls_listen.n &&
        !(tls = tls_server_ctx_new(cfg.tls_cert, cfg.tls_key, err, sizeof(err)))) {
        fprintf(stderr, "http-testd: %s\n", err);
        return 1;
    }
    api_register_routes(&cfg);
    router_add(&(struct route){.method = "POST",
                               .pattern = "/test/upload",
                               .handler = upload,
                               .max_body = cfg.max_upload});
    router_add(&(struct route){.method = "GET", .pattern = "/test/deferred", .handler = deferred});
    router_add(&(struct route){
        .method = "POST", .pattern = "/test/store", .handler = store, .max_body = cfg.max_upload});
    router_add(&(struct route){
        .method = "POST", .pattern = "/test/hook", .handler = hook, .max_body = 1 << 20});
    router_add(&(struct route){.method = "GET", .pattern = "/test/hooks", .handler = hooks_list});
    data_dir = cfg.data_dir;
    if (!upload_prepare_dir(cfg.data_dir, err, sizeof(err))) {
        fprintf(stderr, "http-testd: %s\n", err);
        return 1;
    }
    router_add(&(struct route){.method = "GET", .pattern = "/test/stream", .handler = stream});
    http_metrics_init();
    if (!metrics_start(1))
        return 1;
    struct listen_addr addr;
    int fds[2];
    bool fd_tls[2] = {false, true};
    size_t nfds = 0;
    const char *specs[2] = {cfg.listen.n ? cfg.listen.items[0] : NULL,
                            cfg.tls_listen.n ? cfg.tls_listen.items[0] : NULL};
    for (int i = 0; i < 2; i++) {
        if (!specs[i])
            continue;
        if (!listen_parse(specs[i], &addr, err, sizeof(err)) ||
            (fds[nfds] = listen_open(&addr, false, 128, err, sizeof(err))) < 0) {
            fprintf(stderr, "http-testd: %s\n", err);
            return 1;
        }
        fd_tls[nfds++] = i == 1;
        char name[80];
        listen_format(&addr, name, sizeof(name));
        log_info("listening on %s", name);
    }
    struct worker_spec spec = {.cfg = &cfg,
                               .fds = fds,
                               .fd_tls = fd_tls,
                               .nfds = nfds,
                               .tls = tls,
                               .setup = setup,
                               .teardown = teardown};
    int rc = worker_run(&spec);
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    if (tls)
        SSL_CTX_free(tls);
    metrics_reset();
    steno_config_free(&cfg);
    log_close();
    return rc;
}
