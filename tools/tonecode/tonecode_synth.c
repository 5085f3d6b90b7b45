/* tonecode_synth.c — tone-coded samples, produced a block at a time. */
#include "tonecode_internal.h"

#include <math.h>
#include <sndfile.h>
#include <stdlib.h>

#include "alloc.h"

#define FADE_SECONDS 0.005

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Uniform in [-1, 1): xorshift64*, deterministic for a seed. */
static double next_noise(struct tonecode_synth *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    uint64_t r = s->rng * 0x2545f4914f6cdd1dULL;
    return (double)(r >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static long long frame_at(const struct tonecode_synth *s, double seconds)
{
    return llround(seconds * s->rate);
}

/* Frames of word k: pauses mode has a fixed 0.4 s tone; no-pause mode runs
 * until the next word starts (or the layout ends, for the last word). */
static void locate_word(struct tonecode_synth *s, int k)
{
    s->word = k;
    s->word_start = frame_at(s, s->lead + k * TONECODE_PERIOD_SECONDS);
    if (s->no_pauses) {
        long long next = frame_at(s, s->lead + (k + 1) * TONECODE_PERIOD_SECONDS);
        s->word_end = next < s->layout_end ? next : s->layout_end;
    } else {
        s->word_end = s->word_start + frame_at(s, TONECODE_WORD_SECONDS);
    }
    if (!s->no_pauses || k == 0)
        s->phase = 0.0;
}

void tonecode_synth_init(struct tonecode_synth *s, const struct tonecode_gen_opts *o,
                         const struct tonecode_plan *plan)
{
    s->rate = o->rate;
    s->channels = o->channels;
    s->amplitude = o->amplitude > 0 ? o->amplitude : 0.5;
    s->noise = o->noise_floor;
    s->lead = o->lead_silence;
    s->no_pauses = o->no_pauses;
    s->words = tonecode_word_count(plan->duration, o->no_pauses);
    s->total = plan->total_frames;
    s->layout_end = frame_at(s, o->lead_silence + plan->duration);
    s->pos = 0;
    s->fade = frame_at(s, FADE_SECONDS);
    if (s->fade < 1)
        s->fade = 1;
    s->rng = splitmix(o->seed) | 1;
    locate_word(s, 0);
}

/* Raised-cosine ramps so lossy codecs see no clicks. In no-pause mode only
 * the first word fades in and the last fades out: the frequency switches
 * between words are phase-continuous, so the audio has no dip at all. */
static double gain(const struct tonecode_synth *s)
{
    long long in = s->pos - s->word_start;
    long long out = s->word_end - 1 - s->pos;
    double g = 1.0;
    bool ramp_in = !s->no_pauses || s->word == 0;
    bool ramp_out = !s->no_pauses || s->word == s->words - 1;
    if (ramp_in && in < s->fade)
        g *= 0.5 * (1.0 - cos(M_PI * (in + 0.5) / s->fade));
    if (ramp_out && out < s->fade)
        g *= 0.5 * (1.0 - cos(M_PI * (out + 0.5) / s->fade));
    return g;
}

static double tone_sample(struct tonecode_synth *s)
{
    while (s->word < s->words && s->pos >= s->word_end)
        locate_word(s, s->word + 1);
    if (s->word >= s->words || s->pos < s->word_start)
        return 0.0;
    double v = s->amplitude * gain(s) * sin(s->phase);
    s->phase += 2.0 * M_PI * tonecode_freq(s->word) / s->rate;
    if (s->phase >= 2.0 * M_PI)
        s->phase -= 2.0 * M_PI;
    return v;
}

void tonecode_synth_fill(struct tonecode_synth *s, float *out, size_t frames)
{
    for (size_t i = 0; i < frames; i++) {
        double v = s->pos < s->total ? tone_sample(s) : 0.0;
        for (int c = 0; c < s->channels; c++) {
            double x = v;
            if (s->noise > 0 && s->pos < s->total)
                x += s->noise * next_noise(s);
            if (x > 1.0)
                x = 1.0;
            if (x < -1.0)
                x = -1.0;
            out[i * s->channels + c] = (float)x;
        }
        s->pos++;
    }
}

bool tonecode_synth_write(SNDFILE *sf, struct tonecode_synth *s)
{
    float *buf = xmalloc((size_t)TONECODE_BLOCK_FRAMES * (size_t)s->channels * sizeof(float));
    bool ok = true;
    while (ok && s->pos < s->total) {
        long long left = s->total - s->pos;
        size_t n = left < TONECODE_BLOCK_FRAMES ? (size_t)left : TONECODE_BLOCK_FRAMES;
        tonecode_synth_fill(s, buf, n);
        ok = sf_writef_float(sf, buf, (sf_count_t)n) == (sf_count_t)n;
    }
    free(buf);
    return ok;
}
