#!/usr/bin/python3
"""The machine's practical peak: GFLOP/s of a large single-precision matrix
product (sgemm) through the system BLAS, as PyTorch calls it, the best of 5
runs at each of 2048 and 4096. Run it with OPENBLAS_NUM_THREADS=N as well
(Debian's torch does not pass its thread count to the BLAS).
With --layers, also the ceiling at the CNNs' own shapes: the sgemm of each
pass of the largest convolution (the second Conv2D, batch 128) written as
one matrix product over the batch (im2col, channels-last: forward
[rows, 9C] x [9C, F], weight gradient [F, rows] x [rows, 9C], input gradient
[rows, F] x [F, 9C]; im2col itself not counted), and the same convolution
through libtorch's oneDNN (forward; backward: input and weight gradients).
Usage: sgemm_peak.py THREADS [--layers]   (prints one JSON line)
"""
import json
import sys
import time

import torch

# name: (input H=W, channels in, filters) of the second Conv2D, 3x3, valid
LAYERS = {"lecture": (31, 32, 64), "fm": (13, 32, 64)}


def best_gflops(flop, f, runs=5):
    f()
    best = 0.0
    for _ in range(runs):
        t = time.perf_counter()
        f()
        best = max(best, flop / (time.perf_counter() - t) / 1e9)
    return round(best, 1)


def layer_ceiling(size, cin, filters, batch=128):
    out = size - 2
    rows, k = batch * out * out, 9 * cin
    flop = 2 * rows * k * filters
    cols, gy, w = torch.randn(rows, k), torch.randn(rows, filters), torch.randn(filters, k)
    x = torch.randn(batch, cin, size, size).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    wc = torch.randn(filters, cin, 3, 3).requires_grad_(True)
    g = torch.randn(batch, filters, out, out).contiguous(memory_format=torch.channels_last)

    def conv_backward():
        y = torch.nn.functional.conv2d(x, wc)
        torch.autograd.grad(y, [x, wc], g)

    with torch.no_grad():
        forward = best_gflops(flop, lambda: torch.nn.functional.conv2d(x, wc))
    both = best_gflops(3 * flop, conv_backward)  # forward + the two gradients
    return {"sgemm_forward": best_gflops(flop, lambda: cols.mm(w.t())),
            "sgemm_weight_gradient": best_gflops(flop, lambda: gy.t().mm(cols)),
            "sgemm_input_gradient": best_gflops(flop, lambda: gy.mm(w)),
            "onednn_forward": forward,
            "onednn_backward": round(2 / (3 / both - 1 / forward), 1)}  # (both's time - forward's) for 2 flop


def main():
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    best = 0.0
    for n in (2048, 4096):
        a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        torch.mm(a, b, out=c)
        for _ in range(5):
            t = time.perf_counter()
            torch.mm(a, b, out=c)
            best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    result = {"threads": threads, "gflops": round(best, 1)}
    if "--layers" in sys.argv[2:]:
        result["layers"] = {name: layer_ceiling(*shape) for name, shape in LAYERS.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
