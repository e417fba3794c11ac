#!/usr/bin/python3
"""Reference last_hidden_state of a few sequences, from the PyTorch peer, for `engine_bench check`.

    /usr/bin/python3 bench/engine_peers/torch_ref.py --peers PEERS_DIR --model MODEL_DIR \
        --out-ids ids.txt --out-ref ref.f32 [--lens 128,77,9]

PEERS_DIR is a scratch copy of ../shared/bench-peers: its torch_bert.py (HF BertModel
semantics) is imported, not copied, so the engine is checked against the very model the
PyTorch timings run. Each sequence is run alone with an all-ones mask (no padding), so the
reference is exactly what a packed engine batch must reproduce. Writes the ids (one sequence
per line, [CLS] first and [SEP] last) and the hidden states of all sequences, concatenated in
order, as little-endian float32 (n_tokens x hidden_size).
"""
import argparse
import json
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out-ids", required=True)
    ap.add_argument("--out-ref", required=True)
    ap.add_argument("--lens", default="128,77,9")
    ap.add_argument("--seed", type=int, default=11)
    a = ap.parse_args()
    sys.path.insert(0, a.peers)
    import torch  # noqa: E402
    import torch_bert  # noqa: E402

    torch.set_num_threads(2)
    model, cfg = torch_bert.load_model(a.model)
    rng = np.random.default_rng(a.seed)
    lines, hidden = [], []
    with torch.inference_mode():
        for n in (int(x) for x in a.lens.split(",")):
            ids = rng.integers(1000, cfg.vocab_size, size=n)
            ids[0], ids[-1] = 101, 102
            t = torch.from_numpy(ids[None, :].astype(np.int64))
            h, _ = model(t, torch.ones_like(t), torch.zeros_like(t))
            hidden.append(h[0].numpy().astype("<f4"))
            lines.append(" ".join(str(int(i)) for i in ids))
    with open(a.out_ids, "w") as f:
        f.write("\n".join(lines) + "\n")
    ref = np.concatenate(hidden, axis=0)
    ref.tofile(a.out_ref)
    print(json.dumps({"impl": "torch", "ref": a.out_ref, "sequences": len(lines),
                      "tokens": int(ref.shape[0]), "max_abs": float(np.abs(ref).max()),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
