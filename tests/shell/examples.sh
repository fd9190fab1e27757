# The workflows in examples/: the lecture's classifiers as Makefiles, the faces
# inpainting, the cron retrainer. Small and few epochs: they check that the
# plumbing works and rebuilds incrementally, not how well the networks learn.
. "$ROOT/tests/shell/lib.sh"
# Under `make test -j2` the jobserver and the top make's variables would leak into the examples' makes.
unset MAKEFLAGS MFLAGS MAKELEVEL
E="$ROOT/examples"
"$E/fashion-mnist/export" fm --limit 400 2> /dev/null && touch fm/.exported

run make -C "$E/lecture" FMNIST="$T/fm" OUT="$T/lecture" PER_CLASS=40 EPOCHS=1 BIN="${BIN_DIR:-$ROOT/bin}"
check_status "the lecture's binary workflow runs" 0
check "it evaluates on the test folder" 'grep -q "^loss: [0-9.]* - accuracy: [0-9.]*$" lecture/evaluation.txt'
check "and predicts every test image, in order, by path" '[ "$(cut -f1 lecture/predictions.tsv)" = "$(cut -f1 lecture/test.list)" ]'
check "binary predictions name one of the two classes" '[ -z "$(cut -f2 lecture/predictions.tsv | grep -v -e "^5_sandal$" -e "^7_sneaker$")" ]'
run make -C "$E/lecture" FMNIST="$T/fm" OUT="$T/lecture" PER_CLASS=40 EPOCHS=1 BIN="${BIN_DIR:-$ROOT/bin}"
check "a second make retrains nothing" '! grep -q nntrain out'
touch lecture/val.batches
run make -C "$E/lecture" FMNIST="$T/fm" OUT="$T/lecture" PER_CLASS=40 EPOCHS=1 BIN="${BIN_DIR:-$ROOT/bin}"
check "a newer validation set retrains without decoding the training set again" 'grep -q nntrain out && ! grep -q "imgprep.*train.list" out'

run make -C "$E/lecture" PROBLEM=categorical FMNIST="$T/fm" OUT="$T/cat" PER_CLASS=40 EPOCHS=1 BIN="${BIN_DIR:-$ROOT/bin}"
check_status "the categorical workflow runs" 0
check "with three classes in its confusion matrix" '[ $(grep -c "^[0-2] [0-9]_" cat/evaluation.txt) -eq 6 ]'

run make -C "$E/faces" DATA="$T/faces" OUT="$T/faces-out" EPOCHS=1 STEPS=2 BIN="${BIN_DIR:-$ROOT/bin}"
check_status "the faces inpainting workflow runs" 0
check "it measures the masked region" 'grep -q "masked-region MSE of the reconstruction" faces-out/region-error.txt'
check "and draws masked / reconstructed / original" '[ -s faces-out/inpainting.png ]'

port=$(py -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
run make -C "$E/sharded" -j2 FMNIST="$T/fm" OUT="$T/sharded" PER_CLASS=30 EPOCHS=1 PORT=$port BIN="${BIN_DIR:-$ROOT/bin}"
check_status "the sharded workflow runs (2 shards, 2 ranks)" 0
check "its shards are disjoint and cover the list" \
    '[ "$(cat sharded/train.list | wc -l)" -eq 300 ] && [ "$(py -c "
import json, struct, sys
n = 0
for k in (1, 2):
    d = open(\"sharded/shard-%d.batches\" % k, \"rb\").read(); at = 0
    while at < len(d):
        m, = struct.unpack(\"<Q\", d[at:at + 8]); h = json.loads(d[at + 8:at + 8 + m])
        n += h[\"x\"][\"shape\"][0]; at += 8 + m + max(v[\"data_offsets\"][1] for q, v in h.items() if q != \"__metadata__\")
print(n)")" -eq 300 ]'
check "the ranks trained together and rank 0 evaluated" 'grep -q "all 2 ranks hold the same weights" err && grep -q "^loss: [0-9.]* - accuracy: [0-9.]*$" sharded/evaluation.txt'
run sh -c "cat sharded/shard-1.batches sharded/shard-2.batches | nneval --json -m sharded/model"
check "the shards joined with cat are one epoch: nneval reads all 300 images" \
    'py -c "import json, sys; assert json.load(open(sys.argv[1]))[\"samples\"] == 300" out'

# The table examples: regression (the angle of each turned item) and multi-label (mosaics).
run make -C "$E/rotation" DATA="$T/rot" OUT="$T/rot-out" LIMIT=300 EPOCHS=1 BIN="${BIN_DIR:-$ROOT/bin}"
check_status "the rotation (regression from a table) workflow runs" 0
check "it lists the angles from the table as numbers" 'grep -q "^$T/rot/train/[0-9]*\.png	y=-\?[0-9.]*$" rot-out/train.list'
check "it reports MAE, RMSE and R2 for the angle" 'grep -q "^angle  *[0-9.]*  *[0-9.]*  *-\?[0-9.]*$" rot-out/evaluation.txt'
check "and predicts one number per test image, in the table's order" \
    '[ "$(cut -f1 rot-out/predictions.tsv)" = "$(tail -n +2 rot/test.csv | cut -d, -f1 | sed "s|^|$T/rot/test/|")" ] && ! cut -f2 rot-out/predictions.tsv | grep -qv "^-\?[0-9.e+-]*$"'
check "and draws predicted against true (a PNG)" 'py -c "from PIL import Image; import sys; assert Image.open(sys.argv[1]).size[0] > 100" rot-out/truth.png'
awk -F'\t' 'BEGIN { OFS = "\t" } $1 == "" { print; next } { print $0, "w=2" }' rot-out/test.list > rot-w2.list
run sh -c "imgprep -q --size 28x28 --color grayscale rot-w2.list | nneval --json -m rot-out/rotation.model"
cp out w2.json
run sh -c "imgprep -q --size 28x28 --color grayscale rot-out/test.list | nneval --json -m rot-out/rotation.model"
check "nneval weighs each sample's loss by w, as Keras' evaluate(sample_weight=): w=2 doubles the loss, not the metrics" \
    'py -c "import json, sys; a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])); assert abs(a[\"loss\"] - 2 * b[\"loss\"]) < 1e-4 * b[\"loss\"] and a[\"mae\"] == b[\"mae\"], (a, b)" w2.json out'
run make -C "$E/mosaic" DATA="$T/mos" OUT="$T/mos-out" TRAIN=200 TEST=100 EPOCHS=1 BIN="${BIN_DIR:-$ROOT/bin}"
check_status "the mosaic (multi-label from a table) workflow runs" 0
check "its list lines carry several classes" 'grep -q "classes=[0-9]:[a-z_]*|[0-9]:" mos-out/train.list'
check "it reports micro and macro precision, recall, F1 and AUC" 'grep -q "^micro average" mos-out/evaluation.txt && grep -q "^macro average" mos-out/evaluation.txt'
check "and predicts every class's probability" '[ "$(head -n 1 mos-out/predictions.tsv | awk -F"\t" "{ print NF }")" -eq 12 ]'

run make -C "$E/segmentation" DATA="$T/seg" OUT="$T/seg-out" TRAIN=60 TEST=20 EPOCHS=1 BIN="${BIN_DIR:-$ROOT/bin}"
check_status "the segmentation workflow runs (scenes exported, U-Net trained, evaluated, masks predicted, sheet drawn)" 0
check "its list lines are image and mask pairs" '[ "$(grep -c "	mask=" seg-out/predicted.list)" -eq 20 ]'
check "it reports the pixel confusion and mean IoU" 'grep -q "^pixel confusion matrix" seg-out/eval.txt && grep -q "^mean IoU: [0-9.]*$" seg-out/eval.txt'
check "its predicted masks are palette PNGs of the model's size, only classes in them" 'py -c "
from PIL import Image; import glob, numpy as np
files = glob.glob(\"seg-out/masks/**/*.png\", recursive=True); assert len(files) == 20, len(files)
for f in files:
    m = Image.open(f); assert m.mode == \"P\" and m.size == (64, 64); assert set(np.unique(np.array(m))) <= {0, 1, 2, 3}
"'
check "and the sheet is image, true mask, predicted mask for each scene" 'py -c "from PIL import Image; im = Image.open(\"seg-out/sheet.png\"); assert im.size[0] >= 3 * 64, im.size"'

# Every example Makefile runs its recipes in bash with pipefail, and deletes what a failed recipe made.
for mk in "$E"/*/Makefile; do
    check "$(basename "$(dirname "$mk")")/Makefile sets pipefail and .DELETE_ON_ERROR" \
        "grep -qx 'SHELL := /bin/bash' '$mk' && grep -qx '.SHELLFLAGS := -o pipefail -c' '$mk' && grep -qx '.DELETE_ON_ERROR:' '$mk'"
done
# For real: a text file named .jpg among the training images. imgprep stops on it (65);
# batchpack, the last stage, has packed the images before it and exits 0.
mkdir -p badfm/train && cp -R fm/train/5_sandal fm/train/7_sneaker badfm/train/ && ln -s "$T/fm/test" badfm/test && touch badfm/.exported
echo "hello, not a picture" > badfm/train/5_sandal/000-not-an-image.jpg
run make -C "$E/lecture" FMNIST="$T/badfm" OUT="$T/bad" PER_CLASS=40 EPOCHS=1 BIN="${BIN_DIR:-$ROOT/bin}"
check "a pipeline whose first stage fails stops the example's make, with that stage's status" \
    '[ $status -ne 0 ] && grep -q "000-not-an-image.jpg: not an image" err && grep -q "batches\] Error 65" err'
check "before training" '! grep -q nntrain out && [ ! -e bad/model ]'
failed=$(sed -n 's/.*\[Makefile:[0-9]*: \(.*\)\] Error 65.*/\1/p' err)
check "and the batches of the failed recipe are deleted, not left for the next make" '[ -n "$failed" ] && [ ! -e "$failed" ]'

# The demo's contact sheet of mistakes: imgsheet reads 48 and stops; more mistakes than that must
# not fail the recipe under pipefail (the predictions here are all wrong).
mkdir fmo && imglist -q -o fmo/test.list "$T/fm/test"
awk -F'\t' '{ print $1 "\t" ($3 == "0_tshirt_top" ? "1_trouser" : "0_tshirt_top") "\t0.9" }' fmo/test.list > fmo/predictions.tsv
run make -C "$E/fashion-mnist" DATA="$T/fm" OUT="$T/fmo" BIN="${BIN_DIR:-$ROOT/bin}" -o "$T/fmo/predictions.tsv" -o "$T/fmo/test.list" "$T/fmo/mistakes.png"
check_status "the demo draws its mistakes when there are more than it draws" 0
check "from more than 48 mistakes" '[ "$(wc -l < fmo/mistakes.list)" -gt 48 ] && [ -s fmo/mistakes.png ]'

mkdir shoes && ln -s "$T/fm/train/5_sandal" shoes/sandal && ln -s "$T/fm/train/7_sneaker" shoes/sneaker
cat > linear.json <<'J'
{"input_shape": [28, 28, 1], "layers": [{"type": "Lambda", "function": "x/255."}, {"type": "Flatten"},
 {"type": "Dense", "units": 2, "activation": "softmax"}], "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
J
export SPEC="$T/linear.json" SIZE=28x28 COLOR=grayscale EPOCHS=1
mkdir tmp shim
# A second run while one holds the lock (here this shell, on fd 8) refuses at once with 75,
# touching neither the model nor the running one's files.
echo old > shoes.model && echo running > .shoes.model.retrain.new && cp shoes.model before.model
exec 8> shoes.model.lock && flock -n 8
run env TMPDIR="$T/tmp" "$E/cron/retrain" shoes shoes.model 0.0
check_status "a second retrain of the same model while one runs exits 75 (EX_TEMPFAIL)" 75
check_err "saying why" "another retrain of shoes.model is running"
check "and touches neither the model nor the running one's new model" \
    'cmp -s shoes.model before.model && grep -qx running .shoes.model.retrain.new && [ -z "$(ls -A tmp)" ]'
exec 8>&-
rm -f shoes.model .shoes.model.retrain.new before.model
# The new model is renamed onto the target from the target's own folder (a wrapped mv logs
# its arguments), never moved from TMPDIR, and no temporary file is left anywhere.
printf '#!/bin/sh\nprintf "%%s\\n" "$*" >> "%s"\nexec %s "$@"\n' "$T/mv.log" "$(command -v mv)" > shim/mv && chmod +x shim/mv
run env TMPDIR="$T/tmp" PATH="$T/shim:$PATH" "$E/cron/retrain" shoes shoes.model 0.0
check_status "retrain replaces the model when the bar is met (once the lock is free)" 0
check "and says so" 'grep -q "shoes.model replaced (and shoes.onnx): loss" out'
check "by renames from the model's own folder: the model, then its ONNX export" \
    '[ "$(grep -c . mv.log)" -eq 2 ] && [ "$(awk "{ print \$(NF - 1) }" mv.log | xargs -n1 dirname | sort -u)" = . ] && [ "$(awk "{ print \$NF }" mv.log | tr "\n" " ")" = "shoes.model shoes.onnx " ]'
# The export beside the model runs in onnxruntime (tests/node, make node-deps) as nnpredict runs the model.
py -c "import numpy as np; np.save('shoe.npy', np.random.RandomState(5).randint(0, 256, (2, 28, 28, 1)).astype(np.uint8))"
py "$ROOT/tests/shell/stream.py" npy shoe.npy > shoe.bs
nnpredict -q -m shoes.model -f stream -o shoe.pred.bs shoe.bs
run node "$ROOT/tests/node/ort_run.js" shoes.onnx shoe.npy shoe.onnx.npy
check_status "the accepted model's shoes.onnx runs in onnxruntime" 0
check "with nnpredict's outputs (1e-5)" \
    'py "$ROOT/tests/shell/stream.py" max-diff shoe.pred.bs x shoe.onnx.npy | awk "{ exit !(\$1 <= 1e-5) }"'
check "leaving no temporary file beside the model or in TMPDIR" '[ -z "$(ls -A | grep "^\.shoes")" ] && [ -z "$(ls -A tmp)" ]'
cp shoes.model before.model && cp shoes.onnx before.onnx
run "$E/cron/retrain" shoes shoes.model 1.0
check_status "retrain fails loudly below the bar" 1
check_err "naming the bar" "below the bar of 1.0, shoes.model kept"
check "and keeps the old model and its ONNX export" 'cmp -s shoes.model before.model && cmp -s shoes.onnx before.onnx'
check "and removes the new one" '[ -z "$(ls -A | grep "^\.shoes")" ]'
run "$E/cron/retrain" missing shoes.model 0.5
check_status "a missing folder is the tool's own status" 66
check "and leaves the model alone" 'cmp -s shoes.model before.model'
unset SPEC SIZE COLOR EPOCHS
