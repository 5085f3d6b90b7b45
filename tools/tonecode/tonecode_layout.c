/* tonecode_layout.c — where words sit in time and which tone each one is. */
#include "tonecode.h"

#include <math.h>

/* Slack for durations computed in floating point (0.6 is not exact). */
#define EPSILON 1e-9

double tonecode_freq(int k)
{
    int m = k % TONECODE_ALPHABET;
    if (m < 0)
        m += TONECODE_ALPHABET;
    return 300.0 + 40.0 * m;
}

/* A word counts when its 0.4 s tone fits entirely in `duration`. In no-pause
 * mode a word lasts up to 0.6 s, but the last one may be cut short; it still
 * counts as long as at least 0.4 s of it fits, so both modes hold the same
 * number of words and a checker needs no mode. */
int tonecode_word_count(double duration, bool no_pauses)
{
    (void)no_pauses;
    if (!(duration + EPSILON >= TONECODE_WORD_SECONDS))
        return 0;
    double n = floor((duration - TONECODE_WORD_SECONDS + EPSILON) / TONECODE_PERIOD_SECONDS);
    if (n > 1e9)
        return 1000000000;
    return (int)n + 1;
}

long tonecode_slot(double t, double lead_silence)
{
    double slot = round((t - lead_silence) / TONECODE_PERIOD_SECONDS);
    if (slot > 1e15)
        return (long)1e15;
    if (slot < -1e15)
        return (long)-1e15;
    return (long)slot;
}
