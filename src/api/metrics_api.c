/* metrics_api.c — GET /metrics: Prometheus text, summed over all workers. */
#include "api.h"

#include <stdlib.h>

#include "metrics.h"

void api_metrics(struct http_request *req)
{
    size_t len;
    char *text = metrics_render(&len);
    http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}
