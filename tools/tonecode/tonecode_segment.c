/* tonecode_segment.c — from tone windows to timed words.
 *
 * A word is a run of tonal windows whose strongest tone is the same symbol.
 * Because windows are summed coherently, a window that overlaps a tone by a
 * fraction f reads an amplitude of f × the tone's amplitude; that gives the
 * onset and offset to a fraction of the 10 ms hop, and lets us keep only the
 * windows that are at least half inside the tone. Runs shorter than 0.2 s are
 * dropped: a real word lasts 0.4 s, so anything shorter is a word cut at a
 * buffer edge (too little left to be sure of) or a codec artifact. */
#include "tonecode_internal.h"

#define EDGE_FRACTION 0.5 /* windows kept: at least this much inside the tone */
#define MIN_WORD      0.2 /* seconds */
#define MERGE_WINDOWS 6   /* same-symbol runs split by <= 60 ms are one word */

struct run {
    size_t first;
    size_t last;
    int sym;
};

static bool in_run(const struct tonecode_window *w, int sym)
{
    return w->tonal && w->sym == sym;
}

/* Find the next run starting at or after *pos, merging runs of the same
 * symbol separated by a short glitch (no two adjacent words share a symbol). */
static bool next_run(const struct tonecode_window *win, size_t n, size_t *pos, struct run *r)
{
    size_t i = *pos;
    while (i < n && !win[i].tonal)
        i++;
    if (i >= n)
        return false;
    r->first = i;
    r->sym = win[i].sym;
    r->last = i;
    for (size_t j = i + 1; j < n && j <= r->last + MERGE_WINDOWS; j++)
        if (in_run(&win[j], r->sym))
            r->last = j;
    *pos = r->last + 1;
    return true;
}

static double clamp01(double x)
{
    return x > 1.0 ? 1.0 : x < 0.0 ? 0.0 : x;
}

/* Onset and offset of a run, from the windows at least half inside it. */
static bool time_run(const struct tonecode_window *win, const struct run *r, double hop,
                     double width, struct tonecode_word *w)
{
    double peak = 0;
    for (size_t i = r->first; i <= r->last; i++)
        if (in_run(&win[i], r->sym) && win[i].amp > peak)
            peak = win[i].amp;
    size_t a = r->last + 1, b = r->first;
    for (size_t i = r->first; i <= r->last; i++) {
        if (in_run(&win[i], r->sym) && win[i].amp >= EDGE_FRACTION * peak) {
            if (a > r->last)
                a = i;
            b = i;
        }
    }
    if (a > r->last || peak <= 0)
        return false;
    w->symbol = r->sym;
    w->start = a * hop + width - clamp01(win[a].amp / peak) * width;
    w->end = b * hop + clamp01(win[b].amp / peak) * width;
    return w->end - w->start >= MIN_WORD;
}

size_t tonecode_segment(const struct tonecode_window *win, size_t n, double hop, double width,
                        struct tonecode_word *out, size_t max)
{
    size_t found = 0, pos = 0;
    struct run r;
    while (next_run(win, n, &pos, &r)) {
        struct tonecode_word w;
        if (!time_run(win, &r, hop, width, &w))
            continue;
        if (found < max)
            out[found] = w;
        found++;
    }
    return found;
}
