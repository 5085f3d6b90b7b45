/* webhook.h — tell a job's webhook URL that the job ended.
 *
 * POST {url} with a JSON body, over HTTP/1.1 (TLS for https://, verified
 * against the system store), signed so the receiver can check it came from
 * us and was not replayed:
 *   X-Steno-Event: job.done | job.failed
 *   X-Steno-Timestamp: <unix seconds>
 *   X-Steno-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
 * A 2xx answer ends it; anything else (status, connection error, timeout)
 * is retried with exponential backoff up to max_attempts. Every attempt is
 * logged with its outcome. Delivery is best-effort across restarts: an
 * attempt pending when the process stops is not resumed. */
#ifndef STENO_WEBHOOK_H
#define STENO_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "alloc.h"

struct webhook_config {
    const char *secret;    /* HMAC key; "" signs with an empty key (still a checksum) */
    unsigned max_attempts; /* default 5 */
    double backoff_base;   /* seconds before the 2nd attempt, doubled after; default 1 */
    double timeout;        /* per attempt, connect to status line; default 10 */
};

struct webhooks;

struct webhooks *webhooks_new(struct event_base *base, const struct webhook_config *cfg);
/* Abandons pending deliveries (logged). */
void webhooks_free(struct webhooks *w);

/* Queue a delivery. url must be http:// or https://; false when it cannot
 * be parsed (logged, nothing queued). event and body are copied. ctx is the
 * log context (e.g. "job=…"). */
bool webhooks_send(struct webhooks *w, const char *url, const char *event, const char *body,
                   const char *ctx) MUST_CHECK;

/* The signature header value for (timestamp, body) — exposed for tests. */
void webhook_sign(const char *secret, const char *timestamp, const char *body, char *out,
                  size_t outlen);

/* Deliveries not finished yet. */
unsigned webhooks_pending(const struct webhooks *w);

#endif
