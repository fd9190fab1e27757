#!/usr/bin/python3
"""Writes Fashion-MNIST samples (Debian's dataset-fashion-mnist IDX files) as a
batch stream (batchstream(5)) with json + numpy only: the nn tests' data.

usage: fmnist_stream.py [--train|--test] [--offset K] [--count N] [--batch B]
                        [--epochs E] [--float] [--autoencoder] > stream
"""
import argparse, gzip, json, struct, sys
import numpy as np

CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]
ROOT = "/usr/share/datasets/fashion-mnist/"


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">i", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "i" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def frame(tensors, meta):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr)
        dtype = {np.uint8: "U8", np.int32: "I32", np.float32: "F32"}[arr.dtype.type]
        b = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--test", action="store_true")
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--count", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--float", action="store_true")
    p.add_argument("--autoencoder", action="store_true")
    p.add_argument("--classes", type=int, default=10, help="keep only labels below this")
    a = p.parse_args()
    kind = "t10k" if a.test else "train"
    images = idx(ROOT + kind + "-images-idx3-ubyte.gz")
    labels = idx(ROOT + kind + "-labels-idx1-ubyte.gz").astype(np.int32)
    keep = np.nonzero(labels < a.classes)[0][a.offset:a.offset + a.count]
    x = images[keep].reshape(-1, 28, 28, 1)
    y = labels[keep]
    if a.float:
        x = x.astype(np.float32) / 255
    out = sys.stdout.buffer
    n = len(keep)
    for epoch in range(1, a.epochs + 1):
        for i in range(0, n, a.batch):
            xb = x[i:i + a.batch]
            meta = {"format": "batchstream/1", "classes": json.dumps(CLASSES[:a.classes]),
                    "class_mode": "input" if a.autoencoder else "sparse",
                    "paths": json.dumps(["%s/%d.png" % (kind, int(k)) for k in keep[i:i + a.batch]]),
                    "epoch": str(epoch), "index": str(i), "epoch_size": str(n)}
            out.write(frame([("x", xb), ("y", xb if a.autoencoder else y[i:i + a.batch])], meta))


if __name__ == "__main__":
    main()
