/* upload.c — streaming upload to a content-addressed file with SHA-256. */
#include "hex.h"
#include "upload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "multipart.h"

/* Text fields (language, prompt, …) are small; the whole set is bounded. */
#define MAX_FIELDS_BYTES (64 * 1024)

struct upload {
    struct http_request *req;
    struct bio *bio;
    upload_done_cb cb;
    void *arg;
    void (*on_abort)(void *arg);
    char *data_dir;
    char *tmp_path;
    int fd;
    EVP_MD_CTX *md;
    uint64_t bytes;
    struct multipart_parser *mp; /* NULL for a raw body */
    bool in_file;                /* current part is `file` */
    bool saw_file;
    char *field_name;
    char *field_value;
    size_t field_len, fields_bytes;
    json_t *fields;
    char *filename, *content_type;
    enum upload_error failed;
    char msg[256];
    struct upload_result *res;
};

static void upload_free(struct upload *u)
{
    if (u->mp)
        multipart_parser_free(u->mp);
    EVP_MD_CTX_free(u->md);
    json_decref(u->fields);
    free(u->field_name);
    free(u->field_value);
    free(u->filename);
    free(u->content_type);
    free(u->data_dir);
    free(u->tmp_path);
    upload_result_free(u->res);
    free(u);
}

/* Drop the temp file off the loop (close, then unlink). */
static void discard_file(struct upload *u)
{
    if (u->fd >= 0) {
        bio_submit(u->bio, BIO_JOB_CLOSE, u->fd, NULL, NULL, NULL);
        u->fd = -1;
    }
    if (u->tmp_path)
        bio_submit(u->bio, BIO_JOB_UNLINK, -1, u->tmp_path, NULL, NULL);
}

static void fail(struct upload *u, enum upload_error err, const char *msg)
{
    if (u->failed)
        return;
    u->failed = err;
    snprintf(u->msg, sizeof(u->msg), "%s", msg);
}

static void write_audio(struct upload *u, const char *data, size_t len)
{
    if (u->failed)
        return;
    EVP_DigestUpdate(u->md, data, len);
    u->bytes += len;
    while (len) {
        ssize_t n = write(u->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            char m[128];
            snprintf(m, sizeof(m), "cannot store the upload: %s", strerror(errno));
            log_ctx_error(u->req->log_ctx, "upload: %s", m);
            fail(u, UPLOAD_IO, m);
            return;
        }
        data += n;
        len -= (size_t)n;
    }
}

/* --- multipart --- */

static int part_begin(void *user, const struct multipart_part *part)
{
    struct upload *u = user;
    u->in_file = strcmp(part->name, "file") == 0;
    if (u->in_file) {
        if (u->saw_file) {
            fail(u, UPLOAD_BAD_MULTIPART, "more than one `file` field");
            return MULTIPART_ABORT;
        }
        u->saw_file = true;
        free(u->filename);
        free(u->content_type);
        u->filename = part->filename ? xstrdup(part->filename) : NULL;
        u->content_type = part->content_type ? xstrdup(part->content_type) : NULL;
        return MULTIPART_CONTINUE;
    }
    free(u->field_name);
    u->field_name = xstrdup(part->name);
    u->field_len = 0;
    return MULTIPART_CONTINUE;
}

static int part_data(void *user, const char *data, size_t len)
{
    struct upload *u = user;
    if (u->in_file) {
        write_audio(u, data, len);
        return u->failed ? MULTIPART_ABORT : MULTIPART_CONTINUE;
    }
    u->fields_bytes += len;
    if (u->fields_bytes > MAX_FIELDS_BYTES) {
        fail(u, UPLOAD_FIELDS_TOO_LARGE, "form fields other than `file` exceed 64 KiB");
        return MULTIPART_ABORT;
    }
    u->field_value = xrealloc(u->field_value, u->field_len + len + 1);
    memcpy(u->field_value + u->field_len, data, len);
    u->field_len += len;
    u->field_value[u->field_len] = '\0';
    return MULTIPART_CONTINUE;
}

static int part_end(void *user)
{
    struct upload *u = user;
    if (!u->in_file && u->field_name) {
        /* repeated names (timestamp_granularities[]) become arrays */
        json_t *v = json_stringn(u->field_value ? u->field_value : "", u->field_len);
        json_t *old = json_object_get(u->fields, u->field_name);
        if (!v) {
            fail(u, UPLOAD_BAD_MULTIPART, "form field is not valid UTF-8");
            return MULTIPART_ABORT;
        }
        if (!old) {
            json_object_set_new(u->fields, u->field_name, v);
        } else if (json_is_array(old)) {
            json_array_append_new(old, v);
        } else {
            json_t *arr = json_pack("[O,o]", old, v);
            json_object_set_new(u->fields, u->field_name, arr);
        }
    }
    u->in_file = false;
    return MULTIPART_CONTINUE;
}

/* --- request hooks --- */

static enum http_body_result on_body(struct http_request *req, const char *data, size_t len)
{
    struct upload *u = req->user;
    if (u->failed)
        return HTTP_BODY_OK; /* read and drop the rest; we answer at the end */
    if (!u->mp) {
        write_audio(u, data, len);
        return HTTP_BODY_OK;
    }
    size_t used = multipart_parser_feed(u->mp, data, len);
    if (used < len && !u->failed)
        fail(u, UPLOAD_BAD_MULTIPART, multipart_strerror(multipart_parser_error(u->mp)));
    return HTTP_BODY_OK;
}

static void finish_error(struct upload *u)
{
    struct http_request *req = u->req;
    discard_file(u);
    req->user = NULL;
    req->on_abort = NULL;
    upload_done_cb cb = u->cb;
    void *arg = u->arg;
    enum upload_error err = u->failed;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", u->msg);
    upload_free(u);
    cb(req, NULL, err, msg, arg);
}

static void on_dir_synced(int err, void *arg)
{
    struct upload *u = arg;
    if (!u->req) { /* client left while we were syncing: keep the stored file */
        upload_free(u);
        return;
    }
    struct http_request *req = u->req;
    struct upload_result *res = u->res;
    u->res = NULL;
    req->user = NULL;
    req->on_abort = NULL;
    upload_done_cb cb = u->cb;
    void *arg2 = u->arg;
    upload_free(u);
    cb(req, res, UPLOAD_OK, NULL, arg2);
}

/* Data is on disk: give it its content address. Same content, same name:
 * an identical earlier upload already holds it, so ours is dropped. */
static void on_synced(int err, void *arg)
{
    struct upload *u = arg;
    if (err && u->req) {
        snprintf(u->msg, sizeof(u->msg), "cannot store the upload: fsync: %s", strerror(err));
        u->failed = UPLOAD_IO;
        finish_error(u);
        return;
    }
    char *dst = xasprintf("%s/audio/%s", u->data_dir, u->res->sha256);
    struct stat st;
    if (stat(dst, &st) == 0 && (uint64_t)st.st_size == u->res->bytes) {
        u->res->fresh = false;
        bio_submit(u->bio, BIO_JOB_UNLINK, -1, u->tmp_path, NULL, NULL);
    } else if (rename(u->tmp_path, dst) < 0) {
        free(dst);
        if (!u->req) {
            upload_free(u);
            return;
        }
        snprintf(u->msg, sizeof(u->msg), "cannot store the upload: rename: %s", strerror(errno));
        u->failed = UPLOAD_IO;
        finish_error(u);
        return;
    } else
        u->res->fresh = true;
    free(u->tmp_path);
    u->tmp_path = NULL;
    u->res->path = dst;
    char *dir = xasprintf("%s/audio", u->data_dir);
    bio_submit(u->bio, BIO_JOB_FSYNC_DIR, -1, dir, on_dir_synced, u);
    free(dir);
}

static void on_body_end(struct http_request *req)
{
    struct upload *u = req->user;
    if (!u->failed && u->mp && multipart_parser_finish(u->mp) != MULTIPART_OK)
        fail(u, UPLOAD_BAD_MULTIPART, multipart_strerror(multipart_parser_error(u->mp)));
    if (!u->failed && u->mp && !u->saw_file)
        fail(u, UPLOAD_NO_FILE, "multipart form has no `file` field");
    if (!u->failed && u->bytes == 0)
        fail(u, UPLOAD_EMPTY, "the audio is empty");
    if (u->failed) {
        finish_error(u);
        return;
    }
    unsigned char md[32];
    EVP_DigestFinal_ex(u->md, md, NULL);
    struct upload_result *res = u->res = xcalloc(1, sizeof(*res));
    hex_encode(md, sizeof(md), res->sha256);
    res->bytes = u->bytes;
    res->filename = u->filename;
    res->content_type = u->content_type;
    res->fields = u->fields;
    u->filename = u->content_type = NULL;
    u->fields = NULL;
    req->on_body = NULL;
    req->on_body_end = NULL;
    int fd = u->fd;
    u->fd = -1; /* bio owns it now */
    bio_submit(u->bio, BIO_JOB_FSYNC_CLOSE, fd, NULL, on_synced, u);
}

static void on_abort(struct http_request *req)
{
    struct upload *u = req->user;
    void (*handler_abort)(void *) = u->on_abort;
    void *handler_arg = u->arg;
    if (u->res) {
        /* fsync in flight: the bio callbacks finish and free */
        u->req = NULL;
    } else {
        discard_file(u);
        upload_free(u);
    }
    req->user = NULL;
    if (handler_abort)
        handler_abort(handler_arg);
}

static bool is_audio_type(const char *ct)
{
    return strncasecmp(ct, "audio/", 6) == 0 || strncasecmp(ct, "video/", 6) == 0 ||
           strncasecmp(ct, "application/octet-stream", 24) == 0 ||
           strncasecmp(ct, "application/ogg", 15) == 0;
}

enum upload_error upload_start(struct http_request *req, const char *data_dir, struct bio *bio,
                               upload_done_cb cb, void *arg, void (*handler_abort)(void *arg))
{
    const char *ct = http_request_header(req, "content-type");
    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    bool multipart = ct && strncasecmp(ct, "multipart/", 10) == 0;
    if (multipart && !multipart_boundary_from_content_type(ct, boundary, sizeof(boundary)))
        return UPLOAD_BAD_MULTIPART;
    if (!multipart && (!ct || !is_audio_type(ct)))
        return UPLOAD_UNSUPPORTED_MEDIA;
    struct upload *u = xcalloc(1, sizeof(*u));
    static const struct multipart_callbacks cbs = {part_begin, part_data, part_end};
    if (multipart)
        u->mp = multipart_parser_new(boundary, NULL, &cbs, u);
    u->req = req;
    u->bio = bio;
    u->cb = cb;
    u->arg = arg;
    u->on_abort = handler_abort;
    u->data_dir = xstrdup(data_dir);
    u->fields = json_object();
    u->content_type = multipart ? NULL : xstrdup(ct);
    u->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(u->md, EVP_sha256(), NULL);
    u->tmp_path = xasprintf("%s/tmp/upload-%d-%s", data_dir, (int)getpid(), req->id);
    u->fd = open(u->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (u->fd < 0) {
        log_ctx_error(req->log_ctx, "upload: cannot create %s: %s", u->tmp_path, strerror(errno));
        free(u->tmp_path);
        u->tmp_path = NULL;
        upload_free(u);
        return UPLOAD_IO;
    }
    req->user = u;
    req->on_body = on_body;
    req->on_body_end = on_body_end;
    req->on_abort = on_abort;
    return UPLOAD_OK;
}

void upload_result_free(struct upload_result *res)
{
    if (!res)
        return;
    free(res->path);
    free(res->filename);
    free(res->content_type);
    json_decref(res->fields);
    free(res);
}

int upload_error_status(enum upload_error err)
{
    static const int status[] = {200, 415, 400, 400, 400, 413, 500};
    return status[err];
}

const char *upload_error_code(enum upload_error err)
{
    static const char *const codes[] = {
        "ok",          "unsupported_media_type", "bad_multipart", "missing_file",
        "empty_audio", "fields_too_large",       "storage_error"};
    return codes[err];
}

static bool make_dir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0750) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

bool upload_prepare_dir(const char *data_dir, char *err, size_t errlen)
{
    char *tmp = xasprintf("%s/tmp", data_dir), *audio = xasprintf("%s/audio", data_dir);
    bool ok = make_dir(data_dir, err, errlen) && make_dir(tmp, err, errlen) &&
              make_dir(audio, err, errlen);
    if (ok) {
        /* temp files of a previous run are partial uploads nobody owns */
        DIR *d = opendir(tmp);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (strncmp(e->d_name, "upload-", 7) == 0)
                unlinkat(dirfd(d), e->d_name, 0);
        if (d)
            closedir(d);
    }
    free(tmp);
    free(audio);
    return ok;
}
