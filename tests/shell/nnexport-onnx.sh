# nnexport's ONNX files (issue 27): onnxruntime (onnxruntime-node 1.20.1, `make node-deps`)
# runs every exported model within 1e-5 of `nnpredict -f stream` on the same inputs: every
# example model, the four functional references of ../shared/reference/keras-models, and
# models of every layer type, activation and Lambda function, with U8 and F32 inputs, at
# opsets 17 and 13; the three models trained in Keras give tfjs-layers' reference outputs;
# Debian's python3-onnx checker accepts each file; the metadata; `-o -`;
# a failed export leaves no file.
. "$ROOT/tests/shell/lib.sh"
ORT="$ROOT/tests/node/ort_run.js"
S="$ROOT/tests/shell/stream.py"
REF="$ROOT/../shared/reference/keras-models/functional"
check "onnxruntime-node is installed (make node-deps)" '[ -d "$ROOT/tests/node/node_modules/onnxruntime-node" ]'
check "the functional references are there (../shared/reference/keras-models/functional)" '[ -f "$REF/unet_weeds_keras3.json" ]'

# gen.py OUT N SHAPE DTYPE MODE K SEED: a one-frame stream of random x (U8 or F32 in
# [0, 1)), shape "h,w,c" or "k"; y by MODE: sparse (K classes), input (y = x), mask
# (U8 masks of K classes), raw (K numbers), none. Also writes OUT.npy, its x.
cat > gen.py <<'PY'
import json, struct, sys
import numpy as np
out, n, shape, dtype, mode, k, seed = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3].split(",")], sys.argv[4], sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
rng = np.random.RandomState(seed)
x = rng.randint(0, 256, [n] + shape).astype(np.uint8) if dtype == "U8" else rng.rand(*([n] + shape)).astype(np.float32)
meta = {"format": "batchstream/1", "paths": json.dumps(["s%d.png" % i for i in range(n)]), "epoch": "0", "index": "0",
        "epoch_size": str(n), "class_mode": mode}
tensors = {"x": x}
classes = json.dumps(["c%d" % i for i in range(k)])
if mode == "sparse": tensors["y"] = (np.arange(n) % k).astype(np.int32); meta["classes"] = classes
elif mode == "input": tensors["y"] = x
elif mode == "raw": tensors["y"] = rng.rand(n, k).astype(np.float32); meta["targets"] = json.dumps(["t%d" % i for i in range(k)])
elif mode == "mask": tensors["y"] = rng.randint(0, k, [n] + shape[:2] + [1]).astype(np.uint8); meta["classes"] = classes
header, blobs, offset = {}, [], 0
for name, a in tensors.items():
    raw = np.ascontiguousarray(a).tobytes()
    header[name] = {"dtype": {np.uint8: "U8", np.int32: "I32", np.float32: "F32"}[a.dtype.type], "shape": list(a.shape),
                    "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw); offset += len(raw)
header["__metadata__"] = meta
h = json.dumps(header).encode(); h += b" " * (-len(h) % 8)
with open(out, "wb") as f: f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
np.save(out + ".npy", x)
PY
# perturb.py MODEL: what training leaves near its start (biases, BatchNormalization's
# statistics and scales, PReLU's alphas) made far from it, so that a wrong mapping shows.
cat > perturb.py <<'PY'
import json, struct, sys
import numpy as np
path = sys.argv[1]
d = bytearray(open(path, "rb").read()); n, = struct.unpack("<Q", d[:8]); h = json.loads(d[8:8 + n])
rng = np.random.RandomState(3)
for name, t in h.items():
    if name == "__metadata__" or name.startswith("optimizer") or t["dtype"] != "F32": continue
    a, b = t["data_offsets"]; shape = t["shape"]
    if name.endswith(".running_var") or (name.endswith(".weight") and len(shape) == 1): v = rng.uniform(0.5, 1.5, shape)
    elif name.endswith(".bias") or name.endswith(".running_mean"): v = rng.normal(0, 0.1, shape)
    elif name.endswith(".alpha"): v = rng.uniform(0.05, 0.5, shape)
    else: continue
    d[8 + n + a:8 + n + b] = v.astype(np.float32).tobytes()
open(path, "wb").write(bytes(d))
PY

# prove NAME SPEC SHAPE DTYPE MODE K [N [OPSETS]]: trained 1 step on a tiny random stream,
# perturbed, exported at OPSETS (default 17 and 13); onnxruntime's outputs within 1e-5 of
# nnpredict's.
models=0
prove() {
    label=$1 spec=$2 shape=$3 dtype=$4 mode=$5 k=$6 n=${7:-3} opsets=${8:-17 13}
    models=$((models + 1)); m=m$models
    py gen.py $m.train.bs 2 "$shape" "$dtype" "$mode" "$k" 1
    run nntrain -q -j 2 -m "$spec" --epochs 1 -o $m.model $m.train.bs
    check_status "$label: trains" 0
    [ "$status" -eq 0 ] || return 0
    py perturb.py $m.model
    py gen.py $m.in.bs "$n" "$shape" "$dtype" none 0 2
    run nnpredict -q -j 2 -m $m.model -f stream -o $m.pred.bs $m.in.bs
    check_status "$label: nnpredict runs it" 0
    for opset in $opsets; do
        run nnexport $m.model --opset $opset -o $m.$opset.onnx
        check_status "$label: exported (opset $opset)" 0
        run node "$ORT" $m.$opset.onnx $m.in.bs.npy $m.$opset.out.npy
        check_status "$label: onnxruntime runs it (opset $opset)" 0
        py "$S" max-diff $m.pred.bs x $m.$opset.out.npy > diff.txt 2>&1
        check "$label: within 1e-5 of nnpredict, $dtype input (opset $opset: $(cat diff.txt))" 'awk "{ exit !(\$1 <= 1e-5) }" diff.txt'
    done
}

# The example models, on bytes, as the examples' streams give them.
for spec in cats-dogs.json cats-dogs.keras2.json three-classes.json; do
    prove "examples/models/$spec" "$ROOT/examples/models/$spec" 64,64,3 U8 sparse $([ $spec = three-classes.json ] && echo 3 || echo 2)
done
prove "examples/models/face-autoencoder.json" "$ROOT/examples/models/face-autoencoder.json" 64,64,3 U8 input 0
for spec in fashion-mnist.json fashion-mnist-tuned.json fashion-mnist-resnet.json; do
    prove "examples/models/$spec" "$ROOT/examples/models/$spec" 28,28,1 U8 sparse 10
done
prove "examples/faces/autoencoder.json" "$ROOT/examples/faces/autoencoder.json" 32,32,1 U8 input 0
prove "examples/faces/unet.json" "$ROOT/examples/faces/unet.json" 32,32,1 U8 input 0
prove "examples/segmentation/unet.json" "$ROOT/examples/segmentation/unet.json" 64,64,3 U8 mask 4

# The functional references (Keras' own architectures), on floats, two samples; opset 17
# (the large inputs cost time, and the opsets' graphs differ in no operator).
prove "functional: resnet_malaria_keras2" "$REF/resnet_malaria_keras2.json" 64,64,3 F32 sparse 2 2 17
prove "functional: mobilenetv2_monkeypox_keras2" "$REF/mobilenetv2_monkeypox_keras2.json" 224,224,3 F32 sparse 2 2 17
prove "functional: unet256_tfjs_keras2" "$REF/unet256_tfjs_keras2.json" 256,256,3 F32 mask 2 2 17
prove "functional: unet_weeds_keras3" "$REF/unet_weeds_keras3.json" 360,480,3 F32 mask 2 2 17

# Models trained in Keras (../shared/reference/keras-models/weights), exported from Keras'
# own files: onnxruntime gives tfjs-layers 4.22's reference outputs within 1e-5, a check
# that goes through neither nnpredict nor our engine.
W="$ROOT/../shared/reference/keras-models/weights"
for m in signlang_cnn/sign_lang_model.h5 tm_mobilenetv2/model.json fer_mini_xception/fer2013_mini_XCEPTION.102-0.66.hdf5; do
    d=$(dirname $m)
    run nnexport "$W/$m" -o $d.onnx
    check_status "Keras' $m: exported" 0
    run node "$ORT" $d.onnx "$W/$d/inputs.npy" $d.out.npy
    py -c "import numpy as np; a = np.load('$d.out.npy'); print(float(np.abs(a - np.load('$W/$d/tfjs_output.npy').reshape(a.shape)).max()))" > diff.txt 2>&1
    check "Keras' $m: onnxruntime within 1e-5 of tfjs-layers' reference ($(cat diff.txt))" 'awk "{ exit !(\$1 <= 1e-5) }" diff.txt'
done

# Every layer type (Dropout, SpatialDropout2D and the Random* layers are left out, as in
# inference), every activation, every Lambda function, a shared layer; odd sizes, so that
# "same" padding puts its odd pixel at the bottom/right.
cat > zoo.json <<'JSON'
{"name": "zoo", "input_shape": [9, 9, 3], "layers": [
 {"type": "Normalization", "name": "norm", "mean": [0.5, 0.4, 0.3], "variance": [0.09, 0.04, 0.16]},
 {"type": "Rescaling", "name": "resc", "scale": 0.5, "offset": 0.1},
 {"type": "RandomFlip", "name": "flip"},
 {"type": "RandomTranslation", "name": "shift", "height_factor": 0.1, "width_factor": 0.1},
 {"type": "RandomRotation", "name": "turn", "factor": 0.1},
 {"type": "RandomZoom", "name": "zoom", "height_factor": 0.1},
 {"type": "Conv2D", "name": "c1", "filters": 4, "kernel_size": [3, 3], "strides": 2, "padding": "same", "activation": "elu"},
 {"type": "Conv2D", "name": "c2", "filters": 4, "kernel_size": [3, 3], "dilation_rate": 2, "groups": 2, "padding": "same", "activation": "gelu"},
 {"type": "DepthwiseConv2D", "name": "dw", "kernel_size": [3, 3], "depth_multiplier": 2, "padding": "same", "activation": "swish"},
 {"type": "SeparableConv2D", "name": "sep", "filters": 6, "kernel_size": [2, 2], "padding": "same", "activation": "selu"},
 {"type": "BatchNormalization", "name": "bn"},
 {"type": "PReLU", "name": "prelu", "shared_axes": [1, 2]},
 {"type": "Conv2DTranspose", "name": "ct1", "filters": 4, "kernel_size": [3, 3], "strides": 2, "padding": "same", "activation": "tanh"},
 {"type": "Conv2DTranspose", "name": "ct2", "filters": 3, "kernel_size": [1, 1], "strides": 2, "activation": "softplus"},
 {"type": "MaxPooling2D", "name": "mp", "pool_size": [3, 3], "strides": 2, "padding": "same"},
 {"type": "AveragePooling2D", "name": "ap", "pool_size": [3, 3], "strides": 2, "padding": "same"},
 {"type": "UpSampling2D", "name": "up_near", "size": [2, 2]},
 {"type": "UpSampling2D", "name": "up_bil", "size": [2, 3], "interpolation": "bilinear"},
 {"type": "ZeroPadding2D", "name": "pad", "padding": [[1, 2], [0, 1]]},
 {"type": "Cropping2D", "name": "crop", "cropping": [[2, 1], [3, 0]]},
 {"type": "MaxPooling2D", "name": "mp2", "pool_size": [2, 2]},
 {"type": "SpatialDropout2D", "name": "sdrop", "rate": 0.2},
 {"type": "ReLU", "name": "relu_opts", "max_value": 0.8, "negative_slope": 0.1, "threshold": 0.05},
 {"type": "LeakyReLU", "name": "lrelu", "negative_slope": 0.2},
 {"type": "Activation", "name": "relu6", "activation": "relu6"},
 {"type": "Conv2D", "name": "b1", "filters": 3, "kernel_size": [1, 1], "activation": "hard_sigmoid", "inputs": "relu6"},
 {"type": "Conv2D", "name": "b2", "filters": 3, "kernel_size": [1, 1], "activation": "leaky_relu", "inputs": "relu6"},
 {"call": "b1", "inputs": "b2"},
 {"type": "Add", "name": "add", "inputs": ["b1", "b2", "b1[1]"]},
 {"type": "Subtract", "name": "sub", "inputs": ["b1", "b2"]},
 {"type": "Multiply", "name": "mul", "inputs": ["add", "sub"]},
 {"type": "Average", "name": "avg", "inputs": ["add", "sub", "mul"]},
 {"type": "Maximum", "name": "max", "inputs": ["avg", "b1"]},
 {"type": "Minimum", "name": "min", "inputs": ["avg", "b2"]},
 {"type": "Concatenate", "name": "cat", "inputs": ["max", "min"]},
 {"type": "Activation", "name": "chan_softmax", "activation": "softmax"},
 {"type": "Concatenate", "name": "cat_rows", "axis": 1, "inputs": ["max", "min"]},
 {"type": "GlobalMaxPooling2D", "name": "gmax", "keepdims": true},
 {"type": "Flatten", "name": "flat_g"},
 {"type": "GlobalAveragePooling2D", "name": "gavg", "inputs": "chan_softmax"},
 {"type": "Activation", "name": "relu", "activation": "relu"},
 {"type": "Concatenate", "name": "cat_flat", "inputs": ["relu", "flat_g"]},
 {"type": "Reshape", "name": "rs", "target_shape": [3, 3, 1]},
 {"type": "Conv2D", "name": "c3", "filters": 2, "kernel_size": [2, 2], "activation": "sigmoid"},
 {"type": "Flatten", "name": "flat"},
 {"type": "Dropout", "name": "drop", "rate": 0.5},
 {"type": "Dense", "name": "d1", "units": 5},
 {"type": "Softmax", "name": "soft"},
 {"type": "Activation", "name": "squash", "activation": "tanh", "inputs": "d1"},
 {"type": "Lambda", "name": "lam1", "function": "abs(x) + exp(-x) * 0.5 - log(abs(x) + 1) / 2 + sqrt(square(x) + 1)"},
 {"type": "Lambda", "name": "lam2", "function": "tanh(x) * sigmoid(x) + relu(x) ** 2 + clip(x, -0.5, 0.5) + clip(x, minimum(x, 0), maximum(x, 0.2))", "inputs": "squash"},
 {"type": "Lambda", "name": "lam3", "function": "lambda x: (x * 0.1) ** 3 + 1.5 ** x - -x", "inputs": "squash"},
 {"type": "Lambda", "name": "lam_const", "function": "3", "inputs": "squash"},
 {"type": "Multiply", "name": "times3", "inputs": ["lam3", "lam_const"]},
 {"type": "GlobalAveragePooling2D", "name": "g_ct2", "inputs": "ct2"},
 {"type": "GlobalMaxPooling2D", "name": "g_crop", "inputs": "crop"},
 {"type": "GlobalAveragePooling2D", "name": "g_prelu", "inputs": "prelu"},
 {"type": "Activation", "name": "k2hs", "activation": "keras2_hard_sigmoid", "inputs": "g_prelu"},
 {"type": "Concatenate", "name": "out", "inputs": ["lam1", "lam2", "times3", "soft", "g_ct2", "g_crop", "g_prelu", "relu", "k2hs"]}
]}
JSON
prove "every layer type, activation and Lambda function (F32)" zoo.json 9,9,3 F32 raw 44 4
prove "every layer type, activation and Lambda function (U8)" zoo.json 9,9,3 U8 raw 44 4
# Flat inputs, on bytes: a Lambda alone reads them (nnpredict looks its bytes up), then
# the layers that take rows, and a Reshape into an image.
cat > flat.json <<'JSON'
{"name": "flat", "input_shape": [12], "layers": [
 {"type": "Lambda", "name": "scale", "function": "x/255."},
 {"type": "Normalization", "name": "norm", "mean": [0.5], "variance": [0.08]},
 {"type": "Dense", "name": "d1", "units": 8, "activation": "selu"},
 {"type": "BatchNormalization", "name": "bn"},
 {"type": "PReLU", "name": "prelu"},
 {"type": "ReLU", "name": "relu", "max_value": 1.5},
 {"type": "Reshape", "name": "rs", "target_shape": [2, 2, 2]},
 {"type": "Conv2D", "name": "c", "filters": 3, "kernel_size": [2, 2], "padding": "same", "use_bias": false},
 {"type": "Reshape", "name": "rows", "target_shape": [-1]},
 {"type": "Normalization", "name": "denorm", "mean": [0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3], "variance": [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3], "invert": true},
 {"type": "Dense", "name": "out", "units": 2, "activation": "sigmoid", "use_bias": false}
]}
JSON
prove "flat input: rows, Lambda over bytes, Reshape" flat.json 12 U8 sparse 2 5

# Debian's onnx (python3-onnx) accepts every file; the metadata; the opsets and IR versions.
run py - $(ls m*.onnx) signlang_cnn.onnx tm_mobilenetv2.onnx fer_mini_xception.onnx <<'PY'
import json, sys
import onnx
for path in sys.argv[1:]:
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    meta = {p.key: p.value for p in m.metadata_props}
    json.loads(meta["classes"]); json.loads(meta["spec"])
    assert meta["input_dtype"] in ("U8", "F32"), meta
    opset = m.opset_import[0].version
    print(path, opset, m.ir_version, m.producer_name, meta["input_dtype"], m.graph.input[0].type.tensor_type.elem_type,
          m.graph.input[0].type.tensor_type.shape.dim[0].dim_param, [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim[1:]])
PY
check_status "python3-onnx's checker (full_check) accepts every file" 0
check "every file checked ($models models, 4 of them at opset 17 alone; 3 Keras files)" '[ "$(wc -l < "$T/out")" -eq $((models * 2 - 4 + 3)) ]'
check "opset 17 is IR 8, opset 13 IR 7; producer imgpipe" \
    '! grep -v -E "^(m[0-9]+\.17|[a-z0-9_]+)\.onnx 17 8 imgpipe |^m[0-9]+\.13\.onnx 13 7 imgpipe " "$T/out"'
check "a U8 model takes uint8 (2), a dynamic batch N, NHWC as the stream" 'grep -q "^m1\.17\.onnx 17 8 imgpipe U8 2 N \[64, 64, 3\]$" "$T/out"'
check "an F32 model takes float (1)" 'grep -q "^m11\.17\.onnx 17 8 imgpipe F32 1 N \[64, 64, 3\]$" "$T/out"'
run py -c "
import onnx, json; m = onnx.load('m1.17.onnx'); meta = {p.key: p.value for p in m.metadata_props}
print(meta['classes']); print(json.loads(meta['spec'])['name']); print(m.graph.input[0].name, m.graph.output[0].name)"
check "metadata: the classes, the spec; input and output named as the model's" \
    '[ "$(cat "$T/out")" = "$(printf "[\"c0\",\"c1\"]\ncats_dogs_cnn\ninput_layer dense_1")" ]'
run py -c "
import onnx; m = onnx.load('m15.17.onnx'); names = [i.name for i in m.graph.initializer]
ops = sorted({n.op_type for n in m.graph.node})
print(len(names) == len(set(names)), names.count('b1.weight'), sum(i == 'b1.weight' for n in m.graph.node for i in n.input))
print(' '.join(ops))"
check "a shared layer (b1, called twice) is one initializer that two nodes read" '[ "$(head -n 1 "$T/out")" = "True 1 2" ]'
check "Dropout and the Random* layers are left out" '! grep -Eq "Dropout|Random" "$T/out" && grep -q "ConvTranspose" "$T/out"'

# -o -: the same bytes as a file; a failed export leaves no file.
run nnexport m1.model --format onnx -o -
check "-o - gives the same bytes as a file" 'cmp -s out m1.17.onnx'
run nnexport m1.model -o again.onnx
check "a summary line without -q: the input as the graph takes it" \
    '[ "$(cat "$T/err")" = "nnexport: again.onnx: ONNX opset 17, $(wc -c < m1.17.onnx) bytes; input input_layer uint8 [N, 64, 64, 3] (NHWC)" ]'
head -c 3000 m1.model > broken.model
run nnexport broken.model -o never.onnx
check_status "a broken model: 65" 65
check_err "named" "nnexport: broken.model: "
check "and no file is left" '[ ! -e never.onnx ] && [ -z "$(ls -A | grep "never")" ]'
# A model file that lacks one layer's bias (its frame otherwise whole): the layer named, 65.
lacking=$(py -c '
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
head, data = json.loads(b[8:8 + n]), b[8 + n:]
drop = next(k for k in head if k.endswith(".bias") and not k.startswith("optimizer"))
out, buf = {"__metadata__": head["__metadata__"]}, b""
for s, k in sorted((v["data_offsets"][0], k) for k, v in head.items() if k not in ("__metadata__", drop)):
    e = head[k]["data_offsets"][1]
    out[k] = dict(head[k], data_offsets=[len(buf), len(buf) + e - s])
    buf += data[s:e]
text = json.dumps(out).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + buf)
print(drop.split(".")[0])' m1.model lacking.model)
run nnexport lacking.model -o never.onnx
check_status "a model file lacking a weight: 65" 65
check "the layer named, with both lists of shapes ($(head -c 200 "$T/err"))" \
    'grep -Eq "^nnexport: lacking.model: layer [0-9]+ \($lacking, [A-Za-z0-9]+\): the file.s weights are \[.*\], the model.s \[" "$T/err"'
check "no file" '[ ! -e never.onnx ]'
run nnexport m1.model --opset 12 -o never.onnx
check_status "--opset 12: 64" 64
check_err "saying the range" "--opset"
check "no file" '[ ! -e never.onnx ]'
