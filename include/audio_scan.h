/* audio_scan.h — energy of a file per 10 ms window, computed in slices.
 *
 * The planner needs to know where the pauses are. audio_scan decodes the whole
 * file once and keeps only the RMS of the mono mix per 10 ms window (4 bytes
 * per window: 2.9 MB for two hours) plus one read block. The work is cut into
 * slices: audio_scan_step decodes at most `budget` frames and returns, so an
 * event-loop timer can call it repeatedly without ever holding the loop for
 * longer than one slice (about 1–2 ms with the default budget). */
#ifndef STENO_AUDIO_SCAN_H
#define STENO_AUDIO_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "audio_probe.h"

#define AUDIO_SCAN_WINDOWS_PER_SECOND 100
/* Default frames per step when audio_scan_new gets budget 0. */
#define AUDIO_SCAN_DEFAULT_BUDGET 16384

struct audio_scan;

/* Start scanning `path`, which audio_probe described as *info. budget is the
 * frame budget per step (0: default). Returns NULL and sets *err when the file
 * cannot be opened. Nothing is decoded until the first step. The caller frees
 * the scan with audio_scan_free. */
struct audio_scan *audio_scan_new(const char *path, const struct audio_info *info, size_t budget,
                                  enum audio_probe_error *err) MUST_CHECK;

/* Decode at most `budget` more frames. MORE: call again; DONE: the energy
 * array is complete; ERROR: see audio_scan_error. Calling after DONE or
 * ERROR returns the same result and does nothing. */
enum audio_step audio_scan_step(struct audio_scan *scan) MUST_CHECK;

/* RMS (linear, full scale 1.0) per 10 ms window; window w covers frames
 * [w·rate/100, (w+1)·rate/100). Valid after DONE; owned by the scan. */
const float *audio_scan_energy(const struct audio_scan *scan, size_t *count);

/* Hand the energy array to the caller (who frees it with free()); the scan
 * keeps nothing. Only after DONE. */
float *audio_scan_take_energy(struct audio_scan *scan, size_t *count) MUST_CHECK;

/* Frames decoded: in total, and by the last step (for the slice bound). */
int64_t audio_scan_frames(const struct audio_scan *scan);
size_t audio_scan_last_step_frames(const struct audio_scan *scan);
size_t audio_scan_budget(const struct audio_scan *scan);
/* 0..1, from frames decoded against the declared length. */
double audio_scan_progress(const struct audio_scan *scan);

enum audio_probe_error audio_scan_error(const struct audio_scan *scan);
const char *audio_scan_error_detail(const struct audio_scan *scan);

void audio_scan_free(struct audio_scan *scan);

#endif
