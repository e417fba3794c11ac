#!/usr/bin/python3
"""Step 3 of socle-mini: install the trained bundle as models/socle-mini and write the golden
reference outputs; print the demo predictions (the NER sanity sentence among them).

    cat OUT/bundle.tar.* | tar xf - -C /tmp/bundle
    /usr/bin/python3 tools/socle_mini/finalize.py --bundle /tmp/bundle/socle-mini \
        --spm tools/work/spm.model --model-dir models/socle-mini

reference.json holds what PyTorch (float32 arithmetic on CPU) computes from the shipped
float16 weights: ids, last hidden state of tokens 0..3, pooler output, every adapter's
logits. socle's golden test compares its C engine against these numbers (1e-4).
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
import tok  # noqa: E402
from model import BertModel, Head  # noqa: E402

SENTENCES = [
    "Emmanuel Macron a visité Lyon avec Angela Merkel.",
    "The stock market fell sharply after the central bank raised interest rates.",
    "Ce film est une pure merveille, je le recommande à tous !",
    "Apple unveiled a new iPhone in Cupertino on Tuesday.",
    "Le match de football entre Marseille et Paris s'est terminé sur un score nul.",
]
QA_PAIRS = [
    ("Who visited Lyon?", "Emmanuel Macron visited Lyon with Angela Merkel on Monday."),
    ("Quelle ville Emmanuel Macron a-t-il visitée ?", "Emmanuel Macron a visité Lyon avec Angela Merkel."),
]


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    m = BertModel(cfg)
    sd = {k: torch.from_numpy(v.astype(np.float32)) for k, v in st.load(os.path.join(model_dir, "model.safetensors")).items()}
    m.load_state_dict(sd)
    m.eval()
    heads = {}
    for name in sorted(os.listdir(os.path.join(model_dir, "adapters"))):
        d = os.path.join(model_dir, "adapters", name)
        with open(os.path.join(d, "adapter.json")) as f:
            aj = json.load(f)
        w = {k: torch.from_numpy(v.astype(np.float32)) for k, v in st.load(os.path.join(d, "head.safetensors")).items()}
        mlp = aj.get("head") == "mlp"
        h = Head(cfg["hidden_size"], w["out.weight"].shape[0], mlp, aj.get("activation", "tanh"),
                 hidden=w["dense.weight"].shape[0] if mlp else None)
        h.load_state_dict(w)
        h.eval()
        heads[name] = (aj, h)
    return cfg, m, heads


def rnd(x):
    return [float("%.7g" % v) for v in np.asarray(x, dtype=np.float64).ravel()]


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--spm", default="tools/work/spm.model")
    ap.add_argument("--model-dir", default="models/socle-mini")
    a = ap.parse_args()
    torch.set_num_threads(1)
    md = a.model_dir
    if os.path.abspath(a.bundle) != os.path.abspath(md):
        os.makedirs(md, exist_ok=True)
        for f in ("config.json", "model.safetensors", "tokenizer.json"):
            shutil.copy(os.path.join(a.bundle, f), os.path.join(md, f))
        if os.path.exists(os.path.join(md, "adapters")):
            shutil.rmtree(os.path.join(md, "adapters"))
        shutil.copytree(os.path.join(a.bundle, "adapters"), os.path.join(md, "adapters"))
    cfg, m, heads = load(md)
    tk = tok.Tokenizer(a.spm)
    ref = {"model": "socle-mini",
           "how": "PyTorch %s, CPU, float32 arithmetic on the float16 weights of model.safetensors and "
                  "adapters/*/head.safetensors (tools/socle_mini/finalize.py)" % torch.__version__,
           "tolerance": 1e-4,
           "hidden_tokens": [0, 1, 2, 3],
           "sentences": [], "qa": []}
    print("== demo predictions ==")
    for s in SENTENCES:
        ids = [tok.BOS] + tk.encode(s) + [tok.EOS]
        x = torch.tensor([ids])
        h, pooled = m(x)
        e = {"text": s, "ids": ids, "type_ids": [0] * len(ids),
             "last_hidden": [rnd(h[0, i]) for i in range(4)], "pooler": rnd(pooled[0]), "adapters": {}}
        for name, (aj, hd) in heads.items():
            if aj["task"] == "classify":
                lg = hd(h[0, 0])
                e["adapters"][name] = rnd(lg)
                p = torch.softmax(lg, -1)
                print("%-10s %-40s %s (%.2f)" % (name, s[:40], aj["labels"][int(p.argmax())], float(p.max())))
            elif aj["task"] == "summarize":
                # the summarizer encodes each sentence alone and pools the mean of its rows
                # (specials included); salience = P("summary")
                lg = hd(h[0].mean(0))
                e["adapters"][name] = rnd(lg)
                p = torch.softmax(lg, -1)[aj["labels"].index("summary")]
                print("%-10s %-40s salience %.3f" % (name[:10], s[:40], float(p)))
            elif aj["task"] == "ner":
                lg = hd(h[0])
                e["adapters"][name] = [rnd(r) for r in lg]
                lab = [aj["labels"][i] for i in lg.argmax(-1).tolist()]
                pcs = tk.pieces(ids[1:-1])
                print("ner        " + " ".join("%s/%s" % (p, l) for p, l in zip(pcs, lab[1:-1]) if l != "O"))
        ref["sentences"].append(e)
    aj, qh = heads["qa"]
    for q, c in QA_PAIRS:
        qi, ci = tk.encode(q), tk.encode(c)
        ids = [tok.BOS] + qi + [tok.EOS, tok.EOS] + ci + [tok.EOS]
        tt = [0] * (len(qi) + 2) + [1] * (len(ci) + 2)
        h, _ = m(torch.tensor([ids]), torch.tensor([tt]))
        lg = qh(h[0])
        ref["qa"].append({"question": q, "context": c, "ids": ids, "type_ids": tt,
                          "start_logits": rnd(lg[:, 0]), "end_logits": rnd(lg[:, 1])})
        off = len(qi) + 3
        s_l, e_l = lg[off:-1, 0], lg[off:-1, 1]
        sc = s_l[:, None] + e_l[None, :]
        n = sc.shape[0]
        band = torch.triu(torch.ones(n, n, dtype=torch.bool)) & ~torch.triu(torch.ones(n, n, dtype=torch.bool), 30)
        sc = sc.masked_fill(~band, -1e9)
        s, e = divmod(int(sc.argmax()), n)
        print("qa         %s -> %s" % (q, tok.Tokenizer.__name__ and "".join(tk.pieces(ci[s:e + 1])).replace("\u2581", " ").strip()))
    with open(os.path.join(md, "reference.json"), "w") as f:
        json.dump(ref, f, ensure_ascii=False)
        f.write("\n")
    print("wrote", os.path.join(md, "reference.json"))


if __name__ == "__main__":
    main()
