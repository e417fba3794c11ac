/* config.c — the option table and its four readers (defaults, file, environment, flags).
 *
 * DESIGN: every option is one row of `options[]` (name, type, default, help, where it lands in
 * struct socled_config). Nothing else in the daemon knows option names, so a new option is one
 * row and shows up in --help, the config file and SOCLE_* at once (redis config.c,
 * llama.cpp common/arg.cpp). Values are applied source by source in precedence order, each
 * source overwriting the previous one; list options reset once per source.
 */
#include "daemon/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { OPT_STR, OPT_LONG, OPT_SIZE, OPT_BOOL, OPT_LIST, OPT_ENUM };

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

struct option_def {
    const char *name; /* flag --name, file key, env SOCLE_NAME (upper case, '-' → '_') */
    enum opt_type type;
    size_t offset;              /* into struct socled_config */
    const char *def;            /* default as text, parsed like any other source; NULL = unset */
    long min, max;              /* OPT_LONG range */
    const char *const *choices; /* OPT_ENUM */
    const char *help;
};

#define OFF(f) offsetof(struct socled_config, f)
static const struct option_def options[] = {
    {"config", OPT_STR, OFF(config_path), NULL, 0, 0, NULL,
     "config file of `key = value` lines (keys are these option names)"},
    {"endpoint", OPT_LIST, OFF(endpoints), NULL, 0, 0, NULL,
     "endpoint to bind, tcp://HOST:PORT or ipc://PATH; repeatable (default: the local ipc "
     "endpoint, ipc://$XDG_RUNTIME_DIR/socle.sock or ipc:///tmp/socle-UID.sock)"},
    {"ipc-mode", OPT_STR, OFF(ipc_mode), "0600", 0, 0, NULL,
     "permission bits of ipc:// socket files, octal (default owner-only; 0660 with ipc-group)"},
    {"ipc-group", OPT_STR, OFF(ipc_group), NULL, 0, 0, NULL,
     "group given to ipc:// socket files (default: the daemon's)"},
    {"pipeline-in", OPT_STR, OFF(pipeline_in), NULL, 0, 0, NULL,
     "PULL endpoint for producers pushing [tag][Request] (queue mode; needs pipeline-out)"},
    {"pipeline-out", OPT_STR, OFF(pipeline_out), NULL, 0, 0, NULL,
     "PUSH endpoint where the answers to pipeline-in requests go to a sink"},
    {"model", OPT_STR, OFF(model_dir), NULL, 0, 0, NULL,
     "model directory (HuggingFace layout: config.json, model.safetensors, tokenizer.json)"},
    {"tokenizer", OPT_STR, OFF(tokenizer_path), NULL, 0, 0, NULL,
     "tokenizer.json (or its directory) for tokenize/detokenize (default: MODEL/tokenizer.json)"},
    {"adapters", OPT_STR, OFF(adapters_dir), NULL, 0, 0, NULL,
     "directory of task adapters (reloaded on SIGHUP)"},
    {"workers", OPT_LONG, OFF(workers), "0", 0, 1024, NULL,
     "worker threads (0 = 2 x cores / blas-threads, at most cores, with elastic-threads; "
     "else cores / blas-threads)"},
    {"blas-threads", OPT_LONG, OFF(blas_threads), "0", 0, 1024, NULL,
     "threads of one forward running alone (0 = $OPENBLAS_NUM_THREADS if set, else CPU "
     "cores, at most 4; docs/serving.md)"},
    {"elastic-threads", OPT_BOOL, OFF(elastic_threads), "true", 0, 0, NULL,
     "workers divide the cores among the forwards running: alone, a forward uses blas-threads "
     "threads; under load each runs on fewer (default: 2 x cores / blas-threads workers)"},
    {"max-frame-bytes", OPT_SIZE, OFF(max_frame_bytes), "16M", 0, 0, NULL,
     "largest request frame served; larger ones get RESOURCE_EXHAUSTED (suffixes k, M, G)"},
    {"hard-frame-bytes", OPT_SIZE, OFF(hard_frame_bytes), "256M", 0, 0, NULL,
     "frames above this are refused by libzmq, which disconnects the peer with no answer "
     "(0 = no cap); must be >= max-frame-bytes"},
    {"max-texts", OPT_LONG, OFF(max_texts), "256", 1, 1000000, NULL, "texts per request"},
    {"max-text-bytes", OPT_SIZE, OFF(max_text_bytes), "1M", 0, 0, NULL, "bytes per text"},
    {"max-queue", OPT_LONG, OFF(max_queue), "4096", 1, 10000000, NULL,
     "requests waiting for a worker; beyond, RESOURCE_EXHAUSTED"},
    {"max-queue-bytes", OPT_SIZE, OFF(max_queue_bytes), "256M", 0, 0, NULL,
     "bytes of requests waiting for a worker; beyond, RESOURCE_EXHAUSTED (bounds memory)"},
    {"max-batch-tokens", OPT_LONG, OFF(max_batch_tokens), "8192", 16, 1 << 24, NULL,
     "tokens in one engine forward, per worker"},
    {"max-queue-tokens", OPT_LONG, OFF(max_queue_tokens), "262144", 1, 1L << 40, NULL,
     "model tokens waiting (estimated from bytes: bytes/4 + 2 per text); beyond, "
     "RESOURCE_EXHAUSTED"},
    {"max-request-tokens", OPT_LONG, OFF(max_request_tokens), "65536", 0, 1L << 40, NULL,
     "model tokens of one request, all windows, counted after tokenizing (0 = no limit); "
     "beyond, INVALID_ARGUMENT"},
    {"max-batch-delay-us", OPT_LONG, OFF(max_batch_delay_us), "0", 0, 10000000, NULL,
     "how long a batch short of max-batch-tokens may wait for more requests while every worker "
     "is idle (0 = send at once; batches still form from what queues while workers compute)"},
    {"max-batch-requests", OPT_LONG, OFF(max_batch_requests), "256", 1, 100000, NULL,
     "requests packed into one batch of forwards (1 = no cross-request batching)"},
    {"batch-turn", OPT_LONG, OFF(batch_turn), "4", 0, 1000000, NULL,
     "every Nth batch starts from the batch lane (priority < 0) so it never starves "
     "(0 = strict priority)"},
    {"metrics", OPT_STR, OFF(metrics), NULL, 0, 0, NULL,
     "tcp://HOST:PORT to serve Prometheus text on HTTP GET /metrics (default: off)"},
    {"drain-timeout-ms", OPT_LONG, OFF(drain_timeout_ms), "30000", 0, 86400000, NULL,
     "on SIGTERM/SIGINT, how long to wait for requests in flight"},
    {"log-level", OPT_ENUM, OFF(log_level), "info", 0, 0, log_levels, "debug, info, warn or error"},
    {"help", OPT_BOOL, OFF(help), "false", 0, 0, NULL, "print this help and exit"},
    {"version", OPT_BOOL, OFF(version), "false", 0, 0, NULL, "print the version and exit"},
};
#undef OFF
enum { N_OPTIONS = sizeof(options) / sizeof(options[0]) };

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const struct option_def *find_option(const char *name, size_t len) {
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *n = options[i].name;
        if (strlen(n) != len)
            continue;
        size_t k = 0;
        /* '-' and '_' are the same in keys: max_texts and max-texts both work in files */
        for (; k < len; k++) {
            char a = n[k], b = name[k];
            if (b == '_')
                b = '-';
            if (a != b)
                break;
        }
        if (k == len)
            return &options[i];
    }
    return NULL;
}

static int parse_size(const char *s, size_t *out) {
    errno = 0;
    char *end = NULL;
    if (!isdigit((unsigned char)*s))
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        return -1;
    }
    if (*end == 'i' || *end == 'B') /* accept KiB, MB, … spelled out */
        end++;
    if (*end == 'B')
        end++;
    if (*end != '\0')
        return -1;
    if (shift && v > (SIZE_MAX >> shift))
        return -1;
    *out = (size_t)(v << shift);
    return 0;
}

static int parse_bool(const char *s, bool *out) {
    static const char *const t[] = {"1", "true", "yes", "on"};
    static const char *const f[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, f[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Per-source state for list options: the first value in a source replaces the list. */
struct source {
    const char *what; /* "default", "file x.conf:3", "environment", "flag" */
    bool list_reset[N_OPTIONS];
};

static int list_append(char ***list, size_t *n, const char *v) {
    char **nl = realloc(*list, (*n + 1) * sizeof(*nl));
    if (!nl)
        return CFG_ENOMEM;
    *list = nl;
    if (!(nl[*n] = strdup(v)))
        return CFG_ENOMEM;
    (*n)++;
    return CFG_OK;
}

static void list_clear(char ***list, size_t *n) {
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

static int apply(struct socled_config *cfg, const struct option_def *o, const char *value,
                 struct source *src, char *err, size_t errlen) {
    char *base = (char *)cfg;
    void *field = base + o->offset;
    switch (o->type) {
    case OPT_STR: {
        char **p = field;
        char *v = strdup(value);
        if (!v)
            return CFG_ENOMEM;
        free(*p);
        *p = v;
        return CFG_OK;
    }
    case OPT_LONG: {
        errno = 0;
        char *end = NULL;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end != '\0' || v < o->min || v > o->max) {
            set_err(err, errlen, "%s: %s: expected an integer in [%ld, %ld], got '%s'", src->what,
                    o->name, o->min, o->max, value);
            return CFG_EINVAL;
        }
        *(long *)field = v;
        return CFG_OK;
    }
    case OPT_SIZE:
        if (parse_size(value, field) != 0) {
            set_err(err, errlen, "%s: %s: expected a size (bytes, or with k/M/G), got '%s'",
                    src->what, o->name, value);
            return CFG_EINVAL;
        }
        return CFG_OK;
    case OPT_BOOL:
        if (parse_bool(value, field) != 0) {
            set_err(err, errlen, "%s: %s: expected true/false, got '%s'", src->what, o->name,
                    value);
            return CFG_EINVAL;
        }
        return CFG_OK;
    case OPT_ENUM:
        for (int i = 0; o->choices[i]; i++) {
            if (strcmp(o->choices[i], value) == 0) {
                *(int *)field = i;
                return CFG_OK;
            }
        }
        set_err(err, errlen, "%s: %s: unknown value '%s'", src->what, o->name, value);
        return CFG_EINVAL;
    case OPT_LIST: {
        /* only endpoints is a list; its count follows the pointer in the struct */
        char ***list = field;
        size_t *n = &cfg->n_endpoints;
        size_t idx = (size_t)(o - options);
        if (!src->list_reset[idx]) {
            list_clear(list, n);
            src->list_reset[idx] = true;
        }
        if (value[0] == '\0') {
            set_err(err, errlen, "%s: %s: empty value", src->what, o->name);
            return CFG_EINVAL;
        }
        return list_append(list, n, value);
    }
    }
    return CFG_EINVAL;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int load_file(struct socled_config *cfg, const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        set_err(err, errlen, "config file %s: %s", path, strerror(errno));
        return CFG_EIO;
    }
    struct source src = {0};
    char what[512];
    char line[4096];
    int rc = CFG_OK;
    for (unsigned lineno = 1; fgets(line, sizeof line, f); lineno++) {
        snprintf(what, sizeof what, "%s:%u", path, lineno);
        src.what = what;
        if (!strchr(line, '\n') && !feof(f)) {
            set_err(err, errlen, "%s: line too long", what);
            rc = CFG_EINVAL;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            set_err(err, errlen, "%s: expected `key = value`", what);
            rc = CFG_EINVAL;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        const struct option_def *o = find_option(key, strlen(key));
        if (!o || strcmp(o->name, "config") == 0 || strcmp(o->name, "help") == 0 ||
            strcmp(o->name, "version") == 0) {
            set_err(err, errlen, "%s: unknown option '%s'", what, key);
            rc = CFG_EINVAL;
            break;
        }
        if ((rc = apply(cfg, o, value, &src, err, errlen)) != CFG_OK)
            break;
    }
    if (rc == CFG_OK && ferror(f)) {
        set_err(err, errlen, "config file %s: read error", path);
        rc = CFG_EIO;
    }
    fclose(f);
    return rc;
}

/* SOCLE_MAX_TEXT_BYTES → option "max-text-bytes". */
static const struct option_def *env_option(const char *kv, const char **value) {
    static const char prefix[] = "SOCLE_";
    if (strncmp(kv, prefix, sizeof prefix - 1) != 0)
        return NULL;
    const char *name = kv + sizeof prefix - 1;
    const char *eq = strchr(name, '=');
    if (!eq)
        return NULL;
    char lower[64];
    size_t len = (size_t)(eq - name);
    if (len >= sizeof lower)
        return NULL;
    for (size_t i = 0; i < len; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    *value = eq + 1;
    return find_option(lower, len);
}

static int load_env(struct socled_config *cfg, char *const *envp, char *err, size_t errlen) {
    struct source src = {.what = "environment"};
    for (size_t i = 0; envp && envp[i]; i++) {
        const char *value = NULL;
        const struct option_def *o = env_option(envp[i], &value);
        if (!o || strcmp(o->name, "config") == 0 || strcmp(o->name, "help") == 0 ||
            strcmp(o->name, "version") == 0)
            continue; /* SOCLE_CONFIG was read earlier; other SOCLE_* may belong to clients */
        if (o->type == OPT_LIST) {
            char *copy = strdup(value);
            if (!copy)
                return CFG_ENOMEM;
            int rc = CFG_OK;
            char *save = NULL;
            for (char *tok = strtok_r(copy, ",", &save); tok && rc == CFG_OK;
                 tok = strtok_r(NULL, ",", &save))
                rc = apply(cfg, o, trim(tok), &src, err, errlen);
            free(copy);
            if (rc != CFG_OK)
                return rc;
            continue;
        }
        int rc = apply(cfg, o, value, &src, err, errlen);
        if (rc != CFG_OK)
            return rc;
    }
    return CFG_OK;
}

/* Walk argv; when only_config is set, just find --config (it decides which file to read
 * before the other flags are applied on top of it). */
static int load_flags(struct socled_config *cfg, int argc, char *const *argv, bool only_config,
                      char *err, size_t errlen) {
    struct source src = {.what = "command line"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (only_config)
                continue;
            set_err(err, errlen, "unexpected argument '%s' (see --help)", a);
            return CFG_EINVAL;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        const struct option_def *o = find_option(name, len);
        bool negated = false;
        if (!o && len > 3 && strncmp(name, "no-", 3) == 0) {
            o = find_option(name + 3, len - 3);
            negated = o && o->type == OPT_BOOL;
            if (!negated)
                o = NULL;
        }
        if (!o) {
            if (only_config)
                continue;
            set_err(err, errlen, "unknown option --%.*s (see --help)", (int)len, name);
            return CFG_EINVAL;
        }
        if (o->type == OPT_BOOL && !value)
            value = negated ? "false" : "true";
        if (!value) {
            if (i + 1 >= argc) {
                set_err(err, errlen, "option --%s needs a value", o->name);
                return CFG_EINVAL;
            }
            value = argv[++i];
        }
        if (only_config != (strcmp(o->name, "config") == 0))
            continue;
        int rc = apply(cfg, o, value, &src, err, errlen);
        if (rc != CFG_OK)
            return rc;
    }
    return CFG_OK;
}

int cfg_load(struct socled_config *cfg, int argc, char *const *argv, char *const *envp, char *err,
             size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    struct source def = {.what = "default"};
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (!options[i].def)
            continue;
        int rc = apply(cfg, &options[i], options[i].def, &def, err, errlen);
        if (rc != CFG_OK)
            return rc; /* a bad default is our bug; the unit test catches it */
    }
    /* Which file? --config beats SOCLE_CONFIG. */
    for (size_t i = 0; envp && envp[i]; i++) {
        if (strncmp(envp[i], "SOCLE_CONFIG=", 13) == 0 && envp[i][13]) {
            free(cfg->config_path);
            if (!(cfg->config_path = strdup(envp[i] + 13)))
                return CFG_ENOMEM;
        }
    }
    int rc = load_flags(cfg, argc, argv, true, err, errlen);
    if (rc != CFG_OK)
        return rc;
    if (cfg->config_path && (rc = load_file(cfg, cfg->config_path, err, errlen)) != CFG_OK)
        return rc;
    if ((rc = load_env(cfg, envp, err, errlen)) != CFG_OK)
        return rc;
    if ((rc = load_flags(cfg, argc, argv, false, err, errlen)) != CFG_OK)
        return rc;
    if (cfg->max_queue_bytes < cfg->max_frame_bytes) {
        /* a frame the daemon accepts must fit in an empty queue, or it could never run */
        set_err(err, errlen, "max-queue-bytes (%zu) must be >= max-frame-bytes (%zu)",
                cfg->max_queue_bytes, cfg->max_frame_bytes);
        return CFG_EINVAL;
    }
    if (cfg->hard_frame_bytes && cfg->hard_frame_bytes < cfg->max_frame_bytes) {
        set_err(err, errlen, "hard-frame-bytes (%zu) must be 0 or >= max-frame-bytes (%zu)",
                cfg->hard_frame_bytes, cfg->max_frame_bytes);
        return CFG_EINVAL;
    }
    return CFG_OK;
}

void cfg_free(struct socled_config *cfg) {
    if (!cfg)
        return;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        void *field = (char *)cfg + options[i].offset;
        if (options[i].type == OPT_STR) {
            free(*(char **)field);
            *(char **)field = NULL;
        } else if (options[i].type == OPT_LIST) {
            list_clear(field, &cfg->n_endpoints);
        }
    }
}

const char *cfg_log_level_name(int level) {
    if (level < 0 || level > CFG_LOG_ERROR)
        return "?";
    return log_levels[level];
}

void cfg_print_help(FILE *f, const char *prog) {
    fprintf(f,
            "usage: %s [options]\n\n"
            "socled serves NLP tasks from one transformer over ZeroMQ (docs/protocol.md).\n"
            "Every option can also be set in the config file (`name = value`) or as\n"
            "SOCLE_NAME in the environment (upper case, '-' as '_');\n"
            "precedence: default < config file < environment < command line.\n\n",
            prog);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_def *o = &options[i];
        char env[64];
        size_t k = 0;
        k += (size_t)snprintf(env, sizeof env, "SOCLE_");
        for (const char *p = o->name; *p && k + 1 < sizeof env; p++)
            env[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        env[k] = '\0';
        const char *arg = o->type == OPT_BOOL   ? ""
                          : o->type == OPT_LONG ? " N"
                          : o->type == OPT_SIZE ? " BYTES"
                          : o->type == OPT_ENUM ? " LEVEL"
                                                : " VALUE";
        fprintf(f, "  --%s%s  [%s]", o->name, arg, env);
        if (o->def && o->type != OPT_BOOL)
            fprintf(f, " (default %s)", o->def);
        fprintf(f, "\n      %s\n", o->help);
    }
    fprintf(f, "\nSignals: SIGTERM/SIGINT drain requests in flight and exit 0; SIGHUP reloads "
               "adapters.\n");
}
