/* mock_decode.c — round-robin sliced decoding of in-memory audio. */
#include "mock_decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <sndfile.h>

#include "audio_memio.h"

#define BLOCK_FRAMES 4096
#define MAX_CHANNELS 64

struct mock_decode {
    struct mock_decoder *dec;
    struct audio_memio mem; /* owns the file bytes */
    SNDFILE *sf;
    SF_INFO info;
    struct tonecode_decoder *td;
    float *buf;     /* one interleaved block */
    int64_t frames; /* decoded so far */
    bool broken;
    mock_decode_done_fn done;
    void *arg;
    TAILQ_ENTRY(mock_decode) link;
};

TAILQ_HEAD(decode_list, mock_decode);

struct mock_decoder {
    struct event_base *base;
    struct event *tick;
    double budget;
    struct decode_list queue;
    size_t n;
    struct mock_decoder_stats stats;
};

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void decode_free(struct mock_decode *d)
{
    if (d->sf)
        sf_close(d->sf);
    tonecode_decoder_free(d->td);
    audio_memio_reset(&d->mem);
    free(d->buf);
    free(d);
}

/* Read and analyse one block; false once the stream is over. */
static bool run_block(struct mock_decode *d)
{
    int ch = d->info.channels;
    float mono[BLOCK_FRAMES];
    sf_count_t got = sf_readf_float(d->sf, d->buf, BLOCK_FRAMES);
    if (got <= 0) {
        d->broken = d->frames == 0 && sf_error(d->sf) != SF_ERR_NO_ERROR;
        return false;
    }
    for (sf_count_t i = 0; i < got; i++) {
        float sum = 0;
        for (int c = 0; c < ch; c++)
            sum += d->buf[i * ch + c];
        mono[i] = sum / (float)ch;
    }
    tonecode_decoder_feed(d->td, mono, (size_t)got);
    d->frames += got;
    return true;
}

static void finish(struct mock_decode *d)
{
    double seconds = (double)d->frames / d->info.samplerate;
    size_t max = (size_t)(seconds / 0.2) + 16;
    struct tonecode_word *words = xmalloc(max * sizeof(*words));
    size_t n = tonecode_decoder_finish(d->td, words, max);
    struct mock_decode_result r = {
        .ok = !d->broken,
        .error = d->broken ? sf_strerror(d->sf) : NULL,
        .words = words,
        .nwords = n < max ? n : max,
        .seconds = seconds,
    };
    d->done(d->arg, &r);
    free(words);
    decode_free(d);
}

static void schedule(struct mock_decoder *dec)
{
    static const struct timeval zero = {0, 0};
    if (dec->n && !evtimer_pending(dec->tick, NULL))
        evtimer_add(dec->tick, &zero);
}

/* One pass: blocks round-robin until the budget is spent. The walk always
 * takes the head, so a completion callback may cancel or start decodes. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mock_decoder *dec = arg;
    double start = clock_seconds(CLOCK_MONOTONIC), cpu = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
    struct mock_decode *d;
    while ((d = TAILQ_FIRST(&dec->queue))) {
        TAILQ_REMOVE(&dec->queue, d, link);
        if (run_block(d)) {
            TAILQ_INSERT_TAIL(&dec->queue, d, link);
        } else {
            dec->n--;
            finish(d);
        }
        if (clock_seconds(CLOCK_MONOTONIC) - start >= dec->budget)
            break;
    }
    double ms = (clock_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu) * 1000.0;
    dec->stats.slices++;
    if (ms > dec->stats.max_slice_ms)
        dec->stats.max_slice_ms = ms;
    schedule(dec);
}

struct mock_decoder *mock_decoder_new(struct event_base *base, double budget_seconds)
{
    struct mock_decoder *dec = xcalloc(1, sizeof(*dec));
    dec->base = base;
    dec->budget = budget_seconds;
    dec->tick = evtimer_new(base, tick_cb, dec);
    TAILQ_INIT(&dec->queue);
    return dec;
}

void mock_decoder_free(struct mock_decoder *dec)
{
    if (!dec)
        return;
    struct mock_decode *d;
    while ((d = TAILQ_FIRST(&dec->queue))) {
        TAILQ_REMOVE(&dec->queue, d, link);
        decode_free(d);
    }
    event_free(dec->tick);
    free(dec);
}

/* Open the memory file; false with err when it is not usable audio. */
static bool open_audio(struct mock_decode *d, char *err, size_t errlen)
{
    d->sf = sf_open_virtual(audio_memio_vio(), SFM_READ, &d->info, &d->mem);
    if (!d->sf) {
        snprintf(err, errlen, "could not decode the audio file: %s", sf_strerror(NULL));
        return false;
    }
    if (d->info.channels < 1 || d->info.channels > MAX_CHANNELS) {
        snprintf(err, errlen, "unsupported channel count %d", d->info.channels);
        return false;
    }
    if (!(d->td = tonecode_decoder_new(d->info.samplerate))) {
        snprintf(err, errlen, "unsupported sample rate %d Hz (8000 or more needed)",
                 d->info.samplerate);
        return false;
    }
    return true;
}

struct mock_decode *mock_decode_start(struct mock_decoder *dec, unsigned char *data, size_t len,
                                      mock_decode_done_fn done, void *arg, char *err, size_t errlen)
{
    struct mock_decode *d = xcalloc(1, sizeof(*d));
    d->dec = dec;
    d->mem.data = data;
    d->mem.len = d->mem.cap = (int64_t)len;
    d->done = done;
    d->arg = arg;
    if (!data || !len) {
        snprintf(err, errlen, "the audio file is empty");
        decode_free(d);
        return NULL;
    }
    if (!open_audio(d, err, errlen)) {
        decode_free(d);
        return NULL;
    }
    d->buf = xmalloc((size_t)BLOCK_FRAMES * (size_t)d->info.channels * sizeof(float));
    TAILQ_INSERT_TAIL(&dec->queue, d, link);
    dec->n++;
    schedule(dec);
    return d;
}

void mock_decode_cancel(struct mock_decode *d)
{
    if (!d)
        return;
    TAILQ_REMOVE(&d->dec->queue, d, link);
    d->dec->n--;
    decode_free(d);
}

size_t mock_decoder_active(const struct mock_decoder *dec)
{
    return dec->n;
}

void mock_decoder_stats(const struct mock_decoder *dec, struct mock_decoder_stats *out)
{
    *out = dec->stats;
}

void mock_decoder_reset_stats(struct mock_decoder *dec)
{
    memset(&dec->stats, 0, sizeof(dec->stats));
}
