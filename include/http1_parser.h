/* http1_parser.h — strict, incremental HTTP/1.1 request parser (pull style).
 *
 * The caller feeds whatever bytes it has; the parser returns one event at a
 * time and says how many bytes it consumed. Request-line and header bytes are
 * copied into a fixed arena (bounded by max_header_bytes); body bytes are never
 * copied: a BODY event points into the caller's buffer. Input may be split at
 * any byte offset, one byte at a time included.
 *
 * Strictness (RFC 9112): CRLF line endings only, no obs-fold, no whitespace
 * before the colon, token-only method and header names, no CTLs in values,
 * Content-Length digits only and at most once, Transfer-Encoding only
 * "chunked" (501 otherwise) and never together with Content-Length (request
 * smuggling), Host required exactly once in HTTP/1.1. */
#ifndef STENO_HTTP1_PARSER_H
#define STENO_HTTP1_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

struct h1_limits {
    size_t max_header_bytes; /* request line + headers (+ trailers); over → 431 (414 for the URI) */
    size_t max_headers;      /* header field count; over → 431 */
    size_t max_uri;          /* request-target length; over → 414 */
};

struct h1_header {
    const char *name;  /* lower-cased, NUL-terminated, inside the parser arena */
    const char *value; /* surrounding whitespace trimmed */
};

enum h1_event {
    H1_NEED_MORE = 0, /* all input consumed, feed more */
    H1_HEADERS,       /* request line and headers parsed: read the request fields */
    H1_BODY,          /* *body / *body_len point into the input; may repeat */
    H1_DONE,          /* message complete; h1_parser_reset() before the next one */
    H1_ERROR,         /* see status/error; the connection must close */
};

struct h1_request {
    const char *method;
    const char *target; /* as sent (origin-form, or absolute-form reduced to its path) */
    int version_minor;  /* 0 or 1 */
    struct h1_header *headers;
    size_t nheaders;
    int64_t content_length; /* -1 when the body is chunked or absent */
    bool chunked;
    bool keep_alive;      /* after the version default and Connection tokens */
    bool expect_continue; /* "Expect: 100-continue" */
};

struct h1_parser;

/* Allocates a parser with its arena; never fails (aborts on OOM). */
struct h1_parser *h1_parser_new(const struct h1_limits *limits);
void h1_parser_free(struct h1_parser *p);
/* Ready for the next request on the same connection. */
void h1_parser_reset(struct h1_parser *p);
/* Free the head's buffers (the strings of the last h1_parser_request()
 * become invalid) once the head was consumed and no trailers can follow;
 * the next head allocates them again. For connections that then hold a
 * long response: ~17 kB less each. */
void h1_parser_release_head(struct h1_parser *p);

/* Body limit for the current request, set between H1_HEADERS and the first
 * body byte (the router knows it per route). Over it → 413. 0 = no body. */
void h1_parser_set_max_body(struct h1_parser *p, uint64_t max_body);

/* Parse from data[0..len). Returns the next event; *consumed is how many bytes
 * were used (always ≤ len; the rest must be fed again). For H1_BODY the span
 * is in (*body, *body_len) and is included in *consumed. */
enum h1_event h1_parser_run(struct h1_parser *p, const char *data, size_t len, size_t *consumed,
                            const char **body, size_t *body_len);

/* Valid after H1_HEADERS until reset. */
const struct h1_request *h1_parser_request(const struct h1_parser *p);
/* First value of header `name` (lower-case), or NULL. */
const char *h1_request_header(const struct h1_request *r, const char *name);

/* After H1_ERROR: the status to answer (400, 413, 414, 431, 501, 505) and why. */
int h1_parser_error_status(const struct h1_parser *p);
const char *h1_parser_error_message(const struct h1_parser *p);

/* True once any byte of the current request has been seen (for timeouts). */
bool h1_parser_started(const struct h1_parser *p);
/* True while the body is being read (after H1_HEADERS, before H1_DONE). */
bool h1_parser_in_body(const struct h1_parser *p);

#endif
