#!/usr/bin/python3
"""The PyTorch peer of nntrain's training step: the lecture's binary CNN
(64x64x3 uint8 input, Lambda x/255, Conv2D(32,3x3,relu), MaxPool 2, Conv2D(64,3x3,relu),
MaxPool 2, Flatten, Dense(256,relu), Dense(1,sigmoid)), batch 128, binary
crossentropy, Adam (Keras' defaults: lr 1e-3, eps 1e-7), on random batches.

--model fm: the same CNN for 28x28x1 with 10 softmax classes (Fashion-MNIST).
--inference: the forward pass, loss and accuracy only, model.eval() under
torch.no_grad(), as nneval runs it. --profile FILE: a Chrome trace of the
timed steps (torch.autograd.profiler; bench/profile_summary.py reads it).

Prints one JSON line: threads, malloc_fix, steps, samples_per_s, and the
multiply-adds of the convolutions and Dense layers as MFLOP a sample (2 per
multiply-add; a training step counts 3 passes, less the first layer's input
gradient, which no one needs).
Usage: nn_torch_step.py --threads N [--malloc-fix] [--steps S] [--warmup W] [--model lecture|fm] [--inference]

--malloc-fix sets glibc's M_MMAP_MAX=0 and M_TRIM_THRESHOLD=1<<30 through ctypes
before torch allocates anything: the same fix nntrain applies at start-up.
"""
import argparse
import ctypes
import json
import sys
import time


def malloc_fix():
    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
    if libc.mallopt(M_MMAP_MAX, 0) != 1 or libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) != 1:
        sys.exit("nn_torch_step: mallopt failed")


def lecture_cnn(torch, height=64, width=64, channels=3, outputs=1):
    nn = torch.nn
    flat = 64 * (((height - 2) // 2 - 2) // 2) * (((width - 2) // 2 - 2) // 2)
    layers = [nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
              nn.Flatten(), nn.Linear(flat, 256), nn.ReLU(), nn.Linear(256, outputs)]
    return keras_init(torch, nn.Sequential(*layers))


def keras_init(torch, model):
    """Keras' initializers on a Sequential: Glorot uniform kernels, zero biases."""
    for m in model:
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    return model


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--malloc-fix", action="store_true")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--model", choices=["lecture", "fm"], default="lecture")
    p.add_argument("--inference", action="store_true")
    p.add_argument("--profile")
    a = p.parse_args()
    if a.malloc_fix:
        malloc_fix()
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    h, w, c, k = (64, 64, 3, 1) if a.model == "lecture" else (28, 28, 1, 10)
    model = lecture_cnn(torch, h, w, c, k)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.BCEWithLogitsLoss() if k == 1 else torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)
    # uint8 NHWC batches as the stream carries them; x/255 and the layout change are part of the step.
    xs = [torch.randint(0, 256, (a.batch, h, w, c), dtype=torch.uint8, generator=g) for _ in range(4)]
    if k == 1:
        ys = [torch.randint(0, 2, (a.batch, 1), generator=g).float() for _ in range(4)]
    else:
        ys = [torch.randint(0, k, (a.batch,), generator=g) for _ in range(4)]

    def train(i):
        x = xs[i % 4].permute(0, 3, 1, 2).float() / 255.0
        opt.zero_grad()
        loss = loss_fn(model(x), ys[i % 4])
        loss.backward()
        opt.step()
        return loss.item()

    def infer(i):
        with torch.no_grad():
            x = xs[i % 4].permute(0, 3, 1, 2).float() / 255.0
            out = model(x)
            loss = loss_fn(out, ys[i % 4])
            hit = ((out > 0).float() == ys[i % 4]) if k == 1 else (out.argmax(1) == ys[i % 4])
            return loss.item(), hit.float().mean().item()

    step = infer if a.inference else train
    if a.inference:
        model.eval()
    for i in range(a.warmup):
        step(i)
    prof = torch.autograd.profiler.profile() if a.profile else None
    if prof:
        prof.__enter__()
    t = time.perf_counter()
    for i in range(a.steps):
        step(i)
    dt = time.perf_counter() - t
    if prof:
        prof.__exit__(None, None, None)
        prof.export_chrome_trace(a.profile)
    print(json.dumps({"threads": a.threads, "malloc_fix": a.malloc_fix, "model": a.model, "inference": a.inference,
                      "steps": a.steps, "seconds": round(dt, 3), "samples_per_s": round(a.steps * a.batch / dt, 1),
                      "mflop_per_sample": round(mflop(torch, model, (h, w, c), a.inference), 1)}))


def mflop(torch, model, shape, inference):
    """2 x the multiply-adds of the convolutions and Dense layers for one
    sample; a training step: forward, input gradient (but the first layer's),
    weight gradient."""
    x = torch.zeros(1, shape[2], shape[0], shape[1])
    total, first = 0.0, True
    for m in model:
        y = m(x)
        macs = 0
        if isinstance(m, torch.nn.Conv2d):
            macs = y.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            macs = m.in_features * m.out_features
        if macs:
            total += 2 * macs * (1 if inference else (2 if first else 3))
            first = False
        x = y
    return total / 1e6


if __name__ == "__main__":
    main()
