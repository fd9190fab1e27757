#!/usr/bin/python3
"""Makes the data-path benchmark's corpora from photos that ship in Debian
packages (python3-skimage's data folder, matplotlib's sample data):

  OUT/jpeg1024/<photo>/NNNN.jpg   2000 distinct 1024x1024 JPEGs (quality 90, 4:2:0)
  OUT/png64/<photo>/NNNN.png      2000 distinct 64x64 RGB PNGs

Each file is a random crop of one photo, flipped, colour-varied and (for the
JPEGs) given a little sensor-like noise so that it compresses like a camera
photo rather than an upscaled one. Deterministic (seeded). Nothing is
downloaded. Usage: data_path_corpus.py OUT [--count N]
"""
import argparse
import glob
import os
import sys

import numpy as np
from PIL import Image, ImageEnhance

SOURCES = [
    "/usr/lib/python3/dist-packages/skimage/data/astronaut.png",
    "/usr/lib/python3/dist-packages/skimage/data/chelsea.png",
    "/usr/lib/python3/dist-packages/skimage/data/coffee.png",
    "/usr/lib/python3/dist-packages/skimage/data/motorcycle_left.png",
    "/usr/lib/python3/dist-packages/skimage/data/ihc.png",
    "/usr/lib/python3/dist-packages/skimage/data/hubble_deep_field.jpg",
    "/usr/lib/python3/dist-packages/skimage/data/retina.jpg",
    "/usr/lib/python3/dist-packages/skimage/data/rocket.jpg",
    "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg",
    "/usr/lib/python3/dist-packages/skimage/data/camera.png",
]


def variant(photo, rng, size, noise):
    w, h = photo.size
    side = int(min(w, h) * rng.uniform(0.55, 1.0))
    x, y = rng.integers(0, w - side + 1), rng.integers(0, h - side + 1)
    im = photo.crop((x, y, x + side, y + side)).resize((size, size), Image.LANCZOS)
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    im = ImageEnhance.Color(im).enhance(rng.uniform(0.6, 1.4))
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.8, 1.2))
    im = ImageEnhance.Contrast(im).enhance(rng.uniform(0.8, 1.2))
    if noise:
        a = np.asarray(im, dtype=np.float32)
        a += rng.normal(0, noise, a.shape).astype(np.float32)
        im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return im


def make(out, kind, count, rng):
    photos = [(os.path.splitext(os.path.basename(p))[0], Image.open(p).convert("RGB")) for p in SOURCES if os.path.exists(p)]
    if not photos:
        sys.exit("data_path_corpus.py: none of the Debian sample photos is installed (python3-skimage, python3-matplotlib)")
    done = len(glob.glob(os.path.join(out, kind, "*", "*")))
    if done >= count:
        return
    for i in range(count):
        name, photo = photos[i % len(photos)]
        folder = os.path.join(out, kind, name)
        os.makedirs(folder, exist_ok=True)
        if kind == "jpeg1024":
            variant(photo, rng, 1024, 3.0).save(os.path.join(folder, "%04d.jpg" % i), quality=90)
        else:
            variant(photo, rng, 64, 0).save(os.path.join(folder, "%04d.png" % i))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=2000)
    args = ap.parse_args()
    rng = np.random.default_rng(20240607)
    make(args.out, "png64", args.count, rng)
    make(args.out, "jpeg1024", args.count, rng)


if __name__ == "__main__":
    main()
