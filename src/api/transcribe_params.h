/* transcribe_params.h — what a transcription request asks for, read the
 * same way by POST /v1/transcriptions (jobs) and POST /v1/audio/transcriptions
 * (synchronous): form fields first, then the query string. */
#ifndef STENO_TRANSCRIBE_PARAMS_H
#define STENO_TRANSCRIBE_PARAMS_H

#include <stdbool.h>

#include <jansson.h>

#include "audio_probe.h"
#include "http.h"
#include "transcript.h"
#include "upload.h"

#define API_MAX_PROMPT 4000

struct api_transcribe_params {
    char model[128];   /* the default model when not given */
    char language[32]; /* "" = auto-detect */
    char prompt[API_MAX_PROMPT + 1];
    double temperature; /* < 0 = the upstream's default */
    bool word_timestamps;
    int priority;                  /* 0 high, 1 medium (default), 2 low */
    char webhook[2048];            /* "" = none */
    enum transcript_format format; /* response_format (default json) */
};

/* Validate into *p; on a bad value answers 400 and returns false. */
bool api_transcribe_params_read(struct http_request *req, json_t *fields,
                                struct api_transcribe_params *p);
/* The normalized parameters as stored in jobs.params (new reference). */
json_t *api_transcribe_params_json(const struct api_transcribe_params *p);
/* The cache key of these parameters for audio `sha256`. */
void api_transcribe_cache_key(const struct api_transcribe_params *p, const char *sha256, char *key,
                              size_t len);

/* Probe the stored upload; on audio we can never transcribe answers
 * 415/400/422, removes the file if this upload created it, returns false. */
bool api_probe_upload(struct http_request *req, const struct upload_result *up,
                      struct audio_info *info);

#endif
