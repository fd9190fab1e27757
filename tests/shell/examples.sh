# The workflows in examples/: the lecture's classifiers as Makefiles, the faces
# inpainting, the cron retrainer. Small and few epochs: they check that the
# plumbing works and rebuilds incrementally, not how well the networks learn.
. "$ROOT/tests/shell/lib.sh"
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

mkdir shoes && ln -s "$T/fm/train/5_sandal" shoes/sandal && ln -s "$T/fm/train/7_sneaker" shoes/sneaker
cat > linear.json <<'J'
{"input_shape": [28, 28, 1], "layers": [{"type": "Lambda", "function": "x/255."}, {"type": "Flatten"},
 {"type": "Dense", "units": 2, "activation": "softmax"}], "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
J
export SPEC="$T/linear.json" SIZE=28x28 COLOR=grayscale EPOCHS=1
run "$E/cron/retrain" shoes shoes.model 0.0
check_status "retrain replaces the model when the bar is met" 0
check "and says so" 'grep -q "shoes.model replaced: loss" out'
cp shoes.model before.model
run "$E/cron/retrain" shoes shoes.model 1.0
check_status "retrain fails loudly below the bar" 1
check_err "naming the bar" "below the bar of 1.0, shoes.model kept"
check "and keeps the old model" 'cmp -s shoes.model before.model'
run "$E/cron/retrain" missing shoes.model 0.5
check_status "a missing folder is the tool's own status" 66
check "and leaves the model alone" 'cmp -s shoes.model before.model'
unset SPEC SIZE COLOR EPOCHS
