/* audio_plan.c — silence-aware chunk planning on 10 ms energy windows (FR-1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_plan_priv.h"

#define HIST_MIN_DB     -120.0
#define HIST_BINS       280   /* 0.5 dB bins from -120 to +20 dBFS */
#define HIST_SAMPLES    20000 /* windows looked at for the loud level */
#define ABS_SILENCE     1e-5  /* -100 dBFS: silence whatever the file */
#define MIN_VOICED_WIN  5     /* a span with less sound than 50 ms is a click */
#define HEADER_RESERVE  65536 /* bytes of the limit kept for headers and framing */
#define MAX_COUNT_TRIES 4096

struct span {
    size_t a, b; /* windows [a, b) */
};

void audio_plan_params_default(struct audio_plan_params *p)
{
    p->concurrency = 4;
    p->overhead_seconds = 1.5;
    p->seconds_per_second = 0.02;
    p->min_chunk_seconds = 30;
    p->max_chunk_seconds = 600;
    p->max_encoded_bytes = AUDIO_PLAN_DEFAULT_MAX_BYTES;
    p->encoded_bytes_per_second = AUDIO_PLAN_DEFAULT_BYTES_PER_SECOND;
    p->search_window_seconds = 5;
    p->silence_db = -35;
    p->min_silence_seconds = 2;
    p->pad_seconds = 0.15;
}

static int64_t frame_of(const struct audio_plan *pl, size_t w)
{
    if (w >= pl->nwin)
        return pl->frames;
    int64_t f = (int64_t)w * pl->rate / PLAN_WPS;
    return f < pl->frames ? f : pl->frames;
}

static size_t window_of(const struct audio_plan *pl, int64_t f)
{
    return (size_t)((f * PLAN_WPS + pl->rate - 1) / pl->rate);
}

static double secs(size_t w)
{
    return (double)w / PLAN_WPS;
}

/* The file's own loud level: the 98th percentile of the windows that are
 * not digital silence, from a histogram of at most HIST_SAMPLES windows so
 * a two-hour file costs no sort. */
static double loud_level(const float *e, size_t n)
{
    unsigned hist[HIST_BINS] = {0};
    size_t stride = n / HIST_SAMPLES + 1, total = 0;

    for (size_t i = 0; i < n; i += stride) {
        if (!(e[i] > ABS_SILENCE)) /* NaN counts as silence */
            continue;
        double db = fmin(20.0 * log10(e[i]), HIST_MIN_DB + HIST_BINS / 2.0);
        int b = (int)((db - HIST_MIN_DB) * 2.0);
        hist[b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b]++;
        total++;
    }
    if (total == 0)
        return 0;
    size_t want = total * 98 / 100, seen = 0;
    for (int b = 0; b < HIST_BINS; b++) {
        seen += hist[b];
        if (seen > want)
            return pow(10.0, (HIST_MIN_DB + (b + 0.5) / 2.0) / 20.0);
    }
    return pow(10.0, (HIST_MIN_DB + HIST_BINS / 2.0) / 20.0);
}

static bool is_silent(const struct audio_plan *pl, size_t w)
{
    return pl->energy[w] < pl->silence;
}

static size_t voiced_windows(const struct audio_plan *pl, size_t a, size_t b)
{
    size_t n = 0;
    for (size_t w = a; w < b; w++)
        n += !is_silent(pl, w);
    return n;
}

static void add_span(struct span **spans, size_t *n, size_t a, size_t b)
{
    *spans = xrealloc(*spans, (*n + 1) * sizeof(**spans));
    (*spans)[(*n)++] = (struct span){a, b};
}

/* A silent run [rs, re): which part of it to leave out, if any. */
static void skip_range(const struct audio_plan *pl, size_t rs, size_t re, size_t *ss, size_t *se)
{
    size_t pad = (size_t)lround(pl->p.pad_seconds * PLAN_WPS);
    size_t min_run = (size_t)lround(pl->p.min_silence_seconds * PLAN_WPS);

    *ss = *se = rs;
    if (rs == 0 && re == pl->nwin) {
        *se = re;
    } else if (rs == 0) {
        *se = re > pad ? re - pad : 0;
    } else if (re == pl->nwin) {
        *ss = *se = rs + pad < re ? rs + pad : re;
        *se = re;
    } else if (re - rs >= min_run && re - rs > 2 * pad) {
        *ss = rs + pad;
        *se = re - pad;
    }
}

static const char *skip_kind(const struct audio_plan *pl, size_t ss, size_t se)
{
    if (ss == 0)
        return se == pl->nwin ? "whole file" : "leading silence";
    return se == pl->nwin ? "trailing silence" : "silent stretch";
}

/* Speech spans: the file minus the silence that is not worth sending. */
static size_t find_spans(struct audio_plan *pl, struct span **spans)
{
    size_t n = 0, from = 0, w = 0;

    *spans = NULL;
    while (w < pl->nwin) {
        if (!is_silent(pl, w)) {
            w++;
            continue;
        }
        size_t rs = w, ss, se;
        while (w < pl->nwin && is_silent(pl, w))
            w++;
        skip_range(pl, rs, w, &ss, &se);
        if (se <= ss)
            continue;
        plan_decide(pl, "skip %.2f-%.2f s (%.2f s): %s below %.1f dBFS", secs(ss), secs(se),
                    secs(se - ss), skip_kind(pl, ss, se), plan_dbfs(pl->silence));
        pl->skipped += secs(se - ss);
        if (ss > from)
            add_span(spans, &n, from, ss);
        from = se;
    }
    if (from < pl->nwin)
        add_span(spans, &n, from, pl->nwin);
    return n;
}

/* Drop spans with almost no sound in them (a click between two silences). */
static size_t drop_blips(struct audio_plan *pl, struct span *spans, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (voiced_windows(pl, spans[i].a, spans[i].b) < MIN_VOICED_WIN) {
            plan_decide(pl, "skip %.2f-%.2f s: under %d ms of sound between silences",
                        secs(spans[i].a), secs(spans[i].b), MIN_VOICED_WIN * 10);
            pl->skipped += secs(spans[i].b - spans[i].a);
            continue;
        }
        spans[kept++] = spans[i];
    }
    return kept;
}

/* Longest chunk allowed: the max seconds, or less when the encoded size
 * would pass the upstream's body limit. */
static double max_chunk(struct audio_plan *pl)
{
    double lmax = pl->p.max_chunk_seconds;
    if (pl->p.max_encoded_bytes > 0 && pl->p.encoded_bytes_per_second > 0) {
        double usable = (double)pl->p.max_encoded_bytes - HEADER_RESERVE;
        if (usable < pl->p.max_encoded_bytes / 2.0)
            usable = pl->p.max_encoded_bytes / 2.0;
        double by_size = usable / pl->p.encoded_bytes_per_second;
        if (by_size < lmax) {
            plan_decide(pl, "size limit %lld bytes at %.0f B/s caps chunks at %.1f s",
                        (long long)pl->p.max_encoded_bytes, pl->p.encoded_bytes_per_second,
                        by_size);
            lmax = by_size;
        }
    }
    return lmax < 0.02 ? 0.02 : lmax;
}

static double predict(const struct audio_plan *pl, double voiced, int n, int *waves)
{
    int c = pl->p.concurrency > 0 ? pl->p.concurrency : 1;
    *waves = (n + c - 1) / c;
    return *waves * (pl->p.overhead_seconds + pl->p.seconds_per_second * voiced / n);
}

/* How many chunks: the count that minimises waves × (overhead + cost × length)
 * between the counts the min and max lengths allow; ties go to fewer chunks.
 * With enough concurrency this is one wave of equal chunks. */
static int choose_count(struct audio_plan *pl, double voiced, double lmin, double lmax)
{
    int lo = (int)ceil(voiced / lmax - 1e-9), hi = (int)floor(voiced / lmin + 1e-9);
    int best = lo < 1 ? 1 : lo, waves;
    if (hi < best)
        hi = best;
    if (hi > best + MAX_COUNT_TRIES)
        hi = best + MAX_COUNT_TRIES;
    double best_t = predict(pl, voiced, best, &waves);
    for (int n = best + 1; n <= hi; n++) {
        int w;
        double t = predict(pl, voiced, n, &w);
        if (t < best_t - 1e-9) {
            best = n;
            best_t = t;
        }
    }
    predict(pl, voiced, best, &waves);
    plan_decide(pl,
                "%.2f s of speech, concurrency %d, overhead %.2f s + %.4f s/s, chunks %.1f-%.1f "
                "s: %d chunk(s) of ~%.2f s in %d wave(s), predicted %.2f s",
                voiced, pl->p.concurrency, pl->p.overhead_seconds, pl->p.seconds_per_second, lmin,
                lmax, best, voiced / best, waves, best_t);
    return best;
}

static void push_chunk(struct audio_plan *pl, size_t a, size_t b, char *reason)
{
    if (pl->nchunks == pl->chunk_cap) {
        pl->chunk_cap = pl->chunk_cap ? pl->chunk_cap * 2 : 8;
        pl->chunks = xrealloc(pl->chunks, pl->chunk_cap * sizeof(*pl->chunks));
    }
    struct audio_chunk *c = &pl->chunks[pl->nchunks];
    c->index = (int)pl->nchunks;
    c->start_frame = frame_of(pl, a);
    c->end_frame = frame_of(pl, b);
    c->start_seconds = (double)c->start_frame / pl->rate;
    c->duration = (double)(c->end_frame - c->start_frame) / pl->rate;
    c->reason = reason;
    pl->nchunks++;
}

/* Where to cut inside windows [lo, hi], near target: the middle of the quiet
 * run nearest the target, where "quiet" is within 3.5 dB of the quietest
 * window. When nothing there is silence or even 6 dB under the average, the
 * audio is continuous and the cut stays at the target. */
static size_t choose_cut(const struct audio_plan *pl, size_t lo, size_t hi, size_t target,
                         char *why, size_t whylen, bool *paused)
{
    const float *e = pl->energy;
    double emin = INFINITY, sum = 0;
    for (size_t w = lo; w <= hi; w++) {
        emin = e[w] < emin ? e[w] : emin;
        sum += e[w];
    }
    double mean = sum / (double)(hi - lo + 1);
    *paused = !(emin >= pl->silence && emin > 0.5 * mean);
    if (!*paused) {
        snprintf(why, whylen, "no pause near %.2f s (quietest %.1f dBFS, mean %.1f): cut at target",
                 secs(target), plan_dbfs(emin), plan_dbfs(mean));
        return target;
    }
    double tol = emin * 1.5 + 1e-9;
    size_t best_at = target, best_dist = SIZE_MAX, w = lo;
    while (w <= hi) {
        if (e[w] > tol) {
            w++;
            continue;
        }
        size_t rs = w;
        while (w <= hi && e[w] <= tol)
            w++;
        size_t dist = target < rs ? rs - target : target >= w ? target - w + 1 : 0;
        if (dist < best_dist) {
            best_dist = dist;
            best_at = (rs + w) / 2;
        }
    }
    snprintf(why, whylen, "pause at %.1f dBFS, %+.2f s from target %.2f s", plan_dbfs(emin),
             secs(best_at) - secs(target), secs(target));
    return best_at;
}

struct bounds {
    size_t lo, hi, target;
};

/* Where cut k of n in span [a, b) may go after the previous cut. hard: within
 * ±W of the target, no chunk above lmax, the rest still fitting. soft: also
 * no chunk under lmin, when that leaves any room. */
static void cut_bounds(size_t a, size_t b, size_t prev, int k, int n, size_t win, size_t lmin,
                       size_t lmax, struct bounds *hard, struct bounds *soft)
{
    size_t rest = (size_t)(n - k);
    size_t t = a + (b - a) * (size_t)k / (size_t)n;
    size_t l = t > win ? t - win : 0, h = t + win;

    l = l > prev + 1 ? l : prev + 1;
    if (b > rest * lmax && l < b - rest * lmax)
        l = b - rest * lmax;
    h = h < prev + lmax ? h : prev + lmax;
    h = h < b - 1 ? h : b - 1;
    if (l > h)
        l = h;
    *hard = (struct bounds){l, h, t < l ? l : t > h ? h : t};
    if (l < prev + lmin && prev + lmin <= h)
        l = prev + lmin;
    if (b > rest * lmin && h > b - rest * lmin && b - rest * lmin >= l)
        h = b - rest * lmin;
    *soft = (struct bounds){l, h, t < l ? l : t > h ? h : t};
}

/* The cut for one boundary. The min length gives way only when keeping it
 * would put the cut through speech: a split word costs more than a chunk a
 * little under min. */
static size_t place_cut(const struct audio_plan *pl, const struct bounds *hard,
                        const struct bounds *soft, char *why, size_t whylen)
{
    bool paused;
    size_t cut = choose_cut(pl, soft->lo, soft->hi, soft->target, why, whylen, &paused);
    if (paused || (hard->lo == soft->lo && hard->hi == soft->hi))
        return cut;
    char alt[200];
    size_t c2 = choose_cut(pl, hard->lo, hard->hi, hard->target, alt, sizeof(alt), &paused);
    if (!paused)
        return cut;
    snprintf(why, whylen, "%.140s (under min length rather than through speech)", alt);
    return c2;
}

/* Chunks of one speech span: n pieces of about equal length, each cut moved
 * to the nearest pause. */
static void plan_span(struct audio_plan *pl, const struct span *s, int n, size_t lmin, size_t lmax,
                      const char *start_why)
{
    size_t win = (size_t)lround(pl->p.search_window_seconds * PLAN_WPS), prev = s->a;
    char why[200], start[200];

    snprintf(start, sizeof(start), "%s", start_why);
    for (int k = 1; k <= n; k++) {
        size_t cut = s->b;
        if (k < n) {
            struct bounds hard, soft;
            cut_bounds(s->a, s->b, prev, k, n, win, lmin, lmax, &hard, &soft);
            cut = place_cut(pl, &hard, &soft, why, sizeof(why));
        } else {
            snprintf(why, sizeof(why), "%s",
                     s->b == pl->nwin ? "end of file" : "end of speech before skipped silence");
        }
        char *reason = xasprintf("starts: %s; ends: %s", start, why);
        push_chunk(pl, prev, cut, reason);
        plan_decide(pl, "chunk %zu: %.2f-%.2f s (%.2f s); %s", pl->nchunks - 1, secs(prev),
                    secs(cut), secs(cut - prev), reason);
        snprintf(start, sizeof(start), "cut at %.2f s", secs(cut));
        prev = cut;
    }
}

/* Pieces for a span of S seconds when the ideal chunk is L seconds. */
static int span_pieces(double S, double L, double lmin, double lmax)
{
    int n = (int)lround(S / L);
    int need = (int)ceil(S / lmax - 1e-9);
    if (n < need)
        n = need;
    if (n > 1 && S / n < lmin) {
        int fit = (int)floor(S / lmin + 1e-9);
        n = fit > need ? fit : need;
    }
    return n < 1 ? 1 : n;
}

static void plan_chunks(struct audio_plan *pl, const struct span *spans, size_t nspans)
{
    double lmax = max_chunk(pl), lmin = pl->p.min_chunk_seconds;
    if (lmin > lmax)
        lmin = lmax;
    int count = choose_count(pl, pl->voiced, lmin, lmax);
    double ideal = pl->voiced / count;
    size_t lmin_w = (size_t)floor(lmin * PLAN_WPS), lmax_w = (size_t)floor(lmax * PLAN_WPS);
    if (lmax_w < 2)
        lmax_w = 2;
    for (size_t i = 0; i < nspans; i++) {
        double S = secs(spans[i].b - spans[i].a);
        int n = span_pieces(S, ideal, lmin, lmax);
        char start[96];
        if (spans[i].a == 0)
            snprintf(start, sizeof(start), "start of file");
        else
            snprintf(start, sizeof(start), "speech resumes at %.2f s after skipped silence",
                     secs(spans[i].a));
        if (n == 1 && S < lmin && pl->voiced >= lmin)
            plan_decide(pl,
                        "span %.2f-%.2f s is shorter than min %.1f s: kept alone, silence "
                        "around it is not sent",
                        secs(spans[i].a), secs(spans[i].b), lmin);
        plan_span(pl, &spans[i], n, lmin_w, lmax_w, start);
    }
}

struct audio_plan *audio_plan_new(float *energy, size_t nwin, int rate, int64_t frames,
                                  const struct audio_plan_params *p, const char *log_ctx)
{
    struct audio_plan *pl = xcalloc(1, sizeof(*pl));
    struct span *spans = NULL;

    pl->p = *p;
    pl->energy = energy;
    pl->nwin = nwin;
    pl->rate = rate > 0 ? rate : 1;
    pl->frames = frames;
    pl->ctx = log_ctx ? xstrdup(log_ctx) : NULL;
    pl->loud = loud_level(energy, nwin);
    pl->silence = pl->loud * pow(10.0, p->silence_db / 20.0);
    if (pl->silence < ABS_SILENCE)
        pl->silence = ABS_SILENCE;
    plan_decide(pl, "%.2f s, %zu windows; loud level %.1f dBFS, silence below %.1f dBFS",
                (double)frames / pl->rate, nwin, plan_dbfs(pl->loud), plan_dbfs(pl->silence));
    size_t nspans = find_spans(pl, &spans);
    nspans = drop_blips(pl, spans, nspans);
    for (size_t i = 0; i < nspans; i++)
        pl->voiced += secs(spans[i].b - spans[i].a);
    if (nspans == 0)
        plan_decide(pl, "no speech found: nothing to send upstream");
    else
        plan_chunks(pl, spans, nspans);
    free(spans);
    return pl;
}

size_t audio_plan_count(const struct audio_plan *pl)
{
    return pl->nchunks;
}

const struct audio_chunk *audio_plan_chunk(const struct audio_plan *pl, size_t i)
{
    return i < pl->nchunks ? &pl->chunks[i] : NULL;
}

double audio_plan_voiced_seconds(const struct audio_plan *pl)
{
    return pl->voiced;
}

double audio_plan_skipped_seconds(const struct audio_plan *pl)
{
    return pl->skipped;
}

double audio_plan_silence_level(const struct audio_plan *pl)
{
    return pl->silence;
}

bool audio_plan_split(struct audio_plan *pl, size_t i)
{
    if (i >= pl->nchunks)
        return false;
    struct audio_chunk *c = &pl->chunks[i];
    size_t a = window_of(pl, c->start_frame), b = window_of(pl, c->end_frame);
    if (b < a + 2)
        return false;
    size_t len = b - a, lo = a + (len / 4 ? len / 4 : 1), hi = b - (len / 4 ? len / 4 : 1);
    char why[200];
    bool paused;
    size_t cut = choose_cut(pl, lo, hi, a + len / 2, why, sizeof(why), &paused);
    char *first = xasprintf("%s; split for 413, first half ends: %s", c->reason, why);
    char *second = xasprintf("split for 413 at %.2f s: %s", secs(cut), why);

    push_chunk(pl, cut, b, second); /* appended, then moved into place */
    struct audio_chunk tail = pl->chunks[pl->nchunks - 1];
    c = &pl->chunks[i];
    memmove(c + 2, c + 1, (pl->nchunks - 2 - i) * sizeof(*c));
    pl->chunks[i + 1] = tail;
    free(c->reason);
    c->reason = first;
    c->end_frame = frame_of(pl, cut);
    c->duration = (double)(c->end_frame - c->start_frame) / pl->rate;
    for (size_t k = i + 1; k < pl->nchunks; k++)
        pl->chunks[k].index = (int)k;
    plan_decide(pl, "split chunk %zu at %.2f s for 413: %s", i, secs(cut), why);
    return true;
}

void audio_plan_free(struct audio_plan *pl)
{
    if (!pl)
        return;
    for (size_t i = 0; i < pl->nchunks; i++)
        free(pl->chunks[i].reason);
    for (size_t i = 0; i < pl->ndecisions; i++)
        free(pl->decisions[i]);
    free(pl->chunks);
    free(pl->decisions);
    free(pl->energy);
    free(pl->ctx);
    free(pl);
}
