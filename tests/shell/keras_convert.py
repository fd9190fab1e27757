#!/usr/bin/python3
"""Writes a Keras 2 full-model .h5 (model.save) in the other layouts Keras saves,
with the same weights, for the end-to-end tests of tests/shell/keras-in.sh:

  keras_convert.py SRC.h5 weights-only OUT.h5      Keras 2 save_weights: the layer groups at the root
  keras_convert.py SRC.h5 keras3 OUT.keras         Keras 3 model.save: a zip of config.json,
                                                   metadata.json and model.weights.h5
  keras_convert.py SRC.h5 keras3-weights OUT.weights.h5   Keras 3 save_weights
  keras_convert.py SRC.h5 config OUT.json          the architecture alone (model.to_json())

Keras 3's layout, from keras/src/saving/saving_lib.py: a layer's variables at
layers/<name>/vars/<i>, <name> the snake_case class name with _1, _2 ... counters in
layer order (InputLayer left out of a Sequential), not the layer's own name. Sequential
models only (the test's model is one). h5py, json and zipfile.
"""
import io
import json
import re
import sys
import zipfile

import h5py


def snake(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def layer_weights(src):
    """[(layer name, [arrays in weight_names order])] of a Keras 2 .h5."""
    g = src["model_weights"]
    out = []
    for name in g.attrs["layer_names"]:
        name = text(name)
        out.append((name, [g[name][text(w)][()] for w in g[name].attrs["weight_names"]]))
    return out


def keras3_weights(f, config, weights):
    by_name = dict(weights)
    counts = {}
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "InputLayer":
            continue
        base = snake(layer["class_name"])
        n = counts.get(base, 0)
        counts[base] = n + 1
        path = base if n == 0 else "%s_%d" % (base, n)
        group = f.create_group("layers/%s/vars" % path)
        for i, a in enumerate(by_name.get(layer["config"]["name"], [])):
            group.create_dataset(str(i), data=a)


def main():
    src_path, kind, out = sys.argv[1:4]
    src = h5py.File(src_path, "r")
    config = json.loads(text(src.attrs["model_config"]))
    weights = layer_weights(src)
    if kind == "config":
        open(out, "w").write(json.dumps(config))
    elif kind == "weights-only":
        with h5py.File(out, "w") as f:
            f.attrs["layer_names"] = [n.encode() for n, _ in weights]
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = src["model_weights"].attrs["keras_version"]
            for name, arrays in weights:
                g = f.create_group(name)
                names = [text(w) for w in src["model_weights"][name].attrs["weight_names"]]
                g.attrs["weight_names"] = [w.encode() for w in names]
                for w, a in zip(names, arrays):
                    g.create_dataset(w, data=a)
    elif kind == "keras3-weights":
        with h5py.File(out, "w") as f:
            keras3_weights(f, config, weights)
    elif kind == "keras3":
        image = io.BytesIO()
        with h5py.File(image, "w") as f:
            keras3_weights(f, config, weights)
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0", "date_saved": "2026-12-06@00:00:00"}))
            z.writestr("config.json", json.dumps(config))
            z.writestr("model.weights.h5", image.getvalue())
    else:
        raise SystemExit("unknown kind " + kind)


if __name__ == "__main__":
    main()
