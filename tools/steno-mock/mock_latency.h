/* mock_latency.h — the emulated cloud's timing: processing delay and the
 * text forms of durations in OpenAI's rate-limit headers.
 *
 * Pure functions, unit-tested. */
#ifndef STENO_MOCK_LATENCY_H
#define STENO_MOCK_LATENCY_H

#include <stddef.h>
#include <stdint.h>

/* Delay in seconds between the end of an upload and its answer:
 * (base + per_second × audio_seconds) × scale. Negative or non-finite
 * inputs count as 0. */
double mock_latency_delay(double base, double per_second, double scale, double audio_seconds);

/* Whole milliseconds of a delay, rounded to nearest (the x-mock-delay-ms
 * header and the timer both use this value, so tests can compare exactly). */
int64_t mock_latency_ms(double seconds);

/* OpenAI's duration text for x-ratelimit-reset-*: "0s", "250ms", "1s",
 * "1.5s", "6m0s", "1h2m3s". Milliseconds are shown below one second, tenths
 * of seconds (trailing zeros dropped) below one minute. */
void mock_latency_format(double seconds, char *buf, size_t len);

/* Retry-After in whole seconds for a wait of `seconds` (rounded up; 0 stays
 * 0). The exact wait goes in retry-after-ms. */
int64_t mock_latency_retry_after(double seconds);

#endif
