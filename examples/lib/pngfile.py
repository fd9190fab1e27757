"""Writes 8-bit grayscale PNG files with the Python standard library alone."""
import os
import struct
import zlib


def png_gray(width, height, pixels):
    """PNG bytes of a width x height image, pixels: bytes, row-major."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    rows = b"".join(b"\0" + pixels[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def write_png_gray(path, width, height, pixels):
    """Writes atomically: a temporary file renamed into place."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(png_gray(width, height, pixels))
    os.replace(tmp, path)


def write_png_rgb(path, width, height, pixels):
    """Writes an 8-bit RGB PNG atomically; pixels: bytes, row-major r, g, b."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    stride = 3 * width
    rows = b"".join(b"\0" + pixels[y * stride:(y + 1) * stride] for y in range(height))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
