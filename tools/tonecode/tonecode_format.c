/* tonecode_format.c — gen-audio's format and subtype names to libsndfile codes. */
#include "tonecode.h"

#include <stdio.h>
#include <string.h>

struct major {
    const char *name;
    int major;
    int codec; /* fixed subtype for codecs, 0 when PCM subtypes apply */
};

static const struct major majors[] = {
    {"wav", SF_FORMAT_WAV, 0},
    {"rf64", SF_FORMAT_RF64, 0},
    {"aiff", SF_FORMAT_AIFF, 0},
    {"flac", SF_FORMAT_FLAC, 0},
    {"ogg", SF_FORMAT_OGG, SF_FORMAT_VORBIS},
    {"vorbis", SF_FORMAT_OGG, SF_FORMAT_VORBIS},
    {"opus", SF_FORMAT_OGG, SF_FORMAT_OPUS},
    {"mp3", SF_FORMAT_MPEG, SF_FORMAT_MPEG_LAYER_III},
};

struct subtype {
    const char *name;
    int subtype;
};

static const struct subtype subtypes[] = {
    {"pcm8", SF_FORMAT_PCM_S8},  {"pcm16", SF_FORMAT_PCM_16}, {"pcm24", SF_FORMAT_PCM_24},
    {"pcm32", SF_FORMAT_PCM_32}, {"float", SF_FORMAT_FLOAT},
};

/* 8-bit PCM is unsigned in WAV/RF64 and signed elsewhere. */
static int eight_bit(int major)
{
    return (major == SF_FORMAT_WAV || major == SF_FORMAT_RF64) ? SF_FORMAT_PCM_U8
                                                               : SF_FORMAT_PCM_S8;
}

static bool combine(const struct major *m, const struct subtype *st, int *sf_format, char *err,
                    size_t errlen)
{
    if (m->codec) {
        if (st) {
            snprintf(err, errlen, "format %s is a codec and takes no --subtype", m->name);
            return false;
        }
        *sf_format = m->major | m->codec;
        return true;
    }
    int sub = st ? st->subtype : SF_FORMAT_PCM_16;
    if (sub == SF_FORMAT_PCM_S8)
        sub = eight_bit(m->major);
    if (m->major == SF_FORMAT_FLAC && (sub == SF_FORMAT_PCM_32 || sub == SF_FORMAT_FLOAT)) {
        snprintf(err, errlen, "flac supports only pcm8, pcm16 and pcm24, not %s", st->name);
        return false;
    }
    *sf_format = m->major | sub;
    return true;
}

bool tonecode_sf_format(const char *format, const char *subtype, int *sf_format, char *err,
                        size_t errlen)
{
    const struct major *m = NULL;
    const struct subtype *st = NULL;
    for (size_t i = 0; format && i < sizeof(majors) / sizeof(majors[0]); i++)
        if (strcmp(format, majors[i].name) == 0)
            m = &majors[i];
    if (!m) {
        snprintf(err, errlen, "unknown format '%s' (wav, flac, ogg, opus, mp3, rf64, aiff)",
                 format ? format : "");
        return false;
    }
    if (subtype) {
        for (size_t i = 0; i < sizeof(subtypes) / sizeof(subtypes[0]); i++)
            if (strcmp(subtype, subtypes[i].name) == 0)
                st = &subtypes[i];
        if (!st) {
            snprintf(err, errlen, "unknown subtype '%s' (pcm8, pcm16, pcm24, pcm32, float)",
                     subtype);
            return false;
        }
    }
    return combine(m, st, sf_format, err, errlen);
}

bool tonecode_is_pcm(int sf_format)
{
    int major = sf_format & SF_FORMAT_TYPEMASK;
    if (major == SF_FORMAT_FLAC || major == SF_FORMAT_OGG || major == SF_FORMAT_MPEG)
        return false;
    switch (sf_format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8:
    case SF_FORMAT_PCM_U8:
    case SF_FORMAT_PCM_16:
    case SF_FORMAT_PCM_24:
    case SF_FORMAT_PCM_32:
    case SF_FORMAT_FLOAT:
    case SF_FORMAT_DOUBLE:
        return true;
    default:
        return false;
    }
}
