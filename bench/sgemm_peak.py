#!/usr/bin/python3
"""The machine's practical peak: GFLOP/s of a large single-precision matrix
product (sgemm) through the system BLAS, as PyTorch calls it, the best of 5
runs at each of 2048 and 4096. Run it with OPENBLAS_NUM_THREADS=N as well
(Debian's torch does not pass its thread count to the BLAS).
Usage: sgemm_peak.py THREADS   (prints one JSON line)
"""
import json
import sys
import time

import torch


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
    print(json.dumps({"threads": threads, "gflops": round(best, 1)}))


if __name__ == "__main__":
    main()
