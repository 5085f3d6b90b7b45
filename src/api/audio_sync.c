/* audio_sync.c — POST /v1/audio/transcriptions, OpenAI-compatible and
 * synchronous: a drop-in for the OpenAI SDKs (base_url = steno).
 *
 * The same pipeline as a job — streaming upload, probe, silence-aware
 * chunks in parallel HTTP/2 streams, merge — but run in this process and
 * answered on the same request, in the `response_format` asked for
 * ("whisper-1", the SDKs' model name, means the configured model). No
 * job row is written, so this endpoint keeps serving while PostgreSQL is
 * down (../shared/DESIGN.md, "Degradation"). A client that leaves cancels
 * the work: its in-flight upstream streams are reset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_call.h"
#include "jobs.h"
#include "log.h"
#include "transcribe_params.h"

struct sync {
    struct http_request *req; /* NULL once the client left */
    struct engine_job *ej;
    enum transcript_format fmt;
    char id[48];
};

static void finished(void *arg, struct transcript *merged, enum engine_error err,
                     const char *message)
{
    struct sync *s = arg;
    struct http_request *req = s->req;
    enum transcript_format fmt = s->fmt;
    free(s); /* the engine frees its job after this returns */
    req->user = NULL;
    req->on_abort = NULL;
    if (err != ENGINE_OK) {
        bool bad = err == ENGINE_BAD_AUDIO;
        http_respond_error(req,
                           bad                      ? 422
                           : err == ENGINE_REJECTED ? 400
                                                    : 502,
                           bad ? "invalid_request_error" : "upstream_error",
                           bad ? "bad_audio" : "transcription_failed", "%s",
                           message ? message : "transcription failed");
        return;
    }
    size_t len;
    char *body = transcript_render(merged, fmt, &len);
    transcript_free(merged);
    http_respond(req, 200, transcript_format_content_type(fmt), body, len);
    free(body);
}

/* The client left: stop the work (no hook runs after a cancel). */
static void aborted(struct http_request *req)
{
    struct sync *s = req->user;
    req->user = NULL;
    if (s) {
        log_ctx_info(req->log_ctx, "sync: the client left; %s cancelled", s->id);
        if (s->ej)
            engine_job_cancel(s->ej);
        free(s);
    }
}

static const struct engine_hooks hooks = {.finished = finished};

static void uploaded(struct http_request *req, struct upload_result *up, enum upload_error err,
                     const char *msg, void *arg)
{
    struct sync *s = arg;
    if (err) {
        free(s);
        http_respond_error(req, upload_error_status(err), "invalid_request_error",
                           upload_error_code(err), "%s", msg);
        return;
    }
    struct api_transcribe_params p;
    struct audio_info info;
    if (!api_transcribe_params_read(req, up->fields, &p) || !api_probe_upload(req, up, &info)) {
        upload_result_free(up);
        free(s);
        return; /* answered */
    }
    s->fmt = p.format;
    /* OpenAI SDKs name their one Whisper model "whisper-1": that means the
     * model this gateway is configured for. */
    if (strcmp(p.model, "whisper-1") == 0)
        snprintf(p.model, sizeof(p.model), "%s", jobs_config(jobs_current())->model);
    struct jobs *j = jobs_current();
    struct engine_job_params ep = {
        .model = p.model,
        .language = p.language[0] ? p.language : NULL,
        .prompt = p.prompt[0] ? p.prompt : NULL,
        .temperature = p.temperature,
        .word_timestamps = p.word_timestamps,
        .priority = UPSTREAM_PRIO_HIGH, /* someone is waiting on the line */
    };
    snprintf(s->id, sizeof(s->id), "sync-%s", req->id);
    log_ctx_info(req->log_ctx, "sync: %.1fs of audio, model %s", info.duration, p.model);
    s->req = req;
    req->user = s;
    req->on_abort = aborted;
    s->ej = engine_job_start(jobs_engine(j), s->id, up->path, &ep, NULL, 0, &hooks, s);
    upload_result_free(up);
}

void api_audio_transcriptions(struct http_request *req)
{
    struct jobs *j = jobs_current();
    if (!j) {
        api_respond_unavailable(req, "the jobs service is not running");
        return;
    }
    struct sync *s = xcalloc(1, sizeof(*s));
    enum upload_error err =
        upload_start(req, jobs_config(j)->data_dir, jobs_bio(j), uploaded, s, free);
    if (err) {
        free(s);
        http_respond_error(req, upload_error_status(err), "invalid_request_error",
                           upload_error_code(err), "%s",
                           "send multipart/form-data with the audio in field `file`");
    }
}
