/* router.c — a small table of routes matched segment by segment. */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct route routes[ROUTER_MAX_ROUTES];
static size_t nroutes;

static bool pattern_valid(const char *p)
{
    if (p[0] != '/')
        return false;
    unsigned params = 0;
    for (const char *s = p; *s; s++) {
        if (*s == '{') {
            const char *e = strchr(s, '}');
            if (!e || e == s + 1 || s[-1] != '/' || (e[1] && e[1] != '/'))
                return false;
            if (++params > HTTP_MAX_PARAMS)
                return false;
            s = e;
        }
    }
    return true;
}

const struct route *router_add(const struct route *r)
{
    if (nroutes >= ROUTER_MAX_ROUTES || !pattern_valid(r->pattern)) {
        fprintf(stderr, "router_add: bad or too many routes (%s)\n", r->pattern);
        abort();
    }
    routes[nroutes] = *r;
    routes[nroutes].index = (unsigned)nroutes;
    return &routes[nroutes++];
}

size_t router_count(void)
{
    return nroutes;
}

const struct route *router_get(size_t i)
{
    return i < nroutes ? &routes[i] : NULL;
}

void router_reset(void)
{
    nroutes = 0;
}

/* Match path against pattern; on success record {params} into req. */
static bool match_path(const char *pattern, const char *path, struct http_request *req)
{
    const char *p = pattern, *s = path;
    size_t nparams = 0;
    const char *names[HTTP_MAX_PARAMS];
    const char *starts[HTTP_MAX_PARAMS];
    size_t lens[HTTP_MAX_PARAMS];
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *se = strchr(s, '/');
            if (!se)
                se = s + strlen(s);
            if (se == s)
                return false;
            names[nparams] = p + 1;
            starts[nparams] = s;
            lens[nparams++] = (size_t)(se - s);
            p = pe + 1;
            s = se;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (*p || *s)
        return false;
    if (req) {
        for (size_t i = 0; i < req->nparams; i++)
            free(req->param_values[i]);
        req->nparams = nparams;
        for (size_t i = 0; i < nparams; i++) {
            req->param_names[i] = names[i]; /* "id}…": compared up to '}' */
            req->param_values[i] = xstrndup(starts[i], lens[i]);
        }
    }
    return true;
}

enum router_result router_match(struct http_request *req, char *allow, size_t allow_len)
{
    bool path_seen = false;
    size_t alen = 0;
    if (allow_len)
        allow[0] = '\0';
    for (size_t i = 0; i < nroutes; i++) {
        const struct route *r = &routes[i];
        if (!match_path(r->pattern, req->path, NULL))
            continue;
        bool same = strcmp(r->method, req->method) == 0 ||
                    (strcmp(r->method, "GET") == 0 && strcmp(req->method, "HEAD") == 0);
        if (same) {
            match_path(r->pattern, req->path, req);
            req->route = r;
            return ROUTER_FOUND;
        }
        path_seen = true;
        int n = snprintf(allow + alen, allow_len > alen ? allow_len - alen : 0, "%s%s",
                         alen ? ", " : "", r->method);
        if (n > 0 && alen + (size_t)n < allow_len)
            alen += (size_t)n;
    }
    return path_seen ? ROUTER_METHOD_NOT_ALLOWED : ROUTER_NOT_FOUND;
}
