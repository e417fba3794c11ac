#!/usr/bin/python3
"""Write a random-weight BERT-base-shaped checkpoint in HuggingFace layout, for benchmarks.

    /usr/bin/python3 tools/make_bert_base.py --out bench/out/models/bert-base [--layers 12] [--seed 4]

Output directory: config.json (HF BertConfig field names, architectures ["BertModel"]) and
model.safetensors (float32, tensor names as BertModel.save_pretrained writes them: no "bert."
prefix, pooler included). Shape: 12 layers, hidden 768, 12 heads, FFN 3072, vocab 30522,
512 positions, 2 token types: 109.5M parameters, 438 MB.

Why random weights: the benchmark measures speed, and checks exactness against PyTorch on the
same file, so no download is needed. The values still matter a little: N(0, 0.02) like HF's
initializer_range keeps activations in the range of a trained model (no overflow in softmax or
GELU saturating everywhere), and LayerNorm gammas of 1 + N(0, 0.1) and non-zero biases make a
swapped or skipped tensor visible in the comparison.

Only numpy is needed (no torch, no `safetensors` package): the format is
    u64 little-endian N | N bytes of JSON header | raw tensor bytes
where the header maps each name to {"dtype", "shape", "data_offsets": [begin, end]} relative to
the data section. The header is padded with spaces so the data starts 8-byte aligned, which lets
a reader mmap the file and use the float32 data in place.
"""
import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np


def make_config(layers, hidden, heads, ffn, vocab):
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def tensor_shapes(cfg):
    """Ordered {name: shape}; nn.Linear weights are (out_features, in_features)."""
    h, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    s = {
        "embeddings.word_embeddings.weight": (v, h),
        "embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": (cfg["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": (h,),
        "embeddings.LayerNorm.bias": (h,),
    }
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        for m in ("query", "key", "value"):
            s[p + "attention.self.%s.weight" % m] = (h, h)
            s[p + "attention.self.%s.bias" % m] = (h,)
        s[p + "attention.output.dense.weight"] = (h, h)
        s[p + "attention.output.dense.bias"] = (h,)
        s[p + "attention.output.LayerNorm.weight"] = (h,)
        s[p + "attention.output.LayerNorm.bias"] = (h,)
        s[p + "intermediate.dense.weight"] = (f, h)
        s[p + "intermediate.dense.bias"] = (f,)
        s[p + "output.dense.weight"] = (h, f)
        s[p + "output.dense.bias"] = (h,)
        s[p + "output.LayerNorm.weight"] = (h,)
        s[p + "output.LayerNorm.bias"] = (h,)
    s["pooler.dense.weight"] = (h, h)
    s["pooler.dense.bias"] = (h,)
    return s


def make_tensor(name, shape, seed):
    # One generator per tensor, keyed by (seed, name): a tensor's values do not depend on which
    # other tensors exist, so a 2-layer and a 12-layer model share their first layers.
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    x = rng.standard_normal(shape, dtype=np.float32)
    if name.endswith("LayerNorm.weight"):
        x *= np.float32(0.1)
        x += np.float32(1.0)
    else:
        x *= np.float32(0.02)
    return x


def write_safetensors(path, shapes, seed, metadata):
    header = {"__metadata__": metadata}
    off = 0
    for name, shape in shapes.items():
        n = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-(8 + len(hjson)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for name, shape in shapes.items():
            # Generated and written one tensor at a time: peak memory is one embedding table,
            # not the whole model.
            f.write(make_tensor(name, shape, seed).astype("<f4", copy=False).tobytes())
    os.replace(tmp, path)
    return 8 + len(hjson) + off


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="model directory to create")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--ffn", type=int, default=3072)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--seed", type=int, default=4)
    a = ap.parse_args()
    if a.hidden % a.heads:
        sys.exit("make_bert_base.py: --hidden must be a multiple of --heads")

    cfg = make_config(a.layers, a.hidden, a.heads, a.ffn, a.vocab)
    shapes = tensor_shapes(cfg)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    size = write_safetensors(os.path.join(a.out, "model.safetensors"), shapes, a.seed,
                             {"format": "pt", "generator": "tools/make_bert_base.py",
                              "seed": str(a.seed)})
    n_params = sum(int(np.prod(s)) for s in shapes.values())
    print(json.dumps({"model": a.out, "tensors": len(shapes), "params": n_params,
                      "file_bytes": size}))


if __name__ == "__main__":
    main()
