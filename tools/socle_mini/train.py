#!/usr/bin/env python3
"""Step 2 of socle-mini: MLM pretraining, a frozen-backbone head probe, joint multi-task
fine-tuning, evaluation on the held-out splits and export, in one time-budgeted run.

    python3 tools/socle_mini/train.py --data tools/work/devdata --out OUT_DIR

Input: the devdata folder written by prep.py (no ../shared, no sentencepiece needed).
Output in OUT_DIR: log.txt, results.json and bundle.tar.NN (a tar of the exported model
directory split into 15 MB parts: config.json, model.safetensors (float16), tokenizer.json,
adapters/<name>/{adapter.json,head.safetensors}, plus train_state.safetensors holding the
MLM head for further training). The bundle is rewritten after pretraining and at the end,
so a run cut short still returns a usable backbone.

Phases are bounded by wall-clock seconds (--pretrain-s, --probe-s, --finetune-s) and the
learning-rate schedules are functions of elapsed time, so the run fits a fixed device lease.
"""
import argparse
import glob
import gzip
import io
import json
import lzma
import math
import os
import random
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metrics  # noqa: E402
import st  # noqa: E402
from model import BertModel, Head, MLMHead, bert_config  # noqa: E402

PAD, UNK, BOS, EOS, MASK = 0, 1, 2, 3, 4
N_SPECIAL = 5
T0 = time.time()
LOG = None


def log(*a):
    s = "[%6.1fs] " % (time.time() - T0) + " ".join(str(x) for x in a)
    print(s, flush=True)
    if LOG:
        LOG.write(s + "\n")
        LOG.flush()


# ---------------------------------------------------------------- tasks

# name -> (task kind, labels key, pooling); topic = AG News, topic-bbc = BBC categories,
# sentiment = SST-2 + Allociné in one head.
ADAPTERS = {
    "topic": ("classify", "ag_news"),
    "topic-bbc": ("classify", "bbc"),
    "sentiment": ("classify", "sentiment"),
    "ner": ("ner", "ner"),
    "qa": ("qa", None),
}
TASK_WEIGHTS = {"topic": 0.15, "topic-bbc": 0.1, "sentiment": 0.15, "ner": 0.25, "qa": 0.35}


def pad_batch(seqs, types=None, labels=None, dev="cpu"):
    n = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), n, dtype=torch.long)
    tt = torch.zeros(len(seqs), n, dtype=torch.long)
    am = torch.zeros(len(seqs), n, dtype=torch.long)
    lab = torch.full((len(seqs), n), -100, dtype=torch.long) if labels is not None else None
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        am[i, :len(s)] = 1
        if types is not None:
            tt[i, :len(s)] = torch.tensor(types[i])
        if labels is not None:
            lab[i, :len(s)] = torch.tensor(labels[i])
    out = [ids.to(dev), tt.to(dev), am.to(dev)]
    if labels is not None:
        out.append(lab.to(dev))
    return out


def cls_seq(ids, max_len):
    return [BOS] + ids[:max_len - 2] + [EOS]


def ner_seq(ex, max_len=128):
    ids = ex["ids"][:max_len - 2]
    tags = ex["tags"][:max_len - 2]
    return [BOS] + ids + [EOS], [-100] + tags + [-100]


def qa_features(qa, max_len=384, stride=128, train=True):
    """HF-style windows: <s> question </s> </s> context-window </s>, windows overlapping by
    `stride` pieces. Returns a list of (ids, types, start, end, item_index, window_start)."""
    feats = []
    for k, it in enumerate(qa["items"]):
        ctx = qa["contexts"][it["ctx"]]["ids"]
        q = it["q"]
        w = max_len - len(q) - 4
        st0 = 0
        while True:
            win = ctx[st0:st0 + w]
            ids = [BOS] + q + [EOS, EOS] + win + [EOS]
            types = [0] * (len(q) + 2) + [1] * (len(win) + 2)
            off = len(q) + 3
            s = e = 0
            if train and it["spans"]:
                a, b = it["spans"][0]
                if a >= st0 and b < st0 + len(win):
                    s, e = a - st0 + off, b - st0 + off
            feats.append((ids, types, s, e, k, st0))
            if st0 + w >= len(ctx):
                break
            st0 += w - stride
    return feats


class TaskData:
    def __init__(self, tasks, dev):
        self.dev = dev
        t = tasks
        self.cls = {
            "topic": [(cls_seq(x["ids"], 128), x["label"]) for x in t["ag_news"]["train"]],
            "topic-bbc": [(cls_seq(x["ids"], 256), x["label"]) for x in t["bbc"]["train"]],
            "sentiment": [(cls_seq(x["ids"], 256), x["label"]) for x in t["sst2"]["train"] + t["allocine"]["train"]],
        }
        self.ner = [ner_seq(x) for x in t["wikiann_en"]["train"] + t["wikiann_fr"]["train"]]
        self.qa = qa_features(t["squad"]["train"]) + qa_features(t["piaf"]["train"])
        self.rng = random.Random(5)

    def batch(self, name, bs):
        r = self.rng
        if name in self.cls:
            ex = [r.choice(self.cls[name]) for _ in range(bs)]
            ids, tt, am = pad_batch([e[0] for e in ex], dev=self.dev)
            return ids, tt, am, torch.tensor([e[1] for e in ex], device=self.dev)
        if name == "ner":
            ex = [r.choice(self.ner) for _ in range(bs)]
            return pad_batch([e[0] for e in ex], labels=[e[1] for e in ex], dev=self.dev)
        ex = [r.choice(self.qa) for _ in range(bs)]
        ids, tt, am = pad_batch([e[0] for e in ex], types=[e[1] for e in ex], dev=self.dev)
        return ids, tt, am, torch.tensor([[e[2], e[3]] for e in ex], device=self.dev)


def task_loss(model, heads, name, batch, frozen=False):
    ids, tt, am, y = batch
    if frozen:
        with torch.no_grad():
            h = model(ids, tt, am)[0]
        h = h.detach()
    else:
        h = model(ids, tt, am)[0]
    kind = ADAPTERS[name][0]
    if kind == "classify":
        return F.cross_entropy(heads[name](h[:, 0]).float(), y)
    if kind == "ner":
        lg = heads[name](h).float()
        return F.cross_entropy(lg.reshape(-1, lg.shape[-1]), y.reshape(-1), ignore_index=-100)
    lg = heads[name](h).float()  # (b, n, 2)
    lg = lg.masked_fill(am[:, :, None] == 0, -1e4)
    return (F.cross_entropy(lg[:, :, 0], y[:, 0]) + F.cross_entropy(lg[:, :, 1], y[:, 1])) / 2


def make_heads(d, labels, dev):
    heads = torch.nn.ModuleDict()
    for name, (kind, lk) in ADAPTERS.items():
        if kind == "classify":
            heads[name] = Head(d, len(labels[lk]), mlp=True, activation="tanh")
        elif kind == "ner":
            heads[name] = Head(d, len(labels["ner"]), mlp=False)
        else:
            heads[name] = Head(d, 2, mlp=False)
    return heads.to(dev)


# ---------------------------------------------------------------- evaluation

@torch.no_grad()
def forward_batches(model, seqs, types=None, bs=128):
    """Yield (index range, last hidden, attention mask) over seqs sorted by length."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    dev = next(model.parameters()).device
    for a in range(0, len(order), bs):
        idx = order[a:a + bs]
        ids, tt, am = pad_batch([seqs[i] for i in idx], types=[types[i] for i in idx] if types else None, dev=dev)
        yield idx, model(ids, tt, am)[0], am


@torch.no_grad()
def eval_cls(model, head, exs, max_len, limit):
    exs = exs[:limit]
    seqs = [cls_seq(x["ids"], max_len) for x in exs]
    correct = 0
    for idx, h, _ in forward_batches(model, seqs):
        pred = head(h[:, 0]).argmax(-1).cpu().tolist()
        correct += sum(int(p == exs[i]["label"]) for p, i in zip(pred, idx))
    return correct / max(len(exs), 1)


@torch.no_grad()
def eval_ner(model, head, exs, words, labels, limit):
    exs, words = exs[:limit], words[:limit]
    seqs = [ner_seq(x)[0] for x in exs]
    preds = [None] * len(exs)
    for idx, h, _ in forward_batches(model, seqs):
        lab = head(h).argmax(-1).cpu().numpy()
        for r, i in enumerate(idx):
            # word label = its first piece's label (+1 for <s>); pieces cut by truncation -> O
            preds[i] = [labels[lab[r, f + 1]] if 0 <= f and f + 1 < len(seqs[i]) - 1 else "O"
                        for f in exs[i]["first"]]
    gold = [w[1] for w in words]
    return metrics.entity_f1(gold, preds)


@torch.no_grad()
def qa_predict(model, head, qa, limit, max_answer=30):
    items = qa["items"][:limit]
    sub = {"items": items, "contexts": qa["contexts"]}
    feats = qa_features(sub, train=False)
    best = [(-1e9, "")] * len(items)
    seqs = [f[0] for f in feats]
    types = [f[1] for f in feats]
    for idx, h, am in forward_batches(model, seqs, types, bs=64):
        lg = head(h).float()
        n = lg.shape[1]
        tt = torch.zeros_like(am)
        for r, i in enumerate(idx):
            tt[r, :len(types[i])] = torch.tensor(types[i])
        ok = (tt == 1) & (am == 1)
        ok[torch.arange(len(idx)), am.sum(1) - 1] = False  # final </s>
        pos = torch.arange(n, device=lg.device)
        for r, i in enumerate(idx):
            ids, _, _, _, k, st0 = feats[i]
            okr = ok[r].clone()
            okr[len(items[k]["q"]) + 2] = False  # the second </s> of the separator
            s_l = lg[r, :, 0].masked_fill(~okr, -1e9)
            e_l = lg[r, :, 1].masked_fill(~okr, -1e9)
            sc = s_l[:, None] + e_l[None, :]
            band = (pos[None, :] >= pos[:, None]) & (pos[None, :] < pos[:, None] + max_answer)
            sc = sc.masked_fill(~band, -1e9)
            v, flat = sc.view(-1).max(0)
            v = float(v)
            if v > best[k][0]:
                s, e = divmod(int(flat), n)
                off = len(items[k]["q"]) + 3
                c = qa["contexts"][items[k]["ctx"]]
                a, b = c["offs"][s - off + st0][0], c["offs"][e - off + st0][1]
                best[k] = (v, c["text"][a:b])
    return [b[1] for b in best], [it["answers"] for it in items]


def eval_all(model, heads, tasks, labels, limit=10 ** 9, only=None):
    model.eval()
    heads.eval()
    res = {}
    want = lambda n: only is None or n in only  # noqa: E731
    if want("topic"):
        res["ag_news_acc"] = eval_cls(model, heads["topic"], tasks["ag_news"]["test"], 128, limit)
    if want("topic-bbc"):
        res["bbc_acc"] = eval_cls(model, heads["topic-bbc"], tasks["bbc"]["test"], 256, limit)
    if want("sentiment"):
        res["sst2_acc"] = eval_cls(model, heads["sentiment"], tasks["sst2"]["test"], 256, limit)
        res["allocine_acc"] = eval_cls(model, heads["sentiment"], tasks["allocine"]["test"], 256, limit)
    if want("ner"):
        for lang in ("en", "fr"):
            t = tasks["wikiann_" + lang]
            res["wikiann_%s" % lang] = eval_ner(model, heads["ner"], t["test"], t["test_words"], labels["ner"], limit)
    if want("qa"):
        for name, lang in (("squad", "en"), ("piaf", "fr")):
            p, g = qa_predict(model, heads["qa"], tasks[name]["test"], limit)
            res[name] = metrics.squad_em_f1(p, g, lang)
    model.train()
    heads.train()
    return res


# ---------------------------------------------------------------- export

def adapter_json(name, cfg, labels):
    kind, lk = ADAPTERS[name]
    j = {"format": "socle-adapter/1", "name": name, "task": kind,
         "backbone": {"model_type": "bert", "d_model": cfg["hidden_size"], "n_layers": cfg["num_hidden_layers"],
                      "vocab_size": cfg["vocab_size"]}}
    if kind == "classify":
        j.update({"labels": labels[lk], "multi_label": False, "pooling": "cls", "layers": [-1],
                  "head": "mlp", "activation": "tanh"})
    elif kind == "ner":
        j.update({"labels": labels["ner"], "layers": [-1], "head": "linear", "scheme": "IOB2"})
    else:
        j.update({"layers": [-1], "head": "linear"})
    return j


def f16(t):
    return t.detach().float().cpu().numpy().astype(np.float16)


def export(model, heads, mlm, cfg, labels, tok_json, out_dir, with_heads=True):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    st.save(os.path.join(out_dir, "model.safetensors"), {k: f16(v) for k, v in model.state_dict().items()},
            metadata={"format": "pt"})
    with open(tok_json, "rb") as fi, open(os.path.join(out_dir, "tokenizer.json"), "wb") as fo:
        fo.write(fi.read())
    st.save(os.path.join(out_dir, "train_state.safetensors"),
            {"cls.predictions." + k: f16(v) for k, v in mlm.state_dict().items() if not k.startswith("word_emb")})
    if with_heads:
        for name in ADAPTERS:
            d = os.path.join(out_dir, "adapters", name)
            os.makedirs(d, exist_ok=True)
            sd = {k: f16(v) for k, v in heads[name].state_dict().items()}
            st.save(os.path.join(d, "head.safetensors"), sd)
            with open(os.path.join(d, "adapter.json"), "w") as f:
                json.dump(adapter_json(name, cfg, labels), f, indent=2)
                f.write("\n")


def write_bundle(src_dir, out, extra=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(src_dir, arcname="socle-mini")
        for p in extra or []:
            tf.add(p, arcname=os.path.basename(p))
    data = buf.getvalue()
    for p in glob.glob(os.path.join(out, "bundle.tar.*")):
        os.remove(p)
    part = 15 * 1024 * 1024
    for k in range(0, len(data), part):
        with open(os.path.join(out, "bundle.tar.%02d" % (k // part)), "wb") as f:
            f.write(data[k:k + part])
    log("bundle written: %d bytes" % len(data))


def hf_check(model, exp_dir, results):
    """Where HuggingFace transformers is installed, load the export with it and compare."""
    try:
        import transformers
        hf = transformers.BertModel.from_pretrained(exp_dir, torch_dtype=torch.float32).to(
            next(model.parameters()).device).eval()
        ids = torch.tensor([[BOS, 400, 500, 600, 700, 800, EOS, EOS, 900, 1000, EOS]], device=hf.device)
        tt = torch.tensor([[0] * 7 + [1] * 4], device=hf.device)
        model.eval()
        with torch.no_grad():
            o = hf(input_ids=ids, token_type_ids=tt)
            h, p = model(ids, tt)
        d = {"transformers": transformers.__version__,
             "max_abs_diff_last_hidden": float((o.last_hidden_state - h).abs().max()),
             "max_abs_diff_pooler": float((o.pooler_output - p).abs().max())}
    except Exception as e:  # a check, not a step: report and go on
        d = {"error": repr(e)}
    results["hf_check"] = d
    log("hf check", d)


def round_to_f16(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.half().float())


# ---------------------------------------------------------------- main

def lr_at(frac, peak, warm=0.06, floor=0.0):
    """Linear warm-up over the first `warm` fraction, then linear decay to floor * peak."""
    if frac < warm:
        return peak * frac / warm
    return peak * (floor + (1.0 - floor) * max(0.0, 1.0 - (frac - warm) / (1.0 - warm)))


def main():
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="tools/work/devdata")
    ap.add_argument("--out", required=True)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--ff", type=int, default=1536)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--ft-lr", type=float, default=2e-4)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--ft-batch", type=int, default=32)
    ap.add_argument("--pretrain-s", type=float, default=300)
    ap.add_argument("--probe-s", type=float, default=20)
    ap.add_argument("--finetune-s", type=float, default=150)
    ap.add_argument("--deadline-s", type=float, default=560, help="end everything by this many seconds")
    ap.add_argument("--eval-limit", type=int, default=10 ** 9)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    LOG = open(os.path.join(a.out, "log.txt"), "a")
    log("args", vars(a))
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    random.seed(a.seed)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = dev.type == "cuda"
    log("torch", torch.__version__, "device", dev, torch.cuda.get_device_name(0) if cuda else "")
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)

    # devdata as prep.py writes it, or xz-compressed (smaller to ship to a training machine)
    if os.path.exists(os.path.join(a.data, "mlm.npy.xz")):
        with lzma.open(os.path.join(a.data, "mlm.npy.xz")) as f:
            stream = np.load(io.BytesIO(f.read())).astype(np.int64)
        with lzma.open(os.path.join(a.data, "tasks.json.xz"), "rt", encoding="utf-8") as f:
            td = json.load(f)
    else:
        stream = np.load(os.path.join(a.data, "mlm.npy")).astype(np.int64)
        with gzip.open(os.path.join(a.data, "tasks.json.gz"), "rt", encoding="utf-8") as f:
            td = json.load(f)
    tasks, labels = td["tasks"], td["labels"]
    tok_json = os.path.join(a.data, "tokenizer.json")
    with open(tok_json, encoding="utf-8") as f:
        vocab = len(json.load(f)["model"]["vocab"])
    cfg = bert_config(vocab, a.d, a.layers, a.heads, a.ff)
    model = BertModel(cfg).to(dev)
    mlm = MLMHead(cfg, model.embeddings.word_embeddings).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    log("params backbone %d (%.1f MB fp16), stream %d tokens" % (n_params, n_params * 2 / 1e6, len(stream)))
    results = {"args": vars(a), "params": n_params, "torch": torch.__version__,
               "device": torch.cuda.get_device_name(0) if cuda else "cpu", "phases": {}}

    def save_results():
        with open(os.path.join(a.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1)

    # ---- phase 1: masked-language-model pretraining
    gstream = torch.from_numpy(stream).to(dev)
    params = list(model.parameters()) + [p for n, p in mlm.named_parameters() if not n.startswith("word_emb")]
    decay = [p for p in params if p.dim() >= 2]
    nodecay = [p for p in params if p.dim() < 2]
    kw = {"fused": True} if cuda else {}
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-6, **kw)
    S, B = a.seq, a.batch
    L = S - 2
    j = torch.arange(S, device=dev)[None, :]
    t_start = time.time()
    step, tokens, ema = 0, 0, None
    model.train()
    while True:
        el = time.time() - t_start
        if el >= a.pretrain_s:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(el / a.pretrain_s, a.lr, warm=0.06, floor=0.05)
        starts = torch.randint(0, len(stream) - L, (B,), device=dev)
        tokm = gstream[starts[:, None] + torch.arange(L, device=dev)[None, :]]
        is_pair = torch.rand(B, device=dev) < 0.5
        r = torch.where(is_pair, torch.randint(16, S - 20, (B,), device=dev), torch.full((B,), S, device=dev))[:, None]
        ci = torch.where(j <= r, j - 1, j - 3).clamp(0, L - 1)
        ids = tokm.gather(1, ci)
        ids = torch.where((j == r + 1) | (j == r + 2), torch.full_like(ids, EOS), ids)
        ids[:, 0] = BOS
        ids[:, -1] = EOS
        types = ((j > r + 1) & is_pair[:, None]).long()
        cand = ids >= N_SPECIAL
        msk = (torch.rand(ids.shape, device=dev) < 0.15) & cand
        labels_t = ids[msk]
        u = torch.rand(ids.shape, device=dev)
        inp = torch.where(msk & (u < 0.8), torch.full_like(ids, MASK), ids)
        rnd = torch.randint(N_SPECIAL, vocab, ids.shape, device=dev)
        inp = torch.where(msk & (u >= 0.8) & (u < 0.9), rnd, inp)
        with amp:
            h = model(inp, types)[0]
            logits = mlm(h[msk])
        loss = F.cross_entropy(logits.float(), labels_t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        tokens += B * S
        lv = float(loss) if step % 50 == 0 or step < 5 else None
        if lv is not None:
            ema = lv if ema is None else 0.8 * ema + 0.2 * lv
            if step % 200 == 0 or step < 5:
                log("pretrain step %d loss %.3f (ema %.3f) lr %.2e tok/s %.0f" % (
                    step, lv, ema, opt.param_groups[0]["lr"], tokens / (time.time() - t_start)))
    results["phases"]["pretrain"] = {"steps": step, "tokens": tokens, "seconds": time.time() - t_start,
                                     "final_loss_ema": ema, "epochs_over_stream": tokens / len(stream)}
    log("pretrain done", results["phases"]["pretrain"])
    del gstream
    heads = make_heads(a.d, labels, dev)
    exp_dir = os.path.join("/tmp", "socle-mini-export-%d" % os.getpid())
    export(model, heads, mlm, cfg, labels, tok_json, exp_dir, with_heads=False)
    save_results()
    write_bundle(exp_dir, a.out, [os.path.join(a.out, "results.json")])

    data_ft = TaskData(tasks, dev)
    log("fine-tuning data: qa features %d, ner %d" % (len(data_ft.qa), len(data_ft.ner)))
    names = list(TASK_WEIGHTS)
    wts = [TASK_WEIGHTS[n] for n in names]
    rng = random.Random(7)

    # ---- phase 2: frozen-backbone probe (heads only), to compare with joint fine-tuning
    if a.probe_s > 0:
        ph = make_heads(a.d, labels, dev)
        popt = torch.optim.AdamW(ph.parameters(), lr=a.head_lr, weight_decay=0.01)
        t1, ps = time.time(), 0
        model.eval()  # frozen: no dropout, no gradient
        while time.time() - t1 < a.probe_s:
            n = rng.choices(names, wts)[0]
            with amp:
                loss = task_loss(model, ph, n, data_ft.batch(n, a.ft_batch), frozen=True)
            popt.zero_grad(set_to_none=True)
            loss.backward()
            popt.step()
            ps += 1
        model.train()
        log("probe steps", ps)
        pr = eval_all(model, ph, tasks, labels, a.eval_limit)
        results["frozen_probe"] = {"steps": ps, "seconds": time.time() - t1, "eval": pr}
        log("frozen probe eval", json.dumps(pr))
        save_results()
        del ph, popt

    # ---- phase 3: joint multi-task fine-tuning of backbone + heads
    ft_budget = min(a.finetune_s, a.deadline_s - (time.time() - T0) - 45)
    log("fine-tuning budget %.0f s" % ft_budget)
    fopt = torch.optim.AdamW([{"params": list(model.parameters()), "lr": a.ft_lr, "peak": a.ft_lr},
                              {"params": list(heads.parameters()), "lr": a.head_lr, "peak": a.head_lr}],
                             weight_decay=0.01, **kw)
    t2, fs = time.time(), 0
    losses = {n: [] for n in names}
    while True:
        el = time.time() - t2
        if el >= ft_budget:
            break
        for g in fopt.param_groups:
            g["lr"] = lr_at(el / ft_budget, g["peak"], warm=0.06)
        n = rng.choices(names, wts)[0]
        bs = a.ft_batch if n != "topic-bbc" else max(a.ft_batch // 2, 2)
        with amp:
            loss = task_loss(model, heads, n, data_ft.batch(n, bs))
        fopt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(heads.parameters()), 1.0)
        fopt.step()
        fs += 1
        if fs % 25 == 0:
            losses[n].append(float(loss))
        if fs % 500 == 0:
            log("finetune step %d " % fs + " ".join("%s %.3f" % (k, np.mean(v[-10:])) for k, v in losses.items() if v))
    results["phases"]["finetune"] = {"steps": fs, "seconds": time.time() - t2,
                                     "last_losses": {k: float(np.mean(v[-10:])) for k, v in losses.items() if v}}
    log("finetune done", results["phases"]["finetune"])

    # ---- evaluate the weights as shipped (rounded to float16), in float32 arithmetic
    round_to_f16(model)
    round_to_f16(heads)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    t3 = time.time()
    ev = eval_all(model, heads, tasks, labels, a.eval_limit)
    results["joint_eval"] = ev
    results["phases"]["eval_seconds"] = time.time() - t3
    log("joint eval", json.dumps(ev))
    export(model, heads, mlm, cfg, labels, tok_json, exp_dir, with_heads=True)
    save_results()
    write_bundle(exp_dir, a.out, [os.path.join(a.out, "results.json"), os.path.join(a.out, "log.txt")])
    hf_check(model, exp_dir, results)
    save_results()
    log("all done")


if __name__ == "__main__":
    main()
