#!/usr/bin/python3
"""Writes an imgpipe model file's weights as a Keras 2 full-model .h5 (model.save's
layout: the root model_config attribute, model_weights/<layer>/<layer>/<weight>:0),
for bench/model_load.sh. Sequential models of Flatten and Dense layers only: a Dense
weight is ours [out, in] and Keras' kernel [in, out] (lib/nn/layers.hpp), the Flatten
order being Keras' channels-last one in both. json, numpy and h5py; no project code.

Usage: model_load.py MODEL_FILE OUT.h5
"""
import json
import struct
import sys

import h5py
import numpy as np


def read_model(path):
    with open(path, "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__")
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise SystemExit(f"{name}: {t['dtype']}, only F32")
        a, b = t["data_offsets"]
        tensors[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(t["shape"])
    return meta, tensors


def main():
    src, out = sys.argv[1:3]
    meta, tensors = read_model(src)
    spec = json.loads(meta["spec"])
    layers = [{"class_name": "InputLayer",
               "config": {"batch_input_shape": [None] + spec["input_shape"], "dtype": "float32", "name": "input_1"}}]
    weights = []  # (layer name, [(weight name, array)])
    for l in spec["layers"]:
        if l["type"] == "Flatten":
            layers.append({"class_name": "Flatten", "config": {"name": l["name"], "data_format": "channels_last"}})
        elif l["type"] == "Dense":
            layers.append({"class_name": "Dense", "config": {
                "name": l["name"], "units": l["units"], "activation": l.get("activation", "linear"), "use_bias": True}})
            weights.append((l["name"], [("kernel", tensors[l["name"] + ".weight"].T),
                                        ("bias", tensors[l["name"] + ".bias"])]))
        else:
            raise SystemExit(f"layer {l['name']}: {l['type']} not handled")
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
    with h5py.File(out, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [l["config"]["name"].encode() for l in layers[1:]]
        for l in layers[1:]:
            g = mw.create_group(l["config"]["name"])
            g.attrs["weight_names"] = []
        for name, ws in weights:
            g = mw[name]
            g.attrs["weight_names"] = [f"{name}/{w}:0".encode() for w, _ in ws]
            for w, a in ws:
                g.create_dataset(f"{name}/{w}:0", data=np.ascontiguousarray(a, dtype="<f4"))


main()
