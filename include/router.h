/* router.h — method + path-pattern routing with {param} segments.
 *
 * Routes are registered once at start-up (before workers fork, so every
 * process has the same route indexes — metrics rely on that). Patterns are
 * literal segments and "{name}" segments matching one non-empty segment:
 *   "/v1/jobs/{id}/events". */
#ifndef STENO_ROUTER_H
#define STENO_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct route {
    const char *method;  /* "GET", "POST", … */
    const char *pattern; /* also the metrics label */
    http_req_fn handler;
    uint64_t max_body; /* request body limit in bytes; 0 = no body accepted */
    unsigned index;    /* assigned by router_add */
};

#define ROUTER_MAX_ROUTES 64
/* Index used in metrics for requests no route matched. */
#define ROUTER_UNMATCHED ROUTER_MAX_ROUTES

/* Copies *r (the strings must outlive the process: literals). Aborts when the
 * table is full or the pattern is malformed — both are programming errors. */
const struct route *router_add(const struct route *r);
size_t router_count(void);
const struct route *router_get(size_t i);

enum router_result { ROUTER_FOUND, ROUTER_NOT_FOUND, ROUTER_METHOD_NOT_ALLOWED };

/* Match and, on success, fill req->route and its path parameters. On
 * ROUTER_METHOD_NOT_ALLOWED, `allow` receives the Allow header value. */
enum router_result router_match(struct http_request *req, char *allow, size_t allow_len);

/* Forget every route (tests). */
void router_reset(void);

#endif
