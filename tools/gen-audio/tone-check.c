/* tone-check — check a verbose_json transcript of tone-coded audio.
 *
 * Prints the report as one JSON line and exits 0 when the transcript is
 * exact, 1 on any error (wrong words, unreadable file, bad transcript),
 * 2 on bad usage. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "tonecode.h"

#define MAX_TRANSCRIPT (256u << 20)

static const char usage[] = "usage: tone-check --duration SECONDS [--lead SECONDS] FILE.json\n"
                            "  FILE '-' reads standard input.\n";

static bool parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

/* Whole file into a NUL-terminated heap string; NULL on error. */
static char *slurp(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, len = 0;
    char *buf = xmalloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            if (cap >= MAX_TRANSCRIPT)
                break;
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    bool bad = ferror(f) || len + 1 >= MAX_TRANSCRIPT;
    if (f != stdin)
        fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"duration", required_argument, NULL, 'd'},
        {"lead", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double duration = -1, lead = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        bool ok = (opt == 'd' && parse_seconds(optarg, &duration)) ||
                  (opt == 'l' && parse_seconds(optarg, &lead));
        if (!ok) {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (duration < 0 || optind + 1 != argc) {
        fputs(usage, stderr);
        return 2;
    }
    char *text = slurp(argv[optind]);
    if (!text) {
        fprintf(stderr, "tone-check: cannot read %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    struct tonecode_report r;
    char err[256];
    bool exact = tonecode_check_ex(text, duration, lead, &r, err, sizeof(err));
    free(text);
    printf("{\"expected\":%d,\"found\":%d,\"missing\":%d,\"doubled\":%d,\"misplaced\":%d,"
           "\"exact\":%s}\n",
           r.expected, r.found, r.missing, r.doubled, r.misplaced, exact ? "true" : "false");
    if (err[0])
        fprintf(stderr, "tone-check: %s\n", err);
    return exact ? 0 : 1;
}
