/* test_forward_tool.c — socle-forward's JSON matches the reference.json shape and
 * values: runs the tool on bert-qa (with type ids) and bert-seqcls, parses its
 * stdout with json-c and compares every field the reference has. */
#include "tests/engine/eng_testutil.h"

#include <stdlib.h>
#include <string.h>

static int failures, checked;

static struct json_object *run_tool(const char *tool, const char *dir, bool types) {
    char cmd[20000];
    snprintf(cmd, sizeof cmd, "'%s' --model '%s' --ids '%s/ids.txt'%s%s%s", tool, dir, dir,
             types ? " --type-ids '" : "", types ? dir : "", types ? "/type_ids.txt'" : "");
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n < 4096)
            buf = realloc(buf, cap *= 2);
    }
    int st = pclose(p);
    if (!buf || st != 0) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    struct json_object *o = json_tokener_parse(buf);
    free(buf);
    return o;
}

static void cmp(const char *what, struct json_object *a, struct json_object *r) {
    if (json_object_is_type(r, json_type_array)) {
        if (!json_object_is_type(a, json_type_array) ||
            json_object_array_length(a) != json_object_array_length(r)) {
            fprintf(stderr, "FAIL %s: shape differs\n", what);
            failures++;
            return;
        }
        for (size_t i = 0; i < json_object_array_length(r); i++)
            cmp(what, json_object_array_get_idx(a, i), json_object_array_get_idx(r, i));
        return;
    }
    double x = json_object_get_double(a), y = json_object_get_double(r);
    if (!etu_close((float)x, y)) {
        if (failures < 10)
            fprintf(stderr, "FAIL %s: %.9g vs %.9g\n", what, x, y);
        failures++;
    }
}

static void check(const char *tool, const char *name, bool types) {
    char dir[4096], p[4200];
    if (!etu_fixture_dir(name, dir, sizeof dir)) {
        printf("skip %s\n", name);
        return;
    }
    struct json_object *ours = run_tool(tool, dir, types), *outs, *routs;
    snprintf(p, sizeof p, "%s/reference.json.gz", dir);
    struct json_object *ref = etu_read_json_gz(p);
    if (!ours || !ref || !json_object_object_get_ex(ours, "outputs", &outs) ||
        !json_object_object_get_ex(ref, "outputs", &routs) ||
        json_object_array_length(outs) != json_object_array_length(routs)) {
        fprintf(stderr, "FAIL %s: tool output unusable\n", name);
        failures++;
    } else {
        size_t fields = 0;
        for (size_t i = 0; i < json_object_array_length(routs); i++) {
            json_object_object_foreach(json_object_array_get_idx(routs, i), k, v) {
                struct json_object *a;
                if (!json_object_object_get_ex(json_object_array_get_idx(outs, i), k, &a)) {
                    fprintf(stderr, "FAIL %s: output %zu lacks '%s'\n", name, i, k);
                    failures++;
                    continue;
                }
                cmp(k, a, v);
                fields++;
            }
        }
        struct json_object *cls;
        if (!json_object_object_get_ex(ours, "class", &cls) ||
            strcmp(json_object_get_string(cls),
                   json_object_get_string(json_object_object_get(ref, "class"))) != 0) {
            fprintf(stderr, "FAIL %s: class differs\n", name);
            failures++;
        }
        checked++;
        printf("%s: %zu fields compared, %d failures so far\n", name, fields, failures);
    }
    json_object_put(ours);
    json_object_put(ref);
}

int main(void) {
    const char *bin = getenv("SOCLE_BINARY_DIR");
    char tool[4096];
    snprintf(tool, sizeof tool, "%s/engine/socle-forward", bin ? bin : "build");
    check(tool, "bert-qa", true);
    check(tool, "bert-seqcls", false);
    check(tool, "roberta-tokcls", false);
    if (!checked && !failures)
        return ETU_SKIP;
    return failures ? 1 : 0;
}
