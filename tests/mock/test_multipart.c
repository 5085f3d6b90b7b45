/* test_multipart.c — src/mime/multipart.c: valid and malformed bodies, each
 * fed whole, one byte at a time, split in two at every offset, and with a
 * pause on every callback; all must give the same callback transcript. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"
#include "../check_run.h"

#define B "XyZ-123"

/* Transcript of callbacks: "[B name file type]" data bytes "[E]" ... "[=err]". */
struct rec {
    char log[8192];
    size_t len;
    bool pause_all;
    int abort_on_data;
};

static void append(struct rec *r, const char *s, size_t n)
{
    ck_assert_uint_lt(r->len + n, sizeof(r->log));
    memcpy(r->log + r->len, s, n);
    r->len += n;
    r->log[r->len] = '\0';
}

static int on_begin(void *user, const struct multipart_part *part)
{
    struct rec *r = user;
    char line[512];
    int n = snprintf(line, sizeof(line), "[B%u %s %s %s]", part->index, part->name,
                     part->filename ? part->filename : "-",
                     part->content_type ? part->content_type : "-");
    append(r, line, (size_t)n);
    return r->pause_all ? MULTIPART_PAUSE : MULTIPART_CONTINUE;
}

static int on_data(void *user, const char *data, size_t len)
{
    struct rec *r = user;
    ck_assert_uint_gt(len, 0);
    append(r, data, len);
    if (r->abort_on_data)
        return MULTIPART_ABORT;
    return r->pause_all ? MULTIPART_PAUSE : MULTIPART_CONTINUE;
}

static int on_end(void *user)
{
    struct rec *r = user;
    append(r, "[E]", 3);
    return r->pause_all ? MULTIPART_PAUSE : MULTIPART_CONTINUE;
}

static const struct multipart_callbacks callbacks = {on_begin, on_data, on_end};

static const struct multipart_limits small_limits = {256, 4, 3};

/* Feed `len` bytes, re-feeding after pauses; false once the parser failed. */
static bool feed_all(struct multipart_parser *p, const char *data, size_t len)
{
    size_t off = 0;
    int guard = 0;
    while (off < len) {
        size_t n = multipart_parser_feed(p, data + off, len - off);
        off += n;
        if (multipart_parser_error(p) != MULTIPART_OK)
            return false;
        if (off < len)
            ck_assert(multipart_parser_paused(p));
        ck_assert_int_lt(++guard, 100000);
    }
    return true;
}

static void finish(struct multipart_parser *p, struct rec *r)
{
    char tail[32];
    enum multipart_error e = multipart_parser_error(p);
    if (e == MULTIPART_OK)
        e = multipart_parser_finish(p);
    int n = snprintf(tail, sizeof(tail), "[=%d]", (int)e);
    append(r, tail, (size_t)n);
    multipart_parser_free(p);
}

/* Feed in pieces given by cuts[] (ascending offsets), with or without pauses. */
static void run(const char *body, size_t len, const size_t *cuts, size_t ncuts, bool pause,
                const struct multipart_limits *limits, struct rec *r)
{
    memset(r, 0, sizeof(*r));
    r->pause_all = pause;
    struct multipart_parser *p = multipart_parser_new(B, limits, &callbacks, r);
    ck_assert_ptr_nonnull(p);
    size_t prev = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (!feed_all(p, body + prev, end - prev))
            break;
        prev = end;
    }
    finish(p, r);
}

/* Whole, then every split mode; all transcripts must equal the whole one. */
static void check_all_ways(const char *body, size_t len, const struct multipart_limits *limits,
                           struct rec *whole)
{
    static struct rec other;
    run(body, len, NULL, 0, false, limits, whole);
    size_t *cuts = malloc((len + 1) * sizeof(size_t));
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    run(body, len, cuts, len ? len - 1 : 0, false, limits, &other);
    ck_assert_msg(other.len == whole->len && memcmp(other.log, whole->log, other.len) == 0,
                  "byte-at-a-time differs:\n%s\nvs whole:\n%s", other.log, whole->log);
    for (size_t cut = 0; cut <= len; cut++) {
        for (int pause = 0; pause < 2; pause++) {
            run(body, len, &cut, 1, pause, limits, &other);
            ck_assert_msg(other.len == whole->len && memcmp(other.log, whole->log, other.len) == 0,
                          "split at %zu (pause %d) differs:\n%s\nvs whole:\n%s", cut, pause,
                          other.log, whole->log);
        }
    }
    run(body, len, cuts, len ? len - 1 : 0, true, limits, &other);
    ck_assert_msg(other.len == whole->len && memcmp(other.log, whole->log, other.len) == 0,
                  "byte-at-a-time with pauses differs:\n%s", other.log);
    free(cuts);
}

struct valid_case {
    const char *body;
    size_t len;
    const char *expect;
    size_t elen;
};

/* Lengths from sizeof: some bodies hold NUL bytes. */
#define V(body, expect)                                                                            \
    {                                                                                              \
        body, sizeof(body) - 1, expect, sizeof(expect) - 1                                         \
    }

static const struct valid_case valid[] = {
    /* minimal */
    V("--" B "\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--" B "--",
      "[B0 a - -]hello[E][=0]"),
    /* preamble, file part with type, epilogue */
    V("preamble line\r\nmore\r\n--" B "\r\n"
      "Content-Disposition: form-data; name=\"file\"; filename=\"a b.wav\"\r\n"
      "Content-Type: audio/wav\r\n\r\nRIFF\0\0data\r\n--" B "\r\n"
      "content-disposition: FORM-DATA; NAME=model\r\n\r\nwhisper\r\n--" B "--\r\nepilogue\r\n--" B
      "\r\n",
      "[B0 file a b.wav audio/wav]RIFF\0\0data[E][B1 model - -]whisper[E][=0]"),
    /* empty part, transport padding, repeated field */
    V("--" B " \t\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\n"
      "\r\n--" B "  \r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n"
      "X-Extra: 1\r\n\r\nword\r\n--" B "--  ",
      "[B0 timestamp_granularities[] - -][E][B1 timestamp_granularities[] - -]word[E][=0]"),
    /* data full of near-delimiters */
    V("--" B "\r\nContent-Disposition: form-data; name=x\r\n\r\n"
      "\r\r\n\r\n-\r\n--\r\n--XyZ\r\n--XyZ-12\r\r--" B "x--" B "\n--" B "\r\n--" B "--",
      "[B0 x - -]\r\r\n\r\n-\r\n--\r\n--XyZ\r\n--XyZ-12\r\r--" B "x--" B "\n--" B "[E][=0]"),
    /* escaped quotes, filename*, UTF-8, empty filename */
    V("--" B "\r\nContent-Disposition: form-data; name=\"q\\\"n\"; filename*=UTF-8''x; "
      "filename=\"\xc3\xa9t\xc3\xa9.mp3\"\r\n\r\nz\r\n--" B "\r\n"
      "Content-Disposition: form-data;name=\"f\";filename=\"\"\r\n"
      "Content-Type:   text/plain; charset=utf-8  \r\n\r\n\r\n--" B "--",
      "[B0 q\"n \xc3\xa9t\xc3\xa9.mp3 -]z[E][B1 f  text/plain; charset=utf-8][E][=0]"),
    /* the body starts with CRLF before the first delimiter */
    V("\r\n--" B "\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--" B "--",
      "[B0 a - -]1[E][=0]"),
};

START_TEST(test_valid)
{
    struct rec whole;
    const struct valid_case *c = &valid[_i];
    check_all_ways(c->body, c->len, NULL, &whole);
    ck_assert_msg(whole.len == c->elen && memcmp(whole.log, c->expect, c->elen) == 0,
                  "case %d:\n got %s\nwant %s", _i, whole.log, c->expect);
}
END_TEST

struct bad_case {
    const char *body;
    enum multipart_error error;
};

#define CD   "Content-Disposition: form-data; name=a\r\n"
#define S10  "          "
#define S100 S10 S10 S10 S10 S10 S10 S10 S10 S10 S10

static const struct bad_case bad[] = {
    {"", MULTIPART_ERR_TRUNCATED},
    {"no delimiter at all\r\n", MULTIPART_ERR_TRUNCATED},
    {"--" B, MULTIPART_ERR_TRUNCATED},
    {"--" B "\r\n" CD, MULTIPART_ERR_TRUNCATED},
    {"--" B "\r\n" CD "\r\ndata", MULTIPART_ERR_TRUNCATED},
    {"--" B "\r\n" CD "\r\ndata\r\n--" B, MULTIPART_ERR_TRUNCATED},
    {"--" B "\r\n" CD "\r\ndata\r\n--" B "\r\n", MULTIPART_ERR_TRUNCATED},
    {"--" B "\r\n" CD "\r\ndata\r\n--" B "-", MULTIPART_ERR_TRUNCATED},
    {"--" B "--", MULTIPART_ERR_NO_PARTS},
    {"--" B "x\r\n" CD "\r\n\r\n--" B "--", MULTIPART_ERR_DELIMITER},
    {"--" B "\r\n" CD "\r\nd\r\n--" B "-x", MULTIPART_ERR_DELIMITER},
    {"--" B "\r\n" CD "\r\nd\r\n--" B "x\r\n--" B "--", MULTIPART_ERR_DELIMITER},
    {"--" B "\r\n" CD "\r\nd\r\n--" B " x\r\n", MULTIPART_ERR_DELIMITER},
    {"--" B "\n" CD "\r\n\r\n--" B "--", MULTIPART_ERR_CRLF},
    {"--" B "\rx" CD "\r\n\r\n--" B "--", MULTIPART_ERR_CRLF},
    {"--" B "\r\nContent-Disposition: form-data; name=a\n\r\n\r\n--" B "--", MULTIPART_ERR_CRLF},
    {"--" B "\r\nContent-Disposition: form-data; name=a\r\r\n\r\n\r\n--" B "--",
     MULTIPART_ERR_CRLF},
    {"--" B "\r\nContent-Disposition form-data\r\n\r\n\r\n--" B "--", MULTIPART_ERR_HEADER_SYNTAX},
    {"--" B "\r\n" CD " folded\r\n\r\n\r\n--" B "--", MULTIPART_ERR_HEADER_SYNTAX},
    {"--" B "\r\nBad Name: x\r\n" CD "\r\n\r\n--" B "--", MULTIPART_ERR_HEADER_SYNTAX},
    {"--" B "\r\nC\r\n\r\n--" B "--", MULTIPART_ERR_HEADER_SYNTAX},
    {"--" B "\r\nC\r\n", MULTIPART_ERR_TRUNCATED},
    {"--" B "\r\n: empty\r\n" CD "\r\n\r\n--" B "--", MULTIPART_ERR_HEADER_SYNTAX},
    {"--" B "\r\nX: a\001b\r\n" CD "\r\n\r\n--" B "--", MULTIPART_ERR_HEADER_SYNTAX},
    {"--" B "\r\n\r\ndata\r\n--" B "--", MULTIPART_ERR_DISPOSITION},
    {"--" B "\r\nContent-Type: text/plain\r\n\r\nd\r\n--" B "--", MULTIPART_ERR_DISPOSITION},
    {"--" B "\r\nContent-Disposition: attachment; name=a\r\n\r\n\r\n--" B "--",
     MULTIPART_ERR_DISPOSITION},
    {"--" B "\r\nContent-Disposition: form-data\r\n\r\n\r\n--" B "--", MULTIPART_ERR_DISPOSITION},
    {"--" B "\r\nContent-Disposition: form-data; filename=a\r\n\r\n\r\n--" B "--",
     MULTIPART_ERR_DISPOSITION},
    {"--" B "\r\nContent-Disposition: form-data; name=\"a\r\n\r\n\r\n--" B "--",
     MULTIPART_ERR_DISPOSITION},
    {"--" B "\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n\r\n--" B "--",
     MULTIPART_ERR_DISPOSITION},
    {"--" B "\r\nContent-Disposition: form-data; name = a\r\n\r\n\r\n--" B "--",
     MULTIPART_ERR_DISPOSITION},
    {"--" B "\r\nContent-Disposition: form-data; name=a;\r\n\r\n\r\n--" B "--",
     MULTIPART_ERR_DISPOSITION},
    {"--" B "\r\nContent-Disposition: form-data name=a\r\n\r\n\r\n--" B "--",
     MULTIPART_ERR_DISPOSITION},
    {"--" B "\r\n" CD CD "\r\n\r\n--" B "--", MULTIPART_ERR_HEADER_DUPLICATE},
    {"--" B "\r\n" CD "Content-Type: a/b\r\ncontent-type: a/b\r\n\r\n\r\n--" B "--",
     MULTIPART_ERR_HEADER_DUPLICATE},
    /* limits: 256 header bytes, 4 headers, 3 parts */
    {"--" B "\r\n" CD "X: "
     "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567"
     "8901234567890123456789012345678901234567890123456789012345678901234567890123456789012345"
     "67890123456789012345678901234567890123456789\r\n\r\n\r\n--" B "--",
     MULTIPART_ERR_HEADER_SIZE},
    {"--" B "\r\n" CD "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n\r\n--" B "--",
     MULTIPART_ERR_HEADER_COUNT},
    {"--" B "\r\n" CD "\r\n\r\n--" B "\r\n" CD "\r\n\r\n--" B "\r\n" CD "\r\n\r\n--" B "\r\n" CD
     "\r\n\r\n--" B "--",
     MULTIPART_ERR_PART_COUNT},
    {"--" B S100 S100 S100 "\r\n" CD "\r\n\r\n--" B "--", MULTIPART_ERR_HEADER_SIZE},
};

START_TEST(test_malformed)
{
    struct rec whole;
    const struct bad_case *c = &bad[_i];
    check_all_ways(c->body, strlen(c->body), &small_limits, &whole);
    char want[32];
    snprintf(want, sizeof(want), "[=%d]", (int)c->error);
    size_t wl = strlen(want);
    ck_assert_msg(whole.len >= wl && strcmp(whole.log + whole.len - wl, want) == 0,
                  "case %d: got %s, want error %s (%s)", _i, whole.log, want,
                  multipart_strerror(c->error));
}
END_TEST

/* The malformed cases must also fail (maybe differently) under default limits
 * unless the failure was a limit; the valid ones must pass small limits. */
START_TEST(test_valid_small_limits)
{
    struct rec whole;
    check_all_ways(valid[0].body, strlen(valid[0].body), &small_limits, &whole);
    ck_assert_str_eq(whole.log, valid[0].expect);
}
END_TEST

START_TEST(test_pause_resume_counts)
{
    static const char body[] = "--" B "\r\n" CD "\r\nabc\r\n--" B "\r\n" CD "\r\nxyz\r\n--" B "--";
    struct rec r;
    memset(&r, 0, sizeof(r));
    r.pause_all = true;
    struct multipart_parser *p = multipart_parser_new(B, NULL, &callbacks, &r);
    ck_assert_ptr_nonnull(p);
    size_t len = sizeof(body) - 1, off = 0;
    int feeds = 0;
    while (off < len) {
        size_t n = multipart_parser_feed(p, body + off, len - off);
        off += n;
        feeds++;
        ck_assert_int_eq(multipart_parser_error(p), MULTIPART_OK);
        if (off < len)
            ck_assert(multipart_parser_paused(p));
    }
    /* begin, data, end for each of the two parts */
    ck_assert_int_ge(feeds, 6);
    ck_assert(multipart_parser_done(p));
    ck_assert_uint_eq(multipart_parser_parts(p), 2);
    ck_assert_int_eq(multipart_parser_finish(p), MULTIPART_OK);
    multipart_parser_free(p);
    ck_assert_str_eq(r.log, "[B0 a - -]abc[E][B1 a - -]xyz[E]");
}
END_TEST

START_TEST(test_zero_copy)
{
    /* Data that cannot hold a delimiter arrives as one pointer into our buffer. */
    static const char body[] = "--" B "\r\n" CD "\r\n0123456789abcdef\r\n--" B "--";
    struct rec r;
    memset(&r, 0, sizeof(r));
    struct multipart_parser *p = multipart_parser_new(B, NULL, &callbacks, &r);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(multipart_parser_feed(p, body, sizeof(body) - 1), sizeof(body) - 1);
    ck_assert_int_eq(multipart_parser_finish(p), MULTIPART_OK);
    multipart_parser_free(p);
    ck_assert_str_eq(r.log, "[B0 a - -]0123456789abcdef[E]");
}
END_TEST

START_TEST(test_abort)
{
    static const char body[] = "--" B "\r\n" CD "\r\nabc\r\n--" B "--";
    struct rec r;
    memset(&r, 0, sizeof(r));
    r.abort_on_data = 1;
    struct multipart_parser *p = multipart_parser_new(B, NULL, &callbacks, &r);
    ck_assert_ptr_nonnull(p);
    size_t n = multipart_parser_feed(p, body, sizeof(body) - 1);
    ck_assert_uint_lt(n, sizeof(body) - 1);
    ck_assert_int_eq(multipart_parser_error(p), MULTIPART_ERR_ABORTED);
    ck_assert_uint_eq(multipart_parser_feed(p, body, 1), 0);
    ck_assert_int_eq(multipart_parser_finish(p), MULTIPART_ERR_ABORTED);
    multipart_parser_free(p);
}
END_TEST

START_TEST(test_no_callbacks_and_bad_boundary)
{
    static const char body[] = "--" B "\r\n" CD "\r\nabc\r\n--" B "--";
    struct multipart_parser *p = multipart_parser_new(B, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(multipart_parser_feed(p, body, sizeof(body) - 1), sizeof(body) - 1);
    ck_assert_int_eq(multipart_parser_finish(p), MULTIPART_OK);
    multipart_parser_free(p);
    multipart_parser_free(NULL);
    ck_assert_ptr_null(multipart_parser_new("", NULL, NULL, NULL));
    ck_assert_ptr_null(multipart_parser_new("a\r\nb", NULL, NULL, NULL));
    ck_assert_ptr_null(multipart_parser_new("ends with space ", NULL, NULL, NULL));
    char b71[72];
    memset(b71, 'a', 71);
    b71[71] = '\0';
    ck_assert_ptr_null(multipart_parser_new(b71, NULL, NULL, NULL));
    b71[70] = '\0';
    p = multipart_parser_new(b71, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(p);
    multipart_parser_free(p);
    for (int e = MULTIPART_OK; e <= MULTIPART_ERR_ABORTED; e++)
        ck_assert_ptr_nonnull(multipart_strerror((enum multipart_error)e));
}
END_TEST

START_TEST(test_boundary_from_content_type)
{
    char out[MULTIPART_BOUNDARY_MAX + 1];
    ck_assert(multipart_boundary_from_content_type("multipart/form-data; boundary=abc", out,
                                                   sizeof(out)));
    ck_assert_str_eq(out, "abc");
    ck_assert(multipart_boundary_from_content_type(
        "Multipart/Form-Data;charset=utf-8;  BOUNDARY=\"a b'()+_,-./:=?\"", out, sizeof(out)));
    ck_assert_str_eq(out, "a b'()+_,-./:=?");
    ck_assert(multipart_boundary_from_content_type(
        "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW", out, sizeof(out)));
    ck_assert_str_eq(out, "----WebKitFormBoundary7MA4YWxkTrZu0gW");
    ck_assert(multipart_boundary_from_content_type("multipart/form-data; boundary=\"q\\\"x\"", out,
                                                   sizeof(out)) == false); /* '"' not a bchar */
    ck_assert(!multipart_boundary_from_content_type("multipart/form-data", out, sizeof(out)));
    ck_assert(
        !multipart_boundary_from_content_type("multipart/mixed; boundary=a", out, sizeof(out)));
    ck_assert(!multipart_boundary_from_content_type("text/plain; boundary=a", out, sizeof(out)));
    ck_assert(
        !multipart_boundary_from_content_type("multipart/form-data; boundary=", out, sizeof(out)));
    ck_assert(!multipart_boundary_from_content_type("multipart/form-data; boundary=\"\"", out,
                                                    sizeof(out)));
    ck_assert(!multipart_boundary_from_content_type("multipart/form-data; boundary=a; boundary=b",
                                                    out, sizeof(out)));
    ck_assert(!multipart_boundary_from_content_type("multipart/form-data; boundary=\"abc", out,
                                                    sizeof(out)));
    ck_assert(!multipart_boundary_from_content_type("multipart/form-data boundary=abc", out,
                                                    sizeof(out)));
    ck_assert(!multipart_boundary_from_content_type("multipart/form-data; boundary=\"a \"", out,
                                                    sizeof(out)));
    ck_assert(!multipart_boundary_from_content_type(NULL, out, sizeof(out)));
    char ct[200];
    snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%071d", 0);
    ck_assert(!multipart_boundary_from_content_type(ct, out, sizeof(out)));
    snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%070d", 0);
    ck_assert(multipart_boundary_from_content_type(ct, out, sizeof(out)));
    ck_assert_uint_eq(strlen(out), 70);
    ck_assert(!multipart_boundary_from_content_type(ct, out, 70)); /* no room for NUL */
}
END_TEST

static Suite *multipart_suite(void)
{
    Suite *s = suite_create("multipart");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_valid, 0, (int)(sizeof(valid) / sizeof(valid[0])));
    tcase_add_loop_test(tc, test_malformed, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, test_valid_small_limits);
    tcase_add_test(tc, test_pause_resume_counts);
    tcase_add_test(tc, test_zero_copy);
    tcase_add_test(tc, test_abort);
    tcase_add_test(tc, test_no_callbacks_and_bad_boundary);
    tcase_add_test(tc, test_boundary_from_content_type);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = check_run(multipart_suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
