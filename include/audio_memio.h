/* audio_memio.h — a growable memory file for libsndfile's virtual I/O.
 *
 * sf_open_virtual(audio_memio_vio(), SFM_WRITE, &info, mem) makes libsndfile
 * write (and seek back to patch headers) into memory instead of a file. */
#ifndef STENO_AUDIO_MEMIO_H
#define STENO_AUDIO_MEMIO_H

#include <stddef.h>
#include <stdint.h>

#include <sndfile.h>

struct audio_memio {
    unsigned char *data; /* owned; NULL until the first write */
    int64_t len;         /* bytes written (the file length) */
    int64_t cap;
    int64_t pos;
};

/* Callbacks for sf_open_virtual; user_data is a struct audio_memio. Static. */
SF_VIRTUAL_IO *audio_memio_vio(void);

/* Hand the bytes to the caller (free() them); the memio is left empty. */
unsigned char *audio_memio_take(struct audio_memio *m, size_t *len);

void audio_memio_reset(struct audio_memio *m);

#endif
