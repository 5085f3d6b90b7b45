/* multipart.c — the streaming multipart/form-data state machine.
 *
 * The body is framed by the delimiter CRLF "--" boundary. Inside a part the
 * data is scanned for it with memchr('\r'); bytes that cannot start a
 * delimiter go to the caller as pointers into its own buffer. A delimiter
 * prefix that reaches the end of a fed buffer is not copied: it equals
 * delim[0..match), so the parser only remembers `match` and, should the
 * prefix turn out to be data, delivers it from delim itself. The boundary has
 * no CR (RFC 2046), so after a mismatch no shorter prefix can be pending. */
#include "multipart.h"

#include <stdlib.h>
#include <string.h>

#include "multipart_internal.h"

enum state {
    S_PREAMBLE,    /* looking for the first delimiter */
    S_AFTER_DELIM, /* just after a delimiter: "--", padding or CRLF */
    S_CLOSE_DASH,  /* after "-" of a close delimiter */
    S_PADDING,     /* transport padding after a delimiter */
    S_DELIM_LF,    /* CR seen after a delimiter, LF expected */
    S_HEADERS,     /* collecting a part's header block */
    S_BODY,        /* part data */
    S_EPILOGUE,    /* after the close delimiter: ignored */
    S_ERROR,
};

struct multipart_parser {
    enum state state;
    enum multipart_error error;
    bool paused;
    struct multipart_limits limits;
    struct multipart_callbacks cb;
    void *user;
    char delim[4 + MULTIPART_BOUNDARY_MAX]; /* CRLF "--" boundary */
    size_t delim_len;
    size_t match; /* delimiter bytes matched so far */
    size_t pad;   /* padding bytes after the current delimiter */
    unsigned parts;
    struct multipart_part part;
    char *hbuf; /* the current part's header block */
    size_t hlen;
    char *vbuf; /* its unescaped values */
    size_t vcap;
};

struct multipart_parser *multipart_parser_new(const char *boundary,
                                              const struct multipart_limits *limits,
                                              const struct multipart_callbacks *callbacks,
                                              void *user)
{
    size_t blen = boundary ? strlen(boundary) : 0;
    if (!multipart_boundary_valid(boundary, blen))
        return NULL;
    struct multipart_parser *p = xcalloc(1, sizeof(*p));
    if (limits)
        p->limits = *limits;
    if (!p->limits.max_header_bytes)
        p->limits.max_header_bytes = MULTIPART_DEFAULT_HEADER_BYTES;
    if (!p->limits.max_headers)
        p->limits.max_headers = MULTIPART_DEFAULT_HEADERS;
    if (!p->limits.max_parts)
        p->limits.max_parts = MULTIPART_DEFAULT_PARTS;
    if (callbacks)
        p->cb = *callbacks;
    p->user = user;
    memcpy(p->delim, "\r\n--", 4);
    memcpy(p->delim + 4, boundary, blen);
    p->delim_len = 4 + blen;
    /* The first delimiter may open the body: act as if CRLF preceded it. */
    p->match = 2;
    p->hbuf = xmalloc(p->limits.max_header_bytes);
    p->vcap = p->limits.max_header_bytes + 4;
    p->vbuf = xmalloc(p->vcap);
    return p;
}

void multipart_parser_free(struct multipart_parser *p)
{
    if (!p)
        return;
    free(p->hbuf);
    free(p->vbuf);
    free(p);
}

static void fail(struct multipart_parser *p, enum multipart_error e)
{
    p->state = S_ERROR;
    p->error = e;
}

/* Apply a callback's answer; false when the parser must stop now. */
static bool obey(struct multipart_parser *p, int action)
{
    if (action == MULTIPART_CONTINUE)
        return true;
    if (action == MULTIPART_PAUSE)
        p->paused = true;
    else
        fail(p, MULTIPART_ERR_ABORTED);
    return false;
}

static bool emit(struct multipart_parser *p, const char *data, size_t len)
{
    if (len == 0 || !p->cb.on_part_data)
        return true;
    return obey(p, p->cb.on_part_data(p->user, data, len));
}

/* A full delimiter was just consumed. */
static bool end_part(struct multipart_parser *p)
{
    p->state = S_AFTER_DELIM;
    p->pad = 0;
    if (!p->cb.on_part_end)
        return true;
    return obey(p, p->cb.on_part_end(p->user));
}

/* Continue a delimiter prefix left pending by the previous feed. Returns the
 * bytes consumed; *more is false when the caller must return at once. */
static size_t resume_match(struct multipart_parser *p, const char *data, size_t len, bool *more)
{
    size_t i = 0;
    while (i < len && p->match < p->delim_len && data[i] == p->delim[p->match]) {
        p->match++;
        i++;
    }
    *more = false;
    if (p->match == p->delim_len) {
        p->match = 0;
        end_part(p);
        return i;
    }
    if (i == len)
        return i;
    size_t held = p->match;
    p->match = 0;
    *more = emit(p, p->delim, held);
    return i;
}

/* Part data: deliver spans of the caller's buffer up to the next delimiter. */
static size_t scan_body(struct multipart_parser *p, const char *data, size_t len)
{
    size_t i = 0;
    if (p->match > 0) {
        bool more;
        i = resume_match(p, data, len, &more);
        if (!more)
            return i;
    }
    size_t start = i;
    while (i < len) {
        const char *cr = memchr(data + i, '\r', len - i);
        if (!cr)
            break;
        size_t at = (size_t)(cr - data), m = 0;
        while (at + m < len && m < p->delim_len && data[at + m] == p->delim[m])
            m++;
        if (m == p->delim_len) {
            if (!emit(p, data + start, at - start))
                return at;
            end_part(p);
            return at + m;
        }
        if (at + m == len) {
            if (!emit(p, data + start, at - start))
                return at;
            p->match = m;
            return len;
        }
        i = at + 1;
    }
    emit(p, data + start, len - start);
    return len;
}

/* Preamble: like the body, but nothing is delivered. */
static size_t scan_preamble(struct multipart_parser *p, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (data[i] == p->delim[p->match]) {
            i++;
            if (++p->match == p->delim_len) {
                p->match = 0;
                p->state = S_AFTER_DELIM;
                p->pad = 0;
                return i;
            }
        } else if (p->match > 0) {
            p->match = 0; /* re-examine data[i] as a possible CR */
        } else {
            const char *cr = memchr(data + i, '\r', len - i);
            i = cr ? (size_t)(cr - data) : len;
        }
    }
    return len;
}

/* Header block collected: parse it and announce the part. */
static void begin_part(struct multipart_parser *p)
{
    enum multipart_error e = multipart_parse_headers(p->hbuf, p->hlen, p->limits.max_headers,
                                                     p->vbuf, p->vcap, &p->part);
    if (e != MULTIPART_OK) {
        fail(p, e);
        return;
    }
    p->part.index = p->parts - 1;
    p->state = S_BODY;
    p->match = 0;
    if (p->cb.on_part_begin)
        obey(p, p->cb.on_part_begin(p->user, &p->part));
}

static size_t collect_headers(struct multipart_parser *p, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (p->hlen > 0 && p->hbuf[p->hlen - 1] == '\r' && c != '\n') {
            fail(p, MULTIPART_ERR_CRLF);
            return i;
        }
        if (c == '\n' && (p->hlen == 0 || p->hbuf[p->hlen - 1] != '\r')) {
            fail(p, MULTIPART_ERR_CRLF);
            return i;
        }
        if (p->hlen == p->limits.max_header_bytes) {
            fail(p, MULTIPART_ERR_HEADER_SIZE);
            return i;
        }
        p->hbuf[p->hlen++] = c;
        bool blank =
            p->hlen == 2 || (p->hlen >= 4 && memcmp(p->hbuf + p->hlen - 4, "\r\n\r\n", 4) == 0);
        if (c == '\n' && blank) {
            begin_part(p);
            return i + 1;
        }
    }
    return len;
}

static void start_headers(struct multipart_parser *p)
{
    if (p->parts == p->limits.max_parts) {
        fail(p, MULTIPART_ERR_PART_COUNT);
        return;
    }
    p->parts++;
    p->hlen = 0;
    p->state = S_HEADERS;
}

/* One byte of the little grammar between a delimiter and the next part. */
static void after_delimiter(struct multipart_parser *p, char c)
{
    switch (p->state) {
    case S_AFTER_DELIM:
    case S_PADDING:
        if (c == '\r')
            p->state = S_DELIM_LF;
        else if (c == '-' && p->state == S_AFTER_DELIM)
            p->state = S_CLOSE_DASH;
        else if ((c == ' ' || c == '\t') && ++p->pad <= p->limits.max_header_bytes)
            p->state = S_PADDING;
        else if (c == ' ' || c == '\t')
            fail(p, MULTIPART_ERR_HEADER_SIZE);
        else
            fail(p, c == '\n' ? MULTIPART_ERR_CRLF : MULTIPART_ERR_DELIMITER);
        break;
    case S_CLOSE_DASH:
        if (c != '-')
            fail(p, MULTIPART_ERR_DELIMITER);
        else if (p->parts == 0)
            fail(p, MULTIPART_ERR_NO_PARTS);
        else
            p->state = S_EPILOGUE;
        break;
    default: /* S_DELIM_LF */
        if (c == '\n')
            start_headers(p);
        else
            fail(p, MULTIPART_ERR_CRLF);
        break;
    }
}

static size_t step(struct multipart_parser *p, const char *data, size_t len)
{
    switch (p->state) {
    case S_PREAMBLE:
        return scan_preamble(p, data, len);
    case S_HEADERS:
        return collect_headers(p, data, len);
    case S_BODY:
        return scan_body(p, data, len);
    case S_EPILOGUE:
        return len;
    case S_ERROR:
        return 0;
    default:
        after_delimiter(p, data[0]);
        return p->state == S_ERROR ? 0 : 1;
    }
}

size_t multipart_parser_feed(struct multipart_parser *p, const char *data, size_t len)
{
    size_t pos = 0;
    p->paused = false;
    while (pos < len && !p->paused && p->state != S_ERROR)
        pos += step(p, data + pos, len - pos);
    return pos;
}

enum multipart_error multipart_parser_finish(struct multipart_parser *p)
{
    if (p->state == S_ERROR)
        return p->error;
    if (p->state != S_EPILOGUE)
        fail(p, MULTIPART_ERR_TRUNCATED);
    return p->error;
}

enum multipart_error multipart_parser_error(const struct multipart_parser *p)
{
    return p->error;
}

bool multipart_parser_paused(const struct multipart_parser *p)
{
    return p->paused;
}

bool multipart_parser_done(const struct multipart_parser *p)
{
    return p->state == S_EPILOGUE;
}

unsigned multipart_parser_parts(const struct multipart_parser *p)
{
    return p->parts;
}

const char *multipart_strerror(enum multipart_error e)
{
    switch (e) {
    case MULTIPART_OK:
        return "no error";
    case MULTIPART_ERR_DELIMITER:
        return "unexpected characters after a multipart boundary";
    case MULTIPART_ERR_CRLF:
        return "multipart line not terminated by CRLF";
    case MULTIPART_ERR_HEADER_SIZE:
        return "multipart part headers too large";
    case MULTIPART_ERR_HEADER_COUNT:
        return "too many headers in a multipart part";
    case MULTIPART_ERR_PART_COUNT:
        return "too many multipart parts";
    case MULTIPART_ERR_HEADER_SYNTAX:
        return "malformed multipart part header";
    case MULTIPART_ERR_HEADER_DUPLICATE:
        return "duplicate Content-Disposition or Content-Type in a multipart part";
    case MULTIPART_ERR_DISPOSITION:
        return "multipart part without a valid form-data Content-Disposition and name";
    case MULTIPART_ERR_NO_PARTS:
        return "multipart body has no parts";
    case MULTIPART_ERR_TRUNCATED:
        return "multipart body ended before its closing boundary";
    case MULTIPART_ERR_ABORTED:
        return "multipart parsing aborted";
    }
    return "unknown multipart error";
}
