/* jget — print one value of a JSON document (test helper; no jq needed).
 *
 *   jget PATH [FILE]     FILE '-' or absent reads standard input
 *
 * PATH is dot-separated object keys and array indexes ("by_status.200",
 * "segments.0.text"); a final "#" prints the size of an array or object
 * ("segments.#"); "." is the whole document. Strings print raw, other
 * values as compact JSON. Exit 1 when the path does not exist or the input
 * is not JSON, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static json_t *step(json_t *v, const char *key)
{
    if (json_is_object(v))
        return json_object_get(v, key);
    if (json_is_array(v)) {
        char *end;
        long i = strtol(key, &end, 10);
        if (end == key || *end || i < 0)
            return NULL;
        return json_array_get(v, (size_t)i);
    }
    return NULL;
}

static int print(json_t *v)
{
    if (json_is_string(v)) {
        fwrite(json_string_value(v), 1, json_string_length(v), stdout);
        putchar('\n');
        return 0;
    }
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!s)
        return 1;
    puts(s);
    free(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fputs("usage: jget PATH [FILE]\n", stderr);
        return 2;
    }
    json_error_t err;
    json_t *root = argc == 3 && strcmp(argv[2], "-") != 0 ? json_load_file(argv[2], 0, &err)
                                                          : json_loadf(stdin, 0, &err);
    if (!root)
        return 1;
    char *path = strdup(argv[1]);
    json_t *v = root;
    int rc = 0;
    for (char *save = NULL, *key = strtok_r(path, ".", &save); key && v;
         key = strtok_r(NULL, ".", &save)) {
        if (strcmp(key, "#") == 0) {
            size_t n = json_is_array(v) ? json_array_size(v) : json_object_size(v);
            printf("%zu\n", n);
            v = NULL;
            rc = -1;
            break;
        }
        v = step(v, key);
    }
    if (rc == 0)
        rc = v ? print(v) : 1;
    free(path);
    json_decref(root);
    return rc < 0 ? 0 : rc;
}
