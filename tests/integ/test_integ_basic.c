/* test_integ_basic.c — a real socled on ipc:// and tcp://, talked to by the C client (DEALER),
 * a raw REQ socket and the real `socle` CLI: info, tokenize (compared with HuggingFace
 * tokenizers' output for the same lines), detokenize, UNIMPLEMENTED tasks (label integ).
 * argv: socled socle */
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <json-c/json.h>

#include "tests/integ/harness.h"

static Socle__V1__Response *call_info(const char *endpoint) {
    struct socle_client *c = hx_client(endpoint, 2000, 2);
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__InfoRequest info = SOCLE__V1__INFO_REQUEST__INIT;
    req.task_case = SOCLE__V1__REQUEST__TASK_INFO;
    req.info = &info;
    Socle__V1__Response *r = NULL;
    int rc = socle_client_call(c, &req, &r);
    CHECK(rc == SOCLE_OK);
    socle_client_free(c);
    return r;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SOCLED SOCLE\n", argv[0]);
        return 2;
    }
    const char *socled = argv[1];
    char *socle = argv[2];
    struct hx_daemon d;
    if (hx_start(&d, socled, NULL) != 0) {
        int st;
        hx_stop(&d, 5000, &st);
        return 1;
    }

    /* info over both transports */
    const char *eps[2] = {d.ipc, d.tcp};
    for (int t = 0; t < 2; t++) {
        Socle__V1__Response *r = call_info(eps[t]);
        CHECK(r && r->status && r->status->code == SOCLE__V1__CODE__OK);
        CHECK(r && r->result_case == SOCLE__V1__RESPONSE__RESULT_INFO);
        if (r && r->info) {
            Socle__V1__InfoResult *i = r->info;
            CHECK(strcmp(i->protocol, "socle/1") == 0);
            CHECK(i->version[0] != '\0');
            CHECK(i->tokenizer && strstr(i->tokenizer->name, "WordPiece"));
            CHECK(i->tokenizer && i->tokenizer->vocab_size == 30522); /* bert-base-uncased */
            CHECK(i->n_endpoints == 2 && strcmp(i->endpoints[0], d.ipc) == 0 &&
                  strcmp(i->endpoints[1], d.tcp) == 0);
            bool has_tok = false;
            for (size_t k = 0; k < i->n_tasks; k++)
                has_tok |= strcmp(i->tasks[k], "tokenize") == 0;
            CHECK(has_tok);
            CHECK(i->limits && i->limits->max_frame_bytes == 16u << 20);
        }
        socle_response_free(r);
    }

    /* tokenize: 40 corpus lines in ONE request over tcp, against HF tokenizers' output */
    char path[512], epath[512];
    char *corpus = hx_read_file(hx_data(path, sizeof path, "corpus40.txt"));
    CHECK(corpus != NULL);
    if (corpus) {
        char *lines[64];
        size_t n = hx_split_lines(corpus, lines, 64);
        CHECK(n == 40);
        ProtobufCBinaryData texts[64];
        for (size_t i = 0; i < n; i++)
            texts[i] = (ProtobufCBinaryData){strlen(lines[i]), (uint8_t *)lines[i]};
        Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
        Socle__V1__TokenizeRequest t = SOCLE__V1__TOKENIZE_REQUEST__INIT;
        t.n_texts = n;
        t.texts = texts;
        req.task_case = SOCLE__V1__REQUEST__TASK_TOKENIZE;
        req.tokenize = &t;
        struct socle_client *c = hx_client(d.tcp, 5000, 1);
        Socle__V1__Response *r = NULL;
        CHECK(socle_client_call(c, &req, &r) == SOCLE_OK);
        CHECK(r && r->status->code == SOCLE__V1__CODE__OK && r->tokenize &&
              r->tokenize->n_encodings == n);
        if (r && r->tokenize && r->tokenize->n_encodings == n) {
            /* rebuild the JSON lines and compare like the CLI output */
            char *buf = NULL;
            size_t len = 0;
            FILE *m = open_memstream(&buf, &len);
            uint64_t total = 0;
            for (size_t i = 0; i < n; i++) {
                const Socle__V1__Encoding *e = r->tokenize->encodings[i];
                struct json_object *o = json_object_new_object();
                struct json_object *ids = json_object_new_array(), *toks = json_object_new_array(),
                                   *offs = json_object_new_array();
                CHECK(e->length == e->n_ids && e->n_offsets == 2 * e->n_ids &&
                      e->n_cp_offsets == 2 * e->n_ids);
                total += e->length;
                for (size_t k = 0; k < e->n_ids; k++) {
                    json_object_array_add(ids, json_object_new_int(e->ids[k]));
                    json_object_array_add(toks, json_object_new_string(e->tokens[k]));
                    struct json_object *p = json_object_new_array();
                    json_object_array_add(p, json_object_new_int64(e->offsets[2 * k]));
                    json_object_array_add(p, json_object_new_int64(e->offsets[2 * k + 1]));
                    json_object_array_add(offs, p);
                }
                json_object_object_add(o, "ids", ids);
                json_object_object_add(o, "tokens", toks);
                json_object_object_add(o, "offsets", offs);
                fprintf(m, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
            }
            fclose(m);
            CHECK(hx_compare_jsonl(buf,
                                   hx_data(epath, sizeof epath, "corpus40.bert-base-uncased.jsonl"),
                                   40) == 0);
            CHECK(r->n_tokens == total);
            CHECK(r->timing && r->timing->total_us >= r->timing->tokenize_us);
            free(buf);
        }
        socle_response_free(r);
        socle_client_free(c);
        free(corpus);
    }

    /* the CLI over ipc: --file, with and without special tokens, and pairs */
    char *out = NULL;
    hx_data(path, sizeof path, "corpus40.txt");
    char *a1[] = {socle, "--endpoint", d.ipc, "tokenize", "--file", path, NULL};
    CHECK(hx_run(a1, NULL, &out) == 0);
    CHECK(out &&
          hx_compare_jsonl(out, hx_data(epath, sizeof epath, "corpus40.bert-base-uncased.jsonl"),
                           40) == 0);
    free(out);
    char *a2[] = {socle,      "tokenize", "--no-special", "--endpoint", d.tcp,
                  "--window", "4",        "--file",       path,         NULL};
    CHECK(hx_run(a2, NULL, &out) == 0);
    CHECK(out &&
          hx_compare_jsonl(
              out, hx_data(epath, sizeof epath, "corpus40.bert-base-uncased.nospecial.jsonl"),
              40) == 0);
    free(out);
    char *pairs = hx_read_file(hx_data(path, sizeof path, "pairs10.txt"));
    char *a3[] = {socle, "--endpoint", d.ipc, "tokenize", "--pair", NULL};
    CHECK(pairs && hx_run(a3, pairs, &out) == 0); /* from stdin */
    CHECK(out &&
          hx_compare_jsonl(out, hx_data(epath, sizeof epath, "pairs10.bert-base-uncased.jsonl"),
                           10) == 0);
    free(out);
    free(pairs);

    /* CLI: arguments as inputs, one JSON object each, in order; count mode */
    char *a4[] = {socle,     "--endpoint",  d.ipc,     "tokenize",
                  "--count", "hello world", "a b c d", NULL};
    CHECK(hx_run(a4, NULL, &out) == 0);
    CHECK(out && strcmp(out, "{\"n_tokens\":4}\n{\"n_tokens\":6}\n") == 0);
    free(out);

    /* detokenize: [CLS] hello world [SEP] without the specials */
    char *a5[] = {socle, "--endpoint", d.ipc, "detokenize", "--skip-special", "101 7592 2088 102",
                  NULL};
    CHECK(hx_run(a5, NULL, &out) == 0);
    CHECK(out && strcmp(out, "{\"text\":\"hello world\"}\n") == 0);
    free(out);

    /* invalid UTF-8: the daemon's validator and the tokenizer's (offline CLI) name the same
     * byte for every kind of bad sequence (consistency required by issue 3) */
    {
        static const char bad[] = "abc\xC3(xyz\ncaf\xC3\xA9 \xE2\x82\n\xED\xA0\x80\n"
                                  "ab\xF0\x9F\x98x\n\xC0\xAF\nz\xF4\x90\x80\x80\nok\x80\n";
        char tokp[512];
        hx_data(tokp, sizeof tokp, "bert-base-uncased.tokenizer.json");
        char *b1[] = {socle, "tokenize", "--tokenizer", tokp, NULL};
        char *b2[] = {socle, "tokenize", "--endpoint", d.ipc, NULL};
        char *off = NULL, *on = NULL;
        CHECK(hx_run(b1, bad, &off) == 1);
        CHECK(hx_run(b2, bad, &on) == 1);
        /* the daemon prefixes the text index: drop "text 0: " before comparing */
        char *w = on;
        for (char *p = on; p && *p;) {
            if (strncmp(p, "text 0: ", 8) == 0)
                p += 8;
            else
                *w++ = *p++;
        }
        if (w)
            *w = '\0';
        CHECK(off && on && strcmp(off, on) == 0);
        CHECK(off && strstr(off, "at byte 3") && strstr(off, "at byte 6") &&
              strstr(off, "at byte 1"));
        free(off);
        free(on);
    }

    /* info through the CLI is one JSON object */
    char *a6[] = {socle, "info", "--endpoint", d.tcp, NULL};
    CHECK(hx_run(a6, NULL, &out) == 0);
    struct json_object *info = out ? json_tokener_parse(out) : NULL;
    struct json_object *proto = NULL;
    CHECK(info && json_object_object_get_ex(info, "protocol", &proto) &&
          strcmp(json_object_get_string(proto), "socle/1") == 0);
    json_object_put(info);
    free(out);

    /* a task that is not wired answers a clear status; the CLI exits 1 with an error object */
    char *a7[] = {socle, "--endpoint", d.ipc, "classify", "great movie", NULL};
    CHECK(hx_run(a7, NULL, &out) == 1);
    CHECK(out && strstr(out, "\"error\"") && strstr(out, "UNIMPLEMENTED"));
    free(out);

    /* a REQ socket works too: it adds the empty delimiter itself */
    {
        void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_REQ);
        int zero = 0, tmo = 5000;
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
        zmq_connect(s, d.ipc);
        const uint8_t info_req[] = {0x08, 0x05, 0x8a, 0x01, 0x00}; /* Request{id 5, info{}} */
        zmq_send(s, "socle/1", 7, ZMQ_SNDMORE);
        zmq_send(s, info_req, sizeof info_req, 0);
        char tag[16];
        int n = zmq_recv(s, tag, sizeof tag, 0);
        CHECK(n == 7 && memcmp(tag, "socle/1", 7) == 0);
        zmq_msg_t m;
        zmq_msg_init(&m);
        CHECK(zmq_msg_recv(&m, s, 0) > 0);
        Socle__V1__Response *r = (Socle__V1__Response *)protobuf_c_message_unpack(
            &socle__v1__response__descriptor, NULL, zmq_msg_size(&m), zmq_msg_data(&m));
        CHECK(r && r->id == 5 && r->result_case == SOCLE__V1__RESPONSE__RESULT_INFO);
        socle_response_free(r);
        zmq_msg_close(&m);
        zmq_close(s);
        zmq_ctx_term(ctx);
    }

    int st = -1;
    CHECK(hx_stop(&d, 10000, &st) == 0 && st == 0);
    if (hx_failures)
        fprintf(stderr, "%d check(s) failed\n", hx_failures);
    else
        printf("test_integ_basic: all checks passed\n");
    return hx_failures ? 1 : 0;
}
