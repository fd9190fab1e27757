#!/usr/bin/python3
"""Python peers for bench/augment.sh: load 64x64 PNGs and augment them with
rotation 20, zoom 0.2 and horizontal flips, as people do it today.
  keras      Keras' path: load_img (PIL, RGB, resize NEAREST), img_to_array,
             get_random_transform + apply_transform: scipy.ndimage.affine_transform
             per channel, order 1, fill 'nearest' (keras/src/legacy/preprocessing/image.py)
  keras-none the same without augmentation
  pil        PIL's affine path (as torchvision's RandomAffine): Image.transform AFFINE, BILINEAR
Usage: augment_peers.py MODE FOLDER SIZE; prints the number of images processed."""
import os
import sys

import numpy as np
from PIL import Image
from scipy import ndimage


def files(folder):
    for root, _, names in sorted(os.walk(folder)):
        for name in sorted(names):
            if name.lower().endswith((".png", ".jpg", ".jpeg")):
                yield os.path.join(root, name)


def keras_matrix(h, w, rng):
    theta = np.deg2rad(rng.uniform(-20, 20))
    zx, zy = rng.uniform(0.8, 1.2, 2)
    m = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    m = m @ np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    o_x, o_y = h / 2 - 0.5, w / 2 - 0.5
    return np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]]) @ m @ np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])


def main():
    mode, folder, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(1)
    count = 0
    for path in files(folder):
        with open(path, "rb") as f:
            img = Image.open(f)
            img = img.convert("RGB")
            if mode == "pil":
                img = img.resize((size, size), Image.BILINEAR)
                theta = np.deg2rad(rng.uniform(-20, 20))
                z = rng.uniform(0.8, 1.2)
                c, s = np.cos(theta) / z, np.sin(theta) / z
                cx = cy = size / 2
                coeffs = (c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy)
                img = img.transform((size, size), Image.AFFINE, coeffs, Image.BILINEAR)
                if rng.random() < 0.5:
                    img = img.transpose(Image.FLIP_LEFT_RIGHT)
                x = np.asarray(img, dtype=np.float32)
            else:
                img = img.resize((size, size), Image.NEAREST)
                x = np.asarray(img, dtype=np.float32)
                if mode == "keras":
                    m = keras_matrix(size, size, rng)
                    x = np.stack([ndimage.affine_transform(x[..., k], m[:2, :2], m[:2, 2], order=1, mode="nearest")
                                  for k in range(x.shape[2])], axis=-1)
                    if rng.random() < 0.5:
                        x = x[:, ::-1]
        count += 1
    print(count)


if __name__ == "__main__":
    main()
