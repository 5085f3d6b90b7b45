/* http1_parser.c — strict incremental HTTP/1.1 request parser.
 *
 * One byte-driven state machine for the head (request line, headers,
 * trailers) writing into a fixed arena, and span-based handling of body bytes
 * so the body is never copied. See http1_parser.h for the accepted grammar. */
#include "http1_parser.h"
#include "hex.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum state {
    S_START,    /* before the request line; tolerate one leading CRLF */
    S_START_LF, /* after a leading CR */
    S_METHOD,
    S_TARGET,
    S_VERSION,
    S_RL_LF,       /* request line CR seen */
    S_FIELD_START, /* at the start of a header line */
    S_FIELD_NAME,
    S_FIELD_VALUE_WS, /* after ':' skipping OWS */
    S_FIELD_VALUE,
    S_FIELD_LF, /* header line CR seen */
    S_HEAD_LF,  /* empty line CR seen */
    S_BODY,     /* Content-Length body */
    S_CHUNK_SIZE,
    S_CHUNK_EXT,
    S_CHUNK_SIZE_LF,
    S_CHUNK_DATA,
    S_CHUNK_DATA_CR,
    S_CHUNK_DATA_LF,
    S_TRAILER_START,
    S_TRAILER_LINE,
    S_TRAILER_LF,
    S_TRAILER_END_LF,
    S_DONE,
    S_ERROR,
};

#define MAX_METHOD       16
#define MAX_CHUNK_EXT    256
#define MAX_LEADING_CRLF 2

struct h1_parser {
    struct h1_limits limits;
    enum state state;
    char *arena;
    size_t used;       /* bytes of arena in use */
    size_t tok_start;  /* arena offset of the token being built */
    size_t head_bytes; /* raw bytes of the head seen, incl. CRLFs (vs max_header_bytes) */
    int leading_crlf;
    struct h1_header *headers;
    size_t nheaders;
    size_t name_off; /* arena offset of the current header name */
    struct h1_request req;
    bool started;
    uint64_t max_body;
    uint64_t body_seen;
    uint64_t remaining; /* left in the Content-Length body or the current chunk */
    int chunk_digits;
    size_t ext_len;
    int cl_count;
    int te_count;
    int host_count;
    int error_status;
    const char *error_msg;
};

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_vchar_or_obs(unsigned char c)
{
    return (c >= 0x21 && c != 0x7f);
}

struct h1_parser *h1_parser_new(const struct h1_limits *limits)
{
    struct h1_parser *p = xcalloc(1, sizeof(*p));
    p->limits = *limits;
    if (p->limits.max_headers == 0)
        p->limits.max_headers = 1;
    h1_parser_reset(p); /* the head's buffers come with the first byte of a head */
    return p;
}

/* The head's buffers, allocated when a head starts (a connection that
 * holds a long response, like an event stream, gives them back with
 * h1_parser_release_head). */
static void need_buffers(struct h1_parser *p)
{
    if (!p->arena)
        p->arena = xmalloc(p->limits.max_header_bytes + 1);
    if (!p->headers)
        p->headers = xmalloc(p->limits.max_headers * sizeof(*p->headers));
}

void h1_parser_release_head(struct h1_parser *p)
{
    free(p->arena);
    free(p->headers);
    p->arena = NULL;
    p->headers = NULL;
    p->req.method = p->req.target = NULL;
    p->req.headers = NULL;
    p->req.nheaders = 0;
    p->nheaders = 0;
    p->used = 0;
}

void h1_parser_free(struct h1_parser *p)
{
    if (!p)
        return;
    free(p->arena);
    free(p->headers);
    free(p);
}

void h1_parser_reset(struct h1_parser *p)
{
    struct h1_limits limits = p->limits;
    char *arena = p->arena;
    struct h1_header *headers = p->headers;
    memset(p, 0, sizeof(*p));
    p->limits = limits;
    p->arena = arena;
    p->headers = headers;
    p->state = S_START;
    p->req.content_length = -1;
}

void h1_parser_set_max_body(struct h1_parser *p, uint64_t max_body)
{
    p->max_body = max_body;
}

const struct h1_request *h1_parser_request(const struct h1_parser *p)
{
    return &p->req;
}

int h1_parser_error_status(const struct h1_parser *p)
{
    return p->error_status;
}

const char *h1_parser_error_message(const struct h1_parser *p)
{
    return p->error_msg ? p->error_msg : "";
}

bool h1_parser_started(const struct h1_parser *p)
{
    return p->started;
}

bool h1_parser_in_body(const struct h1_parser *p)
{
    return p->state >= S_BODY && p->state < S_DONE;
}

const char *h1_request_header(const struct h1_request *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static enum h1_event fail(struct h1_parser *p, int status, const char *msg)
{
    p->state = S_ERROR;
    p->error_status = status;
    p->error_msg = msg;
    return H1_ERROR;
}

/* Append one byte to the arena; false when the head is over its limit. */
static bool put(struct h1_parser *p, char c)
{
    if (p->used >= p->limits.max_header_bytes)
        return false;
    need_buffers(p);
    p->arena[p->used++] = c;
    return true;
}

static bool end_token(struct h1_parser *p)
{
    return put(p, '\0');
}

/* Comma-separated token list membership, case-insensitive ("close, TE"). */
static bool has_token(const char *list, const char *tok)
{
    size_t n = strlen(tok);
    const char *s = list;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - s) == n && strncasecmp(s, tok, n) == 0)
            return true;
        s = e;
    }
    return false;
}

static bool parse_content_length(const char *v, int64_t *out)
{
    if (!*v)
        return false;
    uint64_t n = 0;
    for (const char *s = v; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (n > (uint64_t)(INT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(*s - '0');
    }
    *out = (int64_t)n;
    return true;
}

/* Record the header just completed and apply the framing rules it affects. */
static enum h1_event finish_field(struct h1_parser *p)
{
    /* trim trailing OWS from the value */
    size_t end = p->used;
    while (end > p->tok_start && (p->arena[end - 1] == ' ' || p->arena[end - 1] == '\t'))
        end--;
    p->used = end;
    if (!end_token(p))
        return fail(p, 431, "request header fields too large");
    if (p->nheaders >= p->limits.max_headers)
        return fail(p, 431, "too many request header fields");
    need_buffers(p);
    struct h1_header *h = &p->headers[p->nheaders++];
    h->name = p->arena + p->name_off;
    h->value = p->arena + p->tok_start;
    if (strcmp(h->name, "content-length") == 0) {
        if (++p->cl_count > 1)
            return fail(p, 400, "duplicate Content-Length");
        if (!parse_content_length(h->value, &p->req.content_length))
            return fail(p, 400, "invalid Content-Length");
    } else if (strcmp(h->name, "transfer-encoding") == 0) {
        if (++p->te_count > 1)
            return fail(p, 400, "duplicate Transfer-Encoding");
        if (strcasecmp(h->value, "chunked") != 0)
            return fail(p, 501, "only the chunked transfer coding is implemented");
        p->req.chunked = true;
    } else if (strcmp(h->name, "host") == 0) {
        p->host_count++;
    }
    return H1_NEED_MORE;
}

/* Validate the whole head once the empty line arrives. */
static enum h1_event finish_head(struct h1_parser *p)
{
    struct h1_request *r = &p->req;
    r->headers = p->headers;
    r->nheaders = p->nheaders;
    if (r->chunked && p->cl_count)
        return fail(p, 400, "both Content-Length and Transfer-Encoding");
    if (r->chunked && r->version_minor == 0)
        return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (r->version_minor == 1 && p->host_count != 1)
        return fail(p, 400, p->host_count ? "duplicate Host" : "missing Host header");
    const char *conn = h1_request_header(r, "connection");
    if (r->version_minor == 1)
        r->keep_alive = !(conn && has_token(conn, "close"));
    else
        r->keep_alive = conn && has_token(conn, "keep-alive");
    const char *expect = h1_request_header(r, "expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0)
            return fail(p, 417, "unsupported Expect value");
        r->expect_continue = r->version_minor == 1;
    }
    if (r->chunked) {
        p->state = S_CHUNK_SIZE;
    } else if (r->content_length > 0) {
        p->remaining = (uint64_t)r->content_length;
        p->state = S_BODY;
    } else {
        p->state = S_DONE;
    }
    return H1_HEADERS;
}

/* Reduce an absolute-form target ("http://host/x?y") to its path. */
static bool normalize_target(struct h1_parser *p)
{
    char *t = p->arena + p->tok_start;
    if (t[0] == '/' || (t[0] == '*' && t[1] == '\0'))
        return true;
    const char *rest = NULL;
    if (strncasecmp(t, "http://", 7) == 0)
        rest = t + 7;
    else if (strncasecmp(t, "https://", 8) == 0)
        rest = t + 8;
    if (!rest || !*rest || *rest == '/')
        return false;
    const char *path = strpbrk(rest, "/?");
    p->req.target = path && *path == '/' ? path : "/";
    return true;
}

static enum h1_event on_version(struct h1_parser *p)
{
    const char *v = p->arena + p->tok_start;
    if (strlen(v) != 8 || strncmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return fail(p, 400, "malformed HTTP version");
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return fail(p, 505, "HTTP version not supported");
    p->req.version_minor = v[7] - '0';
    return H1_NEED_MORE;
}

/* One byte of the head (request line, headers). */
static enum h1_event head_byte(struct h1_parser *p, unsigned char c)
{
    if (++p->head_bytes > p->limits.max_header_bytes + 2) {
        if (p->state == S_TARGET)
            return fail(p, 414, "request URI too long");
        return fail(p, 431, "request header fields too large");
    }
    switch (p->state) {
    case S_START:
        if (c == '\r' && p->leading_crlf < MAX_LEADING_CRLF) {
            p->state = S_START_LF;
            return H1_NEED_MORE;
        }
        if (!is_tchar(c))
            return fail(p, 400, "malformed request line");
        p->started = true;
        p->tok_start = p->used;
        p->state = S_METHOD;
        /* fall through */
    case S_METHOD:
        if (c == ' ') {
            if (!end_token(p))
                return fail(p, 431, "request header fields too large");
            p->req.method = p->arena + p->tok_start;
            p->tok_start = p->used;
            p->state = S_TARGET;
            return H1_NEED_MORE;
        }
        if (!is_tchar(c))
            return fail(p, 400, "malformed method");
        if (p->used - p->tok_start >= MAX_METHOD)
            return fail(p, 501, "method not implemented");
        return put(p, (char)c) ? H1_NEED_MORE : fail(p, 431, "request header fields too large");
    case S_START_LF:
        if (c != '\n')
            return fail(p, 400, "malformed request line");
        p->leading_crlf++;
        p->state = S_START;
        return H1_NEED_MORE;
    case S_TARGET:
        if (c == ' ') {
            if (p->used == p->tok_start)
                return fail(p, 400, "empty request target");
            if (!end_token(p))
                return fail(p, 414, "request URI too long");
            p->req.target = p->arena + p->tok_start;
            if (!normalize_target(p))
                return fail(p, 400, "malformed request target");
            p->tok_start = p->used;
            p->state = S_VERSION;
            return H1_NEED_MORE;
        }
        if (!is_vchar_or_obs(c) || c >= 0x80)
            return fail(p, 400, "invalid character in request target");
        if (p->used - p->tok_start >= p->limits.max_uri)
            return fail(p, 414, "request URI too long");
        return put(p, (char)c) ? H1_NEED_MORE : fail(p, 414, "request URI too long");
    case S_VERSION:
        if (c == '\r') {
            if (!end_token(p))
                return fail(p, 431, "request header fields too large");
            enum h1_event ev = on_version(p);
            if (ev == H1_ERROR)
                return ev;
            p->state = S_RL_LF;
            return H1_NEED_MORE;
        }
        if (c == ' ' || c == '\n' || p->used - p->tok_start >= 8 || !is_vchar_or_obs(c))
            return fail(p, 400, "malformed request line");
        return put(p, (char)c) ? H1_NEED_MORE : fail(p, 431, "request header fields too large");
    case S_RL_LF:
    case S_FIELD_LF:
        if (c != '\n')
            return fail(p, 400, "bare CR in request head");
        if (p->state == S_FIELD_LF) {
            enum h1_event ev = finish_field(p);
            if (ev == H1_ERROR)
                return ev;
        }
        p->state = S_FIELD_START;
        return H1_NEED_MORE;
    case S_FIELD_START:
        if (c == '\r') {
            p->state = S_HEAD_LF;
            return H1_NEED_MORE;
        }
        if (c == ' ' || c == '\t')
            return fail(p, 400, "obsolete line folding");
        if (!is_tchar(c))
            return fail(p, 400, "malformed header field name");
        p->name_off = p->used;
        p->state = S_FIELD_NAME;
        /* fall through */
    case S_FIELD_NAME:
        if (c == ':') {
            if (!end_token(p))
                return fail(p, 431, "request header fields too large");
            p->tok_start = p->used;
            p->state = S_FIELD_VALUE_WS;
            return H1_NEED_MORE;
        }
        if (!is_tchar(c))
            return fail(p, 400, "malformed header field name");
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        return put(p, (char)c) ? H1_NEED_MORE : fail(p, 431, "request header fields too large");
    case S_FIELD_VALUE_WS:
        if (c == ' ' || c == '\t')
            return H1_NEED_MORE;
        p->state = S_FIELD_VALUE;
        /* fall through */
    case S_FIELD_VALUE:
        if (c == '\r') {
            p->state = S_FIELD_LF;
            return H1_NEED_MORE;
        }
        if (c != '\t' && (c < 0x20 || c == 0x7f))
            return fail(p, 400, "invalid character in header field value");
        return put(p, (char)c) ? H1_NEED_MORE : fail(p, 431, "request header fields too large");
    case S_HEAD_LF:
        if (c != '\n')
            return fail(p, 400, "bare CR in request head");
        return finish_head(p);
    default:
        return fail(p, 400, "parser state error");
    }
}

/* One byte of chunked framing (sizes, extensions, CRLFs, trailers). */
static enum h1_event chunk_byte(struct h1_parser *p, unsigned char c)
{
    switch (p->state) {
    case S_CHUNK_SIZE: {
        int v = hex_value(c);
        if (v >= 0) {
            if (++p->chunk_digits > 15)
                return fail(p, 400, "chunk size too large");
            p->remaining = p->remaining * 16 + (uint64_t)v;
            return H1_NEED_MORE;
        }
        if (p->chunk_digits == 0)
            return fail(p, 400, "malformed chunk size");
        if (c == ';') {
            p->ext_len = 0;
            p->state = S_CHUNK_EXT;
            return H1_NEED_MORE;
        }
        if (c == '\r') {
            p->state = S_CHUNK_SIZE_LF;
            return H1_NEED_MORE;
        }
        return fail(p, 400, "malformed chunk size");
    }
    case S_CHUNK_EXT:
        if (c == '\r') {
            p->state = S_CHUNK_SIZE_LF;
            return H1_NEED_MORE;
        }
        if (++p->ext_len > MAX_CHUNK_EXT || (c != '\t' && (c < 0x20 || c == 0x7f)))
            return fail(p, 400, "malformed chunk extension");
        return H1_NEED_MORE;
    case S_CHUNK_SIZE_LF:
        if (c != '\n')
            return fail(p, 400, "malformed chunk size line");
        if (p->body_seen + p->remaining > p->max_body)
            return fail(p, 413, "request body too large");
        p->chunk_digits = 0;
        p->state = p->remaining ? S_CHUNK_DATA : S_TRAILER_START;
        return H1_NEED_MORE;
    case S_CHUNK_DATA_CR:
        if (c != '\r')
            return fail(p, 400, "missing CRLF after chunk data");
        p->state = S_CHUNK_DATA_LF;
        return H1_NEED_MORE;
    case S_CHUNK_DATA_LF:
        if (c != '\n')
            return fail(p, 400, "missing CRLF after chunk data");
        p->state = S_CHUNK_SIZE;
        return H1_NEED_MORE;
    case S_TRAILER_START:
        if (c == '\r') {
            p->state = S_TRAILER_END_LF;
            return H1_NEED_MORE;
        }
        if (!is_tchar(c))
            return fail(p, 400, "malformed trailer field");
        p->state = S_TRAILER_LINE;
        /* fall through */
    case S_TRAILER_LINE:
        /* Trailers are validated loosely and discarded, within the head budget. */
        if (++p->head_bytes > p->limits.max_header_bytes)
            return fail(p, 431, "trailer fields too large");
        if (c == '\r') {
            p->state = S_TRAILER_LF;
            return H1_NEED_MORE;
        }
        if (c != '\t' && (c < 0x20 || c == 0x7f))
            return fail(p, 400, "invalid character in trailer field");
        return H1_NEED_MORE;
    case S_TRAILER_LF:
        if (c != '\n')
            return fail(p, 400, "bare CR in trailer");
        p->state = S_TRAILER_START;
        return H1_NEED_MORE;
    case S_TRAILER_END_LF:
        if (c != '\n')
            return fail(p, 400, "bare CR in trailer");
        p->state = S_DONE;
        return H1_DONE;
    default:
        return fail(p, 400, "parser state error");
    }
}

/* Hand out the next body span (Content-Length body or chunk data). */
static enum h1_event body_span(struct h1_parser *p, const char *data, size_t len, size_t *used,
                               const char **body, size_t *body_len)
{
    if (p->state == S_BODY && p->body_seen == 0 && p->remaining > p->max_body)
        return fail(p, 413, "request body too large");
    size_t n = len < p->remaining ? len : (size_t)p->remaining;
    *body = data;
    *body_len = n;
    *used = n;
    p->remaining -= n;
    p->body_seen += n;
    if (p->remaining == 0)
        p->state = p->state == S_BODY ? S_DONE : S_CHUNK_DATA_CR;
    return H1_BODY;
}

enum h1_event h1_parser_run(struct h1_parser *p, const char *data, size_t len, size_t *consumed,
                            const char **body, size_t *body_len)
{
    size_t i = 0;
    *consumed = 0;
    *body = NULL;
    *body_len = 0;
    if (p->state == S_ERROR)
        return H1_ERROR;
    while (i < len || p->state == S_DONE) {
        if (p->state == S_DONE) {
            *consumed = i;
            return H1_DONE;
        }
        if (p->state == S_BODY || p->state == S_CHUNK_DATA) {
            size_t used = 0;
            enum h1_event ev = body_span(p, data + i, len - i, &used, body, body_len);
            *consumed = i + used;
            return ev;
        }
        unsigned char c = (unsigned char)data[i++];
        enum h1_event ev = p->state < S_BODY ? head_byte(p, c) : chunk_byte(p, c);
        if (ev != H1_NEED_MORE) {
            *consumed = i;
            /* H1_DONE from the trailer path leaves state S_DONE; report it once. */
            if (ev == H1_DONE)
                p->state = S_DONE;
            return ev;
        }
    }
    *consumed = i;
    return H1_NEED_MORE;
}
