/* metrics.c — shared-memory metric cells and Prometheus rendering. */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

struct series {
    char *name;
    char *help;
    char *labels;
    enum kind kind;
    unsigned family; /* series sharing a name render under one HELP/TYPE */
    size_t cell;     /* first cell in a slot */
    size_t ncells;   /* 1, or nbounds + 2 for a histogram (buckets…, +Inf, sum) */
    double *bounds;
    size_t nbounds;
};

static struct series *series;
static size_t nseries;
static unsigned nfamilies;
static size_t ncells_total;
static uint64_t *cells; /* nslots × ncells_total, shared after metrics_start */
static size_t cells_bytes;
static bool shared;
static unsigned nslots = 1;
static uint64_t *mine; /* this process's slot */

/* Histogram sums are kept in integer micro-units so slots add up exactly. */
#define SUM_SCALE 1e6

static metric_id declare(const char *name, const char *help, const char *labels, enum kind k,
                         const double *bounds, size_t nbounds)
{
    if (shared) {
        fprintf(stderr, "metrics: %s declared after metrics_start\n", name);
        abort();
    }
    series = xrealloc(series, (nseries + 1) * sizeof(*series));
    struct series *s = &series[nseries];
    memset(s, 0, sizeof(*s));
    s->name = xstrdup(name);
    s->help = xstrdup(help);
    s->labels = xstrdup(labels ? labels : "");
    s->kind = k;
    s->family = nfamilies;
    for (size_t i = 0; i < nseries; i++) /* start-up only: quadratic is fine */
        if (strcmp(series[i].name, name) == 0) {
            s->family = series[i].family;
            break;
        }
    if (s->family == nfamilies)
        nfamilies++;
    s->cell = ncells_total;
    s->ncells = k == K_HISTOGRAM ? nbounds + 2 : 1;
    if (nbounds) {
        s->bounds = xmalloc(nbounds * sizeof(double));
        memcpy(s->bounds, bounds, nbounds * sizeof(double));
        s->nbounds = nbounds;
    }
    ncells_total += s->ncells;
    /* Private cells until metrics_start: grow them with the declarations. */
    cells = xrealloc(cells, ncells_total * sizeof(uint64_t));
    memset(cells + s->cell, 0, s->ncells * sizeof(uint64_t));
    mine = cells;
    return (metric_id)nseries++;
}

metric_id metrics_counter(const char *name, const char *help, const char *labels)
{
    return declare(name, help, labels, K_COUNTER, NULL, 0);
}

metric_id metrics_gauge(const char *name, const char *help, const char *labels)
{
    return declare(name, help, labels, K_GAUGE, NULL, 0);
}

metric_id metrics_histogram(const char *name, const char *help, const char *labels,
                            const double *bounds, size_t nbounds)
{
    return declare(name, help, labels, K_HISTOGRAM, bounds, nbounds);
}

bool metrics_start(unsigned slots)
{
    if (shared || slots == 0)
        return false;
    size_t bytes = (size_t)slots * (ncells_total ? ncells_total : 1) * sizeof(uint64_t);
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return false;
    memset(m, 0, bytes);
    free(cells);
    cells = m;
    cells_bytes = bytes;
    nslots = slots;
    shared = true;
    mine = cells;
    return true;
}

void metrics_bind_slot(unsigned slot)
{
    if (slot >= nslots)
        slot = 0;
    mine = cells + (size_t)slot * ncells_total;
    for (size_t i = 0; i < nseries; i++)
        if (series[i].kind == K_GAUGE)
            __atomic_store_n(&mine[series[i].cell], 0, __ATOMIC_RELAXED);
}

void metrics_add(metric_id id, uint64_t n)
{
    if (id < nseries)
        __atomic_fetch_add(&mine[series[id].cell], n, __ATOMIC_RELAXED);
}

void metrics_gauge_add(metric_id id, int64_t delta)
{
    if (id < nseries)
        __atomic_fetch_add(&mine[series[id].cell], (uint64_t)delta, __ATOMIC_RELAXED);
}

void metrics_gauge_set(metric_id id, int64_t value)
{
    if (id < nseries)
        __atomic_store_n(&mine[series[id].cell], (uint64_t)value, __ATOMIC_RELAXED);
}

void metrics_observe(metric_id id, double value)
{
    if (id >= nseries || series[id].kind != K_HISTOGRAM)
        return;
    const struct series *s = &series[id];
    size_t b = 0;
    while (b < s->nbounds && value > s->bounds[b])
        b++;
    __atomic_fetch_add(&mine[s->cell + b], 1, __ATOMIC_RELAXED);
    uint64_t scaled = value > 0 ? (uint64_t)(value * SUM_SCALE + 0.5) : 0;
    __atomic_fetch_add(&mine[s->cell + s->nbounds + 1], scaled, __ATOMIC_RELAXED);
}

static uint64_t sum_cell(size_t cell)
{
    uint64_t total = 0;
    unsigned n = shared ? nslots : 1;
    for (unsigned i = 0; i < n; i++)
        total += __atomic_load_n(&cells[(size_t)i * ncells_total + cell], __ATOMIC_RELAXED);
    return total;
}

int64_t metrics_value(metric_id id)
{
    return id < nseries ? (int64_t)sum_cell(series[id].cell) : 0;
}

struct out {
    char *buf;
    size_t len, cap;
};

static void outf(struct out *o, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void outf(struct out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        o->cap = o->cap * 2 + (n > 0 ? (size_t)n : 0) + 256;
        o->buf = xrealloc(o->buf, o->cap);
    }
}

static void render_histogram(struct out *o, const struct series *s)
{
    const char *sep = *s->labels ? "," : "";
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= s->nbounds; b++) {
        cumulative += sum_cell(s->cell + b);
        if (b < s->nbounds)
            outf(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", s->name, s->labels, sep, s->bounds[b],
                 (unsigned long long)cumulative);
        else
            outf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", s->name, s->labels, sep,
                 (unsigned long long)cumulative);
    }
    double sum = (double)sum_cell(s->cell + s->nbounds + 1) / SUM_SCALE;
    const char *lb = *s->labels ? "{" : "", *rb = *s->labels ? "}" : "";
    outf(o, "%s_sum%s%s%s %.6f\n", s->name, lb, s->labels, rb, sum);
    outf(o, "%s_count%s%s%s %llu\n", s->name, lb, s->labels, rb, (unsigned long long)cumulative);
}

char *metrics_render(size_t *len)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    struct out o = {xmalloc(4096), 0, 4096};
    o.buf[0] = '\0';
    size_t first = 0;
    for (unsigned f = 0; f < nfamilies; f++) {
        while (first < nseries && series[first].family < f)
            first++; /* families are numbered in order of first declaration */
        const struct series *h = &series[first];
        outf(&o, "# HELP %s %s\n# TYPE %s %s\n", h->name, h->help, h->name, types[h->kind]);
        for (size_t j = first; j < nseries; j++) {
            const struct series *s = &series[j];
            if (s->family != f)
                continue;
            if (s->kind == K_HISTOGRAM) {
                render_histogram(&o, s);
                continue;
            }
            uint64_t v = sum_cell(s->cell);
            const char *lb = *s->labels ? "{" : "", *rb = *s->labels ? "}" : "";
            if (s->kind == K_GAUGE)
                outf(&o, "%s%s%s%s %lld\n", s->name, lb, s->labels, rb, (long long)v);
            else
                outf(&o, "%s%s%s%s %llu\n", s->name, lb, s->labels, rb, (unsigned long long)v);
        }
    }
    *len = o.len;
    return o.buf;
}

void metrics_foreach(void (*fn)(const struct metrics_sample *s, void *arg), void *arg)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    for (size_t i = 0; i < nseries; i++) {
        const struct series *s = &series[i];
        struct metrics_sample m = {
            .name = s->name, .help = s->help, .labels = s->labels, .type = types[s->kind]};
        uint64_t *buckets = NULL;
        if (s->kind == K_HISTOGRAM) {
            buckets = xmalloc((s->nbounds + 1) * sizeof(*buckets));
            for (size_t b = 0; b <= s->nbounds; b++) {
                buckets[b] = sum_cell(s->cell + b);
                m.value += (int64_t)buckets[b];
            }
            m.sum = (double)sum_cell(s->cell + s->nbounds + 1) / SUM_SCALE;
            m.bounds = s->bounds;
            m.buckets = buckets;
            m.nbounds = s->nbounds;
        } else {
            m.value = (int64_t)sum_cell(s->cell);
        }
        fn(&m, arg);
        free(buckets);
    }
}

double metrics_quantile(const struct metrics_sample *s, double q)
{
    if (!s->buckets || s->value <= 0)
        return NAN;
    double rank = q * (double)s->value, seen = 0;
    for (size_t b = 0; b <= s->nbounds; b++) {
        double n = (double)s->buckets[b];
        if (seen + n >= rank && n > 0) {
            if (b == s->nbounds) /* +Inf: the best we can say is "above the last bound" */
                return s->nbounds ? s->bounds[s->nbounds - 1] : NAN;
            double lo = b ? s->bounds[b - 1] : 0, hi = s->bounds[b];
            return lo + (hi - lo) * ((rank - seen) / n);
        }
        seen += n;
    }
    return s->nbounds ? s->bounds[s->nbounds - 1] : NAN;
}

void metrics_reset(void)
{
    for (size_t i = 0; i < nseries; i++) {
        free(series[i].name);
        free(series[i].help);
        free(series[i].labels);
        free(series[i].bounds);
    }
    free(series);
    series = NULL;
    nseries = 0;
    nfamilies = 0;
    ncells_total = 0;
    if (shared)
        munmap(cells, cells_bytes);
    else
        free(cells);
    cells = NULL;
    mine = NULL;
    shared = false;
    nslots = 1;
}
