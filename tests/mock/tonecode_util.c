/* tonecode_util.c — helpers shared by the tonecode test suites. */
#include "tonecode_util.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"

static char tmp_dir[256];
static unsigned tmp_seq;

char *tc_tmp_path(const char *ext)
{
    if (!tmp_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof(tmp_dir), "%s/steno-tonecode-XXXXXX", base ? base : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    }
    return xasprintf("%s/%d-%u.%s", tmp_dir, (int)getpid(), tmp_seq++, ext);
}

void tc_tmp_cleanup(void)
{
    if (tmp_dir[0])
        rmdir(tmp_dir);
}

float *tc_read_mono(const char *path, SF_INFO *info, size_t *frames)
{
    memset(info, 0, sizeof(*info));
    SNDFILE *sf = sf_open(path, SFM_READ, info);
    ck_assert_msg(sf != NULL, "cannot read back %s: %s", path, sf_strerror(NULL));
    size_t n = (size_t)info->frames, ch = (size_t)info->channels;
    float *all = xmalloc((n * ch + 1) * sizeof(float));
    sf_count_t got = sf_readf_float(sf, all, (sf_count_t)n);
    sf_close(sf);
    ck_assert_int_eq(got, (sf_count_t)n);
    float *mono = xmalloc((n + 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        double sum = 0;
        for (size_t c = 0; c < ch; c++)
            sum += all[i * ch + c];
        mono[i] = (float)(sum / (double)ch);
    }
    free(all);
    *frames = n;
    return mono;
}

char *tc_words_json(const struct tonecode_word *w, size_t n, bool with_words)
{
    json_t *segments = json_array(), *words = json_array();
    for (size_t i = 0; i < n; i++) {
        char text[16];
        snprintf(text, sizeof(text), "w%d", w[i].symbol);
        json_array_append_new(segments, json_pack("{s:i,s:f,s:f,s:s}", "id", (int)i, "start",
                                                  w[i].start, "end", w[i].end, "text", text));
        json_array_append_new(
            words, json_pack("{s:s,s:f,s:f}", "word", text, "start", w[i].start, "end", w[i].end));
    }
    json_t *root = json_pack("{s:s,s:o}", "text", "", "segments", segments);
    if (with_words)
        json_object_set(root, "words", words);
    json_decref(words);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    ck_assert_ptr_nonnull(s);
    return s;
}

size_t tc_expect_exact(const char *what, const float *mono, size_t frames, int rate,
                       double duration, double lead, double tolerance)
{
    enum { MAX = 4096 };
    static struct tonecode_word w[MAX];
    size_t n = tonecode_decode(mono, frames, rate, w, MAX);
    ck_assert_uint_le(n, MAX);
    char *json = tc_words_json(w, n, n % 2 == 0);
    struct tonecode_report r;
    bool exact = tonecode_check(json, duration, lead, &r);
    ck_assert_msg(exact, "%s: expected %d found %d missing %d doubled %d misplaced %d: %.300s",
                  what, r.expected, r.found, r.missing, r.doubled, r.misplaced, json);
    free(json);
    for (size_t i = 0; i < n; i++) {
        double want = lead + (double)tonecode_slot(w[i].start, lead) * TONECODE_PERIOD_SECONDS;
        ck_assert_msg(fabs(w[i].start - want) <= tolerance,
                      "%s: word %zu (w%d) starts at %.4f, want %.4f ± %.3f", what, i, w[i].symbol,
                      w[i].start, want, tolerance);
    }
    return n;
}
