/* test_train_ner_served.c — NER token results served by socled carry what the
 * word -> first sub-token rule (HF word_ids) needs (issue 8).
 *
 * With aggregation none socled, like HF's pipeline, drops tokens whose label is
 * in ignore_labels (default {"O"}). A word whose lone Metaspace "▁" piece is
 * predicted O then shows only its later pieces, and a client applying the rule
 * reads the next piece's tag. A request with ignore_labels [""] (no label is
 * empty, so nothing is ignored) gets every token, O included. Against a real
 * socled on models/socle-mini (argv: socled, socle CLI):
 *   - with [""], one entity per non-special token, indices 1..n_tokens-2, and the
 *     lone "▁" piece of "Zqwx" among them;
 *   - the default answer is exactly that list without its O tokens;
 *   - on the served tokens, the rule of socle-eval (ev_ner_word_tags) and of
 *     socle-train (tr_word_first_tokens) give every word the tag of the same
 *     token, and "Zqwx" the tag of its "▁" piece.
 * Skipped (77) without the model.
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/check.h"
#include "tools/eval/metrics.h"
#include "tools/train/trainer.h"

static char *run(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (buf)
        n = fread(buf, 1, cap - 1, p);
    pclose(p);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static pid_t start_daemon(const char *socled, const char *ep, const char *sock) {
    pid_t pid = fork();
    if (pid == 0) {
        execl(socled, socled, "--model", "models/socle-mini", "--adapters",
              "models/socle-mini/adapters", "--endpoint", ep, "--workers", "1", "--log-level",
              "error", (char *)NULL);
        _exit(127);
    }
    struct stat st;
    for (int i = 0; i < 300; i++) { /* up to 30 s to load and bind */
        int ws;
        if (waitpid(pid, &ws, WNOHANG) == pid)
            return -1;
        if (stat(sock, &st) == 0)
            return pid;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
}

/* The entities array of `socle ner` JSON output (owned by root). */
static struct json_object *entities(struct json_object *root) {
    struct json_object *e = NULL;
    if (!root || !json_object_object_get_ex(root, "entities", &e) ||
        !json_object_is_type(e, json_type_array))
        return NULL;
    return e;
}

static const char *str_of(struct json_object *o, const char *k) {
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static long num_of(struct json_object *o, const char *k, const char *k2) {
    struct json_object *v, *w;
    if (!json_object_object_get_ex(o, k, &v))
        return -1;
    if (k2 && !json_object_object_get_ex(v, k2, &w))
        return -1;
    return (long)json_object_get_int64(k2 ? w : v);
}

static const char TEXT[] = "Zqwx a visité Lyon avec Qxzv Wkjq.";

static void check(struct json_object *all, struct json_object *def) {
    struct json_object *ea = entities(all), *ed = entities(def);
    CHECK(ea && ed);
    if (!ea || !ed)
        return;
    size_t na = json_object_array_length(ea), nd = json_object_array_length(ed);
    long n_tokens = num_of(all, "n_tokens", NULL);
    /* every non-special token, in order ([CLS] at 0, [SEP] last) */
    CHECK(n_tokens >= 3 && na == (size_t)(n_tokens - 2));
    bool lone = false;
    for (size_t i = 0; i < na; i++) {
        struct json_object *e = json_object_array_get_idx(ea, i);
        CHECK(num_of(e, "index", NULL) == (long)i + 1);
        lone = lone || (i == 0 && strcmp(str_of(e, "word"), "\xe2\x96\x81") == 0);
    }
    CHECK(lone); /* "Zqwx" starts with a lone "▁" piece (test_train_wordids) */
    /* default = the same list without its O tokens */
    size_t k = 0;
    for (size_t i = 0; i < na; i++) {
        struct json_object *e = json_object_array_get_idx(ea, i);
        if (strcmp(str_of(e, "type"), "O") == 0)
            continue;
        CHECK(k < nd);
        if (k >= nd)
            break;
        struct json_object *f = json_object_array_get_idx(ed, k++);
        CHECK(num_of(e, "index", NULL) == num_of(f, "index", NULL) &&
              strcmp(str_of(e, "type"), str_of(f, "type")) == 0);
    }
    CHECK(k == nd);

    /* the word rule on the served tokens: words are the runs of non-space */
    size_t ws[16], we[16], nw = 0, cp = 0;
    for (size_t b = 0; TEXT[b];) {
        size_t nb = b + 1; /* next code point */
        while (((unsigned char)TEXT[nb] & 0xC0) == 0x80)
            nb++;
        if (TEXT[b] != ' ' && (b == 0 || TEXT[b - 1] == ' '))
            ws[nw] = cp;
        if (TEXT[b] != ' ' && (TEXT[nb] == ' ' || TEXT[nb] == '\0'))
            we[nw++] = cp + 1;
        cp++;
        b = nb;
    }
    CHECK(nw == 7);
    size_t *ts = malloc(na * sizeof(*ts));
    uint32_t *ts32 = malloc(na * sizeof(*ts32));
    const char **tags = malloc(na * sizeof(*tags)), *wt[16];
    int32_t wtok[16];
    for (size_t i = 0; i < na; i++) {
        struct json_object *e = json_object_array_get_idx(ea, i);
        ts[i] = (size_t)num_of(e, "span", "cp_start");
        ts32[i] = (uint32_t)ts[i];
        tags[i] = str_of(e, "type");
    }
    ev_ner_word_tags(ws, we, nw, ts, tags, na, wt);
    tr_word_first_tokens(ts32, NULL, na, we, nw, wtok);
    for (size_t w = 0; w < nw; w++) {
        CHECK(wtok[w] >= 0 && wt[w] == tags[wtok[w]]);
        printf("word %zu [%zu,%zu) -> token %d %s\n", w, ws[w], we[w], wtok[w], wt[w]);
    }
    CHECK(wtok[0] == 0); /* "Zqwx" takes the tag of its "▁" piece */
    free(ts);
    free(ts32);
    free(tags);
}

int main(int argc, char **argv) {
    struct stat st;
    if (argc < 3 || stat("models/socle-mini/adapters/ner/adapter.json", &st) != 0) {
        printf("skip: models/socle-mini or its ner adapter not found\n");
        return 77;
    }
    char tmp[] = "/tmp/socle_ner_served_XXXXXX", sock[600], ep[700], cmd[4096];
    if (!mkdtemp(tmp))
        return 1;
    snprintf(sock, sizeof(sock), "%s/s.sock", tmp);
    snprintf(ep, sizeof(ep), "ipc://%s", sock);
    pid_t pid = start_daemon(argv[1], ep, sock);
    CHECK(pid > 0);
    if (pid > 0) {
        snprintf(cmd, sizeof(cmd), "%s --endpoint %s ner --aggregation none --ignore-label '' '%s'",
                 argv[2], ep, TEXT);
        char *a = run(cmd);
        snprintf(cmd, sizeof(cmd), "%s --endpoint %s ner --aggregation none '%s'", argv[2], ep,
                 TEXT);
        char *d = run(cmd);
        struct json_object *ja = a ? json_tokener_parse(a) : NULL;
        struct json_object *jd = d ? json_tokener_parse(d) : NULL;
        if (!ja || !jd)
            fprintf(stderr, "unexpected output:\n%s\n%s\n", a ? a : "", d ? d : "");
        check(ja, jd);
        json_object_put(ja);
        json_object_put(jd);
        free(a);
        free(d);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    if (g_fail) {
        fprintf(stderr, "%d check(s) failed\n", g_fail);
        return 1;
    }
    printf("test_train_ner_served: all checks passed\n");
    return 0;
}
