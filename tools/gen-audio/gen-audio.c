/* gen-audio — write tone-coded test audio (see tools/tonecode/tonecode.h).
 *
 * On success prints one JSON line describing the file (path, duration of the
 * word layout, word count, bytes) so scripts need not recompute it. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tonecode.h"

static const char usage[] =
    "usage: gen-audio (--duration SECONDS | --size BYTES) --out FILE [options]\n"
    "\n"
    "Writes tone-coded audio: word k is 0.4 s of 300 + 40*(k mod 64) Hz, then 0.2 s\n"
    "of silence, starting after --lead seconds.\n"
    "\n"
    "  --duration SECONDS  seconds of word layout (lead/trail not included)\n"
    "  --size BYTES        target file size instead (exact for wav/rf64/aiff)\n"
    "  --rate HZ           sample rate (default 16000)\n"
    "  --channels N        1..8, every channel carries the tone (default 1)\n"
    "  --format NAME       wav|flac|ogg|opus|mp3|rf64|aiff (default wav)\n"
    "  --subtype NAME      pcm8|pcm16|pcm24|pcm32|float (default pcm16; wav/rf64/aiff/flac)\n"
    "  --amplitude A       tone peak, 0..1 (default 0.5)\n"
    "  --noise AMPLITUDE   seeded white noise everywhere, 0..1 (default 0)\n"
    "  --lead SECONDS      silence before word 0 (default 0)\n"
    "  --trail SECONDS     silence after the layout (default 0)\n"
    "  --no-pauses         words follow each other without the 0.2 s gap\n"
    "  --seed N            noise seed (default 1)\n"
    "  --out FILE          output path\n"
    "  --help              this text\n";

struct cli {
    struct tonecode_gen_opts gen;
    const char *format;
    const char *subtype;
    const char *out;
};

static bool parse_double(const char *name, const char *s, double min, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min) {
        fprintf(stderr, "gen-audio: --%s: invalid value '%s'\n", name, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_long(const char *name, const char *s, long long min, long long max,
                       long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "gen-audio: --%s: invalid value '%s' (%lld..%lld)\n", name, s, min, max);
        return false;
    }
    *out = v;
    return true;
}

enum {
    OPT_DURATION = 256,
    OPT_SIZE,
    OPT_RATE,
    OPT_CHANNELS,
    OPT_FORMAT,
    OPT_SUBTYPE,
    OPT_AMPLITUDE,
    OPT_NOISE,
    OPT_LEAD,
    OPT_TRAIL,
    OPT_NO_PAUSES,
    OPT_SEED,
    OPT_OUT,
    OPT_HELP
};

static const struct option options[] = {
    {"duration", required_argument, NULL, OPT_DURATION},
    {"size", required_argument, NULL, OPT_SIZE},
    {"rate", required_argument, NULL, OPT_RATE},
    {"channels", required_argument, NULL, OPT_CHANNELS},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"subtype", required_argument, NULL, OPT_SUBTYPE},
    {"amplitude", required_argument, NULL, OPT_AMPLITUDE},
    {"noise", required_argument, NULL, OPT_NOISE},
    {"lead", required_argument, NULL, OPT_LEAD},
    {"trail", required_argument, NULL, OPT_TRAIL},
    {"no-pauses", no_argument, NULL, OPT_NO_PAUSES},
    {"seed", required_argument, NULL, OPT_SEED},
    {"out", required_argument, NULL, OPT_OUT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Apply one option; false on a bad value. */
static bool apply(struct cli *c, int opt, const char *arg)
{
    long long n;
    switch (opt) {
    case OPT_DURATION:
        return parse_double("duration", arg, 0, &c->gen.duration);
    case OPT_SIZE:
        return parse_long("size", arg, 1, (long long)1 << 50, &c->gen.size_bytes);
    case OPT_RATE:
        if (!parse_long("rate", arg, 8000, 768000, &n))
            return false;
        c->gen.rate = (int)n;
        return true;
    case OPT_CHANNELS:
        if (!parse_long("channels", arg, 1, 8, &n))
            return false;
        c->gen.channels = (int)n;
        return true;
    case OPT_FORMAT:
        c->format = arg;
        return true;
    case OPT_SUBTYPE:
        c->subtype = arg;
        return true;
    case OPT_AMPLITUDE:
        return parse_double("amplitude", arg, 0, &c->gen.amplitude);
    case OPT_NOISE:
        return parse_double("noise", arg, 0, &c->gen.noise_floor);
    case OPT_LEAD:
        return parse_double("lead", arg, 0, &c->gen.lead_silence);
    case OPT_TRAIL:
        return parse_double("trail", arg, 0, &c->gen.trail_silence);
    case OPT_NO_PAUSES:
        c->gen.no_pauses = true;
        return true;
    case OPT_SEED:
        if (!parse_long("seed", arg, 0, 4294967295LL, &n))
            return false;
        c->gen.seed = (unsigned)n;
        return true;
    case OPT_OUT:
        c->out = arg;
        return true;
    default:
        return false;
    }
}

/* Cross-option rules that getopt cannot express. */
static bool validate(struct cli *c)
{
    bool has_duration = c->gen.duration > 0, has_size = c->gen.size_bytes > 0;
    if (has_duration == has_size) {
        fprintf(stderr, "gen-audio: give exactly one of --duration (> 0) or --size\n");
        return false;
    }
    if (!c->out) {
        fprintf(stderr, "gen-audio: --out FILE is required\n");
        return false;
    }
    if (c->gen.amplitude > 1 || c->gen.noise_floor > 1) {
        fprintf(stderr, "gen-audio: --amplitude and --noise must be within 0..1\n");
        return false;
    }
    char err[256];
    if (!tonecode_sf_format(c->format, c->subtype, &c->gen.sf_format, err, sizeof(err))) {
        fprintf(stderr, "gen-audio: %s\n", err);
        return false;
    }
    return true;
}

static int parse_args(struct cli *c, int argc, char **argv)
{
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == OPT_HELP) {
            fputs(usage, stdout);
            return 0;
        }
        if (opt == '?' || !apply(c, opt, optarg)) {
            fputs("gen-audio: try --help\n", stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gen-audio: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return validate(c) ? -1 : 2;
}

int main(int argc, char **argv)
{
    struct cli c = {
        .gen = {.rate = 16000, .channels = 1, .seed = 1},
        .format = "wav",
    };
    int rc = parse_args(&c, argc, argv);
    if (rc >= 0)
        return rc;
    char err[512];
    double duration;
    if (!tonecode_plan_duration(&c.gen, &duration, err, sizeof(err)) ||
        !tonecode_write(&c.gen, c.out, err, sizeof(err))) {
        fprintf(stderr, "gen-audio: %s\n", err);
        return 1;
    }
    struct stat st;
    long long bytes = stat(c.out, &st) == 0 ? (long long)st.st_size : -1;
    json_t *summary = json_pack("{s:s,s:f,s:f,s:f,s:i,s:i,s:i,s:I}", "path", c.out, "duration",
                                duration, "lead", c.gen.lead_silence, "trail", c.gen.trail_silence,
                                "words", tonecode_word_count(duration, c.gen.no_pauses), "rate",
                                c.gen.rate, "channels", c.gen.channels, "bytes", (json_int_t)bytes);
    char *line = summary ? json_dumps(summary, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    if (line)
        puts(line);
    free(line);
    json_decref(summary);
    return 0;
}
