#!/usr/bin/python3
"""An independent batch-stream reader and writer for the shell tests (json + numpy,
no project code). Usage:
  stream.py dump [FILE]             one JSON line per frame: tensors (dtype, shape, sum), metadata
  stream.py make N H W C [--batch B] [--epochs E] [--classes a,b]   writes frames with x = index pattern
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"U8": np.uint8, "I32": np.int32, "F32": np.float32}


def read_frames(f):
    while True:
        prefix = f.read(8)
        if not prefix:
            return
        if len(prefix) < 8:
            raise SystemExit("truncated length prefix")
        n, = struct.unpack("<Q", prefix)
        header = json.loads(f.read(n))
        meta = header.pop("__metadata__", {})
        size = max((t["data_offsets"][1] for t in header.values()), default=0)
        data = f.read(size)
        if len(data) < size:
            raise SystemExit("truncated data")
        tensors = {}
        for name, t in header.items():
            a, b = t["data_offsets"]
            tensors[name] = np.frombuffer(data[a:b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
        yield tensors, meta


def write_frame(out, tensors, meta):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        raw = arr.tobytes()
        dtype = {np.uint8: "U8", np.int32: "I32", np.float32: "F32"}[arr.dtype.type]
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = meta
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    out.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    cmd = sys.argv[1]
    if cmd == "dump":
        f = open(sys.argv[2], "rb") if len(sys.argv) > 2 and sys.argv[2] != "-" else sys.stdin.buffer
        for tensors, meta in read_frames(f):
            print(json.dumps({"tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "sum": float(v.astype(np.float64).sum()),
                                             "first": v.reshape(-1)[:4].tolist()} for k, v in tensors.items()},
                              "meta": meta}))
    elif cmd == "make":
        n, h, w, c = map(int, sys.argv[2:6])
        opts = dict(zip(sys.argv[6::2], sys.argv[7::2]))
        batch = int(opts.get("--batch", 1))
        epochs = int(opts.get("--epochs", 1))
        classes = opts.get("--classes", "a,b").split(",")
        out = sys.stdout.buffer
        for e in range(epochs):
            for start in range(0, n, batch):
                idx = list(range(start, min(n, start + batch)))
                x = np.array([np.full((h, w, c), i % 256, np.uint8) for i in idx])
                y = np.array([i % len(classes) for i in idx], np.int32)
                meta = {"format": "batchstream/1", "classes": json.dumps(classes), "class_mode": "sparse",
                        "paths": json.dumps(["img%d.png" % i for i in idx]), "epoch": str(e), "index": str(start),
                        "epoch_size": str(n)}
                write_frame(out, {"x": x, "y": y}, meta)
    elif cmd == "npy":  # npy ARRAY.npy: one frame whose x is the array (F32 or U8), a path per sample
        x = np.load(sys.argv[2])
        n = x.shape[0]
        meta = {"format": "batchstream/1", "class_mode": "none", "paths": json.dumps(["sample%d" % i for i in range(n)]),
                "epoch": "0", "index": "0", "epoch_size": str(n)}
        write_frame(sys.stdout.buffer, {"x": np.ascontiguousarray(x)}, meta)
    elif cmd == "max-diff":  # max-diff STREAM TENSOR REFERENCE.npy: the largest |stream's tensor - reference|
        got = np.concatenate([t[sys.argv[3]] for t, _ in read_frames(open(sys.argv[2], "rb"))]).astype(np.float64)
        want = np.load(sys.argv[4]).astype(np.float64)
        print("%.3g" % np.abs(got - want).max() if got.shape == want.shape else "shape %s != %s" % (got.shape, want.shape))
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
