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
# Several classes a cell: joined with | (imglist's --label-separator), or a Python list
# literal as pandas' to_csv writes a column of lists; [] for an image of none of them.
tags = ["coat|bag", "[]", "bag", "['shirt', 'coat', 'bag']", "shirt", "coat", "bag|shirt", "[]", "coat|shirt", "['bag']", "shirt", "coat|bag"]
with open("table.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["filename", "angle", "scale", "tags", "kind", "weight"])
    for i in range(12):
        name = "odd, name %d.png" % i if i == 5 else "sub/%02d.png" % i if i % 3 == 0 else "%02d.png" % i
        Image.fromarray(images[i]).save("img/" + name)
        w.writerow([name, repr(float(rng.uniform(-180, 180))), repr(float(rng.uniform(0.5, 2))), tags[i],
                    "cat" if i % 4 < 2 else "dog", repr(float(rng.choice([0.25, 1, 1.5, 3.125])))])
EOF

# Keras' side: one batch of the whole table, shuffle off, nearest (Keras' default),
# compared with the stream's x, y, w and paths. ARGS: the stream, then Python
# keyword arguments of flow_from_dataframe.
cat > keras_df.py <<'EOF'
import ast, json, os, sys
import numpy as np, pandas as pd
sys.path.insert(0, os.environ["ROOT"] + "/tests/shell")
import stream
from keras_preprocessing.image import ImageDataGenerator  # Keras' own code
frames = list(stream.read_frames(open(sys.argv[1], "rb")))
kw = eval("dict(" + sys.argv[2] + ")")
df = pd.read_csv("table.csv", keep_default_na=False)
# Multi-label: Keras wants a Python list per cell (a string "a|b" would be one class).
df["tags"] = df["tags"].apply(lambda s: ast.literal_eval(s) if s.startswith("[") else s.split("|"))
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

# keras_same NAME IMGLIST-ARGS KERAS-ARGS: imglist --table | imgprep gives the batch
# Keras' flow_from_dataframe gives on the same table.
keras_same() {
    name=$1 table_args=$2 kargs=$3 n=$((n + 1))
    imglist -q --table table.csv img $table_args > "$n.list"
    run imgprep -q --size 20x24 --interpolation nearest -b 5 $(case "$table_args" in *input*) echo --class-mode input;; esac) "$n.list"
    cp "$T/out" "$n.bs"
    check "$name" '[ $status -eq 0 ] && py keras_df.py "$n.bs" "$kargs" > keras.out 2> keras.err || { tail -n 3 keras.err >&2; false; }'
}
n=0
keras_same "raw, one column: order, pixels and y as Keras' flow_from_dataframe" \
    "--class-mode raw --y-col angle" "class_mode='raw', y_col='angle'"
keras_same "raw, two columns: y [n, 2] as Keras' y_col=[...]" \
    "--class-mode raw --y-col angle,scale" "class_mode='raw', y_col=['angle', 'scale']"
keras_same "multi-label categorical (a list of classes per cell): the multi-hot y as Keras'" \
    "--y-col tags" "class_mode='categorical', y_col='tags'"
keras_same "binary: the class indices as Keras' 0/1" "--class-mode binary --y-col kind" "class_mode='binary', y_col='kind'"
keras_same "sparse: the same indices" "--class-mode sparse --y-col kind" "class_mode='sparse', y_col='kind'"
keras_same "raw with weight_col: the weights as Keras' third array" \
    "--class-mode raw --y-col angle,scale --weight-col weight" "class_mode='raw', y_col=['angle', 'scale'], weight_col='weight'"
keras_same "multi-label with weight_col" "--y-col tags --weight-col weight" "class_mode='categorical', y_col='tags', weight_col='weight'"
keras_same "binary with weight_col" "--class-mode binary --y-col kind --weight-col weight" \
    "class_mode='binary', y_col='kind', weight_col='weight'"
keras_same "input: y is the image, as Keras' class_mode='input'" "--class-mode input" "class_mode='input'"
check "the comparison can fail: the stream's two columns are not Keras' y_col in the other order" \
    '! py keras_df.py 2.bs "class_mode=\"raw\", y_col=[\"scale\", \"angle\"]" > /dev/null 2>&1'

# A row whose file is missing: Keras drops it with one warning that names none;
# imglist --keep-going lists it as missing, and imgprep records it as skipped, so
# the stream holds Keras' rows and says which one is not there.
rm "img/02.png"
imglist -q --table table.csv img --class-mode raw --y-col angle --weight-col weight --keep-going --allow-skipped > gone.list 2> gone.err
run imgprep --size 20x24 --interpolation nearest -b 5 gone.list
check_status "a missing file is recorded as skipped: 65 unless --allow-skipped" 65
check_err "named" "imgprep: img/02.png: missing (a table's row with no file): recorded as skipped"
check_err "and counted" "imgprep: 1 missing file (of the table) skipped, 11 images written; --allow-skipped accepts them"
cp "$T/out" gone.bs
check "the stream holds Keras' rows, in Keras' order, with their targets and weights" \
    'py keras_df.py gone.bs "class_mode=\"raw\", y_col=\"angle\", weight_col=\"weight\"" > keras.out 2> keras.err || { tail -n 3 keras.err >&2; false; }'
check "and the epoch is whole: 11 rows and the missing one recorded" 'py -c "
import json, sys; sys.path.insert(0, \"$ROOT/tests/shell\"); import stream
f = list(stream.read_frames(open(\"gone.bs\", \"rb\")))
assert json.loads(f[0][1][\"skipped\"]) == [\"img/02.png\"] and f[0][1][\"epoch_size\"] == \"12\"
assert sum(len(t[\"x\"]) for t, m in f) == 11"'
run batchpack -b 4 gone.bs
check_status "a reader downstream names it and exits 65" 65
check_err "as skipped upstream" "1 sample was skipped upstream (img/02.png)"
