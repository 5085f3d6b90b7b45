/* tonecode_size.c — turn a target file size into a frame count.
 *
 * PCM files are header + frames × bytes-per-frame (+ a pad byte for odd data
 * in RIFF/AIFF), so a few zero-cost trial encodes into a counting sink give
 * the exact answer. Coded formats (FLAC, Vorbis, Opus, MP3) are measured on
 * two short trial encodes of the real content and extrapolated linearly. */
#include "tonecode_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A write-only virtual file that remembers its length but stores nothing. */
struct sink {
    sf_count_t pos;
    sf_count_t len;
};

static sf_count_t sink_len(void *user)
{
    return ((struct sink *)user)->len;
}

static sf_count_t sink_seek(sf_count_t offset, int whence, void *user)
{
    struct sink *k = user;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? k->pos : k->len;
    if (base + offset < 0)
        return -1;
    k->pos = base + offset;
    return k->pos;
}

static sf_count_t sink_read(void *ptr, sf_count_t count, void *user)
{
    struct sink *k = user;
    sf_count_t n = k->len - k->pos;
    if (n > count)
        n = count;
    if (n <= 0)
        return 0;
    memset(ptr, 0, (size_t)n);
    k->pos += n;
    return n;
}

static sf_count_t sink_write(const void *ptr, sf_count_t count, void *user)
{
    (void)ptr;
    struct sink *k = user;
    k->pos += count;
    if (k->pos > k->len)
        k->len = k->pos;
    return count;
}

static sf_count_t sink_tell(void *user)
{
    return ((struct sink *)user)->pos;
}

bool tonecode_count_bytes(const struct tonecode_gen_opts *o, const struct tonecode_plan *plan,
                          long long *bytes, char *err, size_t errlen)
{
    SF_INFO info;
    if (!tonecode_sf_info(o, &info, err, errlen))
        return false;
    SF_VIRTUAL_IO vio = {sink_len, sink_seek, sink_read, sink_write, sink_tell};
    struct sink k = {0, 0};
    SNDFILE *sf = sf_open_virtual(&vio, SFM_WRITE, &info, &k);
    if (!sf) {
        snprintf(err, errlen, "libsndfile cannot write this format here: %s", sf_strerror(NULL));
        return false;
    }
    struct tonecode_synth s;
    tonecode_synth_init(&s, o, plan);
    bool ok = tonecode_synth_write(sf, &s);
    if (!ok)
        snprintf(err, errlen, "trial encode failed: %s", sf_strerror(sf));
    sf_close(sf);
    *bytes = (long long)k.len;
    return ok;
}

static bool count_frames(const struct tonecode_gen_opts *o, long long frames, long long *bytes,
                         char *err, size_t errlen)
{
    struct tonecode_plan p = {0.0, frames};
    return tonecode_count_bytes(o, &p, bytes, err, errlen);
}

static int sample_bytes(int sf_format)
{
    switch (sf_format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8:
    case SF_FORMAT_PCM_U8:
        return 1;
    case SF_FORMAT_PCM_16:
        return 2;
    case SF_FORMAT_PCM_24:
        return 3;
    case SF_FORMAT_DOUBLE:
        return 8;
    default:
        return 4;
    }
}

/* Size of a file of `frames` frames, from a trial of 2 or 3 frames with the
 * same parity (the pad byte of odd-sized data chunks depends on parity). */
static bool predict_pcm(const struct tonecode_gen_opts *o, long long frames, long long *bytes,
                        char *err, size_t errlen)
{
    long long bpf = (long long)o->channels * sample_bytes(o->sf_format);
    long long trial = frames < 2 ? frames : 2 + (frames & 1);
    long long size;
    if (!count_frames(o, trial, &size, err, errlen))
        return false;
    *bytes = size + (frames - trial) * bpf;
    return true;
}

static bool plan_pcm(const struct tonecode_gen_opts *o, long long *frames, char *err, size_t errlen)
{
    long long bpf = (long long)o->channels * sample_bytes(o->sf_format);
    long long header, size;
    if (!count_frames(o, 0, &header, err, errlen))
        return false;
    if (o->size_bytes < header) {
        snprintf(err, errlen, "--size %lld is smaller than the %lld-byte header", o->size_bytes,
                 header);
        return false;
    }
    long long f = (o->size_bytes - header) / bpf;
    for (;;) {
        if (!predict_pcm(o, f, &size, err, errlen))
            return false;
        if (size <= o->size_bytes || f == 0)
            break;
        f--;
    }
    *frames = f;
    return true;
}

/* Coded formats: bytes ≈ a + b × seconds, measured at 2 s and 6 s of layout. */
static bool plan_coded(const struct tonecode_gen_opts *o, long long *frames, char *err,
                       size_t errlen)
{
    const double d1 = 2.0, d2 = 6.0;
    double pad = o->lead_silence + o->trail_silence;
    long long smallest; /* one frame: some encoders write nothing for none */
    if (!count_frames(o, 1, &smallest, err, errlen))
        return false;
    if (o->size_bytes < smallest) {
        snprintf(err, errlen, "--size %lld is smaller than the smallest file of this format (%lld)",
                 o->size_bytes, smallest);
        return false;
    }
    struct tonecode_plan p1 = {d1, llround((d1 + pad) * o->rate)};
    struct tonecode_plan p2 = {d2, llround((d2 + pad) * o->rate)};
    long long s1, s2;
    if (!tonecode_count_bytes(o, &p1, &s1, err, errlen) ||
        !tonecode_count_bytes(o, &p2, &s2, err, errlen))
        return false;
    double b = (double)(s2 - s1) / (d2 - d1);
    double a = (double)s1 - b * d1;
    if (b <= 0) {
        snprintf(err, errlen, "cannot estimate the bitrate of this format");
        return false;
    }
    double d = ((double)o->size_bytes - a) / b;
    if (d < 0)
        d = 0;
    *frames = llround((d + pad) * o->rate);
    return true;
}

bool tonecode_plan_frames(const struct tonecode_gen_opts *o, struct tonecode_plan *plan, char *err,
                          size_t errlen)
{
    SF_INFO info;
    if (!tonecode_sf_info(o, &info, err, errlen))
        return false;
    double pad = o->lead_silence + o->trail_silence;
    if (o->duration > 0) {
        plan->duration = o->duration;
        plan->total_frames = llround((o->duration + pad) * o->rate);
        return true;
    }
    if (o->size_bytes <= 0) {
        snprintf(err, errlen, "give a duration or a size in bytes");
        return false;
    }
    long long frames;
    bool ok = tonecode_is_pcm(o->sf_format) ? plan_pcm(o, &frames, err, errlen)
                                            : plan_coded(o, &frames, err, errlen);
    if (!ok)
        return false;
    double secs = (double)frames / o->rate - pad;
    if (secs < 0) {
        snprintf(err, errlen, "--size %lld leaves no room after lead and trail silence",
                 o->size_bytes);
        return false;
    }
    plan->duration = secs;
    plan->total_frames = frames;
    return true;
}

bool tonecode_plan_duration(const struct tonecode_gen_opts *opts, double *duration, char *err,
                            size_t errlen)
{
    struct tonecode_plan plan;
    if (!tonecode_plan_frames(opts, &plan, err, errlen))
        return false;
    *duration = plan.duration;
    return true;
}
