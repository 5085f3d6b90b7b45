/* audio_plan.h — where to cut a file into chunks for the upstream (FR-1).
 *
 * Input: the 10 ms energy windows from audio_scan and a few facts about the
 * upstream. The planner
 *   1. finds the file's loud level and calls everything more than silence_db
 *      below it silence; leading/trailing silence and every silent stretch of
 *      at least min_silence_seconds are left out (they cost money and make
 *      Whisper hallucinate), so chunks cover only the speech spans;
 *   2. picks the chunk count that minimises the predicted latency
 *      waves × (overhead + cost × chunk seconds) — one wave whenever the
 *      concurrency allows — within [min, max] seconds and the encoded-size
 *      limit (25 MB, FR-1.4);
 *   3. moves each cut from its target to the middle of the quietest pause
 *      within ±W seconds; audio with no pause there is cut at the target.
 * Every decision is logged (FR-1.5) and kept as text for the job record.
 *
 * Pure computation on an array: no I/O, no callbacks. Cost O(windows). */
#ifndef STENO_AUDIO_PLAN_H
#define STENO_AUDIO_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

struct audio_plan_params {
    int concurrency;                 /* upstream requests that can run at once (≥ 1) */
    double overhead_seconds;         /* latency model: fixed cost per request */
    double seconds_per_second;       /* latency model: upstream seconds per audio second */
    double min_chunk_seconds;        /* shorter only when the speech span is shorter */
    double max_chunk_seconds;        /* never longer */
    int64_t max_encoded_bytes;       /* upstream body limit (FR-1.4) */
    double encoded_bytes_per_second; /* of the chunk format, worst case */
    double search_window_seconds;    /* W: cuts move at most ±W from their target */
    double silence_db;               /* silence: this many dB (negative) below the loud level */
    double min_silence_seconds;      /* silent stretches at least this long are skipped */
    double pad_seconds;              /* silence kept next to speech where a stretch is skipped */
};

/* 25 MiB, the upstream's limit; headers and multipart framing come off it. */
#define AUDIO_PLAN_DEFAULT_MAX_BYTES (25LL * 1024 * 1024)
/* FLAC/WAV 16-bit 16 kHz mono at worst (uncompressed). */
#define AUDIO_PLAN_DEFAULT_BYTES_PER_SECOND 32000.0

/* Fill *p with the defaults: concurrency 4, overhead 1.5 s, 0.02 s/s, chunks
 * 30–600 s, 25 MiB at 32000 B/s, W = 5 s, silence -35 dB for ≥ 2 s, pad 0.15 s. */
void audio_plan_params_default(struct audio_plan_params *p);

struct audio_chunk {
    int index;           /* 0-based, in time order */
    int64_t start_frame; /* first frame, in the original file's rate */
    int64_t end_frame;   /* one past the last frame */
    double start_seconds;
    double duration;
    char *reason; /* why it starts and ends where it does; owned by the plan */
};

struct audio_plan;

/* Plan the chunks of a file with `frames` frames at `rate` whose energy is
 * energy[0..nwin) (window w = frames [w·rate/100, (w+1)·rate/100)). Takes
 * ownership of `energy` (malloc'd; kept for audio_plan_split). log_ctx is the
 * "key=value" context of the log lines (copied; may be NULL). Never fails: a
 * silent file gives a plan with zero chunks. */
struct audio_plan *audio_plan_new(float *energy, size_t nwin, int rate, int64_t frames,
                                  const struct audio_plan_params *p, const char *log_ctx);

size_t audio_plan_count(const struct audio_plan *plan);
/* Chunk i (< count). The pointer is valid until the next audio_plan_split or
 * audio_plan_free. */
const struct audio_chunk *audio_plan_chunk(const struct audio_plan *plan, size_t i);

/* Seconds of audio the chunks cover, and seconds left out as silence. */
double audio_plan_voiced_seconds(const struct audio_plan *plan);
double audio_plan_skipped_seconds(const struct audio_plan *plan);
/* Linear RMS under which a window counts as silence. */
double audio_plan_silence_level(const struct audio_plan *plan);

/* Re-plan chunk i into two at its quietest interior point (the upstream
 * answered 413, FR-1.3). Later chunks are renumbered. Returns false, and
 * changes nothing, when the chunk is too short to split (< 20 ms). */
bool audio_plan_split(struct audio_plan *plan, size_t i) MUST_CHECK;

/* Every decision, one per line ("\n"-terminated). The caller frees it. */
char *audio_plan_text(const struct audio_plan *plan) MUST_CHECK;
/* The plan as JSON for the job record: {"duration", "voiced_seconds",
 * "skipped_seconds", "silence_dbfs", "chunk_count", "chunks":[{index,
 * start_frame, end_frame, start, duration, reason}], "decisions":[…]}.
 * The caller frees it. */
char *audio_plan_json(const struct audio_plan *plan) MUST_CHECK;

void audio_plan_free(struct audio_plan *plan);

#endif
