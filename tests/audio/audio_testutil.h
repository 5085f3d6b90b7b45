/* audio_testutil.h — helpers shared by the audio test suites: a temp dir,
 * files, and decoding encoded bytes back to mono floats. */
#ifndef STENO_AUDIO_TESTUTIL_H
#define STENO_AUDIO_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A fresh directory under $TMPDIR (or /tmp); tu_rmdir removes it and its files. */
char *tu_tmpdir(void);
void tu_rmdir(char *dir);
/* dir/name, heap-allocated. */
char *tu_path(const char *dir, const char *name);
void tu_write(const char *path, const void *data, size_t len);
/* The whole file, heap-allocated; *len gets its size. */
unsigned char *tu_read(const char *path, size_t *len);

struct tu_audio {
    int rate, channels, format;
    int64_t frames;
    float *mono; /* frames samples, channel average */
};

/* Decode an in-memory file with libsndfile. Returns false if it does not open. */
bool tu_decode(const unsigned char *bytes, size_t len, struct tu_audio *out);

#endif
