#!/bin/sh
# Makes the bad-data corpus of tests/corpus.tsv in the current folder, from a
# photo that ships with Debian (scikit-image's astronaut) and Fashion-MNIST,
# with the vips command and plain file writes. Used by tests/shell/corpus.sh.
set -e
PHOTO=${PHOTO:-/usr/lib/python3/dist-packages/skimage/data/astronaut.png}
FM=${FM:-/usr/share/datasets/fashion-mnist}
PY=/usr/bin/python3

# ---- colour variants, 48x32 (not square: a wrong transpose shows) ----
vips thumbnail "$PHOTO" base.v 48 --height 32 --size force
vips copy base.v rgb.png
vips colourspace base.v gray.v b-w
vips copy gray.v gray.png
vips extract_band base.v alpha.v 1
vips bandjoin "gray.v alpha.v" graya.png
vips bandjoin "base.v alpha.v" rgba.png
vips pngsave base.v palette.png --palette
vips colourspace base.v rgb16.v rgb16
vips copy rgb16.v rgb16.png
vips colourspace base.v gray16.v grey16
vips copy gray16.v gray16.png
vips copy rgb16.v rgb16.tif
vips copy gray16.v gray16.tif
vips copy base.v rgb.tif
vips copy base.v "rgb.jpg[Q=95]"
vips thumbnail "$PHOTO" square.v 32 --height 32 --size force
vips copy square.v "square.jpg[Q=95,strip]"
vips copy gray.v "gray.jpg[Q=95]"
vips copy base.v "progressive.jpg[Q=95,interlace]"
vips icc_export base.v "cmyk.jpg[Q=95]" --output-profile cmyk
vips icc_transform base.v p3.png p3
vips copy base.v rgb.webp
vips bandjoin "base.v alpha.v" rgba.webp
vips copy base.v rgb.gif
vips copy base.v rgb.ppm
vips copy gray.v gray.pgm
vips ppmsave gray.v bw.pbm --format pbm
vips flip base.v flipped.v vertical
vips join base.v flipped.v pages2.v vertical
vips join pages2.v base.v pages.v vertical
vips tiffsave pages.v multipage.tif --page-height 32
vips copy "multipage.tif[n=-1]" animated.gif

# ---- sizes ----
vips black one.v 1 1 --bands 3
vips linear one.v onec.v "1 1 1" "200 100 50" --uchar
vips copy onec.v 1x1.png
vips black huge.v 10000 10000
vips copy huge.v "10000x10000.jpg[Q=50]"
vips black wide.v 20000 2 --bands 3
vips copy wide.v 20000x2.png
vips copy wide.v 20000x2.jpg
vips rot wide.v tall.v d90
vips copy tall.v 2x20000.png

# ---- plain file writes: BMP, palette with transparency, EXIF orientations,
# truncations, a decompression bomb, non-images ----
$PY - "$FM" <<'PY'
import gzip, struct, sys, zlib
fm = sys.argv[1]

def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)

def png(path, w, h, color_type, depth, raw, extra=b""):
    stride = len(raw) // h
    rows = b"".join(b"\0" + raw[y * stride:(y + 1) * stride] for y in range(h))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
                           + extra + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

# A Fashion-MNIST image as a palette PNG whose index 0 is fully transparent.
with gzip.open(fm + "/t10k-images-idx3-ubyte.gz") as f:
    f.read(16)
    img = f.read(28 * 28)
levels = bytes(v // 16 for v in img)  # 16 levels
plte = b"".join(bytes((i * 17, i * 17, 255 - i * 17)) for i in range(16))
png("palette-trns.png", 28, 28, 3, 8, levels, chunk(b"PLTE", plte) + chunk(b"tRNS", b"\x00" + b"\xff" * 15))

# BMP, 24-bit bottom-up, from the same digit.
w = h = 28
row = lambda y: b"".join(bytes((img[y * w + x],) * 3) for x in range(w)) + b"\0" * ((4 - w * 3 % 4) % 4)
pix = b"".join(row(y) for y in reversed(range(h)))
open("gray.bmp", "wb").write(b"BM" + struct.pack("<IHHI", 54 + len(pix), 0, 0, 54)
                             + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pix), 2835, 2835, 0, 0) + pix)

# EXIF orientations 1-8: a square JPEG with an APP1 segment holding only the tag.
sq = open("square.jpg", "rb").read()
for o in range(1, 9):
    tiff = b"MM\0*" + struct.pack(">I", 8) + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x112, 3, 1, o, 0) + struct.pack(">I", 0)
    app1 = b"Exif\0\0" + tiff
    open("exif-%d.jpg" % o, "wb").write(sq[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + sq[2:])
jpg = open("rgb.jpg", "rb").read()

# Truncations: in the header, in the middle of the data, just before the end.
def cut(src, dst, n):
    open(dst, "wb").write(open(src, "rb").read()[:n])
png_bytes = open("rgb.png", "rb").read()
cut("rgb.png", "png-cut-in-ihdr.png", 20)
cut("rgb.png", "png-cut-in-idat.png", len(png_bytes) // 2)
cut("rgb.png", "png-cut-before-iend.png", len(png_bytes) - 12)
sof = jpg.index(b"\xff\xc0")
cut("rgb.jpg", "jpg-cut-in-header.jpg", sof)
cut("rgb.jpg", "jpg-cut-in-scan.jpg", (jpg.index(b"\xff\xda") + len(jpg)) // 2)
cut("rgb.jpg", "jpg-cut-before-eoi.jpg", len(jpg) - 2)
for src, dst in [("rgb.gif", "gif-cut.gif"), ("rgb.tif", "tif-cut.tif"), ("rgb.webp", "webp-cut.webp"), ("gray.bmp", "bmp-cut.bmp")]:
    cut(src, dst, len(open(src, "rb").read()) // 2)

# A decompression bomb: a 400-byte PNG declaring 100000x100000 pixels.
rows = zlib.compressobj(9)
idat = rows.compress(b"\0" * 1000000) + rows.flush()
open("bomb.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0))
                             + chunk(b"IDAT", idat[:300]) + chunk(b"IEND", b""))

# A damaged colour profile (issue 8): a P3 PNG whose iCCP chunk has a bad CRC,
# and one whose chunk type and CRC were both overwritten (erased to 0xff).
p3 = open("p3.png", "rb").read()
i = p3.index(b"iCCP") - 4
end = i + 12 + struct.unpack(">I", p3[i:i + 4])[0]
open("iccp-bad-crc.png", "wb").write(p3[:end - 4] + b"\0\0\0\0" + p3[end:])
open("iccp-overwritten.png", "wb").write(p3[:i + 4] + b"\xff" * 4 + p3[i + 8:end - 4] + b"\xff" * 4 + p3[end:])

# Not images, or not what their names say.
open("empty.png", "wb").close()
open("text.jpg", "w").write("hello, I am not a picture\n")
open("png-named.jpg", "wb").write(png_bytes)
open("jpeg-named.png", "wb").write(jpg)
open("zeros.jpg", "wb").write(b"\0" * 4096)
open("html.png", "w").write("<!DOCTYPE html><html><body>404 Not Found</body></html>\n")
PY

# ---- names and file types ----
cp rgb.png "with space.png"
cp rgb.png "$(printf 'with\ttab.png')"
cp rgb.png "$(printf 'with\nnewline.png')"
cp rgb.png "ünïcødé 日本.png"
cp rgb.png -- "-leading-dash.png"
ln -s loop-b.png loop-a.png
ln -s loop-a.png loop-b.png
ln -s missing-target.png dangling.png
ln -s rgb.png symlink.png
mkdir -p folder.png
cp rgb.png unreadable.png && chmod 000 unreadable.png
rm -f ./*.v
