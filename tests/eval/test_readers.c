/* test_readers.c — data readers on the small files of tests/data/eval/.
 * Expected values are read off the fixture files by hand (see each comment).
 */
#include "tools/eval/readers.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/check.h"

#define D "tests/data/eval/"

static char g_err[512];

static void test_cls(void) {
    struct ev_cls_data d;
    struct ev_cls_read_opts o = {0};
    /* cls.jsonl: 3 records, blank and whitespace-only lines skipped, integer label */
    CHECK(ev_cls_read(D "cls.jsonl", &o, &d, g_err, sizeof(g_err)) == EV_OK);
    CHECK(d.n == 3);
    if (d.n == 3) {
        CHECK(strcmp(d.ex[0].text, "Great film") == 0 && strcmp(d.ex[0].label, "pos") == 0);
        CHECK(d.ex[1].line == 3);
        CHECK(strcmp(d.ex[2].text, "Caf\xc3\xa9 ok") == 0 && strcmp(d.ex[2].label, "3") == 0);
    }
    ev_cls_data_clear(&d);

    /* cls.csv: header label,title,description; CRLF; quoted comma, "" escape and an
     * embedded newline; trailing empty line. Text = title + " " + description. */
    o.text_field = "title,description";
    CHECK(ev_cls_read(D "cls.csv", &o, &d, g_err, sizeof(g_err)) == EV_OK);
    CHECK(d.n == 2);
    if (d.n == 2) {
        CHECK(strcmp(d.ex[0].label, "3") == 0);
        CHECK(strcmp(d.ex[0].text, "Fears, for pension He said \"no\"\r\nthen left") == 0);
        CHECK(strcmp(d.ex[1].text, "Plain text here") == 0);
        CHECK(d.ex[1].line == 4); /* record 1 spans lines 2-3 */
    }
    ev_cls_data_clear(&d);

    /* TSV without header: label column 0, text column 1 by default */
    struct ev_cls_read_opts o2 = {0};
    o2.no_header = true;
    CHECK(ev_cls_read(D "cls_noheader.tsv", &o2, &d, g_err, sizeof(g_err)) == EV_OK);
    CHECK(d.n == 2 && strcmp(d.ex[0].text, "c'est bien .") == 0 && strcmp(d.ex[1].label, "0") == 0);
    ev_cls_data_clear(&d);

    /* missing label: error naming line 2, unless label_optional */
    struct ev_cls_read_opts o3 = {0};
    CHECK(ev_cls_read(D "cls_nolabel.jsonl", &o3, &d, g_err, sizeof(g_err)) == EV_EFORMAT);
    CHECK(strstr(g_err, ":2:") != NULL);
    o3.label_optional = true;
    CHECK(ev_cls_read(D "cls_nolabel.jsonl", &o3, &d, g_err, sizeof(g_err)) == EV_OK);
    CHECK(d.n == 2 && d.ex[1].label == NULL);
    ev_cls_data_clear(&d);

    CHECK(ev_cls_read(D "cls_badjson.jsonl", &o3, &d, g_err, sizeof(g_err)) == EV_EFORMAT);
    /* an unterminated quoted CSV field swallows the rest of the file: refused, with the
     * line where the record starts */
    struct ev_cls_read_opts o5 = {0};
    CHECK(ev_cls_read(D "cls_badquote.csv", &o5, &d, g_err, sizeof(g_err)) == EV_EFORMAT);
    CHECK(strstr(g_err, "cls_badquote.csv:2: unterminated quoted field") != NULL);
    CHECK(strstr(g_err, ":2:") != NULL);
    CHECK(ev_cls_read(D "does_not_exist.jsonl", &o3, &d, g_err, sizeof(g_err)) == EV_EIO);

    /* size limits: the file (116 bytes) over a 10-byte cap; a line over 8 bytes */
    struct ev_cls_read_opts o4 = {0};
    o4.limits.max_bytes = 10;
    CHECK(ev_cls_read(D "cls.jsonl", &o4, &d, g_err, sizeof(g_err)) == EV_ELIMIT);
    o4.limits.max_bytes = 0;
    o4.limits.max_line = 8;
    CHECK(ev_cls_read(D "cls.jsonl", &o4, &d, g_err, sizeof(g_err)) == EV_ELIMIT);
    CHECK(strstr(g_err, ":1:") != NULL);
}

static void test_conll(void) {
    struct ev_ner_data d;
    struct ev_conll_opts o = ev_conll_opts_default();
    /* WikiANN: "fr:" stripped (auto), "fr::" -> ":" ; 2 sentences of 3 and 1 tokens */
    CHECK(ev_conll_read(D "ner_wikiann.txt", &o, &d, g_err, sizeof(g_err)) == EV_OK);
    CHECK(d.n == 2);
    if (d.n == 2) {
        CHECK(d.s[0].n == 3 && d.s[1].n == 1);
        CHECK(strcmp(d.s[0].tokens[0], "Saxifrage") == 0);
        CHECK(strcmp(d.s[0].tokens[2], ":") == 0);
        CHECK(strcmp(d.s[0].tags[1], "I-LOC") == 0);
        CHECK(strcmp(d.s[1].tokens[0], "Jean") == 0 && d.s[1].line == 5);
    }
    ev_ner_data_clear(&d);
    o.no_strip = true;
    CHECK(ev_conll_read(D "ner_wikiann.txt", &o, &d, g_err, sizeof(g_err)) == EV_OK);
    CHECK(d.n == 2 && strcmp(d.s[0].tokens[0], "fr:Saxifrage") == 0);
    ev_ner_data_clear(&d);

    /* WNUT-17: -DOCSTART- skipped, a line holding one TAB separates sentences */
    o = ev_conll_opts_default();
    CHECK(ev_conll_read(D "ner_wnut.conll", &o, &d, g_err, sizeof(g_err)) == EV_OK);
    CHECK(d.n == 2);
    if (d.n == 2) {
        CHECK(d.s[0].n == 3 && strcmp(d.s[0].tokens[0], "@paul") == 0);
        CHECK(strcmp(d.s[0].tags[2], "I-location") == 0);
        CHECK(d.s[1].n == 1);
    }
    ev_ner_data_clear(&d);

    CHECK(ev_conll_read(D "ner_badcols.conll", &o, &d, g_err, sizeof(g_err)) == EV_EFORMAT);
    CHECK(strstr(g_err, ":2:") != NULL);
    CHECK(ev_conll_read(D "ner_badtag.conll", &o, &d, g_err, sizeof(g_err)) == EV_EFORMAT);
    CHECK(strstr(g_err, "X-PER") != NULL);
}

static void test_spans(void) {
    struct ev_span_data d;
    CHECK(ev_spans_read(D "ner_spans.jsonl", NULL, &d, g_err, sizeof(g_err)) == EV_OK);
    CHECK(d.n == 2);
    if (d.n == 2) {
        /* "Émile vit à Paris." = 18 code points; Paris at [12, 17) */
        CHECK(d.d[0].n_cp == 18 && d.d[0].n == 2);
        CHECK(d.d[0].spans[1].start == 12 && d.d[0].spans[1].end == 17);
        CHECK(strcmp(d.d[0].spans[1].label, "LOC") == 0);
        CHECK(d.d[1].n == 0 && d.d[1].line == 3);
    }
    /* as words: "Émile vit à Paris." -> Émile/B-PER vit/O à/O Paris./B-LOC (the LOC span
     * [12,17) ends inside the word "Paris." [12,18)); "Rien." -> O */
    struct ev_ner_data w;
    CHECK(ev_spans_to_words(&d, &w) == EV_OK);
    CHECK(w.n == 2);
    if (w.n == 2 && w.s[0].n == 4) {
        CHECK(strcmp(w.s[0].tokens[0], "\xc3\x89mile") == 0 &&
              strcmp(w.s[0].tags[0], "B-PER") == 0);
        CHECK(strcmp(w.s[0].tags[1], "O") == 0 && strcmp(w.s[0].tags[2], "O") == 0);
        CHECK(strcmp(w.s[0].tokens[3], "Paris.") == 0 && strcmp(w.s[0].tags[3], "B-LOC") == 0);
        CHECK(w.s[1].n == 1 && strcmp(w.s[1].tags[0], "O") == 0);
    } else {
        CHECK(!"4 words expected in sentence 1");
    }
    ev_ner_data_clear(&w);
    ev_span_data_clear(&d);
    CHECK(ev_spans_read(D "ner_spans_bad.jsonl", NULL, &d, g_err, sizeof(g_err)) == EV_EFORMAT);
}

static void test_squad(void) {
    struct ev_qa_data d;
    CHECK(ev_squad_read(D "squad_v1.json", NULL, &d, g_err, sizeof(g_err)) == EV_OK);
    CHECK(d.n == 2 && d.n_contexts == 1 && strcmp(d.version, "1.1") == 0);
    if (d.n == 2) {
        /* "Paris" at code point 14 (byte 15: É is 2 bytes) and "to Paris" at 11: ok;
         * "1990" claimed at 3 but is at 23: one bad offset, answer still kept. */
        CHECK(d.q[0].n_answers == 2 && d.q[0].offset_ok[0] && d.q[0].offset_ok[1]);
        CHECK(d.q[1].n_answers == 1 && !d.q[1].offset_ok[0]);
        CHECK(d.n_bad_offsets == 1);
        CHECK(strcmp(d.q[1].answers[0], "1990") == 0);
    }
    ev_qa_data_clear(&d);
    CHECK(ev_squad_read(D "squad_v2.json", NULL, &d, g_err, sizeof(g_err)) == EV_OK);
    CHECK(d.n == 2 && d.q[1].impossible && d.q[1].n_answers == 0 && !d.q[0].impossible);
    ev_qa_data_clear(&d);
    CHECK(ev_squad_read(D "cls.jsonl", NULL, &d, g_err, sizeof(g_err)) == EV_EFORMAT);

    struct ev_kv_map m;
    CHECK(ev_predictions_read(D "squad_v1_pred.json", NULL, &m, g_err, sizeof(g_err)) == EV_OK);
    CHECK(m.n == 2);
    CHECK(ev_kv_get(&m, "q2") && strcmp(ev_kv_get(&m, "q2"), "in 1990") == 0);
    CHECK(ev_kv_get(&m, "zz") == NULL);
    ev_kv_map_clear(&m);
}

static void test_labels(void) {
    struct ev_labels l = {0};
    CHECK(ev_labels_find(&l, "b", true) == 0);
    CHECK(ev_labels_find(&l, "a", true) == 1);
    CHECK(ev_labels_find(&l, "b", true) == 0);
    CHECK(ev_labels_find(&l, "c", false) == -1);
    ev_labels_sort(&l);
    CHECK(strcmp(l.names[0], "a") == 0);
    ev_labels_clear(&l);
}

/* A 2 GiB file (sparse: no disk used) is refused before any read, by every
 * reader, with a message naming the size and the limit. */
static void test_huge_file(void) {
    char path[] = "/tmp/socle_eval_huge_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(ftruncate(fd, (off_t)2 << 30) == 0);
    close(fd);
    struct ev_cls_data c;
    struct ev_cls_read_opts o = {0};
    o.format = EV_CLS_JSONL;
    CHECK(ev_cls_read(path, &o, &c, g_err, sizeof(g_err)) == EV_ELIMIT);
    CHECK(strstr(g_err, "2147483648 bytes exceeds the limit") != NULL);
    struct ev_ner_data n;
    struct ev_conll_opts co = ev_conll_opts_default();
    CHECK(ev_conll_read(path, &co, &n, g_err, sizeof(g_err)) == EV_ELIMIT);
    struct ev_qa_data q;
    CHECK(ev_squad_read(path, NULL, &q, g_err, sizeof(g_err)) == EV_ELIMIT);
    struct ev_span_data sp;
    CHECK(ev_spans_read(path, NULL, &sp, g_err, sizeof(g_err)) == EV_ELIMIT);
    unlink(path);
}

int main(void) {
    test_huge_file();
    test_cls();
    test_conll();
    test_spans();
    test_squad();
    test_labels();
    if (g_fail) {
        fprintf(stderr, "%d check(s) failed\n", g_fail);
        return 1;
    }
    printf("test_readers: all checks passed\n");
    return 0;
}
