/* tonecode_util.h — helpers shared by the tonecode test suites. */
#ifndef STENO_TESTS_TONECODE_UTIL_H
#define STENO_TESTS_TONECODE_UTIL_H

#include <stddef.h>

#include "tonecode.h"

/* A fresh path "<tmpdir>/<n>.<ext>" in a per-process directory; free() it. */
char *tc_tmp_path(const char *ext);

/* Remove the per-process temp directory (call at exit). */
void tc_tmp_cleanup(void);

/* Read a whole file and average its channels; *frames and *info are filled.
 * Aborts the test on failure. free() the result. */
float *tc_read_mono(const char *path, SF_INFO *info, size_t *frames);

/* verbose_json (segments[] and, when with_words, words[]) for decoded words;
 * free() the result. */
char *tc_words_json(const struct tonecode_word *w, size_t n, bool with_words);

/* Decode mono audio and check it against the layout; fails the test with a
 * description (prefixed by what) unless the transcript is exact and every
 * word starts within tolerance seconds of its slot. Returns words found. */
size_t tc_expect_exact(const char *what, const float *mono, size_t frames, int rate,
                       double duration, double lead, double tolerance);

#endif
