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
#include <sndfile.h>

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

/* ---- Additions (phase 1 of issue 3). The declarations above are frozen. ---- */

/* Slot index a word starting at t belongs to: round((t - lead_silence) / 0.6).
 * Its expected symbol is the slot mod 64. */
long tonecode_slot(double t, double lead_silence);

/* libsndfile format for a gen-audio format name ("wav", "flac", "ogg" (Vorbis),
 * "opus", "mp3", "rf64", "aiff") and subtype name ("pcm8", "pcm16", "pcm24",
 * "pcm32", "float"; NULL = pcm16 where the format has subtypes). Codecs
 * without subtypes (ogg, opus, mp3) reject a non-NULL subtype. Returns false
 * and fills err when a name is unknown or the pair makes no sense. Whether
 * this libsndfile can actually write it is decided by tonecode_write. */
bool tonecode_sf_format(const char *format, const char *subtype, int *sf_format, char *err,
                        size_t errlen) __attribute__((warn_unused_result));

/* True when the subtype of sf_format is PCM or float, so that the file size
 * is an exact function of the frame count (size_bytes mode is exact). */
bool tonecode_is_pcm(int sf_format);

/* The layout seconds (lead/trail excluded) tonecode_write will produce for
 * opts: opts->duration itself, or in size_bytes mode the duration whose file
 * comes closest to size_bytes without exceeding it (exact for PCM formats;
 * for coded formats extrapolated from two short trial encodes that are
 * counted, not stored). Returns false and fills err when impossible. */
bool tonecode_plan_duration(const struct tonecode_gen_opts *opts, double *duration, char *err,
                            size_t errlen) __attribute__((warn_unused_result));

/* Streaming decoder: same result as tonecode_decode, for audio that arrives in
 * pieces (an upload read with sf_readf_float in blocks). Memory is a few KB
 * plus 8 bytes per 10 ms of audio fed. new returns NULL when rate < 8000.
 * feed may be called any number of times with any frame count; finish
 * returns the number of words found and writes at most max of them to out;
 * after finish only free is allowed. The decoder owns no caller memory.
 * Tones below about -54 dBFS (amplitude 0.002) count as silence. */
struct tonecode_decoder;
struct tonecode_decoder *tonecode_decoder_new(int rate);
void tonecode_decoder_feed(struct tonecode_decoder *d, const float *mono, size_t frames);
size_t tonecode_decoder_finish(struct tonecode_decoder *d, struct tonecode_word *out, size_t max);
void tonecode_decoder_free(struct tonecode_decoder *d);

/* Decode an open libsndfile handle from its current position to the end,
 * downmixing to mono in bounded blocks (never the whole file in memory).
 * info is the SF_INFO sf_open filled. Returns the number of words found. */
size_t tonecode_decode_sndfile(SNDFILE *sf, const SF_INFO *info, struct tonecode_word *out,
                               size_t max);

/* tonecode_check, plus a reason in err (NUL-terminated, may be truncated)
 * when the transcript itself is unusable: not JSON, not an object, neither
 * segments[] nor words[], a segment without string text and numeric start.
 * On such a failure the report counts every expected word as missing. (A
 * words[] entry without word/start is counted as found and misplaced.) */
bool tonecode_check_ex(const char *verbose_json, double duration, double lead_silence,
                       struct tonecode_report *report, char *err, size_t errlen);

#endif
