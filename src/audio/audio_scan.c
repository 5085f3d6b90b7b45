/* audio_scan.c — RMS per 10 ms window of the mono mix, in bounded slices. */
#include "audio_scan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "audio_reader.h"

struct audio_scan {
    struct audio_reader *reader;
    float *mono; /* one block of mono samples */
    int rate;
    size_t budget;
    size_t last_step;
    int64_t frames;   /* decoded so far */
    int64_t expected; /* declared length, for progress */
    float *energy;
    size_t nwin, cap;
    double sumsq;      /* of the window being filled */
    int64_t win_end;   /* frame where that window ends */
    int64_t win_start; /* frame where it starts */
    enum audio_step state;
    enum audio_probe_error err;
    char detail[128];
};

static int64_t window_start(int64_t w, int rate)
{
    return w * rate / AUDIO_SCAN_WINDOWS_PER_SECOND;
}

struct audio_scan *audio_scan_new(const char *path, const struct audio_info *info, size_t budget,
                                  enum audio_probe_error *err)
{
    struct audio_reader *r = audio_reader_open(path, 0, -1, err);
    if (!r)
        return NULL;
    struct audio_scan *s = xcalloc(1, sizeof(*s));
    s->reader = r;
    s->rate = audio_reader_info(r)->rate;
    s->budget = budget ? budget : AUDIO_SCAN_DEFAULT_BUDGET;
    s->expected = info && info->frames > 0 ? info->frames : audio_reader_length(r);
    s->cap = (size_t)((s->expected * AUDIO_SCAN_WINDOWS_PER_SECOND) / s->rate) + 2;
    s->energy = xmalloc(s->cap * sizeof(float));
    s->mono = xmalloc(AUDIO_READER_BLOCK * sizeof(float));
    s->win_start = 0;
    s->win_end = window_start(1, s->rate);
    return s;
}

static void close_window(struct audio_scan *s)
{
    int64_t n = s->frames - s->win_start;
    if (n <= 0)
        return;
    if (s->nwin == s->cap) {
        s->cap = s->cap * 3 / 2 + 16; /* estimated lengths (MP3) may grow */
        s->energy = xrealloc(s->energy, s->cap * sizeof(float));
    }
    double rms = sqrt(s->sumsq / (double)n);
    /* NaN/Inf samples (broken float files) count as loud: never a cut point. */
    s->energy[s->nwin++] = isfinite(rms) ? (float)fmin(rms, 1e6) : 1.0f;
    s->sumsq = 0;
    s->win_start = s->frames;
    s->win_end = window_start((int64_t)s->nwin + 1, s->rate);
}

/* Fold one block of mono samples into the windows it spans. */
static void accumulate(struct audio_scan *s, const float *x, long n)
{
    long i = 0;
    while (i < n) {
        int64_t room = s->win_end - s->frames;
        long take = room < n - i ? (long)room : n - i;
        double acc = 0;
        for (long k = 0; k < take; k++)
            acc += (double)x[i + k] * x[i + k];
        s->sumsq += acc;
        s->frames += take;
        i += take;
        if (s->frames == s->win_end)
            close_window(s);
    }
}

enum audio_step audio_scan_step(struct audio_scan *s)
{
    size_t done = 0;

    if (s->state != AUDIO_STEP_MORE)
        return s->state;
    while (done < s->budget) {
        long n = audio_reader_read_mono(s->reader, s->mono, s->budget - done);
        if (n < 0) {
            s->state = AUDIO_STEP_ERROR;
            s->err = audio_reader_error(s->reader);
            snprintf(s->detail, sizeof(s->detail), "%s", audio_reader_error_detail(s->reader));
            break;
        }
        if (n == 0) {
            close_window(s);
            s->state = s->nwin > 0 ? AUDIO_STEP_DONE : AUDIO_STEP_ERROR;
            s->err = s->nwin > 0 ? AUDIO_PROBE_OK : AUDIO_PROBE_EMPTY;
            break;
        }
        accumulate(s, s->mono, n);
        done += (size_t)n;
    }
    s->last_step = done;
    if (s->state != AUDIO_STEP_MORE) {
        audio_reader_close(s->reader); /* release the decoder as soon as possible */
        s->reader = NULL;
        free(s->mono);
        s->mono = NULL;
    }
    return s->state;
}

const float *audio_scan_energy(const struct audio_scan *s, size_t *count)
{
    *count = s->state == AUDIO_STEP_DONE ? s->nwin : 0;
    return s->state == AUDIO_STEP_DONE ? s->energy : NULL;
}

float *audio_scan_take_energy(struct audio_scan *s, size_t *count)
{
    float *e = (float *)audio_scan_energy(s, count);
    if (e) {
        s->energy = NULL;
        s->nwin = s->cap = 0;
    }
    return e;
}

int64_t audio_scan_frames(const struct audio_scan *s)
{
    return s->frames;
}

size_t audio_scan_last_step_frames(const struct audio_scan *s)
{
    return s->last_step;
}

size_t audio_scan_budget(const struct audio_scan *s)
{
    return s->budget;
}

double audio_scan_progress(const struct audio_scan *s)
{
    if (s->state == AUDIO_STEP_DONE)
        return 1.0;
    if (s->expected <= 0)
        return 0.0;
    double p = (double)s->frames / (double)s->expected;
    return p > 1.0 ? 1.0 : p;
}

enum audio_probe_error audio_scan_error(const struct audio_scan *s)
{
    if (s->state != AUDIO_STEP_ERROR)
        return AUDIO_PROBE_OK;
    return s->err;
}

const char *audio_scan_error_detail(const struct audio_scan *s)
{
    return s->detail;
}

void audio_scan_free(struct audio_scan *s)
{
    if (!s)
        return;
    audio_reader_close(s->reader);
    free(s->mono);
    free(s->energy);
    free(s);
}
