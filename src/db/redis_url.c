/* redis_url.c — redis:// and unix: URLs into their parts. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"

/* %XX escapes in the user and password (a password may hold '@' or ':'). */
static bool unescape(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            c = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        if (o + 1 >= outlen)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

static bool parse_db(const char *s, int *db)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 0 || v > 1000000)
        return false;
    *db = (int)v;
    return true;
}

static bool fail(char *err, size_t errlen, const char *url, const char *why)
{
    snprintf(err, errlen, "bad Redis URL '%s': %s", url, why);
    return false;
}

static bool parse_unix(const char *url, const char *rest, struct redis_url *out, char *err,
                       size_t errlen)
{
    if (strncmp(rest, "//", 2) == 0)
        rest += 2; /* unix:///path */
    const char *q = strchr(rest, '?');
    size_t n = q ? (size_t)(q - rest) : strlen(rest);
    if (n == 0 || rest[0] != '/' || n >= sizeof(out->path))
        return fail(err, errlen, url, "needs an absolute socket path");
    memcpy(out->path, rest, n);
    out->path[n] = '\0';
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        char item[300];
        if (len >= sizeof(item))
            return fail(err, errlen, url, "query too long");
        memcpy(item, p, len);
        item[len] = '\0';
        if (strncmp(item, "db=", 3) == 0) {
            if (!parse_db(item + 3, &out->db))
                return fail(err, errlen, url, "db must be a number");
        } else if (strncmp(item, "password=", 9) == 0) {
            if (!unescape(item + 9, strlen(item + 9), out->password, sizeof(out->password)))
                return fail(err, errlen, url, "password too long");
        } else {
            return fail(err, errlen, url, "unknown query parameter");
        }
        p = amp ? amp + 1 : NULL;
    }
    return true;
}

bool redis_url_parse(const char *url, struct redis_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (!url || !*url)
        return fail(err, errlen, "", "empty");
    if (strncmp(url, "unix:", 5) == 0)
        return parse_unix(url, url + 5, out, err, errlen);
    if (strncmp(url, "redis://", 8) != 0)
        return fail(err, errlen, url, "must start with redis:// or unix:");
    const char *p = url + 8;
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *at = memrchr(p, '@', (size_t)(end - p));
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (!unescape(p, (size_t)(uend - p), out->user, sizeof(out->user)) ||
            (colon &&
             !unescape(colon + 1, (size_t)(at - colon - 1), out->password, sizeof(out->password))))
            return fail(err, errlen, url, "user or password too long");
        p = at + 1;
    }
    const char *hend;
    if (*p == '[') { /* [::1]:6379 */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return fail(err, errlen, url, "unclosed [");
        if ((size_t)(rb - p - 1) >= sizeof(out->host))
            return fail(err, errlen, url, "host too long");
        memcpy(out->host, p + 1, (size_t)(rb - p - 1));
        out->host[rb - p - 1] = '\0';
        hend = rb + 1;
    } else {
        hend = memchr(p, ':', (size_t)(end - p));
        if (!hend)
            hend = end;
        if ((size_t)(hend - p) >= sizeof(out->host))
            return fail(err, errlen, url, "host too long");
        memcpy(out->host, p, (size_t)(hend - p));
        out->host[hend - p] = '\0';
    }
    if (!out->host[0])
        return fail(err, errlen, url, "no host");
    if (hend < end) {
        if (*hend != ':')
            return fail(err, errlen, url, "junk after the host");
        char port[8];
        size_t n = (size_t)(end - hend - 1);
        if (n == 0 || n >= sizeof(port))
            return fail(err, errlen, url, "bad port");
        memcpy(port, hend + 1, n);
        port[n] = '\0';
        char *pe;
        long v = strtol(port, &pe, 10);
        if (*pe || v < 1 || v > 65535)
            return fail(err, errlen, url, "bad port");
        out->port = (int)v;
    }
    if (slash && slash[1] && !parse_db(slash + 1, &out->db))
        return fail(err, errlen, url, "the path must be a database number");
    return true;
}
