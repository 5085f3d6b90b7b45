/* mock_latency.c — delay model and duration formatting. */
#include "mock_latency.h"

#include <math.h>
#include <stdio.h>

static double nonneg(double x)
{
    return isfinite(x) && x > 0 ? x : 0;
}

double mock_latency_delay(double base, double per_second, double scale, double audio_seconds)
{
    return (nonneg(base) + nonneg(per_second) * nonneg(audio_seconds)) * nonneg(scale);
}

int64_t mock_latency_ms(double seconds)
{
    return (int64_t)llround(nonneg(seconds) * 1000.0);
}

void mock_latency_format(double seconds, char *buf, size_t len)
{
    int64_t ms = mock_latency_ms(seconds);
    if (ms < 1000) {
        snprintf(buf, len, ms ? "%lldms" : "0s", (long long)ms);
        return;
    }
    if (ms < 60000) {
        int64_t tenths = ms / 100;
        if (tenths % 10 == 0)
            snprintf(buf, len, "%llds", (long long)(tenths / 10));
        else
            snprintf(buf, len, "%lld.%llds", (long long)(tenths / 10), (long long)(tenths % 10));
        return;
    }
    int64_t s = ms / 1000;
    if (s < 3600)
        snprintf(buf, len, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(buf, len, "%lldh%lldm%llds", (long long)(s / 3600), (long long)(s / 60 % 60),
                 (long long)(s % 60));
}

int64_t mock_latency_retry_after(double seconds)
{
    int64_t ms = mock_latency_ms(seconds);
    return (ms + 999) / 1000;
}
