/* mock_faults.c — fault mix and script parsing, the seeded fault draw. */
#include "mock_faults.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[MOCK_FAULT_COUNT] = {
    [MOCK_FAULT_NONE] = "none",   [MOCK_FAULT_500] = "500", [MOCK_FAULT_503] = "503",
    [MOCK_FAULT_429] = "429",     [MOCK_FAULT_RST] = "rst", [MOCK_FAULT_GOAWAY] = "goaway",
    [MOCK_FAULT_STALL] = "stall",
};

const char *mock_fault_name(enum mock_fault f)
{
    return (unsigned)f < MOCK_FAULT_COUNT ? names[f] : "?";
}

bool mock_fault_parse_name(const char *s, size_t len, enum mock_fault *out)
{
    if (len == 2 && strncmp(s, "ok", 2) == 0) {
        *out = MOCK_FAULT_NONE;
        return true;
    }
    for (int i = 0; i < MOCK_FAULT_COUNT; i++)
        if (strlen(names[i]) == len && strncmp(names[i], s, len) == 0) {
            *out = (enum mock_fault)i;
            return true;
        }
    return false;
}

/* Trim spaces around [*s, *s + *len). */
static void trim(const char **s, size_t *len)
{
    while (*len && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

/* A decimal number filling exactly [s, s + len). */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    char buf[24];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)buf[i]))
            return false;
    errno = 0;
    unsigned long long v = strtoull(buf, NULL, 10);
    if (errno)
        return false;
    *out = v;
    return true;
}

/* Call item() for each comma-separated, trimmed, non-empty item. */
static bool each_item(const char *s, bool (*item)(const char *, size_t, void *), void *arg)
{
    while (*s) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        const char *it = s;
        size_t ilen = len;
        trim(&it, &ilen);
        if (ilen && !item(it, ilen, arg))
            return false;
        s += len + (c ? 1 : 0);
    }
    return true;
}

struct mix_ctx {
    struct mock_fault_mix *mix;
    char *err;
    size_t errlen;
};

static bool mix_item(const char *s, size_t len, void *arg)
{
    struct mix_ctx *m = arg;
    const char *colon = memchr(s, ':', len);
    enum mock_fault f;
    uint64_t w = 0;
    size_t nlen = colon ? (size_t)(colon - s) : len;
    const char *num = colon ? colon + 1 : "";
    size_t numlen = colon ? len - nlen - 1 : 0;
    trim(&num, &numlen);
    const char *name = s;
    trim(&name, &nlen);
    if (!colon || !mock_fault_parse_name(name, nlen, &f) || f == MOCK_FAULT_NONE ||
        !parse_u64(num, numlen, &w) || w > 1000000) {
        snprintf(m->err, m->errlen,
                 "--fail-mix: bad item '%.*s' (want kind:weight, kinds 500 503 429 rst goaway "
                 "stall)",
                 (int)len, s);
        return false;
    }
    m->mix->weight[f] = (unsigned)w;
    return true;
}

bool mock_fault_mix_parse(const char *s, struct mock_fault_mix *out, char *err, size_t errlen)
{
    struct mock_fault_mix mix = {{0}, 0};
    struct mix_ctx ctx = {&mix, err, errlen};
    if (!each_item(s, mix_item, &ctx))
        return false;
    for (int i = 1; i < MOCK_FAULT_COUNT; i++)
        mix.total += mix.weight[i];
    if (mix.total == 0) {
        snprintf(err, errlen, "--fail-mix: no fault kind has a weight above 0");
        return false;
    }
    *out = mix;
    return true;
}

struct script_ctx {
    struct mock_fault_script *script;
    char *err;
    size_t errlen;
};

static bool script_item(const char *s, size_t len, void *arg)
{
    struct script_ctx *c = arg;
    const char *eq = memchr(s, '=', len);
    const char *dash = eq ? memchr(s, '-', (size_t)(eq - s)) : NULL;
    struct mock_fault_rule r;
    bool ok = eq != NULL;
    if (ok) {
        const char *a = s, *b = dash ? dash + 1 : s, *k = eq + 1;
        size_t alen = (size_t)((dash ? dash : eq) - s), blen = (size_t)(eq - b),
               klen = len - (size_t)(k - s);
        trim(&a, &alen);
        trim(&b, &blen);
        trim(&k, &klen);
        ok = parse_u64(a, alen, &r.first) && parse_u64(b, blen, &r.last) && r.first >= 1 &&
             r.last >= r.first && mock_fault_parse_name(k, klen, &r.fault);
    }
    if (!ok || c->script->n >= MOCK_SCRIPT_MAX_RULES) {
        snprintf(c->err, c->errlen,
                 "--script: bad item '%.*s' (want N=kind or N-M=kind, N from 1, kinds none 500 503 "
                 "429 rst goaway stall; at most %d items)",
                 (int)len, s, MOCK_SCRIPT_MAX_RULES);
        return false;
    }
    c->script->rules = xrealloc(c->script->rules, (c->script->n + 1) * sizeof(r));
    c->script->rules[c->script->n++] = r;
    return true;
}

bool mock_fault_script_parse(const char *s, struct mock_fault_script *out, char *err, size_t errlen)
{
    struct mock_fault_script script = {NULL, 0};
    struct script_ctx ctx = {&script, err, errlen};
    if (!each_item(s, script_item, &ctx)) {
        mock_fault_script_free(&script);
        *out = script;
        return false;
    }
    *out = script;
    return true;
}

void mock_fault_script_free(struct mock_fault_script *s)
{
    free(s->rules);
    s->rules = NULL;
    s->n = 0;
}

enum mock_fault mock_fault_script_lookup(const struct mock_fault_script *s, uint64_t n)
{
    for (size_t i = s->n; i-- > 0;)
        if (n >= s->rules[i].first && n <= s->rules[i].last)
            return s->rules[i].fault;
    return MOCK_FAULT_NONE;
}

static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double uniform(uint64_t *state)
{
    return (double)(splitmix(state) >> 11) * 0x1.0p-53;
}

bool mock_faults_init(struct mock_faults *f, double rate, const char *mix, const char *script,
                      uint64_t seed, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    mix = mix ? mix : "";
    script = script ? script : "";
    if (!mock_fault_mix_parse(mix, &f->mix, err, errlen) ||
        !mock_fault_script_parse(script, &f->script, err, errlen))
        return false;
    f->rate = rate;
    f->seed = f->rng = seed;
    f->mix_text = xstrdup(mix);
    f->script_text = xstrdup(script);
    return true;
}

void mock_faults_free(struct mock_faults *f)
{
    mock_fault_script_free(&f->script);
    free(f->script_text);
    free(f->mix_text);
    f->script_text = f->mix_text = NULL;
}

/* Pick a kind by weight. */
static enum mock_fault draw_kind(struct mock_faults *f)
{
    uint64_t x = splitmix(&f->rng) % f->mix.total;
    for (int i = 1; i < MOCK_FAULT_COUNT; i++) {
        if (x < f->mix.weight[i])
            return (enum mock_fault)i;
        x -= f->mix.weight[i];
    }
    return MOCK_FAULT_NONE; /* not reached: the weights sum to total */
}

enum mock_fault mock_faults_next(struct mock_faults *f, uint64_t *number)
{
    *number = ++f->count;
    if (f->script.n)
        return mock_fault_script_lookup(&f->script, *number);
    if (f->rate <= 0)
        return MOCK_FAULT_NONE;
    /* Always two draws per request, so the sequence only depends on order. */
    bool fails = uniform(&f->rng) < f->rate;
    enum mock_fault kind = draw_kind(f);
    return fails ? kind : MOCK_FAULT_NONE;
}

/* Validate the JSON fields into new values without touching f. */
static bool read_update(const struct mock_faults *f, const json_t *obj, double *rate,
                        const char **mix, const char **script, uint64_t *seed, char *err,
                        size_t errlen)
{
    const json_t *v;
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "body must be a JSON object");
        return false;
    }
    if ((v = json_object_get(obj, "fail_rate"))) {
        *rate = json_number_value(v);
        if (!json_is_number(v) || *rate < 0 || *rate > 1) {
            snprintf(err, errlen, "fail_rate must be a number from 0 to 1");
            return false;
        }
    }
    if ((v = json_object_get(obj, "seed"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            snprintf(err, errlen, "seed must be a non-negative integer");
            return false;
        }
        *seed = (uint64_t)json_integer_value(v);
    }
    if ((v = json_object_get(obj, "fail_mix")) && !(*mix = json_string_value(v))) {
        snprintf(err, errlen, "fail_mix must be a string");
        return false;
    }
    if ((v = json_object_get(obj, "script")) && !(*script = json_string_value(v))) {
        snprintf(err, errlen, "script must be a string");
        return false;
    }
    return true;
}

bool mock_faults_update_json(struct mock_faults *f, const json_t *obj, char *err, size_t errlen)
{
    double rate = f->rate;
    const char *mix = f->mix_text, *script = f->script_text;
    uint64_t seed = f->seed;
    if (!read_update(f, obj, &rate, &mix, &script, &seed, err, errlen))
        return false;
    struct mock_faults next;
    if (!mock_faults_init(&next, rate, mix, script, seed, err, errlen)) {
        mock_faults_free(&next);
        return false;
    }
    mock_faults_free(f);
    *f = next;
    return true;
}

json_t *mock_faults_to_json(const struct mock_faults *f)
{
    return json_pack("{s:f,s:s,s:s,s:I,s:I}", "fail_rate", f->rate, "fail_mix", f->mix_text,
                     "script", f->script_text, "seed", (json_int_t)f->seed, "requests",
                     (json_int_t)f->count);
}
