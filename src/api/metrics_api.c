/* metrics_api.c — GET /metrics (Prometheus text) and GET /api/metrics
 * (the same as JSON), summed over all workers. */
#include "api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

void api_metrics(struct http_request *req)
{
    size_t len;
    char *text = metrics_render(&len);
    http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

/* `route="/x",proto="h2"` → {"route":"/x","proto":"h2"} (values as the
 * exposition format escapes them: \\, \", \n). */
static json_t *labels_json(const char *l)
{
    json_t *o = json_object();
    while (*l) {
        const char *eq = strchr(l, '=');
        if (!eq || eq[1] != '"')
            break;
        char key[64], val[256];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - l), l);
        size_t n = 0;
        const char *p = eq + 2;
        for (; *p && *p != '"'; p++) {
            char c = *p;
            if (c == '\\' && p[1]) {
                c = *++p == 'n' ? '\n' : *p;
            }
            if (n < sizeof(val) - 1)
                val[n++] = c;
        }
        val[n] = '\0';
        json_object_set_new(o, key, json_string(val));
        l = *p ? p + 1 : p;
        if (*l == ',')
            l++;
    }
    return o;
}

static json_t *number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void add_sample(const struct metrics_sample *s, void *arg)
{
    json_t *families = arg;
    json_t *fam = json_object_get(families, s->name);
    if (!fam) {
        fam = json_pack("{s:s,s:s,s:[]}", "type", s->type, "help", s->help, "series");
        json_object_set_new(families, s->name, fam);
    }
    json_t *one = json_pack("{s:o}", "labels", labels_json(s->labels));
    if (s->buckets) {
        json_object_set_new(one, "count", json_integer(s->value));
        json_object_set_new(one, "sum", json_real(s->sum));
        json_object_set_new(one, "mean",
                            number_or_null(s->value ? s->sum / (double)s->value : NAN));
        json_object_set_new(one, "p50", number_or_null(metrics_quantile(s, 0.50)));
        json_object_set_new(one, "p95", number_or_null(metrics_quantile(s, 0.95)));
        json_object_set_new(one, "p99", number_or_null(metrics_quantile(s, 0.99)));
    } else {
        json_object_set_new(one, "value", json_integer(s->value));
    }
    json_array_append_new(json_object_get(fam, "series"), one);
}

/* GET /api/metrics: the same numbers as /metrics as JSON, for dashboards
 * and scripts (seed FR-9.4): every family with its series, and for
 * histograms count, sum, mean and estimated p50/p95/p99. */
void api_metrics_json(struct http_request *req)
{
    json_t *families = json_object();
    metrics_foreach(add_sample, families);
    http_respond_json(req, 200, json_pack("{s:i,s:o}", "pid", (int)getpid(), "metrics", families));
}
