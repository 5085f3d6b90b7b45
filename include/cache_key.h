/* cache_key.h — the content address of a transcript.
 *
 * transcript:{sha256}:{language|auto}:{model}:{params-hash}, where
 * params-hash is the first 16 hex digits of SHA-256 over every other
 * parameter that changes the result (prompt, temperature, timestamp
 * granularity), normalized: absent and default are the same thing, and
 * numbers are printed one way. Two requests that must give the same
 * transcript get the same key; any that may differ get different keys. */
#ifndef STENO_CACHE_KEY_H
#define STENO_CACHE_KEY_H

#include <stdbool.h>
#include <stddef.h>

struct cache_key_params {
    const char *sha256;   /* of the audio bytes, 64 hex */
    const char *language; /* NULL/"" = auto-detect */
    const char *model;
    const char *prompt; /* NULL/"" = none */
    double temperature; /* < 0 = the upstream's default */
    bool word_timestamps;
};

/* Writes the key into out (≥ 200 bytes is always enough for sane models;
 * returns false when it does not fit). */
bool cache_key_build(const struct cache_key_params *p, char *out, size_t outlen);

#endif
