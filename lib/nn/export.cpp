// The neutral form every exporter reads, and the choice of format (export.hpp).
#include "nn/export.hpp"


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

ExportModel read_export_model(const std::string& path, const std::string& weights) {
    ExportModel m;
    m.source = path;
    // The arrays come as the loaders take them: our file's in our layouts, a
    // Keras file's in Keras' (read_weight turns them into ours).
    KerasFile file;
    std::string source = path;
    bool keras = !weights.empty() || !keras_file_kind(path).empty();
    if (!keras) {
        Frame f = read_model_file(path);
        m.spec_json = f.metadata["spec"];
        m.spec = parse_spec(m.spec_json, path + ": spec");
        try {
            if (!f.metadata["classes"].empty()) m.classes = f.classes();
        } catch (const DataError& e) {
            throw DataError(path, e.what());
        }
        m.input_dtype = f.metadata["input_dtype"];
        file = model_file_layers(m.spec, f, path);  // the optimizer's slots are not exported
    } else {
        KerasModel k = read_keras_model(path, weights, true);
        file = std::move(k.file);
        source = k.source;
        m.spec = std::move(k.spec);
        m.spec_json = m.spec.to_json();
        m.classes = keras_class_names(file, source, m.spec.output_shape());
    }
    // Every weight of every layer, checked against the spec's shapes (a layer the file lacks is an error).
    for (const MatchedWeight& w : match_weights(m.spec, file, source, keras)) {
        int64_t n = 1;
        for (int64_t d : w.weight.shape) n *= d;
        std::vector<float> values(static_cast<size_t>(n));
        read_weight(w, values.data());
        m.weights.emplace(w.name, std::move(values));
    }
    return m;
}

ExportFormat export_format(const std::string& output, const std::string& format_option) {
    const std::string& f = format_option;  // nnexport's --format takes these names only
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
