/* config.h — one declarative option table drives flags, environment and --help.
 *
 * A program describes its options as an array of struct config_option, each
 * naming a field of its own settings struct by offset. config_parse() fills
 * the struct from the defaults, then the environment, then the command line
 * (flags win). Lists (repeatable flags) replace the environment's value on
 * their first occurrence. Used by stenod and steno-mock alike. */
#ifndef STENO_CONFIG_H
#define STENO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "alloc.h"

enum config_type {
    CFG_STRING,  /* char * (heap) */
    CFG_INT,     /* int64_t, within [min, max] */
    CFG_BOOL,    /* bool; "--flag" alone means true */
    CFG_SIZE,    /* uint64_t bytes: 25M, 1G, 512k, 1000 */
    CFG_SECONDS, /* double seconds: 30, 1.5, 500ms, 2m, 1h */
    CFG_DOUBLE,  /* double, within [min, max] */
    CFG_LIST,    /* struct config_list: repeatable flag, comma-separated env */
};

struct config_list {
    char **items;
    size_t n;
};

struct config_option {
    const char *name; /* flag without dashes: "listen" → --listen */
    const char *env;  /* environment variable, or NULL */
    enum config_type type;
    size_t offset;   /* offsetof(settings struct, field) */
    const char *def; /* default as text (NULL = empty/zero) */
    const char *help;
    double min, max; /* for CFG_INT/CFG_DOUBLE/CFG_SECONDS/CFG_SIZE; both 0 = unbounded */
};

/* Returns false with a message in err on an unknown flag, a missing value or
 * a value out of range. Positional arguments are refused. On failure the
 * settings may be partly filled: config_free() them. `help` is set to true
 * when --help was given (then nothing else is validated). */
bool config_parse(const struct config_option *opts, size_t n, void *settings, int argc, char **argv,
                  bool *help, char *err, size_t errlen) MUST_CHECK;
void config_print_help(FILE *f, const char *usage, const struct config_option *opts, size_t n);
/* Frees the strings and lists the table points at inside settings. */
void config_free(const struct config_option *opts, size_t n, void *settings);

/* The listener rule shared by stenod and steno-mock: something to listen
 * on (empty items, e.g. --listen '', count as none), and TLS listeners only
 * with a certificate and a key. False with err filled otherwise. */
bool config_check_listeners(const struct config_list *plain, const struct config_list *tls,
                            const char *cert, const char *key, char *err, size_t errlen) MUST_CHECK;

/* The value parsers, exposed for tests and for other text inputs. */
bool config_parse_size(const char *s, uint64_t *out) MUST_CHECK;
bool config_parse_seconds(const char *s, double *out) MUST_CHECK;
bool config_parse_bool(const char *s, bool *out) MUST_CHECK;

#endif
