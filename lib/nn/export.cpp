// The neutral form every exporter reads, and the choice of format (export.hpp).
#include "nn/export.hpp"

#include <cstring>

#include "cli/error.hpp"
#include "nn/keras_file.hpp"
#include "nn/load_weights.hpp"

namespace imgpipe::nn {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

const std::vector<float>& ExportModel::weight(const LayerSpec& layer, const WeightSpec& w) const {
    auto it = weights.find(layer.name + "." + w.name);
    if (it == weights.end()) throw DataError(source, "model lacks tensor \"" + layer.name + "." + w.name + "\"");
    return it->second;
}

ExportModel export_model(const Frame& f, const std::string& source) {
    ExportModel m;
    m.source = source;
    auto meta = [&](const char* key) {
        auto it = f.metadata.find(key);
        return it == f.metadata.end() ? std::string() : it->second;
    };
    m.spec_json = meta("spec");
    if (m.spec_json.empty()) throw DataError(source, "model file lacks its spec");
    m.spec = parse_spec(m.spec_json, source + ": spec");
    try {
        if (!meta("classes").empty()) m.classes = parse_json_list(meta("classes"), "classes");
    } catch (const DataError& e) {
        throw DataError(source, e.what());
    }
    m.input_dtype = meta("input_dtype");
    // Every weight the spec's layers have, F32 in the shape the spec gives; the
    // optimizer's slots are not exported.
    for (const LayerSpec& l : m.spec.layers) {
        for (const WeightSpec& w : layer_weights(l)) {
            std::string name = l.name + "." + w.name;
            const Tensor* t = f.find(name);
            if (!t) throw DataError(source, "model lacks tensor \"" + name + "\"");
            if (t->dtype != DType::F32 || t->shape != w.shape)
                throw DataError(source, "tensor \"" + name + "\" is " + dtype_name(t->dtype) + " " + shape_text(t->shape) +
                                            ", expected F32 " + shape_text(w.shape));
            std::vector<float> values(size_t(t->elements()));
            std::memcpy(values.data(), t->data.data(), values.size() * sizeof(float));
            m.weights.emplace(name, std::move(values));
        }
    }
    return m;
}

ExportModel read_export_model(const std::string& path, const std::string& weights) {
    if (weights.empty() && keras_file_kind(path).empty()) return export_model(read_model_file(path), path);
    KerasModel keras = read_keras_model(path, weights, true);
    ExportModel m;
    m.source = path;
    m.spec = std::move(keras.spec);
    m.spec_json = m.spec.to_json();
    m.classes = keras_class_names(keras.file, keras.source, m.spec.output_shape());
    for (const MatchedWeight& w : match_weights(m.spec, keras.file, keras.source, true)) {
        int64_t n = 1;
        for (int64_t d : w.weight.shape) n *= d;
        std::vector<float> values(static_cast<size_t>(n));
        read_weight(w, values.data());
        m.weights.emplace(w.name, std::move(values));
    }
    return m;
}

ExportFormat export_format(const std::string& output, const std::string& format_option) {
    std::string f = lower(format_option);
    if (f == "onnx") return ExportFormat::Onnx;
    if (f == "keras") return ExportFormat::Keras;
    if (f == "h5") return ExportFormat::KerasH5;
    if (f == "tfjs") return ExportFormat::TfJs;
    if (!f.empty()) throw UsageError("--format " + format_option + ": not a format (onnx, keras, h5, tfjs)");
    std::string o = lower(output);
    if (ends_with(o, ".onnx")) return ExportFormat::Onnx;
    if (ends_with(o, ".keras")) return ExportFormat::Keras;
    if (ends_with(o, ".h5")) return ExportFormat::KerasH5;
    if (ends_with(o, ".json") || ends_with(o, "/")) return ExportFormat::TfJs;
    if (o == "-" || o.empty())
        throw UsageError("-o -: say the format with --format (onnx, keras, h5; TF.js writes several files)");
    throw UsageError("-o " + output + ": the name does not say the format (.onnx, .keras, .h5, a model.json or a folder/ for "
                     "TF.js); give --format");
}

}  // namespace imgpipe::nn
