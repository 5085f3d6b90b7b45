/* test_http1_parser.c — the HTTP/1.1 codec: valid and malformed requests,
 * each fed whole, one byte at a time, and split in two at every offset. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1_parser.h"
#include "../check_run.h"

struct outcome {
    int requests; /* H1_DONE count */
    int status;   /* error status, 0 when none */
    char method[32];
    char target[256];
    int version_minor;
    size_t nheaders;
    bool keep_alive;
    bool chunked;
    bool expect_continue;
    long long content_length;
    char body[4096];
    size_t body_len;
    char host[64];
};

static const struct h1_limits limits = {
    .max_header_bytes = 1024, .max_headers = 16, .max_uri = 200};

/* Feed `in` cut into pieces at the given offsets (ascending, excluding 0 and
 * len) exactly as a connection would: unconsumed bytes stay pending. */
static void run_cuts(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                     uint64_t max_body, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    struct h1_parser *p = h1_parser_new(&limits);
    h1_parser_set_max_body(p, max_body);
    char *pending = malloc(len + 1);
    size_t plen = 0, start = 0;
    for (size_t seg = 0; seg <= ncuts && !o->status; seg++) {
        size_t end = seg < ncuts ? cuts[seg] : len;
        memcpy(pending + plen, in + start, end - start);
        plen += end - start;
        start = end;
        for (;;) {
            size_t used, blen;
            const char *body;
            enum h1_event ev = h1_parser_run(p, pending, plen, &used, &body, &blen);
            if (ev == H1_BODY) {
                ck_assert_uint_le(o->body_len + blen, sizeof(o->body));
                memcpy(o->body + o->body_len, body, blen);
                o->body_len += blen;
            }
            memmove(pending, pending + used, plen - used);
            plen -= used;
            if (ev == H1_HEADERS) {
                const struct h1_request *r = h1_parser_request(p);
                snprintf(o->method, sizeof(o->method), "%s", r->method);
                snprintf(o->target, sizeof(o->target), "%s", r->target);
                o->version_minor = r->version_minor;
                o->nheaders = r->nheaders;
                o->keep_alive = r->keep_alive;
                o->chunked = r->chunked;
                o->expect_continue = r->expect_continue;
                o->content_length = r->content_length;
                const char *h = h1_request_header(r, "host");
                snprintf(o->host, sizeof(o->host), "%s", h ? h : "");
                h1_parser_set_max_body(p, max_body);
            } else if (ev == H1_DONE) {
                o->requests++;
                h1_parser_reset(p);
                h1_parser_set_max_body(p, max_body);
            } else if (ev == H1_ERROR) {
                o->status = h1_parser_error_status(p);
                break;
            } else if (ev == H1_NEED_MORE) {
                break;
            }
        }
    }
    free(pending);
    h1_parser_free(p);
}

static void same_outcome(const struct outcome *a, const struct outcome *b, const char *how)
{
    ck_assert_msg(a->requests == b->requests && a->status == b->status, "%s: %d/%d vs %d/%d", how,
                  a->requests, a->status, b->requests, b->status);
    ck_assert_str_eq(a->method, b->method);
    ck_assert_str_eq(a->target, b->target);
    ck_assert_uint_eq(a->nheaders, b->nheaders);
    ck_assert_uint_eq(a->body_len, b->body_len);
    ck_assert(memcmp(a->body, b->body, a->body_len) == 0);
}

/* Parse whole, byte by byte, and split at every offset; all must agree. */
static void parse_all_ways(const char *in, uint64_t max_body, struct outcome *o)
{
    size_t len = strlen(in);
    run_cuts(in, len, NULL, 0, max_body, o);
    size_t *cuts = calloc(len + 1, sizeof(size_t));
    for (size_t i = 1; i < len; i++)
        cuts[i - 1] = i;
    struct outcome x;
    run_cuts(in, len, cuts, len ? len - 1 : 0, max_body, &x);
    same_outcome(o, &x, "byte by byte");
    for (size_t i = 1; i < len; i++) {
        size_t cut = i;
        run_cuts(in, len, &cut, 1, max_body, &x);
        same_outcome(o, &x, "split");
    }
    free(cuts);
}

static void expect_status(const char *in, int status)
{
    struct outcome o;
    parse_all_ways(in, 1 << 20, &o);
    ck_assert_msg(o.status == status, "input %.60s…: status %d, want %d", in, o.status, status);
}

START_TEST(simple_get)
{
    struct outcome o;
    parse_all_ways("GET /healthz?x=1 HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n", 0, &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(o.requests, 1);
    ck_assert_str_eq(o.method, "GET");
    ck_assert_str_eq(o.target, "/healthz?x=1");
    ck_assert_int_eq(o.version_minor, 1);
    ck_assert_uint_eq(o.nheaders, 2);
    ck_assert(o.keep_alive);
    ck_assert_str_eq(o.host, "example");
}
END_TEST

START_TEST(content_length_body)
{
    struct outcome o;
    parse_all_ways("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world", 100,
                   &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(o.requests, 1);
    ck_assert_int_eq(o.content_length, 11);
    ck_assert_uint_eq(o.body_len, 11);
    ck_assert(memcmp(o.body, "hello world", 11) == 0);
}
END_TEST

START_TEST(chunked_body_with_extension_and_trailer)
{
    struct outcome o;
    parse_all_ways("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
                   100, &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(o.requests, 1);
    ck_assert(o.chunked);
    ck_assert_uint_eq(o.body_len, 11);
    ck_assert(memcmp(o.body, "hello world", 11) == 0);
}
END_TEST

START_TEST(pipelined_requests)
{
    struct outcome o;
    parse_all_ways("GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
                   "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                   "GET /c HTTP/1.1\r\nHost: a\r\n\r\n",
                   100, &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(o.requests, 3);
    ck_assert_str_eq(o.target, "/c");
    ck_assert_uint_eq(o.body_len, 3);
}
END_TEST

START_TEST(http10_and_keepalive_rules)
{
    struct outcome o;
    parse_all_ways("GET / HTTP/1.0\r\n\r\n", 0, &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(o.version_minor, 0);
    ck_assert(!o.keep_alive);
    parse_all_ways("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, &o);
    ck_assert(o.keep_alive);
    parse_all_ways("GET / HTTP/1.1\r\nHost: a\r\nConnection: TE, close\r\n\r\n", 0, &o);
    ck_assert(!o.keep_alive);
}
END_TEST

START_TEST(absolute_form_and_leading_crlf)
{
    struct outcome o;
    parse_all_ways("\r\nGET http://example.com/v1/x?y=2 HTTP/1.1\r\nHost: example.com\r\n\r\n", 0,
                   &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_str_eq(o.target, "/v1/x?y=2");
    parse_all_ways("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_str_eq(o.target, "*");
}
END_TEST

START_TEST(expect_continue_and_value_trimming)
{
    struct outcome o;
    parse_all_ways("PUT /x HTTP/1.1\r\nHost:   spaced  \t\r\nExpect: 100-continue\r\n"
                   "Content-Length: 0\r\n\r\n",
                   10, &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert(o.expect_continue);
    ck_assert_str_eq(o.host, "spaced");
}
END_TEST

START_TEST(malformed_request_line)
{
    expect_status("GET / HTTP/1.1\nHost: a\n\n", 400);        /* bare LF */
    expect_status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400); /* empty target */
    expect_status("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);  /* method not a token */
    expect_status("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP/1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTPS/1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    expect_status("GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400); /* too many CRLFs */
    expect_status("GET / HTTP/1.1\rHost: a\r\n\r\n", 400);               /* bare CR */
}
END_TEST

START_TEST(unsupported_versions_and_methods)
{
    expect_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    expect_status("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);
    expect_status("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
    expect_status("ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\nHost: a\r\n\r\n", 501);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
}
END_TEST

START_TEST(malformed_headers)
{
    expect_status("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);             /* space before colon */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400);   /* obs-fold */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400); /* CTL in value */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nX\x7f: b\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400); /* empty name */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\n\r\n", 400);                       /* missing Host */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400); /* duplicate Host */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417);
}
END_TEST

START_TEST(framing_smuggling_guards)
{
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
                  400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3a\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
                  400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400);
    expect_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  400);
}
END_TEST

START_TEST(malformed_chunks)
{
    const char *head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    const char *bodies[] = {
        "zz\r\nhello\r\n0\r\n\r\n",     /* not hex */
        "\r\n",                         /* empty size */
        "5\r\nhelloXX0\r\n\r\n",        /* no CRLF after data */
        "1234567890abcdef0\r\n",        /* size overflow */
        "5\nhello\r\n0\r\n\r\n",        /* bare LF after size */
        "5;\x01\r\nhello\r\n0\r\n\r\n", /* CTL in extension */
        "0\r\nBad Trailer\x01\r\n\r\n", /* CTL in trailer */
    };
    char buf[512];
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        snprintf(buf, sizeof(buf), "%s%s", head, bodies[i]);
        expect_status(buf, 400);
    }
}
END_TEST

START_TEST(size_limits)
{
    char buf[4096];
    /* URI over max_uri (200) */
    snprintf(buf, sizeof(buf), "GET /%0250d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    expect_status(buf, 414);
    /* header section over max_header_bytes (1024) */
    snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %01100d\r\n\r\n", 0);
    expect_status(buf, 431);
    /* more than max_headers (16) fields */
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
    snprintf(buf + n, sizeof(buf) - n, "\r\n");
    expect_status(buf, 431);
    /* chunked body over max_body */
    struct outcome o;
    parse_all_ways("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n",
                   10, &o);
    ck_assert_int_eq(o.status, 413);
    /* Content-Length body over max_body */
    parse_all_ways("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n01234567890123456789",
                   10, &o);
    ck_assert_int_eq(o.status, 413);
}
END_TEST

START_TEST(error_is_sticky_and_reset_recovers)
{
    struct h1_parser *p = h1_parser_new(&limits);
    size_t used, blen;
    const char *body;
    const char *bad = "BAD\x01 / HTTP/1.1\r\n";
    ck_assert_int_eq(h1_parser_run(p, bad, strlen(bad), &used, &body, &blen), H1_ERROR);
    ck_assert_int_eq(h1_parser_run(p, "GET", 3, &used, &body, &blen), H1_ERROR);
    ck_assert_str_ne(h1_parser_error_message(p), "");
    h1_parser_reset(p);
    const char *good = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    ck_assert_int_eq(h1_parser_run(p, good, strlen(good), &used, &body, &blen), H1_HEADERS);
    ck_assert_uint_eq(used, strlen(good));
    ck_assert_int_eq(h1_parser_run(p, "", 0, &used, &body, &blen), H1_DONE);
    h1_parser_free(p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http1_parser");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, simple_get);
    tcase_add_test(tc, content_length_body);
    tcase_add_test(tc, chunked_body_with_extension_and_trailer);
    tcase_add_test(tc, pipelined_requests);
    tcase_add_test(tc, http10_and_keepalive_rules);
    tcase_add_test(tc, absolute_form_and_leading_crlf);
    tcase_add_test(tc, expect_continue_and_value_trimming);
    tcase_add_test(tc, malformed_request_line);
    tcase_add_test(tc, unsupported_versions_and_methods);
    tcase_add_test(tc, malformed_headers);
    tcase_add_test(tc, framing_smuggling_guards);
    tcase_add_test(tc, malformed_chunks);
    tcase_add_test(tc, size_limits);
    tcase_add_test(tc, error_is_sticky_and_reset_recovers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = check_run(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
