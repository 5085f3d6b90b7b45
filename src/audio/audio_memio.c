/* audio_memio.c — libsndfile virtual I/O over a growable buffer. */
#include "audio_memio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static sf_count_t get_filelen(void *user)
{
    return ((struct audio_memio *)user)->len;
}

static sf_count_t seek(sf_count_t offset, int whence, void *user)
{
    struct audio_memio *m = user;
    int64_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->len : 0;
    if (base + offset < 0)
        return -1;
    m->pos = base + offset;
    return m->pos;
}

static sf_count_t read_bytes(void *ptr, sf_count_t count, void *user)
{
    struct audio_memio *m = user;
    int64_t left = m->len - m->pos;
    if (count > left)
        count = left > 0 ? left : 0;
    if (count > 0)
        memcpy(ptr, m->data + m->pos, (size_t)count);
    m->pos += count;
    return count;
}

static sf_count_t write_bytes(const void *ptr, sf_count_t count, void *user)
{
    struct audio_memio *m = user;
    int64_t end = m->pos + count;
    if (end > m->cap) {
        int64_t cap = m->cap ? m->cap : 65536;
        while (cap < end)
            cap *= 2;
        m->data = xrealloc(m->data, (size_t)cap);
        m->cap = cap;
    }
    if (m->pos > m->len) /* a seek past the end leaves a hole of zeros */
        memset(m->data + m->len, 0, (size_t)(m->pos - m->len));
    memcpy(m->data + m->pos, ptr, (size_t)count);
    m->pos = end;
    if (end > m->len)
        m->len = end;
    return count;
}

static sf_count_t tell(void *user)
{
    return ((struct audio_memio *)user)->pos;
}

SF_VIRTUAL_IO *audio_memio_vio(void)
{
    static SF_VIRTUAL_IO vio = {get_filelen, seek, read_bytes, write_bytes, tell};
    return &vio;
}

unsigned char *audio_memio_take(struct audio_memio *m, size_t *len)
{
    unsigned char *d = m->data;
    *len = (size_t)m->len;
    memset(m, 0, sizeof(*m));
    return d;
}

void audio_memio_reset(struct audio_memio *m)
{
    free(m->data);
    memset(m, 0, sizeof(*m));
}
