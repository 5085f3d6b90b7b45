/* audio_probe.h — what an uploaded file is: container, codec, rate, channels,
 * length, bitrate; or exactly why it cannot be used.
 *
 * Also the home of the two enums every audio module shares: the error codes
 * (the API maps them to 415/422) and the result of one slice of work. */
#ifndef STENO_AUDIO_PROBE_H
#define STENO_AUDIO_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "alloc.h"

/* Why a file cannot be used. Each has a stable name and message. */
enum audio_probe_error {
    AUDIO_PROBE_OK = 0,
    AUDIO_PROBE_EIO,         /* cannot open or read the file (missing, permission, I/O) */
    AUDIO_PROBE_EMPTY,       /* zero bytes, or a valid header with no audio frames */
    AUDIO_PROBE_NOT_AUDIO,   /* no audio format recognised (text, random bytes…) */
    AUDIO_PROBE_CORRUPT,     /* a known format, but malformed or undecodable */
    AUDIO_PROBE_TRUNCATED,   /* a known format whose header or data stop early */
    AUDIO_PROBE_UNSUPPORTED, /* a known format with an encoding or shape we cannot take */
};

/* The result of one bounded slice of work (audio_scan_step, audio_encode_step). */
enum audio_step {
    AUDIO_STEP_MORE = 0, /* call again (from a later loop pass) */
    AUDIO_STEP_DONE,     /* finished; results are ready */
    AUDIO_STEP_ERROR,    /* failed; the object tells why; do not call again */
};

struct audio_info {
    char container[16]; /* "wav", "flac", "ogg", "mp3", "rf64", "aiff", … */
    char codec[16];     /* "pcm_s16", "pcm_f32", "flac", "vorbis", "opus", "mp3", … */
    int sf_format;      /* libsndfile SF_FORMAT_* (major | subtype) */
    int rate;           /* frames per second */
    int channels;       /* 1..AUDIO_PROBE_MAX_CHANNELS */
    int64_t frames;     /* frames per channel, as the container declares them */
    double duration;    /* seconds = frames / rate */
    int64_t file_size;  /* bytes on disk */
    double bitrate;     /* bits per second: file_size × 8 / duration */
    bool lengths_exact; /* false when frames is an estimate (MP3) */
};

#define AUDIO_PROBE_MAX_CHANNELS 16

/* Probe `path`: open it with libsndfile, check the declared sizes against the
 * file, and read a few frames at the end so a truncated compressed stream is
 * caught now rather than mid-job. Bounded work: header parsing plus one seek.
 * On success fills *info and returns AUDIO_PROBE_OK; otherwise returns the
 * error and, when detail is non-NULL, writes libsndfile's explanation there. */
enum audio_probe_error audio_probe(const char *path, struct audio_info *info, char *detail,
                                   size_t detail_len) MUST_CHECK;

/* Stable snake_case name ("truncated") and a human message. Static strings. */
const char *audio_probe_error_name(enum audio_probe_error err);
const char *audio_probe_error_message(enum audio_probe_error err);

/* Fill container/codec/lengths_exact from a libsndfile format code. */
void audio_probe_describe_format(int sf_format, struct audio_info *info);

#endif
