# nneval and nnpredict on a table's targets: numbers (regression, class_mode
# raw) and several classes per image (multi_label), with and without sample
# weights (w), on small models trained on real Fashion-MNIST images. Every
# statistic is checked against NumPy computed from nnpredict's outputs.
. "$ROOT/tests/shell/lib.sh"
pyjson() { py -c "import json,sys; j=json.load(open('$T/out')); $1"; }

# Streams as imgprep writes a table's targets (batchstream(5)), from Debian's
# Fashion-MNIST files: x U8 [n,28,28,1]; y the image's brightness and ink
# (the share of pixels above 127) for raw; for multi_label, which of
# "bright" (brightness > 0.3), "footwear" and "upper_body" it shows; w 0.5, 1,
# 1.5, 0.5, ... with --weighted.
cat > tables.py <<'PY'
import gzip, json, struct, sys
import numpy as np
ROOT = "/usr/share/datasets/fashion-mnist/"
def idx(path):
    data = gzip.open(path, "rb").read()
    dims = struct.unpack(">i", data[:4])[0] & 0xFF
    shape = struct.unpack(">" + "i" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)
def frame(tensors, meta):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors:
        b = np.ascontiguousarray(arr).tobytes()
        dtype = {np.uint8: "U8", np.int32: "I32", np.float32: "F32"}[arr.dtype.type]
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    header["__metadata__"] = meta
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)
kind, part, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
pre = "t10k" if part == "test" else "train"
x = idx(ROOT + pre + "-images-idx3-ubyte.gz")[:count].reshape(-1, 28, 28, 1)
label = idx(ROOT + pre + "-labels-idx1-ubyte.gz")[:count]
mean = x.reshape(len(x), -1).mean(1) / 255
meta = {"format": "batchstream/1", "epoch": "0", "epoch_size": str(count)}
classes = ["bright", "footwear", "upper_body"]
if kind == "raw":
    y = np.stack([mean, (x.reshape(len(x), -1) > 127).mean(1)], 1).astype(np.float32)
    meta.update(class_mode="raw", targets=json.dumps(["brightness", "ink"]))
elif kind == "sparse":
    y = label.astype(np.int32)
    meta.update(class_mode="sparse", classes=json.dumps([str(i) for i in range(10)]))
else:
    y = np.stack([mean > 0.3, np.isin(label, [5, 7, 9]), np.isin(label, [0, 2, 4, 6])], 1).astype(np.float32)
    if kind == "reordered":  # the same targets under the classes in another order
        y, classes = y[:, ::-1], classes[::-1]
    if kind == "half":  # 0.5 where a 1 should be
        y[3, 1] = 0.5
    if kind == "nofootwear":  # a test set where no image shows one class
        y[:, 1] = 0
    meta.update(class_mode="multi_label", classes=json.dumps(classes))
w = (1 + np.arange(count) % 3).astype(np.float32) / 2
with open(out, "wb") as f:
    for s in range(0, count, 50):
        m = dict(meta, index=str(s), paths=json.dumps(["%s/%05d.png" % (part, i) for i in range(s, min(count, s + 50))]))
        t = [("x", x[s:s + 50]), ("y", y[s:s + 50])] + ([("w", w[s:s + 50])] if "--weighted" in sys.argv else [])
        f.write(frame(t, m))
PY
for k in raw multi; do
    py tables.py $k train 600 ${k}_train.bs
    py tables.py $k test 300 ${k}_test.bs
    py tables.py $k test 300 ${k}_test_w.bs --weighted
done
py tables.py sparse test 300 sparse_test.bs
py tables.py sparse train 600 sparse_train.bs
py tables.py reordered test 300 reordered_test.bs
py tables.py half test 300 half_test.bs
py tables.py nofootwear test 300 nofootwear_test.bs
cat > raw.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "Lambda", "function": "x/255."}, {"type": "Flatten"}, {"type": "Dense", "units": 2}],
 "loss": "mse", "metrics": ["mae"]}
JSON
cat > multi.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "Lambda", "function": "x/255."}, {"type": "Flatten"}, {"type": "Dense", "units": 3, "activation": "sigmoid"}],
 "loss": "binary_crossentropy", "metrics": ["accuracy"]}
JSON
cat > softmax.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "Lambda", "function": "x/255."}, {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}],
 "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
JSON
nntrain -q -j1 --seed 1 -m raw.json --epochs 20 --lr 0.003 -o raw.model raw_train.bs
nntrain -q -j1 --seed 1 -m multi.json --epochs 3 -o multi.model multi_train.bs
nntrain -q -j1 --seed 1 -m softmax.json --epochs 1 -o softmax.model sparse_train.bs
for f in raw.model multi.model softmax.model; do
    [ -s "$f" ] || { echo "FAIL: $SUITE: fixture: $f was not trained"; echo "fail fixture-$f" >> "$COUNTS"; }
done

# The reference: NumPy over the model's outputs (nnpredict -f stream) and the
# stream's y and w, written from the formulas, not from nneval's code: the
# weighted means, R2 against the weighted mean, precision and recall from the
# thresholded outputs, and AUC as the share of (positive, negative) pairs
# ranked right, ties half (Mann-Whitney), each pair weighted.
cat > reference.py <<'PY'
import json, struct, sys
import numpy as np
def frames(path):
    d, at = open(path, "rb").read(), 0
    while at < len(d):
        n, = struct.unpack("<Q", d[at:at + 8])
        h = json.loads(d[at + 8:at + 8 + n])
        meta = h.pop("__metadata__")
        base = at + 8 + n
        t = {k: np.frombuffer(d[base + v["data_offsets"][0]:base + v["data_offsets"][1]],
                              {"U8": np.uint8, "I32": np.int32, "F32": np.float32}[v["dtype"]]).reshape(v["shape"])
             for k, v in h.items()}
        at = base + max(v["data_offsets"][1] for v in h.values())
        yield t, meta
def auc(s, t, w):
    pos, neg = t == 1, t == 0
    if not pos.any() or not neg.any():
        return None
    sp, sn, wp, wn = s[pos][:, None], s[neg][None, :], w[pos][:, None], w[neg][None, :]
    won = (sp > sn) + 0.5 * (sp == sn)
    return float((wp * wn * won).sum() / (wp.sum() * wn.sum()))
kind, stream, outputs, report, threshold = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
ys, ws, paths = [], [], []
for t, m in frames(stream):
    ys.append(t["y"])
    ws.append(t["w"] if "w" in t else np.ones(len(t["y"]), np.float32))
    paths += json.loads(m["paths"])
y = np.concatenate(ys).astype(np.float64)
w = np.concatenate(ws).astype(np.float64)
p32 = np.concatenate([t["x"] for t, _ in frames(outputs)])
p = p32.astype(np.float64)
j = json.load(open(report))
bad = []
def near(name, ours, want):
    if want is None or ours is None:
        if ours != want: bad.append("%s: %r, want %r" % (name, ours, want))
    elif abs(ours - want) > 1e-6:
        bad.append("%s: %r, want %r" % (name, ours, want))
if kind == "raw":
    r = j["regression"]
    e = p - y
    mae = (w[:, None] * np.abs(e)).sum(0) / w.sum()
    mse = (w[:, None] * e ** 2).sum(0) / w.sum()
    mean = (w[:, None] * y).sum(0) / w.sum()
    r2 = 1 - (w[:, None] * e ** 2).sum(0) / (w[:, None] * (y - mean) ** 2).sum(0)
    for c, name in enumerate(r["targets"]):
        near(name + " mae", r["per_target"][name]["mae"], mae[c])
        near(name + " rmse", r["per_target"][name]["rmse"], np.sqrt(mse[c]))
        near(name + " r2", r["per_target"][name]["r2"], r2[c])
    near("overall mae", r["overall"]["mae"], mae.mean())
    near("overall rmse", r["overall"]["rmse"], np.sqrt(mse.mean()))
    near("overall r2", r["overall"]["r2"], r2.mean())
    worst = np.argsort(-np.abs(e).max(1), kind="stable")[:10]
    if [x["path"] for x in r["worst"]] != [paths[i] for i in worst]:
        bad.append("worst: %s, want %s" % ([x["path"] for x in r["worst"]], [paths[i] for i in worst]))
    for x, i in zip(r["worst"], worst):
        c = int(np.abs(e[i]).argmax())
        near("worst residual " + paths[i], x["residual"], e[i, c])
        if x["target"] != r["targets"][c]: bad.append("worst target %s" % paths[i])
else:
    r = j["multi_label"]
    hit = p32 > np.float32(threshold)
    def stats(t, h, s, ww):
        tp, fp, fn = (ww * (t & h)).sum(), (ww * (~t & h)).sum(), (ww * (t & ~h)).sum()
        div = lambda a, b: a / b if b > 0 else None
        return {"precision": div(tp, tp + fp), "recall": div(tp, tp + fn), "f1": div(2 * tp, 2 * tp + fp + fn),
                "support": int(t.sum()), "auc": auc(s, t.astype(np.float64), ww)}
    truth = y == 1
    per = [stats(truth[:, c], hit[:, c], p[:, c], w) for c in range(y.shape[1])]
    micro = stats(truth.ravel(), hit.ravel(), p.ravel(), np.repeat(w, y.shape[1]))
    macro = {k: np.mean([s[k] or 0.0 for s in per]) for k in ("precision", "recall", "f1")}
    macro["auc"] = np.mean([s["auc"] for s in per if s["auc"] is not None])
    for c, name in enumerate(r["classes"]):
        for k in ("precision", "recall", "f1", "auc"):
            near(name + " " + k, r["per_class"][name][k], per[c][k])
        if r["per_class"][name]["support"] != per[c]["support"]: bad.append(name + " support")
    for k in ("precision", "recall", "f1", "auc"):
        near("micro " + k, r["micro"][k], micro[k])
        near("macro " + k, r["macro"][k], macro[k])
    if r["threshold"] != threshold: bad.append("threshold")
if r["weighted"] != bool((w != 1).any()): bad.append("weighted")
if bad:
    sys.exit("\n".join(bad))
PY
# ref KIND STREAM MODEL [THRESHOLD]: nneval --json's numbers = NumPy's over nnpredict's outputs.
ref() {
    nnpredict -q -j1 -m "$3" -f stream -o outputs.bs "$2" &&
    py reference.py "$1" "$2" outputs.bs "$T/out" "${4:-0.5}"
}

# Regression: the text report, MAE, RMSE and R2 per target and overall, the worst residuals.
run nneval -j1 -m raw.model raw_test.bs
check_status "regression: exits 0" 0
check "regression: Keras' line first" "head -n 1 '$T/out' | grep -Eqx 'loss: [0-9]+\.[0-9]{4} - mae: [0-9]+\.[0-9]{4}'"
check_out "regression: the statistics' header" "regression:"
check "regression: a line per target, and overall" "[ \$(grep -Ec '^(brightness|ink|overall) +-?[0-9]+\.[0-9]{4} +[0-9]+\.[0-9]{4} +-?[0-9]+\.[0-9]{4}$' '$T/out') -eq 3 ]"
check_out "regression: worst residuals" "worst residuals (predicted - true):"
check "regression: ten worst, each with its file" "[ \$(grep -Ec '  (brightness|ink) +test/[0-9]{5}\.png$' '$T/out') -eq 10 ]"
cp "$T/out" raw.txt
run nneval -j1 -q -m raw.model --json raw_test.bs
check_status "regression --json: exits 0" 0
check "regression --json: Keras' keys, then the statistics" "pyjson 'assert list(j) == [\"loss\", \"mae\", \"samples\", \"batches\", \"seconds\", \"regression\"], list(j); assert j[\"regression\"][\"targets\"] == [\"brightness\", \"ink\"]'"
check "regression --json = NumPy at 1e-6 (MAE, RMSE, R2, worst residuals)" "ref raw raw_test.bs raw.model"
check "regression: text and JSON agree" "[ \"\$(pyjson 'r = j[\"regression\"][\"per_target\"][\"ink\"]; print(\"ink %.4f %.4f %.4f\" % (r[\"mae\"], r[\"rmse\"], r[\"r2\"]))')\" = \"\$(grep '^ink ' raw.txt | tr -s ' ')\" ]"
check "regression: the overall MAE is the compiled mae (unweighted stream)" "pyjson 'assert abs(j[\"regression\"][\"overall\"][\"mae\"] - j[\"mae\"]) < 1e-6'"
cp "$T/out" raw.json
# Weighted: each sample's statistics count w times.
run nneval -j1 -q -m raw.model --json raw_test_w.bs
check_status "weighted regression: exits 0" 0
check "weighted regression = NumPy's weighted statistics at 1e-6" "ref raw raw_test_w.bs raw.model"
check "weighted regression: says so, and differs from the unweighted" "pyjson 'a = json.load(open(\"raw.json\")); assert j[\"regression\"][\"weighted\"] and not a[\"regression\"][\"weighted\"]; assert abs(j[\"regression\"][\"overall\"][\"mae\"] - a[\"regression\"][\"overall\"][\"mae\"]) > 1e-5'"
run nneval -j1 -m raw.model raw_test_w.bs
check_out "weighted regression: the text says so" "regression, samples weighted by w:"

# Multi-label: per-class precision, recall, F1, support, AUC; micro and macro.
run nneval -j1 -m multi.model multi_test.bs
check_status "multi-label: exits 0" 0
check "multi-label: Keras' line first" "head -n 1 '$T/out' | grep -Eqx 'loss: [0-9]+\.[0-9]{4} - accuracy: [0-9]+\.[0-9]{4}'"
check_out "multi-label: the header" "multi-label, a class predicted above 0.5:"
check "multi-label: a line per class, by index and name" "grep -Eq '^1 footwear +[0-9]\.[0-9]{4} +[0-9]\.[0-9]{4} +[0-9]\.[0-9]{4} +[0-9]+ +[0-9]\.[0-9]{4}$' '$T/out'"
check "multi-label: micro and macro averages" "grep -q '^micro average ' '$T/out' && grep -q '^macro average ' '$T/out'"
check "multi-label: no confusion matrix" "! grep -q 'confusion matrix' '$T/out'"
check "every class shown: no word" "! grep -q 'no image shows' '$T/err'"
cp "$T/out" multi.txt
run nneval -j1 -q -m multi.model --json multi_test.bs
check "multi-label --json = NumPy at 1e-6 (precision, recall, F1, support, AUC; micro, macro)" "ref multi multi_test.bs multi.model"
check "multi-label: support counts the images showing each class" "pyjson 'assert [j[\"multi_label\"][\"per_class\"][c][\"support\"] for c in j[\"multi_label\"][\"classes\"]] == [122, 83, 129]'"
check "multi-label: text and JSON agree" "[ \"\$(pyjson 's = j[\"multi_label\"][\"macro\"]; print(\"macro average %.4f %.4f %.4f %d %.4f\" % (s[\"precision\"], s[\"recall\"], s[\"f1\"], s[\"support\"], s[\"auc\"]))')\" = \"\$(grep '^macro average' multi.txt | tr -s ' ')\" ]"
cp "$T/out" multi.json
run nneval -j1 -q -m multi.model --json --threshold 0.3 multi_test.bs
check_status "--threshold 0.3: exits 0" 0
check "--threshold 0.3 = NumPy at 0.3" "ref multi multi_test.bs multi.model 0.3"
check "--threshold moves recall up, AUC stays" "pyjson 'a = json.load(open(\"multi.json\"))[\"multi_label\"][\"micro\"]; b = j[\"multi_label\"][\"micro\"]; assert b[\"recall\"] > a[\"recall\"] and b[\"auc\"] == a[\"auc\"]'"
run nneval -j1 -q -m multi.model --json --threshold 0.3 multi_test_w.bs
check "weighted multi-label at 0.3 = NumPy's weighted counts and AUC" "ref multi multi_test_w.bs multi.model 0.3"
check "weighted multi-label: says so" "pyjson 'assert j[\"multi_label\"][\"weighted\"] is True'"
# Classes in another order (a test table that sorts differently): matched by name.
run nneval -j1 -q -m multi.model --json reordered_test.bs
check_status "classes in another order: exits 0" 0
check "classes in another order: the same statistics" "pyjson 'a = json.load(open(\"multi.json\")); del a[\"seconds\"], j[\"seconds\"]; assert a == j'"
run nneval -j1 -m multi.model nofootwear_test.bs
check_status "a class no image shows: scored" 0
check_err "a class no image shows: said once" 'nneval: nofootwear_test.bs: no image shows class "footwear" (of the model'"'"'s 3): its recall and AUC are "-" (null with --json), 0 in the macro average'
check "a class no image shows: its line has no recall and no AUC" "grep -Eq '^1 footwear +0\.0000 +- +0\.0000 +0 +-\$' '$T/out'"
run nneval -q -m multi.model half_test.bs
check_status "y neither 0 nor 1: 65" 65
check_err "y neither 0 nor 1: names the sample" "half_test.bs: frame 1: sample 3: y[1] is 0.5, not 0 or 1 (a multi-hot row)"

# Two ranks sharing the file report what one process reports.
free_port() { py -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
for m in raw multi; do
    port=$(free_port)
    nneval -m $m.model ${m}_test_w.bs --json -q -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port > out1 2> "$T/err1" &
    pid1=$!
    run nneval -m $m.model ${m}_test_w.bs --json -q -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o two.json
    wait $pid1; status1=$?
    nneval -m $m.model ${m}_test_w.bs --json -q -j 1 -o one.json
    check "$m on 2 ranks: both exit 0" "[ $status -eq 0 ] && [ $status1 -eq 0 ]"
    check "$m on 2 ranks: the statistics of one process" "py -c '
import json
a, b = json.load(open(\"one.json\")), json.load(open(\"two.json\"))
r = \"regression\" if \"regression\" in a else \"multi_label\"
def flat(x, at=\"\"):
    if isinstance(x, dict): return [v for k in x for v in flat(x[k], at + \"/\" + k)]
    if isinstance(x, list): return [v for i, e in enumerate(x) for v in flat(e, at + \"/\" + str(i))]
    return [(at, x)]
for (k, u), (l, v) in zip(flat(a[r]), flat(b[r])):
    assert k == l and (u == v or abs(u - v) < 1e-9), (k, u, v)
assert a[\"samples\"] == b[\"samples\"] == 300'"
done

# A stream whose targets are another kind than the model's: refused by name.
run nneval -q -m multi.model raw_test.bs
check_status "numbers for a multi-label model: 65" 65
check_err "numbers for a multi-label model: says which" "nneval: raw_test.bs: frame 1: the stream's targets are numbers (class_mode raw, regression) but the model is a multi-label classifier (3 sigmoid units, binary_crossentropy)"
run nneval -q -m raw.model multi_test.bs
check_status "several classes for a regression model: 65" 65
check_err "several classes for a regression model: says which" "the stream's targets are several classes per image (class_mode multi_label) but the model is a regression model (2 numbers, loss mse)"
run nneval -q -m multi.model sparse_test.bs
check_status "one class per image for a multi-label model: 65" 65
check_err "one class per image for a multi-label model: says which" "the stream's targets are one class per image (class_mode sparse) but the model is a multi-label classifier"
run nneval -q -m softmax.model multi_test.bs
check_status "several classes for a softmax model: 65" 65
check_err "several classes for a softmax model: says which" "but the model is a classifier of one class per image (10 units, sparse_categorical_crossentropy)"
run nneval -q -m softmax.model raw_test.bs
check_status "numbers for a classifier: 65" 65
check "a refused stream: no report" "[ ! -s '$T/out' ]"

# Options that do not fit the model.
run nneval -q -m raw.model --threshold 0.3 raw_test.bs
check_status "--threshold for a regression model: 64" 64
check_err "--threshold for a regression model: says why" "nneval: --threshold is for a multi-label model; raw.model is a regression model (2 numbers, loss mse)"
run nneval -q -m multi.model --threshold 1.5 multi_test.bs
check_status "--threshold out of range: 64" 64
run nneval -q -m softmax.model --plot c.png sparse_test.bs
check_status "--plot for a classifier of one class: 64" 64
check_err "--plot for a classifier: says what it draws" "--plot draws regression and multi-label reports; softmax.model is a classifier of one class per image"
check "--plot refused: no file" "[ ! -e c.png ]"
run nneval -q -m raw.model --plot - raw_test.bs
check_status "--plot to stdout: 64" 64
check_err "--plot to stdout: says why" "--plot needs a file: standard output holds the report"

# --plot: predicted against true per target; precision, recall and F1 per class.
run nneval -j1 -q -m raw.model --plot raw.png raw_test.bs
check_status "--plot regression: exits 0" 0
check "--plot regression: the report still printed" "cmp -s '$T/out' raw.txt"
check "--plot regression: a PNG, one 420x420 panel per target" "py -c 'from PIL import Image; i = Image.open(\"raw.png\"); assert i.format == \"PNG\" and i.size == (840, 420), i.size'"
# The y = x line: the dashed red diagonal runs from the panel's lower left to its upper right.
check "--plot regression: the y = x diagonal is drawn" "py -c '
from PIL import Image
i = Image.open(\"raw.png\").convert(\"RGB\")
red = lambda p: p[0] > 180 and p[1] < 90 and p[2] < 90
left, top, w, h = 64, 30, 420 - 64 - 16, 420 - 30 - 44
hits = sum(any(red(i.getpixel((left + int(w * f) + dx, top + int(h * (1 - f)) + dy))) for dx in (-2, -1, 0, 1, 2) for dy in (-2, -1, 0, 1, 2)) for f in [k / 20 for k in range(1, 20)])
assert hits >= 10, hits'"
run nneval -j1 -q -m multi.model --plot multi.png multi_test.bs
check_status "--plot multi-label: exits 0" 0
check "--plot multi-label: a PNG with three colours of bars" "py -c '
from PIL import Image
png = Image.open(\"multi.png\")
assert png.format == \"PNG\"
colours = {(31, 119, 180), (255, 127, 14), (44, 160, 44)}
seen = {p for p in png.convert(\"RGB\").getdata() if p in colours}
assert seen == colours, seen'"

# nnpredict: a regression model's numbers, a multi-label model's classes and probabilities.
run nnpredict -j1 -q -m raw.model raw_test.bs
check_status "nnpredict regression: exits 0" 0
check "nnpredict regression: path, then one number per target" "[ \$(awk -F'\t' 'NF == 3 && \$1 ~ /^test\/[0-9]+\.png\$/' '$T/out' | wc -l) -eq 300 ]"
check "nnpredict regression: the numbers nneval scored" "py -c '
import json
j = json.load(open(\"raw.json\"))[\"regression\"][\"worst\"][0]
line = [l.split(\"\t\") for l in open(\"$T/out\") if l.startswith(j[\"path\"] + \"\t\")][0]
assert abs(float(line[1 + [\"brightness\", \"ink\"].index(j[\"target\"])]) - j[\"predicted\"]) < 1e-5, (line, j)'"
run nnpredict -j1 -q -m multi.model multi_test.bs
check_status "nnpredict multi-label: exits 0" 0
check "nnpredict multi-label: path, classes, three probabilities" "[ \$(awk -F'\t' 'NF == 5' '$T/out' | wc -l) -eq 300 ]"
check "nnpredict multi-label: the classes are those above 0.5" "awk -F'\t' '{ want = \"\"; split(\"bright footwear upper_body\", n, \" \"); for (c = 1; c <= 3; c++) if (\$(c + 2) > 0.5) want = want (want == \"\" ? \"\" : \"|\") n[c]; if (want != \$2) exit 1 }' '$T/out'"
check "nnpredict multi-label: some images show two classes, some none" "grep -q '	bright|upper_body	' '$T/out' && awk -F'\t' '\$2 == \"\" {found = 1} END {exit !found}' '$T/out'"
cp "$T/out" multi.tsv
run nnpredict -j1 -q -m multi.model --threshold 0.3 multi_test.bs
check "nnpredict --threshold 0.3: more classes named" "[ \$(tr '\t|' '\n\n' < '$T/out' | grep -Ec '^(bright|footwear|upper_body)$') -gt \$(tr '\t|' '\n\n' < multi.tsv | grep -Ec '^(bright|footwear|upper_body)$') ]"
run nnpredict -j1 -q -m multi.model -f json multi_test.bs
check "nnpredict -f json: classes and every probability by name" "py -c '
import json
for l in open(\"$T/out\"):
    j = json.loads(l)
    assert j[\"classes\"] == [c for c in [\"bright\", \"footwear\", \"upper_body\"] if j[\"probabilities\"][c] > 0.5], j
    assert [j[\"probabilities\"][c] for c in [\"bright\", \"footwear\", \"upper_body\"]] == j[\"output\"]'"
run nnpredict -q -m multi.model -k 2 multi_test.bs
check_status "nnpredict -k for a multi-label model: 64" 64
check_err "nnpredict -k for a multi-label model: says why" "its lines hold the classes above --threshold and every class's probability"
run nnpredict -q -m raw.model --threshold 0.3 raw_test.bs
check_status "nnpredict --threshold for a regression model: 64" 64
run nnpredict -q -m multi.model --threshold 0.3 -f stream -o probs.bs multi_test.bs
check_status "nnpredict --threshold with -f stream: 64" 64
check_err "nnpredict --threshold with -f stream: says why" "--threshold: --format stream writes every probability, not classes"
check "nnpredict --threshold with -f stream: no file" "[ ! -e probs.bs ]"
run nnpredict -q -m multi.model -f stream -o probs.bs multi_test.bs
check "nnpredict -f stream: every probability, the classes carried" "py -c '
import json, struct
d = open(\"probs.bs\", \"rb\").read(); n, = struct.unpack(\"<Q\", d[:8]); h = json.loads(d[8:8 + n])
assert h[\"x\"][\"dtype\"] == \"F32\" and h[\"x\"][\"shape\"] == [50, 3] and \"y\" not in h, h
assert json.loads(h[\"__metadata__\"][\"classes\"]) == [\"bright\", \"footwear\", \"upper_body\"]'"
