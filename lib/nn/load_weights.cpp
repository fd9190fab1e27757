#include "nn/load_weights.hpp"

#include <nlohmann/json.hpp>

#include <map>

#include "cli/error.hpp"
#include "cli/io.hpp"

namespace imgpipe::nn {

using nlohmann::json;

namespace {

std::string shape_list(const std::vector<int64_t>& s) {
    std::string out = "(";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + (s.size() == 1 ? ",)" : ")");
}

int64_t count(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string shapes_of(const std::vector<std::vector<int64_t>>& shapes) {
    std::string out;
    for (const auto& s : shapes) out += (out.empty() ? "" : ", ") + shape_list(s);
    return "[" + out + "]";
}

}  // namespace

std::vector<MatchedWeight> match_weights(const Spec& spec, const KerasFile& file, const std::string& path, bool keras,
                                         const ImportOptions& options, ImportReport* report) {
    std::map<std::string, const KerasLayerWeights*> by_layer;
    for (const KerasLayerWeights& l : file.layers) by_layer[l.layer] = &l;
    std::map<std::string, bool> used;
    std::vector<MatchedWeight> out;
    ImportReport r;
    for (const LayerSpec& l : spec.layers) {
        std::vector<WeightSpec> weights = layer_weights(l);
        if (weights.empty()) continue;
        std::string context = "layer " + std::to_string(l.entry) + " (" + l.name + ", " + l.type + ")";
        auto it = by_layer.find(l.name);
        if (it == by_layer.end()) {
            if (!options.by_name) throw DataError(path, context + ": the file holds no weights for it");
            r.fresh.push_back(l.name);
            continue;
        }
        used[l.name] = true;
        const std::vector<KerasArray>& arrays = it->second->arrays;
        std::vector<std::vector<int64_t>> want, have;
        for (const WeightSpec& w : weights) want.push_back(keras ? w.keras_shape : w.shape);
        for (const KerasArray& a : arrays) have.push_back(a.shape);
        if (want != have) {
            std::string why = context + ": the file's weights are " + shapes_of(have) + ", the model's " + shapes_of(want);
            if (!options.skip_mismatch) throw DataError(path, why);
            r.skipped.push_back(l.name);
            r.notes.push_back(why);
            continue;
        }
        for (size_t i = 0; i < weights.size(); ++i) {
            // A dataset larger than its shape (the readers check it; a wrong count is refused here too).
            if (int64_t(arrays[i].values.size()) != count(weights[i].shape))
                throw DataError(path, context + ": weight " + weights[i].keras_name + " holds " +
                                          std::to_string(arrays[i].values.size()) + " values for " +
                                          std::to_string(count(weights[i].shape)));
            out.push_back({l.name + "." + weights[i].name, weights[i], &arrays[i], keras});
        }
        r.loaded.push_back(l.name);
    }
    if (!options.by_name)
        for (const KerasLayerWeights& l : file.layers)
            if (!used.count(l.layer) && !l.arrays.empty())
                throw DataError(path, "holds weights for layer \"" + l.layer + "\", which the model has not");
    if (report) *report = std::move(r);
    return out;
}

KerasFile model_file_layers(const Spec& spec, const Frame& file, const std::string& path) {
    KerasFile ours;
    for (const LayerSpec& l : spec.layers) {
        KerasLayerWeights layer{l.name, {}};
        for (const WeightSpec& w : layer_weights(l)) {
            const Tensor* t = file.find(l.name + "." + w.name);
            if (!t) continue;
            if (t->dtype != DType::F32) throw DataError(path, "tensor \"" + t->name + "\" is not F32");
            layer.arrays.push_back({t->name, t->shape, std::vector<float>(t->values<float>(), t->values<float>() + t->elements())});
        }
        if (!layer.arrays.empty()) ours.layers.push_back(std::move(layer));
    }
    return ours;
}

std::string import_summary(const ImportReport& r) {
    auto list = [](const char* what, const std::vector<std::string>& names) {
        std::string out = std::string(what) + " " + std::to_string(names.size()) + (names.size() == 1 ? " layer" : " layers");
        for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : ": ") + names[i];
        return out + "\n";
    };
    std::string out = list("loaded", r.loaded);
    if (!r.skipped.empty()) {
        out += list("skipped (their shapes differ)", r.skipped);
        for (const std::string& note : r.notes) out += "  " + note + "\n";
    }
    if (!r.fresh.empty()) out += list("new (not in the file)", r.fresh);
    return out;
}

std::string keras_architecture(const KerasFile& file) {
    if (file.training_config.empty()) return file.model_config;
    json doc = json::parse(file.model_config, nullptr, false);
    json training = json::parse(file.training_config, nullptr, false);
    if (!doc.is_object() || doc.contains("compile_config") || !training.is_object()) return file.model_config;
    // Only the loss and the metrics: Keras 2's optimizer_config is Keras 2's own
    // (lr, decay), and a model is run or fine-tuned with the optimizer asked for now.
    json compile = json::object();
    for (const char* key : {"loss", "metrics"})
        if (training.contains(key) && !training[key].is_null()) compile[key] = training[key];
    if (!compile.empty()) doc["compile_config"] = compile;
    return doc.dump();
}

std::vector<std::string> keras_class_names(const KerasFile& file, const std::string& path, const Shape& output) {
    if (file.format != "tfjs" || output.size() != 1) return {};
    size_t slash = path.rfind('/');
    std::string beside = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "metadata.json";
    std::vector<uint8_t> bytes;
    try {
        bytes = read_file(beside);
    } catch (const Error&) {
        return {};  // none: outputs are numbered
    }
    json meta = json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (!meta.is_object() || !meta.contains("labels") || !meta["labels"].is_array() ||
        int64_t(meta["labels"].size()) != output[0])
        return {};
    std::vector<std::string> names;
    for (const json& label : meta["labels"]) {
        if (!label.is_string()) return {};
        names.push_back(label.get<std::string>());
    }
    return names;
}

}  // namespace imgpipe::nn
