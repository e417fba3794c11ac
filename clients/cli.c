/* cli.c — `socle`, the command-line client (docs/cli.md).
 *
 *   socle [options] COMMAND [options] [TEXT...]
 *
 * Inputs: the TEXT arguments, else the lines of --file F, else the lines of stdin (one input per
 * line; only '\n' ends a line). Output: one JSON object per input, in input order, on stdout,
 * so it pipes into jq. Requests are pipelined (--window in flight) and answers, which may come
 * back in any order, are put back in input order before printing. `socle tokenize --tokenizer
 * PATH` works offline with no daemon (token counting of files).
 *
 * Exit status: 0 every input answered OK; 1 some input got an error object; 2 usage error;
 * 3 no daemon answered (timeout after retries) or a socket error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "clients/batch.h"
#include "clients/pbjson.h"
#include "clients/socle.h"
#ifdef SOCLE_HAVE_TOKENIZER
#include "tokenizer/tok.h"
#endif

enum cmd {
    CMD_NONE,
    CMD_TOKENIZE,
    CMD_DETOKENIZE,
    CMD_CLASSIFY,
    CMD_NER,
    CMD_QA,
    CMD_SUMMARIZE,
    CMD_EMBED,
    CMD_INFO,
    CMD_STATS,
    CMD_MULTI
};
static const char *const cmd_names[] = {"",     "tokenize", "detokenize", "classify",
                                        "ner",  "qa",       "summarize",  "embed",
                                        "info", "stats",    "multi"};

/* `socle multi --task KIND[:ADAPTER]`: the sub-tasks of one MultiRequest per input */
enum { MAX_MTASKS = 16 };
static const char *const mtask_kinds[] = {"classify", "ner", "summarize", "embed"};
struct mtask {
    const char *spec; /* as given: the key of its result in the output object */
    int kind;         /* index in mtask_kinds */
    char adapter[128];
};

struct cli {
    enum cmd cmd;
    const char *endpoint;
    struct socle_client_opts copts;
    const char *file;
    const char *tokenizer; /* offline tokenize */
    size_t window;
    const char *adapter;
    unsigned deadline_ms;
    int priority;
    /* tokenize */
    bool pair, no_special, count, overflow;
    int truncation; /* Socle__V1__Truncation */
    unsigned max_length, stride;
    /* detokenize */
    bool skip_special;
    /* tasks */
    unsigned top_k;
    bool multi_label;
    int aggregation;
    const char *ignore[64];
    size_t n_ignore;
    unsigned max_seq_len, doc_stride, max_question_len, max_answer_len;
    bool impossible;
    unsigned max_sentences;
    float ratio;
    int pooling;
    bool normalize;
    /* multi */
    struct mtask mtasks[MAX_MTASKS];
    size_t n_mtasks;
    /* inputs */
    char **texts;
    size_t n_texts;
};

static void usage(FILE *f) {
    char ep[512];
    fprintf(
        f,
        "usage: socle [options] COMMAND [options] [TEXT...]\n"
        "\n"
        "commands: tokenize detokenize classify ner qa summarize embed info stats batch\n"
        "  socle batch --task TASK --in DOCS.jsonl|DIR|- --out RESULTS.jsonl [task options]:\n"
        "  resumable batch (docs/batch.md; `socle batch` alone lists its options)\n"
        "Inputs are the TEXT arguments, else the lines of --file, else the lines of stdin.\n"
        "One JSON object per input is printed, in input order.\n"
        "\n"
        "common options:\n"
        "  --endpoint E      daemon endpoint (default %s, or $SOCLE_ENDPOINT)\n"
        "  --timeout MS      wait per attempt before resending unanswered requests (default 5000)\n"
        "  --retries N       resend attempts without any answer (default 3)\n"
        "  --file F          read inputs from F, one per line\n"
        "  --window N        requests in flight (default 32)\n"
        "  --adapter NAME    task adapter (default: the task's default)\n"
        "  --deadline MS     give up on the daemon side after MS (DEADLINE_EXCEEDED)\n"
        "  --priority N      higher first; negative for batch traffic\n"
        "tokenize:  --pair (input is TEXT<TAB>PAIR) --no-special --count --overflow\n"
        "           --max-length N --truncation none|longest_first|only_first|only_second --stride "
        "N\n"
        "           --tokenizer PATH  offline: tokenize with tokenizer.json, no daemon; prints\n"
        "                             {\"ids\":[..],\"tokens\":[..],\"offsets\":[[start,end],..]}\n"
        "detokenize: input is ids separated by spaces or commas; --skip-special\n"
        "classify:  --top-k N --multi-label\n"
        "ner:       --aggregation none|simple|first|average|max --ignore-label L (repeatable) "
        "--stride N\n"
        "qa:        input is QUESTION<TAB>CONTEXT; --top-k N --max-seq-len N --doc-stride N\n"
        "           --max-question-len N --max-answer-len N --handle-impossible\n"
        "summarize: --max-sentences N --ratio R\n"
        "embed:     --pooling cls|mean --normalize\n"
        "multi:     --task KIND[:ADAPTER] (repeatable; KIND classify|ner|summarize|embed) and\n"
        "           the options of those tasks; one model pass per input, prints\n"
        "           {\"KIND[:ADAPTER]\": result, ...} (docs/cli.md)\n"
        "\n"
        "exit status: 0 all OK, 1 some input failed, 2 usage, 3 daemon unreachable\n",
        socle_default_endpoint(ep, sizeof ep));
}

static int parse_uint(const char *s, unsigned *out) {
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > 0xFFFFFFFFul || s[0] == '-')
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int pick(const char *v, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    return -1;
}

/* Returns 0, or 2 (usage error, message printed). */
static int parse_args(struct cli *c, int argc, char **argv) {
    static const char *const truncs[] = {"default", "none", "longest_first", "only_first",
                                         "only_second"};
    static const char *const aggs[] = {"none", "simple", "first", "average", "max"};
    static const char *const pools[] = {"default", "cls", "mean"};
    c->copts = socle_client_opts_default();
    c->window = 32;
    /* SOCLE_ENDPOINT is the daemon's list of endpoints; a client uses the first one */
    static char env_ep[512];
    const char *ee = getenv("SOCLE_ENDPOINT");
    if (ee && *ee) {
        snprintf(env_ep, sizeof env_ep, "%s", ee);
        env_ep[strcspn(env_ep, ",")] = '\0';
        c->endpoint = env_ep;
    }
    c->texts = calloc((size_t)argc, sizeof *c->texts);
    if (!c->texts)
        return 2;
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts_done || a[0] != '-' || a[1] == '\0') {
            if (c->cmd == CMD_NONE) {
                int k = pick(a, cmd_names, (int)(sizeof cmd_names / sizeof *cmd_names));
                if (k <= 0) {
                    fprintf(stderr, "socle: unknown command '%s' (see --help)\n", a);
                    return 2;
                }
                c->cmd = (enum cmd)k;
            } else {
                c->texts[c->n_texts++] = argv[i];
            }
            continue;
        }
        if (strcmp(a, "--") == 0) {
            opts_done = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        /* flags without a value */
        bool *flag = strcmp(a, "--pair") == 0                ? &c->pair
                     : strcmp(a, "--no-special") == 0        ? &c->no_special
                     : strcmp(a, "--count") == 0             ? &c->count
                     : strcmp(a, "--overflow") == 0          ? &c->overflow
                     : strcmp(a, "--skip-special") == 0      ? &c->skip_special
                     : strcmp(a, "--multi-label") == 0       ? &c->multi_label
                     : strcmp(a, "--handle-impossible") == 0 ? &c->impossible
                     : strcmp(a, "--normalize") == 0         ? &c->normalize
                                                             : NULL;
        if (flag) {
            *flag = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "socle: option %s needs a value (or is unknown; see --help)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        unsigned u = 0;
        int k;
        bool bad = false;
        if (strcmp(a, "--endpoint") == 0)
            c->endpoint = v;
        else if (strcmp(a, "--file") == 0)
            c->file = v;
        else if (strcmp(a, "--tokenizer") == 0)
            c->tokenizer = v;
        else if (strcmp(a, "--adapter") == 0)
            c->adapter = v;
        else if (strcmp(a, "--task") == 0) {
            /* KIND or KIND:ADAPTER */
            size_t kl = strcspn(v, ":");
            int kind = -1;
            for (int t = 0; t < 4; t++)
                if (strlen(mtask_kinds[t]) == kl && strncmp(v, mtask_kinds[t], kl) == 0)
                    kind = t;
            bad = kind < 0 || c->n_mtasks == MAX_MTASKS || (v[kl] && strlen(v + kl + 1) >= 128);
            if (!bad) {
                struct mtask *t = &c->mtasks[c->n_mtasks++];
                t->spec = v;
                t->kind = kind;
                snprintf(t->adapter, sizeof t->adapter, "%s", v[kl] ? v + kl + 1 : "");
            }
        } else if (strcmp(a, "--ignore-label") == 0) {
            if (c->n_ignore < 64)
                c->ignore[c->n_ignore++] = v;
        } else if (strcmp(a, "--truncation") == 0) {
            bad = (k = pick(v, truncs, 5)) < 0;
            c->truncation = k;
        } else if (strcmp(a, "--aggregation") == 0) {
            bad = (k = pick(v, aggs, 5)) < 0;
            c->aggregation = k;
        } else if (strcmp(a, "--pooling") == 0) {
            bad = (k = pick(v, pools, 3)) < 0;
            c->pooling = k;
        } else if (strcmp(a, "--ratio") == 0) {
            char *end = NULL;
            c->ratio = strtof(v, &end);
            bad = end == v || *end || c->ratio < 0 || c->ratio > 1;
        } else if (strcmp(a, "--priority") == 0) {
            char *end = NULL;
            c->priority = (int)strtol(v, &end, 10);
            bad = end == v || *end;
        } else if (parse_uint(v, &u) != 0) {
            bad = true;
        } else if (strcmp(a, "--timeout") == 0)
            c->copts.timeout_ms = (int)u;
        else if (strcmp(a, "--retries") == 0)
            c->copts.retries = (int)u;
        else if (strcmp(a, "--window") == 0)
            c->window = u ? u : 1;
        else if (strcmp(a, "--deadline") == 0)
            c->deadline_ms = u;
        else if (strcmp(a, "--max-length") == 0)
            c->max_length = u;
        else if (strcmp(a, "--stride") == 0)
            c->stride = u;
        else if (strcmp(a, "--top-k") == 0)
            c->top_k = u;
        else if (strcmp(a, "--max-seq-len") == 0)
            c->max_seq_len = u;
        else if (strcmp(a, "--doc-stride") == 0)
            c->doc_stride = u;
        else if (strcmp(a, "--max-question-len") == 0)
            c->max_question_len = u;
        else if (strcmp(a, "--max-answer-len") == 0)
            c->max_answer_len = u;
        else if (strcmp(a, "--max-sentences") == 0)
            c->max_sentences = u;
        else {
            fprintf(stderr, "socle: unknown option %s (see --help)\n", a);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "socle: bad value '%s' for %s\n", v, a);
            return 2;
        }
    }
    if (c->cmd == CMD_NONE) {
        usage(stderr);
        return 2;
    }
    if (c->max_length && c->truncation == 0)
        c->truncation = SOCLE__V1__TRUNCATION__TRUNCATION_LONGEST_FIRST;
    if ((c->cmd == CMD_MULTI) != (c->n_mtasks > 0)) {
        fprintf(stderr, c->n_mtasks ? "socle: --task is for multi (and batch)\n"
                                    : "socle: multi needs at least one --task KIND[:ADAPTER]\n");
        return 2;
    }
    if (c->tokenizer && c->cmd != CMD_TOKENIZE) {
        fprintf(stderr, "socle: --tokenizer (offline mode) is only for tokenize\n");
        return 2;
    }
    return 0;
}

/* ---- inputs ---- */

struct input {
    const struct cli *c;
    FILE *f;
    size_t next_arg;
    char *line;
    size_t cap;
};

/* Next input into (*s, *len) (valid until the next call); 0 at the end, -1 on read error. */
static int input_next(struct input *in, const char **s, size_t *len) {
    if (in->c->n_texts) {
        if (in->next_arg >= in->c->n_texts)
            return 0;
        *s = in->c->texts[in->next_arg++];
        *len = strlen(*s);
        return 1;
    }
    errno = 0;
    ssize_t n = getline(&in->line, &in->cap, in->f);
    if (n < 0)
        return ferror(in->f) ? -1 : 0;
    if (n > 0 && in->line[n - 1] == '\n')
        n--; /* only '\n' ends a line: '\r' and other controls belong to the text */
    *s = in->line;
    *len = (size_t)n;
    return 1;
}

static void print_json(struct json_object *o) {
    fputs(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        stdout);
    fputc('\n', stdout);
    json_object_put(o);
}

static void print_error(const char *code, const char *msg) {
    struct json_object *o = json_object_new_object(), *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_string(code));
    json_object_object_add(e, "message", json_object_new_string(msg));
    json_object_object_add(o, "error", e);
    print_json(o);
}

/* ---- offline tokenize ---- */

static int run_offline(const struct cli *c, struct input *in) {
#ifndef SOCLE_HAVE_TOKENIZER
    (void)c, (void)in;
    fprintf(stderr, "socle: this build has no tokenizer module (offline tokenize unavailable)\n");
    return 2;
#else
    char err[512];
    struct tok_tokenizer *tok = NULL;
    int rc = tok_tokenizer_load(c->tokenizer, &tok, err, sizeof err);
    if (rc != TOK_OK) {
        fprintf(stderr, "socle: %s: %s\n", c->tokenizer, err[0] ? err : tok_strerror(rc));
        return 2;
    }
    struct tok_encode_params p = tok_encode_params_default();
    p.add_special_tokens = !c->no_special;
    if (c->truncation == SOCLE__V1__TRUNCATION__TRUNCATION_NONE) {
        p.use_file_truncation = false;
    } else if (c->truncation >= SOCLE__V1__TRUNCATION__TRUNCATION_LONGEST_FIRST) {
        p.use_file_truncation = false;
        p.max_length = c->max_length;
        p.strategy = c->truncation == SOCLE__V1__TRUNCATION__TRUNCATION_ONLY_FIRST
                         ? TOK_TRUNC_ONLY_FIRST
                     : c->truncation == SOCLE__V1__TRUNCATION__TRUNCATION_ONLY_SECOND
                         ? TOK_TRUNC_ONLY_SECOND
                         : TOK_TRUNC_LONGEST_FIRST;
    }
    p.stride = c->stride;
    int status = 0;
    const char *s;
    size_t len;
    while ((rc = input_next(in, &s, &len)) > 0) {
        const char *text = s, *pair = NULL;
        size_t tlen = len, plen = 0;
        if (c->pair) {
            const char *tab = memchr(s, '\t', len);
            if (!tab) {
                print_error("INVALID_ARGUMENT", "--pair: no TAB between text and pair");
                status = 1;
                continue;
            }
            tlen = (size_t)(tab - s);
            pair = tab + 1;
            plen = len - tlen - 1;
        }
        struct tok_encoding *e = NULL;
        size_t bad = 0;
        int trc = tok_encode(tok, text, tlen, pair, plen, &p, &e, &bad);
        if (trc != TOK_OK) {
            char msg[128];
            if (trc == TOK_EUTF8)
                snprintf(msg, sizeof msg, "invalid UTF-8 at byte %zu", bad);
            else
                snprintf(msg, sizeof msg, "%s", tok_strerror(trc));
            print_error(trc == TOK_ENOMEM ? "RESOURCE_EXHAUSTED" : "INVALID_ARGUMENT", msg);
            status = 1;
            continue;
        }
        if (c->count) {
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "n_tokens", json_object_new_int64((int64_t)e->n_tokens));
            print_json(o);
            tok_encoding_free(e);
            continue;
        }
        struct json_object *o = json_object_new_object();
        struct json_object *ids = json_object_new_array_ext((int)e->n_tokens);
        struct json_object *toks = json_object_new_array_ext((int)e->n_tokens);
        struct json_object *offs = json_object_new_array_ext((int)e->n_tokens);
        for (size_t i = 0; i < e->n_tokens; i++) {
            json_object_array_add(ids, json_object_new_int(e->ids[i]));
            json_object_array_add(toks, json_object_new_string(e->tokens[i]));
            struct json_object *pr = json_object_new_array_ext(2);
            json_object_array_add(pr, json_object_new_int64(e->offsets[i].start));
            json_object_array_add(pr, json_object_new_int64(e->offsets[i].end));
            json_object_array_add(offs, pr);
        }
        json_object_object_add(o, "ids", ids);
        json_object_object_add(o, "tokens", toks);
        json_object_object_add(o, "offsets", offs);
        print_json(o);
        tok_encoding_free(e);
    }
    tok_tokenizer_free(tok);
    if (rc < 0) {
        fprintf(stderr, "socle: read error: %s\n", strerror(errno));
        return 2;
    }
    return status;
#endif
}

/* ---- daemon mode ---- */

/* One request, built on the stack/heap for one input; freed by req_free. */
struct req_buf {
    Socle__V1__Request req;
    union {
        Socle__V1__TokenizeRequest tokenize;
        Socle__V1__DetokenizeRequest detokenize;
        Socle__V1__ClassifyRequest classify;
        Socle__V1__NerRequest ner;
        Socle__V1__QaRequest qa;
        Socle__V1__SummarizeRequest summarize;
        Socle__V1__EmbedRequest embed;
        Socle__V1__InfoRequest info;
        Socle__V1__StatsRequest stats;
        Socle__V1__MultiRequest multi;
    } u;
    /* multi: one options message per kind, shared by the sub-tasks of that kind */
    Socle__V1__SubTask sub[MAX_MTASKS], *subp[MAX_MTASKS];
    Socle__V1__ClassifyRequest m_classify;
    Socle__V1__NerRequest m_ner;
    Socle__V1__SummarizeRequest m_summarize;
    Socle__V1__EmbedRequest m_embed;
    ProtobufCBinaryData text, pair;
    ProtobufCBinaryData *textp;
    Socle__V1__QaPair qp, *qpp;
    Socle__V1__IdSequence seq, *seqp;
    int32_t *ids;
};

/* Build the request for one input. Returns NULL with *why set for a bad input line. */
/* Task options from the command line, shared by the single-task requests and the
 * sub-tasks of `multi` (texts are set by the caller). */
static void classify_opts(const struct cli *c, Socle__V1__ClassifyRequest *r) {
    socle__v1__classify_request__init(r);
    r->top_k = c->top_k;
    r->multi_label = c->multi_label;
}

static void ner_opts(const struct cli *c, Socle__V1__NerRequest *r) {
    socle__v1__ner_request__init(r);
    r->aggregation = (Socle__V1__Aggregation)c->aggregation;
    r->n_ignore_labels = c->n_ignore;
    r->ignore_labels = (char **)(uintptr_t)c->ignore;
    r->stride = c->stride;
}

static void summarize_opts(const struct cli *c, Socle__V1__SummarizeRequest *r) {
    socle__v1__summarize_request__init(r);
    r->max_sentences = c->max_sentences;
    r->ratio = c->ratio;
}

static void embed_opts(const struct cli *c, Socle__V1__EmbedRequest *r) {
    socle__v1__embed_request__init(r);
    r->pooling = (Socle__V1__Pooling)c->pooling;
    r->normalize = c->normalize;
}

static int build_request(const struct cli *c, struct req_buf *b, const char *s, size_t len,
                         const char **why) {
    memset(b, 0, sizeof *b);
    socle__v1__request__init(&b->req);
    b->req.adapter = (char *)(uintptr_t)(c->adapter ? c->adapter : "");
    b->req.deadline_ms = c->deadline_ms;
    b->req.priority = c->priority;
    b->text.data = (uint8_t *)(uintptr_t)s;
    b->text.len = len;
    b->textp = &b->text;
    switch (c->cmd) {
    case CMD_TOKENIZE: {
        Socle__V1__TokenizeRequest *t = &b->u.tokenize;
        socle__v1__tokenize_request__init(t);
        t->n_texts = 1;
        t->texts = b->textp;
        if (c->pair) {
            const char *tab = memchr(s, '\t', len);
            if (!tab) {
                *why = "--pair: no TAB between text and pair";
                return -1;
            }
            b->text.len = (size_t)(tab - s);
            b->pair.data = (uint8_t *)(uintptr_t)(tab + 1);
            b->pair.len = len - b->text.len - 1;
            t->n_pairs = 1;
            t->pairs = &b->pair;
        }
        t->no_special_tokens = c->no_special;
        t->truncation = (Socle__V1__Truncation)c->truncation;
        t->max_length = c->max_length;
        t->stride = c->stride;
        t->return_overflowing = c->overflow;
        t->count_only = c->count;
        b->req.task_case = SOCLE__V1__REQUEST__TASK_TOKENIZE;
        b->req.tokenize = t;
        return 0;
    }
    case CMD_DETOKENIZE: {
        Socle__V1__DetokenizeRequest *t = &b->u.detokenize;
        socle__v1__detokenize_request__init(t);
        socle__v1__id_sequence__init(&b->seq);
        b->ids = malloc((len / 2 + 1) * sizeof *b->ids);
        if (!b->ids) {
            *why = "out of memory";
            return -1;
        }
        size_t n = 0;
        const char *p = s, *end = s + len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ',' || *p == '\t' || *p == '[' || *p == ']'))
                p++;
            if (p >= end)
                break;
            char *e = NULL;
            long v = strtol(p, &e, 10);
            if (e == p || e > end) {
                *why = "detokenize: expected integer ids separated by spaces or commas";
                return -1;
            }
            b->ids[n++] = (int32_t)v;
            p = e;
        }
        b->seq.n_ids = n;
        b->seq.ids = b->ids;
        b->seqp = &b->seq;
        t->n_sequences = 1;
        t->sequences = &b->seqp;
        t->skip_special_tokens = c->skip_special;
        b->req.task_case = SOCLE__V1__REQUEST__TASK_DETOKENIZE;
        b->req.detokenize = t;
        return 0;
    }
    case CMD_CLASSIFY:
        classify_opts(c, &b->u.classify);
        b->u.classify.n_texts = 1;
        b->u.classify.texts = b->textp;
        b->req.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
        b->req.classify = &b->u.classify;
        return 0;
    case CMD_NER:
        ner_opts(c, &b->u.ner);
        b->u.ner.n_texts = 1;
        b->u.ner.texts = b->textp;
        b->req.task_case = SOCLE__V1__REQUEST__TASK_NER;
        b->req.ner = &b->u.ner;
        return 0;
    case CMD_QA: {
        const char *tab = memchr(s, '\t', len);
        if (!tab) {
            *why = "qa: input must be QUESTION<TAB>CONTEXT";
            return -1;
        }
        socle__v1__qa_request__init(&b->u.qa);
        socle__v1__qa_pair__init(&b->qp);
        b->qp.question.data = (uint8_t *)(uintptr_t)s;
        b->qp.question.len = (size_t)(tab - s);
        b->qp.context.data = (uint8_t *)(uintptr_t)(tab + 1);
        b->qp.context.len = len - b->qp.question.len - 1;
        b->qpp = &b->qp;
        b->u.qa.n_pairs = 1;
        b->u.qa.pairs = &b->qpp;
        b->u.qa.top_k = c->top_k;
        b->u.qa.max_seq_len = c->max_seq_len;
        b->u.qa.doc_stride = c->doc_stride;
        b->u.qa.max_question_len = c->max_question_len;
        b->u.qa.max_answer_len = c->max_answer_len;
        b->u.qa.handle_impossible_answer = c->impossible;
        b->req.task_case = SOCLE__V1__REQUEST__TASK_QA;
        b->req.qa = &b->u.qa;
        return 0;
    }
    case CMD_SUMMARIZE:
        summarize_opts(c, &b->u.summarize);
        b->u.summarize.n_texts = 1;
        b->u.summarize.texts = b->textp;
        b->req.task_case = SOCLE__V1__REQUEST__TASK_SUMMARIZE;
        b->req.summarize = &b->u.summarize;
        return 0;
    case CMD_EMBED:
        embed_opts(c, &b->u.embed);
        b->u.embed.n_texts = 1;
        b->u.embed.texts = b->textp;
        b->req.task_case = SOCLE__V1__REQUEST__TASK_EMBED;
        b->req.embed = &b->u.embed;
        return 0;
    case CMD_INFO:
        socle__v1__info_request__init(&b->u.info);
        b->req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
        b->req.info = &b->u.info;
        return 0;
    case CMD_STATS:
        socle__v1__stats_request__init(&b->u.stats);
        b->req.task_case = SOCLE__V1__REQUEST__TASK_STATS;
        b->req.stats = &b->u.stats;
        return 0;
    case CMD_MULTI:
        classify_opts(c, &b->m_classify);
        ner_opts(c, &b->m_ner);
        summarize_opts(c, &b->m_summarize);
        embed_opts(c, &b->m_embed);
        for (size_t i = 0; i < c->n_mtasks; i++) {
            Socle__V1__SubTask *t = &b->sub[i];
            socle__v1__sub_task__init(t);
            t->adapter = (char *)(uintptr_t)c->mtasks[i].adapter;
            switch (c->mtasks[i].kind) {
            case 0:
                t->task_case = SOCLE__V1__SUB_TASK__TASK_CLASSIFY;
                t->classify = &b->m_classify;
                break;
            case 1:
                t->task_case = SOCLE__V1__SUB_TASK__TASK_NER;
                t->ner = &b->m_ner;
                break;
            case 2:
                t->task_case = SOCLE__V1__SUB_TASK__TASK_SUMMARIZE;
                t->summarize = &b->m_summarize;
                break;
            default:
                t->task_case = SOCLE__V1__SUB_TASK__TASK_EMBED;
                t->embed = &b->m_embed;
                break;
            }
            b->subp[i] = t;
        }
        socle__v1__multi_request__init(&b->u.multi);
        b->u.multi.n_texts = 1;
        b->u.multi.texts = b->textp;
        b->u.multi.n_tasks = c->n_mtasks;
        b->u.multi.tasks = b->subp;
        b->req.task_case = SOCLE__V1__REQUEST__TASK_MULTI;
        b->req.multi = &b->u.multi;
        return 0;
    case CMD_NONE:
        break;
    }
    *why = "no command";
    return -1;
}

static struct json_object *error_json(const char *code, const char *msg) {
    struct json_object *o = json_object_new_object(), *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_string(code));
    json_object_object_add(e, "message", json_object_new_string(msg));
    json_object_object_add(o, "error", e);
    return o;
}

/* One per-text output (ClassifyOutput, NerOutput, ...) as JSON; its own Status, when not OK,
 * becomes {"error": status} and sets *failed. */
static struct json_object *output_json(const ProtobufCMessage *out, bool *failed) {
    struct json_object *o = pbjson_message(out);
    struct json_object *st = NULL;
    if (json_object_object_get_ex(o, "status", &st)) {
        struct json_object *code = NULL;
        if (json_object_object_get_ex(st, "code", &code) &&
            strcmp(json_object_get_string(code), "OK") != 0) {
            *failed = true;
            struct json_object *e = json_object_new_object();
            json_object_object_add(e, "error", json_object_get(st));
            json_object_put(o);
            return e;
        }
        json_object_object_del(o, "status");
    }
    return o;
}

/* A MultiResult for one input: {"KIND[:ADAPTER]": output, ...} in --task order. */
static struct json_object *multi_json(const struct cli *c, const Socle__V1__MultiResult *m,
                                      bool *failed) {
    if (!m || m->n_results != c->n_mtasks) {
        *failed = true;
        return error_json("INTERNAL", "multi answer without one result per --task");
    }
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; i < m->n_results; i++) {
        const Socle__V1__SubResult *s = m->results[i];
        const ProtobufCMessage *out = NULL;
        if (s->result_case == SOCLE__V1__SUB_RESULT__RESULT_CLASSIFY && s->classify->n_outputs == 1)
            out = &s->classify->outputs[0]->base;
        else if (s->result_case == SOCLE__V1__SUB_RESULT__RESULT_NER && s->ner->n_outputs == 1)
            out = &s->ner->outputs[0]->base;
        else if (s->result_case == SOCLE__V1__SUB_RESULT__RESULT_SUMMARIZE &&
                 s->summarize->n_outputs == 1)
            out = &s->summarize->outputs[0]->base;
        else if (s->result_case == SOCLE__V1__SUB_RESULT__RESULT_EMBED && s->embed->n_outputs == 1)
            out = &s->embed->outputs[0]->base;
        if (!out) {
            *failed = true;
            json_object_object_add(o, c->mtasks[i].spec,
                                   error_json("INTERNAL", "sub-result without one output"));
            continue;
        }
        json_object_object_add(o, c->mtasks[i].spec, output_json(out, failed));
    }
    return o;
}

/* The one per-text output (ClassifyOutput, NerOutput, ...) of a per-text task's answer, or
 * NULL (another kind of answer, or not exactly one output). */
static const ProtobufCMessage *single_output(const Socle__V1__Response *r) {
    switch (r->result_case) {
    case SOCLE__V1__RESPONSE__RESULT_CLASSIFY:
        return r->classify->n_outputs == 1 ? &r->classify->outputs[0]->base : NULL;
    case SOCLE__V1__RESPONSE__RESULT_NER:
        return r->ner->n_outputs == 1 ? &r->ner->outputs[0]->base : NULL;
    case SOCLE__V1__RESPONSE__RESULT_QA:
        return r->qa->n_outputs == 1 ? &r->qa->outputs[0]->base : NULL;
    case SOCLE__V1__RESPONSE__RESULT_SUMMARIZE:
        return r->summarize->n_outputs == 1 ? &r->summarize->outputs[0]->base : NULL;
    case SOCLE__V1__RESPONSE__RESULT_EMBED:
        return r->embed->n_outputs == 1 ? &r->embed->outputs[0]->base : NULL;
    default:
        return NULL;
    }
}

/* The JSON for one answer: the error object, or the result of the one input. */
static struct json_object *response_json(const struct cli *c, const Socle__V1__Response *r,
                                         bool *failed) {
    *failed = false;
    if (r->status && r->status->code != SOCLE__V1__CODE__OK) {
        *failed = true;
        struct json_object *o = json_object_new_object(), *e = json_object_new_object();
        json_object_object_add(e, "code",
                               json_object_new_string(socle_code_name((int)r->status->code)));
        json_object_object_add(
            e, "message", json_object_new_string(r->status->message ? r->status->message : ""));
        json_object_object_add(o, "error", e);
        return o;
    }
    const ProtobufCMessage *out = single_output(r);
    switch (r->result_case) {
    case SOCLE__V1__RESPONSE__RESULT_TOKENIZE: {
        if (!r->tokenize || r->tokenize->n_encodings != 1)
            break;
        const Socle__V1__Encoding *e = r->tokenize->encodings[0];
        struct json_object *o = json_object_new_object();
        if (c->count) {
            json_object_object_add(o, "n_tokens", json_object_new_int64(e->length));
        } else {
            /* the offline shape, so daemon and offline outputs compare line by line */
            struct json_object *ids = json_object_new_array_ext((int)e->n_ids);
            struct json_object *toks = json_object_new_array_ext((int)e->n_tokens);
            struct json_object *offs = json_object_new_array_ext((int)e->n_ids);
            for (size_t i = 0; i < e->n_ids; i++) {
                json_object_array_add(ids, json_object_new_int(e->ids[i]));
                json_object_array_add(toks,
                                      json_object_new_string(i < e->n_tokens ? e->tokens[i] : ""));
                struct json_object *pr = json_object_new_array_ext(2);
                json_object_array_add(
                    pr, json_object_new_int64(2 * i + 1 < e->n_offsets ? e->offsets[2 * i] : 0));
                json_object_array_add(
                    pr,
                    json_object_new_int64(2 * i + 1 < e->n_offsets ? e->offsets[2 * i + 1] : 0));
                json_object_array_add(offs, pr);
            }
            json_object_object_add(o, "ids", ids);
            json_object_object_add(o, "tokens", toks);
            json_object_object_add(o, "offsets", offs);
            if (c->overflow && e->n_overflowing) {
                struct json_object *ov = json_object_new_array();
                for (size_t k = 0; k < e->n_overflowing; k++)
                    json_object_array_add(ov, pbjson_message(&e->overflowing[k]->base));
                json_object_object_add(o, "overflowing", ov);
            }
        }
        if (e->truncated)
            json_object_object_add(o, "truncated", json_object_new_boolean(1));
        return o;
    }
    case SOCLE__V1__RESPONSE__RESULT_DETOKENIZE: {
        if (!r->detokenize || r->detokenize->n_texts != 1)
            break;
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "text", json_object_new_string(r->detokenize->texts[0]));
        return o;
    }
    case SOCLE__V1__RESPONSE__RESULT_INFO:
        return pbjson_message(&r->info->base);
    case SOCLE__V1__RESPONSE__RESULT_STATS:
        return pbjson_message(&r->stats->base);
    case SOCLE__V1__RESPONSE__RESULT_MULTI:
        return multi_json(c, r->multi, failed);
    default:
        break;
    }
    if (!out) {
        *failed = true;
        struct json_object *o = json_object_new_object(), *e = json_object_new_object();
        json_object_object_add(e, "code", json_object_new_string("INTERNAL"));
        json_object_object_add(e, "message",
                               json_object_new_string("answer without the expected result"));
        json_object_object_add(o, "error", e);
        return o;
    }
    /* every per-text output starts with its own Status: surface it like a request error */
    return output_json(out, failed);
}

struct slot {
    bool used, done;
    struct json_object *json;
    bool failed;
};

static int run_daemon(const struct cli *c, struct input *in) {
    struct socle_client *cl = NULL;
    int rc = socle_client_new(c->endpoint, &c->copts, &cl);
    if (rc != SOCLE_OK) {
        fprintf(stderr, "socle: cannot use endpoint %s: %s\n", c->endpoint ? c->endpoint : "",
                socle_strerror(rc));
        return 3;
    }
    size_t window = (c->cmd == CMD_INFO || c->cmd == CMD_STATS) ? 1 : c->window;
    struct slot *slots = calloc(window, sizeof *slots);
    if (!slots) {
        socle_client_free(cl);
        return 3;
    }
    uint64_t next_id = 1, next_print = 1; /* input k (from 1) is request id k */
    size_t in_flight = 0;
    bool eof = false;
    int status = 0;
    if (c->cmd == CMD_INFO || c->cmd == CMD_STATS)
        eof = false;
    bool single = c->cmd == CMD_INFO || c->cmd == CMD_STATS;
    while (!eof || in_flight) {
        /* fill the window */
        while (!eof && next_id - next_print < window) {
            const char *s = "";
            size_t len = 0;
            int r = single ? (next_id == 1) : input_next(in, &s, &len);
            if (r < 0) {
                fprintf(stderr, "socle: read error: %s\n", strerror(errno));
                status = 3;
                eof = true;
                break;
            }
            if (r == 0) {
                eof = true;
                break;
            }
            struct req_buf b;
            const char *why = NULL;
            struct slot *sl = &slots[(next_id - 1) % window];
            sl->used = true;
            if (build_request(c, &b, s, len, &why) != 0) {
                struct json_object *o = json_object_new_object(), *e = json_object_new_object();
                json_object_object_add(e, "code", json_object_new_string("INVALID_ARGUMENT"));
                json_object_object_add(e, "message", json_object_new_string(why));
                json_object_object_add(o, "error", e);
                sl->json = o;
                sl->failed = true;
                sl->done = true;
                free(b.ids);
                next_id++;
                continue;
            }
            b.req.id = next_id;
            rc = socle_client_send(cl, &b.req, NULL);
            free(b.ids);
            if (rc != SOCLE_OK) {
                fprintf(stderr, "socle: send: %s\n", socle_strerror(rc));
                status = 3;
                goto out;
            }
            sl->done = false;
            next_id++;
            in_flight++;
        }
        /* print what is complete, in order */
        while (next_print < next_id && slots[(next_print - 1) % window].done) {
            struct slot *sl = &slots[(next_print - 1) % window];
            print_json(sl->json);
            if (sl->failed && status == 0)
                status = 1;
            memset(sl, 0, sizeof *sl);
            next_print++;
        }
        if (!in_flight)
            continue;
        Socle__V1__Response *r = NULL;
        rc = socle_client_recv(cl, &r);
        if (rc != SOCLE_OK) {
            fprintf(stderr, "socle: %s (endpoint %s)\n", socle_strerror(rc),
                    c->endpoint ? c->endpoint : "default");
            status = 3;
            goto out;
        }
        if (r->id < next_print || r->id >= next_id) {
            /* id 0: an answer to a frame the daemon could not read: a bug on our side */
            fprintf(stderr, "socle: unexpected answer id %llu: %s\n", (unsigned long long)r->id,
                    r->status && r->status->message ? r->status->message : "");
            socle_response_free(r);
            status = 3;
            goto out;
        }
        struct slot *sl = &slots[(r->id - 1) % window];
        sl->json = response_json(c, r, &sl->failed);
        sl->done = true;
        in_flight--;
        socle_response_free(r);
    }
    while (next_print < next_id && slots[(next_print - 1) % window].done) {
        struct slot *sl = &slots[(next_print - 1) % window];
        print_json(sl->json);
        if (sl->failed && status == 0)
            status = 1;
        memset(sl, 0, sizeof *sl);
        next_print++;
    }
out:
    for (size_t i = 0; i < window; i++)
        if (slots[i].json)
            json_object_put(slots[i].json);
    free(slots);
    socle_client_free(cl);
    fflush(stdout);
    return status;
}

/* `socle batch` (clients/batch.c) builds and reads its requests with the functions above. */
static int batch_send(void *ud, struct socle_client *cl, uint64_t id, const char *s, size_t len,
                      const char **why) {
    struct req_buf b;
    if (build_request(ud, &b, s, len, why) != 0) {
        free(b.ids);
        return 1;
    }
    b.req.id = id;
    int rc = socle_client_send(cl, &b.req, NULL);
    free(b.ids);
    return rc;
}

/* An OK per-text output is written straight as text (pbjson_text: the bytes response_json's
 * object prints as, without a json object per field); every other answer goes through
 * response_json. */
static int batch_result(void *ud, const Socle__V1__Response *r, struct pbjson_buf *b,
                        bool *failed) {
    *failed = false;
    const ProtobufCMessage *out =
        r->status && r->status->code != SOCLE__V1__CODE__OK ? NULL : single_output(r);
    if (out) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(out->descriptor, "status");
        const Socle__V1__Status *st =
            f ? *(Socle__V1__Status *const *)((const char *)out + f->offset) : NULL;
        if (!st || st->code == SOCLE__V1__CODE__OK)
            return pbjson_text(out, "status", b);
    }
    struct json_object *o = response_json(ud, r, failed);
    const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE)
                      : NULL;
    int rc = s ? pbjson_buf_put(b, s, strlen(s)) : -1;
    json_object_put(o);
    return rc;
}

int main(int argc, char **argv) {
    struct cli c;
    memset(&c, 0, sizeof c);
    struct batch_opts bo;
    char **bargv = calloc((size_t)argc + 1, sizeof *bargv);
    int bargc = 0;
    int is_batch = bargv ? batch_args(argc, argv, &bo, &bargc, bargv) : 2;
    if (is_batch == 2) {
        free(bargv);
        return 2;
    }
    int rc = is_batch ? parse_args(&c, bargc, bargv) : parse_args(&c, argc, argv);
    if (rc == 0 && is_batch) {
        bo.endpoint = c.endpoint;
        bo.copts = c.copts;
        bo.window = bo.window_given ? c.window : 64;
        if (!bo.priority_given)
            c.priority = -1; /* the daemon's batch lane: interactive traffic goes first */
        rc = c.n_texts || c.file || c.tokenizer ? 2 : batch_run(&bo, batch_send, batch_result, &c);
        if (c.n_texts || c.file || c.tokenizer)
            fprintf(stderr,
                    "socle batch: documents come from --in (no TEXT, --file, --tokenizer)\n");
        free(bargv);
        free(c.texts);
        return rc;
    }
    free(bargv);
    if (rc != 0) {
        free(c.texts);
        return rc;
    }
    struct input in = {.c = &c, .f = stdin};
    if (!c.n_texts && c.file) {
        in.f = fopen(c.file, "rb");
        if (!in.f) {
            fprintf(stderr, "socle: %s: %s\n", c.file, strerror(errno));
            free(c.texts);
            return 2;
        }
    }
    rc = c.tokenizer ? run_offline(&c, &in) : run_daemon(&c, &in);
    if (in.f && in.f != stdin)
        fclose(in.f);
    free(in.line);
    free(c.texts);
    return rc;
}
