/* multipart_header.c — part header lines, Content-Disposition and the
 * boundary parameter of a Content-Type (RFC 7230 tokens and quoted strings). */
#include "multipart_internal.h"

#include <string.h>
#include <strings.h>

/* Output area for unescaped values, bounded by the caller's buffer. */
struct out {
    char *buf;
    size_t cap;
    size_t len;
};

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_bchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("'()+_,-./:=? ", c));
}

/* Field-value characters: VCHAR, obs-text, SP, HTAB. */
static bool is_vchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

bool multipart_boundary_valid(const char *b, size_t len)
{
    if (len < 1 || len > MULTIPART_BOUNDARY_MAX || b[len - 1] == ' ')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_bchar((unsigned char)b[i]))
            return false;
    return true;
}

static const char *skip_ows(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    return s;
}

static const char *skip_token(const char *s, const char *end)
{
    while (s < end && is_tchar((unsigned char)*s))
        s++;
    return s;
}

static bool put(struct out *o, char c)
{
    if (o->len + 1 >= o->cap)
        return false;
    o->buf[o->len++] = c;
    return true;
}

/* A token or quoted-string at *sp, unescaped and NUL-terminated into o. */
static bool parse_value(const char **sp, const char *end, struct out *o)
{
    const char *s = *sp;
    if (s < end && *s == '"') {
        for (s++; s < end && *s != '"'; s++) {
            if (*s == '\\' && ++s == end)
                return false;
            if (!is_vchar((unsigned char)*s) || !put(o, *s))
                return false;
        }
        if (s == end)
            return false;
        s++;
    } else {
        const char *t = skip_token(s, end);
        if (t == s)
            return false;
        for (; s < t; s++)
            if (!put(o, *s))
                return false;
    }
    *sp = s;
    return put(o, '\0');
}

/* Iterate `; name=value` parameters. Returns 1 with a parameter (its value at
 * *value, inside o), 0 at the end, -1 on a syntax error. */
static int next_param(const char **sp, const char *end, const char **name, size_t *nlen,
                      struct out *o, const char **value)
{
    const char *s = skip_ows(*sp, end);
    if (s == end)
        return 0;
    if (*s != ';')
        return -1;
    s = skip_ows(s + 1, end);
    const char *n = s;
    s = skip_token(s, end);
    if (s == n || s == end || *s != '=')
        return -1;
    *name = n;
    *nlen = (size_t)(s - n);
    s++;
    size_t at = o->len;
    if (!parse_value(&s, end, o))
        return -1;
    *value = o->buf + at;
    *sp = s;
    return 1;
}

static bool name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* form-data; name="..."[; filename="..."] — other parameters are ignored. */
static enum multipart_error parse_disposition(const char *s, const char *end, struct out *o,
                                              struct multipart_part *part)
{
    const char *t = skip_token(s, end);
    if (!name_is(s, (size_t)(t - s), "form-data"))
        return MULTIPART_ERR_DISPOSITION;
    const char *pname, *value;
    size_t plen;
    int r;
    while ((r = next_param(&t, end, &pname, &plen, o, &value)) == 1) {
        const char **slot = name_is(pname, plen, "name")       ? &part->name
                            : name_is(pname, plen, "filename") ? &part->filename
                                                               : NULL;
        if (slot && *slot)
            return MULTIPART_ERR_DISPOSITION;
        if (slot)
            *slot = value;
    }
    if (r < 0 || !part->name)
        return MULTIPART_ERR_DISPOSITION;
    return MULTIPART_OK;
}

static enum multipart_error copy_content_type(const char *s, const char *end, struct out *o,
                                              struct multipart_part *part)
{
    size_t at = o->len;
    for (; s < end; s++)
        if (!put(o, *s))
            return MULTIPART_ERR_HEADER_SIZE;
    if (!put(o, '\0'))
        return MULTIPART_ERR_HEADER_SIZE;
    part->content_type = o->buf + at;
    return MULTIPART_OK;
}

/* One header line (without its CRLF). */
static enum multipart_error parse_line(const char *s, const char *end, struct out *o,
                                       struct multipart_part *part)
{
    const char *colon = skip_token(s, end);
    if (colon == s || colon == end || *colon != ':')
        return MULTIPART_ERR_HEADER_SYNTAX;
    const char *v = skip_ows(colon + 1, end), *vend = end;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;
    for (const char *c = v; c < vend; c++)
        if (!is_vchar((unsigned char)*c))
            return MULTIPART_ERR_HEADER_SYNTAX;
    size_t nlen = (size_t)(colon - s);
    if (name_is(s, nlen, "content-disposition")) {
        if (part->name)
            return MULTIPART_ERR_HEADER_DUPLICATE;
        return parse_disposition(v, vend, o, part);
    }
    if (name_is(s, nlen, "content-type")) {
        if (part->content_type)
            return MULTIPART_ERR_HEADER_DUPLICATE;
        return copy_content_type(v, vend, o, part);
    }
    return MULTIPART_OK;
}

enum multipart_error multipart_parse_headers(const char *block, size_t len, unsigned max_headers,
                                             char *vbuf, size_t vcap, struct multipart_part *part)
{
    struct out o = {vbuf, vcap, 0};
    const char *s = block, *end = block + len;
    unsigned count = 0;
    part->name = part->filename = part->content_type = NULL;
    for (;;) {
        const char *eol = memchr(s, '\r', (size_t)(end - s));
        if (!eol || eol + 1 >= end || eol[1] != '\n')
            return MULTIPART_ERR_CRLF;
        if (eol == s)
            break;
        if (++count > max_headers)
            return MULTIPART_ERR_HEADER_COUNT;
        if (*s == ' ' || *s == '\t')
            return MULTIPART_ERR_HEADER_SYNTAX;
        enum multipart_error e = parse_line(s, eol, &o, part);
        if (e != MULTIPART_OK)
            return e;
        s = eol + 2;
    }
    return part->name ? MULTIPART_OK : MULTIPART_ERR_DISPOSITION;
}

bool multipart_boundary_from_content_type(const char *content_type, char *out, size_t outlen)
{
    if (!content_type || outlen == 0)
        return false;
    const char *end = content_type + strlen(content_type);
    const char *s = skip_ows(content_type, end);
    /* '/' is not a tchar: type and subtype are two tokens. */
    const char *t = skip_token(s, end);
    if (!name_is(s, (size_t)(t - s), "multipart") || t == end || *t != '/')
        return false;
    const char *sub = t + 1;
    t = skip_token(sub, end);
    if (!name_is(sub, (size_t)(t - sub), "form-data"))
        return false;
    char vals[512];
    struct out o = {vals, sizeof(vals), 0};
    const char *pname, *value, *boundary = NULL;
    size_t plen, mark = 0;
    int r;
    while ((r = next_param(&t, end, &pname, &plen, &o, &value)) == 1) {
        if (name_is(pname, plen, "boundary")) {
            if (boundary)
                return false;
            boundary = value;
            mark = o.len;
        }
        o.len = mark; /* other parameters' values are not kept */
    }
    size_t blen = boundary ? strlen(boundary) : 0;
    if (r < 0 || !boundary || !multipart_boundary_valid(boundary, blen) || blen + 1 > outlen)
        return false;
    memcpy(out, boundary, blen + 1);
    return true;
}
