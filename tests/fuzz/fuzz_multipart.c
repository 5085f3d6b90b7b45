/* fuzz_multipart.c — libFuzzer target for src/mime/multipart.c.
 *
 * Input layout: byte 0 picks the split point, byte 1 which callbacks pause
 * (bit 0 begin, bit 1 data, bit 2 end) and bit 3 whether to also run the
 * rest through multipart_boundary_from_content_type; the rest is the body,
 * fed in two pieces (re-fed after every pause) then finished. Data callbacks
 * touch every byte they get so ASan sees any stale pointer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct state {
    unsigned pause_mask;
    size_t sum;
};

static int action(const struct state *s, unsigned bit)
{
    return (s->pause_mask & bit) ? MULTIPART_PAUSE : MULTIPART_CONTINUE;
}

static int on_begin(void *user, const struct multipart_part *part)
{
    struct state *s = user;
    s->sum += strlen(part->name);
    if (part->filename)
        s->sum += strlen(part->filename);
    if (part->content_type)
        s->sum += strlen(part->content_type);
    return action(s, 1);
}

static int on_data(void *user, const char *data, size_t len)
{
    struct state *s = user;
    for (size_t i = 0; i < len; i++)
        s->sum += (unsigned char)data[i];
    return action(s, 2);
}

static int on_end(void *user)
{
    return action(user, 4);
}

static void feed_piece(struct multipart_parser *p, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len && multipart_parser_error(p) == MULTIPART_OK) {
        size_t n = multipart_parser_feed(p, data + off, len - off);
        off += n;
        if (n == 0 && !multipart_parser_paused(p) && multipart_parser_error(p) == MULTIPART_OK)
            abort(); /* no progress without a pause or an error */
    }
}

static void try_content_type(const uint8_t *data, size_t size)
{
    char *ct = malloc(size + 1);
    memcpy(ct, data, size);
    ct[size] = '\0';
    char out[MULTIPART_BOUNDARY_MAX + 1];
    if (multipart_boundary_from_content_type(ct, out, sizeof(out)) &&
        strlen(out) > MULTIPART_BOUNDARY_MAX)
        abort();
    free(ct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct state s = {data[1], 0};
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    if (data[1] & 8)
        try_content_type(data + 2, len);
    size_t cut = len ? (size_t)data[0] * len / 255 : 0;
    static const struct multipart_callbacks cb = {on_begin, on_data, on_end};
    static const struct multipart_limits limits = {512, 8, 8};
    struct multipart_parser *p = multipart_parser_new("XyZ-123", &limits, &cb, &s);
    if (!p)
        abort();
    feed_piece(p, body, cut);
    feed_piece(p, body + cut, len - cut);
    if (multipart_parser_finish(p) == MULTIPART_OK && !multipart_parser_done(p))
        abort(); /* finish must report a body without its close delimiter */
    multipart_parser_free(p);
    return 0;
}
