/* mock_faults.h — which transcription request fails, and how.
 *
 * Two modes. Rate mode: each request fails with probability fail_rate, the
 * kind drawn from weighted mix, both from a seeded RNG (splitmix64), so a
 * run with the same seed and the same request order fails the same way.
 * Script mode (a non-empty script): exactly the listed request numbers fail,
 * "3=503,5=stall,7-9=rst"; the rate is ignored. Requests are numbered from 1
 * in the order their headers arrive, counting every POST
 * /v1/audio/transcriptions since the faults were last set (start-up or
 * mock_faults_update_json).
 *
 * Pure: no I/O, no clock. */
#ifndef STENO_MOCK_FAULTS_H
#define STENO_MOCK_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "alloc.h"

enum mock_fault {
    MOCK_FAULT_NONE = 0,
    MOCK_FAULT_500,
    MOCK_FAULT_503,
    MOCK_FAULT_429,
    MOCK_FAULT_RST,    /* RST_STREAM (HTTP/1.1: the connection is dropped) */
    MOCK_FAULT_GOAWAY, /* GOAWAY naming this stream last; this request still succeeds */
    MOCK_FAULT_STALL,  /* never answered (until --stall-seconds, then reset) */
    MOCK_FAULT_COUNT,
};

/* "none", "500", "503", "429", "rst", "goaway", "stall". */
const char *mock_fault_name(enum mock_fault f);
/* Parse a kind name of len bytes ("ok" is a synonym of "none"). */
bool mock_fault_parse_name(const char *s, size_t len, enum mock_fault *out) MUST_CHECK;

struct mock_fault_mix {
    unsigned weight[MOCK_FAULT_COUNT]; /* weight[MOCK_FAULT_NONE] is unused */
    unsigned total;
};

/* "500:1,503:2,stall:1": kinds not named get weight 0; the total must be > 0;
 * a weight is 0..1000000. Returns false with a message in err. */
bool mock_fault_mix_parse(const char *s, struct mock_fault_mix *out, char *err,
                          size_t errlen) MUST_CHECK;

#define MOCK_SCRIPT_MAX_RULES 1024

struct mock_fault_rule {
    uint64_t first, last; /* request numbers, inclusive, 1-based */
    enum mock_fault fault;
};

struct mock_fault_script {
    struct mock_fault_rule *rules; /* owned; in the order given */
    size_t n;
};

/* "N=kind" or "N-M=kind", comma-separated, spaces allowed around items;
 * "" is an empty script. A later rule wins where rules overlap. On failure
 * out is empty and err says which item is wrong. */
bool mock_fault_script_parse(const char *s, struct mock_fault_script *out, char *err,
                             size_t errlen) MUST_CHECK;
void mock_fault_script_free(struct mock_fault_script *s);
/* The scripted fault of request n, MOCK_FAULT_NONE when none is listed. */
enum mock_fault mock_fault_script_lookup(const struct mock_fault_script *s, uint64_t n);

struct mock_faults {
    double rate;
    struct mock_fault_mix mix;
    struct mock_fault_script script; /* owned */
    char *script_text;               /* owned, as given ("" when none) */
    char *mix_text;                  /* owned, as given */
    uint64_t seed;
    uint64_t rng;   /* splitmix64 state */
    uint64_t count; /* requests numbered so far */
};

/* Set up from already-validated texts (mock_config_load checked them);
 * returns false with err if they do not parse. */
bool mock_faults_init(struct mock_faults *f, double rate, const char *mix, const char *script,
                      uint64_t seed, char *err, size_t errlen) MUST_CHECK;
void mock_faults_free(struct mock_faults *f);

/* Number the next request (written to *number) and decide its fault. */
enum mock_fault mock_faults_next(struct mock_faults *f, uint64_t *number);

/* Apply a JSON object {"fail_rate", "fail_mix", "script", "seed"} (each
 * optional; present ones replace the current value). All or nothing: on
 * any invalid field nothing changes and err says why. On success the RNG
 * is reseeded and numbering restarts at 1. */
bool mock_faults_update_json(struct mock_faults *f, const json_t *obj, char *err,
                             size_t errlen) MUST_CHECK;

/* {"fail_rate","fail_mix","script","seed","requests"} (new reference). */
json_t *mock_faults_to_json(const struct mock_faults *f);

#endif
