/* tonecode_gen.c — write a tone-coded file with libsndfile. */
#include "tonecode_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool check_opts(const struct tonecode_gen_opts *o, char *err, size_t errlen)
{
    if (o->rate < 8000 || o->rate > 768000) {
        snprintf(err, errlen, "rate %d out of range (8000..768000)", o->rate);
        return false;
    }
    if (o->channels < 1 || o->channels > 8) {
        snprintf(err, errlen, "channels %d out of range (1..8)", o->channels);
        return false;
    }
    if (!(o->amplitude >= 0 && o->amplitude <= 1)) {
        snprintf(err, errlen, "amplitude must be within 0..1");
        return false;
    }
    if (!(o->noise_floor >= 0 && o->noise_floor <= 1)) {
        snprintf(err, errlen, "noise amplitude must be within 0..1");
        return false;
    }
    if (!(o->lead_silence >= 0 && o->trail_silence >= 0 && o->duration >= 0) ||
        !isfinite(o->lead_silence + o->trail_silence + o->duration)) {
        snprintf(err, errlen, "duration, lead and trail must be finite and >= 0");
        return false;
    }
    return true;
}

bool tonecode_sf_info(const struct tonecode_gen_opts *o, SF_INFO *info, char *err, size_t errlen)
{
    if (!check_opts(o, err, errlen))
        return false;
    memset(info, 0, sizeof(*info));
    info->samplerate = o->rate;
    info->channels = o->channels;
    info->format = o->sf_format;
    if (!sf_format_check(info)) {
        snprintf(err, errlen, "libsndfile cannot write format 0x%06x with %d channel(s) at %d Hz",
                 (unsigned)o->sf_format, o->channels, o->rate);
        return false;
    }
    return true;
}

bool tonecode_write(const struct tonecode_gen_opts *opts, const char *path, char *err,
                    size_t errlen)
{
    struct tonecode_plan plan;
    SF_INFO info;
    if (!tonecode_plan_frames(opts, &plan, err, errlen) ||
        !tonecode_sf_info(opts, &info, err, errlen))
        return false;
    /* libsndfile creates the file before its encoder may refuse the rate. */
    bool existed = access(path, F_OK) == 0;
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) {
        snprintf(err, errlen, "cannot write %s: %s", path, sf_strerror(NULL));
        if (!existed)
            unlink(path);
        return false;
    }
    sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    struct tonecode_synth s;
    tonecode_synth_init(&s, opts, &plan);
    bool ok = tonecode_synth_write(sf, &s);
    if (!ok)
        snprintf(err, errlen, "writing %s failed: %s", path, sf_strerror(sf));
    if (sf_close(sf) != 0 && ok) {
        snprintf(err, errlen, "closing %s failed: %s", path, sf_strerror(NULL));
        ok = false;
    }
    if (!ok)
        unlink(path);
    return ok;
}
