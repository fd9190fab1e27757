#!/usr/bin/python3
"""An independent reader of what nnexport writes (h5py, zipfile, json): checks
each file against Keras' layout facts and its weights against their source.

    keras_export_check.py SOURCE FILE...

Each FILE is a .keras (Keras 3), a .h5 (Keras 2 full model) or a TF.js model.json.
SOURCE is what they were exported from (- for none): our model file (safetensors,
PyTorch layouts: the arrays are turned into ours with the permutations of
doc/design.md "Keras weight layouts") or a Keras file (.h5/.hdf5 or a TF.js
model.json: the arrays must equal its own, layer by layer, in Keras' layout).
Prints a line "FILE: ok: ..." for each, or exits 1 with what differs.
"""
import io
import json
import os
import re
import sys
import zipfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stream  # noqa: E402


current = "?"


def fail(message):
    sys.exit("keras_export_check: %s: %s" % (current, message))


def need(condition, message):
    if not condition:
        fail(message)


def text(v):
    return v.decode("utf8") if isinstance(v, bytes) else str(v)


def attr_list(attrs, name):
    """Keras' load_attributes_from_hdf5_group: name, or name0, name1, ... when split."""
    if name in attrs:
        return [text(x) for x in attrs[name]]
    out, k = [], 0
    while "%s%d" % (name, k) in attrs:
        out += [text(x) for x in attrs["%s%d" % (name, k)]]
        k += 1
    need(k, "attribute %s missing" % name)
    return out


def to_snake_case(name):  # keras/src/utils/naming.py
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


def layer_names(config):
    return [l["config"]["name"] for l in config["config"]["layers"]]


def read_h5(path, ours=True):
    """Keras 2 full model: {layer: [(weight name, array)]}, its config. Not ours
    (a source made by Keras): read without checking our layout's facts."""
    f = h5py.File(path, "r")
    if not ours:
        mw = f["model_weights"] if "model_weights" in f else f
        return {n: [(text(w).split("/")[-1].split(":")[0], mw[n][text(w)][()])
                    for w in (attr_list(mw[n].attrs, "weight_names") if len(mw[n].attrs.get("weight_names", [1])) else [])]
                for n in attr_list(mw.attrs, "layer_names")}, None
    need(text(f.attrs["backend"]) == "tensorflow", "backend")
    need(text(f.attrs["keras_version"]).startswith("2."), "keras_version")
    config = json.loads(text(f.attrs["model_config"]))
    need(config["class_name"] in ("Functional", "Model"), "model_config's class_name")
    mw = f["model_weights"]
    names = attr_list(mw.attrs, "layer_names")
    need(names == layer_names(config), "layer_names differ from the config's layers")
    need(sorted(mw.keys()) == sorted(names), "model_weights' groups are not the layers")
    arrays, count = {}, 0
    for name in names:
        wn = attr_list(mw[name].attrs, "weight_names") if len(mw[name].attrs.get("weight_names", [1])) else []
        for w in wn:
            need(w.startswith(name + "/") and w.endswith(":0"), "weight name %s" % w)
            d = mw[name][w]
            need(d.dtype == np.float32 and d.chunks is None and d.compression is None, "%s: not plain float32" % w)
        arrays[name] = [(w.split("/")[-1][:-2], mw[name][w][()]) for w in wn]
        count += len(wn)
    datasets = []
    mw.visititems(lambda k, v: datasets.append(k) if isinstance(v, h5py.Dataset) else None)
    need(len(datasets) == count, "%d datasets, %d weight_names" % (len(datasets), count))
    for l in config["config"]["layers"]:
        for call in l["inbound_nodes"]:
            need(all(isinstance(r, list) and len(r) == 4 and r[3] == {} for r in call), "Keras 2 inbound node %s" % call)
    return arrays, config


def read_keras(path):
    """Keras 3 .keras: {layer: [(None, array)]} (variables by position), its config."""
    z = zipfile.ZipFile(path)
    need(z.namelist() == ["metadata.json", "config.json", "model.weights.h5"], "members %s" % z.namelist())
    need(all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist()), "members not stored")
    meta = json.loads(z.read("metadata.json"))
    need(meta["keras_version"].startswith("3.") and re.match(r"^\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d$", meta["date_saved"]),
         "metadata %s" % meta)
    config = json.loads(z.read("config.json"))
    need(config["class_name"] == "Functional" and config["module"] == "keras.src.models.functional", "class")
    need("compile_config" in config, "no compile_config")
    for l in config["config"]["layers"]:
        need(l["module"] == "keras.layers", "module of %s" % l["name"])
        for call in l["inbound_nodes"]:
            need(set(call) == {"args", "kwargs"}, "Keras 3 inbound node %s" % call)
    f = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
    used, arrays, paths = {}, {}, []
    for l in config["config"]["layers"]:  # saving_lib: snake_case class names, _1 _2 counters
        n = to_snake_case(l["class_name"])
        if n in used:
            used[n] += 1
            n += "_%d" % used[n]
        else:
            used[n] = 0
        paths.append(n)
        v = f["layers"][n]["vars"]
        need(sorted(v.keys(), key=int) == [str(i) for i in range(len(v))], "layers/%s/vars: %s" % (n, list(v)))
        arrays[l["config"]["name"]] = [(None, v[str(i)][()]) for i in range(len(v))]
    need(sorted(f["layers"].keys()) == sorted(paths), "groups %s, Keras names %s" % (sorted(f["layers"]), sorted(paths)))
    need(sorted(f.keys()) == ["layers", "vars"], "top groups %s" % list(f))
    return arrays, config


def read_tfjs(path, ours=True):
    m = json.load(open(path))
    d = os.path.dirname(path)
    arrays, config = {}, m["modelTopology"].get("model_config", m["modelTopology"])
    if ours:
        need(m["format"] == "layers-model" and m["convertedBy"] == "imgpipe nnexport", "format")
        need(len(m["weightsManifest"]) == 1, "one weight group")
        paths = m["weightsManifest"][0]["paths"]
        n = len(paths)
        need(paths == ["group1-shard%dof%d.bin" % (i + 1, n) for i in range(n)], "shard names %s" % paths)
        sizes = [os.path.getsize(os.path.join(d, p)) for p in paths]
        need(all(s == 4 << 20 for s in sizes[:-1]) and 0 < sizes[-1] <= 4 << 20, "shard sizes %s" % sizes)
    for group in m["weightsManifest"]:
        data = b"".join(open(os.path.join(d, p), "rb").read() for p in group["paths"])
        at = 0
        for w in group["weights"]:
            need(w["dtype"] == "float32" and "quantization" not in w, "%s: not float32" % w["name"])
            n = int(np.prod(w["shape"]))
            a = np.frombuffer(data, "<f4", n, at).reshape(w["shape"])
            at += 4 * n
            *scope, layer, kname = w["name"].split("/")
            arrays.setdefault(layer, []).append((kname, a))
        need(at == len(data), "shards hold %d bytes, the weights %d" % (len(data), at))
    for l in config["config"]["layers"]:
        arrays.setdefault(l["config"]["name"], [])
    return arrays, config


def read_any(path, ours=True):
    if path.endswith(".keras"):
        return read_keras(path)
    if path.endswith(".json"):
        return read_tfjs(path, ours)
    return read_h5(path, ours)


# Our names and Keras' per type, in Keras' get_weights() order (doc/design.md).
NAMES = {"DepthwiseConv2D": [("weight", "depthwise_kernel"), ("bias", "bias")],
         "SeparableConv2D": [("depthwise_weight", "depthwise_kernel"), ("pointwise_weight", "pointwise_kernel"),
                             ("bias", "bias")],
         "BatchNormalization": [("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                                ("running_var", "moving_variance")],
         "PReLU": [("alpha", "alpha")]}


def ours_from_keras(kname, a):
    if kname == "depthwise_kernel":  # (kh, kw, C, M) -> [C*M, 1, kh, kw]
        return a.transpose(2, 3, 0, 1).reshape(a.shape[2] * a.shape[3], 1, a.shape[0], a.shape[1])
    if kname == "alpha" and a.ndim == 3:
        return a.transpose(2, 0, 1)
    if a.ndim == 4:
        return a.transpose(3, 2, 0, 1)
    if a.ndim == 2:
        return a.T
    return a


def against_model_file(arrays, source):
    tensors, meta = next(stream.read_frames(open(source, "rb")))
    spec = json.loads(meta["spec"])
    types = {l["name"]: l.get("type") for l in spec["layers"] if "name" in l}
    done = set()
    for layer, ws in arrays.items():
        present = [p for p in NAMES.get(types.get(layer), [("weight", "kernel"), ("bias", "bias")])
                   if "%s.%s" % (layer, p[0]) in tensors]
        need(len(ws) == len(present), "layer %s: %d arrays, the model has %d" % (layer, len(ws), len(present)))
        for (kname, a), (ours, keras) in zip(ws, present):
            need(kname in (None, keras), "layer %s: %s where Keras names %s" % (layer, kname, keras))
            t = tensors["%s.%s" % (layer, ours)]
            b = ours_from_keras(keras, a)
            need(b.shape == t.shape and np.array_equal(b, t), "layer %s: %s differs from %s" % (layer, keras, ours))
            done.add("%s.%s" % (layer, ours))
    rest = [k for k in tensors if not k.startswith("optimizer.") and k not in done]
    need(not rest, "not exported: %s" % rest)
    return len(done)


def against_keras(arrays, source):
    src, _ = read_any(source, ours=False)
    n = 0
    for layer, ws in src.items():
        if not ws:
            continue
        got = arrays.get(layer, [])
        need(len(got) == len(ws), "layer %s: %d arrays, the source %d" % (layer, len(got), len(ws)))
        for (kg, a), (ks, b) in zip(got, ws):
            need(kg in (None, ks), "layer %s: %s where the source has %s" % (layer, kg, ks))
            need(a.shape == b.shape and np.array_equal(a, b), "layer %s: %s differs" % (layer, ks))
            n += 1
    need(sum(len(w) for w in arrays.values()) == n, "arrays the source lacks")
    return n


def main():
    global current
    source = sys.argv[1]
    for current in sys.argv[2:]:
        arrays, config = read_any(current)
        line = "%s: ok: %d layers, %d arrays" % (current, len(config["config"]["layers"]), sum(len(w) for w in arrays.values()))
        if source != "-":
            with open(source, "rb") as f:
                head = f.read(8)
            n = against_keras(arrays, source) if head.startswith(b"\x89HDF") or source.endswith(".json") \
                else against_model_file(arrays, source)
            line += ", %d equal to the source's" % n
        print(line, flush=True)


if __name__ == "__main__":
    main()
