#!/usr/bin/python3
# A corpus of PNG masks for tests/unit/test_png_mask.cpp: masks drawn with PIL
# (shapes of class values), 8-bit and 1/2/4-bit, gray and palette, saved by PIL
# itself (its own filter choice) and by the small encoder below with each of
# the five filter types on every row, the five in turn, and the image data split
# over several IDAT chunks. Each NAME.png comes with NAME.raw, its values (one
# byte a pixel, row after row; PIL reads them back the same) and NAME.size, "W H".
# Usage: png_mask_corpus.py DIR
import os, struct, sys, zlib

import numpy as np
from PIL import Image, ImageDraw

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(26)


def drawn(w, h, levels):
    """A mask as data sets have them: a background and shapes of other values, plus noise rows."""
    m = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(m)
    for _ in range(6):
        x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(2, max(3, w // 3)))
        v = int(rng.integers(1, levels))
        (d.ellipse if rng.integers(2) else d.rectangle)([x - r, y - r, x + r, y + r], fill=v)
    a = np.array(m)
    a[h // 2] = rng.integers(0, levels, w)  # one row of noise: Sub, Average and Paeth see every kind of neighbour
    return a


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def encode(a, depth, palette, filters, idat_parts=1):
    """PNG bytes of the values a (h x w) at depth bits, row y filtered with filters[y % len(filters)]."""
    h, w = a.shape
    per = 8 // depth
    rows = []
    for y in range(h):  # pack the samples, most significant bits first
        line = bytearray((w * depth + 7) // 8)
        for x in range(w):
            line[x // per] |= int(a[y, x]) << (8 - depth * (x % per + 1))
        rows.append(line)
    raw = bytearray()
    for y, line in enumerate(rows):
        f = filters[y % len(filters)]
        prior = rows[y - 1] if y else bytearray(len(line))
        raw.append(f)
        for i, v in enumerate(line):
            left = line[i - 1] if i else 0
            up, upleft = prior[i], (prior[i - 1] if i else 0)
            pred = [0, left, up, (left + up) // 2, paeth(left, up, upleft)][f]
            raw.append((v - pred) & 255)
    z = zlib.compress(bytes(raw), 9)
    cut = [len(z) * k // idat_parts for k in range(idat_parts + 1)]
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 3 if palette else 0, 0, 0, 0))
    png += chunk(b"tEXt", b"Comment\x00an ancillary chunk, skipped")
    if palette:
        png += chunk(b"PLTE", bytes(rng.integers(0, 256, 3 * (1 << depth), dtype=np.uint8)))
    for k in range(idat_parts):
        png += chunk(b"IDAT", z[cut[k]:cut[k + 1]])
    return png + chunk(b"IEND", b"")


def save(name, truth, png_bytes=None, pil=None):
    """Writes the PNG, checks that PIL reads back truth, writes truth as NAME.raw."""
    path = f"{out}/{name}.png"
    if pil is not None:
        pil.save(path)
    else:
        open(path, "wb").write(png_bytes)
    back = Image.open(path)
    values = np.array(back, dtype=np.uint8)
    depth = open(path, "rb").read()[24]
    if back.mode == "L" and depth < 8:  # PIL widens 2/4-bit gray to 0-255
        values = values // (255 // ((1 << depth) - 1))
    assert back.mode in ("L", "P", "1") and (values == truth).all(), (name, back.mode)
    open(f"{out}/{name}.raw", "wb").write(truth.astype(np.uint8).tobytes())
    open(f"{out}/{name}.size", "w").write(f"{truth.shape[1]} {truth.shape[0]}\n")


for w, h in [(37, 23), (128, 96), (1, 1), (9, 2)]:  # odd widths leave padding bits at the end of each row
    for depth in (1, 2, 4, 8):
        for palette in (False, True):
            a = drawn(w, h, 1 << depth)
            kind = f"{'palette' if palette else 'gray'}{depth}-{w}x{h}"
            for f in range(5):
                save(f"{kind}-filter{f}", a, encode(a, depth, palette, [f]))
            save(f"{kind}-mixed-3idat", a, encode(a, depth, palette, [0, 1, 2, 3, 4, 4, 3, 2, 1], idat_parts=3))
    # PIL's own encoder: 8-bit gray ("L", its adaptive filters), palette ("P"), 1-bit ("1").
    a = drawn(w, h, 4)
    save(f"pil-gray8-{w}x{h}", a, pil=Image.fromarray(a))
    p = Image.fromarray(a).convert("P")
    p.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    save(f"pil-palette8-{w}x{h}", a, pil=p)
    save(f"pil-bits1-{w}x{h}", (a > 0).astype(np.uint8), pil=Image.fromarray(a > 0))
