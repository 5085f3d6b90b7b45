/* tonecode_decode.c — Goertzel analysis of mono audio into tone windows.
 *
 * The signal is cut into 10 ms blocks. For each block a Goertzel filter per
 * candidate frequency gives the block's DFT term, rotated to an absolute
 * phase reference, so that summing 5 consecutive blocks gives the exact DFT
 * of a 50 ms window (20 Hz resolution, candidates are 40 Hz apart) while
 * every sample goes through each filter only once. A window slides by one
 * block (10 ms), which is the time resolution before interpolation. */
#include "tonecode_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define BLOCKS_PER_WINDOW 5
#define TONAL_FRACTION    0.4   /* share of window energy in the best tone */
#define MIN_AMPLITUDE     0.002 /* about -54 dBFS: quieter is silence */

struct tonecode_decoder {
    int rate;
    int block; /* samples per block */
    double coef[TONECODE_ALPHABET];
    double cosw[TONECODE_ALPHABET];
    double sinw[TONECODE_ALPHABET];
    double s1[TONECODE_ALPHABET];
    double s2[TONECODE_ALPHABET];
    double energy;    /* of the current block */
    int filled;       /* samples in the current block */
    long long blocks; /* completed blocks */
    double re[BLOCKS_PER_WINDOW][TONECODE_ALPHABET];
    double im[BLOCKS_PER_WINDOW][TONECODE_ALPHABET];
    double block_energy[BLOCKS_PER_WINDOW];
    struct tonecode_window *win;
    size_t nwin;
    size_t capwin;
};

struct tonecode_decoder *tonecode_decoder_new(int rate)
{
    if (rate < 8000)
        return NULL;
    struct tonecode_decoder *d = xcalloc(1, sizeof(*d));
    d->rate = rate;
    d->block = (rate + 50) / 100;
    for (int k = 0; k < TONECODE_ALPHABET; k++) {
        double w = 2.0 * M_PI * tonecode_freq(k) / rate;
        d->coef[k] = 2.0 * cos(w);
        d->cosw[k] = cos(w);
        d->sinw[k] = sin(w);
    }
    return d;
}

void tonecode_decoder_free(struct tonecode_decoder *d)
{
    if (!d)
        return;
    free(d->win);
    free(d);
}

static void push_window(struct tonecode_decoder *d, struct tonecode_window w)
{
    if (d->nwin == d->capwin) {
        d->capwin = d->capwin ? d->capwin * 2 : 1024;
        d->win = xrealloc(d->win, d->capwin * sizeof(*d->win));
    }
    d->win[d->nwin++] = w;
}

/* Classify the window made of the last 5 blocks. */
static void close_window(struct tonecode_decoder *d)
{
    double energy = 0;
    for (int b = 0; b < BLOCKS_PER_WINDOW; b++)
        energy += d->block_energy[b];
    double best = 0;
    int best_k = 0;
    for (int k = 0; k < TONECODE_ALPHABET; k++) {
        double re = 0, im = 0;
        for (int b = 0; b < BLOCKS_PER_WINDOW; b++) {
            re += d->re[b][k];
            im += d->im[b][k];
        }
        double p = re * re + im * im;
        if (p > best) {
            best = p;
            best_k = k;
        }
    }
    double n = (double)d->block * BLOCKS_PER_WINDOW;
    struct tonecode_window w = {(float)(2.0 * sqrt(best) / n), (unsigned char)best_k, 0};
    double in_tone = 2.0 * best / n;
    w.tonal = energy > 0 && in_tone >= TONAL_FRACTION * energy && w.amp >= MIN_AMPLITUDE;
    push_window(d, w);
}

/* Finish a block: turn each filter state into the block's DFT term with the
 * phase measured from sample 0 of the stream. (f × n) mod rate is computed
 * in integers, so the phase stays exact however long the stream is. */
static void close_block(struct tonecode_decoder *d)
{
    int slot = (int)(d->blocks % BLOCKS_PER_WINDOW);
    uint64_t last = (uint64_t)d->blocks * (uint64_t)d->block + (uint64_t)d->block - 1;
    for (int k = 0; k < TONECODE_ALPHABET; k++) {
        double yre = d->s1[k] - d->cosw[k] * d->s2[k];
        double yim = d->sinw[k] * d->s2[k];
        uint64_t turns = ((uint64_t)tonecode_freq(k) * last) % (uint64_t)d->rate;
        double theta = -2.0 * M_PI * (double)turns / d->rate;
        double c = cos(theta), s = sin(theta);
        d->re[slot][k] = yre * c - yim * s;
        d->im[slot][k] = yre * s + yim * c;
        d->s1[k] = d->s2[k] = 0;
    }
    d->block_energy[slot] = d->energy;
    d->energy = 0;
    d->filled = 0;
    d->blocks++;
    if (d->blocks >= BLOCKS_PER_WINDOW)
        close_window(d);
}

/* Samples outer, frequencies inner: the 64 recurrences are independent, so
 * the inner loop vectorizes instead of waiting on one long dependency chain. */
static void run_filters(struct tonecode_decoder *d, const float *x, size_t n)
{
    double *restrict s1 = d->s1, *restrict s2 = d->s2;
    const double *restrict c = d->coef;
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        e += v * v;
        for (int k = 0; k < TONECODE_ALPHABET; k++) {
            double s0 = v + c[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s0;
        }
    }
    d->energy += e;
}

void tonecode_decoder_feed(struct tonecode_decoder *d, const float *mono, size_t frames)
{
    while (frames > 0) {
        size_t room = (size_t)(d->block - d->filled);
        size_t n = frames < room ? frames : room;
        run_filters(d, mono, n);
        d->filled += (int)n;
        mono += n;
        frames -= n;
        if (d->filled == d->block)
            close_block(d);
    }
}

/* A trailing partial block (< 10 ms) is dropped: it cannot hold a word. */
size_t tonecode_decoder_finish(struct tonecode_decoder *d, struct tonecode_word *out, size_t max)
{
    double hop = (double)d->block / d->rate;
    return tonecode_segment(d->win, d->nwin, hop, hop * BLOCKS_PER_WINDOW, out, max);
}

size_t tonecode_decode(const float *mono, size_t frames, int rate, struct tonecode_word *out,
                       size_t max)
{
    struct tonecode_decoder *d = tonecode_decoder_new(rate);
    if (!d)
        return 0;
    tonecode_decoder_feed(d, mono, frames);
    size_t n = tonecode_decoder_finish(d, out, max);
    tonecode_decoder_free(d);
    return n;
}

size_t tonecode_decode_sndfile(SNDFILE *sf, const SF_INFO *info, struct tonecode_word *out,
                               size_t max)
{
    enum { FRAMES = 4096 };
    struct tonecode_decoder *d = tonecode_decoder_new(info->samplerate);
    if (!d || info->channels < 1) {
        tonecode_decoder_free(d);
        return 0;
    }
    int ch = info->channels;
    float *buf = xmalloc((size_t)FRAMES * (size_t)ch * sizeof(float));
    float mono[FRAMES];
    sf_count_t got;
    while ((got = sf_readf_float(sf, buf, FRAMES)) > 0) {
        for (sf_count_t i = 0; i < got; i++) {
            double sum = 0;
            for (int c = 0; c < ch; c++)
                sum += buf[i * ch + c];
            mono[i] = (float)(sum / ch);
        }
        tonecode_decoder_feed(d, mono, (size_t)got);
    }
    free(buf);
    size_t n = tonecode_decoder_finish(d, out, max);
    tonecode_decoder_free(d);
    return n;
}
