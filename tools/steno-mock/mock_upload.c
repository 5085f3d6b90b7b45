/* mock_upload.c — multipart body → fields and file bytes. */
#include "mock_upload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

enum part_kind { PART_IGNORED, PART_FILE, PART_FIELD };

struct mock_upload {
    struct multipart_parser *p;
    struct mock_upload_fields f;
    enum part_kind kind;
    char **target; /* PART_FIELD: where the value goes at the part's end */
    bool granularity;
    char *val; /* current field value */
    size_t val_len;
    bool too_long;
    unsigned char *file;
    size_t file_len, file_cap;
    size_t hint;
};

/* Which field slot a part name fills; NULL for fields the mock ignores. */
static char **slot_for(struct mock_upload *u, const char *name)
{
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        {"model", offsetof(struct mock_upload_fields, model)},
        {"language", offsetof(struct mock_upload_fields, language)},
        {"prompt", offsetof(struct mock_upload_fields, prompt)},
        {"temperature", offsetof(struct mock_upload_fields, temperature)},
        {"response_format", offsetof(struct mock_upload_fields, response_format)},
    };
    for (size_t i = 0; i < ARRAY_LEN(fields); i++)
        if (strcmp(name, fields[i].name) == 0)
            return (char **)((char *)&u->f + fields[i].offset);
    return NULL;
}

static int on_begin(void *user, const struct multipart_part *part)
{
    struct mock_upload *u = user;
    u->kind = PART_IGNORED;
    u->target = NULL;
    u->granularity = false;
    u->val_len = 0;
    if (strcmp(part->name, "file") == 0) {
        u->kind = PART_FILE;
        u->f.have_file = true;
        u->file_len = 0; /* a repeated file part replaces the first */
        free(u->f.filename);
        u->f.filename = part->filename ? xstrdup(part->filename) : NULL;
    } else if (strcmp(part->name, "timestamp_granularities[]") == 0 ||
               strcmp(part->name, "timestamp_granularities") == 0) {
        u->kind = PART_FIELD;
        u->granularity = true;
    } else if ((u->target = slot_for(u, part->name))) {
        u->kind = PART_FIELD;
    }
    return MULTIPART_CONTINUE;
}

static void append_file(struct mock_upload *u, const char *data, size_t len)
{
    if (u->file_len + len > u->file_cap) {
        size_t cap = u->file_cap ? u->file_cap : 64 * 1024;
        if (!u->file_cap && u->hint > cap)
            cap = u->hint;
        while (cap < u->file_len + len)
            cap *= 2;
        u->file = xrealloc(u->file, cap);
        u->file_cap = cap;
    }
    memcpy(u->file + u->file_len, data, len);
    u->file_len += len;
}

static int on_data(void *user, const char *data, size_t len)
{
    struct mock_upload *u = user;
    if (u->kind == PART_FILE) {
        append_file(u, data, len);
    } else if (u->kind == PART_FIELD) {
        if (u->val_len + len > MOCK_FIELD_MAX) {
            u->too_long = true;
            return MULTIPART_ABORT;
        }
        memcpy(u->val + u->val_len, data, len);
        u->val_len += len;
    }
    return MULTIPART_CONTINUE;
}

static void take_granularity(struct mock_upload *u, const char *v)
{
    if (strcmp(v, "word") == 0)
        u->f.gran_word = true;
    else if (strcmp(v, "segment") == 0)
        u->f.gran_segment = true;
    else if (!u->f.gran_invalid)
        u->f.gran_invalid = xstrdup(v);
}

static int on_end(void *user)
{
    struct mock_upload *u = user;
    if (u->kind != PART_FIELD)
        return MULTIPART_CONTINUE;
    u->val[u->val_len] = '\0';
    if (u->granularity) {
        take_granularity(u, u->val);
    } else if (u->target) {
        free(*u->target);
        *u->target = xstrndup(u->val, u->val_len);
    }
    return MULTIPART_CONTINUE;
}

struct mock_upload *mock_upload_new(const char *content_type, char *err, size_t errlen)
{
    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    if (!content_type ||
        !multipart_boundary_from_content_type(content_type, boundary, sizeof(boundary))) {
        snprintf(err, errlen, "Content-Type must be multipart/form-data with a boundary");
        return NULL;
    }
    struct mock_upload *u = xcalloc(1, sizeof(*u));
    static const struct multipart_callbacks cbs = {on_begin, on_data, on_end};
    u->p = multipart_parser_new(boundary, NULL, &cbs, u);
    if (!u->p) {
        free(u);
        snprintf(err, errlen, "invalid multipart boundary");
        return NULL;
    }
    u->val = xmalloc(MOCK_FIELD_MAX + 1);
    return u;
}

void mock_upload_free(struct mock_upload *u)
{
    if (!u)
        return;
    multipart_parser_free(u->p);
    free(u->f.model);
    free(u->f.language);
    free(u->f.prompt);
    free(u->f.temperature);
    free(u->f.response_format);
    free(u->f.gran_invalid);
    free(u->f.filename);
    free(u->val);
    free(u->file);
    free(u);
}

static bool failed(struct mock_upload *u, char *err, size_t errlen)
{
    if (u->too_long)
        snprintf(err, errlen, "a form field is longer than %d bytes", MOCK_FIELD_MAX);
    else
        snprintf(err, errlen, "malformed multipart body: %s",
                 multipart_strerror(multipart_parser_error(u->p)));
    return false;
}

bool mock_upload_feed(struct mock_upload *u, const char *data, size_t len, char *err, size_t errlen)
{
    size_t used = multipart_parser_feed(u->p, data, len);
    if (used != len || multipart_parser_error(u->p) != MULTIPART_OK)
        return failed(u, err, errlen);
    return true;
}

bool mock_upload_finish(struct mock_upload *u, char *err, size_t errlen)
{
    if (multipart_parser_finish(u->p) != MULTIPART_OK)
        return failed(u, err, errlen);
    return true;
}

void mock_upload_size_hint(struct mock_upload *u, size_t bytes)
{
    u->hint = bytes;
}

const struct mock_upload_fields *mock_upload_fields(const struct mock_upload *u)
{
    return &u->f;
}

size_t mock_upload_file_len(const struct mock_upload *u)
{
    return u->file_len;
}

unsigned char *mock_upload_take_file(struct mock_upload *u, size_t *len)
{
    unsigned char *f = u->file_len ? u->file : NULL;
    *len = u->file_len;
    if (!f)
        return NULL;
    u->file = NULL;
    u->file_len = u->file_cap = 0;
    return f;
}
