/* audio_probe.c — classify an uploaded file with libsndfile. */
#include "audio_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <sndfile.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Frames read back from the end of the stream to prove the data is all there. */
#define TAIL_FRAMES 2048
/* A file that stops inside this many bytes after a known magic is a cut header. */
#define SHORT_HEADER_BYTES 4096

static const struct {
    const char *name;
    const char *message;
} errors[] = {
    [AUDIO_PROBE_OK] = {"ok", "ok"},
    [AUDIO_PROBE_EIO] = {"unreadable", "the file cannot be read"},
    [AUDIO_PROBE_EMPTY] = {"empty", "the file holds no audio"},
    [AUDIO_PROBE_NOT_AUDIO] = {"not_audio", "the file is not in a recognised audio format"},
    [AUDIO_PROBE_CORRUPT] = {"corrupt", "the audio file is malformed or cannot be decoded"},
    [AUDIO_PROBE_TRUNCATED] = {"truncated", "the audio file is truncated"},
    [AUDIO_PROBE_UNSUPPORTED] = {"unsupported", "the audio encoding is not supported"},
};

const char *audio_probe_error_name(enum audio_probe_error err)
{
    if ((unsigned)err >= ARRAY_LEN(errors))
        return "unknown";
    return errors[err].name;
}

const char *audio_probe_error_message(enum audio_probe_error err)
{
    if ((unsigned)err >= ARRAY_LEN(errors))
        return "unknown audio error";
    return errors[err].message;
}

static const char *container_name(int major)
{
    switch (major) {
    case SF_FORMAT_WAV:
    case SF_FORMAT_WAVEX:
        return "wav";
    case SF_FORMAT_RF64:
        return "rf64";
    case SF_FORMAT_W64:
        return "w64";
    case SF_FORMAT_AIFF:
        return "aiff";
    case SF_FORMAT_AU:
        return "au";
    case SF_FORMAT_FLAC:
        return "flac";
    case SF_FORMAT_OGG:
        return "ogg";
    case SF_FORMAT_MPEG:
        return "mp3";
    case SF_FORMAT_CAF:
        return "caf";
    case SF_FORMAT_RAW:
        return "raw";
    default:
        return "other";
    }
}

static const char *codec_name(int subtype)
{
    switch (subtype) {
    case SF_FORMAT_PCM_S8:
        return "pcm_s8";
    case SF_FORMAT_PCM_U8:
        return "pcm_u8";
    case SF_FORMAT_PCM_16:
        return "pcm_s16";
    case SF_FORMAT_PCM_24:
        return "pcm_s24";
    case SF_FORMAT_PCM_32:
        return "pcm_s32";
    case SF_FORMAT_FLOAT:
        return "pcm_f32";
    case SF_FORMAT_DOUBLE:
        return "pcm_f64";
    case SF_FORMAT_ULAW:
        return "ulaw";
    case SF_FORMAT_ALAW:
        return "alaw";
    case SF_FORMAT_VORBIS:
        return "vorbis";
    case SF_FORMAT_OPUS:
        return "opus";
    case SF_FORMAT_MPEG_LAYER_I:
        return "mp1";
    case SF_FORMAT_MPEG_LAYER_II:
        return "mp2";
    case SF_FORMAT_MPEG_LAYER_III:
        return "mp3";
    default:
        return "other";
    }
}

void audio_probe_describe_format(int sf_format, struct audio_info *info)
{
    int major = sf_format & SF_FORMAT_TYPEMASK;
    int subtype = sf_format & SF_FORMAT_SUBMASK;

    snprintf(info->container, sizeof(info->container), "%s", container_name(major));
    if (major == SF_FORMAT_FLAC)
        snprintf(info->codec, sizeof(info->codec), "flac");
    else
        snprintf(info->codec, sizeof(info->codec), "%s", codec_name(subtype));
    info->sf_format = sf_format;
    info->lengths_exact = major != SF_FORMAT_MPEG;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* The first bytes of the formats we know, so a broken file of a known kind is
 * told apart from a file that is not audio at all. */
static bool has_audio_magic(const unsigned char *h, size_t n)
{
    static const char *const magics[] = {"RIFF", "RIFX", "RF64", "FORM", "fLaC",
                                         "OggS", "ID3",  ".snd", "caff", "riff"};
    for (size_t i = 0; i < ARRAY_LEN(magics); i++) {
        size_t m = strlen(magics[i]);
        if (n >= m && memcmp(h, magics[i], m) == 0)
            return true;
    }
    /* A bare MPEG audio frame sync. */
    return n >= 2 && h[0] == 0xFF && (h[1] & 0xE0) == 0xE0;
}

/* Size that a RIFF/RF64/FORM header declares for the whole file, or 0 when it
 * does not say (streaming writers put 0 or 0xFFFFFFFF there). */
static uint64_t declared_size(const unsigned char *h, size_t n)
{
    uint32_t v;

    if (n >= 28 && memcmp(h, "RF64", 4) == 0 && memcmp(h + 12, "ds64", 4) == 0)
        return le64(h + 20) ? le64(h + 20) + 8 : 0;
    if (n < 8)
        return 0;
    if (memcmp(h, "RIFF", 4) == 0)
        v = le32(h + 4);
    else if (memcmp(h, "RIFX", 4) == 0 || memcmp(h, "FORM", 4) == 0)
        v = be32(h + 4);
    else
        return 0;
    return (v == 0 || v == UINT32_MAX) ? 0 : (uint64_t)v + 8;
}

/* Open and stat the file, read its first bytes. */
static enum audio_probe_error read_head(const char *path, unsigned char *head, size_t *head_len,
                                        int64_t *size, char *detail, size_t detail_len)
{
    struct stat st;
    int fd;

    errno = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(detail, detail_len, "%s", strerror(errno));
        return AUDIO_PROBE_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(detail, detail_len, "%s", errno ? strerror(errno) : "not a regular file");
        close(fd);
        return AUDIO_PROBE_EIO;
    }
    ssize_t n = pread(fd, head, *head_len, 0);
    int e = errno;
    close(fd);
    if (n < 0) {
        snprintf(detail, detail_len, "%s", strerror(e));
        return AUDIO_PROBE_EIO;
    }
    *head_len = (size_t)n;
    *size = st.st_size;
    return st.st_size == 0 ? AUDIO_PROBE_EMPTY : AUDIO_PROBE_OK;
}

/* sf_open failed: say why, in our terms. */
static enum audio_probe_error classify_open_error(const unsigned char *head, size_t head_len,
                                                  int64_t size)
{
    int code = sf_error(NULL);
    const char *msg = sf_strerror(NULL);
    bool magic = has_audio_magic(head, head_len);

    if (code == SF_ERR_SYSTEM)
        return AUDIO_PROBE_EIO;
    if (!magic)
        return AUDIO_PROBE_NOT_AUDIO;
    if (size < SHORT_HEADER_BYTES)
        return AUDIO_PROBE_TRUNCATED;
    if (code == SF_ERR_UNSUPPORTED_ENCODING || strstr(msg, "nsupported") ||
        strstr(msg, "unimplemented"))
        return AUDIO_PROBE_UNSUPPORTED;
    return AUDIO_PROBE_CORRUPT;
}

/* Read the last frames of the stream; a compressed file that stops early
 * fails here (FLAC loses sync, MP3 comes up short). */
static bool tail_is_readable(SNDFILE *sf, const SF_INFO *si, bool exact)
{
    float buf[256 * AUDIO_PROBE_MAX_CHANNELS];
    sf_count_t want = si->frames < TAIL_FRAMES ? si->frames : TAIL_FRAMES;
    sf_count_t got = 0, per = 256;

    if (sf_seek(sf, si->frames - want, SEEK_SET) < 0)
        return false;
    while (got < want) {
        sf_count_t n = sf_readf_float(sf, buf, want - got < per ? want - got : per);
        if (n <= 0)
            break;
        got += n;
    }
    if (sf_error(sf) != SF_ERR_NO_ERROR)
        return false;
    /* MP3 lengths come from a Xing/LAME header and may be off by a frame. */
    return exact ? got == want : got > 0;
}

static enum audio_probe_error check_open_file(SNDFILE *sf, const SF_INFO *si,
                                              struct audio_info *info, uint64_t declared,
                                              int64_t size, char *detail, size_t detail_len)
{
    if (si->channels < 1 || si->channels > AUDIO_PROBE_MAX_CHANNELS || si->samplerate < 1000 ||
        si->samplerate > 768000)
        return AUDIO_PROBE_UNSUPPORTED;
    if (si->frames == SF_COUNT_MAX || (!si->seekable && si->frames <= 0))
        return AUDIO_PROBE_TRUNCATED; /* Ogg without its end: length unknown */
    if (declared > (uint64_t)size) {
        snprintf(detail, detail_len, "header declares %llu bytes, file has %lld",
                 (unsigned long long)declared, (long long)size);
        return AUDIO_PROBE_TRUNCATED;
    }
    if (si->frames <= 0)
        return AUDIO_PROBE_EMPTY;
    audio_probe_describe_format(si->format, info);
    if (!tail_is_readable(sf, si, info->lengths_exact))
        return AUDIO_PROBE_TRUNCATED;
    return AUDIO_PROBE_OK;
}

enum audio_probe_error audio_probe(const char *path, struct audio_info *info, char *detail,
                                   size_t detail_len)
{
    unsigned char head[64];
    size_t head_len = sizeof(head);
    char scratch[8];
    int64_t size = 0;
    enum audio_probe_error err;
    SF_INFO si;

    if (!detail) {
        detail = scratch;
        detail_len = sizeof(scratch);
    }
    detail[0] = '\0';
    memset(info, 0, sizeof(*info));
    err = read_head(path, head, &head_len, &size, detail, detail_len);
    if (err != AUDIO_PROBE_OK)
        return err;

    memset(&si, 0, sizeof(si));
    SNDFILE *sf = sf_open(path, SFM_READ, &si);
    if (!sf) {
        snprintf(detail, detail_len, "%s", sf_strerror(NULL));
        return classify_open_error(head, head_len, size);
    }
    err = check_open_file(sf, &si, info, declared_size(head, head_len), size, detail, detail_len);
    if (err != AUDIO_PROBE_OK && !detail[0])
        snprintf(detail, detail_len, "%s", sf_error(sf) ? sf_strerror(sf) : "");
    sf_close(sf);
    if (err != AUDIO_PROBE_OK) {
        memset(info, 0, sizeof(*info));
        return err;
    }
    info->rate = si.samplerate;
    info->channels = si.channels;
    info->frames = si.frames;
    info->duration = (double)si.frames / si.samplerate;
    info->file_size = size;
    info->bitrate = info->duration > 0 ? (double)size * 8.0 / info->duration : 0;
    return AUDIO_PROBE_OK;
}
