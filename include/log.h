/* log.h — structured one-line logs.
 *
 * Every line is: ISO-8601 UTC time, level, pid, then "key=value" context
 * (request id, job id, connection id …) and a free-text message:
 *   2026-11-22T16:20:01.123Z INFO pid=4242 req=9f3a… http: GET /healthz 200 0.1ms
 * Lines are written with one write(2) so workers sharing a file never
 * interleave within a line. log_reopen() is called on SIGHUP (logrotate). */
#ifndef STENO_LOG_H
#define STENO_LOG_H

#include <stdbool.h>
#include "alloc.h"

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* path NULL or "" or "-" logs to stderr. Returns false (and keeps logging to
 * stderr) when the file cannot be opened. */
bool log_open(const char *path) MUST_CHECK;
bool log_reopen(void) MUST_CHECK;
void log_close(void);
void log_set_level(enum log_level level);
bool log_parse_level(const char *name, enum log_level *out) MUST_CHECK;
bool log_enabled(enum log_level level);

/* ctx is a preformatted "key=value" string (may be NULL); see log_* macros. */
void log_write(enum log_level level, const char *ctx, const char *fmt, ...) PRINTF_LIKE(3, 4);

#define log_error(...) log_write(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_write(LOG_DEBUG, NULL, __VA_ARGS__);                                               \
    } while (0)

/* Same, with a context string such as "req=abc conn=12". */
#define log_ctx_error(ctx, ...) log_write(LOG_ERROR, (ctx), __VA_ARGS__)
#define log_ctx_warn(ctx, ...)  log_write(LOG_WARN, (ctx), __VA_ARGS__)
#define log_ctx_info(ctx, ...)  log_write(LOG_INFO, (ctx), __VA_ARGS__)
#define log_ctx_debug(ctx, ...)                                                                    \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_write(LOG_DEBUG, (ctx), __VA_ARGS__);                                              \
    } while (0)

#endif
