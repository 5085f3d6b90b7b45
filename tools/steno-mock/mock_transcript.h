/* mock_transcript.h — decoded tone words → a Whisper-like transcript.
 *
 * Each word reads "w{symbol}". Words are grouped into segments of at most
 * MOCK_SEGMENT_WORDS words; a silence longer than MOCK_SEGMENT_GAP seconds
 * between two words also starts a new segment. A segment's text is " w3 w4"
 * (leading space, as Whisper writes it), its start/end those of its first
 * and last word; the transcript text is the words joined by single spaces.
 * Times are rounded to the millisecond. No word: text "" and no segments.
 *
 * Pure, unit-tested. */
#ifndef STENO_MOCK_TRANSCRIPT_H
#define STENO_MOCK_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include "tonecode.h"
#include "transcript.h"

#define MOCK_SEGMENT_WORDS 5
#define MOCK_SEGMENT_GAP   1.0

struct mock_transcript_opts {
    bool words;           /* fill words[] (timestamp_granularities[]=word) */
    const char *language; /* NULL: "english" */
    double temperature;   /* reported per segment */
    double duration;      /* seconds of audio uploaded */
};

/* A new transcript (transcript_free it). words need not be sorted. */
struct transcript *mock_transcript_build(const struct tonecode_word *words, size_t n,
                                         const struct mock_transcript_opts *opts);

#endif
