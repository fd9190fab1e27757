// Models out (nnexport(1)): a model as every exporter reads it, and the writers
// of each format. Torch-free (nnexport starts in milliseconds, not libtorch's
// half second): whatever format the model comes in, the writers see one neutral
// form: the resolved spec and the weights in our layouts (imgpipe-model(5));
// WeightSpec gives Keras' layouts where a format wants them (to_keras_layout).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nn/spec.hpp"
#include "stream/frame.hpp"

namespace imgpipe::nn {

struct ExportModel {
    std::string source;                // the model's path, for messages
    Spec spec;                         // resolved, with every layer's weights worked out
    std::string spec_json;             // the resolved spec as the model file stores it (our compact form)
    std::vector<std::string> classes;  // the training stream's class names (may be empty)
    std::string input_dtype;           // "U8", "F32", or "" when the model never saw a batch
    std::map<std::string, std::vector<float>> weights;  // "layer.weight" -> values in our layout (layer_weights' shapes)

    // A layer's weight in our layout; DataError naming the model if absent.
    const std::vector<float>& weight(const LayerSpec& layer, const WeightSpec& w) const;
};

// Any model the nn tools read (our model file, a Keras .h5 or .keras, a TF.js
// model.json; with `weights`, `path` is the architecture), read without torch:
// the Keras arrays turned into our layouts (load_weights.hpp).
ExportModel read_export_model(const std::string& path, const std::string& weights);

enum class ExportFormat { Onnx, Keras, KerasH5, TfJs };
// The format an output's name says (.onnx, .keras, .h5, a model.json or a
// folder for TF.js), or --format's (onnx, keras, h5, tfjs) when given;
// UsageError when neither tells.
ExportFormat export_format(const std::string& output, const std::string& format_option);

struct ExportOptions {
    int opset = 17;  // ONNX: 13 to 17 (Debian's onnx 1.12 knows up to 17)
};

// The whole output file of each single-file format.
std::vector<uint8_t> write_onnx(const ExportModel& model, const ExportOptions& options);
std::vector<uint8_t> write_keras(const ExportModel& model);     // Keras 3 .keras (zip)
std::vector<uint8_t> write_keras_h5(const ExportModel& model);  // Keras 2 full-model .h5

// TF.js Layers: model.json and its weight shards (names relative to model.json's folder).
struct TfjsFiles {
    std::string model_json;
    std::vector<std::pair<std::string, std::vector<uint8_t>>> shards;
};
TfjsFiles write_tfjs(const ExportModel& model);

}  // namespace imgpipe::nn
