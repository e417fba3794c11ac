/* config.h — socled configuration: one declarative option table (config.c) drives the
 * command-line flags, the config file, the SOCLE_* environment variables and --help.
 *
 * Precedence: default < config file < environment < flags. The config file is named by
 * --config PATH (or SOCLE_CONFIG); its lines are `key = value` with the flag names as keys
 * (`#` starts a comment). A list option (endpoint) given several times in one source
 * accumulates; a higher-precedence source replaces the whole list. In the environment a list
 * is comma-separated: SOCLE_ENDPOINT=ipc:///tmp/a.sock,tcp://127.0.0.1:5555.
 */
#ifndef SOCLED_CONFIG_H
#define SOCLED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cfg_status {
    CFG_OK = 0,
    CFG_EINVAL = -1, /* unknown option, bad value, missing value */
    CFG_EIO = -2,    /* config file unreadable */
    CFG_ENOMEM = -3,
};

enum cfg_log_level { CFG_LOG_DEBUG, CFG_LOG_INFO, CFG_LOG_WARN, CFG_LOG_ERROR };

struct socled_config {
    char *config_path; /* --config */
    char **endpoints;  /* --endpoint, repeatable; empty = the default local endpoint */
    size_t n_endpoints;
    char *ipc_mode;       /* --ipc-mode, octal text (daemon/ipc.c) */
    char *ipc_group;      /* --ipc-group, NULL = keep */
    char *pipeline_in;    /* --pipeline-in: PULL endpoint (daemon/pipeline.c), NULL = off */
    char *pipeline_out;   /* --pipeline-out: PUSH endpoint for the results */
    char *model_dir;      /* --model */
    char *tokenizer_path; /* --tokenizer (default: <model>/tokenizer.json) */
    char *adapters_dir;   /* --adapters */
    long workers;         /* 0 = auto */
    long blas_threads;
    bool elastic_threads; /* workers divide the cores among running forwards */
    size_t max_frame_bytes;  /* frames above: RESOURCE_EXHAUSTED answer */
    size_t hard_frame_bytes; /* frames above: peer disconnected by libzmq (0 = no cap) */
    long max_texts;
    size_t max_text_bytes;
    long max_queue;
    size_t max_queue_bytes; /* request bytes waiting for a worker */
    long max_batch_tokens;  /* tokens per engine forward (task_worker_new) */
    /* serving under load (scheduler.c, docs/serving.md) */
    long max_queue_tokens;   /* estimated model tokens waiting; beyond, RESOURCE_EXHAUSTED */
    long max_request_tokens; /* model tokens of one request (exact, after tokenizing); 0 = none */
    long max_batch_delay_us; /* how long a partial batch may wait for more work */
    long max_batch_requests; /* requests packed into one batch (1 = no cross-request batching) */
    long batch_turn;         /* every Nth batch starts from the batch lane (priority < 0) */
    char *metrics;           /* tcp://HOST:PORT for Prometheus GET /metrics, NULL = off */
    long drain_timeout_ms;
    int log_level; /* enum cfg_log_level */
    bool help;     /* --help given: print cfg_print_help and exit 0 */
    bool version;  /* --version given */
};

/* Fill *cfg from defaults, the config file, envp (NULL-terminated "K=V" strings, e.g.
 * environ) and argv[1..argc). On error a message naming the option and the source is written
 * to err. *cfg is always left freeable with cfg_free (also on error). Not thread-safe. */
int cfg_load(struct socled_config *cfg, int argc, char *const *argv, char *const *envp, char *err,
             size_t errlen);
void cfg_free(struct socled_config *cfg);

/* --help text, generated from the option table. */
void cfg_print_help(FILE *f, const char *prog);

/* Name of a log level ("debug", "info", …). */
const char *cfg_log_level_name(int level);

#endif
