/* audio_encode.c — chunk → mono → 16 kHz → FLAC/WAV in memory, in slices. */
#include "audio_encode.h"

#include <samplerate.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_memio.h"
#include "audio_reader.h"
#include "log.h"

/* Resampler output room per block: 16 kHz from as low as 1 kHz input. */
#define OUT_FRAMES (AUDIO_READER_BLOCK * 16 + 64)

struct audio_encode {
    struct audio_reader *reader;
    enum audio_encode_format fmt;
    size_t budget, last_step;
    SNDFILE *out;
    struct audio_memio mem;
    SRC_STATE *src; /* NULL when the input is already 16 kHz, or original */
    double ratio;
    int out_rate;
    int64_t out_frames;
    float *in;  /* one block of mono input */
    float *res; /* resampler output */
    void *raw;  /* one block of original bytes */
    enum audio_step state;
    enum audio_probe_error err;
    char detail[128];
};

static const char *const format_names[] = {"flac", "wav", "original"};

bool audio_encode_parse_format(const char *name, enum audio_encode_format *out)
{
    for (size_t i = 0; i < ARRAY_LEN(format_names); i++) {
        if (strcmp(name, format_names[i]) == 0) {
            *out = (enum audio_encode_format)i;
            return true;
        }
    }
    return false;
}

const char *audio_encode_format_name(enum audio_encode_format fmt)
{
    return (unsigned)fmt < ARRAY_LEN(format_names) ? format_names[fmt] : "unknown";
}

static int raw_subtype_ok(int subtype)
{
    return subtype == SF_FORMAT_PCM_U8 || subtype == SF_FORMAT_PCM_16 ||
           subtype == SF_FORMAT_PCM_24 || subtype == SF_FORMAT_PCM_32 ||
           subtype == SF_FORMAT_FLOAT || subtype == SF_FORMAT_DOUBLE;
}

bool audio_encode_original_allowed(const struct audio_info *info)
{
    int major = info->sf_format & SF_FORMAT_TYPEMASK;
    if (major != SF_FORMAT_WAV && major != SF_FORMAT_WAVEX && major != SF_FORMAT_RF64)
        return false;
    return raw_subtype_ok(info->sf_format & SF_FORMAT_SUBMASK);
}

double audio_encode_bytes_per_second(enum audio_encode_format fmt, const struct audio_info *info)
{
    if (fmt == AUDIO_ENCODE_ORIGINAL && audio_encode_original_allowed(info)) {
        static const int bytes[] = {
            [SF_FORMAT_PCM_U8] = 1, [SF_FORMAT_PCM_16] = 2, [SF_FORMAT_PCM_24] = 3,
            [SF_FORMAT_PCM_32] = 4, [SF_FORMAT_FLOAT] = 4,  [SF_FORMAT_DOUBLE] = 8};
        return (double)info->rate * info->channels * bytes[info->sf_format & SF_FORMAT_SUBMASK];
    }
    /* FLAC never grows past PCM16 by more than its frame headers. */
    return AUDIO_ENCODE_RATE * 2.0 * 1.01;
}

static bool open_output(struct audio_encode *e, const struct audio_info *in)
{
    SF_INFO si;
    memset(&si, 0, sizeof(si));
    if (e->fmt == AUDIO_ENCODE_ORIGINAL) {
        si.samplerate = in->rate;
        si.channels = in->channels;
        si.format = SF_FORMAT_WAV | (in->sf_format & SF_FORMAT_SUBMASK);
    } else {
        si.samplerate = AUDIO_ENCODE_RATE;
        si.channels = 1;
        si.format =
            (e->fmt == AUDIO_ENCODE_WAV ? SF_FORMAT_WAV : SF_FORMAT_FLAC) | SF_FORMAT_PCM_16;
    }
    e->out_rate = si.samplerate;
    e->out = sf_open_virtual(audio_memio_vio(), SFM_WRITE, &si, &e->mem);
    if (!e->out) {
        snprintf(e->detail, sizeof(e->detail), "%s", sf_strerror(NULL));
        return false;
    }
    /* Samples beyond ±1 (float sources, resampler overshoot) clip, not wrap. */
    sf_command(e->out, SFC_SET_CLIPPING, NULL, SF_TRUE);
    return true;
}

static bool setup_pipeline(struct audio_encode *e, const struct audio_info *in)
{
    if (e->fmt == AUDIO_ENCODE_ORIGINAL && !audio_encode_original_allowed(in)) {
        log_info("audio_encode: original %s/%s cannot be sent as is: FLAC instead", in->container,
                 in->codec);
        e->fmt = AUDIO_ENCODE_FLAC;
    }
    if (e->fmt == AUDIO_ENCODE_ORIGINAL) {
        e->raw = xmalloc((size_t)AUDIO_READER_BLOCK * (size_t)audio_reader_block_align(e->reader));
    } else {
        e->in = xmalloc(AUDIO_READER_BLOCK * sizeof(float));
        if (in->rate != AUDIO_ENCODE_RATE) {
            int error = 0;
            e->src = src_new(SRC_SINC_MEDIUM_QUALITY, 1, &error);
            if (!e->src) {
                snprintf(e->detail, sizeof(e->detail), "%s", src_strerror(error));
                return false;
            }
            e->ratio = (double)AUDIO_ENCODE_RATE / in->rate;
            e->res = xmalloc(OUT_FRAMES * sizeof(float));
        }
    }
    return open_output(e, in);
}

struct audio_encode *audio_encode_new(const char *path, int64_t start_frame, int64_t end_frame,
                                      enum audio_encode_format fmt, size_t budget,
                                      enum audio_probe_error *err)
{
    if (end_frame <= start_frame) {
        *err = AUDIO_PROBE_EMPTY;
        return NULL;
    }
    struct audio_reader *r = audio_reader_open(path, start_frame, end_frame, err);
    if (!r)
        return NULL;
    struct audio_encode *e = xcalloc(1, sizeof(*e));
    e->reader = r;
    e->fmt = fmt;
    e->budget = budget ? budget : AUDIO_ENCODE_DEFAULT_BUDGET;
    if (!setup_pipeline(e, audio_reader_info(r))) {
        log_error("audio_encode: cannot set up %s output: %s", audio_encode_format_name(e->fmt),
                  e->detail);
        audio_encode_free(e);
        *err = AUDIO_PROBE_UNSUPPORTED;
        return NULL;
    }
    *err = AUDIO_PROBE_OK;
    return e;
}

static bool write_out(struct audio_encode *e, const float *x, long n)
{
    if (n > 0 && sf_writef_float(e->out, x, n) != n) {
        snprintf(e->detail, sizeof(e->detail), "encoder: %s", sf_strerror(e->out));
        return false;
    }
    e->out_frames += n;
    return true;
}

/* Push n input frames (n == 0 with last: drain) through the resampler. */
static bool resample(struct audio_encode *e, const float *x, long n, bool last)
{
    SRC_DATA d;
    memset(&d, 0, sizeof(d));
    d.data_in = x;
    d.input_frames = n;
    d.src_ratio = e->ratio;
    d.end_of_input = last;
    for (;;) {
        d.data_out = e->res;
        d.output_frames = OUT_FRAMES;
        int error = src_process(e->src, &d);
        if (error) {
            snprintf(e->detail, sizeof(e->detail), "resampler: %s", src_strerror(error));
            return false;
        }
        if (!write_out(e, e->res, d.output_frames_gen))
            return false;
        d.data_in += d.input_frames_used;
        d.input_frames -= d.input_frames_used;
        if (d.input_frames == 0 && (!last || d.output_frames_gen == 0))
            return true;
    }
}

static bool put_block(struct audio_encode *e, long n)
{
    if (e->fmt == AUDIO_ENCODE_ORIGINAL) {
        sf_count_t bytes = (sf_count_t)n * audio_reader_block_align(e->reader);
        if (sf_write_raw(e->out, e->raw, bytes) != bytes) {
            snprintf(e->detail, sizeof(e->detail), "encoder: %s", sf_strerror(e->out));
            return false;
        }
        e->out_frames += n;
        return true;
    }
    return e->src ? resample(e, e->in, n, false) : write_out(e, e->in, n);
}

/* The input is exhausted: drain the resampler and close the encoder, which
 * writes the final header (FLAC STREAMINFO, WAV sizes) into memory. */
static bool finish(struct audio_encode *e)
{
    if (e->src && !resample(e, e->in, 0, true))
        return false;
    int rc = sf_close(e->out);
    e->out = NULL;
    if (rc != 0) {
        snprintf(e->detail, sizeof(e->detail), "encoder close: %s", sf_error_number(rc));
        return false;
    }
    return true;
}

static void release_decoder(struct audio_encode *e)
{
    audio_reader_close(e->reader);
    e->reader = NULL;
    if (e->src)
        src_delete(e->src);
    e->src = NULL;
    free(e->in);
    free(e->res);
    free(e->raw);
    e->in = e->res = NULL;
    e->raw = NULL;
}

static enum audio_step fail(struct audio_encode *e, enum audio_probe_error err)
{
    e->err = err;
    e->state = AUDIO_STEP_ERROR;
    if (e->reader && audio_reader_error(e->reader) != AUDIO_PROBE_OK)
        snprintf(e->detail, sizeof(e->detail), "%s", audio_reader_error_detail(e->reader));
    release_decoder(e);
    return e->state;
}

enum audio_step audio_encode_step(struct audio_encode *e)
{
    size_t done = 0;

    if (e->state != AUDIO_STEP_MORE)
        return e->state;
    e->last_step = 0;
    while (done < e->budget) {
        long n = e->fmt == AUDIO_ENCODE_ORIGINAL
                     ? audio_reader_read_raw(e->reader, e->raw, e->budget - done)
                     : audio_reader_read_mono(e->reader, e->in, e->budget - done);
        if (n < 0)
            return fail(e, audio_reader_error(e->reader));
        if (n == 0) {
            if (!finish(e))
                return fail(e, AUDIO_PROBE_CORRUPT);
            e->state = AUDIO_STEP_DONE;
            release_decoder(e);
            break;
        }
        done += (size_t)n;
        e->last_step = done;
        if (!put_block(e, n))
            return fail(e, AUDIO_PROBE_CORRUPT);
    }
    return e->state;
}

unsigned char *audio_encode_take(struct audio_encode *e, size_t *len)
{
    *len = 0;
    if (e->state != AUDIO_STEP_DONE)
        return NULL;
    return audio_memio_take(&e->mem, len);
}

const char *audio_encode_content_type(const struct audio_encode *e)
{
    return e->fmt == AUDIO_ENCODE_FLAC ? "audio/flac" : "audio/wav";
}

enum audio_encode_format audio_encode_format_used(const struct audio_encode *e)
{
    return e->fmt;
}

int audio_encode_out_rate(const struct audio_encode *e)
{
    return e->out_rate;
}

int64_t audio_encode_out_frames(const struct audio_encode *e)
{
    return e->out_frames;
}

size_t audio_encode_last_step_frames(const struct audio_encode *e)
{
    return e->last_step;
}

size_t audio_encode_budget(const struct audio_encode *e)
{
    return e->budget;
}

enum audio_probe_error audio_encode_error(const struct audio_encode *e)
{
    return e->state == AUDIO_STEP_ERROR ? e->err : AUDIO_PROBE_OK;
}

const char *audio_encode_error_detail(const struct audio_encode *e)
{
    return e->detail;
}

void audio_encode_free(struct audio_encode *e)
{
    if (!e)
        return;
    if (e->out)
        sf_close(e->out);
    release_decoder(e);
    audio_memio_reset(&e->mem);
    free(e);
}
