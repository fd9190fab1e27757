#!/usr/bin/python3
"""Reference for test_augment.cpp: Keras' apply_transform written with scipy,
as keras/src/legacy/preprocessing/image.py does it (matrix in row, col order).
Usage: augment_reference.py IN OUT H W C MODE CVAL theta tx ty shear zx zy fliph flipv shift brightness
IN holds H*W*C uint8 bytes; OUT gets the transformed bytes."""
import sys

import numpy as np
from scipy import ndimage

a = sys.argv
h, w, c = int(a[3]), int(a[4]), int(a[5])
mode, cval = a[6], float(a[7])
theta, tx, ty, shear, zx, zy = map(float, a[8:14])
fliph, flipv = a[14] == "1", a[15] == "1"
shift, brightness = float(a[16]), float(a[17])
x = np.fromfile(a[1], np.uint8).reshape(h, w, c).astype(np.float64)

th, sh = np.deg2rad(theta), np.deg2rad(shear)
m = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
m = m @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
m = m @ np.array([[1, -np.sin(sh), 0], [0, np.cos(sh), 0], [0, 0, 1]])
m = m @ np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
o_r, o_c = h / 2 - 0.5, w / 2 - 0.5
m = np.array([[1, 0, o_r], [0, 1, o_c], [0, 0, 1]]) @ m @ np.array([[1, 0, -o_r], [0, 1, -o_c], [0, 0, 1]])
scipy_mode = {"wrap": "grid-wrap"}.get(mode, mode)
x = np.stack([ndimage.affine_transform(x[..., k], m[:2, :2], m[:2, 2], order=1, mode=scipy_mode, cval=cval)
              for k in range(c)], axis=-1)
if shift:
    x = np.clip(x + shift, x.min(), x.max())
if fliph:
    x = x[:, ::-1]
if flipv:
    x = x[::-1]
if brightness:
    x = x * brightness
np.clip(np.round(x), 0, 255).astype(np.uint8).tofile(a[2])
