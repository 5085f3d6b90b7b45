/* audio_testutil.c — temp dirs, files and in-memory decoding for the tests. */
#include "audio_testutil.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "audio_memio.h"

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = xasprintf("%s/steno-audio-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

void tu_rmdir(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *p = tu_path(dir, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
        free(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

char *tu_path(const char *dir, const char *name)
{
    return xasprintf("%s/%s", dir, name);
}

void tu_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

unsigned char *tu_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = xmalloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

bool tu_decode(const unsigned char *bytes, size_t len, struct tu_audio *out)
{
    struct audio_memio m = {(unsigned char *)bytes, (int64_t)len, (int64_t)len, 0};
    SF_INFO si;
    memset(&si, 0, sizeof(si));
    SNDFILE *sf = sf_open_virtual(audio_memio_vio(), SFM_READ, &si, &m);
    if (!sf)
        return false;
    out->rate = si.samplerate;
    out->channels = si.channels;
    out->format = si.format;
    out->mono = xmalloc(((size_t)si.frames + 1) * sizeof(float));
    float *buf = xmalloc(4096 * sizeof(float) * (size_t)si.channels);
    int64_t got = 0;
    sf_count_t n;
    while ((n = sf_readf_float(sf, buf, 4096)) > 0) {
        out->mono = xrealloc(out->mono, ((size_t)(got + n) + 1) * sizeof(float));
        for (sf_count_t i = 0; i < n; i++) {
            float s = 0;
            for (int c = 0; c < si.channels; c++)
                s += buf[i * si.channels + c];
            out->mono[got + i] = s / (float)si.channels;
        }
        got += n;
    }
    out->frames = got;
    free(buf);
    sf_close(sf);
    return true;
}
