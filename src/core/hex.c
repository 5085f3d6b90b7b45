/* hex.c — hexadecimal digits. */
#include "hex.h"

#include <string.h>

int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void hex_encode(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

bool hex_is_digest(const char *s, size_t nbytes)
{
    if (!s || strlen(s) != 2 * nbytes)
        return false;
    for (size_t i = 0; i < 2 * nbytes; i++)
        if (hex_value((unsigned char)s[i]) < 0)
            return false;
    return true;
}
