/* upload.h — stream a request body to disk while hashing it (ingest, step 1).
 *
 * The body (raw audio: audio/…, application/octet-stream; or multipart/form-data
 * with the audio in field `file`) is written to a temp file under
 * {data_dir}/tmp as it arrives, with SHA-256 computed on the way; memory per
 * upload is a few fixed buffers whatever the size. At the end the file is
 * fsync'd off the loop (bio), renamed to the content-addressed
 * {data_dir}/audio/{sha256} and the directory fsync'd, then the callback
 * runs. On any failure or client abort the temp file is removed: nothing
 * partial is left behind. Other multipart fields are collected (bounded) as
 * strings for the handler (language, model, prompt, …). */
#ifndef STENO_UPLOAD_H
#define STENO_UPLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "bio.h"
#include "http.h"

enum upload_error {
    UPLOAD_OK = 0,
    UPLOAD_UNSUPPORTED_MEDIA, /* 415: not audio, not multipart */
    UPLOAD_BAD_MULTIPART,     /* 400: malformed form, no boundary */
    UPLOAD_NO_FILE,           /* 400: multipart without a `file` field */
    UPLOAD_EMPTY,             /* 400: zero bytes of audio */
    UPLOAD_FIELDS_TOO_LARGE,  /* 413: text fields over their bound */
    UPLOAD_IO,                /* 500: the disk failed us (ENOSPC, EIO…) */
};

struct upload_result {
    char sha256[65];
    uint64_t bytes;
    char *path;         /* stored audio, content-addressed; owned by the result */
    char *filename;     /* client's file name, or NULL */
    char *content_type; /* of the audio part/body, or NULL */
    json_t *fields;     /* other multipart fields {name: "value"}; owned */
    bool fresh;         /* this upload created the stored file (else it existed) */
};

/* Runs once, on the loop: err == UPLOAD_OK with res filled, or an error with
 * a message (res NULL). Not called when the client went away (the temp file
 * is removed then too). The request is still valid and unanswered. */
typedef void (*upload_done_cb)(struct http_request *req, struct upload_result *res,
                               enum upload_error err, const char *msg, void *arg);

/* Take over req's body. Returns UPLOAD_OK when streaming started (the
 * callback follows), or an error to answer at once (nothing was created).
 * `on_abort(arg)` (may be NULL) runs instead of cb when the client leaves. */
enum upload_error upload_start(struct http_request *req, const char *data_dir, struct bio *bio,
                               upload_done_cb cb, void *arg, void (*on_abort)(void *arg));

void upload_result_free(struct upload_result *res);
/* HTTP status for an error. */
int upload_error_status(enum upload_error err);
const char *upload_error_code(enum upload_error err);

/* Create {data_dir}/tmp and {data_dir}/audio; remove temp files left by a
 * crash. False with err filled when the directory is unusable. */
bool upload_prepare_dir(const char *data_dir, char *err, size_t errlen) MUST_CHECK;

#endif
