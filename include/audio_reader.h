/* audio_reader.h — sequential decoding of a frame range into a mono mix.
 *
 * The common bottom of audio_scan and audio_encode: opens the file with
 * libsndfile, seeks to the first frame of the range, and hands out blocks of
 * at most AUDIO_READER_BLOCK frames, downmixed to mono (channel average).
 * Memory: one interleaved block buffer, whatever the file length. */
#ifndef STENO_AUDIO_READER_H
#define STENO_AUDIO_READER_H

#include <stddef.h>
#include <stdint.h>

#include "audio_probe.h"

#define AUDIO_READER_BLOCK 4096

struct audio_reader;

/* Open `path` for frames [start, end) (end < 0: to the end of the stream).
 * Returns NULL and sets *err on failure. The caller frees the reader. */
struct audio_reader *audio_reader_open(const char *path, int64_t start, int64_t end,
                                       enum audio_probe_error *err) MUST_CHECK;

/* Decode up to max (≤ AUDIO_READER_BLOCK) frames, mixed to mono, into out.
 * Returns the frames written, 0 at the end of the range, -1 on a decode error
 * (see audio_reader_error). A stream that ends before the range does is an
 * error (truncated) unless its lengths are estimates (MP3). */
long audio_reader_read_mono(struct audio_reader *r, float *out, size_t max) MUST_CHECK;

/* Copy up to max frames of the stream's own bytes (no decoding) into out,
 * which must hold max × audio_reader_block_align bytes. Same returns as
 * audio_reader_read_mono. Only for PCM subtypes. */
long audio_reader_read_raw(struct audio_reader *r, void *out, size_t max) MUST_CHECK;

/* Bytes per frame of the stored samples, 0 when the subtype is not plain PCM. */
int audio_reader_block_align(const struct audio_reader *r);

const struct audio_info *audio_reader_info(const struct audio_reader *r);
/* Frames handed out so far, and frames the range holds (declared). */
int64_t audio_reader_position(const struct audio_reader *r);
int64_t audio_reader_length(const struct audio_reader *r);
enum audio_probe_error audio_reader_error(const struct audio_reader *r);
/* libsndfile's text for the last error ("" if none). Owned by the reader. */
const char *audio_reader_error_detail(const struct audio_reader *r);

void audio_reader_close(struct audio_reader *r);

#endif
