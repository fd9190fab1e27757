// nnexport: a trained model in the formats it is deployed in: ONNX, TF.js
// Layers, Keras 3 .keras and Keras 2 .h5. See man/man1/nnexport.1.
#include <sys/stat.h>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "cli/progress.hpp"
#include "nn/export.hpp"

using namespace imgpipe;

namespace {

bool is_directory(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void write_whole(const std::string& path, const std::vector<uint8_t>& bytes) {
    Output out(path, true);
    out.write(bytes.data(), bytes.size());
    out.commit();
}

// TF.js: the shards first, model.json last, each atomically: a folder that
// holds a model.json holds its shards.
void write_tfjs_files(const std::string& output, const nn::TfjsFiles& files) {
    if (output == "-") throw UsageError("-o -: TF.js is a model.json and its shards; give a folder or a model.json path");
    std::string dir, json_path;
    if (is_directory(output) || output.back() == '/') {
        dir = output.back() == '/' ? output.substr(0, output.size() - 1) : output;
        make_directories(dir);
        json_path = dir + "/model.json";
    } else {
        json_path = output;
        size_t slash = output.rfind('/');
        dir = slash == std::string::npos ? "." : output.substr(0, slash);
        if (slash != std::string::npos) make_directories(dir);
    }
    for (const auto& [name, bytes] : files.shards) write_whole(dir + "/" + name, bytes);
    write_file_atomic(json_path, files.model_json.data(), files.model_json.size());
}

}  // namespace

int main(int argc, char** argv) {
    App app("nnexport", "Writes a trained model as ONNX, TF.js Layers, a Keras 3 .keras or a Keras 2 .h5.");
    std::string model_path, weights, output, format_name;
    nn::ExportOptions options;
    auto& cli = app.cli();
    cli.add_option("model", model_path, "Model file written by nntrain, or a model trained in Keras (.h5, .keras, "
                                        "TF.js model.json)")->required();
    cli.add_option("--weights", weights, "The model's weights from FILE (a Keras .h5 or .weights.h5, a .keras, a TF.js "
                                         "model.json), MODEL being its architecture (JSON)");
    cli.add_option("-o,--output", output, "Write to FILE (atomically): .onnx, .keras, .h5, a model.json or a folder for TF.js; "
                                          "- for stdout (with --format)")->required();
    cli.add_option("--format", format_name, "onnx, keras, h5 or tfjs (default: from the output's name)")
        ->check(CLI::IsMember({"onnx", "keras", "h5", "tfjs"}));
    cli.add_option("--opset", options.opset, "ONNX opset, 13 to 17 (default 17)")->check(CLI::Range(13, 17));

    return app.main(argc, argv, [&] {
        nn::ExportFormat format = format_name.empty() && is_directory(output)
                                      ? nn::ExportFormat::TfJs
                                      : nn::export_format(output, format_name);
        nn::ExportModel model = nn::read_export_model(model_path, weights);
        // One line of what was written: the format, its size, what the model takes.
        std::string what;
        size_t size = 0;
        auto whole = [&](std::string name, const std::vector<uint8_t>& bytes) {
            write_whole(output, bytes);
            what = std::move(name);
            size = bytes.size();
        };
        switch (format) {
        case nn::ExportFormat::Onnx: whole("ONNX opset " + std::to_string(options.opset), nn::write_onnx(model, options)); break;
        case nn::ExportFormat::Keras: whole("Keras 3 .keras", nn::write_keras(model)); break;
        case nn::ExportFormat::KerasH5: whole("Keras 2 .h5", nn::write_keras_h5(model)); break;
        case nn::ExportFormat::TfJs: {
            nn::TfjsFiles files = nn::write_tfjs(model);
            write_tfjs_files(output, files);
            size = files.model_json.size();
            for (const auto& shard : files.shards) size += shard.second.size();
            what = "TF.js Layers, " + std::to_string(files.shards.size()) + " shard" + (files.shards.size() == 1 ? "" : "s");
            break;
        }
        }
        // Only ONNX takes the bytes a U8 model reads; Keras and TF.js take them as floats.
        bool bytes_in = format == nn::ExportFormat::Onnx && model.input_dtype == "U8";
        std::string shape = "[N";
        for (int64_t d : model.spec.input_shape) shape += ", " + std::to_string(d);
        app.note("nnexport: " + output + ": " + what + ", " + std::to_string(size) + " bytes; input " + model.spec.input_name +
                 (bytes_in ? " uint8 " : " float32 ") + shape + "] (NHWC)");
        return 0;
    });
}
