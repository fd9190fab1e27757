#!/usr/bin/python3
"""The PyTorch peer of nntrain's training step: the lecture's binary CNN
(64x64x3 uint8 input, Lambda x/255, Conv2D(32,3x3,relu), MaxPool 2, Conv2D(64,3x3,relu),
MaxPool 2, Flatten, Dense(256,relu), Dense(1,sigmoid)), batch 128, binary
crossentropy, Adam (Keras' defaults: lr 1e-3, eps 1e-7), on random batches.

Prints one JSON line: threads, malloc_fix, steps, samples_per_s.
Usage: nn_torch_step.py --threads N [--malloc-fix] [--steps S] [--warmup W]

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
    model = nn.Sequential(*layers)
    for m in model:  # Keras' initializers: Glorot uniform kernels, zero biases
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--malloc-fix", action="store_true")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    a = p.parse_args()
    if a.malloc_fix:
        malloc_fix()
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = lecture_cnn(torch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    g = torch.Generator().manual_seed(1)
    # uint8 NHWC batches as the stream carries them; x/255 and the layout change are part of the step.
    xs = [torch.randint(0, 256, (a.batch, 64, 64, 3), dtype=torch.uint8, generator=g) for _ in range(4)]
    ys = [torch.randint(0, 2, (a.batch, 1), generator=g).float() for _ in range(4)]

    def step(i):
        x = xs[i % 4].permute(0, 3, 1, 2).float() / 255.0
        opt.zero_grad()
        loss = loss_fn(model(x), ys[i % 4])
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(a.warmup):
        step(i)
    t = time.perf_counter()
    for i in range(a.steps):
        step(i)
    dt = time.perf_counter() - t
    print(json.dumps({"threads": a.threads, "malloc_fix": a.malloc_fix, "steps": a.steps,
                      "seconds": round(dt, 3), "samples_per_s": round(a.steps * a.batch / dt, 1)}))


if __name__ == "__main__":
    main()
