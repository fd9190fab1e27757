#!/usr/bin/python3
"""Writes a batch stream of random 64x64x3 U8 images with binary labels (the
lecture's cats-and-dogs shape) for timing training steps: the same bytes for
nntrain as nn_torch_step.py draws for PyTorch (content does not change speed).
With HxWxC and CLASSES, images of that shape with sparse labels 0..CLASSES-1
(the Fashion-MNIST CNN: 28x28x1 10).
Usage: nn_synth.py SAMPLES BATCH [HxWxC CLASSES] > stream
"""
import json
import struct
import sys

import numpy as np


def main():
    samples, batch = int(sys.argv[1]), int(sys.argv[2])
    h, w, c = (int(v) for v in sys.argv[3].split("x")) if len(sys.argv) > 3 else (64, 64, 3)
    classes = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    names = ["cats", "dogs"] if classes == 2 else ["c%d" % k for k in range(classes)]
    rng = np.random.default_rng(1)
    out = sys.stdout.buffer
    for i in range(0, samples, batch):
        n = min(batch, samples - i)
        x = rng.integers(0, 256, (n, h, w, c), dtype=np.uint8).tobytes()
        y = rng.integers(0, classes, n, dtype=np.int32).astype("<i4").tobytes()
        meta = {"format": "batchstream/1", "classes": json.dumps(names), "class_mode": "binary" if classes == 2 else "sparse",
                "paths": json.dumps(["synth/%d.png" % k for k in range(i, i + n)]),
                "epoch": "0", "index": str(i), "epoch_size": str(samples)}
        header = {"x": {"dtype": "U8", "shape": [n, h, w, c], "data_offsets": [0, len(x)]},
                  "y": {"dtype": "I32", "shape": [n], "data_offsets": [len(x), len(x) + len(y)]},
                  "__metadata__": meta}
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * ((8 - len(text) % 8) % 8)
        out.write(struct.pack("<Q", len(text)) + text + x + y)


if __name__ == "__main__":
    main()
