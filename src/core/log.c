/* log.c — one-line structured logging to stderr or a reopenable file. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_fd = STDERR_FILENO;
static char *log_path;
static enum log_level log_level = LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

static bool open_path(void)
{
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        int err = errno;
        log_fd = STDERR_FILENO;
        log_error("cannot open log file %s: %s", log_path, strerror(err));
        return false;
    }
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    return true;
}

bool log_open(const char *path)
{
    free(log_path);
    log_path = NULL;
    if (!path || !*path || strcmp(path, "-") == 0) {
        if (log_fd != STDERR_FILENO)
            close(log_fd);
        log_fd = STDERR_FILENO;
        return true;
    }
    log_path = xstrdup(path);
    return open_path();
}

bool log_reopen(void)
{
    if (!log_path)
        return true;
    return open_path();
}

void log_close(void)
{
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = STDERR_FILENO;
    free(log_path);
    log_path = NULL;
}

void log_set_level(enum log_level level)
{
    log_level = level;
}

bool log_enabled(enum log_level level)
{
    return level <= log_level;
}

bool log_parse_level(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_LEN(level_names); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

void log_write(enum log_level level, const char *ctx, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char line[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(line + n, sizeof(line) - n, ".%03dZ %s pid=%d ", (int)(tv.tv_usec / 1000),
                     level_names[level], (int)getpid());
    if (k > 0)
        n += (size_t)k;
    if (ctx && *ctx && n < sizeof(line)) {
        k = snprintf(line + n, sizeof(line) - n, "%s ", ctx);
        if (k > 0)
            n += (size_t)k;
    }
    if (n < sizeof(line)) {
        va_list ap;
        va_start(ap, fmt);
        k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        if (k > 0)
            n += (size_t)k;
    }
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2; /* truncated: keep it one line */
    /* Control characters from peers must not forge extra log lines. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20)
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t w;
    do {
        w = write(log_fd, line, n);
    } while (w < 0 && errno == EINTR);
}
