/* mock_upload.h — a transcription request body, parsed as it streams in.
 *
 * Feeds the multipart/form-data body to src/mime's incremental parser. The
 * small fields (model, language, prompt, temperature, response_format,
 * timestamp_granularities[]) are kept in memory up to MOCK_FIELD_MAX bytes
 * each; the `file` part is kept in memory up to the body limit (the mock
 * decodes it from there). Other fields are read and ignored. */
#ifndef STENO_MOCK_UPLOAD_H
#define STENO_MOCK_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

#define MOCK_FIELD_MAX (64 * 1024)

struct mock_upload_fields {
    char *model; /* NULL when the field was absent; else NUL-terminated */
    char *language;
    char *prompt;
    char *temperature;
    char *response_format;
    bool gran_word;     /* timestamp_granularities[] included "word" */
    bool gran_segment;  /* …"segment" */
    char *gran_invalid; /* the first other value given, or NULL */
    bool have_file;
    char *filename; /* the file part's filename, or NULL */
};

struct mock_upload;

/* A parser for a body with this Content-Type. NULL, with a reason in err,
 * when it is not multipart/form-data with a valid boundary. */
struct mock_upload *mock_upload_new(const char *content_type, char *err, size_t errlen) MUST_CHECK;
void mock_upload_free(struct mock_upload *u);
/* The body will be about `bytes` long (its Content-Length): the file buffer
 * is then allocated once at that size instead of growing by doubling (a
 * realloc of a 16 MB buffer would copy it inside one loop pass). */
void mock_upload_size_hint(struct mock_upload *u, size_t bytes);

/* Feed body bytes. false (reason in err) on a malformed body or a field over
 * MOCK_FIELD_MAX; the upload is then dead (feed no more). */
bool mock_upload_feed(struct mock_upload *u, const char *data, size_t len, char *err,
                      size_t errlen) MUST_CHECK;
/* The body ended: false (reason in err) when it was truncated. */
bool mock_upload_finish(struct mock_upload *u, char *err, size_t errlen) MUST_CHECK;

const struct mock_upload_fields *mock_upload_fields(const struct mock_upload *u);
/* Bytes of the file part so far. */
size_t mock_upload_file_len(const struct mock_upload *u);
/* Hand the file bytes to the caller (free() them); *len gets their count.
 * NULL when there was no file part or it was empty. */
unsigned char *mock_upload_take_file(struct mock_upload *u, size_t *len);

#endif
