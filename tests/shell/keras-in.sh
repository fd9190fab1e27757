# Models trained in Keras (issue 25): the three trained models of
# ../shared/reference/keras-models/weights run in nnpredict from every format
# given, within 1e-5 of tfjs-layers 4.22 on the same float inputs; --summary
# gives Keras' parameter counts; broken files are refused by name (65); and
# fine-tuning: --init-from (by layer name, --skip-mismatch), --freeze, --unfreeze.
. "$ROOT/tests/shell/lib.sh"
W="$ROOT/../shared/reference/keras-models/weights"
S="$ROOT/tests/shell/stream.py"
FM="/usr/bin/python3 $ROOT/tests/nn/fmnist_stream.py"
check "the reference models are there (../shared/reference/keras-models/weights)" '[ -d "$W/signlang_cnn" ]'

# proof NAME DIR MODEL [options]: every output within 1e-5 of the reference, and Keras' count.
proof() {
    name=$1 dir=$2 model=$3; shift 3
    py "$S" npy "$W/$dir/inputs.npy" > in.bs
    run nnpredict -q --model "$model" "$@" -f stream -o out.bs in.bs
    check_status "$name: nnpredict runs it" 0
    py "$S" max-diff out.bs x "$W/$dir/tfjs_output.npy" > diff.txt
    check "$name: every output within 1e-5 of tfjs-layers 4.22 ($(cat diff.txt))" 'awk "{ exit !(\$1 <= 1e-5) }" diff.txt'
    count=$(py -c "import json; print(f'{json.load(open(\"$W/$dir/tfjs_output.json\"))[\"count_params\"]:,}')")
    run nntrain --model "$model" "$@" --summary
    check_out "$name: --summary gives Keras' count" "Total params: $count"
}
proof "Sequential CNN, Keras 2 .h5" signlang_cnn "$W/signlang_cnn/sign_lang_model.h5"
proof "Sequential CNN, TF.js" signlang_cnn "$W/signlang_cnn/model.json"
proof "Teachable Machine MobileNetV2, TF.js" tm_mobilenetv2 "$W/tm_mobilenetv2/model.json"
proof "mini-Xception, Keras 2.0.5 .h5" fer_mini_xception "$W/fer_mini_xception/fer2013_mini_XCEPTION.102-0.66.hdf5"
proof "mini-Xception, TF.js" fer_mini_xception "$W/fer_mini_xception/derived_tfjs/model.json"

# The same trained weights in the layouts Keras saves them (tests/shell/keras_convert.py
# writes them from the .h5 with h5py and zipfile, following Keras' source).
H="$W/signlang_cnn/sign_lang_model.h5"
for k in "keras3 sign.keras" "weights-only sign.weights-only.h5" "keras3-weights sign.weights.h5" "config sign-config.json"; do
    py "$ROOT/tests/shell/keras_convert.py" "$H" $k
done
proof "Sequential CNN, Keras 3 .keras" signlang_cnn sign.keras
proof "Sequential CNN, Keras 2 save_weights .h5 with its JSON" signlang_cnn sign-config.json --weights sign.weights-only.h5
proof "Sequential CNN, Keras 3 .weights.h5 with its JSON" signlang_cnn sign-config.json --weights sign.weights.h5
run nnpredict -q --model sign.weights.h5 in.bs
check_status "a Keras 3 .weights.h5 alone: 65" 65
check_err "saying it needs the architecture" "--weights"
# An architecture alone where a trained model is wanted: said so, with the two ways on.
for tool in nnpredict nnexport; do
    if [ $tool = nnpredict ]; then run nnpredict -q --model sign-config.json in.bs; else run nnexport sign-config.json -o x.onnx; fi
    check_status "$tool: a model's JSON alone: 65" 65
    check_err "$tool: saying it is an architecture, and what to do" \
        "$tool: sign-config.json: a model's JSON, its architecture alone, not a trained model: train it (nntrain --model sign-config.json -o MODEL) or give its weights (--model sign-config.json --weights FILE)"
done
# IMGPIPE_LOAD_TIME (bench/model_load.sh): a Keras load's reading of the file, its copy into the parameters, and the load.
run env IMGPIPE_LOAD_TIME=1 nnpredict -q --model sign.keras in.bs
check "IMGPIPE_LOAD_TIME: a Keras load's reading of the file, its copy into the parameters, then the whole load" \
    "grep -Eq '^nnpredict: sign.keras: file read in [0-9]+\.[0-9]{4} s\$' '$T/err' && grep -Eq '^nnpredict: sign.keras: weights copied in [0-9]+\.[0-9]{4} s\$' '$T/err' && grep -Eq '^nnpredict: sign.keras: load [0-9]+\.[0-9]{4} s\$' '$T/err'"

# tf.keras 2.6's training_config wraps its metric ({"class_name": "MeanMetricWrapper", "config":
# {"fn": "categorical_accuracy"}}): read as that metric, not left out with a warning.
run nntrain -m "$H" --summary
check "a wrapped Keras 2 metric is read, not left out" '! grep -q "MeanMetricWrapper" "$T/err"'

# Teachable Machine's metadata.json names the classes.
py "$S" npy "$W/tm_mobilenetv2/inputs.npy" > in.bs
run nnpredict -q --model "$W/tm_mobilenetv2/model.json" in.bs
check_status "Teachable Machine: tsv" 0
check "its classes are the labels of metadata.json beside model.json" \
    '[ "$(cut -f2 "$T/out" | sort -u | tr "\n" " ")" != "" ] && cut -f2 "$T/out" | grep -q "마스크"'

# A Keras 2 model's hard_sigmoid is Keras 2's, clip(0.2x + 0.5, 0, 1), where Keras 3's is
# relu6(x + 3) / 6: the Sequential CNN with its dense_2 made hard_sigmoid (model_config
# changed, keras_version 2.6.0 left at the root, as Keras 2 writes it) gives in nnpredict,
# as .h5 and as TF.js, what tfjs-layers gives for the same weights (its hard_sigmoid is
# Keras 2's); the same file saying keras_version 3.1.0 (Keras 3's legacy .h5) does not.
hard_sigmoid_h5() {  # hard_sigmoid_h5 OUT VERSION
    py -c "
import h5py, json, shutil, sys
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], 'r+') as f:
    mc = json.loads(f.attrs['model_config'])
    for l in mc['config']['layers']:
        if l['config']['name'] == 'dense_2': l['config']['activation'] = 'hard_sigmoid'
    f.attrs['model_config'] = json.dumps(mc)
    f.attrs['keras_version'] = sys.argv[3]" "$H" "$1" "$2"
}
hard_sigmoid_h5 hs2.h5 2.6.0
hard_sigmoid_h5 hs3.h5 3.1.0
rm -rf hsjs && py "$W/h5_to_tfjs_layers.py" hs2.h5 hsjs > /dev/null
cp "$W/signlang_cnn/inputs.npy" hs.npy && py "$S" npy hs.npy > in.bs
node "$ROOT/tests/node/tfjs_run.js" hsjs/model.json hs.npy hs-tfjs.npy 2> /dev/null
check "tfjs-layers ran the hard_sigmoid model" '[ -s hs-tfjs.npy ]'
for m in hs2.h5 hsjs/model.json hs3.h5; do
    nnpredict -q --model $m -f stream -o hs.bs in.bs
    py "$S" max-diff hs.bs x hs-tfjs.npy > diff-$(echo $m | tr / _).txt
done
check "hard_sigmoid in a Keras 2 .h5: within 1e-5 of tfjs-layers' ($(cat diff-hs2.h5.txt))" 'awk "{ exit !(\$1 <= 1e-5) }" diff-hs2.h5.txt'
check "hard_sigmoid in TF.js: within 1e-5 of tfjs-layers' ($(cat diff-hsjs_model.json.txt))" 'awk "{ exit !(\$1 <= 1e-5) }" diff-hsjs_model.json.txt'
check "hard_sigmoid in a Keras 3 .h5 is Keras 3's: not tfjs-layers' ($(cat diff-hs3.h5.txt))" 'awk "{ exit !(\$1 > 1e-3) }" diff-hs3.h5.txt'

# Broken files: named, 65, nothing half-written.
head -c 100000 "$W/signlang_cnn/sign_lang_model.h5" > truncated.h5
run nnpredict -q --model truncated.h5 -o never.tsv in.bs
check_status "a truncated .h5: 65" 65
check_err "naming the file" "truncated.h5"
check "and writing nothing" '[ ! -e never.tsv ]'
mkdir -p noshard && cp "$W/signlang_cnn/model.json" noshard/
run nnpredict -q --model noshard/model.json in.bs
check "a TF.js model.json without its shard: 66 (cannot open input)" '[ "$status" -eq 66 ]'
check_err "naming the shard" "group1-shard1of1.bin"
# The architecture disagrees with the weights: the layer and both shapes are named.
py - "$W/signlang_cnn/model.json" > wrong.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["modelTopology"]["model_config"]
m["config"]["layers"][-1]["config"]["units"] = 3
print(json.dumps(m))
PY
run nnpredict -q --model wrong.json --weights "$W/signlang_cnn/sign_lang_model.h5" in.bs
check_status "weights that do not fit the architecture: 65" 65
check_err "naming the layer and both shapes" "(out_layer, Dense): the file's weights are [(128, 10), (10,)], the model's [(128, 3), (3,)]"
# --weights: the same model as its architecture and its weights apart.
py - "$W/signlang_cnn/model.json" > sign.json <<'PY'
import json, sys
print(json.dumps(json.load(open(sys.argv[1]))["modelTopology"]["model_config"]))
PY
py "$S" npy "$W/signlang_cnn/inputs.npy" > sign.bs
run nnpredict -q --model sign.json --weights "$W/signlang_cnn/sign_lang_model.h5" -f stream -o apart.bs sign.bs
check_status "--model SPEC --weights FILE" 0
check "gives the outputs of the whole file" '[ "$(py "$S" max-diff apart.bs x "$W/signlang_cnn/tfjs_output.npy" | awk "{print (\$1 <= 1e-5)}")" = 1 ]'

# Training on from a Keras file, and fine-tuning from one: a new head for 3 classes.
py "$S" make 64 64 64 1 --batch 32 --classes a,b,c > gray3.bs
py - sign-config.json > sign3.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["config"]["layers"][-1]["config"]["units"] = 3
print(json.dumps(m))
PY
run nntrain --model sign3.json --init-from "$H" --skip-mismatch --freeze 'conv2d_*' --epochs 1 -o sign3.model gray3.bs
check_status "--init-from a Keras .h5 into a re-headed model" 0
check_err "loading every layer but the head" "loaded 6 layers: conv2d_1, conv2d_2, conv2d_3, conv2d_4, dense_1, dense_2"
check_err "whose shape differs" "skipped (their shapes differ) 1 layer: out_layer"
run nnpredict -q --model sign3.model gray3.bs
check "the fine-tuned model predicts its 3 classes" '[ "$(cut -f2 "$T/out" | sort -u | tr "\n" " ")" != "" ] && [ $(grep -c . "$T/out") -eq 64 ] && cut -f2 "$T/out" | grep -qx "[abc]"'

# Fine-tuning from our own model file: a 10-class model, re-headed for 3 classes.
cat > base.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "Rescaling", "scale": 0.00392156862745098, "name": "scale"},
  {"type": "Conv2D", "name": "conv_1", "filters": 8, "kernel_size": [3, 3], "use_bias": false},
  {"type": "BatchNormalization", "name": "bn_1"},
  {"type": "Activation", "activation": "relu", "name": "relu_1"},
  {"type": "GlobalAveragePooling2D", "name": "pool"},
  {"type": "Dense", "name": "features", "units": 16, "activation": "relu"},
  {"type": "Dense", "name": "predictions", "units": 10, "activation": "softmax"}],
 "loss": "sparse_categorical_crossentropy"}
JSON
sed 's/"units": 10/"units": 3/; s/"name": "features"/"name": "features_new"/' base.json > head.json
$FM --count 256 --batch 32 > train.bs
run nntrain -q --model base.json --epochs 1 -o base.model train.bs
check_status "a model to start from" 0
run nntrain --model head.json --init-from base.model --summary
check_status "--init-from without --skip-mismatch: a head of another shape is an error" 65
check_err "naming the layer and both shapes" "(predictions, Dense): the file's weights are [(10, 16), (10,)], the model's [(3, 16), (3,)]"
run nntrain --model head.json --init-from base.model --skip-mismatch --summary
check_status "--skip-mismatch" 0
check_err "says what it loaded" "base.model: loaded 2 layers: conv_1, bn_1"
check_err "what it skipped" "skipped (their shapes differ) 1 layer: predictions"
check_err "and what is new" "new (not in the file) 1 layer: features_new"
py "$S" make 96 28 28 1 --batch 32 --classes a,b,c > three.bs
run nntrain -q --model head.json --init-from base.model --skip-mismatch --freeze 'conv_*,bn_*' --epochs 2 -o tuned.model three.bs
check_status "fine-tuning with --freeze" 0
cat > same.py <<'PY'
import json, struct, sys
import numpy as np
def tensors(path):
    d = open(path, "rb").read(); n, = struct.unpack("<Q", d[:8]); h = json.loads(d[8:8 + n]); h.pop("__metadata__")
    return {k: np.frombuffer(d[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], np.float32) for k, v in h.items()}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
print(" ".join(k for k in sys.argv[3:] if np.array_equal(a[k], b[k])))
PY
check "the frozen layers are the pretrained ones, bit for bit (BN statistics too: inference mode)" \
    '[ "$(py same.py base.model tuned.model conv_1.weight bn_1.weight bn_1.bias bn_1.running_mean bn_1.running_var)" = "conv_1.weight bn_1.weight bn_1.bias bn_1.running_mean bn_1.running_var" ]'
run nntrain --model head.json --freeze 'conv_*,bn_*' --summary
check_out "--freeze: Keras' non-trainable count (conv 72 + bn 32)" "Non-trainable params: 104"
run nntrain --model head.json --freeze '*' --unfreeze 'predictions' --summary
check_out "--unfreeze after --freeze: only the head trains (16x3 + 3)" "Trainable params: 51"
run nntrain --model head.json --freeze 'cnov_*' --summary
check_status "a pattern that matches no layer: 64" 64
check_err "naming it" "--freeze 'cnov_*': no layer of the model is named so"
run nntrain --model head.json --skip-mismatch --summary
check_status "--skip-mismatch alone: 64" 64
