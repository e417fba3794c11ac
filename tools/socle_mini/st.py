"""Minimal safetensors reader / writer (numpy only; no `safetensors` package needed).

File layout: u64 little-endian N | N bytes of JSON header | raw little-endian tensor data;
the header maps name -> {"dtype", "shape", "data_offsets": [begin, end]} relative to the
data section and is padded with spaces so the data starts 8-byte aligned.
"""
import json
import struct

import numpy as np

_DT = {np.dtype("float16"): "F16", np.dtype("float32"): "F32", np.dtype("int64"): "I64",
       np.dtype("int32"): "I32"}
_NP = {v: k for k, v in _DT.items()}


def save(path, tensors, metadata=None):
    """tensors: {name: np.ndarray}; written in sorted name order as HF does."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DT[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=_NP[info["dtype"]]).reshape(info["shape"]).copy()
    return out
