# Segmentation pairs (doc/design.md, "Segmentation pairs"): imglist --masks, masks
# decoded as class indices, one transform for image and mask, bad pairs named.
. "$ROOT/tests/shell/lib.sh"
load='import sys; sys.path.insert(0, "'"$ROOT"'/tests/shell"); import stream, numpy as np, json
frames = list(stream.read_frames(open(sys.argv[1], "rb")))
x = np.concatenate([t["x"] for t, m in frames]); y = np.concatenate([t["y"] for t, m in frames]); meta = frames[0][1]'

# Three 40x30 pairs in a tree; the image's red is the mask x 80, so a pair can be checked by eye and by code.
py - << 'PY'
import numpy as np, os
from PIL import Image
for d in ("images/sub", "masks/sub"): os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(0)
for i, name in enumerate(["a", "b", "sub/c"]):
    m = np.zeros((30, 40), np.uint8); m[5:20, 10 + i:30] = 1; m[15:28, 2:12 + i] = 2
    img = np.zeros((30, 40, 3), np.uint8); img[..., 0] = m * 80; img[..., 1] = 100; img[..., 2] = rng.integers(0, 255, (30, 40))
    Image.fromarray(img).save(f"images/{name}.jpg" if name == "b" else f"images/{name}.png")
    Image.fromarray(m).save(f"masks/{name}.png")
np.save("truth.npy", np.stack([np.array(Image.open(f"masks/{n}.png")) for n in ["a", "b", "sub/c"]]))
PY

run imglist --masks masks images --classes bg,one,two
check_status "imglist --masks pairs a tree of images with its mirror" 0
check "every class declared first, then PATH<TAB>mask=MASK by relative path and stem (b.jpg <- b.png)" \
    '[ "$(cat out)" = "$(printf "\t0\tbg\n\t1\tone\n\t2\ttwo\nimages/a.png\tmask=masks/a.png\nimages/b.jpg\tmask=masks/b.png\nimages/sub/c.png\tmask=masks/sub/c.png")" ]'
check_err "in Keras' words" "Found 3 images with masks of 3 classes."
cp out pairs.list

run imglist --masks masks images
check_status "masks without their classes are a usage error" 64
check_err "naming the remedy" "imglist: masks need the classes their values stand for: --classes NAME,NAME,... (value 0 first) or --mask-colors FILE"
run imglist --masks masks images --classes a,b --no-labels
check_status "--no-labels with --masks is a contradiction" 64

mkdir -p lone/images lone/masks && cp images/a.png images/sub/c.png lone/images/ && cp masks/a.png lone/masks/ && cp masks/b.png lone/masks/
run imglist --masks lone/masks lone/images --classes bg,one,two
check_status "an image without a mask, or a mask without an image, is refused" 65
check_err "the image is named" "imglist: lone/images/c.png: no mask (none named lone/masks/c.*)"
check_err "so is the mask" "imglist: lone/masks/b.png: a mask with no image"
check "and nothing is listed" '[ ! -s out ]'
run imglist -k --masks lone/masks lone/images --classes bg,one,two
check_status "--keep-going lists the pairs and still exits 65" 65
check "with the one pair" '[ "$(grep -c mask= out)" = 1 ] && grep -q "^lone/images/a.png	mask=lone/masks/a.png$" out'
run imglist -k --allow-skipped --masks lone/masks lone/images --classes bg,one,two
check_status "--allow-skipped accepts it" 0
cp masks/a.png lone/masks/a.bmp
run imglist -k --masks lone/masks lone/images --classes bg,one,two
check_err "two masks for one image are named" "imglist: lone/images/a.png: two masks: lone/masks/a.bmp and lone/masks/a.png"

# imgprep: the mask as indices, resized by nearest whatever --interpolation says.
run imgprep --size 40x30 --interpolation bicubic pairs.list
check_status "imgprep reads mask= lines" 0
cp out full.bin
check "y is U8 [n, h, w, 1], class_mode mask, the mask's bytes at its own size" 'py -c "$load
assert y.dtype == np.uint8 and y.shape == (3, 30, 40, 1), y.shape
assert meta[\"class_mode\"] == \"mask\" and json.loads(meta[\"classes\"]) == [\"bg\", \"one\", \"two\"]
assert \"ignore_index\" not in meta and \"colors\" not in meta
assert (y[..., 0] == np.load(\"truth.npy\")).all()
" full.bin'
imgprep -q --size 20x15 --interpolation bicubic pairs.list > half.bin
check "halved: still only class values, each the nearest source pixel" 'py -c "$load
t = np.load(\"truth.npy\")
assert set(np.unique(y)) <= {0, 1, 2}
assert (y[..., 0] == t[:, 1::2, 1::2]).all()
" half.bin'
imgprep -q --size 40x40 --fit pad --ignore-index 255 pairs.list > pad.bin
check "--fit pad: the mask padded with the ignore index, the image with the background" 'py -c "$load
assert meta[\"ignore_index\"] == \"255\"
assert (y[:, :5] == 255).all() and (y[:, 35:] == 255).all() and (x[:, :5] == 0).all()
assert (y[:, 5:35, :, 0] == np.load(\"truth.npy\")).all()
" pad.bin'
imgprep -q --size 40x40 --fit pad pairs.list > pad0.bin
check "without an ignore index the padding is 0" 'py -c "$load
assert (y[:, :5] == 0).all()" pad0.bin'
imgprep -q --size 40x40 --fit pad --ignore-index 255 --mask-fill 1 pairs.list > pad1.bin
check "--mask-fill picks the value" 'py -c "$load
assert (y[:, :5] == 1).all()" pad1.bin'
imgprep -q --size 60x30 --fit pad --ignore-index 255 pairs.list > padx.bin
check "--fit pad sideways: the mask between columns of the ignore index" 'py -c "$load
assert (y[:, :, :10] == 255).all() and (y[:, :, 50:] == 255).all()
assert (y[:, :, 10:50, 0] == np.load(\"truth.npy\")).all()" padx.bin'
imgprep -q --size 20x30 --fit crop pairs.list > crop.bin
check "--fit crop: the mask cropped as its image, Keras' centre" 'py -c "$load
assert (y[..., 0] == np.load(\"truth.npy\")[:, :, 10:30]).all()" crop.bin'
py -c 'from PIL import Image; Image.open("masks/a.png").save("a-mask.pgm"); Image.open("masks/a.png").save("a-mask.tif")'
printf '\t0\tbg\n\t1\tone\n\t2\ttwo\nimages/a.png\tmask=a-mask.pgm\nimages/a.png\tmask=a-mask.tif\n' > other.list
imgprep -q --size 20x15 other.list > other.bin
check "PGM and TIFF masks (read whole, then picked): the same values, halved by nearest" 'py -c "$load
t = np.load(\"truth.npy\")[0]
assert (y[0, ..., 0] == t[1::2, 1::2]).all() and (y[1, ..., 0] == t[1::2, 1::2]).all()" other.bin'
run imgprep --size 40x40 --mask-fill 7 pairs.list
check_status "a --mask-fill that is no class is a usage error" 64

# Bad masks, each named (65), nothing lost before it.
mk() { py -c "import numpy as np; from PIL import Image; $1"; }
mkdir -p bad
mk 'm = np.zeros((30, 40), np.uint8); m[0, :7] = 9; Image.fromarray(m).save("bad/value.png")'
printf '\t0\tbg\n\t1\tone\n\t2\ttwo\nimages/a.png\tmask=masks/a.png\nimages/a.png\tmask=bad/value.png\n' > value.list
run imgprep --size 8x8 value.list
check_status "a value that is no class is bad data" 65
check_err "named with the value, the file and its pixel count" "imgprep: bad/value.png: value 9 in 7 pixels is not a class (the classes are 0-2)"
check "the pair before it is written" 'py -c "$load
assert len(y) == 1" out'
mk 'm = np.zeros((30, 40), np.uint8); m[3:5, 3:5] = 255; Image.fromarray(m).save("bad/border.png")'
printf '\t0\tbg\n\t1\tone\n\t2\ttwo\nimages/a.png\tmask=bad/border.png\n' > border.list
run imgprep --size 40x30 border.list
check_err "255 without --ignore-index says what 255 means" "value 255 in 4 pixels is not a class (the classes are 0-2) (255 marks \"no label\" by convention: --ignore-index 255)"
run imgprep --size 40x30 --ignore-index 255 border.list
check_status "--ignore-index 255 passes it through" 0
check "as 255, in the metadata too" 'py -c "$load
assert (y[0, 3:5, 3:5] == 255).all() and meta[\"ignore_index\"] == \"255\"" out'
run imgprep --size 40x30 --ignore-index 1 border.list
check_status "an ignore index that is a class is a usage error" 64
mk 'm = np.zeros((31, 40), np.uint8); Image.fromarray(m).save("bad/size.png")'
printf '\t0\tbg\nimages/a.png\tmask=bad/size.png\n' > size.list
run imgprep --size 8x8 size.list
check_status "a mask of another size than its image is refused" 65
check_err "with both sizes" "imgprep: bad/size.png: is 40x31, its image images/a.png 40x30"
mk 'Image.new("RGB", (40, 30), (10, 20, 30)).save("bad/rgb.png")'
printf '\t0\tbg\nimages/a.png\tmask=bad/rgb.png\n' > rgb.list
run imgprep --size 8x8 rgb.list
check_status "an RGB mask without a colour map is refused" 65
check_err "with the advice" "an RGB mask: its colours need a colour map to become classes (imgprep --mask-colors FILE)"
mk 'Image.new("L", (40, 30), 0).save("bad/jpeg.jpg")'
printf '\t0\tbg\nimages/a.png\tmask=bad/jpeg.jpg\n' > jpeg.list
run imgprep --size 8x8 jpeg.list
check_err "a JPEG mask is refused: lossy" "a JPEG mask: lossy compression changes class values along every edge; store masks as PNG"
mk 'Image.fromarray(np.zeros((30, 40), np.uint16)).save("bad/deep.png")'
printf '\t0\tbg\nimages/a.png\tmask=bad/deep.png\n' > deep.list
run imgprep --size 8x8 deep.list
check_err "a 16-bit mask is refused" "a 16-bit mask: class indices are 8-bit (0-255)"
head -c $(($(wc -c < masks/a.png) / 2)) masks/a.png > bad/cut.png
printf '\t0\tbg\n\t1\tone\n\t2\ttwo\nimages/a.png\tmask=bad/cut.png\nimages/b.jpg\tmask=masks/b.png\n' > cut.list
run imgprep --size 8x8 cut.list
check_status "a truncated mask is bad data" 65
check_err "named" "imgprep: bad/cut.png: truncated PNG file"
py - << 'PY'
import struct, zlib
b = open("masks/a.png", "rb").read(); pos = 8; out = b[:8]
while pos < len(b):  # row 3's filter byte set to 7, the file otherwise well formed (CRCs made anew)
    n, kind = struct.unpack(">I", b[pos:pos + 4])[0], b[pos + 4:pos + 8]
    body = b[pos + 8:pos + 8 + n]
    if kind == b"IDAT":
        raw = bytearray(zlib.decompress(body)); raw[3 * 41] = 7; body = zlib.compress(bytes(raw))
    out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)); pos += 12 + n
open("bad/filter.png", "wb").write(out)
PY
printf '\t0\tbg\n\t1\tone\n\t2\ttwo\nimages/a.png\tmask=bad/filter.png\n' > filter.list
run imgprep --size 8x8 filter.list
check_status "a mask with a bad row filter is bad data" 65
check_err "named, with the row" "imgprep: bad/filter.png: corrupt PNG file (row 3: filter type 7)"
run imgprep -k --size 8x8 cut.list
check "--keep-going skips the pair and records it" 'py -c "$load
assert len(y) == 1 and json.loads(frames[0][1][\"skipped\"]) == [\"images/a.png\"], frames[0][1]" out'
printf 'images/a.png\tmask=masks/a.png\n' > undeclared.list
run imgprep --size 8x8 undeclared.list
check_status "mask lines without declared classes are refused" 65
check_err "with the remedy" "mask= lines need their classes declared"
run imgprep --size 8x8 --ignore-index 255 images.list
printf 'images/a.png\t0\tbg\n' > labels.list
run imgprep --size 8x8 --ignore-index 255 labels.list
check_status "--ignore-index on a list without masks is a usage error" 64

# Palette PNGs: their indices are the classes, whatever the palette's colours; 1-bit PNGs their bits.
mk 'm = Image.fromarray(np.load("truth.npy")[0]).convert("P"); m.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759); m.save("bad/palette.png")'
mk 'm = (np.load("truth.npy")[0] > 0); Image.fromarray(m).save("bad/bits.png")'
printf '\t0\tbg\n\t1\tone\n\t2\ttwo\nimages/a.png\tmask=bad/palette.png\nimages/a.png\tmask=bad/bits.png\n' > pal.list
run imgprep --size 40x30 pal.list
check "a palette PNG gives its indices, a 1-bit PNG its bits" 'py -c "$load
t = np.load(\"truth.npy\")[0]
assert (y[0, ..., 0] == t).all() and (y[1, ..., 0] == (t > 0)).all()" out'

# RGB masks through a colour map, as VOC and Cityscapes users keep them.
cat > colors.json << 'EOF2'
{"classes": [{"name": "bg", "color": [0, 0, 0]}, {"name": "one", "color": [128, 0, 0]}, {"name": "two", "color": [0, 128, 0]}],
 "ignore": [[224, 224, 192]]}
EOF2
mk 'pal = np.array([[0, 0, 0], [128, 0, 0], [0, 128, 0]], np.uint8); m = pal[np.load("truth.npy")[0]]; m[0, 0] = (224, 224, 192); Image.fromarray(m).save("bad/colors.png")'
printf '\t0\tbg\n\t1\tone\n\t2\ttwo\nimages/a.png\tmask=bad/colors.png\n' > colors.list
run imgprep --size 40x30 --mask-colors colors.json --ignore-index 255 colors.list
check_status "an RGB mask through --mask-colors" 0
check "gives the indices, the ignore colour the ignore index, the colours in the metadata" 'py -c "$load
t = np.load(\"truth.npy\")[0].copy(); t[0, 0] = 255
assert (y[0, ..., 0] == t).all()
assert json.loads(meta[\"colors\"]) == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]" out'
run imgprep --size 40x30 --mask-colors colors.json colors.list
check_status "ignore colours without --ignore-index are a usage error" 64
mk 'm = np.zeros((30, 40, 3), np.uint8); m[1:3, 1:4] = (5, 6, 7); Image.fromarray(m).save("bad/stray.png")'
printf '\t0\tbg\n\t1\tone\n\t2\ttwo\nimages/a.png\tmask=bad/stray.png\n' > stray.list
run imgprep --size 40x30 --mask-colors colors.json --ignore-index 255 stray.list
check_err "a colour the map lacks is named with its pixels" "imgprep: bad/stray.png: colour (5, 6, 7) is no class of the colour map (6 pixels of unknown colours)"
printf '{"classes": [{"name": "bg", "color": [0, 0, 0]}, {"name": "other", "color": [1, 1, 1]}]}' > other.json
run imgprep --size 40x30 --mask-colors other.json colors.list
check_err "a colour map naming other classes than the list is refused" "other.json: names the classes [\"bg\",\"other\"], the list [\"bg\",\"one\",\"two\"] (in index order)"
printf '{"classes": [{"name": "bg", "color": [0, 0, 0]}, {"name": "x", "color": [0, 0, 0]}]}' > twice.json
run imgprep --size 40x30 --mask-colors twice.json colors.list
check_err "a colour twice in a map is refused" "twice.json: colour (0, 0, 0) is both class \"bg\" and class \"x\""
run imglist --masks masks images --mask-colors colors.json
check "imglist --mask-colors names the classes" '[ "$(head -n 3 out)" = "$(printf "\t0\tbg\n\t1\tone\n\t2\ttwo")" ]'

# Probe pairs: the image encodes each pixel's own coordinates (red = column x 4, green = row x 4,
# blue = 255), the mask a class per 8x8 block. Bilinear interpolation of a linear ramp is exact,
# so after any transform the image tells, at every pixel, which source point it sampled; the
# mask there must be that point's class (nearest), or the fill where blue says "outside".
py - << 'PY'
import numpy as np, os
from PIL import Image
os.makedirs("probe/images", exist_ok=True); os.makedirs("probe/masks", exist_ok=True)
r, c = np.mgrid[0:64, 0:64]
img = np.stack([c * 4, r * 4, np.full_like(r, 255)], -1).astype(np.uint8)
mask = ((r // 8) * 3 + (c // 8)) % 4
for i in range(6):
    Image.fromarray(img).save(f"probe/images/p{i}.png"); Image.fromarray(mask.astype(np.uint8)).save(f"probe/masks/p{i}.png")
PY
imglist -q --masks probe/masks probe/images --classes a,b,c,d > probe.list
probe_check='py -c "$load
ignore = int(sys.argv[2])
bad = 0; checked = 0
for k in range(len(x)):
    img = x[k].astype(float); m = y[k, ..., 0]
    outside = img[..., 2] < 128
    assert (m[outside & (img[..., 2] == 0)] == ignore).all(), \"fill\"
    inside = img[..., 2] == 255
    sc = img[..., 0] / 4; sr = img[..., 1] / 4   # the source point each output pixel sampled (+-0.125)
    rr = np.floor(sr + 0.5); cc = np.floor(sc + 0.5)
    # away from a rounding tie and from block edges, the nearest source pixel is certain
    sure = inside & (np.abs(sr + 0.5 - np.round(sr + 0.5)) > 0.2) & (np.abs(sc + 0.5 - np.round(sc + 0.5)) > 0.2)
    want = ((rr // 8) * 3 + (cc // 8)) % 4
    bad += int((m[sure] != want[sure]).sum()); checked += int(sure.sum())
    assert set(np.unique(m)) <= {0, 1, 2, 3, ignore}, np.unique(m)
assert checked > 0.3 * x.shape[0] * 64 * 64, checked
assert bad == 0, (bad, checked)
"'
for mode in constant nearest; do
    imgprep -q --size 64x64 --seed 5 --epochs 2 --rotation-range 40 --width-shift-range 0.2 --height-shift-range 0.2 \
        --shear-range 20 --zoom-range 0.3 --horizontal-flip --vertical-flip \
        --fill-mode $mode --cval 0 --ignore-index 255 probe.list > probe-$mode.bin
    check "every geometric option ($mode fill): the mask took the image's transform at every pixel" "$probe_check probe-$mode.bin 255"
done
imgprep -q -j 2 --size 64x64 --seed 5 --epochs 2 --rotation-range 40 --width-shift-range 0.2 --height-shift-range 0.2 \
    --shear-range 20 --zoom-range 0.3 --horizontal-flip --vertical-flip \
    --fill-mode constant --cval 0 --ignore-index 255 probe.list > probe-j2.bin
check "the same bytes with -j 2" 'cmp -s probe-constant.bin probe-j2.bin'
imgprep -q --size 64x64 --seed 5 --epochs 2 --rotation-range 40 --width-shift-range 0.2 --height-shift-range 0.2 \
    --shear-range 20 --zoom-range 0.3 --horizontal-flip --vertical-flip --brightness-range 0.5,0.9 --channel-shift-range 30 \
    --fill-mode constant --cval 0 --ignore-index 255 probe.list > probe-bright.bin
check "photometric draws (brightness, channel shift) change the image, never the mask" 'py -c "$load
b = list(stream.read_frames(open(sys.argv[2], \"rb\")))
assert (np.concatenate([t[\"y\"] for t, m in b]) == y).all()
assert (np.concatenate([t[\"x\"] for t, m in b]) != x).any()" probe-constant.bin probe-bright.bin'

# Keras' own apply_transform (python3-keras-preprocessing) with order 0 and our drawn parameters
# (--log-transforms) gives the mask's bytes exactly; with order 1, the image within 1. Debian's
# keras_preprocessing 1.1 turns about (size/2 + 0.5), one pixel off the centre; Keras since
# (keras/src/legacy/preprocessing/image.py) and imgprep turn about the centre, size/2 - 0.5:
# the test gives Keras' code today's centre.
if py -c "import keras_preprocessing" 2> /dev/null; then
    imgprep -q --size 64x64 probe.list > plain.bin
    for mode in constant nearest reflect; do
        imgprep -q --size 64x64 --seed 9 --rotation-range 30 --width-shift-range 0.1 --shear-range 10 --zoom-range 0.2 \
            --horizontal-flip --fill-mode $mode --ignore-index 255 --log-transforms t-$mode.jsonl probe.list > k-$mode.bin
        check "Keras' apply_transform, order 0, gives our mask's bytes ($mode)" 'py -c "$load
import keras_preprocessing.image.affine_transformations as A
def centred(matrix, x, y):
    o_x, o_y = x / 2 - 0.5, y / 2 - 0.5
    return np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]]) @ matrix @ np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
A.transform_matrix_offset_center = centred
from keras_preprocessing.image import ImageDataGenerator
plain = list(stream.read_frames(open(\"plain.bin\", \"rb\")))
params = [json.loads(l) for l in open(sys.argv[2])]
assert len(params) == len(y) == len(plain)
for (t, _), p, yk, xk in zip(plain, params, y, x):
    g = ImageDataGenerator(fill_mode=sys.argv[3], cval=255, interpolation_order=0)
    got = g.apply_transform(t[\"y\"][0].astype(np.float32), p)
    assert (got.astype(np.uint8) == yk).all(), (p, int((got.astype(np.uint8) != yk).sum()))
    g = ImageDataGenerator(fill_mode=sys.argv[3], cval=0, interpolation_order=1)
    img = g.apply_transform(t[\"x\"][0].astype(np.float32), p)
    assert np.abs(np.clip(np.round(img), 0, 255) - xk).max() <= 1
" k-'"$mode"'.bin t-'"$mode"'.jsonl '"$mode"
    done
else
    check "python3-keras-preprocessing is installed (Keras' apply_transform is the reference)" 'py -c "import keras_preprocessing"'
fi

# A table's mask column (flow_from_dataframe users keep pairs in a table).
printf 'filename,mask\na.png,../masks/a.png\nb.jpg,../masks/b.png\n' > pairs.csv
run imglist --table pairs.csv --mask-col mask --classes bg,one,two images
check_status "imglist --table --mask-col lists pairs" 0
check "the classes declared, image names joined to the folder, mask names too" \
    '[ "$(cat out)" = "$(printf "\t0\tbg\n\t1\tone\n\t2\ttwo\nimages/a.png\tmask=images/../masks/a.png\nimages/b.jpg\tmask=images/../masks/b.png")" ]'
printf 'filename,mask\nimages/a.png,masks/a.png\nimages/b.jpg,masks/gone.png\n' > gone.csv
run imglist --table gone.csv --mask-col mask --classes bg,one,two
check_status "a row whose mask is not there is refused" 65
check_err "naming the row and the mask" "imglist: gone.csv:3: file not found: masks/gone.png"
run imglist -k --table gone.csv --mask-col mask --classes bg,one,two
check "--keep-going lists it as missing, for imgprep to record" 'grep -q "^images/b.jpg	missing$" out && grep -q "^images/a.png	mask=masks/a.png$" out'
cp out kept.list
run imgprep --size 8x8 kept.list
check "imgprep records it as skipped" 'py -c "$load
assert len(y) == 1 and json.loads(meta[\"skipped\"]) == [\"images/b.jpg\"]" out'
run imglist --table pairs.csv --mask-col mask --class-mode sparse --classes a images
check_status "--mask-col with --class-mode is a usage error" 64
run imglist --table pairs.csv --mask-col mask images
check_err "and without classes names the remedy" "masks need the classes their values stand for"
