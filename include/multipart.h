/* multipart.h — incremental, streaming multipart/form-data parser (RFC 7578,
 * framing per RFC 2046).
 *
 * Push parser: the caller feeds body bytes as they arrive, in pieces of any
 * size split at any byte, and gets callbacks for each part's headers, its
 * data and its end. Part data is passed as pointers into the caller's buffer
 * whenever possible (zero copy); only the few bytes that might start a
 * boundary delimiter at the end of a fed buffer are held back (they live in
 * the parser and are delivered from there once they turn out to be data).
 *
 * Strict: CRLF line endings, a Content-Disposition "form-data" header with a
 * name on every part, no header folding, nothing after a boundary but "--",
 * transport padding (spaces/tabs) and CRLF. The preamble and the epilogue are
 * ignored. Bounded: memory is fixed at creation (about twice the header
 * limit); nothing grows with the input. */
#ifndef STENO_MULTIPART_H
#define STENO_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#include "alloc.h"

/* RFC 2046: a boundary is 1..70 characters. */
#define MULTIPART_BOUNDARY_MAX 70

#define MULTIPART_DEFAULT_HEADER_BYTES 8192
#define MULTIPART_DEFAULT_HEADERS      16
#define MULTIPART_DEFAULT_PARTS        64

enum multipart_error {
    MULTIPART_OK = 0,
    MULTIPART_ERR_DELIMITER,        /* junk after a boundary delimiter */
    MULTIPART_ERR_CRLF,             /* a line not ended by CRLF */
    MULTIPART_ERR_HEADER_SIZE,      /* part header block over max_header_bytes */
    MULTIPART_ERR_HEADER_COUNT,     /* more than max_headers headers in a part */
    MULTIPART_ERR_PART_COUNT,       /* more than max_parts parts */
    MULTIPART_ERR_HEADER_SYNTAX,    /* malformed or folded header line */
    MULTIPART_ERR_HEADER_DUPLICATE, /* Content-Disposition or Content-Type twice */
    MULTIPART_ERR_DISPOSITION,      /* Content-Disposition missing, not form-data, no name */
    MULTIPART_ERR_NO_PARTS,         /* close delimiter before any part */
    MULTIPART_ERR_TRUNCATED,        /* input ended before the close delimiter */
    MULTIPART_ERR_ABORTED,          /* a callback returned MULTIPART_ABORT */
};

/* What a callback returns. PAUSE stops the current multipart_parser_feed
 * right after this callback (its event counts as delivered); the caller feeds
 * the unconsumed rest later. ABORT stops for good with MULTIPART_ERR_ABORTED. */
enum multipart_action {
    MULTIPART_CONTINUE = 0,
    MULTIPART_PAUSE = 1,
    MULTIPART_ABORT = 2,
};

/* Zero in any field selects the default above. */
struct multipart_limits {
    size_t max_header_bytes; /* per part: header block incl. CRLFs, and padding after a boundary */
    unsigned max_headers;    /* per part */
    unsigned max_parts;      /* per body */
};

/* A part's parsed headers. Strings are NUL-terminated and owned by the
 * parser; they stay valid until on_part_end of that part returns (or the
 * parser is freed). Quoted-string escapes are already removed. */
struct multipart_part {
    unsigned index;           /* 0 for the first part */
    const char *name;         /* Content-Disposition name; never NULL (may be "") */
    const char *filename;     /* Content-Disposition filename; NULL when absent */
    const char *content_type; /* Content-Type value, trimmed; NULL when absent */
};

/* Every callback is optional (NULL = continue) and returns an enum
 * multipart_action. For each part, in order: on_part_begin once, after its
 * header block; on_part_data zero or more times with consecutive pieces of the
 * body (len > 0; the pointer is valid only during the call, into the buffer
 * passed to feed or into the parser); on_part_end once, as soon as the
 * delimiter that ends the part has been seen. Callbacks must not call
 * multipart_parser_feed/finish/free on the same parser. */
struct multipart_callbacks {
    int (*on_part_begin)(void *user, const struct multipart_part *part);
    int (*on_part_data)(void *user, const char *data, size_t len);
    int (*on_part_end)(void *user);
};

struct multipart_parser;

/* A parser for a body delimited by `boundary` (without the leading "--"),
 * which is copied. limits may be NULL (defaults); callbacks is copied; user is
 * passed to every callback and never touched. Returns NULL when the boundary
 * is not a valid RFC 2046 boundary. Free with multipart_parser_free. */
struct multipart_parser *multipart_parser_new(const char *boundary,
                                              const struct multipart_limits *limits,
                                              const struct multipart_callbacks *callbacks,
                                              void *user) MUST_CHECK;

/* Feed the next len bytes of the body. Returns how many were consumed: all
 * of them, unless a callback paused (the parser then waits for the caller to
 * feed data + consumed again, which resumes it) or an error occurred
 * (multipart_parser_error() != MULTIPART_OK; every later feed returns 0).
 * Consumed bytes may be forgotten by the caller: the parser keeps the few it
 * still needs. Callbacks fire synchronously from inside this call. */
size_t multipart_parser_feed(struct multipart_parser *p, const char *data, size_t len) MUST_CHECK;

/* The body ended. Returns MULTIPART_ERR_TRUNCATED if the close delimiter was
 * never seen (no callback fires), the earlier error if there was one, else
 * MULTIPART_OK. */
enum multipart_error multipart_parser_finish(struct multipart_parser *p) MUST_CHECK;

/* MULTIPART_OK, or the error that stopped the parser. */
enum multipart_error multipart_parser_error(const struct multipart_parser *p);

/* True when the last feed stopped because a callback returned PAUSE. */
bool multipart_parser_paused(const struct multipart_parser *p);

/* True once the close delimiter has been seen: every part is complete and
 * whatever follows is epilogue. */
bool multipart_parser_done(const struct multipart_parser *p);

/* Parts begun so far. */
unsigned multipart_parser_parts(const struct multipart_parser *p);

/* Free the parser (NULL is fine). Fires no callback. */
void multipart_parser_free(struct multipart_parser *p);

/* A fixed English message for e, for logs and 400 responses. */
const char *multipart_strerror(enum multipart_error e);

/* Extract the boundary of a "multipart/form-data; boundary=..." Content-Type
 * value (type and parameter names case-insensitive, boundary quoted or not).
 * Writes it NUL-terminated to out (outlen should be MULTIPART_BOUNDARY_MAX+1).
 * Returns false when the type is not multipart/form-data, the parameters are
 * malformed, or the boundary is missing, repeated, empty, longer than 70 or
 * holds a character RFC 2046 does not allow. */
bool multipart_boundary_from_content_type(const char *content_type, char *out,
                                          size_t outlen) MUST_CHECK;

#endif
