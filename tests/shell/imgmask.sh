# imgmask: the lecture's masked-face pairs, generated boxes, bad masks.
. "$ROOT/tests/shell/lib.sh"
S="$ROOT/tests/shell/stream.py"
load='import sys; sys.path.insert(0, "'"$ROOT"'/tests/shell"); import stream, numpy as np, json
frames = list(stream.read_frames(open(sys.argv[1], "rb")))'

# A 100x100 mask, black (0) over rows 40-79 and columns 30-69: the "nose".
py -c 'from PIL import Image; m = Image.new("L", (100, 100), 255); m.paste(0, (30, 40, 70, 80)); m.save("mask.png")'
py "$S" make 4 8 8 3 --batch 2 > in.bin

run imgmask --mask mask.png --emit-mask in.bin
check_status "masks a stream with a mask image" 0
cp out m.bin
check "x is masked where the mask is 0, y is the original, mask says which" 'py -c "$load
for t, m in frames:
    keep = t[\"mask\"][..., 0].astype(bool)
    assert m[\"class_mode\"] == \"input\"
    assert (t[\"y\"] == t[\"x\"]).all(axis=3)[keep].all()
    assert (t[\"x\"][~keep] == 0).all()
    assert keep.sum() == 2 * (64 - 12), keep.sum()
    assert not keep[0, 3:6, 2:6].any()
" m.bin'
check_err "a mask of another size is resized, and says so" "100x100 mask resized (nearest) to the images' 8x8"

run sh -c ': | imgmask --mask mask.png'
check_status "an empty stream is bad data, not masked 0 images" 65
check_err "and says why" "imgmask: stdin: no frames: the stream is empty (did its producer stop before its first frame? its own message says why)"
check "and writes no frame" '[ ! -s out ]'

imgmask -q --mask mask.png --invert --fill 7 in.bin > inv.bin
check "--invert masks the bright part, --fill sets the value" 'py -c "$load
t, m = frames[1]
assert (t[\"x\"][0, 0, 0] == 7).all() and (t[\"x\"][0, 4, 3] != 7).all()
" inv.bin'

imgmask -q --mask mask.png --keep-labels in.bin > kl.bin
check "--keep-labels keeps the class indices" 'py -c "$load
t, m = frames[0]
assert t[\"y\"].dtype == np.int32 and m[\"class_mode\"] == \"sparse\"
" kl.bin'

py "$S" make 6 16 16 1 > one.bin
imgmask -q --random-box 4x4-8x8 --random-boxes 2 --seed 3 --emit-mask one.bin > r1.bin
imgmask -q --random-box 4x4-8x8 --random-boxes 2 --seed 3 --emit-mask one.bin > r2.bin
imgmask -q --random-box 4x4-8x8 --random-boxes 2 --seed 4 --emit-mask one.bin > r3.bin
check "random boxes are reproducible with --seed" 'cmp -s r1.bin r2.bin'
check "and differ with another seed" '! cmp -s r1.bin r3.bin'
check "each sample gets its own boxes within the size range" 'py -c "$load
masks = [t[\"mask\"][0, ..., 0] for t, m in frames]
assert any((a != masks[0]).any() for a in masks[1:])
for a in masks:
    hidden = (a == 0).sum()
    assert 16 <= hidden <= 128, hidden
" r1.bin'
imgmask -q --random-box 4x6 --centred --emit-mask one.bin > c.bin
check "--centred boxes sit in the middle" 'py -c "$load
a = frames[0][0][\"mask\"][0, ..., 0]
assert (a[6:10, 5:11] == 0).all() and a.sum() == 256 - 24
" c.bin'

py -c '
import sys; sys.path.insert(0, "'"$ROOT"'/tests/shell"); import stream, numpy as np, json
x = np.full((2, 8, 8, 3), 0.5, np.float32)
stream.write_frame(sys.stdout.buffer, {"x": x}, {"format": "batchstream/1", "epoch": "0", "index": "0"})' > f.bin
run imgmask --mask mask.png --fill -1 f.bin
check "float streams are masked too" 'py -c "$load
t, m = frames[0]
assert t[\"x\"].dtype == np.float32 and (t[\"x\"] == -1).sum() == 2 * 12 * 3 and (t[\"y\"] == 0.5).all()
" out'

echo "not an image" > bad.jpg
run imgmask --mask bad.jpg in.bin
check_status "a mask that cannot be decoded is bad data" 65
check_err "and is named" "imgmask: bad.jpg: cannot decode mask image"
run imgmask --mask nope.png in.bin
check_status "a missing mask" 66
check_err "is named" "nope.png: cannot open"
run imgmask in.bin
check_status "no mask at all is a usage error" 64
run imgmask --mask mask.png --random-box 4x4 in.bin
check_status "--mask and --random-box exclude each other" 64
run imgmask --random-box 0x4 in.bin
check_status "a box of size 0 is refused" 64
head -c 500 in.bin > t.bin
run imgmask --mask mask.png t.bin
check_status "a truncated stream is bad data" 65
check_err "named by frame" "t.bin: frame 1: truncated"

# ---- weights and the new targets (batchstream(5): w, the y forms) ----
py -c 'from PIL import Image
for i in range(4): Image.new("RGB", (8, 8), (10 + 10 * i,) * 3).save("t%d.png" % i)
with open("raw.list", "w") as f:
    f.write("\ttargets=angle\n")
    for i in range(4): f.write("t%d.png\ty=%s\tw=%s\n" % (i, i / 2, i + 0.5))
with open("ml.list", "w") as f:
    for i in range(4): f.write("t%d.png\tclasses=%s\tw=%s\n" % (i, "0:a" if i % 2 else "1:b", i + 0.5))'
imgprep -q --size 8x8 -b 3 raw.list > raw.bs
imgprep -q --size 8x8 -b 3 ml.list > ml.bs
run imgmask --random-box 2x2 --seed 1 raw.bs
check_status "masks a weighted regression stream" 0
check "y becomes the original image, class_mode input, targets gone; w stays with its samples" 'py -c "$load
w = []
for t, m in frames:
    assert m[\"class_mode\"] == \"input\" and \"targets\" not in m, m
    assert t[\"y\"].shape == t[\"x\"].shape and (t[\"x\"] == 0).sum() == 12 * len(t[\"x\"])
    assert [int(v) for v in t[\"y\"][:, 0, 0, 0]] == [10 + 10 * int(p[1]) for p in json.loads(m[\"paths\"])]
    w += t[\"w\"].tolist()
assert w == [0.5, 1.5, 2.5, 3.5], w
" out'
run imgmask --random-box 2x2 --keep-labels ml.bs
check "--keep-labels keeps a multi-hot y, its class_mode, and w" 'py -c "$load
assert [m[\"class_mode\"] for t, m in frames] == [\"multi_label\"] * 2
assert np.concatenate([t[\"y\"] for t, m in frames]).tolist() == [[0, 1], [1, 0], [0, 1], [1, 0]]
assert np.concatenate([t[\"w\"] for t, m in frames]).tolist() == [0.5, 1.5, 2.5, 3.5]
" out'
run imgmask --random-box 2x2 --keep-labels raw.bs
check "--keep-labels keeps numbers and their names" 'py -c "$load
assert all(m[\"class_mode\"] == \"raw\" and json.loads(m[\"targets\"]) == [\"angle\"] for t, m in frames)
assert np.concatenate([t[\"y\"] for t, m in frames]).tolist() == [[0], [0.5], [1], [1.5]]
" out'
