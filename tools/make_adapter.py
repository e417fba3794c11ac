#!/usr/bin/python3
"""Write a random-weight adapter directory (docs/adapters.md format), for benchmarks.

    /usr/bin/python3 tools/make_adapter.py --out DIR/adapters/sentiment --name sentiment \
        --task classify --labels negative,positive --d-model 768 [--n-layers 12] [--seed 7]

Writes DIR/adapter.json ("socle-adapter/1", linear head on the last layer, CLS pooling for
classify) and DIR/head.safetensors (float32 out.weight (n_out, d_model), out.bias (n_out)).
Random N(0, 0.02) weights: a benchmark measures speed, not answers. Only numpy is needed.
"""
import argparse
import json
import os
import struct

import numpy as np


def write_safetensors(path, tensors):
    header, off = {}, 0
    for name, x in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(x.shape), "data_offsets": [off, off + x.nbytes]}
        off += x.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-(8 + len(h)) % 8)  # data 8-byte aligned, as the reader prefers
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for x in tensors.values():
            f.write(x.astype("<f4").tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--task", choices=["classify", "ner", "qa"], default="classify")
    ap.add_argument("--labels", default="negative,positive", help="comma-separated (not qa)")
    ap.add_argument("--d-model", type=int, required=True)
    ap.add_argument("--n-layers", type=int)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    labels = a.labels.split(",") if a.task != "qa" else None
    n_out = 2 if a.task == "qa" else len(labels)
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    meta = {"format": "socle-adapter/1", "name": a.name, "task": a.task,
            "backbone": {"d_model": a.d_model}, "layers": [-1], "head": "linear"}
    if a.n_layers:
        meta["backbone"]["n_layers"] = a.n_layers
    if labels:
        meta["labels"] = labels
    if a.task == "classify":
        meta["pooling"] = "cls"
    with open(os.path.join(a.out, "adapter.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(a.out, "head.safetensors"), {
        "out.weight": rng.standard_normal((n_out, a.d_model), dtype=np.float32) * np.float32(0.02),
        "out.bias": rng.standard_normal((n_out,), dtype=np.float32) * np.float32(0.02),
    })


if __name__ == "__main__":
    main()
