#!/usr/bin/python3
"""The PyTorch peer of bench/finetune.sh: fine-tuning a Keras MobileNetV2 (alpha
1.0, 224x224x3) whose base is frozen, the head (Dense 256, Dense 256, Dense 1
sigmoid, with dropout) trained by Adam (Keras' defaults: lr 1e-3, eps 1e-7) on
binary crossentropy, batch 32.

The model is built from the same Keras JSON that nntrain reads (the graph walk
of tests/nn/parity.py and the reference weights folder's torch_crosscheck.py:
Keras' explicit ZeroPadding2D and "valid"/"same" padding, layer by layer), as
torch modules in NCHW: a layer with "trainable": false gets requires_grad_(False)
on its weights, and a frozen BatchNormalization runs in eval mode (its moving
statistics), as Keras does. PyTorch at its best: torch.set_num_threads, OpenBLAS
(checked by bench/finetune.sh), --malloc-fix (glibc's M_MMAP_MAX=0 and
M_TRIM_THRESHOLD=1<<30, the fix nntrain applies at start-up), and
--channels-last (the model and its input in torch.channels_last).

Two uses:
  finetune_torch.py stream N BATCH > FILE
      writes N images 224x224x3 as a batch stream (F32 in [-1, 1], MobileNetV2's
      preprocessing; binary labels): 224x224 crops, some flipped, of the colour
      photographs that python3-skimage ships (astronaut, chelsea, coffee, ...),
      labelled by photograph (people and objects 0, animals and scenes 1).
  finetune_torch.py --model JSON --stream FILE --threads N [--malloc-fix]
                    [--channels-last] [--warmup W] [--steps S] [--profile TRACE]
      trains on the stream's batches (read with json + numpy, the bytes nntrain
      reads), W warm-up steps then S timed steps, and prints one JSON line:
      threads, steps, steps_per_s, samples_per_s, peak_rss_mib (the process's
      high-water mark, ru_maxrss), trainable and frozen parameter counts.
  finetune_torch.py --model JSON --stream FILE --threads N --check OURS.model OUTPUTS.bs
      checks that both sides compute the same graph: the weights of a model file
      nntrain wrote, loaded into the peer, give nnpredict's outputs (OUTPUTS.bs:
      nnpredict -f stream) on the stream's first batch within 1e-5.
"""
import argparse
import ctypes
import json
import math
import resource
import struct
import sys
import time

import numpy as np


def malloc_fix():
    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
    if libc.mallopt(M_MMAP_MAX, 0) != 1 or libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) != 1:
        sys.exit("finetune_torch: mallopt failed")


# ---- the data: real photographs from python3-skimage ----

PHOTOS = [("astronaut", 0), ("coffee", 0), ("rocket", 0), ("motorcycle_left", 0), ("immunohistochemistry", 0),
          ("chelsea", 1), ("hubble_deep_field", 1), ("retina", 1)]


def write_stream(n, batch):
    from skimage import data, transform
    rng = np.random.default_rng(1)
    photos = []
    for name, label in PHOTOS:
        img = getattr(data, name)() if name != "motorcycle_left" else data.stereo_motorcycle()[0]
        img = img[..., :3].astype(np.float32) / 255
        scale = 256 / min(img.shape[:2])  # the shorter side to 256, as for ImageNet crops
        img = transform.resize(img, (round(img.shape[0] * scale), round(img.shape[1] * scale)), anti_aliasing=True)
        photos.append((img.astype(np.float32), label))
    out = sys.stdout.buffer
    for i in range(0, n, batch):
        k = min(batch, n - i)
        xs, ys = [], []
        for j in range(i, i + k):
            img, label = photos[j % len(photos)]
            t = rng.integers(0, img.shape[0] - 224 + 1)
            l = rng.integers(0, img.shape[1] - 224 + 1)
            crop = img[t:t + 224, l:l + 224]
            if rng.integers(0, 2):
                crop = crop[:, ::-1]
            xs.append(crop * 2 - 1)
            ys.append(label)
        x = np.ascontiguousarray(np.stack(xs), dtype="<f4").tobytes()
        y = np.array(ys, dtype="<i4").tobytes()
        meta = {"format": "batchstream/1", "classes": json.dumps(["other", "animal"]), "class_mode": "binary",
                "paths": json.dumps(["skimage/%s/%d" % (PHOTOS[j % len(PHOTOS)][0], j) for j in range(i, i + k)]),
                "epoch": "0", "index": str(i), "epoch_size": str(n)}
        header = {"x": {"dtype": "F32", "shape": [k, 224, 224, 3], "data_offsets": [0, len(x)]},
                  "y": {"dtype": "I32", "shape": [k], "data_offsets": [len(x), len(x) + len(y)]},
                  "__metadata__": meta}
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * ((8 - len(text) % 8) % 8)
        out.write(struct.pack("<Q", len(text)) + text + x + y)


def frames(data):
    """The frames of a batch stream (or a model file, the same format): (tensors, metadata)."""
    at = 0
    while at < len(data):
        n, = struct.unpack("<Q", data[at:at + 8])
        header = json.loads(data[at + 8:at + 8 + n])
        meta = header.pop("__metadata__", {})
        base = at + 8 + n
        t = {}
        for name, d in header.items():
            a, b = d["data_offsets"]
            dt = {"F32": "<f4", "U8": "u1", "I32": "<i4"}[d["dtype"]]
            t[name] = np.frombuffer(data[base + a:base + b], dt).reshape(d["shape"])
        yield t, meta
        at = base + max([d["data_offsets"][1] for d in header.values()] + [0])


def read_stream(path):
    return [(t["x"], t["y"]) for t, _ in frames(open(path, "rb").read())]


def read_tensors(path):
    return next(frames(open(path, "rb").read()))


# ---- the model, from the Keras JSON ----

def pair(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


def same_pads(n, k, s, d):
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def build(torch, spec):
    """A torch.nn.Module running the Keras Functional graph, NCHW inside."""
    nn, F = torch.nn, torch.nn.functional
    cfg = spec["config"]
    layers = cfg["layers"]

    class Pad(nn.Module):  # TensorFlow's "same": the smaller half before
        def __init__(self, pads):
            super().__init__()
            self.pads = pads

        def forward(self, x):
            return F.pad(x, self.pads)

    class ReLU(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.max, self.slope, self.th = c.get("max_value"), c.get("negative_slope", 0.0), c.get("threshold", 0.0)
            if self.slope or self.th:
                raise NotImplementedError("ReLU with a slope or threshold")

        def forward(self, x):
            return F.hardtanh(x, 0.0, float(self.max)) if self.max is not None else F.relu(x)

    class GAP(nn.Module):
        def forward(self, x):
            return x.mean((2, 3))

    def activation(name):
        return {"linear": nn.Identity, "relu": nn.ReLU, "relu6": nn.ReLU6, "sigmoid": nn.Identity}[name]()

    shapes = {}  # per layer: (C, H, W) or (features,)
    modules = nn.ModuleDict()
    frozen_bn = []
    order = []
    for L in layers:
        cls, c = L["class_name"], L["config"]
        name = L.get("name", c.get("name"))
        ins = [e[0] for e in L["inbound_nodes"][0]] if L["inbound_nodes"] else []
        trainable = c.get("trainable", True)
        if cls == "InputLayer":
            h, w, ch = c["batch_input_shape"][1:]
            shapes[name] = (ch, h, w)
            continue
        s_in = shapes[ins[0]]
        if cls in ("Conv2D", "DepthwiseConv2D"):
            k, s, d = pair(c["kernel_size"]), pair(c["strides"]), pair(c["dilation_rate"])
            C, H, W = s_in
            if c["padding"] == "same":
                (t, b), (l, r) = same_pads(H, k[0], s[0], d[0]), same_pads(W, k[1], s[1], d[1])
            else:
                t = b = l = r = 0
            H, W = H + t + b, W + l + r
            if cls == "Conv2D":
                out, groups = c["filters"], 1
            else:
                out, groups = C * c.get("depth_multiplier", 1), C
            symmetric = t == b and l == r
            conv = nn.Conv2d(C, out, k, s, (t, l) if symmetric else 0, d, groups, bias=c["use_bias"])
            m = nn.Sequential(conv) if symmetric else nn.Sequential(Pad((l, r, t, b)), conv)
            m.append(activation(c["activation"]))
            H = (H - d[0] * (k[0] - 1) - 1) // s[0] + 1
            W = (W - d[1] * (k[1] - 1) - 1) // s[1] + 1
            shapes[name] = (out, H, W)
        elif cls == "BatchNormalization":
            m = nn.BatchNorm2d(s_in[0], eps=c["epsilon"], momentum=1 - c["momentum"])
            if not trainable:
                frozen_bn.append(m)
            shapes[name] = s_in
        elif cls == "ReLU":
            m, shapes[name] = ReLU(c), s_in
        elif cls == "ZeroPadding2D":
            p = c["padding"]
            p = [[p, p], [p, p]] if isinstance(p, int) else [[p[0], p[0]], [p[1], p[1]]] if isinstance(p[0], int) else p
            m = Pad((p[1][0], p[1][1], p[0][0], p[0][1]))
            shapes[name] = (s_in[0], s_in[1] + p[0][0] + p[0][1], s_in[2] + p[1][0] + p[1][1])
        elif cls == "Add":
            m, shapes[name] = None, s_in
        elif cls == "GlobalAveragePooling2D":
            m, shapes[name] = GAP(), (s_in[0],)
        elif cls == "Dense":
            m = nn.Sequential(nn.Linear(s_in[0], c["units"], bias=c["use_bias"]), activation(c["activation"]))
            shapes[name] = (c["units"],)
        elif cls == "Dropout":
            m, shapes[name] = nn.Dropout(c["rate"]), s_in
        else:
            raise NotImplementedError(cls)
        if m is not None:
            # Keras' initializers: Glorot uniform kernels, zero biases (speed does not depend on them).
            for p in m.modules():
                if isinstance(p, (nn.Conv2d, nn.Linear)):
                    nn.init.xavier_uniform_(p.weight)
                    if p.bias is not None:
                        nn.init.zeros_(p.bias)
            if not trainable:
                m.requires_grad_(False)
            modules[name.replace(".", "_")] = m
        order.append((name, cls, ins))
    output = cfg["output_layers"][0][0]
    last_activation = next(L["config"]["activation"] for L in layers if L["config"].get("name") == output)
    if last_activation != "sigmoid":
        raise NotImplementedError("output activation " + last_activation)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = modules

        def train(self, mode=True):
            super().train(mode)
            for bn in frozen_bn:  # frozen BatchNormalization: its moving statistics, always
                bn.eval()
            return self

        def forward(self, x):  # the logits; the loss applies the sigmoid
            values = {layers[0]["config"]["name"]: x}
            readers = {}
            for _, _, ins in order:
                for i in ins:
                    readers[i] = readers.get(i, 0) + 1
            for name, cls, ins in order:
                xs = [values[i] for i in ins]
                for i in ins:  # a value no later layer reads is freed now
                    readers[i] -= 1
                    if readers[i] == 0:
                        del values[i]
                values[name] = xs[0] + xs[1] if cls == "Add" else self.m[name.replace(".", "_")](xs[0])
            return values[output]

    return Net()


def load_ours(torch, model, path):
    """Our model file's weights (PyTorch layouts, named "<layer>.<weight>") into the peer."""
    tensors, _ = read_tensors(path)
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            continue
        layer, what = key.split(".", 1)
        m = model.m[layer.replace(".", "_")]
        if not isinstance(m, torch.nn.BatchNorm2d):
            m = next(q for q in m.modules() if isinstance(q, (torch.nn.Conv2d, torch.nn.Linear)))
        target = getattr(m, what)
        if tuple(target.shape) != value.shape:
            sys.exit("finetune_torch: %s: shape %s, the peer's %s" % (key, value.shape, tuple(target.shape)))
        with torch.no_grad():
            target.copy_(torch.from_numpy(value.copy()))


def check(a):
    """Both sides compute the same graph: our trained model's weights loaded into
    the peer, its inference-mode outputs on the stream's first batch against
    nnpredict's (a batch stream of outputs). Prints the largest difference."""
    import torch
    torch.set_num_threads(a.threads)
    model = build(torch, json.load(open(a.model)))
    load_ours(torch, model, a.check[0])
    model.eval()
    x, _ = read_stream(a.stream)[0]
    theirs, _ = read_tensors(a.check[1])
    with torch.no_grad():
        y = torch.sigmoid(model(torch.from_numpy(x.copy()).permute(0, 3, 1, 2))).numpy()
    ours = theirs["x"].reshape(y.shape)
    diff = float(np.abs(ours.astype(np.float64) - y).max())
    print(json.dumps({"samples": len(y), "max_abs_diff": diff, "outputs": [round(float(v), 6) for v in y[:4, 0]]}))
    sys.exit(0 if diff <= 1e-5 else 1)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "stream":
        write_stream(int(sys.argv[2]), int(sys.argv[3]))
        return
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--stream", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--malloc-fix", action="store_true")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--profile")
    p.add_argument("--check", nargs=2, metavar=("OURS_MODEL", "OURS_OUTPUTS"))
    a = p.parse_args()
    if a.check:
        return check(a)
    if a.malloc_fix:
        malloc_fix()
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = build(torch, json.load(open(a.model)))
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    model.train()
    trainable = [q for q in model.parameters() if q.requires_grad]
    frozen = sum(q.numel() for q in model.parameters() if not q.requires_grad)
    opt = torch.optim.Adam(trainable, lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    batches = [(torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.float32)).view(-1, 1))
               for x, y in read_stream(a.stream)]

    def step(i):
        x, y = batches[i % len(batches)]
        x = x.permute(0, 3, 1, 2).contiguous(memory_format=fmt)  # NHWC in the stream
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for i in range(a.warmup):
        step(i)
    prof = None
    if a.profile:
        prof = torch.autograd.profiler.profile()
        prof.__enter__()
    t0 = time.perf_counter()
    for i in range(a.steps):
        step(a.warmup + i)
    seconds = time.perf_counter() - t0
    if prof:
        prof.__exit__(None, None, None)
        prof.export_chrome_trace(a.profile)
    batch = batches[0][0].shape[0]
    print(json.dumps({"threads": a.threads, "malloc_fix": a.malloc_fix, "channels_last": a.channels_last,
                      "steps": a.steps, "batch": batch, "steps_per_s": round(a.steps / seconds, 4),
                      "samples_per_s": round(a.steps * batch / seconds, 2),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "trainable": sum(q.numel() for q in trainable), "frozen": frozen}))


if __name__ == "__main__":
    main()
