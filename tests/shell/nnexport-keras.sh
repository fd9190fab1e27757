# nnexport to Keras 3 .keras, Keras 2 .h5 and TF.js Layers (issue 27): every
# example model (trained one epoch on 8 real images) and the Keras reference
# models, exported, read back by our loaders with outputs identical to the
# source's, weights identical (an independent reader, keras_export_check.py:
# h5py, zipfile, json, also checking Keras' layout facts), and TF.js run by
# tfjs-layers 4.22 (tests/node/tfjs_run.js) within 1e-5 of nnpredict.
# Refusals are named (65) and leave no file; -o - gives a file's bytes.
. "$ROOT/tests/shell/lib.sh"
W="$ROOT/../shared/reference/keras-models/weights"
S="$ROOT/tests/shell/stream.py"
C="$ROOT/tests/shell/keras_export_check.py"
[ -d "$ROOT/tests/node/node_modules/@tensorflow/tfjs" ] || make -C "$ROOT" -s node-deps > /dev/null
check "the reference models are there (../shared/reference/keras-models/weights)" '[ -d "$W/signlang_cnn" ]'
check "@tensorflow/tfjs is installed (make node-deps)" '[ -d "$ROOT/tests/node/node_modules/@tensorflow/tfjs" ]'

# fixture KIND H W C: train.bs (8 real photographs of the reference folders,
# resized) with targets of KIND (sparse:K, input, input-f32, mask:K), and in.npy /
# in.bs (4 others) to predict.
cat > fixture.py <<'PY'
import glob, json, sys
import numpy as np
from PIL import Image
sys.path.insert(0, sys.argv[1])
import stream
root, kind, h, w, c = sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7])
files = sorted(glob.glob(root + "/*/input_*.png"))[:12]
x = np.array([np.asarray(Image.open(f).convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)).reshape(h, w, c)
              for f in files], np.uint8)
f32 = kind.endswith("f32")
xs = x.astype(np.float32) / 255 if f32 else x
meta = {"format": "batchstream/1", "paths": json.dumps(files[:8]), "epoch": "0", "index": "0", "epoch_size": "8"}
t = {"x": xs[:8]}
if kind.startswith("sparse") or kind.startswith("mask"):
    k = int(kind.split(":")[1])
    meta["classes"] = json.dumps(["class%d" % i for i in range(k)])
    if kind.startswith("sparse"):
        meta["class_mode"] = "sparse"
        t["y"] = np.arange(8, dtype=np.int32) % k
    else:
        meta["class_mode"] = "mask"
        t["y"] = (x[:8, :, :, :1] // (256 // k)).astype(np.uint8)
else:
    meta["class_mode"] = "input"
    t["y"] = xs[:8]
stream.write_frame(open("train.bs", "wb"), t, meta)
np.save("in.npy", np.ascontiguousarray(xs[8:12]))
stream.write_frame(open("in.bs", "wb"), {"x": np.ascontiguousarray(xs[8:12])},
                   {"format": "batchstream/1", "class_mode": "none", "paths": json.dumps(files[8:12]), "epoch": "0",
                    "index": "0", "epoch_size": "4"})
PY
fixture() { py fixture.py "$ROOT/tests/shell" "$W" "$@"; }

# compare REF.bs TOL OUT...: "OUT DIFF" per output (a stream's x, or an .npy):
# the largest |output - REF's|.
compare() { py -c "
import sys; sys.path.insert(0, '$ROOT/tests/shell'); import stream, numpy as np
def load(p):
    return np.load(p) if p.endswith('.npy') else np.concatenate([t['x'] for t, _ in stream.read_frames(open(p, 'rb'))])
ref = load(sys.argv[1]).astype(np.float64)
for p in sys.argv[2:]:
    try:
        a = load(p).astype(np.float64)
        print(p, '%.3g' % np.abs(a - ref).max() if a.shape == ref.shape else 'shape')
    except Exception as e:
        print(p, 'missing')" "$@" > diffs.txt; }
# within FILE TOL: the line of FILE in diffs.txt says at most TOL.
# member ZIP NAME: one member's bytes (Python's zipfile: unzip is not in a minimal Debian).
member() { py -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' "$1" "$2"; }
within() { awk -v f="$1" -v t="$2" '$1 == f { found = 1; ok = ($2 + 0 == $2 && $2 <= t) } END { exit !(found && ok) }' diffs.txt; }
diff_of() { awk -v f="$1" '$1 == f { print $2 }' diffs.txt; }

# proof LABEL SOURCE [TOL]: SOURCE (a model file or a Keras file) exported as
# .keras, .h5 and TF.js; each checked as the header says, on in.bs / in.npy. The
# weights must be the source's exactly (the layout check); read back, the outputs
# within 1e-6: a Keras-loaded Dense keeps Keras' [in, out] kernel (doc/design.md,
# "Keras files in"), so BLAS sums in another order (1.5e-8 seen); or within TOL
# where a Lambda became a Rescaling (x/255. against x * (1/255.): float rounding, in Keras too).
proof() {
    label=$1 src=$2 tol=${3:-1e-6}
    run nnpredict -q --model "$src" -f stream -o ref.bs in.bs
    check_status "$label: nnpredict runs the source" 0
    rm -rf out.keras out.h5 js got.*.bs js.npy
    for out in out.keras out.h5 js/; do
        run nnexport "$src" -o $out
        check_status "$label: exported to $out" 0
    done
    py "$C" "$src" out.keras out.h5 js/model.json > layout.txt 2>&1
    for out in out.keras out.h5 js/model.json; do
        check "$label $out: Keras' layout and the source's weights, exactly ($(grep "$out" layout.txt | head -c 200))" \
            "grep -q '^$out: ok' layout.txt"
    done
    for ext in keras h5; do nnpredict -q --model out.$ext -f stream -o got.$ext.bs in.bs; done
    node "$ROOT/tests/node/tfjs_run.js" js/model.json in.npy js.npy 2> js.err
    compare ref.bs got.keras.bs got.h5.bs js.npy
    for ext in keras h5; do
        check "$label .$ext: read back by our loader, outputs within $tol of the source's ($(diff_of got.$ext.bs))" "within got.$ext.bs $tol"
    done
    check "$label TF.js: tfjs-layers 4.22 within 1e-5 of nnpredict ($(diff_of js.npy); $(grep -v '^=*$\|Hi, looks\|^$' js.err | head -n 2))" \
        "within js.npy 1e-5"
}

E="$ROOT/examples"
while read -r spec kind h w c tol; do
    fixture "$kind" "$h" "$w" "$c"
    run nntrain -q -j1 --model "$E/$spec" --epochs 1 --seed 1 -o model.model train.bs
    check_status "$spec: trained one epoch on 8 images" 0
    proof "$spec" model.model "$tol"
done <<'EOF'
models/fashion-mnist.json sparse:10 28 28 1 1e-6
models/fashion-mnist-tuned.json sparse:10 28 28 1
models/fashion-mnist-resnet.json sparse:10 28 28 1
models/cats-dogs.json sparse:2 64 64 3 1e-6
models/cats-dogs.keras2.json sparse:2 64 64 3 1e-6
models/three-classes.json sparse:3 64 64 3 1e-6
models/face-autoencoder.json input 64 64 3 1e-6
faces/autoencoder.json input-f32 32 32 1
faces/unet.json input-f32 32 32 1
segmentation/unet.json mask:4 64 64 3
EOF

# The Keras reference models: nnexport reads them too, and writes them back out.
while read -r dir file; do
    cp "$W/$dir/inputs.npy" in.npy && py "$S" npy in.npy > in.bs
    proof "$dir" "$W/$dir/$file"
done <<'EOF2'
signlang_cnn sign_lang_model.h5
fer_mini_xception fer2013_mini_XCEPTION.102-0.66.hdf5
tm_mobilenetv2 model.json
EOF2

# The independent reader can fail: one weight changed in an exported file.
nnexport "$W/signlang_cnn/sign_lang_model.h5" -o sign.h5 2> /dev/null
py -c "
import h5py; f = h5py.File('sign.h5', 'r+'); d = f['model_weights/dense_1/dense_1/bias:0']; v = d[()]; v[0] += 1e-3; d[...] = v"
run py "$C" "$W/signlang_cnn/sign_lang_model.h5" sign.h5
check "the checker sees one changed weight" '[ "$status" -ne 0 ] && grep -q "dense_1: bias differs" "$T/err"'

# -o - with --format: the file's bytes (the same model gives the same bytes).
for f in keras h5; do
    nnexport "$W/signlang_cnn/sign_lang_model.h5" -o "sign.$f" 2> /dev/null
    run nnexport "$W/signlang_cnn/sign_lang_model.h5" --format $f -o -
    check "-o - --format $f: the same bytes as -o sign.$f" '[ "$status" -eq 0 ] && cmp -s "$T/out" "sign.$f"'
done
run nnexport "$W/signlang_cnn/sign_lang_model.h5" --format tfjs -o -
check_status "-o - --format tfjs: a usage error (several files)" 64
check_err "saying what to give instead" "give a folder or a model.json path"

# Every layer type in one graph (a shared layer called twice, every merge), trained
# one epoch: .keras and .h5 round trip exactly; TF.js leaves out what is the identity
# in inference (Random*, dropout, a Flatten of a flat input) and refuses the rest by name.
cat > every.json <<'JSON'
{"name": "every_layer", "input_shape": [16, 16, 3], "layers": [
  {"type": "InputLayer", "name": "pixels", "shape": [16, 16, 3]},
  {"type": "Lambda", "name": "scale", "function": "(x-127.5)/127.5"},
  {"type": "RandomFlip", "name": "flip", "mode": "horizontal"},
  {"type": "RandomTranslation", "name": "shift", "height_factor": 0.1, "width_factor": 0.1},
  {"type": "RandomRotation", "name": "turn", "factor": 0.05},
  {"type": "RandomZoom", "name": "zoom", "height_factor": 0.1},
  {"type": "Normalization", "name": "norm", "mean": [0.1, 0.0, -0.1], "variance": [0.5, 0.6, 0.7]},
  {"type": "Conv2D", "name": "c1", "filters": 8, "kernel_size": [3, 3], "padding": "same", "activation": "relu",
   "kernel_initializer": "he_normal", "kernel_regularizer": {"l2": 0.0001}},
  {"type": "BatchNormalization", "name": "bn1"},
  {"type": "Conv2D", "name": "grouped", "filters": 8, "kernel_size": [3, 3], "padding": "same", "groups": 2,
   "dilation_rate": 2, "activation": "swish"},
  {"type": "DepthwiseConv2D", "name": "dw", "kernel_size": [3, 3], "padding": "same", "depth_multiplier": 2, "activation": "elu"},
  {"type": "SeparableConv2D", "name": "sep", "filters": 8, "kernel_size": [3, 3], "padding": "same", "activation": "gelu"},
  {"type": "PReLU", "name": "prelu", "shared_axes": [1, 2]},
  {"type": "ReLU", "name": "relu_capped", "max_value": 6.0},
  {"type": "LeakyReLU", "name": "leaky", "negative_slope": 0.1},
  {"type": "Add", "name": "add", "inputs": ["leaky", "c1"]},
  {"type": "Subtract", "name": "sub", "inputs": ["add", "bn1"]},
  {"type": "Multiply", "name": "mul", "inputs": ["sub", "bn1"]},
  {"type": "Average", "name": "avg", "inputs": ["mul", "add"]},
  {"type": "Maximum", "name": "max", "inputs": ["avg", "sub"]},
  {"type": "Minimum", "name": "min", "inputs": ["max", "mul"]},
  {"type": "Conv2D", "name": "shared", "filters": 8, "kernel_size": [1, 1], "activation": "tanh", "inputs": "min"},
  {"call": "shared", "inputs": "avg"},
  {"type": "Concatenate", "name": "cat", "inputs": ["shared", "shared[1]"]},
  {"type": "SpatialDropout2D", "name": "sdrop", "rate": 0.1},
  {"type": "MaxPooling2D", "name": "mp", "pool_size": [2, 2]},
  {"type": "ZeroPadding2D", "name": "zp", "padding": [[1, 0], [0, 1]]},
  {"type": "Cropping2D", "name": "crop", "cropping": [[1, 0], [0, 1]]},
  {"type": "AveragePooling2D", "name": "ap", "pool_size": [3, 3], "strides": [1, 1], "padding": "same"},
  {"type": "Conv2DTranspose", "name": "up", "filters": 6, "kernel_size": [3, 3], "strides": 2, "padding": "same", "activation": "sigmoid"},
  {"type": "UpSampling2D", "name": "us", "size": [2, 2]},
  {"type": "MaxPooling2D", "name": "mp2", "pool_size": [4, 4]},
  {"type": "Activation", "name": "act", "activation": "softplus"},
  {"type": "Reshape", "name": "reshape", "target_shape": [8, 8, 6]},
  {"type": "GlobalAveragePooling2D", "name": "gap"},
  {"type": "Dropout", "name": "drop", "rate": 0.2},
  {"type": "Dense", "name": "d1", "units": 12, "activation": "selu"},
  {"type": "Reshape", "name": "r2", "target_shape": [2, 2, 3]},
  {"type": "GlobalMaxPooling2D", "name": "gmp"},
  {"type": "Flatten", "name": "flat"},
  {"type": "Rescaling", "name": "resc", "scale": 2.0, "offset": 0.5},
  {"type": "Dense", "name": "logits", "units": 3},
  {"type": "Softmax", "name": "probs"}],
 "loss": "sparse_categorical_crossentropy"}
JSON
fixture sparse:3 16 16 3
nntrain -q -j1 --model every.json --epochs 1 --seed 1 -o every.model train.bs
run nnpredict -q --model every.model -f stream -o ref.bs in.bs
for ext in keras h5; do
    run nnexport every.model -o every.$ext
    check_status "every layer type: exported as .$ext" 0
    run py "$C" every.model every.$ext
    check "every layer type .$ext: layout and weights ($(cat "$T/out" "$T/err" | head -c 200))" '[ "$status" -eq 0 ]'
    nnpredict -q --model every.$ext -f stream -o got.$ext.bs in.bs
done
compare ref.bs got.keras.bs got.h5.bs
for ext in keras h5; do
    check "every layer type .$ext: read back, the same outputs ($(diff_of got.$ext.bs))" "within got.$ext.bs 0"
done
check "the .keras names the shared layer's second call (node index 1)" \
    "member every.keras config.json | grep -q '\"keras_history\":\[\"shared\",1,0\]'"
check "the .h5 names it the Keras 2 way" \
    "py -c \"import h5py; m = h5py.File('every.h5').attrs['model_config']; print(m if isinstance(m, str) else m.decode())\" | grep -q '\[\"shared\",1,0,{}\]'"
run nnexport every.model -o every-js/
check_status "TF.js: Normalization refused" 65
check_err "by name, with the reason" "nnexport: every.model: layer 'norm' (Normalization): tfjs-layers 4.22 has no Normalization layer"
check "a failed export leaves no file" '[ ! -e every-js/model.json ] && [ -z "$(ls every-js 2> /dev/null)" ]'
# Without what tfjs lacks (Normalization, Subtract, groups), the same graph runs in tfjs.
py -c "
import json; s = json.load(open('every.json'))
s['layers'] = [dict(l, type='Add') if l.get('name') == 'sub' else {k: v for k, v in l.items() if k != 'groups'}
               for l in s['layers'] if l.get('name') != 'norm']
json.dump(s, open('every-tfjs.json', 'w'))"
nntrain -q -j1 --model every-tfjs.json --epochs 1 --seed 1 -o every-tfjs.model train.bs
proof "every layer type tfjs loads" every-tfjs.model
check "TF.js leaves out Random*, dropout and the Flatten of a flat input" \
    "! grep -Eq '\"(RandomFlip|RandomTranslation|RandomRotation|RandomZoom|Dropout|SpatialDropout2D|Flatten)\"' js/model.json && grep -q '\"Rescaling\"' js/model.json"

# Refusals: each named, 65, no file. One model trained once; each case changes
# one layer of its spec (the weights stay valid): that layer is the first refused.
cat > base.json <<'JSON'
{"input_shape": [4, 4, 1], "layers": [
  {"type": "Lambda", "name": "lam", "function": "x/255."},
  {"type": "Activation", "name": "act", "activation": "relu"},
  {"type": "Conv2D", "name": "a", "filters": 2, "kernel_size": 1, "activation": "relu"},
  {"type": "UpSampling2D", "name": "up"},
  {"type": "Conv2D", "name": "b", "filters": 2, "kernel_size": 1},
  {"type": "Add", "name": "merge", "inputs": ["up", "b"]},
  {"type": "Conv2D", "name": "g", "filters": 2, "kernel_size": 1, "groups": 2},
  {"type": "Flatten"}, {"type": "Dense", "units": 2, "activation": "softmax"}]}
JSON
fixture sparse:2 4 4 1
nntrain -q -j1 --model base.json --epochs 1 -o base.model train.bs
# refuse LABEL LAYER KEY VALUE OUTPUT MESSAGE: base.model with LAYER's KEY set to VALUE (JSON), exported to OUTPUT.
refuse() {
    py -c "
import json, sys; sys.path.insert(0, '$ROOT/tests/shell'); import stream
(t, meta), = stream.read_frames(open('base.model', 'rb'))
spec = json.loads(meta['spec'])
for l in spec['layers']:
    if l.get('name') == sys.argv[1]: l[sys.argv[2]] = json.loads(sys.argv[3])
meta['spec'] = json.dumps(spec)
stream.write_frame(open('refuse.model', 'wb'), t, meta)" "$2" "$3" "$4"
    rm -rf "$5"
    run nnexport refuse.model -o "$5"
    check_status "$1: refused, 65" 65
    check_err "$1: by name, with the reason" "$6"
    target=$5
    check "$1: no file left" '[ ! -e "$target" ]'
}
refuse "the base model in TF.js: groups" g groups 2 out/ "nnexport: refuse.model: layer 'g' (Conv2D): tfjs-layers 4.22's Conv2D has no groups"
refuse "a Lambda that is no Rescaling (.keras)" lam function '"x**2/65025."' out.keras \
    "nnexport: refuse.model: layer 'lam' (Lambda): \"x**2/65025.\" is not x * scale + offset, and Keras stores a Lambda as Python bytecode"
refuse "the same in .h5" lam function '"x**2/65025."' out.h5 "layer 'lam' (Lambda): \"x**2/65025.\" is not x * scale + offset"
refuse "the same in TF.js" lam function '"x**2/65025."' out/ "layer 'lam' (Lambda): \"x**2/65025.\" is not x * scale + offset"
refuse "hard_sigmoid in .h5 (Keras 2's is another)" act activation '"hard_sigmoid"' out.h5 \
    "layer 'act' (Activation): Keras 2's hard_sigmoid is max(0, min(1, 0.2x + 0.5)) (keras2_hard_sigmoid), ours Keras 3's relu6(x + 3) / 6"
refuse "hard_sigmoid in TF.js" act activation '"hard_sigmoid"' out/ "layer 'act' (Activation): activation hard_sigmoid: tfjs-layers' hard_sigmoid is Keras 2's"
refuse "keras2_hard_sigmoid in .keras" act activation '"keras2_hard_sigmoid"' out.keras \
    "layer 'act' (Activation): Keras 3 has no activation max(0, min(1, 0.2x + 0.5)) (Keras 2's hard_sigmoid); export it as .h5 or TF.js"
refuse "leaky_relu in .h5" a activation '"leaky_relu"' out.h5 "layer 'a' (Conv2D): Keras 2 has no leaky_relu activation"
refuse "leaky_relu in TF.js" a activation '"leaky_relu"' out/ "layer 'a' (Conv2D): activation leaky_relu: tfjs-layers 4.22 has no such activation"
refuse "bilinear UpSampling2D in TF.js" up interpolation '"bilinear"' out/ "layer 'up' (UpSampling2D): tfjs-layers 4.22 resizes bilinearly"
refuse "Subtract in TF.js" merge type '"Subtract"' out/model.json "layer 'merge' (Subtract): tfjs-layers 4.22 has no Subtract layer"
run nnexport refuse.model -o out.keras
check "what TF.js refuses, .keras takes (Subtract, groups)" '[ "$status" -eq 0 ] && [ -s out.keras ]'

# Keras 2's and tfjs-layers' hard_sigmoid, clip(0.2x + 0.5, 0, 1) (keras2_hard_sigmoid: what a
# Keras 2 or TF.js model's hard_sigmoid is read as), goes to .h5 and TF.js as "hard_sigmoid":
# read back with the same outputs, and run by tfjs-layers within 1e-5 of nnpredict.
cat > hs.json <<'JSON'
{"input_shape": [4, 4, 1], "layers": [
  {"type": "Rescaling", "name": "resc", "scale": 0.05, "offset": -6},
  {"type": "Conv2D", "name": "c", "filters": 3, "kernel_size": 1, "activation": "keras2_hard_sigmoid"},
  {"type": "Activation", "name": "act", "activation": "keras2_hard_sigmoid"},
  {"type": "Flatten"}, {"type": "Dense", "units": 2, "activation": "softmax"}]}
JSON
nntrain -q -j1 --model hs.json --epochs 1 -o hs.model train.bs
rm -rf hs.h5 hsjs
nnpredict -q --model hs.model -f stream -o ref.bs in.bs
for out in hs.h5 hsjs/; do
    run nnexport hs.model -o $out
    check_status "keras2_hard_sigmoid to $out" 0
done
py -c "
import h5py, json
def acts(o):
    if isinstance(o, dict):
        return ([o['activation']] if 'activation' in o else []) + [a for v in o.values() for a in acts(v)]
    return [a for v in o for a in acts(v)] if isinstance(o, list) else []
print(' '.join(acts(json.loads(h5py.File('hs.h5', 'r').attrs['model_config'])) + ['/'] +
               acts(json.load(open('hsjs/model.json'))['modelTopology'])))" > acts.txt 2>&1
check "written as Keras 2's hard_sigmoid in both ($(cat acts.txt))" \
    '[ "$(cat acts.txt)" = "hard_sigmoid hard_sigmoid softmax / hard_sigmoid hard_sigmoid softmax" ]'
for m in hs.h5 hsjs/model.json; do nnpredict -q --model $m -f stream -o got.$(basename $m).bs in.bs; done
node "$ROOT/tests/node/tfjs_run.js" hsjs/model.json in.npy js.npy 2> js.err
compare ref.bs got.hs.h5.bs got.model.json.bs js.npy
check "keras2_hard_sigmoid .h5 read back: outputs within 1e-6 ($(diff_of got.hs.h5.bs))" "within got.hs.h5.bs 1e-6"
check "keras2_hard_sigmoid TF.js read back: outputs within 1e-6 ($(diff_of got.model.json.bs))" "within got.model.json.bs 1e-6"
check "keras2_hard_sigmoid TF.js: tfjs-layers 4.22 within 1e-5 of nnpredict ($(diff_of js.npy))" "within js.npy 1e-5"

# compile_config: the loss, metrics and optimizer (a schedule too) in Keras 3's form,
# read back by our loader (a second export gives the same); null where a part has
# no Keras name that means ours (dice).
spec_top() {  # spec_top KEY JSON OUT: base.model with the spec's KEY set (the loss is the file's too)
    py -c "
import json, sys; sys.path.insert(0, '$ROOT/tests/shell'); import stream
(t, meta), = stream.read_frames(open('base.model', 'rb'))
spec = json.loads(meta['spec']); spec[sys.argv[1]] = json.loads(sys.argv[2]); meta['spec'] = json.dumps(spec)
if sys.argv[1] == 'loss': meta['loss'] = spec['loss']
stream.write_frame(open(sys.argv[3], 'wb'), t, meta)" "$@"
}
compile_of() { member "$1" config.json | py -c "import json, sys; print(json.dumps(json.load(sys.stdin)['compile_config'], sort_keys=True))"; }
spec_top optimizer '{"type": "sgd", "momentum": 0.9, "nesterov": true, "learning_rate": {"type": "ExponentialDecay", "initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.5}}' sgd.model
nnexport -q sgd.model -o sgd.keras && nnexport -q sgd.keras -o sgd2.keras
compile_of sgd.keras > cc1.txt; compile_of sgd2.keras > cc2.txt
check "compile_config: Keras 3's SGD with its ExponentialDecay, and the loss" \
    "grep -q '\"class_name\": \"SGD\"' cc1.txt && grep -q '\"class_name\": \"ExponentialDecay\"' cc1.txt && grep -q '\"nesterov\": true' cc1.txt && grep -q '\"loss\": \"categorical_crossentropy\"' cc1.txt"
check "our loader reads it back: a second export writes the same compile_config" 'cmp -s cc1.txt cc2.txt'
spec_top loss '"dice"' dice.model
nnexport -q dice.model -o dice.keras
check "compile_config null for a loss Keras has not (dice)" '[ "$(compile_of dice.keras)" = null ]'

# A model of 1203 layers with long names: layer_names above 64512 bytes is split as
# Keras splits it (layer_names0, layer_names1, array_split's sizes), and a
# model_config of 400 KB is stored as h5py stores Python bytes (variable-length).
py -c "
import json
L = [{'type': 'Activation', 'name': 'a_rather_long_layer_name_to_fill_keras_layer_names_attribute_%04d' % i,
      'activation': 'linear'} for i in range(1199)]
json.dump({'input_shape': [4, 4, 1], 'layers': [{'type': 'Rescaling', 'scale': 0.00392156862745098}] + L +
           [{'type': 'Flatten'}, {'type': 'Dense', 'units': 2, 'activation': 'softmax'}]}, open('many.json', 'w'))"
nntrain -q -j1 --model many.json --epochs 1 -o many.model train.bs
run nnexport many.model -o many.h5
check_status "1203 layers: exported as .h5" 0
check "layer_names split in two: 602 and 601 names of 65 bytes" "py -c \"
import h5py; a = h5py.File('many.h5')['model_weights'].attrs
assert 'layer_names' not in a and [(a[k].shape, a[k].dtype.str) for k in ('layer_names0', 'layer_names1')] == [((602,), '|S65'), ((601,), '|S65')]
assert 'layer_names2' not in a\""
run py "$C" many.model many.h5
check "1203 layers: Keras' layout and the weights ($(cat "$T/out" "$T/err" | head -c 200))" '[ "$status" -eq 0 ]'
nnpredict -q --model many.model -f stream -o ref.bs in.bs
nnpredict -q --model many.h5 -f stream -o got.bs in.bs
check "1203 layers: read back by our loader, the same outputs" 'cmp -s ref.bs got.bs'
