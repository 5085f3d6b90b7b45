/* multipart_internal.h — header-level helpers shared by src/mime files. */
#ifndef STENO_MULTIPART_INTERNAL_H
#define STENO_MULTIPART_INTERNAL_H

#include "multipart.h"

/* True when b[0..len) is a valid RFC 2046 boundary (1..70 bchars, not
 * ending in a space). */
bool multipart_boundary_valid(const char *b, size_t len);

/* Parse a complete part header block (lines ending in CRLF, then an empty
 * CRLF line) held in block[0..len). Values are unescaped into vbuf (vcap must
 * be >= len + 4) and part->name/filename/content_type point there. */
enum multipart_error multipart_parse_headers(const char *block, size_t len, unsigned max_headers,
                                             char *vbuf, size_t vcap, struct multipart_part *part);

#endif
