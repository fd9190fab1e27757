# A pipeline never lies: a producer that stopped early is caught downstream
# from the stream alone (batchstream(5), COMPLETENESS), skipped files are
# accounted for, a file's epochs are nntrain's epochs, and every class folder
# is a class, empty or missing.
. "$ROOT/tests/shell/lib.sh"
S="$ROOT/tests/shell/stream.py"
meta() { py -c "
import json, struct, sys
d = open('$1', 'rb').read(); n, = struct.unpack('<Q', d[:8]); h = json.loads(d[8:8 + n])
print(h['__metadata__']['$2'])"; }

# 20 real images in two classes (Fashion-MNIST), one of them a text file named .png.
/usr/bin/python3 "$ROOT/examples/fashion-mnist/export" fm --limit 200 > /dev/null 2>&1 || echo "$SUITE: fixture: export failed"
mkdir -p bad/a bad/b
ls fm/train/0_tshirt_top | head -n 10 | while read -r f; do cp "fm/train/0_tshirt_top/$f" bad/a/; done
ls fm/train/1_trouser | head -n 10 | while read -r f; do cp "fm/train/1_trouser/$f" bad/b/; done
victim=$(ls bad/b | sed -n 3p)
echo "hello, not an image" > "bad/b/$victim"

# 1. Without --keep-going imgprep stops at the bad file; the stream it leaves is short.
imglist -q bad | imgprep -q --size 28x28 --color grayscale 2> prep.err | batchpack -b 4 > short.bs 2> pack.err
status=$?
check "imgprep named the file" 'grep -q "bad/b/$victim: not an image" prep.err'
check "batchpack refuses the short epoch with 65" '[ $status -eq 65 ]'
check "naming the stream, the epoch and the count" 'grep -q "batchpack: stdin: epoch 1 ended after 12 of 20 samples: the producer stopped early" pack.err'
for tool in "batchpack -b 8" "imgstats" "imgmask --random-box 4x4 --seed 1" "imgsave -d saved" "imgsheet -o sheet.png"; do
    run $tool short.bs
    check_status "$tool refuses a short epoch" 65
    check_err "$tool says so" "short.bs: epoch 1 ended after 12 of 20 samples"
done
check "no sheet is left behind" '[ ! -e sheet.png ]'
run batchpack --info short.bs
check_status "--info on a short stream fails" 65
check_out "after printing what it saw" "samples:    12"
run /bin/bash -c 'set -o pipefail; imglist -q bad | imgprep -q --size 28x28 --color grayscale | batchpack -q -b 4 > /dev/null'
check "with pipefail the pipeline fails" '[ $status -ne 0 ]'

# A stream cut at a frame boundary, in a pipe, to an nn tool: the same message.
py "$S" make 10 2 2 3 --epochs 1 > ten.bs
head -c $(py -c "
import struct
f = open('ten.bs', 'rb'); n = 0
for i in range(7):
    h = struct.unpack('<Q', f.read(8))[0]; import json; j = json.loads(f.read(h)); d = max(v['data_offsets'][1] for k, v in j.items() if k != '__metadata__'); f.read(d); n += 8 + h + d
print(n)") ten.bs > seven.bs
check "a frame-aligned cut is still a valid prefix" '[ $(py "$S" dump seven.bs | wc -l) -eq 7 ]'
run batchpack -b 5 seven.bs
check_status "a frame-aligned cut is refused" 65
check_err "as a short epoch" "seven.bs: epoch 1 ended after 7 of 10 samples"

# 2. --keep-going: the skipped file is recorded, so the epoch adds up downstream.
imglist -q bad | imgprep --keep-going --size 28x28 --color grayscale 2> prep.err | batchpack -b 4 > kept.bs 2> pack.err
status=$?
check "imgprep --keep-going names the file" 'grep -q "bad/b/$victim: not an image" prep.err'
check "batchpack reads the whole epoch and still exits 65" '[ $status -eq 65 ]'
check "saying what was skipped upstream" 'grep -q "batchpack: 1 sample was skipped upstream (bad/b/$victim); --allow-skipped accepts" pack.err'
check "not as a short epoch" '! grep -q "ended after" pack.err'
check "the record travels in the stream" 'py "$S" dump kept.bs | grep -q "\"skipped\": .*$victim"'
check "19 samples in the batches" '[ "$(py "$S" dump kept.bs | grep -o "\"x\": {\"dtype\": \"uint8\", \"shape\": \[[0-9]*" | grep -o "[0-9]*$" | awk "{ n += \$1 } END { print n }")" = 19 ]'
run batchpack --allow-skipped -b 4 kept.bs
check_status "--allow-skipped accepts recorded skips" 0
check_err "and still reports them" "1 sample was skipped upstream"
run batchpack --info kept.bs
check_out "--info counts the skipped" "skipped:    1"
run batchpack --drop-last --allow-skipped -b 8 kept.bs
check_status "--drop-last records what it drops" 0
batchpack -q --drop-last --allow-skipped -b 8 kept.bs > dropped.bs
run imgstats --allow-skipped dropped.bs
check_status "so a dropped remainder is no short epoch" 0
run imgprep --keep-going --allow-skipped --size 28x28 --color grayscale -o /dev/null bad.list
imglist -q bad > bad.list
run imgprep -q --keep-going --allow-skipped --size 28x28 --color grayscale -o kept2.bs bad.list
check_status "imgprep --keep-going --allow-skipped exits 0" 0
# Every skipped file of the last epoch lands in a record even when it is the last of the list.
printf 'bad/a/%s\t0\ta\nbad/b/%s\t1\tb\n' "$(ls bad/a | head -n 1)" "$victim" > last.list
run sh -c 'imgprep -q --keep-going --allow-skipped --size 28x28 --color grayscale --epochs 2 last.list | batchpack -b 2 --allow-skipped'
check_status "a skip at an epoch's end is recorded in an empty frame" 0

# 3. A stream file written with --epochs N holds N epochs: nntrain trains N, one each.
cat > tiny.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [{"type": "Lambda", "function": "x/255."}, {"type": "Flatten"},
  {"type": "Dense", "units": 2, "activation": "softmax"}], "loss": "sparse_categorical_crossentropy"}
JSON
mkdir -p two && cp -R bad/a two/a && mkdir -p two/b && cp fm/train/1_trouser/* two/b/ 2>/dev/null; ls two/b | tail -n +11 | while read -r f; do rm "two/b/$f"; done
imglist -q two | imgprep -q --size 28x28 --color grayscale --epochs 3 --shuffle --seed 1 | batchpack -q -b 4 > three.bs
run nntrain -j1 --seed 1 -m tiny.json -o three.model three.bs
check_status "nntrain on a 3-epoch file" 0
check_err "trains its 3 epochs by default" "three.bs holds 3 epochs: training 3 epochs"
check_err "each one data epoch of 5 steps" "Epoch 3/3 - 5 steps"
run nntrain -j1 --seed 1 -m tiny.json --epochs 2 three.bs
check_err "a different --epochs is warned about" "three.bs holds 3 epochs (imgprep --epochs 3) and --epochs is 2: only the first 2 are used"
check_err "and follows the file's epochs" "Epoch 2/2 - 5 steps"

# A pipe that says it carries fewer epochs than --epochs: refused before training.
run sh -c 'imglist -q two | imgprep -q --size 28x28 --color grayscale --epochs 2 | batchpack -q -b 4 | nntrain -j1 --seed 1 -m tiny.json --epochs 3 -o cut.model'
check_status "a pipe of fewer epochs than --epochs: refused, 64" 64
check "before training, nothing written" '! grep -q Epoch "$T/err" && [ ! -e cut.model ]'
# A pipe that ends before --epochs without having said how many it carries (its
# "epochs" key renamed, as a stream from an older imgprep or a script): the
# complete epochs are saved, then 65.
run sh -c 'imglist -q two | imgprep -q --size 28x28 --color grayscale --epochs 2 | batchpack -q -b 4 | sed "s/\"epochs\":\"2\"/\"epochz\":\"2\"/g" | nntrain -j1 --seed 1 -m tiny.json --epochs 3 -o cut.model'
check_status "a pipe with fewer epochs than --epochs exits 65" 65
check_err "saying so" "the training stream ended after 2 of 3 epochs"
check_err "after saving what it trained" "the model as of the end of epoch 2 saved to cut.model"
check "the model holds 2 epochs" '[ "$(meta cut.model state | py -c "import json,sys; print(json.load(sys.stdin)[\"epoch\"])")" = 2 ]'

# 4. Classes: every class folder, empty or missing, keeps its name and index.
mkdir -p cls/cat cls/dog cls/empty cls/rocket
cp bad/a/* cls/cat/; cp two/b/* cls/dog/; cp bad/a/* cls/rocket/
run imglist cls
check_err "an empty class folder is warned about" "cls/empty: class folder holds no images: class 2 \"empty\" is kept with none"
check "and declared in the list" 'grep -qx "	2	empty" "$T/out"'
check_err "Keras' count" "Found 30 images belonging to 4 classes."
imglist -q cls | imgprep -q --size 28x28 --color grayscale | batchpack -q -b 8 > cls.bs
run batchpack --info cls.bs
check_out "the stream keeps the empty class's name" "2	empty	0"
check_out "and the next one's index" "3	rocket	10"
run imgsave -d saved-cls cls.bs
check "imgsave's list declares the class it saved no image of" 'grep -qx "	2	empty" "$T/out" && [ $(grep -c "^saved-cls/" "$T/out") -eq 30 ]'
run imglist --classes cat,dog,nope cls
check_status "--classes with a missing folder keeps the class" 0
check_err "and says what to do" "cls/nope: no such class folder: class 2 \"nope\" is kept with no images (if that is a typo, the folders here are: cat, dog, empty, rocket)"

# A test set without one of the model's classes is evaluated against the model's classes.
cat > three.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [{"type": "Lambda", "function": "x/255."}, {"type": "Flatten"},
  {"type": "Dense", "units": 3, "activation": "softmax"}], "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
JSON
mkdir -p tri/cat tri/dog tri/rocket && cp bad/a/* tri/cat/ && cp two/b/* tri/dog/ && cp fm/train/9_ankle_boot/* tri/rocket/ 2>/dev/null
imglist -q tri | imgprep -q --size 28x28 --color grayscale --shuffle --seed 1 | batchpack -q -b 8 > tri.bs
nntrain -q -j1 --seed 1 -m three.json --epochs 3 -o tri.model tri.bs
mkdir -p norocket && cp -R tri/cat tri/dog norocket/
run sh -c 'imglist -q norocket | imgprep -q --size 28x28 --color grayscale | batchpack -q -b 8 | nneval -j1 --json -m tri.model'
check_status "nneval on a test set lacking a class" 0
check "scores against the model's classes" 'py -c "import json; j = json.load(open(\"$T/out\")); assert j[\"classes\"] == [\"cat\", \"dog\", \"rocket\"] and j[\"samples\"] == 20"'
mkdir -p swapped/cat swapped/zebra && cp bad/a/* swapped/cat/ && cp two/b/* swapped/zebra/
run sh -c 'imglist -q swapped | imgprep -q --size 28x28 --color grayscale | nneval -j1 -m tri.model'
check_status "a class the model does not know" 65
check_err "is named, with no wrong advice" 'the stream'"'"'s class "zebra" is not one of the model'"'"'s ["cat","dog","rocket"]'
check "no Dense advice" '! grep -q "set the last Dense" "$T/err"'

# A 3-class stream into binary_crossentropy is refused, whichever labels come first.
sed 's/sparse_categorical_crossentropy/binary_crossentropy/' three.json > bce.json
run nntrain -j1 -m bce.json tri.bs
check_status "3 classes into binary_crossentropy" 65
check_err "suggests softmax with categorical_crossentropy" "the stream has 3 classes but the loss is binary_crossentropy, which is for two (use a softmax output of 3 units with categorical_crossentropy)"

# The resolved spec in the model file says what was used, as its metadata does.
check "the resolved spec names the default metric and the loss" 'meta three.model spec | py -c "import json,sys; s = json.load(sys.stdin); assert s[\"metrics\"] == [\"accuracy\"] and s[\"loss\"] == \"sparse_categorical_crossentropy\", s"'
check "the same as the metadata" '[ "$(meta three.model metrics)" = "[\"accuracy\"]" ]'

# One frame parser: a model file inside a stream is the same error from a file, a pipe or nneval.
cat tri.bs tri.model > mixed.bs
frames=$(py "$S" dump tri.bs | wc -l)
run nntrain -j1 -m three.json --epochs 2 mixed.bs
check_status "nntrain on a file holding a model file" 65
check_err "names the frame" "mixed.bs: frame $((frames + 1)): is a model file, not a batch stream"
run sh -c 'cat mixed.bs | nntrain -j1 -m three.json -'
check_status "the same from a pipe" 65
check_err "with the same message" "stdin: frame $((frames + 1)): is a model file, not a batch stream"
run nneval -j1 -m tri.model mixed.bs
check_status "and from nneval" 65
check_err "the same words" "mixed.bs: frame $((frames + 1)): is a model file, not a batch stream"

# A class-count mismatch reads the same whichever labels the first batch holds.
cat > two.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 2, "activation": "softmax"}],
 "loss": "sparse_categorical_crossentropy"}
JSON
imglist -q tri | imgprep -q --size 28x28 --color grayscale | batchpack -q -b 8 > tri-sorted.bs
imglist -q tri | tac | imgprep -q --size 28x28 --color grayscale | batchpack -q -b 8 > tri-reversed.bs
run nntrain -j1 -m two.json tri-sorted.bs
check_err "3 classes into 2 outputs, class 0 first" "the stream has 3 classes but the model outputs 2 (set the last Dense layer's units to 3)"
run nntrain -j1 -m two.json tri-reversed.bs
check_err "the same with class 2 first" "the stream has 3 classes but the model outputs 2 (set the last Dense layer's units to 3)"

# One name for one idea: --batch-size everywhere a batch size is set.
run batchpack --batch-size 4 ten.bs
check_status "batchpack --batch-size" 0
check "makes batches of 4" '[ "$(py "$S" dump "$T/out" | grep -o "\"shape\": \[[0-9]*" | head -n 1)" = "\"shape\": [4" ]'
run sh -c 'imglist -q two | imgprep -q --size 28x28 --color grayscale --batch-size 5 | batchpack --info'
check_out "imgprep --batch-size" "batch size: 5"

# Every line on stderr names its tool.
imglist -q two | imgprep -q --size 28x28 --color grayscale | batchpack -q -b 4 > two.bs
nntrain -q -j1 --seed 1 -m tiny.json --epochs 1 -o once.model two.bs
run nntrain -j1 --resume once.model --epochs 1 -o again.model two.bs
check_err "'run is complete' is prefixed" "nntrain: once.model: its run is complete (1 of 1 epochs)"
run nneval -j1 -m once.model two.bs
check_err "nneval's summary is prefixed" "nneval: 20 samples in 5 batches"
