# Keras' own flow_from_dataframe (Debian's python3-keras-preprocessing, with
# python3-pandas) against imgprep on the same CSV: the same order (shuffle off),
# targets, weights and pixels, for raw (one and several columns), multi-label
# categorical, binary, input, and with weight_col (issue 24, part 5).
. "$ROOT/tests/shell/lib.sh"

FM=/usr/share/datasets/fashion-mnist
if ! py -c "import keras_preprocessing, pandas, PIL" 2> /dev/null; then
    _result fail "python3-keras-preprocessing, python3-pandas and python3-pil are installed (make deps): Keras' flow_from_dataframe is the reference"
    exit 0
fi

# Twelve Fashion-MNIST items as PNG files under img/ (one name with a space and a
# comma, quoted in the CSV), and a table of targets of every kind for them.
py - "$FM" <<'EOF' || { _result fail "making the test images and the table"; exit 0; }
import csv, gzip, os, sys
import numpy as np
from PIL import Image
with gzip.open(sys.argv[1] + "/t10k-images-idx3-ubyte.gz") as f:
    f.read(16); images = np.frombuffer(f.read(28 * 28 * 12), np.uint8).reshape(12, 28, 28)
os.makedirs("img/sub", exist_ok=True)
rng = np.random.default_rng(7)
tags = ["coat|bag", "", "bag", "shirt|coat|bag", "shirt", "coat", "bag|shirt", "", "coat|shirt", "bag", "shirt", "coat|bag"]
with open("table.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["filename", "angle", "scale", "tags", "kind", "weight"])
    for i in range(12):
        name = "odd, name %d.png" % i if i == 5 else "sub/%02d.png" % i if i % 3 == 0 else "%02d.png" % i
        Image.fromarray(images[i]).save("img/" + name)
        w.writerow([name, repr(float(rng.uniform(-180, 180))), repr(float(rng.uniform(0.5, 2))), tags[i],
                    "cat" if i % 4 < 2 else "dog", repr(float(rng.choice([0.25, 1, 1.5, 3.125])))])
EOF

# The list lines of the table, as imglist --table writes them (doc/design.md,
# "List lines"), until imglist reads tables: MODE is raw, raw2, tags, kind or input;
# -w adds the weight column.
table_list() {
    py - "$@" <<'EOF'
import csv, sys
mode, weighted = sys.argv[1], "-w" in sys.argv[2:]
rows = list(csv.DictReader(open("table.csv", newline="")))
out = []
if mode == "tags":
    names = sorted({t for r in rows for t in r["tags"].split("|") if t})
if mode == "kind":
    names = sorted({r["kind"] for r in rows})
if mode == "raw":
    out.append("\ttargets=angle")
if mode == "raw2":
    out.append("\ttargets=angle|scale")
for r in rows:
    line = "img/" + r["filename"]
    if mode == "raw":
        line += "\ty=" + r["angle"]
    elif mode == "raw2":
        line += "\ty=%s,%s" % (r["angle"], r["scale"])
    elif mode == "tags":
        line += "\tclasses=" + "|".join("%d:%s" % (names.index(t), t) for t in sorted(r["tags"].split("|")) if t)
    elif mode == "kind":
        line += "\t%d\t%s" % (names.index(r["kind"]), r["kind"])
    if weighted:
        line += "\tw=" + r["weight"]
    out.append(line)
print("\n".join(out))
EOF
}

# Keras' side: one batch of the whole table, shuffle off, nearest (Keras' default),
# compared with the stream's x, y, w and paths. ARGS: the stream, then Python
# keyword arguments of flow_from_dataframe.
cat > keras_df.py <<'EOF'
import json, os, sys
import numpy as np, pandas as pd
sys.path.insert(0, os.environ["ROOT"] + "/tests/shell")
import stream
from keras_preprocessing.image import ImageDataGenerator  # Keras' own code
frames = list(stream.read_frames(open(sys.argv[1], "rb")))
kw = eval("dict(" + sys.argv[2] + ")")
df = pd.read_csv("table.csv", keep_default_na=False)
# Multi-label: Keras wants a Python list per cell (a string "a|b" would be one class).
df["tags"] = df["tags"].apply(lambda s: [t for t in s.split("|") if t])
it = ImageDataGenerator().flow_from_dataframe(df, directory="img", x_col="filename", target_size=(24, 20),
                                              batch_size=len(df), shuffle=False, **kw)
batch = it[0]
kx, ky = batch[0], batch[1]
x = np.concatenate([t["x"] for t, m in frames])
paths = [p for t, m in frames for p in json.loads(m["paths"])]
meta = frames[0][1]
assert paths == it.filepaths, (paths, it.filepaths)
assert x.dtype == np.uint8 and x.shape == kx.shape, (x.shape, kx.shape)
assert (x.astype(np.float32) == kx).all(), "pixels differ: max %g" % np.abs(x - kx).max()
y = np.concatenate([t["y"] for t, m in frames])
mode = kw.get("class_mode", "categorical")
if mode == "raw":
    # Keras' y is the table's float64 column (n,) or columns (n, k); the stream's
    # is F32 [n, k], as Keras' model casts it.
    ref = np.asarray(ky, np.float64).reshape(len(kx), -1).astype(np.float32)
    assert y.dtype == np.float32 and (y == ref).all(), (y, ref)
    cols = kw["y_col"] if isinstance(kw["y_col"], list) else [kw["y_col"]]
    assert json.loads(meta["targets"]) == cols and meta["class_mode"] == "raw"
elif mode == "categorical":
    assert y.dtype == np.float32 and y.shape == ky.shape and (y == ky).all(), (y, ky)
    assert json.loads(meta["classes"]) == sorted(it.class_indices, key=it.class_indices.get)
    assert meta["class_mode"] == "multi_label"
elif mode in ("binary", "sparse"):
    assert y.dtype == np.int32 and (y.astype(np.float32) == ky).all(), (y, ky)
    assert json.loads(meta["classes"]) == sorted(it.class_indices, key=it.class_indices.get)
elif mode == "input":
    assert y.dtype == x.dtype and (y.astype(np.float32) == ky).all() and meta["class_mode"] == "input"
if "weight_col" in kw:
    w = np.concatenate([t["w"] for t, m in frames])
    assert len(batch) == 3 and w.dtype == np.float32 and (w == batch[2].astype(np.float32)).all(), (w, batch[2])
else:
    assert "w" not in frames[0][0] and len(batch) == 2
EOF
export ROOT

keras_same() {  # keras_same NAME MODE [-w] KERAS-ARGS: list -> imgprep -> the same batch as Keras
    name=$1 mode=$2; shift 2
    w=; [ "$1" = -w ] && { w=-w; shift; }
    kargs=$1
    table_list "$mode" $w > "$mode$w.list"
    run imgprep -q --size 20x24 --interpolation nearest -b 5 $([ "$mode" = input ] && echo --class-mode input) "$mode$w.list"
    cp "$T/out" "$mode$w.bs"
    check "$name" '[ $status -eq 0 ] && py keras_df.py "$mode$w.bs" "$kargs" > keras.out 2> keras.err || { tail -n 3 keras.err >&2; false; }'
}
keras_same "raw, one column: order, pixels and y as Keras' flow_from_dataframe" raw "class_mode='raw', y_col='angle'"
keras_same "raw, two columns: y [n, 2] as Keras' y_col=[...]" raw2 "class_mode='raw', y_col=['angle', 'scale']"
keras_same "multi-label categorical (a list of classes per cell): the multi-hot y as Keras'" tags "class_mode='categorical', y_col='tags'"
keras_same "binary: the class indices as Keras' 0/1" kind "class_mode='binary', y_col='kind'"
keras_same "sparse: the same indices" kind "class_mode='sparse', y_col='kind'"
keras_same "raw with weight_col: the weights as Keras' third array" raw2 -w "class_mode='raw', y_col=['angle', 'scale'], weight_col='weight'"
keras_same "multi-label with weight_col" tags -w "class_mode='categorical', y_col='tags', weight_col='weight'"
keras_same "binary with weight_col" kind -w "class_mode='binary', y_col='kind', weight_col='weight'"
keras_same "input: y is the image, as Keras' class_mode='input'" input "class_mode='input'"
check "the comparison can fail: the stream's two columns are not Keras' y_col in the other order" '! py keras_df.py raw2.bs "class_mode=\"raw\", y_col=[\"scale\", \"angle\"]" > /dev/null 2>&1'
