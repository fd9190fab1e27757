#!/usr/bin/python3
"""The data paths people use today, for the data-path benchmark. Each walks
DIR's class folders in sorted order (as imglist, Keras and torchvision do),
loads every image at SIZE x SIZE, groups them into batches of 128 numpy arrays
(or torch tensors) and prints the number of images.

  skimage      the lecture's generator: skimage.io.imread(p) / 255.,
               skimage.transform.resize(img, (S, S, 3), preserve_range=True)
  keras        Keras' load_img: PIL open from BytesIO, convert("RGB"),
               resize NEAREST, img_to_array (float32)
  pil-draft    PIL with draft("RGB", (S, S)) (JPEG DCT scaling), then an
               antialiased BILINEAR resize, uint8
  torchvision  ImageFolder + Resize((S, S)) + ToTensor + DataLoader(batch 128, num_workers=0)

Usage: data_path_peers.py MODE DIR SIZE [STEP]   (run with Debian's /usr/bin/python3)
STEP > 1 loads every STEP-th file only (for the slowest path on the largest corpus).
"""
import io
import os
import sys

import numpy as np


def paths(root):
    out = []
    for cls in sorted(e.name for e in os.scandir(root) if e.is_dir()):
        for folder, dirs, files in sorted(os.walk(os.path.join(root, cls))):
            dirs.sort()
            out += [os.path.join(folder, f) for f in sorted(files)]
    return out


def batches(images, n=128):
    batch = []
    for im in images:
        batch.append(im)
        if len(batch) == n:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def skimage_gen(files, size):
    from skimage.io import imread
    from skimage.transform import resize
    for p in files:
        img = imread(p) / 255.
        if img.ndim == 2:  # the lecture's photos were RGB; gray ones need the channel axis
            img = np.stack([img] * 3, axis=2)
        yield resize(img, (size, size, 3), preserve_range=True)


def keras_gen(files, size):
    from PIL import Image
    for p in files:
        with open(p, "rb") as f:
            img = Image.open(io.BytesIO(f.read()))
            if img.mode != "RGB":
                img = img.convert("RGB")
            img = img.resize((size, size), Image.NEAREST)
        yield np.asarray(img, dtype=np.float32)


def draft_gen(files, size):
    from PIL import Image
    for p in files:
        with Image.open(p) as img:
            img.draft("RGB", (size, size))
            img = img.convert("RGB").resize((size, size), Image.BILINEAR)
        yield np.asarray(img)


def torchvision_count(root, size, step):
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms
    torch.set_num_threads(1)
    ds = datasets.ImageFolder(root, transform=transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()]))
    if step > 1:
        ds = torch.utils.data.Subset(ds, range(0, len(ds), step))
    n = 0
    for x, y in DataLoader(ds, batch_size=128, shuffle=False, num_workers=0):
        n += len(x)
    return n


def main():
    mode, root, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    step = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    if mode == "torchvision":
        print(torchvision_count(root, size, step))
        return
    gen = {"skimage": skimage_gen, "keras": keras_gen, "pil-draft": draft_gen}[mode]
    print(sum(len(b) for b in batches(gen(paths(root)[::step], size))))


if __name__ == "__main__":
    main()
