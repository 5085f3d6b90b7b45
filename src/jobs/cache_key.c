/* cache_key.c — normalized transcript cache keys. */
#include "hex.h"
#include "cache_key.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

bool cache_key_build(const struct cache_key_params *p, char *out, size_t outlen)
{
    char lang[32] = "auto";
    if (p->language && *p->language) {
        size_t i;
        for (i = 0; p->language[i] && i < sizeof(lang) - 1; i++)
            lang[i] = (char)tolower((unsigned char)p->language[i]);
        lang[i] = '\0';
    }
    /* every input that changes the result, one canonical spelling each */
    char temp[32] = "default";
    if (p->temperature >= 0)
        snprintf(temp, sizeof(temp), "%.3f", p->temperature);
    char *canon = NULL;
    size_t clen = 0;
    FILE *f = open_memstream(&canon, &clen);
    if (!f)
        return false;
    fprintf(f, "prompt=%s\ntemperature=%s\ngranularity=%s\n", p->prompt ? p->prompt : "", temp,
            p->word_timestamps ? "word" : "segment");
    fclose(f);
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(canon, clen, md, &mdlen, EVP_sha256(), NULL);
    free(canon);
    char hash[17];
    hex_encode(md, 8, hash);
    int n = snprintf(out, outlen, "transcript:%s:%s:%s:%s", p->sha256, lang, p->model, hash);
    return n > 0 && (size_t)n < outlen;
}
