/* audio_reader.c — decode a frame range block by block, mixed to mono. */
#include "audio_reader.h"

#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct audio_reader {
    SNDFILE *sf;
    struct audio_info info;
    float *block; /* AUDIO_READER_BLOCK × channels interleaved samples */
    int64_t pos;  /* absolute frame of the next read */
    int64_t start;
    int64_t end; /* INT64_MAX: until the stream ends (estimated lengths) */
    enum audio_probe_error err;
    char detail[128];
};

static int pcm_bytes(int subtype)
{
    switch (subtype) {
    case SF_FORMAT_PCM_S8:
    case SF_FORMAT_PCM_U8:
        return 1;
    case SF_FORMAT_PCM_16:
        return 2;
    case SF_FORMAT_PCM_24:
        return 3;
    case SF_FORMAT_PCM_32:
    case SF_FORMAT_FLOAT:
        return 4;
    case SF_FORMAT_DOUBLE:
        return 8;
    default:
        return 0;
    }
}

static void fail(struct audio_reader *r, enum audio_probe_error err, const char *detail)
{
    r->err = err;
    snprintf(r->detail, sizeof(r->detail), "%s", detail);
}

struct audio_reader *audio_reader_open(const char *path, int64_t start, int64_t end,
                                       enum audio_probe_error *err)
{
    SF_INFO si;
    memset(&si, 0, sizeof(si));
    SNDFILE *sf = sf_open(path, SFM_READ, &si);
    if (!sf) {
        *err = sf_error(NULL) == SF_ERR_SYSTEM ? AUDIO_PROBE_EIO : AUDIO_PROBE_CORRUPT;
        return NULL;
    }
    if (si.channels < 1 || si.channels > AUDIO_PROBE_MAX_CHANNELS) {
        *err = AUDIO_PROBE_UNSUPPORTED;
        sf_close(sf);
        return NULL;
    }
    if (start < 0 || (start > 0 && (!si.seekable || sf_seek(sf, start, SEEK_SET) != start))) {
        *err = AUDIO_PROBE_TRUNCATED; /* the range starts beyond the stream */
        sf_close(sf);
        return NULL;
    }
    struct audio_reader *r = xcalloc(1, sizeof(*r));
    r->sf = sf;
    audio_probe_describe_format(si.format, &r->info);
    r->info.rate = si.samplerate;
    r->info.channels = si.channels;
    r->info.frames = si.frames;
    r->info.duration = (double)si.frames / si.samplerate;
    r->block = xmalloc(sizeof(float) * AUDIO_READER_BLOCK * (size_t)si.channels);
    r->pos = r->start = start;
    if (end < 0)
        end = r->info.lengths_exact ? si.frames : INT64_MAX;
    r->end = end;
    *err = AUDIO_PROBE_OK;
    return r;
}

/* The stream gave no frames although the range wants more. */
static long hit_end(struct audio_reader *r)
{
    if (sf_error(r->sf) != SF_ERR_NO_ERROR) {
        fail(r, AUDIO_PROBE_CORRUPT, sf_strerror(r->sf));
        return -1;
    }
    if (r->info.lengths_exact && r->end != INT64_MAX) {
        fail(r, AUDIO_PROBE_TRUNCATED, "stream ends before its declared length");
        return -1;
    }
    r->end = r->pos; /* estimated length: the stream is the truth */
    return 0;
}

static size_t want_frames(const struct audio_reader *r, size_t max)
{
    int64_t left = r->end - r->pos;
    size_t n = max < AUDIO_READER_BLOCK ? max : AUDIO_READER_BLOCK;
    return (int64_t)n > left ? (size_t)left : n;
}

long audio_reader_read_mono(struct audio_reader *r, float *out, size_t max)
{
    if (r->err != AUDIO_PROBE_OK)
        return -1;
    size_t n = want_frames(r, max);
    if (n == 0)
        return 0;
    sf_count_t got = sf_readf_float(r->sf, r->block, (sf_count_t)n);
    if (got <= 0)
        return hit_end(r);
    int ch = r->info.channels;
    if (ch == 1) {
        memcpy(out, r->block, (size_t)got * sizeof(float));
    } else {
        float scale = 1.0f / (float)ch;
        for (sf_count_t i = 0; i < got; i++) {
            const float *f = r->block + i * ch;
            float sum = 0;
            for (int c = 0; c < ch; c++)
                sum += f[c];
            out[i] = sum * scale;
        }
    }
    r->pos += got;
    return (long)got;
}

int audio_reader_block_align(const struct audio_reader *r)
{
    int major = r->info.sf_format & SF_FORMAT_TYPEMASK;
    if (major == SF_FORMAT_FLAC || major == SF_FORMAT_OGG || major == SF_FORMAT_MPEG)
        return 0;
    return pcm_bytes(r->info.sf_format & SF_FORMAT_SUBMASK) * r->info.channels;
}

long audio_reader_read_raw(struct audio_reader *r, void *out, size_t max)
{
    int align = audio_reader_block_align(r);
    if (r->err != AUDIO_PROBE_OK || align == 0)
        return -1;
    size_t n = want_frames(r, max);
    if (n == 0)
        return 0;
    sf_count_t got = sf_read_raw(r->sf, out, (sf_count_t)(n * (size_t)align));
    if (got < align)
        return hit_end(r);
    got /= align;
    r->pos += got;
    return (long)got;
}

const struct audio_info *audio_reader_info(const struct audio_reader *r)
{
    return &r->info;
}

int64_t audio_reader_position(const struct audio_reader *r)
{
    return r->pos;
}

int64_t audio_reader_length(const struct audio_reader *r)
{
    return r->end == INT64_MAX ? r->info.frames : r->end;
}

enum audio_probe_error audio_reader_error(const struct audio_reader *r)
{
    return r->err;
}

const char *audio_reader_error_detail(const struct audio_reader *r)
{
    return r->detail;
}

void audio_reader_close(struct audio_reader *r)
{
    if (!r)
        return;
    sf_close(r->sf);
    free(r->block);
    free(r);
}
