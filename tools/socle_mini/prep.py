#!/usr/bin/python3
"""Step 1 of socle-mini: train the tokenizer and pre-tokenize every training set.

    /usr/bin/python3 tools/socle_mini/prep.py --work tools/work [--stage spm|data|all]

Writes <work>/spm.model, <work>/tokenizer.json and <work>/devdata/ (token ids as numpy
arrays, task examples as gzipped JSON): the only input train.py needs, so training runs
on a machine without ../shared or sentencepiece. Deterministic (fixed seeds).
"""
import argparse
import gzip
import json
import os
import random
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import tok  # noqa: E402

VOCAB_SIZE = 16000


def task_train_texts():
    texts = []
    for fn in (data.ag_news, data.bbc, data.sst2, data.allocine):
        texts += [t for t, _ in fn()[0]]
    for lang in ("en", "fr"):
        texts += [" ".join(w) for w, _ in data.wikiann(lang)[0]]
    for fn in (data.squad, data.piaf):
        tr = fn()[0]
        texts += sorted(set(x["context"] for x in tr))
        texts += [x["question"] for x in tr]
    return texts


def stage_spm(work):
    rng = random.Random(1)
    lines = []
    for _, paras in data.corpus_documents():
        lines += paras
    lines += task_train_texts()
    # Long paragraphs are cut at sentence ends so spm's line length limit drops none of them.
    out = []
    for l in lines:
        l = tok.pretokenized(l)
        while len(l) > 2000:
            cut = l.rfind(". ", 0, 2000)
            cut = cut + 1 if cut > 200 else 2000
            out.append(l[:cut].strip())
            l = l[cut:].strip()
        if l:
            out.append(l)
    rng.shuffle(out)
    path = os.path.join(work, "spm_input.txt")
    with open(path, "w", encoding="utf-8") as f:
        for l in out:
            f.write(l + "\n")
    print("spm input: %d lines" % len(out), flush=True)
    t0 = time.time()
    tok.train(path, os.path.join(work, "spm"), VOCAB_SIZE, 300000)
    print("spm trained in %.0f s" % (time.time() - t0), flush=True)
    tok.export_tokenizer_json(os.path.join(work, "spm.model"), os.path.join(work, "tokenizer.json"))


def enc_cls(tk, rows, max_len):
    ids = tk.encode_batch([t for t, _ in rows])
    return [{"ids": i[:max_len], "label": l} for i, (_, l) in zip(ids, rows)]


def enc_ner(tk, sents, labels):
    out = []
    for words, tags in sents:
        ids, tl, first = [], [], []
        for w, t in zip(words, tags):
            wi = tk.encode(w)
            if not wi:
                first.append(-1)
                continue
            first.append(len(ids))
            ids += wi
            # continuation pieces carry I-TYPE so every piece has a trained label
            cont = "I-" + t[2:] if t != "O" else "O"
            tl += [labels.index(t)] + [labels.index(cont)] * (len(wi) - 1)
        out.append({"ids": ids, "tags": tl, "first": first})
    return out


def enc_qa(tk, items):
    """Context pieces with code point offsets; question ids; answer spans in pieces."""
    ctx_cache = {}
    out = []
    for it in items:
        ctx = it["context"]
        if ctx not in ctx_cache:
            ids, offs = [], []
            pos = 0
            for w in ctx.split():
                st = ctx.index(w, pos)
                wi, wo = tk.word_pieces(w)
                ids += wi
                offs += [(st + a, st + b) for a, b in wo]
                pos = st + len(w)
            ctx_cache[ctx] = (ids, offs)
        ids, offs = ctx_cache[ctx]
        spans = []
        for text, start in it["answers"]:
            end = start + len(text)
            s = [k for k, (a, b) in enumerate(offs) if b > start and a < end]
            if s:
                spans.append((s[0], s[-1]))
        out.append({"id": it["id"], "q": tk.encode(it["question"])[:64], "cid": ctx, "spans": spans,
                    "answers": [a for a, _ in it["answers"]]})
    ctxs = {}
    for it in out:
        c = it.pop("cid")
        if c not in ctxs:
            ctxs[c] = len(ctxs)
        it["ctx"] = ctxs[c]
    contexts = [None] * len(ctxs)
    for c, k in ctxs.items():
        ids, offs = ctx_cache[c]
        contexts[k] = {"text": c, "ids": ids, "offs": offs}
    return {"items": out, "contexts": contexts}


def stage_data(work):
    tk = tok.Tokenizer(os.path.join(work, "spm.model"))
    dd = os.path.join(work, "devdata")
    os.makedirs(dd, exist_ok=True)
    t0 = time.time()
    # pretraining stream: every novel, then every task's training texts; </s> between paragraphs
    stream = []
    docs = [p for _, p in data.corpus_documents()] + [task_train_texts()]
    for paras in docs:
        for ids in tk.encode_batch(paras):
            stream.extend(ids)
            stream.append(tok.EOS)
    arr = np.asarray(stream, dtype=np.uint16)
    np.save(os.path.join(dd, "mlm.npy"), arr)
    print("mlm stream: %d tokens (%.0f s)" % (len(arr), time.time() - t0), flush=True)

    tasks = {}
    for name, fn, ml in (("ag_news", data.ag_news, 128), ("bbc", data.bbc, 256),
                         ("sst2", data.sst2, 128), ("allocine", data.allocine, 256)):
        tr, te = fn()
        tasks[name] = {"train": enc_cls(tk, tr, ml), "test": enc_cls(tk, te, ml)}
    for lang in ("en", "fr"):
        tr, te = data.wikiann(lang)
        tasks["wikiann_" + lang] = {"train": enc_ner(tk, tr, data.NER_LABELS),
                                    "test": enc_ner(tk, te, data.NER_LABELS),
                                    "test_words": [[w, t] for w, t in te]}
    for name, fn in (("squad", data.squad), ("piaf", data.piaf)):
        tr, te = fn()
        tasks[name] = {"train": enc_qa(tk, tr), "test": enc_qa(tk, te)}
    # raw texts for the bag-of-words baselines
    raw = {}
    for name, fn in (("ag_news", data.ag_news), ("bbc", data.bbc), ("sst2", data.sst2),
                     ("allocine", data.allocine)):
        tr, te = fn()
        raw[name] = {"train": tr, "test": te}
    with gzip.open(os.path.join(dd, "tasks.json.gz"), "wt", encoding="utf-8") as f:
        json.dump({"tasks": tasks, "raw": raw, "held_out": data.HELD_OUT,
                   "labels": {"ag_news": data.AG_LABELS, "bbc": data.BBC_LABELS,
                              "sentiment": data.SENT_LABELS, "ner": data.NER_LABELS}}, f)
    import shutil
    shutil.copy(os.path.join(work, "tokenizer.json"), os.path.join(dd, "tokenizer.json"))
    print("tasks encoded (%.0f s)" % (time.time() - t0), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="tools/work")
    ap.add_argument("--stage", default="all", choices=["spm", "data", "all"])
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    if a.stage in ("spm", "all"):
        stage_spm(a.work)
    if a.stage in ("data", "all"):
        stage_data(a.work)


if __name__ == "__main__":
    main()
