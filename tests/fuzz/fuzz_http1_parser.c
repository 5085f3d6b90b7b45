/* fuzz_http1_parser.c — libFuzzer target for the HTTP/1.1 request parser.
 *
 * The first input byte picks where the rest is split in two (so framing
 * states are entered from every offset); the parser runs as a connection
 * would drive it, pipelined requests included. Invariants: no crash, no
 * leak, consumed never exceeds what was fed, and the parser always makes
 * progress or stops. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1_parser.h"

static void drive(struct h1_parser *p, const char *data, size_t len, size_t cut)
{
    size_t fed = 0;
    char *pending = malloc(len + 1);
    size_t plen = 0;
    for (int seg = 0; seg < 2; seg++) {
        size_t end = seg == 0 ? cut : len;
        memcpy(pending + plen, data + fed, end - fed);
        plen += end - fed;
        fed = end;
        for (int guard = 0; guard < 100000; guard++) {
            size_t used, blen;
            const char *body;
            enum h1_event ev = h1_parser_run(p, pending, plen, &used, &body, &blen);
            if (used > plen)
                abort();
            if (ev == H1_BODY && (body < pending || body + blen > pending + plen))
                abort();
            memmove(pending, pending + used, plen - used);
            plen -= used;
            if (ev == H1_HEADERS) {
                const struct h1_request *r = h1_parser_request(p);
                if (!r->method || !r->target)
                    abort();
                (void)h1_request_header(r, "host");
                h1_parser_set_max_body(p, 4096);
            } else if (ev == H1_DONE) {
                h1_parser_reset(p);
            } else if (ev == H1_ERROR) {
                int st = h1_parser_error_status(p);
                if (st < 400 || st > 505)
                    abort();
                free(pending);
                return;
            } else if (ev == H1_NEED_MORE) {
                break;
            }
        }
    }
    free(pending);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const struct h1_limits limits = {
        .max_header_bytes = 2048, .max_headers = 32, .max_uri = 512};
    struct h1_parser *p = h1_parser_new(&limits);
    size_t len = size - 1;
    size_t cut = len ? data[0] % (len + 1) : 0;
    drive(p, (const char *)data + 1, len, cut);
    h1_parser_free(p);
    return 0;
}
