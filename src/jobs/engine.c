/* engine.c — probe, sliced scan, plan, lazy sliced encode, upstream, merge. */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "audio_scan.h"
#include "log.h"

enum phase { PH_PROBE, PH_SCAN, PH_RUN, PH_DONE };
enum cstate { C_PENDING, C_ENCODING, C_SUBMITTED, C_DONE, C_FAILED };

struct echunk {
    struct engine_chunk c;
    enum cstate st;
    unsigned char *buf; /* encoded bytes while with the upstream */
    size_t len;
    char ctype[32];
    struct upstream_call *call;
};

struct ejob {
    struct engine *e;
    char *id, *path, *model, *language, *prompt;
    struct engine_job_params params;
    struct engine_hooks hooks;
    void *arg;
    char ctx[80];
    enum phase phase;
    struct audio_info info;
    struct audio_scan *scan;
    float *energy; /* kept for 413 splits (fresh jobs only) */
    size_t nwin;
    struct echunk *chunks;
    size_t n;
    int next_index;
    struct audio_encode *enc;
    size_t enc_pos;
    enum engine_error err;
    char errmsg[256];
    TAILQ_ENTRY(ejob) link;
};
TAILQ_HEAD(job_list, ejob);

struct engine {
    struct event_base *base;
    struct upstream *up;
    struct engine_config cfg;
    struct job_list jobs;
    size_t njobs;
    unsigned outstanding; /* chunks encoding or with the upstream */
    struct event *work_ev;
    struct ejob *rr; /* round-robin cursor */
};

/* The upstream callback's handle: positions in chunks[] never move. */
struct ref {
    struct ejob *j;
    size_t pos;
};

void engine_config_defaults(struct engine_config *c)
{
    memset(c, 0, sizeof(*c));
    c->chunk_format = AUDIO_ENCODE_FLAC;
    audio_plan_params_default(&c->plan);
    c->max_outstanding = 20;
}

static void schedule_work(struct engine *e)
{
    static const struct timeval zero = {0, 0};
    if (!evtimer_pending(e->work_ev, NULL))
        evtimer_add(e->work_ev, &zero); /* after the next poll: I/O goes first */
}

static void free_job(struct ejob *j)
{
    struct engine *e = j->e;
    if (e->rr == j)
        e->rr = TAILQ_NEXT(j, link);
    TAILQ_REMOVE(&e->jobs, j, link);
    e->njobs--;
    for (size_t i = 0; i < j->n; i++) {
        struct echunk *c = &j->chunks[i];
        if (c->call) {
            upstream_cancel(c->call);
            c->call = NULL;
        }
        if (c->st == C_ENCODING || c->st == C_SUBMITTED)
            e->outstanding--;
        free(c->buf);
        transcript_free(c->c.result);
    }
    if (j->enc)
        audio_encode_free(j->enc);
    if (j->scan)
        audio_scan_free(j->scan);
    free(j->energy);
    free(j->chunks);
    free(j->id);
    free(j->path);
    free(j->model);
    free(j->language);
    free(j->prompt);
    free(j);
}

static void fail_job(struct ejob *j, enum engine_error err, const char *msg)
{
    struct engine_hooks h = j->hooks;
    void *arg = j->arg;
    log_ctx_warn(j->ctx, "engine: job failed: %s", msg);
    char m[300];
    snprintf(m, sizeof(m), "%s", msg);
    j->phase = PH_DONE;
    free_job(j);
    if (h.finished)
        h.finished(arg, NULL, err, m);
}

static int by_start(const void *a, const void *b)
{
    const struct echunk *x = *(const struct echunk *const *)a;
    const struct echunk *y = *(const struct echunk *const *)b;
    return x->c.start_frame < y->c.start_frame ? -1 : x->c.start_frame > y->c.start_frame;
}

/* Every chunk has ended: merge in time order, or report the failures. */
static void maybe_finish(struct ejob *j)
{
    size_t failed = 0;
    for (size_t i = 0; i < j->n; i++) {
        if (j->chunks[i].st != C_DONE && j->chunks[i].st != C_FAILED)
            return;
        failed += j->chunks[i].st == C_FAILED;
    }
    if (failed) {
        char m[400];
        snprintf(m, sizeof(m), "%zu of %zu chunks failed%s%s", failed, j->n,
                 j->errmsg[0] ? ": " : "", j->errmsg);
        fail_job(j, j->err ? j->err : ENGINE_CHUNKS_FAILED, m);
        return;
    }
    struct echunk **order = xcalloc(j->n ? j->n : 1, sizeof(*order));
    const struct transcript **parts = xcalloc(j->n ? j->n : 1, sizeof(*parts));
    double *offsets = xcalloc(j->n ? j->n : 1, sizeof(*offsets));
    for (size_t i = 0; i < j->n; i++)
        order[i] = &j->chunks[i];
    qsort(order, j->n, sizeof(*order), by_start);
    for (size_t i = 0; i < j->n; i++) {
        parts[i] = order[i]->c.result;
        offsets[i] = order[i]->c.start;
    }
    struct transcript *merged = transcript_merge(parts, offsets, j->n);
    merged->duration = j->info.duration;
    if (j->language && !merged->language)
        transcript_set_language(merged, j->language);
    free(order);
    free(parts);
    free(offsets);
    struct engine_hooks h = j->hooks;
    void *arg = j->arg;
    log_ctx_info(j->ctx, "engine: done, %zu chunks merged", j->n);
    j->phase = PH_DONE;
    free_job(j);
    if (h.finished)
        h.finished(arg, merged, ENGINE_OK, NULL);
    else
        transcript_free(merged);
}

/* Append a chunk (positions never move, only the array may). */
static struct echunk *add_chunk(struct ejob *j, int64_t start, int64_t end)
{
    j->chunks = xrealloc(j->chunks, (j->n + 1) * sizeof(*j->chunks));
    struct echunk *c = &j->chunks[j->n++];
    memset(c, 0, sizeof(*c));
    c->c.index = j->next_index++;
    c->c.start_frame = start;
    c->c.end_frame = end;
    c->c.start = (double)start / j->info.rate;
    c->c.duration = (double)(end - start) / j->info.rate;
    return c;
}

/* 413: cut the chunk in two at the quietest 10 ms window of its middle half
 * (the energy of a fresh scan), or at its middle (resumed job). */
static bool split_chunk(struct ejob *j, size_t pos)
{
    struct echunk *c = &j->chunks[pos];
    int64_t len = c->c.end_frame - c->c.start_frame;
    if (len < j->info.rate) /* under a second: something else is wrong */
        return false;
    int64_t cut = c->c.start_frame + len / 2;
    if (j->energy) {
        double per = j->info.rate / 100.0;
        size_t w0 = (size_t)((c->c.start_frame + len / 4) / per);
        size_t w1 = (size_t)((c->c.end_frame - len / 4) / per);
        size_t best = (size_t)(cut / per);
        for (size_t w = w0; w < w1 && w < j->nwin; w++)
            if (j->energy[w] < j->energy[best])
                best = w;
        cut = (int64_t)(best * per + per / 2);
    }
    int64_t end = c->c.end_frame;
    struct echunk *b = add_chunk(j, cut, end);
    c = &j->chunks[pos]; /* the array may have moved */
    c->c.end_frame = cut;
    c->c.duration = (double)(cut - c->c.start_frame) / j->info.rate;
    c->st = C_PENDING;
    b->st = C_PENDING;
    log_ctx_info(j->ctx,
                 "engine: chunk %d too large for the upstream, split at %.2fs into %d and %d",
                 c->c.index, (double)cut / j->info.rate, c->c.index, b->c.index);
    if (j->hooks.chunk_split)
        j->hooks.chunk_split(j->arg, &c->c, &b->c);
    return true;
}

static void on_result(struct upstream_result *res, void *arg)
{
    struct ref *r = arg;
    struct ejob *j = r->j;
    size_t pos = r->pos;
    free(r);
    struct engine *e = j->e;
    struct echunk *c = &j->chunks[pos];
    c->call = NULL;
    free(c->buf);
    c->buf = NULL;
    e->outstanding--;
    switch (res->status) {
    case UPSTREAM_OK:
        c->st = C_DONE;
        c->c.state = ENGINE_CHUNK_DONE;
        c->c.result = res->transcript;
        if (j->hooks.chunk_done)
            j->hooks.chunk_done(j->arg, &c->c, c->c.result, res->attempts, res->seconds);
        break;
    case UPSTREAM_TOO_LARGE:
        if (split_chunk(j, pos))
            break;
        __attribute__((fallthrough)); /* cannot split further: a failure */
    case UPSTREAM_REJECTED:
    case UPSTREAM_FAILED:
        c = &j->chunks[pos];
        c->st = C_FAILED;
        c->c.state = ENGINE_CHUNK_FAILED;
        if (res->status == UPSTREAM_REJECTED) {
            j->err = ENGINE_REJECTED;
            snprintf(j->errmsg, sizeof(j->errmsg), "%s", res->error ? res->error : "rejected");
        }
        if (j->hooks.chunk_failed)
            j->hooks.chunk_failed(j->arg, &c->c, res->error ? res->error : "failed", res->attempts);
        break;
    }
    schedule_work(e);
    maybe_finish(j);
}

static void submit_chunk(struct ejob *j, size_t pos)
{
    struct echunk *c = &j->chunks[pos];
    char fname[64];
    snprintf(fname, sizeof(fname), "chunk-%04d.%s", c->c.index,
             strstr(c->ctype, "wav") ? "wav" : "flac");
    struct upstream_request req = {
        .job = j->id,
        .priority = j->params.priority,
        .audio = c->buf,
        .audio_len = c->len,
        .content_type = c->ctype,
        .filename = fname,
        .audio_seconds = c->c.duration,
        .model = j->model,
        .language = j->language,
        .prompt = j->prompt,
        .temperature = j->params.temperature,
        .word_timestamps = j->params.word_timestamps,
    };
    struct ref *r = xcalloc(1, sizeof(*r));
    r->j = j;
    r->pos = pos;
    c->st = C_SUBMITTED;
    c->call = upstream_submit(j->e->up, &req, on_result, r);
    if (j->hooks.chunk_started)
        j->hooks.chunk_started(j->arg, &c->c);
}

/* One bounded step of encoding; true when CPU work was done. */
static bool encode_step(struct ejob *j)
{
    enum audio_step st = audio_encode_step(j->enc);
    if (st == AUDIO_STEP_MORE)
        return true;
    struct echunk *c = &j->chunks[j->enc_pos];
    if (st == AUDIO_STEP_ERROR) {
        char m[256];
        snprintf(m, sizeof(m), "cannot encode chunk %d: %s", c->c.index,
                 audio_encode_error_detail(j->enc));
        audio_encode_free(j->enc);
        j->enc = NULL;
        j->e->outstanding--;
        c->st = C_PENDING; /* not sent; the whole job fails */
        fail_job(j, ENGINE_BAD_AUDIO, m);
        return true;
    }
    c->buf = audio_encode_take(j->enc, &c->len);
    snprintf(c->ctype, sizeof(c->ctype), "%s", audio_encode_content_type(j->enc));
    audio_encode_free(j->enc);
    j->enc = NULL;
    submit_chunk(j, j->enc_pos);
    return true;
}

static ssize_t next_pending(const struct ejob *j)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->chunks[i].st == C_PENDING)
            return (ssize_t)i;
    return -1;
}

static bool start_encode(struct ejob *j)
{
    ssize_t pos = next_pending(j);
    if (pos < 0)
        return false;
    struct echunk *c = &j->chunks[pos];
    enum audio_probe_error err;
    j->enc = audio_encode_new(j->path, c->c.start_frame, c->c.end_frame, j->e->cfg.chunk_format,
                              j->e->cfg.encode_budget, &err);
    if (!j->enc) {
        char m[200];
        snprintf(m, sizeof(m), "cannot open the audio for encoding: %s",
                 audio_probe_error_message(err));
        fail_job(j, ENGINE_BAD_AUDIO, m);
        return true;
    }
    j->enc_pos = (size_t)pos;
    c->st = C_ENCODING;
    j->e->outstanding++;
    return true;
}

static void plan(struct ejob *j)
{
    size_t nwin;
    float *energy = audio_scan_take_energy(j->scan, &nwin);
    audio_scan_free(j->scan);
    j->scan = NULL;
    struct audio_plan_params p = j->e->cfg.plan;
    p.encoded_bytes_per_second = audio_encode_bytes_per_second(j->e->cfg.chunk_format, &j->info);
    /* the planner owns its copy; we keep ours for 413 splits */
    float *copy = xmalloc((nwin ? nwin : 1) * sizeof(float));
    memcpy(copy, energy, nwin * sizeof(float));
    j->energy = copy;
    j->nwin = nwin;
    struct audio_plan *pl = audio_plan_new(energy, nwin, j->info.rate, j->info.frames, &p, j->ctx);
    for (size_t i = 0; i < audio_plan_count(pl); i++) {
        const struct audio_chunk *ac = audio_plan_chunk(pl, i);
        add_chunk(j, ac->start_frame, ac->end_frame);
    }
    char *json = audio_plan_json(pl);
    audio_plan_free(pl);
    j->phase = PH_RUN;
    struct engine_chunk *list = xcalloc(j->n ? j->n : 1, sizeof(*list));
    for (size_t i = 0; i < j->n; i++)
        list[i] = j->chunks[i].c;
    if (j->hooks.planned)
        j->hooks.planned(j->arg, &j->info, list, j->n, json);
    free(list);
    free(json);
}

/* Probe or scan: one bounded piece. */
static void analyse_step(struct ejob *j)
{
    char detail[200];
    if (j->phase == PH_PROBE) {
        enum audio_probe_error err = audio_probe(j->path, &j->info, detail, sizeof(detail));
        if (err) {
            char m[300];
            snprintf(m, sizeof(m), "%s: %s", audio_probe_error_message(err), detail);
            fail_job(j, ENGINE_BAD_AUDIO, m);
            return;
        }
        if (j->n) { /* resumed: the chunk list is known */
            j->phase = PH_RUN;
            maybe_finish(j); /* everything may have been done before the crash */
            return;
        }
        j->scan = audio_scan_new(j->path, &j->info, j->e->cfg.scan_budget, &err);
        if (!j->scan) {
            fail_job(j, ENGINE_BAD_AUDIO, audio_probe_error_message(err));
            return;
        }
        j->phase = PH_SCAN;
        return;
    }
    enum audio_step st = audio_scan_step(j->scan);
    if (st == AUDIO_STEP_ERROR) {
        char m[300];
        snprintf(m, sizeof(m), "%s: %s", audio_probe_error_message(audio_scan_error(j->scan)),
                 audio_scan_error_detail(j->scan));
        fail_job(j, ENGINE_BAD_AUDIO, m);
    } else if (st == AUDIO_STEP_DONE) {
        plan(j);
        maybe_finish(j); /* a silent file has no chunks */
    }
}

/* Highest priority among running jobs that could start an encode. */
static int best_waiting_priority(struct engine *e)
{
    int best = UPSTREAM_PRIO_COUNT;
    struct ejob *j;
    TAILQ_FOREACH(j, &e->jobs, link)
    if (j->phase == PH_RUN && !j->enc && (int)j->params.priority < best && next_pending(j) >= 0)
        best = (int)j->params.priority;
    return best;
}

/* One slice for one job; true when it did CPU work. */
static bool job_step(struct engine *e, struct ejob *j, int prio)
{
    if (j->phase == PH_PROBE || j->phase == PH_SCAN) {
        analyse_step(j);
        return true;
    }
    if (j->phase != PH_RUN)
        return false;
    if (j->enc)
        return encode_step(j);
    if (e->outstanding < e->cfg.max_outstanding && (int)j->params.priority == prio)
        return start_encode(j);
    return false;
}

/* The zero-delay timer: one slice of CPU work, round-robin over jobs. */
static void work_cb(evutil_socket_t fd, short what, void *arg)
{
    struct engine *e = arg;
    int prio = best_waiting_priority(e);
    bool worked = false;
    size_t n = e->njobs;
    for (size_t k = 0; k < n && !worked; k++) {
        struct ejob *j = e->rr ? e->rr : TAILQ_FIRST(&e->jobs);
        if (!j)
            break;
        e->rr = TAILQ_NEXT(j, link);   /* NULL wraps to the first next time */
        worked = job_step(e, j, prio); /* may free j */
    }
    if (worked)
        schedule_work(e);
}

struct engine *engine_new(struct event_base *base, struct upstream *up,
                          const struct engine_config *cfg)
{
    struct engine *e = xcalloc(1, sizeof(*e));
    e->base = base;
    e->up = up;
    e->cfg = *cfg;
    if (!e->cfg.max_outstanding)
        e->cfg.max_outstanding = 1;
    TAILQ_INIT(&e->jobs);
    e->work_ev = evtimer_new(base, work_cb, e);
    return e;
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    struct ejob *j;
    while ((j = TAILQ_FIRST(&e->jobs)))
        free_job(j);
    event_free(e->work_ev);
    free(e);
}

static char *dup_opt(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

struct engine_job *engine_job_start(struct engine *e, const char *id, const char *path,
                                    const struct engine_job_params *params,
                                    struct engine_chunk *known, size_t nknown,
                                    const struct engine_hooks *hooks, void *arg)
{
    struct ejob *j = xcalloc(1, sizeof(*j));
    j->e = e;
    j->id = xstrdup(id);
    j->path = xstrdup(path);
    j->params = *params;
    j->model = xstrdup(params->model ? params->model : "openai/whisper-large-v3");
    j->language = dup_opt(params->language);
    j->prompt = dup_opt(params->prompt);
    j->hooks = *hooks;
    j->arg = arg;
    snprintf(j->ctx, sizeof(j->ctx), "job=%s", id);
    for (size_t i = 0; i < nknown; i++) {
        j->chunks = xrealloc(j->chunks, (j->n + 1) * sizeof(*j->chunks));
        struct echunk *c = &j->chunks[j->n++];
        memset(c, 0, sizeof(*c));
        c->c = known[i];
        c->st = known[i].state == ENGINE_CHUNK_DONE ? C_DONE : C_PENDING;
        if (c->st != C_DONE) {
            transcript_free(c->c.result);
            c->c.result = NULL;
            c->c.state = ENGINE_CHUNK_PENDING;
        }
        known[i].result = NULL; /* ours now */
        if (c->c.index >= j->next_index)
            j->next_index = c->c.index + 1;
    }
    TAILQ_INSERT_TAIL(&e->jobs, j, link);
    e->njobs++;
    schedule_work(e);
    return (struct engine_job *)j;
}

void engine_job_cancel(struct engine_job *job)
{
    struct ejob *j = (struct ejob *)job;
    log_ctx_info(j->ctx, "engine: job cancelled");
    free_job(j);
}

size_t engine_jobs(const struct engine *e)
{
    return e->njobs;
}

unsigned engine_outstanding(const struct engine *e)
{
    return e->outstanding;
}
