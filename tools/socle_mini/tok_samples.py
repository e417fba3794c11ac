#!/usr/bin/python3
"""Write tokenizer comparison samples: {"text", "ids"} per line, ids from tok.Tokenizer.

    /usr/bin/python3 tools/socle_mini/tok_samples.py SPM_MODEL OUT_JSONL
Lines: the 15 edge-case lines of ../shared/data/tokenizers/_samples/sample_en_fr.txt plus
300 lines drawn (seed 3) from the corpora and task datasets.
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import tok  # noqa: E402


def main():
    tk = tok.Tokenizer(sys.argv[1])
    rng = random.Random(3)
    texts = []
    with open(os.path.join(data.shared_dir(), "tokenizers/_samples/sample_en_fr.txt"), encoding="utf-8") as f:
        texts += [l.rstrip("\n") for l in f]
    pool = []
    for _, paras in data.corpus_documents():
        pool += rng.sample(paras, 3)
    for fn in (data.ag_news, data.sst2, data.allocine):
        pool += [t for t, _ in rng.sample(fn()[1], 20)]
    pool += [r["article"] for r in rng.sample(data.bbc_records(), 10)]
    for fn in (data.squad, data.piaf):
        te = fn()[1]
        pool += [x["question"] for x in rng.sample(te, 20)] + [x["context"] for x in rng.sample(te, 10)]
    for lang in ("en", "fr"):
        pool += [" ".join(w) for w, _ in rng.sample(data.wikiann(lang)[1], 20)]
    texts += pool[:300]
    texts += ["  two leading spaces", "trailing  ", "tab\there", "Emmanuel Macron a visité Lyon avec Angela Merkel."]
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t, "ids": tk.encode(t)}, ensure_ascii=False) + "\n")
    print(len(texts), "samples")


if __name__ == "__main__":
    main()
