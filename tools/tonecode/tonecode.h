/* tonecode.h — tone-coded test audio: generator, decoder, transcript checker.
 *
 * The layout (../shared/DESIGN.md, "The upstream emulator"): word k starts at
 * lead_silence + k × 0.6 s and is a 0.4 s sine at 300 + 40·(k mod 64) Hz,
 * followed by 0.2 s of silence. A transcript of such a file is checkable
 * exactly: the word starting at absolute time t reads w{round(t/0.6) mod 64}.
 *
 * Test tooling only: linked by gen-audio, steno-mock and the test suites,
 * never by stenod. */
#ifndef STENO_TONECODE_H
#define STENO_TONECODE_H

#include <stdbool.h>
#include <stddef.h>

#define TONECODE_WORD_SECONDS   0.4
#define TONECODE_GAP_SECONDS    0.2
#define TONECODE_PERIOD_SECONDS 0.6
#define TONECODE_ALPHABET       64

/* Frequency in Hz of symbol k (k taken mod 64). */
double tonecode_freq(int k);

struct tonecode_gen_opts {
    double duration;      /* seconds of word layout (lead/trail excluded); 0: use size_bytes */
    long long size_bytes; /* target file size in bytes, used when duration == 0 */
    int rate;             /* frames per second, e.g. 16000, 44100 */
    int channels;         /* 1..8; every channel carries the same tone */
    int sf_format;        /* libsndfile SF_FORMAT_<major> | SF_FORMAT_<subtype> */
    double amplitude;     /* peak of the tone, 0..1 (0 means the default 0.5) */
    double noise_floor;   /* amplitude of seeded white noise added everywhere, 0 = none */
    double lead_silence;  /* seconds of silence before word 0 */
    double trail_silence; /* seconds of silence after the last word */
    bool no_pauses;       /* words follow each other with no gap (continuous audio) */
    unsigned seed;        /* noise RNG seed */
};

/* Write a tone-coded file. Returns false and fills err on failure. */
bool tonecode_write(const struct tonecode_gen_opts *opts, const char *path, char *err,
                    size_t errlen);

/* Number of whole words the layout holds for `duration` seconds. */
int tonecode_word_count(double duration, bool no_pauses);

struct tonecode_word {
    int symbol;   /* 0..63 */
    double start; /* seconds from the start of the decoded samples */
    double end;
};

/* Find tone words in mono float samples (Goertzel). Returns the number of
 * words found; writes at most max of them to out. */
size_t tonecode_decode(const float *mono, size_t frames, int rate, struct tonecode_word *out,
                       size_t max);

struct tonecode_report {
    int expected;  /* words the layout holds */
    int found;     /* words in the transcript */
    int missing;   /* expected words absent */
    int doubled;   /* words present more than once */
    int misplaced; /* words whose text does not match their start time */
};

/* Check a verbose_json transcript (segments, and words when present) against
 * the layout of a file with `duration` seconds of words after `lead_silence`.
 * Returns true when there is no error of any kind. */
bool tonecode_check(const char *verbose_json, double duration, double lead_silence,
                    struct tonecode_report *report);

#endif
