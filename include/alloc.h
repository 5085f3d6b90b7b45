/* alloc.h — allocation wrappers that abort on out-of-memory.
 *
 * A server that cannot allocate a few bytes cannot answer anybody well; like
 * H2O we abort loudly instead of threading NULL checks through every caller.
 * Memory a peer can grow must still be bounded by the caller. */
#ifndef STENO_ALLOC_H
#define STENO_ALLOC_H

#include <stddef.h>

#define MUST_CHECK        __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define ARRAY_LEN(a)      (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
void *xcalloc(size_t count, size_t size) __attribute__((malloc, returns_nonnull));
void *xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
char *xstrdup(const char *s) __attribute__((malloc, returns_nonnull));
char *xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));
/* printf into a fresh heap string; the caller frees it. */
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2) __attribute__((returns_nonnull));

#endif
