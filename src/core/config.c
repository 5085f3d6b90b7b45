/* config.c — defaults → environment → flags, driven by the option table. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off", ""};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++)
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, true;
    for (size_t i = 0; i < ARRAY_LEN(no); i++)
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, true;
    return false;
}

bool config_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return false;
    double mult = 1;
    if (*end) {
        switch (*end | 0x20) {
        case 'k':
            mult = 1024.0;
            break;
        case 'm':
            mult = 1024.0 * 1024;
            break;
        case 'g':
            mult = 1024.0 * 1024 * 1024;
            break;
        case 't':
            mult = 1024.0 * 1024 * 1024 * 1024;
            break;
        case 'b':
            mult = 1;
            break;
        default:
            return false;
        }
        end++;
        if ((*end | 0x20) == 'i')
            end++;
        if ((*end | 0x20) == 'b')
            end++;
        if (*end)
            return false;
    }
    if (v * mult > 9.0e18)
        return false;
    *out = (uint64_t)(v * mult);
    return true;
}

bool config_parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return false;
    if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
        *out = v;
    else if (strcmp(end, "ms") == 0)
        *out = v / 1000;
    else if (strcmp(end, "m") == 0)
        *out = v * 60;
    else if (strcmp(end, "h") == 0)
        *out = v * 3600;
    else
        return false;
    return true;
}

static void *field(void *settings, const struct config_option *o)
{
    return (char *)settings + o->offset;
}

static bool in_range(const struct config_option *o, double v)
{
    return (o->min == 0 && o->max == 0) || (v >= o->min && v <= o->max);
}

static void list_clear(struct config_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static void list_add(struct config_list *l, const char *s, size_t len)
{
    l->items = xrealloc(l->items, (l->n + 1) * sizeof(char *));
    l->items[l->n++] = xstrndup(s, len);
}

/* Store text `v` into the option's field; `append` for repeated list flags. */
static bool set_value(void *settings, const struct config_option *o, const char *v, bool append,
                      char *err, size_t errlen)
{
    void *f = field(settings, o);
    switch (o->type) {
    case CFG_STRING:
        free(*(char **)f);
        *(char **)f = xstrdup(v);
        return true;
    case CFG_BOOL:
        if (config_parse_bool(v, f))
            return true;
        break;
    case CFG_INT: {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (end != v && !*end && !errno && in_range(o, (double)x)) {
            *(int64_t *)f = x;
            return true;
        }
        break;
    }
    case CFG_DOUBLE: {
        char *end;
        double x = strtod(v, &end);
        if (end != v && !*end && isfinite(x) && in_range(o, x)) {
            *(double *)f = x;
            return true;
        }
        break;
    }
    case CFG_SIZE: {
        uint64_t x;
        if (config_parse_size(v, &x) && in_range(o, (double)x)) {
            *(uint64_t *)f = x;
            return true;
        }
        break;
    }
    case CFG_SECONDS: {
        double x;
        if (config_parse_seconds(v, &x) && in_range(o, x)) {
            *(double *)f = x;
            return true;
        }
        break;
    }
    case CFG_LIST: {
        struct config_list *l = f;
        if (!append)
            list_clear(l);
        /* environment and defaults: comma-separated; flags: one item each */
        if (append) {
            list_add(l, v, strlen(v));
            return true;
        }
        for (const char *s = v; *s;) {
            const char *c = strchr(s, ',');
            size_t len = c ? (size_t)(c - s) : strlen(s);
            if (len)
                list_add(l, s, len);
            s = c ? c + 1 : s + len;
        }
        return true;
    }
    }
    if (o->min != 0 || o->max != 0)
        snprintf(err, errlen, "invalid value '%s' for --%s (allowed: %g to %g)", v, o->name, o->min,
                 o->max);
    else
        snprintf(err, errlen, "invalid value '%s' for --%s", v, o->name);
    return false;
}

static const struct config_option *find(const struct config_option *opts, size_t n,
                                        const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static bool parse_flags(const struct config_option *opts, size_t n, void *settings, int argc,
                        char **argv, char *err, size_t errlen)
{
    bool *list_seen = xcalloc(n, sizeof(bool));
    bool ok = true;
    for (int i = 1; i < argc && ok; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
            ok = false;
            break;
        }
        a += 2;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const struct config_option *o = find(opts, n, a, len);
        if (!o) {
            snprintf(err, errlen, "unknown option --%.*s (see --help)", (int)len, a);
            ok = false;
            break;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v && o->type == CFG_BOOL)
            v = "true";
        if (!v) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "option --%s needs a value", o->name);
                ok = false;
                break;
            }
            v = argv[++i];
        }
        size_t idx = (size_t)(o - opts);
        if (o->type == CFG_LIST && !list_seen[idx]) {
            /* the first flag replaces the environment's or default list */
            list_clear(field(settings, o));
            list_seen[idx] = true;
        }
        ok = set_value(settings, o, v, true, err, errlen);
    }
    free(list_seen);
    return ok;
}

bool config_parse(const struct config_option *opts, size_t n, void *settings, int argc, char **argv,
                  bool *help, char *err, size_t errlen)
{
    *help = false;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help = true;
            return true;
        }
    for (size_t i = 0; i < n; i++)
        if (opts[i].def && !set_value(settings, &opts[i], opts[i].def, false, err, errlen))
            return false;
    for (size_t i = 0; i < n; i++) {
        const char *v = opts[i].env ? getenv(opts[i].env) : NULL;
        if (v && !set_value(settings, &opts[i], v, false, err, errlen)) {
            size_t len = strlen(err);
            snprintf(err + len, errlen - len, " (from %s)", opts[i].env);
            return false;
        }
    }
    return parse_flags(opts, n, settings, argc, argv, err, errlen);
}

void config_print_help(FILE *f, const char *usage, const struct config_option *opts, size_t n)
{
    fprintf(f, "%s\n\nOptions (flags win over environment variables):\n", usage);
    for (size_t i = 0; i < n; i++) {
        const struct config_option *o = &opts[i];
        char left[64];
        snprintf(left, sizeof(left), "--%s%s", o->name, o->type == CFG_BOOL ? "" : " VALUE");
        fprintf(f, "  %-26s %s\n", left, o->help);
        fprintf(f, "  %-26s default: %s%s%s%s\n", "", o->def && *o->def ? o->def : "(none)",
                o->env ? "   env: " : "", o->env ? o->env : "",
                o->type == CFG_LIST ? "   (repeatable)" : "");
    }
    fprintf(f, "  %-26s show this help\n", "--help");
}

void config_free(const struct config_option *opts, size_t n, void *settings)
{
    for (size_t i = 0; i < n; i++) {
        void *f = field(settings, &opts[i]);
        if (opts[i].type == CFG_STRING) {
            free(*(char **)f);
            *(char **)f = NULL;
        } else if (opts[i].type == CFG_LIST) {
            list_clear(f);
        }
    }
}

static bool list_nonempty(const struct config_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i][0])
            return true;
    return false;
}

bool config_check_listeners(const struct config_list *plain, const struct config_list *tls,
                            const char *cert, const char *key, char *err, size_t errlen)
{
    if (tls->n && (!cert || !*cert || !key || !*key)) {
        snprintf(err, errlen, "--tls-listen needs --tls-cert and --tls-key");
        return false;
    }
    if (!list_nonempty(plain) && !list_nonempty(tls)) {
        snprintf(err, errlen, "nothing to listen on: give --listen or --tls-listen");
        return false;
    }
    return true;
}
