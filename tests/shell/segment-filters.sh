# Segmentation pairs through the filters (issue 26): a mask stream (y U8 [n,h,w,1]
# class indices, class_mode mask) saved as palette PNGs (imgsave), regrouped and
# summed up (batchpack), masked (imgmask), drawn (imgsheet), and the masks a
# segmentation model predicts written as files, lines and a stream (nnpredict).
# The streams are made here in Python (json + numpy), not by imgprep.
. "$ROOT/tests/shell/lib.sh"
S="$ROOT/tests/shell/stream.py"

cat > mk.py <<'EOF'
# mk.py OUT [colors] [weights]: 5 samples of 6x5 in frames of 2, 2, 1. x[i] is all i*40+k
# (k the channel) so a sample is known by its pixels; y[i] a pattern of classes 0..2 moved by
# i, with the ignore index 255 in one pixel of sample 0.
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else ".")
from stream import write_frame
n, h, w = 5, 6, 5
x = np.zeros((n, h, w, 3), np.uint8)
y = np.zeros((n, h, w, 1), np.uint8)
for i in range(n):
    x[i] = i * 40 + np.arange(3)
    y[i, :, :, 0] = (np.arange(h * w).reshape(h, w) // (i + 1)) % 3
y[0, 0, 0, 0] = 255
meta = {"format": "batchstream/1", "class_mode": "mask", "classes": json.dumps(["bg", "cat", "dog"]), "ignore_index": "255",
        "epoch": "0", "epoch_size": str(n)}
if "colors" in sys.argv[2:]:
    meta["colors"] = json.dumps([[1, 2, 3], [10, 20, 30], [200, 100, 50]])
with open(sys.argv[1], "wb") as out:
    for a, b in [(0, 2), (2, 4), (4, 5)]:
        m = dict(meta, index=str(a), paths=json.dumps(["img/p%d.png" % i for i in range(a, b)]))
        t = {"x": x[a:b], "y": y[a:b]}
        if "weights" in sys.argv[2:]:
            t["w"] = np.array([0.5 + i for i in range(a, b)], np.float32)
        write_frame(out, t, m)
np.save(sys.argv[1] + ".y.npy", y)
np.save(sys.argv[1] + ".x.npy", x)
EOF
cp "$S" stream.py
py mk.py m.bin colors weights
py mk.py v.bin

# imgsave: each image, its mask beside it as a palette PNG, and mask= lines.
run imgsave -d s m.bin
check_status "imgsave writes a mask stream" 0
cp out s.list
check "an image and a .mask.png per sample" '[ "$(ls s | tr "\n" " ")" = "img_000_000000.mask.png img_000_000000.png img_000_000001.mask.png img_000_000001.png img_000_000002.mask.png img_000_000002.png img_000_000003.mask.png img_000_000003.png img_000_000004.mask.png img_000_000004.png " ]'
check "the classes first, then PATH mask=MASK w=W lines" '[ "$(head -n 5 out)" = "$(printf "\t0\tbg\n\t1\tcat\n\t2\tdog\ns/img_000_000000.png\tmask=s/img_000_000000.mask.png\tw=0.5\ns/img_000_000001.png\tmask=s/img_000_000001.mask.png\tw=1.5")" ] && [ $(wc -l < out) -eq 8 ]'
check "the masks are palette PNGs whose indices are y's bytes" 'py -c "
import numpy as np; from PIL import Image
y = np.load(\"m.bin.y.npy\")
for i in range(5):
    im = Image.open(\"s/img_000_%06d.mask.png\" % i)
    assert im.mode == \"P\" and im.size == (5, 6), (im.mode, im.size)
    assert (np.asarray(im) == y[i, :, :, 0]).all(), i
    x = np.asarray(Image.open(\"s/img_000_%06d.png\" % i)); assert (x == np.load(\"m.bin.x.npy\")[i]).all()"'
check "their palette is the stream's colours, the ignore index white" 'py -c "
from PIL import Image
p = Image.open(\"s/img_000_000000.mask.png\").getpalette()
assert p[:9] == [1, 2, 3, 10, 20, 30, 200, 100, 50] and p[3 * 255:] == [255, 255, 255], p[:12]"'
run imgsave -d v --prefix voc v.bin
check "without colours, the PASCAL VOC colour map" 'py -c "
from PIL import Image
p = Image.open(\"v/voc_000_000001.mask.png\").getpalette()
voc = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128, 0, 128, 128, 128, 128, 128, 64, 0, 0]
assert p[:27] == voc and p[3 * 20:3 * 21] == [0, 64, 128] and p[3 * 255:] == [255, 255, 255], p[:27]"'
check "no weights, no w=" '[ "$(sed -n 4p out)" = "v/voc_000_000000.png	mask=v/voc_000_000000.mask.png" ]'

# imgprep reads the saved pairs back to the same stream (x, y, w; the ignore index given again).
# Before imgprep read mask= lines (issue 26's data side) there was nothing to round-trip to.
if imgprep --help 2>&1 | grep -q -- --ignore-index; then
    run sh -c 'imgprep -q --size 5x6 --ignore-index 255 < s.list > back.bin'
    check "imgprep reads imgsave's pairs back to the same x, y and w" 'py -c "
import sys, json, numpy as np; sys.path.insert(0, \".\"); from stream import read_frames
t = [(f, m) for f, m in read_frames(open(\"back.bin\", \"rb\"))]
cat = lambda k: np.concatenate([f[k] for f, m in t])
assert (cat(\"x\") == np.load(\"m.bin.x.npy\")).all() and (cat(\"y\") == np.load(\"m.bin.y.npy\")).all()
assert (cat(\"w\") == np.array([0.5, 1.5, 2.5, 3.5, 4.5], np.float32)).all()
assert all(m[\"class_mode\"] == \"mask\" and json.loads(m[\"classes\"]) == [\"bg\", \"cat\", \"dog\"] and m[\"ignore_index\"] == \"255\" for f, m in t)"'
fi

# batchpack: y moves with x, byte for byte, through regrouping and a shuffle window.
run batchpack -b 3 --shuffle-buffer 4 --seed 7 -o packed.bin m.bin
check_status "batchpack regroups a mask stream" 0
check "each sample's mask and weight moved with its image" 'py -c "
import sys, numpy as np; sys.path.insert(0, \".\"); from stream import read_frames
x0, y0 = np.load(\"m.bin.x.npy\"), np.load(\"m.bin.y.npy\")
order = []
for t, meta in read_frames(open(\"packed.bin\", \"rb\")):
    assert meta[\"class_mode\"] == \"mask\" and t[\"y\"].dtype == np.uint8 and t[\"y\"].shape[1:] == (6, 5, 1)
    for r in range(len(t[\"x\"])):
        i = int(t[\"x\"][r, 0, 0, 0]) // 40; order.append(i)
        assert (t[\"x\"][r] == x0[i]).all() and (t[\"y\"][r] == y0[i]).all() and t[\"w\"][r] == 0.5 + i
assert sorted(order) == [0, 1, 2, 3, 4] and order != [0, 1, 2, 3, 4], order"'
run batchpack --info m.bin
check "--info: class mode mask" 'grep -qx "class mode: mask" out'
check "--info: what y is, with the ignore index" 'grep -qx "targets:    a mask per image, 3 classes (y U8 class indices), ignore index 255" out'
check "--info: the pixels of each class and the ignored ones" 'py -c "
import numpy as np
y = np.load(\"m.bin.y.npy\"); lines = open(\"out\").read()
want = \"classes:    3 (pixels of each)\n\" + \"\".join(\"  %d\t%s\t%d\n\" % (c, n, (y == c).sum()) for c, n in enumerate([\"bg\", \"cat\", \"dog\"])) + \"ignored:    1 pixels\n\"
assert want in lines, lines"'
py -c "
import sys, json, numpy as np; sys.path.insert(0, '.'); from stream import read_frames, write_frame
t, m = next(read_frames(open('v.bin', 'rb'))); y = t['y'].copy(); y[1, 0, :3, 0] = 7
write_frame(open('stray.bin', 'wb'), {'x': t['x'], 'y': y}, dict(m, epoch_size='2'))"
run batchpack --info stray.bin
check "--info: values that are no class are counted and named" 'grep -qx "no class:   3 pixels hold values that are no class (7)" out'

# imgmask: the image is masked, the segmentation mask stays y.
run imgmask --random-box 2x3 --seed 1 -o masked.bin m.bin
check_status "imgmask on a mask stream" 0
check "x is masked, y is still the mask, byte for byte" 'py -c "
import sys, numpy as np; sys.path.insert(0, \".\"); from stream import read_frames
x0, y0 = np.load(\"m.bin.x.npy\"), np.load(\"m.bin.y.npy\")
xs, ys, modes = [], [], set()
for t, meta in read_frames(open(\"masked.bin\", \"rb\")):
    xs.append(t[\"x\"]); ys.append(t[\"y\"]); modes.add(meta[\"class_mode\"])
x, y = np.concatenate(xs), np.concatenate(ys)
assert modes == {\"mask\"} and (y == y0).all()
assert all(((x[i] != x0[i]).all(axis=2).sum() == 6) for i in range(1, 5)), [(x[i] != x0[i]).all(axis=2).sum() for i in range(5)]"'

# imgsheet: image | true mask in colour; a prediction stream adds its mask; --overlay blends.
run imgsheet --columns 5 -o sheet.png v.bin
check_status "imgsheet draws a mask stream" 0
check "image and mask side by side" 'py -c "
import numpy as np; from PIL import Image
a = np.asarray(Image.open(\"sheet.png\")).astype(int); y = np.load(\"v.bin.y.npy\")
assert a.shape == (4 + 6 + 4, 4 + 5 * (5 + 2 + 5 + 4), 3), a.shape
voc = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 255: (255, 255, 255)}
for i in range(5):
    left = 4 + i * 16
    assert (a[4:10, left:left + 5] == i * 40 + np.arange(3)).all(), i
    tile = a[4:10, left + 7:left + 12]
    assert all(tuple(tile[r, c]) == voc[y[i, r, c, 0]] for r in range(6) for c in range(5)), i"'
py -c "
import sys, json, numpy as np; sys.path.insert(0, '.'); from stream import read_frames, write_frame
with open('pred.bin', 'wb') as out:
    for t, m in read_frames(open('v.bin', 'rb')):
        y = np.full_like(t['y'], 2); y[:, :3] = 1
        write_frame(out, {'x': np.zeros(t['y'].shape[:3] + (3,), np.float32), 'y': y}, dict(m, predicted='mask'))"
run imgsheet --columns 5 -o three.png v.bin pred.bin
check "a stream of predictions adds its mask as a third tile" 'py -c "
import numpy as np; from PIL import Image
a = np.asarray(Image.open(\"three.png\")).astype(int)
assert a.shape == (14, 4 + 5 * (3 * 5 + 2 * 2 + 4), 3), a.shape
pred = a[4:10, 4 + 14:4 + 19]
assert (pred[:3] == (128, 0, 0)).all() and (pred[3:] == (0, 128, 0)).all()"'
run imgsheet --columns 5 --overlay 0.25 -o over.png m.bin pred.bin
check_status "--overlay" 0
check "--overlay: the masks blended over the image, class 0 and ignored pixels left as they are" 'py -c "
import numpy as np; from PIL import Image
a = np.asarray(Image.open(\"over.png\")).astype(int); y = np.load(\"m.bin.y.npy\"); x = np.load(\"m.bin.x.npy\").astype(int)
assert a.shape == (14, 4 + 5 * (5 + 2 + 5 + 4), 3), a.shape
ours, voc = {1: (10, 20, 30), 2: (200, 100, 50)}, {1: (128, 0, 0), 2: (0, 128, 0)}
for i in range(5):
    left = 4 + i * 16
    predicted = np.where(np.arange(6)[:, None] < 3, 1, 2) + 0 * y[i, :, :, 0]
    for tile, mask, colors in ((a[4:10, left:left + 5], y[i, :, :, 0], ours), (a[4:10, left + 7:left + 12], predicted, voc)):
        for r in range(6):
            for c in range(5):
                v = mask[r, c]
                want = x[i, r, c] if v in (0, 255) else np.floor(0.75 * x[i, r, c] + 0.25 * np.array(colors[v]) + 0.5)
                assert (tile[r, c] == want).all(), (i, r, c, tile[r, c], want)"'
run imgsheet --label class --columns 5 -o cap.png v.bin
check_status "--label class on masks" 0
check "captions the classes each mask shows: a strip under the tiles" 'py -c "
from PIL import Image; assert Image.open(\"cap.png\").size == (84, 28)"' 
run imgsheet --overlay 1.5 -o bad.png m.bin
check_status "--overlay above 1 is refused" 64

# nnpredict: a 1x1 convolution whose softmax's argmax is the brightest channel, and one
# sigmoid unit that says red > 128: deterministic masks, written as palette PNGs.
cat > mkmodel.py <<'EOF'
import json, struct, sys
import numpy as np
kind, h, w, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if kind == "softmax":
    weight, bias, act, loss, n = (np.eye(3, dtype=np.float32) * 0.1).reshape(3, 3, 1, 1), np.zeros(3, np.float32), "softmax", "sparse_categorical_crossentropy", 3
else:
    weight, bias, act, loss, n = np.array([1, 0, 0], np.float32).reshape(1, 3, 1, 1), np.array([-128], np.float32), "sigmoid", "binary_crossentropy", 1
spec = {"input_shape": [h, w, 3], "name": "seg", "layers": [{"type": "Conv2D", "name": "conv2d", "filters": n, "kernel_size": [1, 1],
        "activation": act, "padding": "valid", "strides": [1, 1], "use_bias": True}], "loss": loss, "optimizer": {"type": "sgd"}, "metrics": []}
header, blobs, off = {}, [], 0
for k, v in {"conv2d.weight": weight, "conv2d.bias": bias}.items():
    b = v.tobytes(); header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}; blobs.append(b); off += len(b)
classes = ["red", "green", "blue"] if n == 3 else sys.argv[5].split(",") if len(sys.argv) > 5 else []
header["__metadata__"] = {"format": "imgpipe-model/1", "spec": json.dumps(spec), "classes": json.dumps(classes),
                          "input_shape": json.dumps([h, w, 3]), "input_dtype": "U8", "loss": loss, "metrics": "[]"}
t = json.dumps(header).encode(); t += b" " * ((8 - len(t) % 8) % 8)
open(out, "wb").write(struct.pack("<Q", len(t)) + t + b"".join(blobs))
EOF
py mkmodel.py softmax 6 5 soft.model
py mkmodel.py sigmoid 6 5 sig.model
# Images whose brightest channel varies by pixel, at the paths the stream names, 12x10 on disk.
py -c "
import sys, json, numpy as np; sys.path.insert(0, '.'); from stream import write_frame
from PIL import Image
import os; os.makedirs('img', exist_ok=True)
rng = np.random.default_rng(3); x = rng.integers(0, 256, (4, 6, 5, 3), dtype=np.uint8); np.save('px.npy', x)
for i in range(4): Image.fromarray(np.repeat(np.repeat(x[i], 2, 0), 2, 1)).save('img/p%d.png' % i)
meta = {'format': 'batchstream/1', 'epoch': '0', 'epoch_size': '4', 'colors': json.dumps([[9, 9, 9], [1, 2, 3]])}
with open('px.bin', 'wb') as out:
    for a in (0, 2):
        write_frame(out, {'x': x[a:a + 2]}, dict(meta, index=str(a), paths=json.dumps(['img/p%d.png' % i for i in range(a, a + 2)])))"
run nnpredict -m soft.model --masks pm px.bin
check_status "nnpredict --masks" 0
check "its list lines: PATH mask=PREDICTED" '[ "$(cat out)" = "$(printf "img/p0.png\tmask=pm/img/p0.png\nimg/p1.png\tmask=pm/img/p1.png\nimg/p2.png\tmask=pm/img/p2.png\nimg/p3.png\tmask=pm/img/p3.png")" ]'
check "each mask is the argmax, a palette PNG at the model's size in the stream's colours" 'py -c "
import numpy as np; from PIL import Image
x = np.load(\"px.npy\")
for i in range(4):
    im = Image.open(\"pm/img/p%d.png\" % i)
    assert im.mode == \"P\" and im.size == (5, 6) and im.getpalette()[:9] == [9, 9, 9, 1, 2, 3, 0, 128, 0], (im.mode, im.size)
    assert (np.asarray(im) == x[i].argmax(axis=2)).all(), i"'
run nnpredict -m sig.model --masks sm --mask-size original px.bin
check_status "--mask-size original" 0
check "one sigmoid: red > 128, resized (nearest) to each file's 10x12" 'py -c "
import numpy as np; from PIL import Image
x = np.load(\"px.npy\")
for i in range(4):
    m = np.asarray(Image.open(\"sm/img/p%d.png\" % i))
    assert m.shape == (12, 10) and (m == np.repeat(np.repeat(x[i, :, :, 0] > 128, 2, 0), 2, 1)).all(), i"'
run nnpredict -m soft.model -f stream -o pred-out.bin px.bin
check "-f stream: y is the predicted mask, class_mode mask, the model's classes" 'py -c "
import sys, json, numpy as np; sys.path.insert(0, \".\"); from stream import read_frames
x = np.load(\"px.npy\"); ys = []
for t, m in read_frames(open(\"pred-out.bin\", \"rb\")):
    assert t[\"x\"].dtype == np.float32 and t[\"x\"].shape[1:] == (6, 5, 3) and t[\"y\"].dtype == np.uint8
    assert m[\"class_mode\"] == \"mask\" and m[\"predicted\"] == \"mask\" and json.loads(m[\"classes\"]) == [\"red\", \"green\", \"blue\"]
    ys.append(t[\"y\"])
assert (np.concatenate(ys)[..., 0] == x.argmax(axis=3)).all()"'
run imgsheet -o pred-sheet.png px.bin pred-out.bin
check "imgsheet draws nnpredict's masks beside the images" 'py -c "
import numpy as np; from PIL import Image
a = np.asarray(Image.open(\"pred-sheet.png\")); x = np.load(\"px.npy\")
assert a.shape == (14, 4 + 4 * (5 + 2 + 5 + 4), 3), a.shape
pal = np.array([[9, 9, 9], [1, 2, 3], [0, 128, 0]])
assert (a[4:10, 11:16] == pal[x[0].argmax(axis=2)]).all()"'
run nnpredict -m soft.model px.bin
check_status "a segmentation model without --masks or a stream" 64
check_err "says what to give" "nnpredict: soft.model segments (its output is [6,5,3] per sample under sparse_categorical_crossentropy): give --masks DIR"
run nnpredict -m soft.model --mask-size original px.bin
check_status "--mask-size without --masks" 64
run nnpredict -m soft.model --masks jm -f json px.bin
check_status "--masks with -f json" 64
py -c "
import sys, json, numpy as np; sys.path.insert(0, '.'); from stream import read_frames, write_frame
t, m = next(read_frames(open('px.bin', 'rb'))); write_frame(open('twin.bin', 'wb'), t, dict(m, epoch_size='2', paths=json.dumps(['a/b.png', 'a/b.jpg'])))"
run nnpredict -m soft.model --masks tm twin.bin
check_status "two images whose masks would be one file" 65
check_err "are named" "nnpredict: twin.bin: frame 1: the masks of a/b.png and a/b.jpg would both be tm/a/b.png"
run nnpredict -m soft.model --masks om --mask-size original twin.bin
check_status "--mask-size original without the image file" 65
check_err "names it" "nnpredict: twin.bin: frame 1: --mask-size original: cannot read the size of a/b.png: "
py -c "
import sys, json, numpy as np; sys.path.insert(0, '.'); from stream import read_frames, write_frame
t, m = next(read_frames(open('px.bin', 'rb')))
write_frame(open('up.bin', 'wb'), t, dict(m, epoch_size='2', paths=json.dumps(['../up/a.jpg', '/abs/b.c.jpeg'])))"
run nnpredict -m soft.model --masks um up.bin
check "mask files stay inside DIR: leading ../ and / dropped, the last extension replaced" '[ "$(cat out)" = "$(printf "../up/a.jpg\tmask=um/up/a.png\n/abs/b.c.jpeg\tmask=um/abs/b.c.png")" ] && [ -f um/up/a.png ] && [ -f um/abs/b.c.png ]'

# Metadata that does not say what batchstream(5) says is named, not drawn in other colours.
py -c "
import sys, json; sys.path.insert(0, '.'); from stream import read_frames, write_frame
t, m = next(read_frames(open('v.bin', 'rb')))
write_frame(open('badc.bin', 'wb'), t, dict(m, epoch_size='2', colors='[[1, 2, 3], [1, 2]]'))
write_frame(open('badi.bin', 'wb'), t, dict(m, epoch_size='2', ignore_index='256'))"
run imgsave -d bad badc.bin
check_status "colours that are not [r, g, b]" 65
check_err "are named with the entry" 'imgsave: badc.bin: frame 1: metadata "colors": entry 1 is not [r, g, b] of 0..255: [1,2]'
run imgsheet -o bad.png badi.bin
check_status "an ignore index that is no byte" 65
check_err "is named" 'imgsheet: badi.bin: frame 1: metadata "ignore_index" is not an index 0..255: "256"'
check "and no sheet is left" '[ ! -e bad.png ]'

# --mask-size original: the upright size, after the file's EXIF orientation (6: turned a quarter).
py -c "
import sys, json, numpy as np; sys.path.insert(0, '.'); from stream import read_frames, write_frame
from PIL import Image
im = Image.new('RGB', (10, 12), (200, 30, 30)); exif = Image.Exif(); exif[0x0112] = 6; im.save('img/turned.jpg', exif=exif.tobytes())
t, m = next(read_frames(open('px.bin', 'rb')))
write_frame(open('turned.bin', 'wb'), {'x': t['x'][:1]}, dict(m, epoch_size='1', paths=json.dumps(['img/turned.jpg'])))"
run nnpredict -m sig.model --masks tu --mask-size original turned.bin
check "the mask of a file with EXIF orientation 6 is its upright 12x10" 'py -c "
from PIL import Image
assert Image.open(\"tu/img/turned.png\").size == (12, 10), Image.open(\"tu/img/turned.png\").size"'

# A one-sigmoid model that knows its classes (trained on masks) segments without --masks.
py mkmodel.py sigmoid 6 5 sigc.model background,red
run nnpredict -m sigc.model -f stream -o sigc.bin px.bin
check "a sigmoid mask model's stream: y = red > 128, classes the model's" 'py -c "
import sys, json, numpy as np; sys.path.insert(0, \".\"); from stream import read_frames
x = np.load(\"px.npy\"); ys = []
for t, m in read_frames(open(\"sigc.bin\", \"rb\")):
    assert m[\"class_mode\"] == \"mask\" and json.loads(m[\"classes\"]) == [\"background\", \"red\"]; ys.append(t[\"y\"])
assert (np.concatenate(ys)[..., 0] == (x[..., 0] > 128)).all()"'
run nnpredict -m sig.model -f stream -o sig.bin px.bin
check "without classes, a sigmoid's outputs are an image's: no y" 'py -c "
import sys; sys.path.insert(0, \".\"); from stream import read_frames
assert all(\"y\" not in t and \"class_mode\" not in m for t, m in read_frames(open(\"sig.bin\", \"rb\")))"'
py -c "
import sys, json; sys.path.insert(0, '.'); from stream import read_frames, write_frame
t, m = next(read_frames(open('px.bin', 'rb'))); m.pop('paths'); write_frame(open('nopaths.bin', 'wb'), t, dict(m, epoch_size='2'))"
run nnpredict -m soft.model --masks np nopaths.bin
check_status "--masks on a stream without paths" 65
check_err "says the masks need them" 'nnpredict: nopaths.bin: frame 1: the stream names no source path (metadata "paths") to name the mask after'

# A full disk: 74 naming the mask file, and no mask file, whole or partial, left behind.
py mkmodel.py softmax 64 64 soft64.model
py -c "
import sys, json, numpy as np; sys.path.insert(0, '.'); from stream import write_frame
x = np.random.default_rng(1).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)  # a mask PNG well over 1 KiB
write_frame(open('r64.bin', 'wb'), {'x': x}, {'format': 'batchstream/1', 'epoch': '0', 'index': '0', 'epoch_size': '1', 'paths': json.dumps(['r.png'])})"
run sh -c 'ulimit -f 2; exec "$@"' full nnpredict -q -m soft64.model --masks fm r64.bin
check_status "nnpredict --masks on a full disk" 74
check_err "names the mask file" "nnpredict: fm/r.png: write failed: File too large"
check "leaves no mask file behind" '[ -z "$(ls fm)" ]'

# Two ranks share px.bin's two frames: each writes its masks, rank 0 the lines of both in order.
port=$(py -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
nnpredict -m soft.model --masks two -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port px.bin > out1 2> err1 &
pid1=$!
run nnpredict -m soft.model --masks two -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o two.list px.bin
wait $pid1; status1=$?
run nnpredict -m soft.model --masks one -o one.list px.bin
check "--masks on 2 ranks: one process's lines and mask files" '[ "$status1" -eq 0 ] && [ "$(sed s/two/one/ two.list)" = "$(cat one.list)" ] && diff -r one two > /dev/null'
port=$(py -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
nnpredict -m soft.model --masks other -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port px.bin > out1 2> err1 &
pid1=$!
run nnpredict -m soft.model --masks two -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o bad.list px.bin
wait $pid1
check_status "ranks given different --masks" 64
check_err "are told" "--masks and --mask-size must be the same on every rank"
