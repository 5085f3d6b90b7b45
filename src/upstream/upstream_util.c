/* upstream_util.c — URL, backoff, Retry-After, multipart framing. */
#include "upstream_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

bool upstream_url_parse(const char *url, struct upstream_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *rest;
    if (strncasecmp(url, "https://", 8) == 0) {
        out->tls = true;
        out->port = 443;
        rest = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        out->port = 80;
        rest = url + 7;
    } else {
        snprintf(err, errlen, "upstream URL must start with https:// or http://: %s", url);
        return false;
    }
    const char *slash = strchr(rest, '/');
    size_t alen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (alen == 0 || alen >= sizeof(out->authority)) {
        snprintf(err, errlen, "upstream URL has no host: %s", url);
        return false;
    }
    memcpy(out->authority, rest, alen);
    const char *host = out->authority, *port = NULL;
    size_t hlen;
    if (host[0] == '[') {
        const char *rb = strchr(host, ']');
        if (!rb || (rb[1] && rb[1] != ':')) {
            snprintf(err, errlen, "bad IPv6 host in upstream URL: %s", url);
            return false;
        }
        host++;
        hlen = (size_t)(rb - host);
        port = rb[1] == ':' ? rb + 2 : NULL;
    } else {
        const char *colon = strchr(host, ':');
        hlen = colon ? (size_t)(colon - host) : alen;
        port = colon ? colon + 1 : NULL;
    }
    if (hlen == 0 || hlen >= sizeof(out->host)) {
        snprintf(err, errlen, "upstream URL has no host: %s", url);
        return false;
    }
    memcpy(out->host, host, hlen);
    if (port) {
        char *end;
        long p = strtol(port, &end, 10);
        if (!*port || *end || p < 1 || p > 65535) {
            snprintf(err, errlen, "bad port in upstream URL: %s", url);
            return false;
        }
        out->port = (int)p;
    }
    const char *path = slash ? slash : "";
    size_t plen = strlen(path);
    while (plen && path[plen - 1] == '/')
        plen--;
    if (plen >= sizeof(out->path) || memchr(path, '?', plen)) {
        snprintf(err, errlen, "bad path in upstream URL: %s", url);
        return false;
    }
    memcpy(out->path, path, plen);
    return true;
}

double upstream_backoff(unsigned attempt, double base, double cap, double rnd)
{
    double ceiling = base * pow(2.0, attempt > 30 ? 30 : attempt);
    if (ceiling > cap)
        ceiling = cap;
    return ceiling * rnd;
}

double upstream_retry_after(const char *value, double now)
{
    if (!value || !*value)
        return -1;
    char *end;
    double secs = strtod(value, &end);
    if (end != value && *end == '\0')
        return secs >= 0 ? secs : -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!p || *p)
        return -1;
    double at = (double)timegm(&tm);
    return at > now ? at - now : 0;
}

static void add_field(char **buf, size_t *len, const char *boundary, const char *name,
                      const char *value)
{
    char *s = xasprintf("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n",
                        boundary, name, value);
    size_t n = strlen(s);
    *buf = xrealloc(*buf, *len + n + 1);
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    free(s);
}

void upstream_form_build(const struct upstream_form *f, char *boundary, size_t boundary_len,
                         char **head, size_t *head_len, char **tail, size_t *tail_len)
{
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
        for (size_t i = 0; i < sizeof(rnd); i++)
            rnd[i] = (unsigned char)(rand() & 0xff);
    int n = snprintf(boundary, boundary_len, "steno-");
    for (size_t i = 0; i < sizeof(rnd) && n > 0 && (size_t)n + 2 < boundary_len; i++)
        n += snprintf(boundary + n, boundary_len - (size_t)n, "%02x", rnd[i]);
    char *h = NULL;
    size_t hl = 0;
    add_field(&h, &hl, boundary, "model", f->model);
    if (f->language && *f->language)
        add_field(&h, &hl, boundary, "language", f->language);
    if (f->prompt && *f->prompt)
        add_field(&h, &hl, boundary, "prompt", f->prompt);
    if (f->temperature >= 0) {
        char t[32];
        snprintf(t, sizeof(t), "%g", f->temperature);
        add_field(&h, &hl, boundary, "temperature", t);
    }
    add_field(&h, &hl, boundary, "response_format",
              f->response_format ? f->response_format : "verbose_json");
    if (f->word_timestamps) {
        add_field(&h, &hl, boundary, "timestamp_granularities[]", "word");
        add_field(&h, &hl, boundary, "timestamp_granularities[]", "segment");
    }
    char *file = xasprintf("--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                           "filename=\"%s\"\r\nContent-Type: %s\r\n\r\n",
                           boundary, f->filename ? f->filename : "audio",
                           f->content_type ? f->content_type : "application/octet-stream");
    size_t fl = strlen(file);
    h = xrealloc(h, hl + fl + 1);
    memcpy(h + hl, file, fl + 1);
    hl += fl;
    free(file);
    *head = h;
    *head_len = hl;
    *tail = xasprintf("\r\n--%s--\r\n", boundary);
    *tail_len = strlen(*tail);
}
