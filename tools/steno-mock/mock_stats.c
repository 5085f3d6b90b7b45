/* mock_stats.c — counters and their JSON view. */
#include "mock_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

void mock_stats_begin(struct mock_stats *s)
{
    s->requests++;
    if (++s->in_flight > s->peak_in_flight)
        s->peak_in_flight = s->in_flight;
}

void mock_stats_end(struct mock_stats *s)
{
    if (s->in_flight)
        s->in_flight--;
}

void mock_stats_status(struct mock_stats *s, int status)
{
    if (status >= 0 && status < (int)ARRAY_LEN(s->by_status))
        s->by_status[status]++;
}

void mock_stats_count(struct mock_counts *c, const char *name)
{
    for (unsigned i = 0; i < c->used; i++)
        if (strcmp(c->names[i], name) == 0) {
            c->n[i]++;
            return;
        }
    if (c->used == MOCK_STATS_MAX_NAMES) {
        c->other++;
        return;
    }
    c->names[c->used] = xstrndup(name, 128);
    c->n[c->used++] = 1;
}

static json_t *counts_json(const struct mock_counts *c)
{
    json_t *o = json_object();
    for (unsigned i = 0; i < c->used; i++)
        json_object_set_new(o, c->names[i], json_integer((json_int_t)c->n[i]));
    if (c->other)
        json_object_set_new(o, "(other)", json_integer((json_int_t)c->other));
    return o;
}

static json_t *status_json(const struct mock_stats *s)
{
    json_t *o = json_object();
    for (int i = 0; i < (int)ARRAY_LEN(s->by_status); i++)
        if (s->by_status[i]) {
            char k[8];
            snprintf(k, sizeof(k), "%d", i);
            json_object_set_new(o, k, json_integer((json_int_t)s->by_status[i]));
        }
    return o;
}

static json_t *fault_json(const struct mock_stats *s)
{
    json_t *o = json_object();
    for (int i = 1; i < MOCK_FAULT_COUNT; i++)
        json_object_set_new(o, mock_fault_name((enum mock_fault)i),
                            json_integer((json_int_t)s->by_fault[i]));
    return o;
}

json_t *mock_stats_json(const struct mock_stats *s, uint64_t connections)
{
    json_t *o = json_object();
#define SET_INT(name, v) json_object_set_new(o, name, json_integer((json_int_t)(v)))
    SET_INT("requests", s->requests);
    SET_INT("in_flight", s->in_flight);
    SET_INT("peak_in_flight", s->peak_in_flight);
    json_object_set_new(o, "by_status", status_json(s));
    json_object_set_new(o, "by_fault", fault_json(s));
    SET_INT("rate_limited", s->rate_limited);
    SET_INT("resets", s->resets);
    SET_INT("goaways", s->goaways);
    SET_INT("refused", s->refused);
    SET_INT("client_aborts", s->client_aborts);
    SET_INT("bytes_received", s->bytes_received);
    SET_INT("file_bytes", s->file_bytes);
    json_object_set_new(o, "audio_seconds", json_real(s->audio_seconds));
    SET_INT("delay_ms", s->delay_ms);
    SET_INT("words", s->words);
    json_object_set_new(
        o, "by_proto",
        json_pack("{s:I,s:I}", "h1", (json_int_t)s->by_proto[0], "h2", (json_int_t)s->by_proto[1]));
    json_object_set_new(o, "by_key", counts_json(&s->by_key));
    json_object_set_new(o, "by_model", counts_json(&s->by_model));
    json_object_set_new(o, "by_format", counts_json(&s->by_format));
    SET_INT("other_requests", s->other_requests);
    SET_INT("transcription_connections", s->transcription_connections);
    SET_INT("connections",
            connections >= s->connections_base ? connections - s->connections_base : 0);
#undef SET_INT
    return o;
}

static void counts_free(struct mock_counts *c)
{
    for (unsigned i = 0; i < c->used; i++)
        free(c->names[i]);
    memset(c, 0, sizeof(*c));
}

void mock_stats_free(struct mock_stats *s)
{
    counts_free(&s->by_key);
    counts_free(&s->by_model);
    counts_free(&s->by_format);
}

void mock_stats_reset(struct mock_stats *s, uint64_t connections)
{
    uint64_t in_flight = s->in_flight;
    mock_stats_free(s);
    memset(s, 0, sizeof(*s));
    s->in_flight = s->peak_in_flight = in_flight;
    s->connections_base = connections;
}
