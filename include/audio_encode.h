/* audio_encode.h — one chunk of a file, encoded for the upstream, in slices.
 *
 * Whisper works at 16 kHz mono, so a chunk is decoded, downmixed to mono,
 * resampled to 16 kHz (libsamplerate, sinc medium quality) and written as
 * FLAC (or 16-bit WAV) into memory through libsndfile's virtual I/O: about
 * a tenth of the bytes of CD-quality WAV and nothing Whisper would use lost.
 * `original` sends the chunk's own samples unchanged when the container is
 * WAV/RF64 PCM (a fresh WAV header over the original byte range), and falls
 * back to FLAC otherwise.
 *
 * Chunks are produced lazily, one at a time, when an upstream slot is free;
 * audio_encode_step does at most `budget` input frames of work per call.
 * Memory: the encoded chunk (growing to its final size) plus fixed buffers. */
#ifndef STENO_AUDIO_ENCODE_H
#define STENO_AUDIO_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio_probe.h"

#define AUDIO_ENCODE_RATE 16000
/* Default input frames per step when audio_encode_new gets budget 0. */
#define AUDIO_ENCODE_DEFAULT_BUDGET 8192

enum audio_encode_format {
    AUDIO_ENCODE_FLAC = 0, /* 16 kHz mono FLAC, 16-bit: the default */
    AUDIO_ENCODE_WAV,      /* 16 kHz mono WAV PCM16 */
    AUDIO_ENCODE_ORIGINAL, /* the original samples when WAV/RF64 PCM, else FLAC */
};

/* "flac" | "wav" | "original" (the --chunk-format values). */
bool audio_encode_parse_format(const char *name, enum audio_encode_format *out) MUST_CHECK;
const char *audio_encode_format_name(enum audio_encode_format fmt);

/* Whether `original` can send this file's bytes as they are. */
bool audio_encode_original_allowed(const struct audio_info *info);

/* Worst-case encoded bytes per audio second of `fmt` for this file, the
 * planner's input for the size limit. */
double audio_encode_bytes_per_second(enum audio_encode_format fmt, const struct audio_info *info);

struct audio_encode;

/* Prepare chunk [start_frame, end_frame) of `path` (frames of the original
 * rate, as audio_plan gives them). Opens the file and seeks; decodes nothing
 * yet. budget: input frames per step (0: default). Returns NULL and sets
 * *err on failure. The caller frees the object with audio_encode_free. */
struct audio_encode *audio_encode_new(const char *path, int64_t start_frame, int64_t end_frame,
                                      enum audio_encode_format fmt, size_t budget,
                                      enum audio_probe_error *err) MUST_CHECK;

/* Encode at most `budget` more input frames. MORE: call again; DONE: the
 * bytes are ready (audio_encode_take); ERROR: see audio_encode_error. Calls
 * after DONE/ERROR return the same result and do nothing. */
enum audio_step audio_encode_step(struct audio_encode *enc) MUST_CHECK;

/* After DONE: hand the encoded bytes to the caller, who frees them with
 * free(). *len gets their length. Returns NULL before DONE or when taken. */
unsigned char *audio_encode_take(struct audio_encode *enc, size_t *len) MUST_CHECK;

/* "audio/flac" or "audio/wav"; the format really used (after a fallback);
 * the rate and frame count of the encoded audio (16 kHz unless original). */
const char *audio_encode_content_type(const struct audio_encode *enc);
enum audio_encode_format audio_encode_format_used(const struct audio_encode *enc);
int audio_encode_out_rate(const struct audio_encode *enc);
int64_t audio_encode_out_frames(const struct audio_encode *enc);

/* Input frames handled by the last step, and the per-step budget. */
size_t audio_encode_last_step_frames(const struct audio_encode *enc);
size_t audio_encode_budget(const struct audio_encode *enc);

enum audio_probe_error audio_encode_error(const struct audio_encode *enc);
const char *audio_encode_error_detail(const struct audio_encode *enc);

void audio_encode_free(struct audio_encode *enc);

#endif
