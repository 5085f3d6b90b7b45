/* routes.c — the route table of stenod. */
#include "api.h"

#include "router.h"

void api_register_routes(const struct steno_config *cfg)
{
    (void)cfg;
    router_add(&(struct route){.method = "GET", .pattern = "/healthz", .handler = api_healthz});
    router_add(&(struct route){.method = "GET", .pattern = "/metrics", .handler = api_metrics});
}
