# nneval: loss, metrics, confusion matrix and exit statuses, on small models
# trained on real Fashion-MNIST images (tests/shell/nn-fixture).
. "$ROOT/tests/shell/lib.sh"
. "$ROOT/tests/shell/nn-fixture"
pyjson() { /usr/bin/python3 -c "import json,sys; j=json.load(open('$T/out')); $1"; }

# The Keras line, then the matrix and per-class accuracy under the class names.
run nneval -j1 -m cnn.model test.bs
check_status "text report" 0
check "keras line" "head -n 1 '$T/out' | grep -Eq '^loss: [0-9]+\.[0-9]{4} - accuracy: 0\.[0-9]{4}$'"
check_out "confusion matrix title" "confusion matrix (rows: true class, columns: predicted class):"
check "matrix rows are named" "grep -Eq '^9 9_ankle_boot( +[0-9]+){10}$' '$T/out'"
check "matrix counts every sample" "[ \$(grep -E '^[0-9] [0-9]_[a-z_]+( +[0-9]+){10}$' '$T/out' | awk '{for(i=3;i<=NF;i++)s+=\$i} END{print s}') -eq 600 ]"
check "per-class accuracy for each class" "[ \$(grep -Ec '^[0-9] [0-9]_[a-z_]+ +(0|1)\.[0-9]{4}  \([0-9]+/[0-9]+\)$' '$T/out') -eq 10 ]"
check_err "summary line on stderr" "nneval: 600 samples in 10 batches"
cp "$T/out" text.txt

# JSON: Keras' return_dict keys, consistent with the matrix.
run nneval -j1 -m cnn.model --json test.bs
check_status "json report" 0
check "json keys in order" "pyjson 'assert list(j)[:5] == [\"loss\", \"accuracy\", \"samples\", \"batches\", \"seconds\"], list(j)'"
check "json counts" "pyjson 'assert j[\"samples\"] == 600 and j[\"batches\"] == 10 and sum(map(sum, j[\"confusion_matrix\"])) == 600'"
check "json accuracy = matrix trace" "pyjson 'm=j[\"confusion_matrix\"]; assert abs(sum(m[i][i] for i in range(10))/600 - j[\"accuracy\"]) < 1e-6'"
check "json per-class by name" "pyjson 'm=j[\"confusion_matrix\"]; p=j[\"per_class_accuracy\"]; assert list(p) == j[\"classes\"] and j[\"classes\"][6] == \"6_shirt\"; assert all(abs(p[c] - m[i][i]/sum(m[i])) < 1e-9 for i, c in enumerate(j[\"classes\"]))'"
check "json and text agree" "[ \"\$(pyjson 'print(\"loss: %.4f - accuracy: %.4f\" % (j[\"loss\"], j[\"accuracy\"]))')\" = \"\$(head -n 1 text.txt)\" ]"
acc=$(pyjson 'print(repr(j["accuracy"]))')

# The accuracy again, independently: nnpredict's classes against the class folder in each path.
run nnpredict -j1 -m cnn.model test.bs
check "nneval accuracy = nnpredict joined to folders" "[ \"\$(awk -F'\t' 'index(\$1, \"/\" \$2 \"/\") {c++} END {printf \"%.6f\", c/NR}' '$T/out')\" = \"\$(/usr/bin/python3 -c 'print(\"%.6f\" % $acc)')\" ]"

# --min-accuracy: 1 below the bar (report still printed), 0 at or above it.
run nneval -j1 -q -m cnn.model --min-accuracy "$acc" test.bs
check_status "min-accuracy equal passes" 0
run nneval -j1 -q -m cnn.model --min-accuracy "$(/usr/bin/python3 -c "print($acc + 0.002)")" test.bs
check_status "min-accuracy above fails with 1" 1
check_err "min-accuracy message" "is below --min-accuracy"
check_out "report printed anyway" "confusion matrix"
run nneval -q -m cnn.model --min-accuracy 1.5 test.bs
check_status "min-accuracy out of range" 64
run nneval -q -m ae.model --min-accuracy 0.5 ae.bs
check_status "min-accuracy without accuracy" 64
check_err "min-accuracy without accuracy says so" "no accuracy metric"

# --steps: the first N batches; more than the stream holds is an error.
run nneval -j1 -m cnn.model --steps 3 --json test.bs
check "steps 3 = 192 samples" "pyjson 'assert j[\"samples\"] == 192 and j[\"batches\"] == 3'"
run nneval -m cnn.model --steps 11 test.bs
check_status "steps past the end" 65
check_err "steps past the end says so" "ended after 10 batches; --steps asked for 11"
check "no report after an error" "[ ! -s '$T/out' ]"
# A stream of two epochs: one epoch is evaluated, as Keras' evaluate does.
imglist -q fm/test | prep --epochs 2 | batchpack -q -b 64 > two_epochs.bs
run nneval -j1 -m cnn.model --json two_epochs.bs
check "stops at the epoch boundary" "pyjson 'assert j[\"samples\"] == 600, j[\"samples\"]'"
run nneval -j1 -m cnn.model --json --steps 12 two_epochs.bs
check "steps cross the epoch boundary" "pyjson 'assert j[\"samples\"] == 600 + 2 * 64, j[\"samples\"]'"

# Binary: one sigmoid unit, a 2x2 matrix.
run nneval -j1 -m bin.model --json bin_test.bs
check_status "binary" 0
check "binary matrix" "pyjson 'assert j[\"classes\"] == [\"0_tshirt_top\", \"1_trouser\"] and len(j[\"confusion_matrix\"]) == 2 and sum(map(sum, j[\"confusion_matrix\"])) == j[\"samples\"]'"
check "binary accuracy = matrix trace" "pyjson 'm=j[\"confusion_matrix\"]; assert abs((m[0][0]+m[1][1])/j[\"samples\"] - j[\"accuracy\"]) < 1e-6'"

# Image outputs (an autoencoder): loss only, no matrix.
run nneval -m ae.model ae.bs
check_status "autoencoder" 0
check "autoencoder: loss only" "grep -Eqx 'loss: [0-9]+\.[0-9]{4}' '$T/out' && [ \$(wc -l < '$T/out') -eq 1 ]"

# Inputs that do not fit the model: both shapes (or dtypes) in the message, status 65.
imglist -q fm/test | imgprep -q --size 32x32 --color grayscale | batchpack -q -b 64 > big.bs
run nneval -m cnn.model big.bs
check_status "shape mismatch" 65
check_err "shape mismatch: the stream's shape" "[64,32,32,1]"
check_err "shape mismatch: the model's shape" "28,28,1]"
check_err "shape mismatch names the frame" "big.bs: frame 1"
imglist -q fm/test | prep --dtype f32 | batchpack -q -b 64 > float.bs
run nneval -m cnn.model float.bs
check_status "dtype mismatch" 65
check_err "dtype mismatch names both" "F32"
check_err "dtype mismatch names both (model)" "U8"
# A test folder missing classes numbers them differently: scored against the
# model's classes by name, as Keras matches folders.
mkdir -p partial && cp -r fm/test/1_trouser fm/test/2_pullover partial/
imglist -q partial | prep | batchpack -q -b 64 > partial.bs
run nneval -j1 --json -m cnn.model partial.bs
check_status "fewer classes are scored against the model's" 0
check "by name: trousers are the model's class 1" 'py -c "import json; j = json.load(open(\"$T/out\")); m = j[\"confusion_matrix\"]; assert j[\"classes\"][1] == \"1_trouser\" and sum(m[1]) + sum(m[2]) == j[\"samples\"] and sum(map(sum, m)) == j[\"samples\"], m"'
# A class the model does not know: the labels mean something else.
cp -r fm/test renamed && mv renamed/6_shirt renamed/6_top
imglist -q renamed | prep | batchpack -q -b 64 > renamed.bs
run nneval -m cnn.model renamed.bs
check_status "other class names" 65
check_err "other class names: says why" "is not one of the model's"
check_err "other class names: shows them" "6_top"

# An input-only stream cannot be scored.
imglist -q --no-labels fm/test | prep | batchpack -q -b 64 > nolabels.bs
run nneval -m cnn.model nolabels.bs
check_status "no labels" 65
check_err "no labels: says so" "no \"y\" tensor"

# A truncated stream names the frame and reports nothing.
head -c $(( $(wc -c < test.bs) * 25 / 100 )) test.bs > cut.bs
run nneval -m cnn.model -o report.txt cut.bs
check_status "truncated stream" 65
check_err "truncated names the frame" "cut.bs: frame 3: truncated"
check "truncated: no report file" "[ ! -e report.txt ] && [ -z \"\$(ls | grep report.txt)\" ]"
run nneval -m cnn.model < /dev/null
check_status "empty stream" 65
check_err "empty stream says why" "nneval: stdin: no frames: the stream is empty (did its producer stop before its first frame? its own message says why)"
: > none.bs
run nneval -m cnn.model none.bs
check_status "an empty stream file" 65
check_err "says why, naming it" "nneval: none.bs: no frames: the stream is empty"

# Bad model files.
run nneval -m cnn.json test.bs
check_status "spec instead of model" 65
head -c 2000 cnn.model > cut.model
run nneval -m cut.model test.bs
check_status "truncated model" 65
/usr/bin/python3 - cnn.model future.model <<'PY'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n, = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
header["__metadata__"]["format"] = "imgpipe-model/2"
text = json.dumps(header).encode()
text += b" " * ((8 - len(text) % 8) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + data[8 + n:])
PY
run nneval -m future.model test.bs
check_status "model from a newer version" 65
check_err "model from a newer version says so" "is newer than this imgpipe reads"
run nneval -m missing.model test.bs
check_status "missing model" 66
check_err "missing model named" "missing.model"
run nneval test.bs
check_status "no --model" 64
run nneval -m cnn.model --device tpu test.bs
check_status "bad device" 64

# -o FILE: the same report, written atomically; stdin works.
run nneval -j1 -m cnn.model -o report.txt < test.bs
check_status "-o and stdin" 0
check "-o holds the report" "cmp -s report.txt text.txt"

# A test set that lacks one of the model's classes is scored (as Keras' evaluate
# scores it), its row 0/0, and said once on stderr; the JSON stays valid (null, no NaN).
mkdir -p part && cp -r fm/test part/ && rm -r part/test/6_shirt
imglist -q part/test | prep | batchpack -q -b 64 > part.bs
run nneval -j1 -m cnn.model part.bs
check_status "a class absent: scored" 0
check_err "a class absent: named once" 'nneval: part.bs: no sample of class "6_shirt" (of the model'"'"'s 10): its row is 0/0, per-class accuracy "-" (null with --json)'
check "said once" "[ \$(grep -c 'no sample of' '$T/err') -eq 1 ]"
check "its row reads 0/0" "grep -Eq '^6 6_shirt +-  \(0/0\)$' '$T/out'"
run nneval -j1 -m cnn.model --json part.bs
check "the JSON reads with jq, the absent class null" "[ \"\$(jq -c '[.per_class_accuracy[\"6_shirt\"], (.confusion_matrix[6] | add), .samples]' '$T/out')\" = '[null,0,541]' ]"
check "no NaN in the JSON" "! grep -qi nan '$T/out'"
run nneval -j1 -m cnn.model test.bs
check "every class present: no word" "! grep -q 'no sample of' '$T/err'"
