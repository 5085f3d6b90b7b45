/* transcribe_params.c — reading and checking transcription parameters. */
#include "transcribe_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_key.h"
#include "jobs.h"

/* A field from the form, else the query string, else NULL. */
static const char *param(struct http_request *req, json_t *fields, const char *name, char *buf,
                         size_t len)
{
    json_t *v = json_object_get(fields, name);
    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (json_is_string(v)) {
        snprintf(buf, len, "%s", json_string_value(v));
        return buf;
    }
    return http_request_query(req, name, buf, len);
}

/* Any value of a (possibly repeated) field equals `want`? */
static bool has_value(struct http_request *req, json_t *fields, const char *name, const char *want)
{
    json_t *v = json_object_get(fields, name);
    if (json_is_string(v))
        return strcmp(json_string_value(v), want) == 0;
    size_t i;
    json_t *it;
    json_array_foreach(v, i, it) if (json_is_string(it) &&
                                     strcmp(json_string_value(it), want) == 0) return true;
    char buf[32];
    const char *q = http_request_query(req, name, buf, sizeof(buf));
    return q && strcmp(q, want) == 0;
}

static bool bad(struct http_request *req, const char *what, const char *rule)
{
    http_respond_error(req, 400, "invalid_request_error", "invalid_parameter", "%s must be %s",
                       what, rule);
    return false;
}

bool api_transcribe_params_read(struct http_request *req, json_t *fields,
                                struct api_transcribe_params *p)
{
    memset(p, 0, sizeof(*p));
    char tbuf[32], pbuf[16], fbuf[32];
    char model[sizeof(p->model) + 1];
    const char *m = param(req, fields, "model", model, sizeof(model));
    const char *l = param(req, fields, "language", p->language, sizeof(p->language));
    const char *t = param(req, fields, "temperature", tbuf, sizeof(tbuf));
    const char *pr = param(req, fields, "priority", pbuf, sizeof(pbuf));
    const char *f = param(req, fields, "response_format", fbuf, sizeof(fbuf));
    const char *pt = param(req, fields, "prompt", p->prompt, sizeof(p->prompt));
    const char *w = param(req, fields, "webhook_url", p->webhook, sizeof(p->webhook));
    if (m && (!*m || strlen(m) >= sizeof(p->model) - 1))
        return bad(req, "model", "1..126 characters");
    snprintf(p->model, sizeof(p->model), "%s", m ? m : jobs_config(jobs_current())->model);
    if (l && (strlen(l) > 16 ||
              strspn(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") != strlen(l)))
        return bad(req, "language", "a language code such as en or ru");
    if (!l)
        p->language[0] = '\0';
    p->temperature = -1;
    if (t) {
        char *end;
        p->temperature = strtod(t, &end);
        if (end == t || *end || !(p->temperature >= 0 && p->temperature <= 1))
            return bad(req, "temperature", "a number from 0 to 1");
    }
    p->priority = 1;
    if (pr && !jobs_priority_parse(pr, &p->priority))
        return bad(req, "priority", "high, medium or low");
    p->format = TRANSCRIPT_JSON;
    if (f && !transcript_format_parse(f, &p->format))
        return bad(req, "response_format", "one of json, text, srt, vtt, verbose_json");
    if (pt && strlen(pt) >= API_MAX_PROMPT)
        return bad(req, "prompt", "under 4000 characters");
    if (!pt)
        p->prompt[0] = '\0';
    if (w && *w && strncmp(w, "http://", 7) != 0 && strncmp(w, "https://", 8) != 0)
        return bad(req, "webhook_url", "an http:// or https:// URL");
    if (!w)
        p->webhook[0] = '\0';
    p->word_timestamps = has_value(req, fields, "timestamp_granularities[]", "word") ||
                         has_value(req, fields, "timestamp_granularities", "word");
    return true;
}

json_t *api_transcribe_params_json(const struct api_transcribe_params *p)
{
    json_t *o = json_pack("{s:s,s:s}", "model", p->model, "timestamp_granularity",
                          p->word_timestamps ? "word" : "segment");
    if (p->language[0])
        json_object_set_new(o, "language", json_string(p->language));
    if (p->prompt[0])
        json_object_set_new(o, "prompt", json_string(p->prompt));
    if (p->temperature >= 0)
        json_object_set_new(o, "temperature", json_real(p->temperature));
    return o;
}

void api_transcribe_cache_key(const struct api_transcribe_params *p, const char *sha256, char *key,
                              size_t len)
{
    struct cache_key_params kp = {
        .sha256 = sha256,
        .language = p->language,
        .model = p->model,
        .prompt = p->prompt,
        .temperature = p->temperature,
        .word_timestamps = p->word_timestamps,
    };
    if (!cache_key_build(&kp, key, len))
        snprintf(key, len, "transcript:%s:unkeyable", sha256);
}

bool api_probe_upload(struct http_request *req, const struct upload_result *up,
                      struct audio_info *info)
{
    char detail[200];
    enum audio_probe_error err = audio_probe(up->path, info, detail, sizeof(detail));
    if (err == AUDIO_PROBE_OK)
        return true;
    int status = err == AUDIO_PROBE_NOT_AUDIO ? 415 : err == AUDIO_PROBE_EMPTY ? 400 : 422;
    if (up->fresh)
        bio_submit(jobs_bio(jobs_current()), BIO_JOB_UNLINK, -1, up->path, NULL, NULL);
    http_respond_error(req, status, "invalid_request_error", audio_probe_error_name(err), "%s: %s",
                       audio_probe_error_message(err), detail);
    return false;
}
