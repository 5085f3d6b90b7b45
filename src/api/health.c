/* health.c — GET /healthz: the process is alive and its loop turns. */
#include "api.h"

#include <unistd.h>

void api_healthz(struct http_request *req)
{
    http_respond_json(req, 200, json_pack("{s:s,s:i}", "status", "ok", "pid", (int)getpid()));
}
