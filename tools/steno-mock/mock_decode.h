/* mock_decode.h — decoding uploads on the loop, in slices.
 *
 * An uploaded file (in memory) is opened with libsndfile's virtual I/O and
 * read block by block, downmixed to mono and fed to tonecode's streaming
 * Goertzel decoder. All decodes share one scheduler: each loop pass it runs
 * blocks round-robin across the active decodes for at most `budget` seconds,
 * then yields (a zero-timeout timer, so socket events run in between).
 * A 25 MB upload thus never holds the loop for more than a few ms, and many
 * concurrent decodes progress together. */
#ifndef STENO_MOCK_DECODE_H
#define STENO_MOCK_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "alloc.h"
#include "tonecode.h"

struct mock_decoder;
struct mock_decode;

struct mock_decode_result {
    bool ok;                           /* false: the stream broke before any audio */
    const char *error;                 /* when !ok */
    const struct tonecode_word *words; /* valid during the callback only */
    size_t nwords;
    double seconds; /* of audio actually decoded */
};

/* Called once, from the scheduler's event, when the decode is complete. The
 * decode is freed right after the callback returns: do not cancel it there. */
typedef void (*mock_decode_done_fn)(void *arg, const struct mock_decode_result *r);

struct mock_decoder *mock_decoder_new(struct event_base *base, double budget_seconds);
/* Frees the scheduler and cancels what is still running (no callbacks). */
void mock_decoder_free(struct mock_decoder *dec);

/* Open `data` (len bytes, ownership taken in every case) and queue it.
 * Returns NULL with a reason in err when libsndfile cannot open it or its
 * rate/channels are unusable. */
struct mock_decode *mock_decode_start(struct mock_decoder *dec, unsigned char *data, size_t len,
                                      mock_decode_done_fn done, void *arg, char *err,
                                      size_t errlen) MUST_CHECK;
/* Stop a queued decode and free it; done is not called. */
void mock_decode_cancel(struct mock_decode *d);

/* Decodes queued or running now (tests, stats). */
size_t mock_decoder_active(const struct mock_decoder *dec);

/* Scheduler passes that decoded something, and the most CPU time one took
 * (thread CPU time, so a descheduled process does not inflate it): tests
 * check a big upload was decoded in many short slices. */
struct mock_decoder_stats {
    uint64_t slices;
    double max_slice_ms;
};
void mock_decoder_stats(const struct mock_decoder *dec, struct mock_decoder_stats *out);
void mock_decoder_reset_stats(struct mock_decoder *dec);

#endif
