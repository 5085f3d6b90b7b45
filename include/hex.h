/* hex.h — hexadecimal digits, both ways (digests, ids, percent-encoding). */
#ifndef STENO_HEX_H
#define STENO_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* Value of one hex digit (either case), or -1. */
int hex_value(int c);
/* Lower-case hex of n bytes into out, NUL-terminated: out holds 2n + 1. */
void hex_encode(const unsigned char *bytes, size_t n, char *out);
/* s is exactly 2 * nbytes hex digits (either case): a digest's text. */
bool hex_is_digest(const char *s, size_t nbytes);

#endif
