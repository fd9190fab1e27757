# imgprep on real images: Fashion-MNIST digits (Debian's IDX files) written
# out as PNG by Python, and JPEG/TIFF/WebP/GIF/CMYK files made from them by
# the vips command. Output bytes are checked with an independent reader
# (json + numpy, tests/shell/stream.py).
. "$ROOT/tests/shell/lib.sh"

FM=/usr/share/datasets/fashion-mnist
if ! command -v vips > /dev/null; then
    _result fail "the vips command (Debian package libvips-tools) makes the test images"
    exit 0
fi

# ---- test images ----
cat > mk.py <<'EOF'
import gzip, os, struct, sys, zlib
import numpy as np
fm = sys.argv[1]
with gzip.open(fm + "/t10k-images-idx3-ubyte.gz") as f:
    f.read(16); images = np.frombuffer(f.read(28 * 28 * 40), np.uint8).reshape(40, 28, 28)
with gzip.open(fm + "/t10k-labels-idx1-ubyte.gz") as f:
    f.read(8); labels = np.frombuffer(f.read(40), np.uint8)
np.save("digits.npy", images); np.save("labels.npy", labels)

def png(path, a, color_type=None, depth=8, palette=None, trns=None):
    a = np.ascontiguousarray(a)
    h, w = a.shape[:2]
    c = 1 if a.ndim == 2 else a.shape[2]
    if color_type is None:
        color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = a.astype(">u2").tobytes() if depth == 16 else a.astype(np.uint8).tobytes()
    stride = len(raw) // h
    rows = b"".join(b"\0" + raw[y * stride:(y + 1) * stride] for y in range(h))
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")
    open(path, "wb").write(out)

names = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
os.makedirs("data", exist_ok=True)
with open("digits.list", "w") as lst:
    for i in range(20):
        cls = int(labels[i])
        os.makedirs("data/%d_%s" % (cls, names[cls]), exist_ok=True)
        p = "data/%d_%s/%02d.png" % (cls, names[cls], i)
        png(p, images[i])
        lst.write("%s\t%d\t%d_%s\n" % (p, cls, cls, names[cls]))
# A colour picture: three digits as R, G, B, scaled 3x (84x84), and variants.
rgb = np.stack([np.kron(images[k], np.ones((3, 3), np.uint8)) for k in (0, 1, 2)], axis=2)
rgb = rgb[:, :, :] // 2 + 64
rgb = np.concatenate([rgb, rgb[:30]], axis=0)  # 114x84: not square
np.save("rgb.npy", rgb)
png("rgb.png", rgb)
alpha = np.tile(np.where(np.arange(84) < 42, 0, 255).astype(np.uint8), (114, 1))
png("rgba.png", np.dstack([rgb, alpha]))
png("ga.png", np.dstack([rgb[:, :, 0], alpha]))
png("rgb16.png", rgb.astype(np.uint16) * 257, depth=16)
pal = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]])
idx = (np.arange(114 * 84).reshape(114, 84) // 7 % 4).astype(np.uint8)
png("palette.png", idx, color_type=3, palette=pal)
np.save("palette.npy", pal[idx])
png("one.png", np.full((1, 1, 3), [200, 100, 50], np.uint8))
EOF
py mk.py "$FM" || { _result fail "making the test images"; exit 0; }
vips copy rgb.png "photo.jpg[Q=95,subsample-mode=off]"
vips copy rgb.png "prog.jpg[Q=95,interlace,subsample-mode=off]"
vips copy rgb.png rgb.tif
vips copy rgb.png "rgb.webp[lossless]"
vips copy rgb.png rgb.gif
vips icc_export rgb.png "cmyk.jpg[Q=95]" --output-profile cmyk
vips resize rgb.png big.png 30 && vips copy big.png "big.jpg[Q=80]"
# photo.jpg with an EXIF orientation tag 6 ("rotate 90 clockwise to view") put in by hand.
py - <<'EOF'
import struct
j = open("photo.jpg", "rb").read()
tiff = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x112, 3, 1, 6) + b"\0\0\0\0"
app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\0\0" + tiff
open("rot6.jpg", "wb").write(j[:2] + app1 + j[2:])
EOF
S="$ROOT/tests/shell/stream.py"
cat > rd.py <<EOF
import json, sys
import numpy as np
sys.path.insert(0, "$ROOT/tests/shell")
import stream
def frames(path):
    return list(stream.read_frames(open(path, "rb")))
def xs(path):
    return np.concatenate([t["x"] for t, m in frames(path)])
def paths(path):
    return [p for t, m in frames(path) for p in json.loads(m["paths"])]
EOF
pyc() { py -c "import sys; sys.path.insert(0, '.'); from rd import *; $1"; }

# ---- the stream ----
run imgprep --size 28x28 digits.list
check_status "prepares a labelled list" 0
check "one frame per sample, x U8 [1,28,28,3] and y I32 [1]" 'pyc "
f = frames(\"out\"); assert len(f) == 20
for t, m in f: assert t[\"x\"].shape == (1, 28, 28, 3) and t[\"x\"].dtype == np.uint8 and t[\"y\"].shape == (1,)"'
check "pixels are the Fashion-MNIST bytes, gray repeated in R, G and B" 'pyc "
x = xs(\"out\"); d = np.load(\"digits.npy\")[:20]
assert (x[..., 0] == d).all() and (x[..., 1] == d).all() and (x[..., 2] == d).all()"'
check "labels, classes, paths and epoch metadata" 'pyc "
f = frames(\"out\"); lab = np.load(\"labels.npy\")[:20]
assert [int(t[\"y\"][0]) for t, m in f] == lab.tolist()
m = f[3][1]
cl = json.loads(m[\"classes\"]); assert len(cl) == 10 and cl[9] == \"9_boot\", cl
assert m[\"class_mode\"] == \"sparse\" and m[\"format\"] == \"batchstream/1\"
assert json.loads(m[\"paths\"]) == [open(\"digits.list\").read().split(chr(10))[3].split(chr(9))[0]]
assert (m[\"epoch\"], m[\"index\"], m[\"epoch_size\"]) == (\"0\", \"3\", \"20\")"'
check_err "a summary line on stderr" "imgprep: 20 images in"

run imgprep -q --size 28x28 -b 8 digits.list
check "-b 8 groups 8, 8 and 4 samples per frame, index moving on" 'pyc "
f = frames(\"out\"); assert [len(t[\"x\"]) for t, m in f] == [8, 8, 4]
assert [m[\"index\"] for t, m in f] == [\"0\", \"8\", \"16\"]"'
check "-q prints nothing" '[ ! -s "$T/err" ]'

run imgprep -q --size 28x28 --color grayscale --dtype f32 --rescale 1/255 digits.list
check "--color grayscale --rescale 1/255: F32 [1,28,28,1] equal to bytes/255" 'pyc "
x = xs(\"out\"); assert x.dtype == np.float32 and x.shape == (20, 28, 28, 1)
assert np.allclose(x[..., 0], np.load(\"digits.npy\")[:20] / 255.0, atol=1e-6)"'
run imgprep --rescale 1/255 --dtype u8 digits.list
check_status "--rescale with --dtype u8 is a usage error" 64

cut -f1 digits.list > plain.list
run imgprep -q --size 28x28 plain.list
check "an unlabelled list: no y, class_mode none" 'pyc "
t, m = frames(\"out\")[0]; assert \"y\" not in t and m[\"class_mode\"] == \"none\" and m[\"classes\"] == \"[]\""'

# ---- resizing ----
run imgprep -q --size 14x14 --interpolation area --color grayscale digits.list
check "--interpolation area halves as 2x2 means (PIL's BOX, two rounded passes)" 'pyc "
d = np.load(\"digits.npy\")[:20].astype(np.int64)
h = (d[:, :, 0::2] + d[:, :, 1::2] + 1) // 2
v = (h[:, 0::2] + h[:, 1::2] + 1) // 2
assert (xs(\"out\")[..., 0] == v).all()"'
run imgprep -q --size 56x56 --interpolation nearest --color grayscale digits.list
check "--interpolation nearest doubles each pixel" 'pyc "
d = np.load(\"digits.npy\")[:20]
assert (xs(\"out\")[..., 0] == np.kron(d, np.ones((1, 2, 2), np.uint8))).all()"'
run imgprep -q --size 7x7 --interpolation bilinear --color grayscale digits.list
check "bilinear shrinking is antialiased: 4x down stays close to block means" 'pyc "
d = np.load(\"digits.npy\")[:20].astype(float).reshape(20, 7, 4, 7, 4).mean(axis=(2, 4))
assert np.abs(xs(\"out\")[..., 0] - d).mean() < 12"'
for f in bicubic lanczos; do
    run imgprep -q --size 7x7 --interpolation $f digits.list
    check "--interpolation $f works" '[ $status -eq 0 ] && [ $(py "$S" dump out | wc -l) -eq 20 ]'
done
run imgprep --size 7x7 --interpolation cubic digits.list
check_status "an unknown interpolation is a usage error" 64
check_err "naming the choices" "is not nearest, bilinear, bicubic, lanczos or area"

echo rgb.png > rgb.list
if py -c "import PIL" 2> /dev/null; then
    for f in bilinear bicubic lanczos area nearest; do
        run imgprep -q --size 50x37 --interpolation $f rgb.list
        check "--interpolation $f: the bytes of Pillow's Image.resize" 'pyc "
from PIL import Image
f = dict(bilinear=Image.BILINEAR, bicubic=Image.BICUBIC, lanczos=Image.LANCZOS, area=Image.BOX, nearest=Image.NEAREST)[\"$f\"]
ref = np.asarray(Image.open(\"rgb.png\").convert(\"RGB\").resize((50, 37), f))
assert (xs(\"out\")[0] == ref).all()"'
    done
else
    _result fail "python3-pil is installed (make deps): the byte comparisons with Pillow need it"
fi
run imgprep -q --size 40x40 --fit crop --interpolation nearest rgb.list
check "--fit crop takes Keras' centre square" 'pyc "
x = xs(\"out\")[0].astype(int); r = np.load(\"rgb.npy\")[15:99].astype(int)
i = [int((k + 0.5) * 84 / 40) for k in range(40)]; ref = r[i][:, i]
assert np.abs(x - ref).max() == 0, np.abs(x - ref).max()"'
run imgprep -q --size 40x40 --fit pad --background white rgb.list
check "--fit pad fills the sides with --background" 'pyc "
x = xs(\"out\")[0]; assert (x[:, 0] == 255).all() and (x[:, -1] == 255).all() and (x[20, 20] != 255).any()"'
run imgprep -q --size 40x40 --fit stretch rgb.list
check "--fit stretch (the default) fills the frame" 'pyc "
x = xs(\"out\")[0]; assert not (x[:, 0] == 255).all()"'

# ---- Keras' exact bytes on photos (issue 8) ----
# Keras' load_img is PIL's Image.open + convert("RGB") + resize(size, filter)
# of the full image. Nearest samples the full-resolution image (no DCT
# scaling: a DCT-shrunk image has no pixel to pick), and --no-shrink-on-load
# gives every filter PIL's bytes on JPEG too. Photos from scikit-image, made
# about 1024 pixels wide as JPEG (quality 90, the usual 4:2:0), one gray.
SK=/usr/lib/python3/dist-packages/skimage/data
if py -c "import PIL" 2> /dev/null && [ -d "$SK" ]; then
    mkdir -p photos
    py - "$SK" <<'EOF2'
import sys
from PIL import Image
sk = sys.argv[1]
for i, (name, size) in enumerate([("astronaut.png", (1024, 1024)), ("chelsea.png", (1000, 750)),
                                  ("coffee.png", (1024, 683)), ("rocket.jpg", (777, 1031))]):
    Image.open("%s/%s" % (sk, name)).convert("RGB").resize(size, Image.BICUBIC).save("photos/%d.jpg" % i, quality=90)
Image.open(sk + "/camera.png").convert("L").resize((1024, 1024), Image.BICUBIC).save("photos/gray.jpg", quality=90)
EOF2
    ls photos/*.jpg > photos.list
    cat > keras_ref.py <<'EOF2'
import sys
import numpy as np
from keras_preprocessing.image import load_img  # Keras' own code (Debian's python3-keras-preprocessing)
def keras(paths, w, h, interpolation, color_mode="rgb"):
    x = np.stack([np.asarray(load_img(p, color_mode=color_mode, target_size=(h, w), interpolation=interpolation)) for p in paths])
    return x[..., None] if x.ndim == 3 else x
EOF2
    # Keras' own code is the reference (make deps installs it): without it, fail, not fall back.
    check "python3-keras-preprocessing is installed (Keras' load_img is the reference)" 'py -c "import keras_preprocessing"'
    for size in 64x64 150x100; do
        run imgprep -q --size $size --interpolation nearest photos.list
        check "--interpolation nearest on JPEG photos ($size): Keras' bytes" 'pyc "
from keras_ref import keras
x = xs(\"$T/out\"); ref = keras(paths(\"$T/out\"), ${size%x*}, ${size#*x}, \"nearest\")
assert len(x) == 5 and (x == ref).all(), (np.abs(x.astype(int) - ref).max(), np.abs(x.astype(int) - ref).mean())"'
        for f in bilinear bicubic lanczos area; do
            run imgprep -q --size $size --interpolation $f --no-shrink-on-load photos.list
            check "--no-shrink-on-load --interpolation $f on JPEG photos ($size): Keras' bytes" 'pyc "
from keras_ref import keras
x = xs(\"$T/out\"); ref = keras(paths(\"$T/out\"), ${size%x*}, ${size#*x}, \"$f\".replace(\"area\", \"box\"))
assert len(x) == 5 and (x == ref).all(), (np.abs(x.astype(int) - ref).max(), np.abs(x.astype(int) - ref).mean())"'
        done
    done
    # Grayscale is PIL's convert("L") of the decoded RGB on JPEG too: a colour
    # JPEG decoded straight to gray (libjpeg's Y plane) was up to 20 levels off.
    for c in "512x512 nearest" "64x64 bilinear --no-shrink-on-load" "150x100 lanczos --no-shrink-on-load" \
             "64x64 bilinear --vips-only --no-shrink-on-load"; do
        size=${c%% *}; rest=${c#* }; filter=${rest%% *}; more=${rest#"$filter"}
        run imgprep -q --size $size --color grayscale --interpolation $filter $more photos.list
        check "--color grayscale $c on JPEG photos: Keras' bytes" 'pyc "
from keras_ref import keras
x = xs(\"$T/out\"); ref = keras(paths(\"$T/out\"), ${size%x*}, ${size#*x}, \"$filter\", \"grayscale\")
assert len(x) == 5 and x.shape[3] == 1 and (x == ref).all(), (np.abs(x.astype(int) - ref).max(), (x != ref).sum())"'
    done
    run imgprep -q --size 64x64 photos.list
    check "without it, bilinear shrinks on load: a few levels from Keras, and faster" 'pyc "
from keras_ref import keras
d = np.abs(xs(\"$T/out\").astype(int) - keras(paths(\"$T/out\"), 64, 64, \"bilinear\"))
assert 0 < d.mean() < 1.5 and d.max() < 32, (d.mean(), d.max())"'
    run imgprep -q --size 64x64 --no-shrink-on-load --vips-only photos.list
    check "--no-shrink-on-load --vips-only: Keras' bytes too" 'pyc "
from keras_ref import keras
assert (xs(\"$T/out\") == keras(paths(\"$T/out\"), 64, 64, \"bilinear\")).all()"'
else
    _result fail "python3-pil and python3-skimage are installed (make deps): the comparisons with Keras' load_img need them"
fi

# ---- formats, colour, orientation ----
check_close() {  # NAME FILE SIZE COLOR MAXMEAN: FILE's pixels vs rgb.npy
    printf '%s\n' "$2" > one.list
    run imgprep -q --size "$3" --color "$4" one.list
    lim=$5
    check "$1" 'pyc "
x = xs(\"out\")[0].astype(float); r = np.load(\"rgb.npy\").astype(float)
if x.shape[2] == 1: r = (r[..., 0] * 19595 + r[..., 1] * 38470 + r[..., 2] * 7471 + 32768)[..., None] // 65536
d = np.abs(x[..., :3] - r).mean(); assert d < $lim, d"'
}
check_close "baseline JPEG" photo.jpg 84x114 rgb 3
check_close "progressive JPEG" prog.jpg 84x114 rgb 3
check_close "TIFF (libvips)" rgb.tif 84x114 rgb 0.01
check_close "WebP (libvips)" rgb.webp 84x114 rgb 0.01
check_close "GIF (libvips, 256 colours)" rgb.gif 84x114 rgb 8
check_close "16-bit PNG keeps the high byte" rgb16.png 84x114 rgb 0.01
check_close "CMYK JPEG through the ICC profiles" cmyk.jpg 84x114 rgb 20
check_close "grayscale output is PIL's luma" rgb.png 84x114 grayscale 0.01
check_close "a very large JPEG (2520x3420)" big.jpg 84x114 rgb 4
cp rgb.png trick.jpg
check_close "a PNG named .jpg decodes as PNG (magic bytes, not names)" trick.jpg 84x114 rgb 0.01
echo palette.png > one.list
run imgprep -q --size 84x114 one.list
check "palette PNG expands to its colours" 'pyc "assert (xs(\"out\")[0] == np.load(\"palette.npy\")).all()"'
echo rgba.png > one.list
run imgprep -q --size 84x114 --background 0,0,255 one.list
check "alpha is flattened on --background" 'pyc "
x = xs(\"out\")[0]; r = np.load(\"rgb.npy\")
assert (x[:, :42] == [0, 0, 255]).all() and (x[:, 42:] == r[:, 42:]).all()"'
run imgprep -q --size 84x114 --color rgba one.list
check "--color rgba keeps alpha" 'pyc "
x = xs(\"out\")[0]; assert x.shape[2] == 4 and (x[:, :42, 3] == 0).all() and (x[:, 42:, 3] == 255).all()"'
echo ga.png > one.list
run imgprep -q --size 84x114 --color grayscale one.list
check "gray+alpha PNG flattened on black" 'pyc "
x = xs(\"out\")[0][..., 0]; r = np.load(\"rgb.npy\")[..., 0]
assert (x[:, :42] == 0).all() and (x[:, 42:] == r[:, 42:]).all()"'
echo rot6.jpg > one.list
run imgprep -q --size 114x84 one.list
check "EXIF orientation 6 is applied: the image turns 90 degrees clockwise" 'pyc "
x = xs(\"out\")[0].astype(float); r = np.rot90(np.load(\"rgb.npy\"), -1).astype(float)
assert x.shape == r.shape and np.abs(x - r).mean() < 3"'
echo one.png > one.list
run imgprep -q --size 8x8 one.list
check "a 1-pixel image fills the output" 'pyc "assert (xs(\"out\")[0] == [200, 100, 50]).all()"'

# ---- order, threads, shuffling, epochs ----
printf '%s\n' photo.jpg prog.jpg rgb.png rgb.tif rgba.png big.jpg palette.png rgb.gif > mixed.list
cut -f1 digits.list >> mixed.list
imgprep -q --size 32x24 -j 1 --shuffle --seed 5 --epochs 3 mixed.list > j1.bin
imgprep -q --size 32x24 -j 2 --shuffle --seed 5 --epochs 3 mixed.list > j2.bin
imgprep -q --size 32x24 -j 4 --shuffle --seed 5 --epochs 3 -b 5 mixed.list > j4b.bin
imgprep -q --size 32x24 -j 1 --shuffle --seed 5 --epochs 3 -b 5 mixed.list > j1b.bin
check "-j 1 and -j 2 write the same bytes" 'cmp -s j1.bin j2.bin'
check "-j 4 and -j 1 with -b 5 too" 'cmp -s j1b.bin j4b.bin'
imgprep -q --size 32x24 --shuffle --seed 6 --epochs 3 mixed.list > s6.bin
check "--shuffle: each epoch is a permutation, a different one each epoch" 'pyc "
f = frames(\"j1.bin\"); n = 28
ep = [[json.loads(m[\"paths\"])[0] for t, m in f if m[\"epoch\"] == str(e)] for e in range(3)]
all_paths = sorted(open(\"mixed.list\").read().split())
assert all(sorted(e) == all_paths for e in ep) and ep[0] != ep[1] != ep[2]
assert [m[\"index\"] for t, m in f][:3] == [\"0\", \"1\", \"2\"] and f[-1][1][\"epoch_size\"] == str(n)"'
check "a different --seed, a different order" '! cmp -s j1.bin s6.bin'
imgprep -q --size 32x24 --epochs 2 mixed.list > e2.bin
check "without --shuffle every epoch is in list order" 'pyc "
p = paths(\"e2.bin\"); l = open(\"mixed.list\").read().split(); assert p == l + l"'

imgprep --size 16x16 --epochs 0 digits.list 2> err.txt | head -c 1000 > head.bin
check "| head -c 1000 ends an endless stream quietly (epoch lines only)" '[ -s err.txt ] && ! grep -v "^imgprep: epoch [0-9]*: 20 images in" err.txt && [ $(wc -c < head.bin) -eq 1000 ]'
imgprep -q --size 16x16 --epochs 0 digits.list 2> err.txt | head -c 1000 > head.bin
check "and with -q nothing at all" '[ ! -s err.txt ]'

# (ASan's allocator grows by a few MB whatever the program does: make sanitize skips this one)
if [ -n "${IMGPIPE_SANITIZE:-}" ]; then
    echo "imgprep.sh: under ASan (make sanitize): the flat-memory check is skipped" >&2
else
# (5 epochs, not 1: by then every decoding thread, the consumer's included, has its buffers)
check "memory stays flat: 60 epochs take no more than 5" 'py -c "
import resource, subprocess
def peak(epochs):
    subprocess.run([\"imgprep\", \"-q\", \"--size\", \"64x64\", \"--epochs\", str(epochs), \"mixed.list\"], stdout=subprocess.DEVNULL, check=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
one = peak(5); many = peak(60)
assert many < one + 2048, (one, many)"'
fi

# ---- --shard K/N: one of N round-robin shards of a list made elsewhere ----
imglist -q data > all.list
for k in 1 2 3; do
    imgprep -q --size 8x8 --shard $k/3 all.list > shard$k.bin
    imglist -q --shard $k/3 data | imgprep -q --size 8x8 > imglist$k.bin
done
check "--shard: shards 1/3, 2/3 and 3/3 are disjoint, hold every file once, and take lines K, K+N..." 'pyc "
s = [paths(\"shard%d.bin\" % k) for k in (1, 2, 3)]
every = [l.split(chr(9))[0] for l in open(\"all.list\").read().splitlines()]
assert sorted(s[0] + s[1] + s[2]) == sorted(every) and len(every) == 20
assert all(s[k] == every[k::3] for k in range(3)), s"'
check "imgprep --shard K/N is imglist --shard K/N, with the shard's record" 'pyc "
for k in (1, 2, 3):
    a, b = frames(\"shard%d.bin\" % k), frames(\"imglist%d.bin\" % k)
    assert all(m.pop(\"shard\") == \"%d/3\" % k for t, m in a) and \"shard\" not in b[0][1]
    assert [m for t, m in a] == [m for t, m in b] and (xs(\"shard%d.bin\" % k) == xs(\"imglist%d.bin\" % k)).all()"'
# cat of the shards reads as one epoch of the whole list; each shard is batched on its own
cat shard1.bin shard2.bin shard3.bin | batchpack -q -b 4 > joined.bin
check "cat of the shards: batchpack keeps each shard's batches apart (7, 7, 6 samples: 2 + 2 + 2 batches)" 'pyc "
f = frames(\"joined.bin\")
assert [t[\"x\"].shape[0] for t, m in f] == [4, 3, 4, 3, 4, 2], [t[\"x\"].shape[0] for t, m in f]
assert [m[\"shard\"] for t, m in f] == [\"1/3\"] * 2 + [\"2/3\"] * 2 + [\"3/3\"] * 2
assert [int(m[\"index\"]) for t, m in f] == [0, 4, 7, 11, 14, 18]"'
py -c "
import json, struct
d = open('shard2.bin', 'rb').read(); at = 0
for _ in range(6):  # 6 of its 7 one-sample frames (their sizes differ with their paths)
    n, = struct.unpack('<Q', d[at:at + 8]); h = json.loads(d[at + 8:at + 8 + n]); h.pop('__metadata__')
    at += 8 + n + max(v['data_offsets'][1] for v in h.values())
open('cut.bin', 'wb').write(d[:at])"
run sh -c 'cat shard1.bin cut.bin shard3.bin | batchpack -b 4 > /dev/null'
check_status "cat of shards, one cut short: bad data, 65" 65
check_err "naming where the short shard ended" "stdin: frame 14: epoch 1 ended after 13 of 14 samples"
imgprep -q --size 8x8 --shard 2/3 --shuffle --seed 4 --epochs 2 -j 2 all.list > shuffled.bin
check "with --shuffle each epoch is a permutation of the shard" 'pyc "
p = paths(\"shuffled.bin\"); s = paths(\"shard2.bin\"); n = len(s)
assert sorted(p[:n]) == sorted(s) and sorted(p[n:]) == sorted(s) and p[:n] != s"'
for bad in 0/3 4/3 1/0 3 1/-3 x/2; do
    run imgprep --size 8x8 --shard $bad all.list
    check_status "--shard $bad is a usage error: exit 64" 64
done
check_err "naming what --shard wants" "imgprep: --shard wants K/N with 1 <= K <= N, not \"x/2\""
head -n 2 all.list > two.list
run imgprep --size 8x8 --shard 3/3 two.list
check_status "a shard with no image of a 2-image list: exit 65" 65
check_err "saying so" "imgprep: two.list: no images in shard 3/3 (the list holds 2)"

# ---- bad input ----
mkdir -p bad
head -c 2000 photo.jpg > bad/trunc.jpg
: > bad/empty.png
echo "hello world, not a picture" > bad/text.jpg
py -c "b = bytearray(open('rgb.png','rb').read()); b[60:90] = bytes(x ^ 0x5a for x in b[60:90]); open('bad/corrupt.png','wb').write(b)"
for f in trunc.jpg:"truncated JPEG file" empty.png:"empty file" text.jpg:"not an image (starts with 'hello wo')" \
         corrupt.png:"corrupt PNG file"; do
    name=${f%%:*}; msg=${f#*:}
    printf 'rgb.png\nbad/%s\nphoto.jpg\n' "$name" > b.list
    run imgprep --size 8x8 b.list
    check_status "$name: exit 65" 65
    check_err "$name: one line naming the file" "imgprep: bad/$name: $msg"
    check "$name: the good file before it is written" 'pyc "assert paths(\"$T/out\") == [\"rgb.png\"]"'
done
# The issue's case: the bad file first, so imgprep writes no frame at all. The
# next stage of the pipe (whose status is the pipe's) fails too, and says why.
printf 'bad/text.jpg\nrgb.png\n' > first.list
for next in "batchpack -b 2" "imgmask --random-box 2x2" "imgstats" "imgsheet -o first.png" "imgsave -d first-saved"; do
    run sh -c "imgprep --size 8x8 first.list | $next"
    check_status "bad file first: imgprep | ${next%% *} exits 65" 65
    check_err "imgprep names the file" "imgprep: bad/text.jpg: not an image"
    check_err "and ${next%% *} says the stream is empty, and why" "${next%% *}: stdin: no frames: the stream is empty (did its producer stop before its first frame? its own message says why)"
done
# A damaged colour profile (issue 8): Pillow and libvips refuse it; imgprep
# refuses it too, or with --skip-damaged-chunks decodes it without the
# profile and names the chunk in a warning (once, whatever -j and --epochs).
vips icc_transform rgb.png p3.png p3
py -c "
import struct
b = open('p3.png', 'rb').read(); i = b.index(b'iCCP') - 4; end = i + 12 + struct.unpack('>I', b[i:i + 4])[0]
open('bad/iccp-crc.png', 'wb').write(b[:end - 4] + bytes(4) + b[end:])
open('bad/iccp-erased.png', 'wb').write(b[:i + 4] + b'\xff' * 4 + b[i + 8:end - 4] + b'\xff' * 4 + b[end:])"
for opt in "" --vips-only; do
    printf 'rgb.png\nbad/iccp-crc.png\n' > b.list
    run imgprep --size 8x8 $opt b.list
    check_status "a PNG whose iCCP chunk has a bad CRC is refused${opt:+ ($opt)}: exit 65" 65
    check_err "naming the chunk and the way out" 'imgprep: bad/iccp-crc.png: damaged PNG chunk "iCCP" (bad CRC); --skip-damaged-chunks decodes the image without it'
    printf 'bad/iccp-erased.png\n' > b.list
    run imgprep --size 8x8 $opt b.list
    check_err "one whose iCCP type and CRC were erased too${opt:+ ($opt)}" 'imgprep: bad/iccp-erased.png: damaged PNG chunk "\xff\xff\xff\xff" (invalid chunk type)'
    printf 'bad/iccp-crc.png\nbad/iccp-erased.png\nrgb.png\n' > b.list
    run imgprep --size 84x114 -j 2 --epochs 3 --skip-damaged-chunks $opt b.list
    check_status "--skip-damaged-chunks decodes them${opt:+ ($opt)}" 0
    check "with one warning for each, naming file and chunk" '[ $(grep -c "^imgprep: bad/" "$T/err") -eq 2 ] &&
        grep -qxF "imgprep: bad/iccp-crc.png: damaged PNG chunk \"iCCP\" (bad CRC): decoded without it" "$T/err" &&
        grep -qxF "imgprep: bad/iccp-erased.png: damaged PNG chunk \"\\xff\\xff\\xff\\xff\" (invalid chunk type): decoded without it" "$T/err"'
    check "and the pixels are the file's own numbers, without the profile" 'pyc "
from PIL import Image
ref = np.asarray(Image.open(\"p3.png\").convert(\"RGB\")); x = xs(\"$T/out\")
assert len(x) == 9 and (x[0] == ref).all() and (x[1] == ref).all()"'
done
# A JPEG with a stray restart marker in its scan: decoded (as Pillow does),
# and libjpeg's warning is passed on.
py -c "
b = bytearray(open('photo.jpg', 'rb').read()); m = (b.index(b'\xff\xda') + len(b)) // 2
b[m:m + 2] = b'\xff\xd5'; open('bad/stray.jpg', 'wb').write(b)"
printf 'bad/stray.jpg\n' > b.list
run imgprep -q --size 8x8 --epochs 2 b.list
check_status "a JPEG with corrupt data that still decodes: exit 0" 0
check "the decoder's warning, once, as imgprep: FILE: message" '[ "$(cat "$T/err")" = "imgprep: bad/stray.jpg: Corrupt JPEG data: premature end of data segment" ]'

printf 'rgb.png\nbad/missing.png\n' > b.list
run imgprep --size 8x8 b.list
check_status "a missing file: exit 66" 66
check_err "named, with the reason" "imgprep: bad/missing.png: cannot open: No such file or directory"
cp rgb.png bad/locked.png && chmod 000 bad/locked.png
printf 'bad/locked.png\n' > b.list
run unprivileged imgprep --size 8x8 b.list
check_status "an unreadable file: exit 66" 66
check_err "named, with the reason" "imgprep: bad/locked.png: cannot open: Permission denied"
{ head -n 16 digits.list; printf 'data/x.png\tseven\tx\n'; } > badline.list
run imgprep --size 8x8 < badline.list
check_status "a malformed list line: exit 65" 65
check_err "named by its line number" "imgprep: stdin:17: label index \"seven\" is not a non-negative integer"

printf 'rgb.png\nbad/trunc.jpg\nphoto.jpg\nbad/missing.png\nbad/text.jpg\npalette.png\n' > kg.list
run imgprep --size 8x8 --keep-going kg.list
check_status "--keep-going still exits 65" 65
check "--keep-going keeps every good file, in order" 'pyc "assert paths(\"$T/out\") == [\"rgb.png\", \"photo.jpg\", \"palette.png\"]"'
check_err "a warning per bad file" "imgprep: bad/missing.png: cannot open"
check_err "and a summary" "imgprep: 3 bad files skipped, 3 images written"
run imgprep -q --size 8x8 --keep-going --epochs 3 -j 2 kg.list
check "each bad file is reported once, though it comes up every epoch" '[ $(grep -c "^imgprep: bad/" "$T/err") -eq 3 ] && [ "$(pyc "print(len(paths(\"$T/out\")))")" = 9 ]'

echo big.jpg > big.list
run imgprep --size 8x8 --max-pixels 1000000 big.list
check_status "--max-pixels refuses a huge image: exit 65" 65
check_err "saying what it declares" "imgprep: big.jpg: JPEG declares 2520x3420 = 8618400 pixels, more than --max-pixels 1000000"
: > empty.list
run imgprep empty.list
check_status "an empty list is bad data, not a silent success" 65
check_err "and says so" "imgprep: empty.list: no images in the list"

# ---- names ----
cp rgb.png "a b.png"; cp rgb.png "çà日本.png"; cp -- rgb.png "-dash.png"
printf '%s\n' "a b.png" "çà日本.png" "-dash.png" > names.list
run imgprep -q --size 8x8 names.list
check "names with spaces, unicode and a leading dash" '[ $status -eq 0 ] && pyc "assert paths(\"$T/out\") == [\"a b.png\", \"çà日本.png\", \"-dash.png\"]"'
printf 'a b.png\0-dash.png\0' > nul.list
run imgprep -q -0 --size 8x8 nul.list
check "-0 reads NUL-terminated records" 'pyc "assert paths(\"$T/out\") == [\"a b.png\", \"-dash.png\"]"'
run imgprep -q --size 8x8 -- -dash.list 
check "a list named with a leading dash after --" '[ $status -eq 66 ] && grep -q "imgprep: -dash.list: cannot open" "$T/err"'

# ---- output ----
run imgprep -q --size 16x16 -o o.bin digits.list
imgprep -q --size 16x16 digits.list > s.bin
check "-o FILE writes what stdout gets" 'cmp -s o.bin s.bin'
printf 'rgb.png\nbad/text.jpg\n' > b.list
run imgprep -q --size 16x16 -o fail.bin b.list
check "-o FILE leaves no file behind when a bad image stops the run" '[ $status -eq 65 ] && [ ! -e fail.bin ] && ! ls fail.bin.tmp.* 2>/dev/null'

# ---- the man page's pipeline, and its options ----
if command -v imglist > /dev/null && command -v batchpack > /dev/null; then
    imglist data 2> list.err | imgprep -q --size 28x28 | batchpack -q -b 8 > p.bin
    check "imglist | imgprep | batchpack runs (the man page's example)" 'pyc "
f = frames(\"p.bin\"); assert [len(t[\"x\"]) for t, m in f] == [8, 8, 4]
assert sorted(int(v) for t, m in f for v in t[\"y\"]) == sorted(np.load(\"labels.npy\")[:20].tolist())"'
else
    _result fail "imglist and batchpack are on PATH: the man page's pipeline needs them"
fi
imgprep --help > help.txt
awk '/^\.SH OPTIONS/{on=1} /^\.SH EPOCH/{on=0} on && prev ~ /^\.TP/ {print} {prev=$0}' "$ROOT/man/man1/imgprep.1" \
    | tr -d '\\' | grep -o -- '--[a-z][a-z-]*' | sort -u > man-options.txt
check "the man page lists the options" '[ $(wc -l < man-options.txt) -ge 18 ]'
for opt in $(cat man-options.txt); do
    check "man page option $opt is in --help" 'grep -q -- "$opt" help.txt'
done

# ---- the targets of list lines (doc/design.md, "List lines"; batchstream(5)) ----
# Every frame's y and w, joined over the stream, as numpy arrays.
cat >> rd.py <<'EOF2'
def ys(path, name="y"):
    return np.concatenate([t[name] for t, m in frames(path)])
def meta(path):
    return frames(path)[0][1]
EOF2
d=data/0_tshirt
f1=$(ls $d | head -1); f2=$(ls data/1_trouser | head -1)
printf '%s\tclasses=0:a|2:c\tw=0.5\n%s\tclasses=\tw=0\n%s\tclasses=1:b\tw=2.25\n\t3\td\n' \
    "$d/$f1" "data/1_trouser/$f2" "$d/$f1" > ml.list
run imgprep -q --size 28x28 -b 2 ml.list
check_status "a multi-label weighted list is prepared" 0
check "multi-label: y F32 [n,C] multi-hot over the list's classes, class_mode multi_label" 'pyc "
y = ys(\"out\"); assert y.dtype == np.float32 and y.shape == (3, 4), y.shape
assert y.tolist() == [[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0]], y.tolist()
m = meta(\"out\"); assert m[\"class_mode\"] == \"multi_label\" and json.loads(m[\"classes\"]) == [\"a\", \"b\", \"c\", \"d\"]
assert \"targets\" not in m"'
check "weights: w F32 [n] in every frame, with its samples" 'pyc "
f = frames(\"out\"); assert all(t[\"w\"].dtype == np.float32 and t[\"w\"].shape == (len(t[\"x\"]),) for t, m in f)
assert ys(\"out\", \"w\").tolist() == [0.5, 0.0, 2.25]"'

printf '\ttargets=angle|scale\n%s\ty=0.1,-3\n%s\ty=1e-7,12345.678\n' "$d/$f1" "data/1_trouser/$f2" > raw.list
run imgprep -q --size 28x28 -b 4 raw.list
check "numbers: y F32 [n,k], the list's doubles cast as numpy casts them, class_mode raw, targets named" 'pyc "
y = ys(\"out\"); assert y.dtype == np.float32 and y.shape == (2, 2)
assert (y == np.array([[0.1, -3], [1e-7, 12345.678]], np.float64).astype(np.float32)).all(), y
m = meta(\"out\"); assert m[\"class_mode\"] == \"raw\" and json.loads(m[\"targets\"]) == [\"angle\", \"scale\"]
assert \"w\" not in frames(\"out\")[0][0]"'
printf '%s\ty=4\n' "$d/$f1" > raw1.list
run imgprep -q --size 28x28 raw1.list
check "one number: y F32 [n,1]; undeclared columns are named y0..." 'pyc "
assert ys(\"out\").tolist() == [[4.0]] and json.loads(meta(\"out\")[\"targets\"]) == [\"y0\"]"'
printf '%s\ty=1e39\n' "$d/$f1" > huge.list
run imgprep -q --size 28x28 -o huge.bin huge.list
check_status "a number beyond F32 is bad data" 65
check_err "named with its file, before anything is written" "imgprep: huge.list: $d/$f1: 1e+39 is beyond the range of F32"
check "no output" '[ ! -e huge.bin ]'

awk -F'\t' '{print $0 "\tw=" NR / 4}' digits.list > wdigits.list
run imgprep -q --size 28x28 -b 8 wdigits.list
check "one class and weights: y I32 [n] as before, w beside it" 'pyc "
assert ys(\"out\").dtype == np.int32 and ys(\"out\").tolist() == np.load(\"labels.npy\")[:20].tolist()
assert ys(\"out\", \"w\").tolist() == [i / 4 for i in range(1, 21)]"'

# --keep-going: a bad file's row is in no frame; the others keep their targets and weights.
printf 'rgb.png\tclasses=0:a\tw=1\nbad/text.jpg\tclasses=1:b\tw=2\nphoto.jpg\tclasses=0:a|1:b\tw=3\n' > mlkg.list
mkdir -p bad; echo "not an image" > bad/text.jpg
run imgprep -q --size 8x8 --keep-going --allow-skipped -b 4 mlkg.list
check "--keep-going: the skipped row leaves no y or w, and is recorded" 'pyc "
assert paths(\"out\") == [\"rgb.png\", \"photo.jpg\"]
assert ys(\"out\").tolist() == [[1, 0], [1, 1]] and ys(\"out\", \"w\").tolist() == [1, 3]
assert json.loads(frames(\"out\")[0][1][\"skipped\"]) == [\"bad/text.jpg\"]"'

# --class-mode input: y is the image, as Keras' class_mode='input'.
run imgprep -q --size 28x28 -b 8 --class-mode input --rescale 1/255 --horizontal-flip --rotation-range 30 --seed 3 wdigits.list
check_status "--class-mode input on a labelled, weighted list (its labels are ignored, as Keras does)" 0
check "--class-mode input: y is x after every transform, same dtype; w stays; class_mode input" 'pyc "
x, y = xs(\"out\"), ys(\"out\"); assert y.dtype == np.float32 and (x == y).all() and x.std() > 0
assert ys(\"out\", \"w\").tolist() == [i / 4 for i in range(1, 21)] and meta(\"out\")[\"class_mode\"] == \"input\""'
run imgprep -q --size 28x28 --class-mode input plain.list
check "--class-mode input on an unlabelled list: U8 y equal to x" 'pyc "
x, y = xs(\"out\"), ys(\"out\"); assert y.dtype == np.uint8 and (x == y).all()"'
run imgprep --class-mode categorical plain.list
check_status "--class-mode takes list or input only" 64

# "PATH<TAB>missing" (imglist --table --keep-going: a row whose file is not there)
# is recorded as skipped in every epoch, whatever the list's targets.
printf 'rgb.png\tclasses=0:a\tw=1\ngone.png\tmissing\nphoto.jpg\tclasses=1:b\tw=3\nalso-gone.png\tmissing\n' > miss.list
run imgprep --size 8x8 -b 4 --epochs 2 miss.list
check_status "missing files: the stream is written, and the exit is 65 (--allow-skipped accepts them)" 65
check_err "each is named once" "imgprep: gone.png: missing (a table's row with no file): recorded as skipped"
check_err "and counted at the end" "imgprep: 2 missing files (of the table) skipped, 4 images written; --allow-skipped accepts them"
check "every epoch records them as skipped and counts them in its size" 'pyc "
f = frames(\"out\"); assert len(f) == 2
for t, m in f:
    assert json.loads(m[\"skipped\"]) == [\"gone.png\", \"also-gone.png\"] and m[\"epoch_size\"] == \"4\"
    assert json.loads(m[\"paths\"]) == [\"rgb.png\", \"photo.jpg\"] and t[\"y\"].tolist() == [[1, 0], [0, 1]] and t[\"w\"].tolist() == [1, 3]"'
cp "$T/out" miss.bs
run batchpack -b 2 miss.bs
check "a reader finds each epoch whole, and names the skipped files (65)" '[ $status -eq 65 ] && grep -q "2 samples were skipped upstream (gone.png, also-gone.png)" "$T/err"'
run imgprep -q --size 8x8 --allow-skipped --shard 2/2 miss.list
check "--allow-skipped: exit 0; --shard 2/2 records only its own missing file" '[ $status -eq 0 ] && pyc "
t, m = frames(\"out\")[0]; assert json.loads(m[\"skipped\"]) == [\"also-gone.png\"] and m[\"epoch_size\"] == \"2\""'
