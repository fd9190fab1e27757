#!/usr/bin/python3
"""The PyTorch peer of the table examples (examples/rotation, examples/mosaic):
a Dataset over the table (csv, PIL), DataLoader(batch_size=128, shuffle=True,
num_workers=2), the same CNN as the example's spec (Keras' initializers:
Glorot uniform kernels, zero biases; "same" padding), Adam (lr 1e-3, eps 1e-7),
for --epochs epochs; then the test set.

rotation: the angle (one number), MSE loss; reports the test MAE.
mosaic:   the classes shown (multi-hot over the sorted class names), binary
          crossentropy on logits; reports micro precision, recall and F1 at
          0.5, binary accuracy, and the macro ROC AUC.
Prints one JSON line (seconds: the training epochs only).

The same random draws as ours, to compare the engines alone (the accuracy gap
of issue 24): --init-model FILE starts from the kernels of our model file (the
biases zero, our Dense's Flatten order (h, w, c) turned to PyTorch's (c, h, w));
--batches FILE trains on the frames of our batch stream, in their order (x U8
NHWC, y as the stream holds it), instead of the DataLoader, and as many epochs
as the stream holds; --adam keras makes Keras 3's Adam step (eps 1e-7 added to
sqrt(v), the bias corrections folded into the step size), as nntrain does,
instead of torch.optim.Adam (eps 1e-7 added to sqrt(v_hat)); --log FILE writes
each step's loss, one a line.
Usage: tables_torch.py rotation|mosaic DATA [--epochs N] [--seed S] [--workers W] [--threads T] [--malloc-fix]
                       [--init-model FILE] [--batches FILE] [--adam torch|keras] [--log FILE]
"""
import argparse
import csv
import json
import os
import struct
import time

from nn_torch_step import keras_init, malloc_fix


def read_table(data, split, task):
    with open(os.path.join(data, split + ".csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    paths = [os.path.join(data, split, r["filename"]) for r in rows]
    if task == "rotation":
        return paths, [[float(r["angle"])] for r in rows], []
    classes = sorted({c for r in rows for c in r["labels"].split("|")})
    return paths, [r["labels"].split("|") for r in rows], classes


def cnn(torch, task):
    nn = torch.nn
    if task == "rotation":  # 28x28: conv32, pool, conv64, pool, conv64, dense 128, 1
        layers = [nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                  nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 1)]
    else:  # 56x56: conv32, pool, conv64, pool, conv64, pool, dense 256, 10
        layers = [nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Linear(256, 10)]
    return keras_init(torch, nn.Sequential(*layers))


def frames(f):
    """The safetensors frames of a file in turn (a model file is one), as {name: numpy array}, metadata."""
    import numpy as np
    dtypes = {"U8": np.uint8, "I32": np.int32, "F32": np.float32}
    while True:
        prefix = f.read(8)
        if len(prefix) < 8:
            return
        header = json.loads(f.read(struct.unpack("<Q", prefix)[0]))
        meta = header.pop("__metadata__", {})
        data = f.read(max((t["data_offsets"][1] for t in header.values()), default=0))
        yield {k: np.frombuffer(data[t["data_offsets"][0]:t["data_offsets"][1]], dtypes[t["dtype"]]).reshape(t["shape"])
               for k, t in header.items()}, meta


def load_kernels(torch, model, path):
    """Our model file's kernels into the peer's Sequential: Conv2D and Dense in
    order (the weights' names sorted: conv2d, conv2d_1, ..., dense, dense_1)."""
    with open(path, "rb") as f:
        weights, _ = next(frames(f))
    names = sorted((k for k in weights if k.endswith(".weight") and not k.startswith("optimizer.")),
                   key=lambda k: (not k.startswith("conv"), len(k), k))
    layers = [m for m in model if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    if len(names) != len(layers):
        raise SystemExit("tables_torch.py: %s: %d kernels for %d layers" % (path, len(names), len(layers)))
    flat = prev = None
    with torch.no_grad():
        for name, m in zip(names, layers):
            w = torch.from_numpy(weights[name].copy())
            if isinstance(m, torch.nn.Linear) and flat is None:  # the Dense after Flatten: (h, w, c) to (c, h, w)
                flat = prev.out_channels
                side = int(round((w.shape[1] // flat) ** 0.5))
                w = w.view(w.shape[0], side, side, flat).permute(0, 3, 1, 2).reshape(w.shape[0], -1)
            m.weight.copy_(w)
            m.bias.zero_()
            prev = m


def auc(scores, truth):
    """Exact ROC AUC (ties share their rank), NaN when one class is absent."""
    import numpy as np
    pos = truth.sum()
    neg = len(truth) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[truth == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("task", choices=["rotation", "mosaic"])
    p.add_argument("data")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--malloc-fix", action="store_true")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed: the initial weights and the shuffle")
    p.add_argument("--init-model", help="start from this model file's kernels (ours)")
    p.add_argument("--batches", help="train on this batch stream's frames, in order (ours)")
    p.add_argument("--adam", choices=["torch", "keras"], default="torch")
    p.add_argument("--log", help="write each step's loss to FILE")
    a = p.parse_args()
    if a.malloc_fix:
        malloc_fix()
    import numpy as np
    import torch
    from PIL import Image
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    _, _, classes = read_table(a.data, "train", a.task)

    class Table(torch.utils.data.Dataset):
        def __init__(self, split):
            self.paths, self.targets, _ = read_table(a.data, split, a.task)

        def __len__(self):
            return len(self.paths)

        def __getitem__(self, i):
            with Image.open(self.paths[i]) as im:
                x = torch.from_numpy(np.asarray(im.convert("L"), dtype=np.float32) / 255.0).unsqueeze(0)
            if a.task == "rotation":
                y = torch.tensor(self.targets[i], dtype=torch.float32)
            else:
                y = torch.zeros(len(classes))
                for c in self.targets[i]:
                    y[classes.index(c)] = 1
            return x, y

    train = Table("train")
    loader = torch.utils.data.DataLoader(train, batch_size=128, shuffle=True, num_workers=a.workers)
    model = cnn(torch, a.task)
    if a.init_model:
        load_kernels(torch, model, a.init_model)
    params = list(model.parameters())
    if a.adam == "torch":
        opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)
    else:
        ms, vs = [torch.zeros_like(q) for q in params], [torch.zeros_like(q) for q in params]

    def keras_adam(t):  # keras/src/optimizers/adam.py, Keras 3's update_step
        alpha = 1e-3 * (1 - 0.999 ** t) ** 0.5 / (1 - 0.9 ** t)
        with torch.no_grad():
            for q, m, v in zip(params, ms, vs):
                m.add_((q.grad - m) * (1 - 0.9))
                v.add_((q.grad * q.grad - v) * (1 - 0.999))
                q.sub_(m * alpha / (v.sqrt() + 1e-7))

    def batches():
        if not a.batches:
            for _ in range(a.epochs):
                yield from loader
            return
        with open(a.batches, "rb") as f:
            for t, _ in frames(f):
                x = torch.from_numpy(t["x"].astype(np.float32) / 255.0).permute(0, 3, 1, 2)
                yield x, torch.from_numpy(t["y"].astype(np.float32))

    loss_fn = torch.nn.MSELoss() if a.task == "rotation" else torch.nn.BCEWithLogitsLoss()
    log = open(a.log, "w") if a.log else None
    steps = 0
    start = time.perf_counter()
    model.train()
    for x, y in batches():
        for q in params:
            q.grad = None
        loss = loss_fn(model(x), y)
        loss.backward()
        steps += 1
        opt.step() if a.adam == "torch" else keras_adam(steps)
        if log:
            print("%.9g" % float(loss), file=log)
    seconds = time.perf_counter() - start
    model.eval()
    outs, truth = [], []
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(Table("test"), batch_size=500, num_workers=a.workers):
            outs.append(model(x))
            truth.append(y)
    out, y = torch.cat(outs).numpy(), torch.cat(truth).numpy()
    result = {"task": a.task, "samples": len(train), "epochs": a.epochs, "steps": steps, "seconds": round(seconds, 2)}
    if a.task == "rotation":
        result["test_mae"] = round(float(np.abs(out - y).mean()), 4)
    else:
        prob = 1 / (1 + np.exp(-out))
        pred = prob >= 0.5
        tp = float((pred & (y == 1)).sum())
        precision = tp / max(pred.sum(), 1)
        recall = tp / max((y == 1).sum(), 1)
        result.update({"test_binary_accuracy": round(float((pred == (y == 1)).mean()), 4),
                       "test_precision": round(precision, 4), "test_recall": round(recall, 4),
                       "test_f1": round(2 * precision * recall / max(precision + recall, 1e-12), 4),
                       "test_macro_auc": round(float(np.nanmean([auc(prob[:, k], y[:, k]) for k in range(y.shape[1])])), 4)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
