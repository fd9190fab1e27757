# nntrain: real training on Fashion-MNIST samples (Debian's dataset-fashion-mnist),
# from files, pipes and FIFOs; the model file, resume, signals, callbacks, and
# every documented bad input with its exit status and message.
. "$ROOT/tests/shell/lib.sh"
FM="/usr/bin/python3 $ROOT/tests/nn/fmnist_stream.py"
MODELS="$ROOT/examples/models"
# reads a model file's metadata key (json + numpy, as a Python user would)
meta() { py -c "
import json, struct, sys
d = open('$1', 'rb').read(); n, = struct.unpack('<Q', d[:8]); h = json.loads(d[8:8 + n])
print(h['__metadata__']['$2'])"; }

cat > cnn.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "Lambda", "function": "x/255."},
  {"type": "Conv2D", "filters": 8, "kernel_size": [3, 3], "activation": "relu"},
  {"type": "MaxPooling2D", "pool_size": [2, 2]},
  {"type": "Flatten"},
  {"type": "Dense", "units": 10, "activation": "softmax"}],
 "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
JSON
$FM --count 512 --batch 32 > train.bs
$FM --test --count 256 --batch 64 > val.bs

# --summary: Keras' table for the lecture's CNN, from our spec and from Keras 2 JSON.
run nntrain -m "$MODELS/cats-dogs.json" --summary
check_status "summary" 0
check_out "summary row as Keras prints it" " conv2d (Conv2D)             (None, 62, 62, 32)        896"
check_out "summary total" "Total params: 3,231,169"
run nntrain -m "$MODELS/cats-dogs.keras2.json" --summary
check_out "Keras 2 model.to_json() is read" "Total params: 3,231,169"
for f in "$MODELS"/*.json; do
    run nntrain -m "$f" --summary
    check_status "example spec $(basename "$f") resolves" 0
done
run nntrain -m "$ROOT/tests/nn/keras/unet_weeds_keras3.json" --summary
check_status "a Keras 3 functional model with Keras' MeanIoU" 0
check "its MeanIoU is read as mean_iou, not left out" '! grep -q "left out" "$T/err"'
check_out "and prints the graph's summary" "Total params: 433,537"

# Training from a file, with validation and history; the model file is safetensors.
run nntrain -j1 --seed 1 -m cnn.json --epochs 3 --val val.bs --history h.jsonl -o m.model train.bs
check_status "trains from a file" 0
check_err "one line per epoch in logs" "Epoch 3/3 - 16 steps - "
check_err "with Keras' metrics" " - loss: "
check_err "and validation" " - val_accuracy: "
check "history has one line per epoch" '[ $(wc -l < h.jsonl) -eq 3 ]'
check "history keys in Keras order" "py -c \"import json; r = [json.loads(l) for l in open('h.jsonl')]; assert list(r[2]) == ['epoch', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'lr', 'seconds'], list(r[2]); assert r[2]['epoch'] == 3 and r[2]['lr'] == 0.001\""
check "it learns: validation accuracy above 0.6 after 3 epochs of 512 images" "py -c \"import json; r = [json.loads(l) for l in open('h.jsonl')]; assert r[-1]['val_accuracy'] > 0.6 and r[-1]['loss'] < r[0]['loss'], r\""
check "model file format" '[ "$(meta m.model format)" = imgpipe-model/1 ]'
check "model file keeps the classes" 'meta m.model classes | grep -q "Ankle_boot"'
check "and the input dtype" '[ "$(meta m.model input_dtype)" = U8 ]'
check "weights readable with json + numpy" "py -c \"
import json, struct, numpy as np
d = open('m.model', 'rb').read(); n, = struct.unpack('<Q', d[:8]); h = json.loads(d[8:8 + n])
w = h['conv2d.weight']; assert w['dtype'] == 'F32' and w['shape'] == [8, 1, 3, 3], w
assert h['dense.weight']['shape'] == [10, 1352]\""
check "no temporary file left behind" '[ $(ls -a | grep -c "m.model.") -eq 0 ]'

# The same seed gives the same weights; another seed does not.
nntrain -q -j1 --seed 1 -m cnn.json --epochs 1 -o s1.model train.bs
nntrain -q -j1 --seed 1 -m cnn.json --epochs 1 -o s2.model train.bs
nntrain -q -j1 --seed 2 -m cnn.json --epochs 1 -o s3.model train.bs
check "--seed makes a run repeatable" '[ "$(weight_diff s1.model s2.model)" = 0.0 ]'
check "another seed, another run" '[ "$(weight_diff s1.model s3.model)" != 0.0 ]'
nntrain -q -j1 --seed 1 --shuffle -m cnn.json --epochs 1 -o sh.model train.bs
check "--shuffle changes the frame order" '[ "$(weight_diff s1.model sh.model)" != 0.0 ]'

# --validation-steps: a validation file starts again every epoch (same batches, comparable values).
run nntrain -j1 -m cnn.json --lr 1e-12 --epochs 2 --steps-per-epoch 2 --val val.bs --validation-steps 2 --history vs.jsonl train.bs
check_status "--steps-per-epoch and --validation-steps on files" 0
check "the same validation batches every epoch" "py -c \"import json; r = [json.loads(l) for l in open('vs.jsonl')]; assert abs(r[0]['val_loss'] - r[1]['val_loss']) < 1e-6, r\""
run sh -c "cat train.bs | nntrain -j1 -m cnn.json --shuffle"
check_err "--shuffle on a pipe is a warning" "--shuffle applies to files; stdin is read in order"

# Pipes: epochs from the stream's metadata, or --steps-per-epoch; early ends give the numbers.
$FM --count 128 --batch 32 --epochs 2 > two.bs
run sh -c "cat two.bs | nntrain -j1 -m cnn.json --epochs 2 -o p.model"
check_status "stdin: epochs from the metadata" 0
check_err "4 steps per epoch" "Epoch 2/2 - 4 steps"
run sh -c "cat two.bs | nntrain -j1 -m cnn.json --epochs 3"
check_status "stdin that ends early is bad data" 65
check_err "says how far it got" "stdin: the training stream ended after 2 of 3 epochs"
run sh -c "cat two.bs | nntrain -j1 -m cnn.json --epochs 3 --steps-per-epoch 3"
check_status "steps x epochs beyond the stream" 65
check_err "with the numbers" "ran out of data: epoch 3 got 2 of 3 steps; 3 steps x 3 epochs need 9 batches, the stream held 8"
mkfifo fifo
cat two.bs > fifo &
run nntrain -j1 -m cnn.json --epochs 2 --steps-per-epoch 4 -o f.model fifo
check_status "a FIFO" 0
wait

# An unbatched stream is grouped by --batch-size (32 by default); a batched one refuses it.
$FM --count 64 --batch 1 > single.bs
run nntrain -j1 -m cnn.json single.bs
check_status "unbatched stream" 0
check_err "grouped by 32" "unbatched stream: training on batches of 32"
check_err "2 steps" "Epoch 1/1 - 2 steps"
run nntrain -j1 -m cnn.json -b 16 single.bs
check_err "--batch-size 16" "Epoch 1/1 - 4 steps"
run nntrain -m cnn.json -b 16 train.bs
check_status "--batch-size on a batched stream" 64
check_err "says why" "--batch-size applies to unbatched streams"

# An autoencoder on image targets (U8 targets read as pixel/255).
cat > ae.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "Lambda", "function": "x/255."},
  {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
  {"type": "MaxPooling2D"},
  {"type": "Conv2DTranspose", "filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"},
  {"type": "Conv2D", "filters": 1, "kernel_size": 3, "padding": "same", "activation": "sigmoid"}],
 "loss": "mse", "metrics": ["mae"]}
JSON
$FM --count 256 --batch 32 --autoencoder > ae.bs
run nntrain -j1 -m ae.json --epochs 3 --history ae.jsonl ae.bs
check_status "autoencoder trains" 0
check "its loss falls" "py -c \"import json; r = [json.loads(l) for l in open('ae.jsonl')]; assert r[2]['loss'] < r[0]['loss'] < 0.25 and 'mae' in r[0], r\""

# Overrides from the command line land in the model file.
run nntrain -j1 -m cnn.json --optimizer sgd --lr 0.05 -o o.model --metrics accuracy,mae train.bs
check_status "overrides" 0
check_err "--metrics" " - mae: "
check "--lr stored" '[ "$(meta o.model learning_rate)" = 0.050000000000000003 ]'
check "--optimizer stored" 'meta o.model spec | grep -q "\"type\":\"sgd\""'

# Resume: the optimizer state and history come back; epochs count on.
nntrain -q -j1 --seed 1 -m cnn.json --epochs 1 --history r.jsonl -o r1.model train.bs
run nntrain -j1 --resume r1.model --epochs 2 --history r.jsonl -o r2.model train.bs
check_status "resume" 0
check_err "continues at epoch 2" "Epoch 2/2 - 16 steps"
check "history appended" '[ $(wc -l < r.jsonl) -eq 2 ] && tail -n 1 r.jsonl | grep -q "\"epoch\":2"'
check "optimizer state saved" 'py -c "
import json, struct
d = open(\"r2.model\", \"rb\").read(); n, = struct.unpack(\"<Q\", d[:8]); h = json.loads(d[8:8 + n])
assert \"optimizer.m.conv2d.weight\" in h and \"optimizer.v.dense.bias\" in h
assert h[\"__metadata__\"][\"optimizer_iterations\"] == \"32\""'
check "a resumed run equals an uninterrupted one" '[ "$(nntrain -q -j1 --seed 1 -m cnn.json --epochs 2 -o u2.model train.bs; weight_diff r2.model u2.model)" = 0.0 ]'

# Checkpoints, early stopping, learning-rate reduction (Keras' callbacks).
run nntrain -j1 -m cnn.json --epochs 2 --val val.bs --checkpoint-dir ck train.bs
check_status "checkpoint dir" 0
check "a checkpoint per epoch and the best" '[ -s ck/epoch-001.model ] && [ -s ck/epoch-002.model ] && [ -s ck/best.model ]'
run nntrain -j1 -m cnn.json --epochs 3 --checkpoint-dir deep/er/ck --keep 1 train.bs
check_status "--checkpoint-dir is created with its parents" 0
check "--keep 1 keeps the newest epoch file only" '[ "$(ls deep/er/ck | tr "\n" " ")" = "best.model epoch-003.model " ]'
run nntrain -j1 -m cnn.json --epochs 2 --checkpoint-dir best-only --keep 0 train.bs
check "--keep 0 keeps best.model only" '[ "$(ls best-only | tr "\n" " ")" = "best.model " ]'
run nntrain -j1 -m cnn.json --epochs 10 --early-stopping 1 --min-delta 100 --history es.jsonl train.bs
check_status "early stopping" 0
check_err "says so as Keras does" "Epoch 00002: early stopping"
check "stopped after 2 epochs" '[ $(wc -l < es.jsonl) -eq 2 ]'
run nntrain -j1 -m cnn.json --epochs 3 --lr 1e-9 --reduce-lr-on-plateau --lr-patience 1 --lr-factor 0.5 --history lr.jsonl train.bs
check_status "reduce lr on plateau" 0
check_err "announces it" "Epoch 00002: ReduceLROnPlateau reducing learning rate to 5e-10."
check "epoch 3 runs at the new rate" 'tail -n 1 lr.jsonl | grep -q "\"lr\":5e-10"'
sed 's/ "loss":/ "optimizer": {"type": "sgd", "learning_rate": {"type": "ExponentialDecay", "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}}, "loss":/' cnn.json > sched.json
run nntrain -j1 -m sched.json --epochs 3 --reduce-lr-on-plateau train.bs
check_status "a schedule with --reduce-lr-on-plateau" 64
check_err "is refused as Keras refuses it" "follows the optimizer's ExponentialDecay schedule and cannot be set"
check "before training" '! grep -q Epoch "$T/err"'
run nntrain -j1 -m cnn.json --monitor val_acc train.bs
check_status "an unknown --monitor value" 64
check_err "lists the values" "--monitor val_acc: no such value (the epochs report: loss, accuracy, lr)"
check "before training" '! grep -q Epoch "$T/err"'

# SIGTERM and SIGINT: the step finishes, a checkpoint is saved, 143 / 130.
for sig in TERM INT; do
    rm -rf sk
    nntrain -q -j1 --seed 1 -m cnn.json --epochs 1000 --checkpoint-dir sk train.bs 2> sig.err &
    pid=$!
    i=0; while [ ! -s sk/epoch-001.model ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    kill -$sig $pid; wait $pid; status=$?
    [ $sig = TERM ] && want=143 || want=130
    check_status "SIG$sig exits $want" $want
    check "SIG$sig saves a checkpoint" '[ -s sk/interrupted.model ] && grep -q "saved to sk/interrupted.model; continue with --resume" sig.err'
done
# The signal may land after any number of whole epochs (a fast machine runs several a second):
# resume for two more than the checkpoint holds.
done_epochs=$(meta sk/interrupted.model state | py -c "import json,sys; print(json.load(sys.stdin)[\"epoch\"])")
target=$((done_epochs + 2))
run nntrain -j1 --resume sk/interrupted.model --epochs $target -o after.model train.bs
check_status "the interrupted run resumes" 0
check "from its last whole epoch" 'grep -q "Epoch $target/$target" "$T/err" && ! grep -q "Epoch $done_epochs/" "$T/err" && [ "$(meta after.model state | py -c "import json,sys; print(json.load(sys.stdin)[\"epoch\"])")" = $target ]'
# The checkpoint is the last epoch boundary, so the resumed run is the uninterrupted one, bit for bit.
check "an interrupted and resumed run equals the uninterrupted one" '[ "$(nntrain -q -j1 --seed 1 -m cnn.json --epochs $target -o straight.model train.bs; weight_diff after.model straight.model)" = 0.0 ]'

check "a completed resume removes the interrupted.model it came from" '[ ! -e sk/interrupted.model ] && grep -q "removed sk/interrupted.model: the run it held is complete (in after.model)" "$T/err"'

# --resume continues the recorded run: its target epochs, validation, shuffle,
# seed and checkpoints, unless the command line changes one (then named).
nntrain -q -j1 --seed 7 -m cnn.json --epochs 4 --val val.bs --shuffle --checkpoint-dir rk -o full.model train.bs
run nntrain -j1 --resume rk/epoch-002.model -o res.model train.bs
check_status "resume with no settings: the recorded run goes on" 0
check_err "resume: says what it continues" "rk/epoch-002.model: resuming at epoch 3 of 4, with the run's --epochs 4, --val val.bs, --shuffle, --seed 7, --checkpoint-dir rk"
check_err "resume: names what the command line changes" "rk/epoch-002.model: changed from the run: --output res.model (the run had --output full.model)"
check_err "resume: validates as the run did" "Epoch 4/4 - 16 steps"
check_err "resume: the monitored value is still val_loss" "val_loss: "
check "resume: the same weights as the run that was not stopped" '[ "$(weight_diff res.model full.model)" = 0.0 ]'
run nntrain -j1 --resume rk/epoch-002.model --epochs 3 -o three.model train.bs
check_err "resume: a changed target is named" "changed from the run: --epochs 3 (the run had --epochs 4), --output three.model (the run had --output full.model)"
check_err "resume: and followed" "Epoch 3/3"
run nntrain -j1 --resume full.model -o again.model train.bs
check_status "resuming a complete run: 0" 0
check_err "resuming a complete run: says there is nothing to do" "full.model: its run is complete (4 of 4 epochs): nothing to do, nothing written"
check "resuming a complete run: writes nothing" '[ ! -e again.model ] && ! grep -q Epoch "$T/err"'

# A pipe's epochs (imgprep --epochs N writes "epochs" in every frame): the run
# trains them all by default, and an --epochs that disagrees is refused before
# any training, never read and dropped in silence.
"$ROOT/examples/fashion-mnist/export" fmpng --limit 200 > /dev/null
imglist -q fmpng/train > fm.list
prep() { imgprep -q --size 28x28 --color grayscale "$@" fm.list | batchpack -q -b 32; }
prep --epochs 3 --shuffle --seed 1 | run nntrain -j1 -m cnn.json -o pipe3.model
check_status "a pipe of 3 epochs: exits 0" 0
check_err "a pipe of 3 epochs: trains 3" "stdin carries 3 epochs: training 3 epochs, one of them each (--epochs)"
check "a pipe of 3 epochs: the model holds 3" '[ "$(meta pipe3.model state | py -c "import json,sys; print(json.load(sys.stdin)[\"epoch\"])")" = 3 ]'
prep --epochs 3 --shuffle --seed 1 > three.bs
run nntrain -q -j1 -m cnn.json -o file3.model three.bs
check "a pipe trains as its file does" '[ "$(weight_diff pipe3.model file3.model)" = 0.0 ]'
prep --epochs 3 --shuffle | run nntrain -j1 -m cnn.json --epochs 1 -o short.model
check_status "a pipe of 3 epochs, --epochs 1: refused" 64
check_err "a pipe of 3 epochs, --epochs 1: says why" "stdin carries 3 epochs (imgprep --epochs 3) and this run trains 1 (--epochs 1): a pipe is read once"
check "a pipe of 3 epochs, --epochs 1: nothing trained, nothing written" '! grep -q Epoch "$T/err" && [ ! -e short.model ]'
prep --epochs 2 --shuffle | run nntrain -j1 -m cnn.json --epochs 3
check_status "a pipe of 2 epochs, --epochs 3: refused before training" 64
prep --epochs 1 --shuffle > one.bs
prep --epochs 3 --shuffle | run nntrain -j1 -m cnn.json --val one.bs
check_status "a validation file with a pipe of 3 epochs" 0
prep --epochs 0 --shuffle | run nntrain -j1 -m cnn.json
check_status "an endless pipe: one epoch" 0
check_err "an endless pipe: says so" "stdin has no end (imgprep --epochs 0): training 1 epoch (--epochs N for more)"
$FM --count 128 --batch 32 --epochs 2 | run nntrain -j1 -m cnn.json
check_status "a pipe that does not count its epochs, with more than trained: 0" 0
check_err "a pipe that does not count its epochs: the rest is said" "stdin: the stream carries more than the 1 epochs trained (its frames do not say how many: not imgprep's); the rest is left unread"

# Data sorted by class (imglist lists class by class): warned, with the remedy.
prep | run nntrain -j1 -m cnn.json
check_err "class-sorted epoch: warned" "stdin: epoch 1 came sorted by class (10 classes in runs of 20 samples on average, batches of 28): each step sees one class"
prep --shuffle | run nntrain -j1 -m cnn.json
check "a shuffled epoch: no warning" '! grep -q "sorted by class" "$T/err"'

# Bad input: each a clear message and its exit status.
echo '{"input_shape": [28, 28, 1], "layers": [{"type": "Conv2D", "filter": 8, "kernel_size": 3}]}' > typo.json
run nntrain -m typo.json train.bs
check_status "a spec typo" 65
check_err "named, with a suggestion" 'typo.json: layer 1 (Conv2D): unknown key "filter"; did you mean "filters"?'
echo '{"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 2}]}' > noshape.json
run nntrain -m noshape.json train.bs
check_status "no input shape" 65
check_err "says how to give one" 'no input shape: add "input_shape"'
echo '{"input_shape": [28, 28, 1], "layers": [{"type": "Conv2D", "filters": 8, "kernel_size": 3}, {"type": "Dense", "units": 2}]}' > noflat.json
run nntrain -m noflat.json train.bs
check_status "Dense after Conv2D" 65
check_err "a shape error naming the layer" "layer 2 (dense, Dense): needs a flat input but gets (None, 26, 26, 8); add a Flatten layer before it"
echo '{"class_name": "Sequential", "config": {"layers": [{"class_name": "InputLayer", "config": {"batch_input_shape": [null, 28, 28, 1]}}, {"class_name": "Lambda", "config": {"name": "lambda", "function": ["4wEAAAAAAAAA", null, null], "function_type": "lambda"}}]}}' > bytecode.json
run nntrain -m bytecode.json train.bs
check_status "a Keras Lambda in bytecode" 65
check_err "shows the text form" '"function": "x/255."'
head -c 3000 m.model > trunc.model
run nntrain --resume trunc.model train.bs
check_status "a truncated model file" 65
check_err "says truncated, in a stream's words" "trunc.model: truncated frame ("
printf 'GIF89a\001\000\000\000\000\000' > gif.model
run nntrain --resume gif.model train.bs
check_status "a foreign model file" 65
check_err "says so, naming its first bytes" "gif.model: not safetensors (starts with 'GIF89a\\x01\\x00')"
py -c "d = open('m.model', 'rb').read(); open('new.model', 'wb').write(d.replace(b'imgpipe-model/1', b'imgpipe-model/2'))"
run nntrain --resume new.model train.bs
check_status "a model from a newer format" 65
check_err "asks for an upgrade" 'model format "imgpipe-model/2" is newer than this imgpipe reads (imgpipe-model/1); upgrade imgpipe'
py -c "
import json, sys; sys.path.insert(0, '$ROOT/tests/shell'); import stream
(t, meta), = stream.read_frames(open('m.model', 'rb'))
state = json.loads(meta['state']); state['epoch'] = 'two'; meta['state'] = json.dumps(state)
stream.write_frame(open('epoch.model', 'wb'), t, meta)"
run nntrain --resume epoch.model train.bs
check_status "a model file whose state's epoch is no number" 65
check_err "names it" 'epoch.model: the model file'"'"'s state: "epoch" is not a whole number'
run nntrain --resume train.bs train.bs
check_err "a stream given as a model" "train.bs: is a batch stream, not a model file"
run nntrain -m cnn.json m.model
check_status "a model given as a stream" 65
check_err "says which is which" "m.model: frame 1: is a model file, not a batch stream"
# A stream with no frames, in a pipe or a file, training or validation: the
# same words as every reader (batchstream(5), Completeness).
EMPTY="no frames: the stream is empty (did its producer stop before its first frame? its own message says why)"
run sh -c ": | nntrain -j1 -m cnn.json"
check_status "an empty training pipe" 65
check_err "says why" "nntrain: stdin: $EMPTY"
: > none.bs
run nntrain -j1 -m cnn.json none.bs
check_status "an empty training file" 65
check_err "says why" "nntrain: none.bs: $EMPTY"
run nntrain -j1 -m cnn.json --val none.bs -o none.model train.bs
check_status "an empty validation file" 65
check_err "says why" "nntrain: none.bs: $EMPTY"
check "and writes no model" '[ ! -e none.model ]'
$FM --count 64 --batch 32 > a.bs
py -c "
import sys; sys.path.insert(0, '$ROOT/tests/nn'); import numpy as np, json; from fmnist_stream import frame
sys.stdout.buffer.write(frame([('x', np.zeros((32, 32, 32, 1), np.uint8)), ('y', np.zeros(32, np.int32))], {'format': 'batchstream/1', 'epoch': '1'}))" > odd.bs
cat a.bs odd.bs a.bs > changing.bs
run nntrain -m cnn.json changing.bs
check_status "a stream whose shape changes mid-way" 65
check_err "names the frame and both shapes" "changing.bs: frame 3: x is U8 [32,32,32,1] but the model takes U8 [*,28,28,1]"
cp m.model keep.model
sed 's|"x/255."|"log(x - 300.)"|' cnn.json > nan.json
run nntrain -m nan.json -o keep.model train.bs
check_status "NaN loss" 65
check_err "names the epoch and step" "train.bs: frame 1: epoch 1, step 1: loss is nan"
check_err "and what happened" "loss is nan; training stopped"
check "the old model file is untouched" 'cmp -s m.model keep.model'
run nntrain -m cnn.json missing.bs
check_status "a missing stream" 66
run nntrain -m nope.json train.bs
check_status "a missing spec" 66
run nntrain -m cnn.json -o /nonexistent/dir/m.model train.bs
check_status "an output that cannot be created, before training" 73
check "no training happened" '! grep -q Epoch "$T/err"'
run nntrain train.bs
check_status "neither --model nor --resume" 64
run nntrain -m cnn.json --epochs 0 train.bs
check_status "--epochs 0" 64
run nntrain -m cnn.json --device tpu train.bs
check_status "an unknown device" 64
# (Python's torch is asked, as Debian's libtorch has no CUDA: exit 0 means CUDA is there.)
if ! py -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2> /dev/null; then
    run nntrain -m cnn.json --device cuda train.bs
    check_status "--device cuda without CUDA" 64
    check_err "says so" "CUDA is not available"
else
    echo "nntrain.sh: skipped: CUDA is available here, so --device cuda without it cannot be seen"
fi

# On a terminal: Keras' progress bar.
if command -v script > /dev/null; then
    script -qec "nntrain -j1 -m cnn.json --epochs 1 train.bs" /dev/null > tty.txt 2>&1
    check "a Keras bar on a terminal" 'grep -q "Epoch 1/1" tty.txt && grep -q "16/16 \[==============================\]" tty.txt'
else
    _result fail "script(1) is installed (bsdutils): the terminal check needs it"
fi

# The complete pipeline: class folders of PNG files to a trained model.
if command -v imglist > /dev/null && command -v imgprep > /dev/null && command -v batchpack > /dev/null; then
    py "$ROOT/examples/fashion-mnist/export" fm --limit 200 > /dev/null 2>&1
    run sh -c "imglist -q fm/train | imgprep -q --size 28x28 --color grayscale --epochs 2 --shuffle --seed 1 \
        | batchpack -q -b 32 | nntrain -j1 -m $MODELS/fashion-mnist.json --epochs 2 -o pipe.model"
    check_status "imglist | imgprep | batchpack | nntrain" 0
    check_err "two epochs of 7 batches" "Epoch 2/2 - 7 steps"
    check "classes from the folders" 'meta pipe.model classes | grep -q "9_ankle_boot"'
else
    _result fail "imglist, imgprep and batchpack are on PATH: the complete pipeline needs them"
fi

# OpenMP threads must not spin while the other stages of the pipeline want the cores:
# nn tools run with OMP_WAIT_POLICY=PASSIVE unless the user chose a policy.
omp_policy() {  # omp_policy [ENV...]: the policy a running nntrain sees
    rm -f omp.fifo; mkfifo omp.fifo
    env "$@" nntrain -q --model "$ROOT/examples/models/fashion-mnist.json" -o omp.model omp.fifo 2> /dev/null &
    pid=$!
    exec 3> omp.fifo
    sleep 1
    tr '\0' '\n' < /proc/$pid/environ | grep '^OMP_WAIT_POLICY='
    exec 3>&-
    wait $pid 2> /dev/null
}
check "nntrain runs its threads with a passive wait policy" '[ "$(omp_policy)" = "OMP_WAIT_POLICY=PASSIVE" ]'
check "unless the user set one" '[ "$(omp_policy OMP_WAIT_POLICY=ACTIVE)" = "OMP_WAIT_POLICY=ACTIVE" ]'

# --profile: a Chrome trace of the steps, with our spans around libtorch's operators.
run nntrain -q -j1 -m cnn.json --epochs 1 --profile train.trace -o prof.model train.bs
check_status "--profile trains as without it" 0
check "--profile: a Chrome trace, an input, backward and optimizer span a step (16), one per layer, operators inside" 'py -c "
import json, collections
t = json.load(open(\"train.trace\"))[\"traceEvents\"]
n = collections.Counter(e[\"name\"] for e in t)
assert n[\"input\"] == n[\"backward\"] == n[\"optimizer\"] == n[\"conv2d (Conv2D)\"] == n[\"dense (Dense)\"] == 16, n
assert n[\"aten::convolution_backward\"] == 16 and all(e[\"ph\"] == \"X\" and e[\"dur\"] >= 0 for e in t)
def inside(span):
    s = [e for e in t if e[\"name\"] == span][3]
    return [e[\"name\"] for e in t if s[\"ts\"] <= e[\"ts\"] and e[\"ts\"] + e[\"dur\"] <= s[\"ts\"] + s[\"dur\"]]
conv, pool = inside(\"conv2d (Conv2D)\"), inside(\"max_pooling2d (MaxPooling2D)\")
assert \"aten::conv2d\" in conv, conv
# the convolution ReLU runs in the pooling kernel, on a quarter of the values
assert \"imgpipe::max_pool_relu\" in pool and \"aten::relu\" not in conv, (conv, pool)
n = collections.Counter(e[\"name\"] for e in t)
assert n[\"imgpipe::max_pool_backward\"] == 16 and n[\"imgpipe::dense_backward\"] == 16, n
"'
run py "$ROOT/bench/profile_summary.py" train.trace 16 --after-first 2
check_out "bench/profile_summary.py sums it a step" "| backward |"
run nneval -m prof.model --profile eval.trace val.bs
check "nneval --profile: a span per batch (4) and per layer, no backward" 'py -c "
import json, collections
n = collections.Counter(e[\"name\"] for e in json.load(open(\"eval.trace\"))[\"traceEvents\"])
assert n[\"input\"] == n[\"conv2d (Conv2D)\"] == n[\"dense (Dense)\"] == 4 and n[\"backward\"] == 0, n
"'
run nnpredict -m prof.model --profile predict.trace -o predictions.tsv val.bs
check "nnpredict --profile too" 'py -c "
import json, collections
n = collections.Counter(e[\"name\"] for e in json.load(open(\"predict.trace\"))[\"traceEvents\"])
assert n[\"input\"] == n[\"dense (Dense)\"] == 4, n
"'
run nntrain -q -m cnn.json --profile - -o never.model train.bs
check_status "--profile - (stdout): a usage error" 64
check_err "says why" "--profile: give a file for the trace"
run nntrain -q -m cnn.json --profile nowhere/t.trace -o nowhere.model train.bs
check "--profile into a missing folder fails before training, with no model" '[ "$status" = 73 ] && [ ! -e nowhere.model ]'
check_err "and names the path" "nowhere/t.trace: cannot create"
head -c 20000 train.bs > cut.bs
run nntrain -q -m cnn.json --profile cut.trace -o cut.model cut.bs
check "a failed run writes no trace" '[ "$status" = 65 ] && [ ! -e cut.trace ]'

# Issue 23 (model checks); issue 26: an augmentation layer in a model whose target
# is an image flips y with x (tests/nn/test_segmentation.cpp checks the pixels).
cat > flip-ae.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "Rescaling", "scale": 0.00392156862745098},
  {"type": "RandomFlip", "mode": "horizontal"},
  {"type": "Conv2D", "filters": 1, "kernel_size": 3, "padding": "same", "activation": "sigmoid"}], "loss": "mse"}
JSON
$FM --count 64 --batch 32 --autoencoder > ae.bs
run nntrain -q -m flip-ae.json -o flip-ae.model ae.bs
check_status "augmentation with an image target: y moves with x, trains" 0
check "and writes the model" "[ -s flip-ae.model ]"
cat > flip-cnn.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "Rescaling", "scale": 0.00392156862745098},
  {"type": "RandomFlip", "mode": "horizontal"},
  {"type": "Conv2D", "filters": 2, "kernel_size": 3}, {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}],
 "loss": "sparse_categorical_crossentropy"}
JSON
run nntrain -q -m flip-cnn.json -o flip-cnn.model train.bs
check_status "augmentation with class labels: trains" 0

# Raw U8 pixels into the first weighted layer: a warning naming it; none with a scaling layer first.
cat > raw.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "MaxPooling2D"},
  {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
  {"type": "Flatten"},
  {"type": "Dense", "units": 10, "activation": "softmax"}], "loss": "sparse_categorical_crossentropy"}
JSON
run nntrain -q -m raw.json -o raw.model train.bs
check_status "raw bytes: trains" 0
check_err "raw bytes: warned, naming the layer" "nntrain: train.bs: frame 1: layer conv2d (Conv2D) reads raw U8 pixels (0 to 255): no Rescaling, Lambda or Normalization comes before it"
check "raw bytes: warned once" "[ \$(grep -c 'raw U8' '$T/err') -eq 1 ]"
run nntrain -q -m cnn.json -o scaled.model train.bs
check "a Lambda first: no raw-bytes warning" "[ \$status = 0 ] && ! grep -q 'raw U8' '$T/err'"
$FM --count 64 --batch 32 --float > float.bs
run nntrain -q -m raw.json -o raw-float.model float.bs
check "F32 input: no raw-bytes warning" "[ \$status = 0 ] && ! grep -q 'raw U8' '$T/err'"

# A Lambda x/255. on F32 already within [0, 1] scales twice: warned by nntrain, nneval and nnpredict.
run nntrain -q -m cnn.json -o twice.model float.bs
check_status "scaled twice: trains" 0
check_err "scaled twice: warned" 'nntrain: float.bs: frame 1: layer lambda (Lambda "x/255.") maps pixel bytes 0..255 onto [0, 1], but x is F32 already within [0, 1] (max 1 in this batch): the pixels are scaled twice'
check "scaled twice: warned once" "[ \$(grep -c 'scaled twice' '$T/err') -eq 1 ]"
run nneval -q -m twice.model float.bs
check_err "nneval warns too" "nneval: float.bs: frame 1: layer lambda (Lambda \"x/255.\") maps pixel bytes"
run nnpredict -q -m twice.model -o twice.tsv float.bs
check_err "nnpredict warns too" "nnpredict: float.bs: frame 1: layer lambda (Lambda \"x/255.\") maps pixel bytes"
run nneval -q -m scaled.model train.bs
check "U8 input: no scaled-twice warning" "[ \$status = 0 ] && ! grep -q 'scaled twice' '$T/err'"

# Issue 24: numbers, several classes per image and weights in the stream (class_mode raw and
# multi_label, the tensor w), written here by Python as the batch stream contract says.
cat > targets.py <<'PY'
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from stream import write_frame
kind, n, batch, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
weight = sys.argv[6] if len(sys.argv) > 6 else ""
r = np.random.default_rng(seed)
x = r.uniform(-1, 1, (n, 4)).astype(np.float32)
meta = {"format": "batchstream/1"}
if kind == "raw":  # two numbers, a linear function of x
    y = (x @ np.array([[1.0, -2.0], [0.5, 1.0], [-1.0, 0.0], [2.0, 0.5]]) + [0.5, -0.25]).astype(np.float32)
    meta.update(class_mode="raw", targets=json.dumps(["angle", "size"]))
else:  # three classes, each shown where its own feature is positive
    y = (x[:, :3] > 0).astype(np.float32)
    meta.update(class_mode="multi_label", classes=json.dumps(["cat", "dog", "hat"]))
out = sys.stdout.buffer
for i in range(0, n, batch):
    t = {"x": x[i:i + batch], "y": y[i:i + batch]}
    if weight:
        t["w"] = np.full(len(t["x"]), float(weight), np.float32)
    write_frame(out, t, meta)
PY
TG="py targets.py $ROOT/tests/shell"
$TG raw 256 32 1 > reg.bs; $TG raw 128 64 2 > reg-val.bs; $TG raw 128 64 2 2 > reg-val-w2.bs; $TG raw 128 64 2 0 > reg-val-w0.bs
$TG multi 512 32 3 > ml.bs; $TG multi 256 64 4 > ml-val.bs
echo '{"input_shape": [4], "layers": [{"type": "Dense", "units": 2}], "optimizer": {"type": "adam", "learning_rate": 0.05}}' > reg.json
echo '{"input_shape": [4], "layers": [{"type": "Dense", "units": 3, "activation": "sigmoid"}], "optimizer": {"type": "adam", "learning_rate": 0.05}}' > ml.json
hist() { py -c "import json, sys; r = [json.loads(l) for l in open('$1')]; $2"; }

# Regression: the loss picked from the stream is mse; rmse and r2 by Keras' names in the history.
run nntrain -q -j1 --seed 1 -m reg.json --epochs 8 --metrics mae,rmse,r2 --val reg-val.bs --history reg.jsonl -o reg.model reg.bs
check_status "regression: trains" 0
check "regression: the picked loss is mse (class_mode raw), recorded in the model" '[ "$(meta reg.model loss)" = mse ]'
check "regression: history names as Keras'" "hist reg.jsonl \"assert list(r[0]) == ['epoch', 'loss', 'mae', 'root_mean_squared_error', 'r2_score', 'val_loss', 'val_mae', 'val_root_mean_squared_error', 'val_r2_score', 'lr', 'seconds'], list(r[0])\""
check "regression: it learns (val r2 above 0.95, rmse below 0.3)" "hist reg.jsonl \"assert r[-1]['val_r2_score'] > 0.95 and r[-1]['val_root_mean_squared_error'] < 0.3, r[-1]\""
check "regression: val rmse is the root of the epoch's mse (one val batch of 64 is two: the epoch's)" "hist reg.jsonl \"import math; assert all(abs(e['root_mean_squared_error'] - math.sqrt(e['loss'])) < 1e-6 for e in r), r\""

# huber and log_cosh by Keras' names; a misspelt loss is a usage error with a hint.
run nntrain -q -j1 --seed 1 -m reg.json --loss Huber --epochs 2 -o huber.model reg.bs
check "--loss Huber trains as huber" '[ $status = 0 ] && [ "$(meta huber.model loss)" = huber ]'
run nntrain -q -j1 --seed 1 -m reg.json --loss logcosh --epochs 2 -o lc.model reg.bs
check "--loss logcosh (Keras' legacy name) trains as log_cosh" '[ $status = 0 ] && [ "$(meta lc.model loss)" = log_cosh ]'
echo '{"input_shape": [4], "layers": [{"type": "Dense", "units": 2}], "loss": {"class_name": "Huber", "config": {"delta": -1}}}' > badhuber.json
run nntrain -q -m badhuber.json reg.bs
check "huber delta <= 0: refused (65)" '[ $status = 65 ]'
check_err "huber delta <= 0: named" 'loss huber: "delta" must be > 0, not -1'
run nntrain -q -m reg.json --loss hubber reg.bs
check "a misspelt loss: 64 with a hint" '[ $status = 64 ] && grep -qF "did you mean \"huber\"" "$T/err"'

# Sample weights: the stream's w multiplies each sample's loss, the sum over the batch size (Keras):
# the same model's validation loss is twice as large with w = 2, and 0 with w = 0.
for v in reg-val reg-val-w2 reg-val-w0; do
    nntrain -q -j1 --seed 5 -m reg.json --epochs 1 --metrics mae --val $v.bs --history $v.jsonl reg.bs 2> /dev/null
done
check "weights: w = 2 doubles the val loss" "py -c \"import json; a = json.loads(open('reg-val.jsonl').readline()); b = json.loads(open('reg-val-w2.jsonl').readline()); assert abs(b['val_loss'] - 2 * a['val_loss']) < 1e-6 * a['val_loss'], (a, b)\""
check "weights: w = 0 zeroes it; the metrics are not weighted (Keras' metrics=)" "py -c \"import json; a = json.loads(open('reg-val.jsonl').readline()); b = json.loads(open('reg-val-w0.jsonl').readline()); assert b['val_loss'] == 0 and b['val_mae'] == a['val_mae'] > 0, (a, b)\""
$TG raw 256 32 1 0 > reg-w0.bs
$TG raw 64 32 1 -1 > reg-wneg.bs
run nntrain -q -m reg.json reg-wneg.bs
check "weights: a negative w is refused (65), named by frame" '[ $status = 65 ] && grep -qF "nntrain: reg-wneg.bs: frame 1: w[0] is -1.000000; a sample weight is a finite number >= 0" "$T/err"'
run nntrain -q -j1 --seed 1 -m reg.json --epochs 1 --history w0.jsonl reg-w0.bs
check "weights: training on w = 0 has a loss of 0" "[ \$status = 0 ] && hist w0.jsonl \"assert r[0]['loss'] == 0, r[0]\""

# Multi-label: C sigmoid outputs and a multi-hot y; the picked loss is binary_crossentropy;
# precision, recall, f1 and auc improve upwards: best.model is the epoch of the highest val_auc.
run nntrain -q -j1 --seed 1 -m ml.json --epochs 6 --metrics accuracy,precision,recall,f1,auc --val ml-val.bs \
    --history ml.jsonl --monitor val_auc --checkpoint-dir ck -o ml.model ml.bs
check_status "multi-label: trains" 0
check "multi-label: the picked loss is binary_crossentropy (class_mode multi_label)" '[ "$(meta ml.model loss)" = binary_crossentropy ]'
check "multi-label: history names as Keras'" "hist ml.jsonl \"assert list(r[0])[:7] == ['epoch', 'loss', 'accuracy', 'precision', 'recall', 'f1_score', 'auc'], list(r[0])\""
check "multi-label: it learns (val auc above 0.95, val f1 above 0.8)" "hist ml.jsonl \"assert r[-1]['val_auc'] > 0.95 and r[-1]['val_f1_score'] > 0.8, r[-1]\""
check "multi-label: best.model is the highest val_auc's epoch" "hist ml.jsonl \"import json, struct; d = open('ck/best.model', 'rb').read(); n, = struct.unpack('<Q', d[:8]); s = json.loads(json.loads(d[8:8 + n])['__metadata__']['state']); best = max(r, key=lambda e: e['val_auc'])['epoch']; assert s['epoch'] == best, (s['epoch'], best)\""

# Two ranks: the epoch-level metrics' sums (per output for f1 and r2) are added over the ranks before
# the values are computed, so the last validation is the single-process evaluation of the same model.
port=$(py -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
nntrain -q -j1 --seed 1 -m ml.json --epochs 2 --metrics precision,f1,auc,r2 --val ml-val.bs \
    --rank 1 --world-size 2 --master 127.0.0.1:$port ml.bs 2> /dev/null &
pid1=$!
run nntrain -q -j1 --seed 1 -m ml.json --epochs 2 --metrics precision,f1,auc,r2 --val ml-val.bs \
    --rank 0 --world-size 2 --master 127.0.0.1:$port --history two.jsonl -o two.model ml.bs
wait $pid1; status1=$?
check "two ranks: multi-label trains" "[ \$status = 0 ] && [ \$status1 = 0 ]"
$TG multi 256 256 4 > ml-val-one.bs  # the same 256 samples in one frame
nneval -q -m two.model ml-val-one.bs --json > two-eval.json 2> /dev/null
check "two ranks: val precision, f1, auc, r2 (4 frames, 2 ranks) are the values of one frame of all 256 (nneval)" "hist two.jsonl \"e = json.load(open('two-eval.json')); assert all(abs(r[-1]['val_' + k] - e[k]) < 1e-6 for k in ('loss', 'precision', 'f1_score', 'auc', 'r2_score')), (r[-1], e)\""

# --threshold: at 1 no output is a yes: accuracy is the share of zeros in y, precision 0.
run nntrain -q -j1 --seed 1 -m ml.json --epochs 1 --threshold 1 --metrics binary_accuracy,precision --history th.jsonl ml.bs
check "--threshold 1: binary_accuracy is the share of zeros, precision 0" "hist th.jsonl \"import numpy as np; x = np.random.default_rng(3).uniform(-1, 1, (512, 4)); z = float((x[:, :3] <= 0).mean()); assert abs(r[0]['binary_accuracy'] - z) < 1e-6 and r[0]['precision'] == 0, (r[0], z)\""
run nntrain -q -m ml.json --threshold 1.5 ml.bs
check_status "--threshold above 1: usage error" 64
run nntrain -q -j1 -m ml.json --epochs 1 --monitor val_rmse ml.bs
check "--monitor val_rmse: the short name, for val_root_mean_squared_error (not reported here)" '[ $status = 64 ] && grep -qF -- "--monitor val_root_mean_squared_error: no such value" "$T/err"'

# --class-weight: a map by index or name, printed; balanced from a file's counts; refused where Keras
# would weigh wrongly (multi-label), for a pipe (balanced) and for unknown classes.
run nntrain -j1 --seed 1 -m cnn.json --epochs 1 --class-weight '{"0": 2, "Trouser": 0.5}' train.bs
check_status "--class-weight map: trains" 0
check_err "--class-weight map: printed, by index and name" "class weights: T-shirt_top 2, Trouser 0.5, Pullover 1,"
run nntrain -j1 --seed 1 -m cnn.json --epochs 1 --class-weight '{"0": 2, "Trouser": 0.5}' -o cw.model train.bs
run nntrain -j1 --resume cw.model --epochs 2 train.bs
check "--class-weight: a resumed run keeps the recorded weights" '[ $status = 0 ] && grep -qF "class weights: T-shirt_top 2, Trouser 0.5, Pullover 1," "$T/err"'
run nntrain -j1 --seed 1 -m cnn.json --epochs 1 --class-weight balanced train.bs
check_status "--class-weight balanced: trains" 0
check "--class-weight balanced: n_samples / (n_classes * count), from the file" "py -c \"
import json, re, struct
ys = []
d = open('train.bs', 'rb').read(); i = 0
while i < len(d):
    n, = struct.unpack('<Q', d[i:i + 8]); h = json.loads(d[i + 8:i + 8 + n]); size = max(t['data_offsets'][1] for k, t in h.items() if k != '__metadata__')
    a, b = h['y']['data_offsets']; import numpy as np; ys += list(np.frombuffer(d[i + 8 + n + a:i + 8 + n + b], np.int32)); i += 8 + n + size
c = np.bincount(ys, minlength=10); want = ['%.6g' % (len(ys) / (10 * k)) for k in c]
got = re.search(r'class weights: (.*) \(balanced', open('$T/err').read()).group(1).split(', ')
assert [g.rsplit(' ', 1)[1] for g in got] == want, (got, want)\""
cat train.bs | run nntrain -q -m cnn.json --class-weight balanced
check "--class-weight balanced on a pipe: usage error, said why" '[ $status = 64 ] && grep -qF "nntrain: --class-weight balanced counts the training stream" "$T/err"'
run nntrain -q -m ml.json --class-weight '{"0": 2}' ml.bs
check "--class-weight on multi-label: refused (65), Keras' argmax named" '[ $status = 65 ] && grep -qF "multi-hot row" "$T/err"'
run nntrain -q -m reg.json --class-weight balanced reg.bs
check "--class-weight balanced on numbers: refused (65)" '[ $status = 65 ] && grep -qF "the targets are not classes (class_mode raw)" "$T/err"'
run nntrain -q -m cnn.json --class-weight '{"Sneakers": 2}' train.bs
check "--class-weight: an unknown class is a usage error naming it" '[ $status = 64 ] && grep -qF "\"Sneakers\" is neither a class of the stream" "$T/err"'
run nntrain -q -m cnn.json --class-weight '[1, 2]' train.bs
check_status "--class-weight not an object: usage error" 64
