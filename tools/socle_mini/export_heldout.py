#!/usr/bin/env python3
"""Write socle-mini's held-out evaluation parts to files that socle-eval reads.

The splits come from tools/socle_mini/data.py (same code, same seeds), so these files hold
exactly the examples the model card's Python numbers were computed on, and nothing that was
used in training. Formats (docs/evaluation.md):

  ag_news.jsonl, bbc.jsonl, sst2.jsonl, allocine.jsonl   {"text": ..., "label": "<name>"}
  <same>.train.jsonl                                      the training parts, same format (for
                                                          socle-eval --baseline majority --train)
  wikiann_en.conll, wikiann_fr.conll                      word<TAB>tag, blank line between sentences
  wikiann_en.train.conll, wikiann_fr.train.conll          the training parts (--baseline memo --train)
  squad.json, piaf.json                                   SQuAD v1.1 JSON of the held-out articles
  bbc_summary.jsonl                                       {"text": body, "summary": reference}
  qa.train.json                                           SQuAD parts 1-3 + PIAF's training part
  bbc_summary.train.jsonl, bbc_summary.dev.jsonl          the training part's 1,580 + 200 articles
                                                          (socle-train --task summarize; choice)

bbc_summary.jsonl holds the same 445 held-out BBC articles as bbc.jsonl. "text" is the article
without its first line (the title: the reference summaries are drawn from the body only);
"summary" is the reference with one sentence per line, for ROUGE-Lsum. The dataset glues the
reference's sentences together without spaces ("...$10.9bn.For the full-year..."), so they are
cut where an article sentence (split at . ! ? plus an optional quote, then white space) matches
at the current position, longest first; a piece no article sentence matches ends at the next
. ! ? before a capital (22 of the 2,225 references need that).

Optional subsets (--ner-first N, --qa-every K) are written next to the full files with the
subset in their name, so a slow machine can evaluate a documented part.

Usage: /usr/bin/python3 tools/socle_mini/export_heldout.py --out tools/work/heldout
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402


def write_jsonl(path, rows, labels):
    with open(path, "w", encoding="utf-8") as f:
        for text, lab in rows:
            f.write(json.dumps({"text": text, "label": labels[lab]}, ensure_ascii=False) + "\n")
    return len(rows)


def write_conll(path, sents):
    with open(path, "w", encoding="utf-8") as f:
        for words, tags in sents:
            for w, t in zip(words, tags):
                # socle-eval reads the token from column 0 and the tag from the last column.
                if not w or "\t" in w or "\n" in w:
                    raise SystemExit("%s: word %r cannot be written as CoNLL" % (path, w))
                f.write("%s\t%s\n" % (w, t))
            f.write("\n")
    return len(sents)


def write_squad(path, articles, version):
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": version, "data": articles}, f, ensure_ascii=False)
    return sum(len(p["qas"]) for a in articles for p in a["paragraphs"])


SENT_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"'])\s+")
GLUED_END = re.compile(r"[.!?](?=[\"']?[A-Z])")


def article_sentences(body):
    out = []
    for para in body.split("\n"):
        out += [s.strip() for s in SENT_END.split(para) if s.strip()]
    return out


def split_reference(summary, body):
    """The reference's sentences, in its order (see the module doc)."""
    sents = sorted(set(article_sentences(body)), key=len, reverse=True)
    out, i = [], 0
    while i < len(summary):
        if summary[i].isspace():
            i += 1
            continue
        s = next((s for s in sents if summary.startswith(s, i)), None)
        if s is None:
            m = GLUED_END.search(summary, i)
            s = summary[i:m.end() if m else len(summary)]
        out.append(s.strip())
        i += len(s)
    if "".join(out).replace(" ", "") != summary.replace(" ", "").replace("\n", ""):
        raise SystemExit("reference split lost text")
    return out


def write_bbc_summary(path, part=1, rows=None):
    held = data._split(data.bbc_records(), 445)[part]
    # The same articles, in the same order, as bbc.jsonl (data.bbc()'s held-out part).
    if [r["article"] for r in held] != [t for t, _ in data.bbc()[part]]:
        raise SystemExit("bbc_summary: articles differ from data.bbc()'s")
    if rows is not None:
        held = held[rows]
    with open(path, "w", encoding="utf-8") as f:
        for r in held:
            title, _, body = r["article"].partition("\n")
            body = body.strip()
            ref = "\n".join(split_reference(r["summary"], body))
            f.write(json.dumps({"id": r["id"], "text": body, "summary": ref}, ensure_ascii=False) + "\n")
    return len(held)


def squad_articles():
    with open(data._p("qa/en/squad_v1.1_dev/dev-v1.1.part4of4.json"), encoding="utf-8") as f:
        return json.load(f)["data"]


def piaf_articles():
    with open(data._p("qa/fr/piaf_v1.0/piaf-v1.0.json"), encoding="utf-8") as f:
        arts = json.load(f)["data"]
    return data._split(arts, 38)[1]  # the held-out articles, data.piaf()'s own split


def every_kth_question(articles, k):
    """Keep questions 0, k, 2k... in file order (a spread over every article)."""
    out, n = [], 0
    for a in articles:
        paras = []
        for p in a["paragraphs"]:
            qas = []
            for qa in p["qas"]:
                if n % k == 0:
                    qas.append(qa)
                n += 1
            if qas:
                paras.append(dict(p, qas=qas))
        if paras:
            out.append(dict(a, paragraphs=paras))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--ner-first", type=int, default=0, help="also write the first N test sentences")
    ap.add_argument("--qa-every", type=int, default=0, help="also write every K-th held-out question")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    o = lambda n: os.path.join(a.out, n)  # noqa: E731
    counts = {}
    for name, fn, labels in (("ag_news", data.ag_news, data.AG_LABELS), ("bbc", data.bbc, data.BBC_LABELS),
                             ("sst2", data.sst2, data.SENT_LABELS),
                             ("allocine", data.allocine, data.SENT_LABELS)):
        train, test = fn()
        counts[name] = write_jsonl(o(name + ".jsonl"), test, labels)
        counts[name + ".train"] = write_jsonl(o(name + ".train.jsonl"), train, labels)
    counts["bbc_summary"] = write_bbc_summary(o("bbc_summary.jsonl"))
    # the training part (1,780 articles) for a summarize adapter: 1,580 to train on, the
    # last 200 to choose with (ROUGE on whole documents)
    counts["bbc_summary.train"] = write_bbc_summary(o("bbc_summary.train.jsonl"), 0, slice(0, 1580))
    counts["bbc_summary.dev"] = write_bbc_summary(o("bbc_summary.dev.jsonl"), 0, slice(1580, None))
    for lang in ("en", "fr"):
        train, test = data.wikiann(lang)
        counts["wikiann_" + lang] = write_conll(o("wikiann_%s.conll" % lang), test)
        counts["wikiann_%s.train" % lang] = write_conll(o("wikiann_%s.train.conll" % lang), train)
        if a.ner_first:
            write_conll(o("wikiann_%s.first%d.conll" % (lang, a.ner_first)), test[:a.ner_first])
    for name, arts, items in (("squad", squad_articles(), data.squad()[1]),
                              ("piaf", piaf_articles(), data.piaf()[1])):
        n = write_squad(o(name + ".json"), arts, "1.1")
        # The file must hold data.py's held-out questions, no more, no fewer.
        ids = [qa["id"] for ar in arts for p in ar["paragraphs"] for qa in p["qas"]]
        if ids != [it["id"] for it in items]:
            raise SystemExit("%s: exported questions differ from data.py's held-out part" % name)
        counts[name] = n
        if a.qa_every:
            sub = every_kth_question(arts, a.qa_every)
            counts["%s.every%d" % (name, a.qa_every)] = write_squad(
                o("%s.every%d.json" % (name, a.qa_every)), sub, "1.1")
    # the QA training parts (SQuAD parts 1-3, PIAF minus its 38 held-out articles) in one
    # SQuAD v1.1 file, for socle-train --task qa
    train_arts = []
    for k in range(1, 4):
        with open(data._p("qa/en/squad_v1.1_dev/dev-v1.1.part%dof4.json" % k), encoding="utf-8") as f:
            train_arts += json.load(f)["data"]
    with open(data._p("qa/fr/piaf_v1.0/piaf-v1.0.json"), encoding="utf-8") as f:
        train_arts += data._split(json.load(f)["data"], 38)[0]
    ids = {qa["id"] for ar in train_arts for p in ar["paragraphs"] for qa in p["qas"]}
    if ids != {it["id"] for it in data.squad()[0] + data.piaf()[0]}:
        raise SystemExit("qa.train: questions differ from data.py's training parts")
    counts["qa.train"] = write_squad(o("qa.train.json"), train_arts, "1.1")
    json.dump(counts, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
