# nnpredict: predictions in stream order joined to their files, as TSV, JSON
# lines or a batch stream, on small models trained on real Fashion-MNIST
# images (tests/shell/nn-fixture).
. "$ROOT/tests/shell/lib.sh"
. "$ROOT/tests/shell/nn-fixture"
# Runs a Python check over the last stdout, as lines.
pylines() { /usr/bin/python3 -c "import json,sys; L=open('$T/out').read().split('\n')[:-1]; $1"; }
CLASSES='["0_tshirt_top","1_trouser","2_pullover","3_dress","4_coat","5_sandal","6_shirt","7_sneaker","8_bag","9_ankle_boot"]'
imglist -q fm/test | cut -f1 > paths.txt

# TSV: one line per sample, in stream order, PATH CLASS PROBABILITY.
run nnpredict -j1 -m cnn.model test.bs
check_status "tsv" 0
check "one line per sample" "[ \$(wc -l < '$T/out') -eq 600 ]"
check "paths in stream order" "cut -f1 '$T/out' | cmp -s - paths.txt"
check "paths join back to files" "cut -f1 '$T/out' | while read -r p; do [ -f \"\$p\" ] || exit 1; done"
check "three fields, known class, probability in (0,1]" "pylines 'C=$CLASSES
for l in L:
    f = l.split(\"\t\"); assert len(f) == 3 and f[1] in C and 0 < float(f[2]) <= 1, l'"
check_err "summary line" "600 samples in 10 batches"
cp "$T/out" top1.tsv

# The model file's load (Model::load): its weights read straight into the model
# from a regular file, whole from anything else; the same predictions either way.
# IMGPIPE_LOAD_TIME prints the load's own seconds (bench/model_load.sh).
run env IMGPIPE_LOAD_TIME=1 nnpredict -j1 -m cnn.model test.bs
check "IMGPIPE_LOAD_TIME: the same predictions" "cmp -s '$T/out' top1.tsv"
check "IMGPIPE_LOAD_TIME: the load's seconds" "grep -Eq '^nnpredict: cnn.model: load [0-9]+\.[0-9]{4} s$' '$T/err'"
run nnpredict -j1 -m /dev/stdin test.bs < cnn.model
check "a model from a pipe: the same predictions" "cmp -s '$T/out' top1.tsv"
cat cnn.model cnn.model > twice.model
run nnpredict -j1 -m twice.model test.bs
check_status "a model file with bytes after its frame" 65
check_err "says how many" "nnpredict: twice.model: $(wc -c < cnn.model) trailing bytes after the frame"
head -c $(( $(wc -c < cnn.model) - 10 )) cnn.model > cut.model
run nnpredict -j1 -m cut.model test.bs
check_status "a model file cut in its weights" 65
check_err "says truncated, in a stream's words" "nnpredict: cut.model: truncated frame (data: "

# --top-k: K pairs, most probable first, all ten summing to 1.
run nnpredict -j1 -m cnn.model -k 10 test.bs
check_status "top-10" 0
check "top-10 probabilities sum to 1, sorted" "pylines '
for l in L:
    f = l.split(\"\t\"); p = [float(v) for v in f[2::2]]
    assert len(f) == 21 and abs(sum(p) - 1) < 1e-4 and p == sorted(p, reverse=True) and len(set(f[1::2])) == 10, l'"
check "top-1 of top-10 = default line" "cut -f1-3 '$T/out' | cmp -s - top1.tsv"
run nnpredict -m cnn.model -k 11 test.bs
check_status "top-k beyond the classes" 64
check_err "top-k beyond the classes says so" "the model has 10 classes"

# Labels are ignored: an input-only stream gives the same predictions.
imglist -q --no-labels fm/test | prep | batchpack -q -b 64 > nolabels.bs
run nnpredict -j1 -m cnn.model nolabels.bs
check_status "input-only stream" 0
check "input-only = labelled" "cmp -s '$T/out' top1.tsv"
# Other batching, same predictions (stdin, one sample per frame).
imglist -q --no-labels fm/test | prep > single.bs
run nnpredict -j1 -m cnn.model < single.bs
check "batching does not change predictions" "/usr/bin/python3 -c '
a = [l.split(\"\t\") for l in open(\"top1.tsv\")]; b = [l.split(\"\t\") for l in open(\"$T/out\")]
assert len(a) == len(b) and all(x[:2] == y[:2] and abs(float(x[2]) - float(y[2])) < 1e-4 for x, y in zip(a, b))'"

# JSON lines: path, class, probability, top, output.
run nnpredict -j1 -m cnn.model --format json -k 3 test.bs
check_status "json" 0
check "json lines" "pylines 'C=$CLASSES; P=open(\"paths.txt\").read().split()
assert len(L) == 600
for l, path in zip(L, P):
    j = json.loads(l); o = j[\"output\"]
    assert list(j) == [\"path\", \"class\", \"probability\", \"top\", \"output\"] and j[\"path\"] == path
    assert len(o) == 10 and abs(sum(o) - 1) < 1e-4 and j[\"class\"] == C[o.index(max(o))] and j[\"probability\"] == max(o)
    assert [t[\"class\"] for t in j[\"top\"]] == [C[i] for i in sorted(range(10), key=lambda i: -o[i])[:3]]'"
cp "$T/out" pred.jsonl

# --format stream: x = the outputs (F32), paths and classes carried, no y.
run nnpredict -j1 -m cnn.model --format stream -o out.bs test.bs
check_status "stream" 0
check "stream read by Python" "/usr/bin/python3 -c '
import json, struct, numpy as np
f = open(\"out.bs\", \"rb\"); rows, paths = [], []
while True:
    h = f.read(8)
    if not h: break
    hd = json.loads(f.read(struct.unpack(\"<Q\", h)[0])); x = hd[\"x\"]; m = hd[\"__metadata__\"]
    assert set(hd) == {\"x\", \"__metadata__\"} and x[\"dtype\"] == \"F32\" and x[\"shape\"][1:] == [10]
    assert m[\"format\"] == \"batchstream/1\" and json.loads(m[\"classes\"]) == $CLASSES and \"class_mode\" not in m
    rows.append(np.frombuffer(f.read(x[\"data_offsets\"][1] - x[\"data_offsets\"][0]), \"<f4\").reshape(x[\"shape\"]))
    paths += json.loads(m[\"paths\"])
J = [json.loads(l) for l in open(\"pred.jsonl\")]
out = np.concatenate(rows)
assert paths == [j[\"path\"] for j in J] and np.allclose(out, [j[\"output\"] for j in J], atol=1e-6)'"
check "stream is a valid stream for batchpack" "batchpack --info out.bs 2>/dev/null | grep -q 'x F32 \[\*,10\]'"

# Binary: class 1 when p >= 0.5, and the probability of the predicted class.
run nnpredict -j1 -m bin.model --format json bin_test.bs
check_status "binary json" 0
check "binary: class and probability from p" "pylines '
for l in L:
    j = json.loads(l); p = j[\"output\"][0]
    assert j[\"class\"] == (\"1_trouser\" if p >= 0.5 else \"0_tshirt_top\")
    assert abs(j[\"probability\"] - (p if p >= 0.5 else 1 - p)) < 1e-6 and j[\"probability\"] >= 0.5'"
cp "$T/out" bin.jsonl
run nnpredict -j1 -m bin.model -k 2 bin_test.bs
check "binary -k 2: both classes, summing to 1" "pylines '
J = [json.loads(l) for l in open(\"bin.jsonl\")]
for l, j in zip(L, J):
    f = l.split(\"\t\"); assert f[0] == j[\"path\"] and f[1] == j[\"class\"] and {f[1], f[3]} == {\"0_tshirt_top\", \"1_trouser\"}
    assert abs(float(f[2]) + float(f[4]) - 1) < 1e-5 and float(f[2]) >= float(f[4])'"
run nnpredict -m bin.model -k 3 bin_test.bs
check_status "binary -k 3" 64

# Image outputs: only as a stream.
run nnpredict -m ae.model ae.bs
check_status "autoencoder as text" 64
check_err "autoencoder as text says how" "use --format stream"
run nnpredict -j1 -m ae.model --format stream -o ae_out.bs ae.bs
check_status "autoencoder as stream" 0
check "autoencoder outputs are images" "batchpack --info ae_out.bs 2>/dev/null | grep -q 'x F32 \[\*,28,28,1\]'"

# Errors: status 65 naming the frame, both shapes; nothing left under -o.
imglist -q fm/test | imgprep -q --size 32x32 --color grayscale | batchpack -q -b 64 > big.bs
run nnpredict -m cnn.model big.bs
check_status "shape mismatch" 65
check_err "shape mismatch: the stream's shape" "[64,32,32,1]"
check_err "shape mismatch: the model's shape" "28,28,1]"
check_err "shape mismatch names the frame" "big.bs: frame 1"
head -c $(( $(wc -c < test.bs) * 45 / 100 )) test.bs > cut.bs
run nnpredict -m cnn.model -o cut.tsv cut.bs
check_status "truncated stream" 65
check_err "truncated stream names the frame" "cut.bs: frame 5: truncated"
check "truncated: no output file" "[ -z \"\$(ls | grep '^cut.tsv')\" ]"
run nnpredict -m cnn.model < /dev/null
check_status "empty stream" 65
check_err "empty stream says why" "nnpredict: stdin: no frames: the stream is empty (did its producer stop before its first frame? its own message says why)"
: > none.bs
run nnpredict -m cnn.model none.bs
check_status "an empty stream file" 65
check_err "says why, naming it" "nnpredict: none.bs: no frames: the stream is empty"
printf 'not a stream at all' > junk.bs
run nnpredict -m cnn.model junk.bs
check_status "not a stream" 65
run nnpredict -m test.bs test.bs
check_status "a stream as the model" 65
run nnpredict -m nowhere.model test.bs
check_status "missing model" 66
run nnpredict -m cnn.model --format csv test.bs
check_status "unknown format" 64
run nnpredict -m cnn.model --steps 2 test.bs
check "--steps 2: two batches" "[ \$(wc -l < '$T/out') -eq 128 ]"

# A reader that stops early ends nnpredict quietly with 141.
sh -c 'nnpredict -m cnn.model --format json -k 10 test.bs 2> pipe.err; echo $? > pipe.status' | head -n 1 > /dev/null
check "| head: status 141" "[ \"\$(cat pipe.status)\" = 141 ]"
check "| head: no message" "[ ! -s pipe.err ] || ! grep -q nnpredict: pipe.err"

# -k has a meaning only for a classifier's tsv and json lines: refused elsewhere, not ignored.
run nnpredict -m cnn.model --format stream -k 2 -o never.bs test.bs
check_status "-k with --format stream: usage" 64
check_err "-k with --format stream says why" "nnpredict: --top-k: --format stream writes every output value, not classes; -k is for tsv and json"
check "-k with --format stream writes nothing" "[ ! -e never.bs ]"
run nnpredict -m ae.model -k 2 ae.bs
check_status "-k on an autoencoder: usage" 64
check_err "-k on an autoencoder says why" "--top-k: ae.model is not a classifier (its output is [28,28,1] values per sample, not class probabilities); -k is for classifiers"
run nnpredict -m ae.model -k 1 --format json ae.bs
check_status "-k 1 named on an autoencoder: refused too" 64
run nnpredict -j1 -m ae.model --format stream -o ae-out.bs ae.bs
check_status "an autoencoder without -k: predicted" 0
