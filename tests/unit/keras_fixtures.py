#!/usr/bin/python3
"""Writes small Keras / TF.js model files into OUT_DIR for tests/unit/test_keras_file.cpp,
laid out as Keras' own source writes them (doc/design.md, "Keras files in"):

- Keras 3 (keras/src/saving/saving_lib.py): a .keras zip of config.json, metadata.json and
  model.weights.h5, variables at layers/<snake_case class name, _1 counters>/vars/<i>; a
  Sequential skips its InputLayer, a Functional counts it; nested models under
  layers/<model>/layers/...; optimizer variables at optimizer/vars/<i>.
- Keras 2 (keras/src/legacy/saving/legacy_h5_format.py): model_config / training_config root
  attributes, model_weights with layer_names, each layer group with weight_names (byte
  strings) and datasets at <layer>/<weight name>; save_weights puts the layer groups at the
  root; attributes above 64 KB split into layer_names0, layer_names1, ...
- TF.js (tfjs-core io_utils.ts): weightsManifest groups, shards concatenated in paths order,
  uint8/uint16 quantization (v * scale + min), float16, int32.

Every value is arange-based so the test can compute what it must read. Hostile variants
(names "bad_*") are written next to the good ones.
"""
import base64
import gzip
import json
import os
import sys
import zipfile

import h5py
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def vals(shape, start):
    """start, start+1, ... as float32 / 8 (exact in float16 too for small values)."""
    n = int(np.prod(shape)) if shape else 1
    return (np.arange(n, dtype=np.float32) / 8 + start).reshape(shape)


def layer(cls, name, **cfg):
    cfg["name"] = name
    return {"module": "keras.layers", "class_name": cls, "config": cfg, "registered_name": None}


# ---------------- Keras 3 ----------------
# Sequential: InputLayer (skipped), Conv2D c1, BatchNormalization bn, Conv2D c2, Flatten, Dense out.
K3_SEQ = {
    "module": "keras", "class_name": "Sequential", "registered_name": None,
    "config": {"name": "sequential", "trainable": True, "layers": [
        layer("InputLayer", "input_layer", batch_shape=[None, 4, 4, 1]),
        layer("Conv2D", "c1", filters=2, kernel_size=[3, 3]),
        layer("BatchNormalization", "bn"),
        layer("Conv2D", "c2", filters=3, kernel_size=[1, 1]),
        layer("Flatten", "flat"),
        layer("Dense", "out", units=2)]},
    "build_config": {"input_shape": [None, 4, 4, 1]},
    "compile_config": {"optimizer": "adam", "loss": "mse"},
}
K3_SEQ_VARS = {  # path -> the layer's name, its shapes in save_own_variables order (trainable, then non-trainable)
    "layers/conv2d": ("c1", [[3, 3, 1, 2], [2]]),
    "layers/batch_normalization": ("bn", [[2], [2], [2], [2]]),
    "layers/conv2d_1": ("c2", [[1, 1, 2, 3], [3]]),
    "layers/flatten": ("flat", []),
    "layers/dense": ("out", [[12, 2], [2]]),
}
# Functional with a nested Sequential: Input (counted), Sequential inner [InputLayer, Dense a,
# Dense b], Dense head.
K3_FUN = {
    "module": "keras", "class_name": "Functional", "registered_name": None,
    "config": {"name": "functional", "trainable": True, "layers": [
        dict(layer("InputLayer", "img", batch_shape=[None, 3]), inbound_nodes=[]),
        {"module": "keras", "class_name": "Sequential", "registered_name": None,
         "config": {"name": "inner", "layers": [
             layer("InputLayer", "inner_input", batch_shape=[None, 3]),
             layer("Dense", "a", units=4),
             layer("Dense", "b", units=2)]}, "inbound_nodes": []},
        dict(layer("Dense", "head", units=1), inbound_nodes=[])],
        "input_layers": [["img", 0, 0]], "output_layers": [["head", 0, 0]]},
}
K3_FUN_VARS = {
    "layers/input_layer": ("img", []),
    "layers/sequential/layers/dense": ("a", [[3, 4], [4]]),
    "layers/sequential/layers/dense_1": ("b", [[4, 2], [2]]),
    "layers/dense": ("head", [[2, 1], [1]]),
}


def write_k3_h5(path_or_file, var_map, extra=None, metadata=True):
    with h5py.File(path_or_file, "w") as f:
        f.create_group("vars")  # the model's own (none)
        start = 0
        for path, (name, shapes) in var_map.items():
            g = f.create_group(path).create_group("vars")
            if metadata:  # newer Keras: _save_state's metadata {"name": saveable.name}
                g.attrs["name"] = name
            for i, s in enumerate(shapes):
                g.create_dataset(str(i), data=vals(s, start))
                start += 100
        o = f.create_group("optimizer").create_group("vars")  # ignored by the reader
        o.create_dataset("0", data=np.array(7, dtype=np.int64))
        if extra:
            extra(f)


def write_keras(name, config, var_map, extra=None, members=None):
    h5 = os.path.join(out, name + ".weights.h5")
    write_k3_h5(h5, var_map, extra)
    with zipfile.ZipFile(os.path.join(out, name), "w", compression=zipfile.ZIP_DEFLATED) as z:
        contents = members if members is not None else {
            "metadata.json": json.dumps({"keras_version": "3.6.0", "date_saved": "2026-12-06@20:00:00"}),
            "config.json": json.dumps(config),
            "model.weights.h5": open(h5, "rb").read(),
        }
        for k, v in contents.items():
            z.writestr(k, v)
    os.remove(h5)


write_keras("k3_seq.keras", K3_SEQ, K3_SEQ_VARS)
write_keras("k3_fun.keras", K3_FUN, K3_FUN_VARS)
write_k3_h5(os.path.join(out, "k3_seq.weights.h5"), K3_SEQ_VARS, metadata=False)
# tf.keras 2.13-2.15's .keras: the same walk under _layer_checkpoint_dependencies (Keras 3
# reads it by path.replace("layers", "_layer_checkpoint_dependencies")).
write_keras("k213_fun.keras", K3_FUN, {k.replace("layers", "_layer_checkpoint_dependencies"): v for k, v in K3_FUN_VARS.items()})
json.dump(K3_SEQ, open(os.path.join(out, "k3_seq.json"), "w"))
json.dump(K3_FUN, open(os.path.join(out, "k3_fun.json"), "w"))
# hostile Keras 3
write_keras("bad_k3_extra.keras", K3_SEQ, dict(K3_SEQ_VARS, **{"layers/conv2d_2": ("c3", [[1]])}))
write_keras("bad_k3_renamed.keras", K3_SEQ, dict(K3_SEQ_VARS, **{"layers/conv2d_1": ("c9", [[1, 1, 2, 3], [3]])}))
write_keras("bad_k3_gap.keras", K3_SEQ, K3_SEQ_VARS,
            extra=lambda f: (f["layers/conv2d/vars"].move("1", "5")))
write_keras("bad_k3_lie.keras", K3_SEQ, K3_SEQ_VARS,
            extra=lambda f: (f["layers/dense/vars"].__delitem__("0"),
                             f["layers/dense/vars"].create_dataset("0", shape=(1 << 30, 1 << 10), dtype="f4")))
write_keras("bad_k3_noweights.keras", K3_SEQ, {}, members={
    "config.json": json.dumps(K3_SEQ), "metadata.json": "{}"})
write_keras("bad_k3_config.keras", K3_SEQ, {}, members={
    "config.json": "{\"class_name\": ", "model.weights.h5": b""})

# ---------------- Keras 2 ----------------
K2_SEQ = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
    {"class_name": "Conv2D", "config": {"name": "conv2d_1", "filters": 2, "kernel_size": [3, 3],
                                        "batch_input_shape": [None, 4, 4, 1]}},
    {"class_name": "Flatten", "config": {"name": "flatten_1"}},
    {"class_name": "Dense", "config": {"name": "dense_1", "units": 2}}]}}
K2_LAYERS = [("conv2d_1", [("conv2d_1/kernel:0", [3, 3, 1, 2]), ("conv2d_1/bias:0", [2])]),
             ("flatten_1", []),
             ("dense_1", [("dense_1/kernel:0", [8, 2]), ("dense_1/bias:0", [2])])]


def attr_list(g, name, items, split=1):
    data = np.array([s.encode("utf8") for s in items]) if items else np.array([], dtype=np.float64)
    if split == 1:
        g.attrs[name] = data
    else:  # save_attributes_to_hdf5_group's chunks
        for i, part in enumerate(np.array_split(data, split)):
            g.attrs["%s%d" % (name, i)] = part


def write_k2(path, layers, root_model=True, config=K2_SEQ, split=1, tweak=None):
    with h5py.File(path, "w") as f:
        if root_model:
            f.attrs["keras_version"] = "2.6.0"
            f.attrs["backend"] = "tensorflow"
            f.attrs["model_config"] = json.dumps(config).encode("utf8")
            f.attrs["training_config"] = json.dumps({"loss": "mse"}).encode("utf8")
            g = f.create_group("model_weights")
        else:
            g = f
        attr_list(g, "layer_names", [n for n, _ in layers], split)
        g.attrs["backend"] = b"tensorflow"
        g.attrs["keras_version"] = b"2.6.0"
        start = 0
        # legacy_h5_format sorts the groups by name; the order is layer_names'.
        for name, weights in sorted(layers):
            lg = g.create_group(name)
            attr_list(lg, "weight_names", [w for w, _ in weights])
            for w, s in weights:
                lg.create_dataset(w, data=vals(s, start))
                start += 100
        if root_model:
            f.create_group("optimizer_weights")
        if tweak:
            tweak(f, g)


write_k2(os.path.join(out, "k2_full.h5"), K2_LAYERS)
write_k2(os.path.join(out, "k2_weights.h5"), K2_LAYERS, root_model=False)
json.dump(K2_SEQ, open(os.path.join(out, "k2_seq.json"), "w"))
write_k2(os.path.join(out, "k2_split.h5"), K2_LAYERS, split=3)
# Nested: a Functional whose layer "inner" is a Sequential [Dense a, BatchNormalization bn];
# the nested model's weights are its inner layers', trainable first, then bn's moving stats.
K2_NESTED = {"class_name": "Model", "config": {"name": "model_1", "layers": [
    {"class_name": "InputLayer", "name": "input_1", "config": {"name": "input_1", "batch_input_shape": [None, 3]},
     "inbound_nodes": []},
    {"class_name": "Sequential", "name": "inner", "config": {"name": "inner", "layers": [
        {"class_name": "Dense", "config": {"name": "a", "units": 2}},
        {"class_name": "BatchNormalization", "config": {"name": "bn"}}]}, "inbound_nodes": [[["input_1", 0, 0, {}]]]},
    {"class_name": "Dense", "name": "head", "config": {"name": "head", "units": 1}, "inbound_nodes": [[["inner", 1, 0, {}]]]}],
    "input_layers": [["input_1", 0, 0]], "output_layers": [["head", 0, 0]]}}
write_k2(os.path.join(out, "k2_nested.h5"), [
    ("input_1", []),
    ("inner", [("a/kernel:0", [3, 2]), ("a/bias:0", [2]), ("bn/gamma:0", [2]), ("bn/beta:0", [2]),
               ("bn/moving_mean:0", [2]), ("bn/moving_variance:0", [2])]),
    ("head", [("head_1/kernel:0", [2, 1]), ("head_1/bias:0", [1])])], config=K2_NESTED)
# hostile Keras 2
write_k2(os.path.join(out, "bad_k2_ghost.h5"), K2_LAYERS,
         tweak=lambda f, g: attr_list(g, "layer_names", ["conv2d_1", "ghost"]))
write_k2(os.path.join(out, "bad_k2_nolayers.h5"), K2_LAYERS, tweak=lambda f, g: g.attrs.__delitem__("layer_names"))
write_k2(os.path.join(out, "bad_k2_type.h5"), K2_LAYERS,
         tweak=lambda f, g: g.attrs.__setitem__("layer_names", np.array([1, 2, 3], dtype=np.int32)))
write_k2(os.path.join(out, "bad_k2_dotdot.h5"), K2_LAYERS,
         tweak=lambda f, g: attr_list(g["dense_1"], "weight_names", ["../conv2d_1/conv2d_1/kernel:0"]))
write_k2(os.path.join(out, "bad_k2_absolute.h5"), K2_LAYERS,
         tweak=lambda f, g: attr_list(g["dense_1"], "weight_names", ["/model_weights/conv2d_1/conv2d_1/kernel:0"]))
write_k2(os.path.join(out, "bad_k2_missing.h5"), K2_LAYERS,
         tweak=lambda f, g: attr_list(g["dense_1"], "weight_names", ["dense_1/kernel:0", "dense_1/gamma:0"]))
# A dataset whose shape says 4 GiB but whose storage was never written (h5py allocates late).
write_k2(os.path.join(out, "bad_k2_lie.h5"), K2_LAYERS,
         tweak=lambda f, g: (g["dense_1/dense_1"].__delitem__("bias:0"),
                             g["dense_1/dense_1"].create_dataset("bias:0", shape=(1 << 30,), dtype="f4")))
# Storage far larger than the shape: a contiguous (12345,) dataset whose dataspace is
# patched to say (5,).
def shrink_dims(path):
    data = open(path, "rb").read()
    old = (12345).to_bytes(8, "little")
    assert data.count(old) in (1, 2)  # the dims, and the max dims when stored
    open(path, "wb").write(data.replace(old, (5).to_bytes(8, "little")))


write_k2(os.path.join(out, "bad_k2_big.h5"), K2_LAYERS,
         tweak=lambda f, g: (g["dense_1/dense_1"].__delitem__("bias:0"),
                             g["dense_1/dense_1"].create_dataset("bias:0", data=np.ones(12345, "f4"))))
shrink_dims(os.path.join(out, "bad_k2_big.h5"))
# Chunked with a partial edge chunk (h5repack's way): legitimate.
write_k2(os.path.join(out, "k2_chunked.h5"), K2_LAYERS,
         tweak=lambda f, g: (g["dense_1/dense_1"].__delitem__("kernel:0"),
                             g["dense_1/dense_1"].create_dataset("kernel:0", data=vals([8, 2], 200), chunks=(3, 2))))
write_k2(os.path.join(out, "bad_k2_string.h5"), K2_LAYERS,
         tweak=lambda f, g: (g["dense_1/dense_1"].__delitem__("bias:0"),
                             g["dense_1/dense_1"].create_dataset("bias:0", data=np.array([b"ab", b"cd"]))))

# ---------------- TF.js ----------------
def write_tfjs(folder, weights, groups, extra_shards=None, topology=None):
    """weights: list of (spec, raw bytes); groups: list of lists of weight indices, each
    group's bytes split over two shards."""
    d = os.path.join(out, folder)
    os.makedirs(d, exist_ok=True)
    manifest = []
    for gi, idx in enumerate(groups):
        data = b"".join(weights[i][1] for i in idx)
        half = len(data) // 2
        paths = ["group%d-shard1of2.bin" % (gi + 1), "group%d-shard2of2.bin" % (gi + 1)]
        open(os.path.join(d, paths[0]), "wb").write(data[:half])
        open(os.path.join(d, paths[1]), "wb").write(data[half:])
        manifest.append({"paths": paths, "weights": [weights[i][0] for i in idx]})
    topo = topology if topology is not None else {
        "keras_version": "2.6.0", "backend": "tensorflow", "model_config": K2_SEQ, "training_config": {"loss": "mse"}}
    json.dump({"format": "layers-model", "generatedBy": "keras v2.6.0", "convertedBy": "TensorFlow.js Converter v3.11.0",
               "modelTopology": topo, "weightsManifest": manifest}, open(os.path.join(d, "model.json"), "w"))
    return manifest


k = vals([3, 3, 1, 2], 0)
q8 = np.arange(18, dtype=np.uint8).reshape(3, 3, 1, 2) * 13
q16 = np.array([0, 1, 65535, 40000], dtype=np.uint16)
f16 = np.array([0.5, -2.25, 65504, 6e-8, 1 / 3], dtype=np.float16)
TFJS = [
    ({"name": "conv2d_1/kernel", "shape": [3, 3, 1, 2], "dtype": "float32",
      "quantization": {"dtype": "uint8", "scale": 0.0137, "min": -1.25}}, q8.tobytes()),
    ({"name": "conv2d_1/bias", "shape": [2], "dtype": "float32"}, np.array([0.25, -0.5], dtype="<f4").tobytes()),
    ({"name": "dense_1/kernel", "shape": [4], "dtype": "float32",
      "quantization": {"dtype": "uint16", "scale": 1e-4, "min": -3.0}}, q16.astype("<u2").tobytes()),
    ({"name": "dense_1/bias", "shape": [5], "dtype": "float32", "quantization": {"dtype": "float16"}},
     f16.astype("<f2").tobytes()),
    ({"name": "model/counter/step", "shape": [], "dtype": "int32"}, np.array([-7], dtype="<i4").tobytes()),
    ({"name": "counter/q", "shape": [3], "dtype": "int32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
     np.array([0, 1, 3], dtype=np.uint8).tobytes()),
]
write_tfjs("tfjs_quant", TFJS, [[0, 1, 2], [3, 4, 5]])
# The values the test expects, as tfjs computes them (a double rounded to float32;
# Math.round for int32), written for the test to compare bit for bit.
expect = np.concatenate([
    (q8.astype(np.float64) * 0.0137 + -1.25).astype(np.float32).ravel(),
    np.array([0.25, -0.5], dtype=np.float32),
    (q16.astype(np.float64) * 1e-4 + -3.0).astype(np.float32),
    f16.astype(np.float32),
    np.array([-7], dtype=np.float32),
    np.floor(np.array([0, 1, 3]) * 0.5 - 1.0 + 0.5).astype(np.float32)])
expect.astype("<f4").tofile(os.path.join(out, "tfjs_quant", "expect.f32"))
# hostile TF.js
plain = [TFJS[1], TFJS[0]]
write_tfjs("bad_tfjs_missing", plain, [[0, 1]])
os.remove(os.path.join(out, "bad_tfjs_missing", "group1-shard2of2.bin"))
write_tfjs("bad_tfjs_short", plain, [[0, 1]])
with open(os.path.join(out, "bad_tfjs_short", "group1-shard2of2.bin"), "r+b") as f:
    f.truncate(3)
write_tfjs("bad_tfjs_long", plain, [[0, 1]])
with open(os.path.join(out, "bad_tfjs_long", "group1-shard2of2.bin"), "ab") as f:
    f.write(b"\0\0\0\0")
write_tfjs("bad_tfjs_overflow", [({"name": "d/kernel", "shape": [1 << 40, 1 << 40], "dtype": "float32"}, b"")] + plain, [[0, 1, 2]])
write_tfjs("bad_tfjs_bool", [({"name": "d/flag", "shape": [2], "dtype": "bool"}, b"\1\0")], [[0]])
write_tfjs("bad_tfjs_quant", [({"name": "d/k", "shape": [2], "dtype": "float32", "quantization": {"dtype": "int4"}}, b"\1")], [[0]])
m = write_tfjs("bad_tfjs_dotdot", plain, [[0, 1]])
j = json.load(open(os.path.join(out, "bad_tfjs_dotdot", "model.json")))
j["weightsManifest"][0]["paths"][1] = "../bad_tfjs_long/group1-shard2of2.bin"
json.dump(j, open(os.path.join(out, "bad_tfjs_dotdot", "model.json"), "w"))

# ---------------- libhdf5's own failures ----------------
# A file the keras_h5 fuzz target found (mutated k2_nested.h5) on which libhdf5
# 1.10.8's H5Aread loops forever in H5HG_read (gzip, base64).
HANG = """
H4sICIC8FWsCA2hhbmcuaDUA7VzPbxtFFJ613bAKLjiiog6UsjI99BDqNSklcqF1sROMVKhFOUSqkLN2tsmq9tjYThqoEByL1ENP
KAcOPfbYA4ccOHLwgUMPHPIn5Ngj4hJmdt+sdyb+sY1iEZP3SaPJvHl5O568+ebNm3V+LhaWTk+/NU04dJ3ESIIEsQ94viS3Rf8K
1BrUD6F+GhHyKbcvCfIE2DeiXrsEv/j1V4uLXHtfgT+QpFQhThiKizdKvF6Gtgl1NyLr1Rurdq1833bW1jtt1m40O07d+d5uBWRB
f7044rkz4K+qX8dJEey8Rs4QndyzW1a7vGm32k6DMvmsprm/mfCfpUvPPdUTubI4ycHPumuvYlXv2XR1pJ3pgJ2INK7Trh1vPqoN
etdZI+64yFB7jyI9e1HJXsK112lZDnXomjA5yt7rgfHFhvCB+YrX3iHh+KB5DvkA+aDHBwbUu1Oy3rptrfLaodRuuXVzo1PO+P65
8JLPFf5anAX7RPBBCfw+ztw9SWrWd4xzqFW3PcZ5gz2Qu7imaf7aCtYwLhimGPUwXiCheeHUkM/zWf7WTY2AIZWfGD64dOWSCdzi
22Xo2LTdaN2tNe7Ln+MRKD5IVWtWu+3OQCprpL7gPJSaM1IebzDRg5To8zgqw3vdaWsz4R3VwOd8gm7ybq4npA4t8WkbYBgmlfdW
rE51vewJ2utWk/ffoRu12pwx/80Pc1y30tigq2XKBuMOgEvVQdy2v92wacexavIgqDeqvkOAvoGfDNcyAoFAIBAIBAKBQCDGj9tf
3ipo7HQPqQLSjMl5gG1o70Bexc/bFWS9BWgvL53MeRR5YnW+RueJSeg88ZQrj/bNn+6847W3QD4qf/oC8g46LoETCTV/Km79kudk
PZ6JLGd6/lg8Er6J+n73bFbmkV1o//22PK4n78t6XWjvpWVe2svJeokbXm3m/598o85XHP6i/P6H56G9W69eIprnofmdjMhDi7xu
RPp7pxlNUbuWNaFZcax21vTsahL/iHEsnwf+McLxT/E95B/kn4P3N9uGrCccUbSFJx72/sbjH833O/O8zBeqHyP6Q2ORiRaYOA1u
0rWIzCuawi+iHWUMwn+eMd4lMfCAszo5+6Mf9+hufyTiGdSBcaLa4wv9mWPrWMTRghcfzw3XF6NfSKEv9cE1tsN/ylgiTwxWcqys
sPITK09YIb/kSYIV0mU1K+QfVrNC3iwQnRWSZnW6gNOIQCAQCMSkxpVeRCXOq9qRxZHbEEfGlBE8PGbz0T/ftwInouck3Hn7xbyc
T0Gc7PO28CfdlPUscc6m8jrLHfK5Ij+k5uvi5BnYH5ynOhNY9+K1TlFbaTUzwGW9PJWfL6DpNatet4JSJqvYHUnEZfXGJn+xuW5b
1OvqyTatlmPRqp01B+a/MnAKnQ+3HotX+p9iESdzPRpQb8/LeuPJf/Xu+8yMvM5VP/bz7wuyXhfae1mMU7xKzn+J96Ejfpyitg8b
t/x6QWZwgWOW//pouL6f//oQueBl4t/IkfnRbwPyqMct/u2/36r8M/L7Qh979UV0MdxvA/GsflXWE8GiCBDVoPBAQKicR5P/2Xr+
fSLWs7dP9L5lvPNJuH1i5epwPTHv3WvD9cT6372O+0Q4v/pjQvYJdT4Q4dkQ3/6ZLODbPz7iB4Hre8Iwrq3rzwndusY1H39NyHz0
v/J4CiQuvnLvkQwZ/C9jEBjkBIIc4fWlvOpvID/izVkNPuR/zXJwc54xrsMYc+Tyq+TyPuQMBQ+ETY2oX8XAdYI4zDrZWhrvOvkX
BC4zMHtMAAA=
"""
open(os.path.join(out, "bad_h5_hang.h5"), "wb").write(gzip.decompress(base64.b64decode("".join(HANG.split()))))
