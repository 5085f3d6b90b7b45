/* tonecode_internal.h — shared by the tonecode_*.c files, not installed.
 *
 * The synthesizer turns a layout into interleaved float frames, block by
 * block, so a file of any length is written with a fixed amount of memory.
 * The planner turns duration or size_bytes into an exact frame count. */
#ifndef STENO_TONECODE_INTERNAL_H
#define STENO_TONECODE_INTERNAL_H

#include "tonecode.h"

#include <stdint.h>

/* Frames synthesized per sf_writef_float call. */
#define TONECODE_BLOCK_FRAMES 4096

struct tonecode_plan {
    double duration;        /* seconds of word layout */
    long long total_frames; /* lead + layout + trail, in frames */
};

struct tonecode_synth {
    int rate;
    int channels;
    double amplitude;
    double noise;
    double lead;
    bool no_pauses;
    int words;
    long long layout_end; /* first frame after the word layout */
    long long total;      /* frames to produce */
    long long pos;        /* next frame */
    int word;             /* current or next word */
    long long word_start; /* its first frame */
    long long word_end;   /* first frame after its tone */
    long long fade;       /* frames of each raised-cosine ramp */
    double phase;
    uint64_t rng;
};

void tonecode_synth_init(struct tonecode_synth *s, const struct tonecode_gen_opts *o,
                         const struct tonecode_plan *plan);
/* Fill `frames` interleaved frames; past the end it writes silence. */
void tonecode_synth_fill(struct tonecode_synth *s, float *out, size_t frames);
/* Synthesize the whole plan into an open file in bounded blocks. */
bool tonecode_synth_write(SNDFILE *sf, struct tonecode_synth *s);

/* Check opts and compute the plan (duration mode or size_bytes mode). */
bool tonecode_plan_frames(const struct tonecode_gen_opts *o, struct tonecode_plan *plan, char *err,
                          size_t errlen);
/* Bytes a file of `plan` takes, by encoding it into a counting sink. */
bool tonecode_count_bytes(const struct tonecode_gen_opts *o, const struct tonecode_plan *plan,
                          long long *bytes, char *err, size_t errlen);

/* The SF_INFO for opts, checked with sf_format_check. */
bool tonecode_sf_info(const struct tonecode_gen_opts *o, SF_INFO *info, char *err, size_t errlen);

/* One analysis window of the decoder: the strongest of the 64 candidate
 * tones, its estimated sine amplitude, and whether the window is tonal
 * (most of its energy sits in that one tone). */
struct tonecode_window {
    float amp;
    unsigned char sym;
    unsigned char tonal;
};

/* Turn the window sequence into words. Window i covers
 * [i × hop, i × hop + width) seconds. Returns the number of words found,
 * writes at most max. */
size_t tonecode_segment(const struct tonecode_window *win, size_t n, double hop, double width,
                        struct tonecode_word *out, size_t max);

#endif
