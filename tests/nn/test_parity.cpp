// A bias right before BatchNormalization has a zero gradient, and Adam turns
// float noise there into steps, so the models here leave it out, as people do.
// Parity with an independent implementation: tests/nn/parity.py rebuilds each
// model in PyTorch (float64) from the model file our save() wrote, and checks
// our outputs and the weights after two training steps within 1e-5.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "cli/io.hpp"
#include "nn/engine.hpp"
#include "stream/frame.hpp"

#undef CHECK
#include <catch2/catch.hpp>

using namespace imgpipe;
using namespace imgpipe::nn;

namespace {

// tests/nn/parity.py, found from build/nn_tests wherever the tests run from.
std::string script() {
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        std::string path(exe, size_t(n));
        path = path.substr(0, path.rfind('/')) + "/../tests/nn/parity.py";
        if (::access(path.c_str(), R_OK) == 0) return path;
    }
    return "tests/nn/parity.py";
}

bool have_python_torch() {
    static int ok = -1;
    if (ok < 0) ok = std::system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0;
    return ok == 1;
}

Tensor pixels(const std::vector<int64_t>& shape, DType dtype, uint32_t seed) {
    Tensor t("x", dtype, shape);
    uint32_t s = seed;
    for (int64_t i = 0; i < t.elements(); ++i) {
        s = s * 1664525u + 1013904223u;
        if (dtype == DType::U8) t.data[size_t(i)] = uint8_t(s >> 24);
        else t.values<float>()[i] = float(s >> 8) / float(1 << 24);
    }
    return t;
}

// What a parity check adds to the batch and the model: the stream's sample
// weights, class weights, the metrics' threshold, and whether parity.py checks
// the metrics of the first step too.
struct Extras {
    std::optional<Tensor> w;
    std::vector<double> class_weights;
    double threshold = 0.5;
    bool metrics = false;
    std::map<std::string, std::string> metadata;  // the batch's (class_mode)
};

// Trains `steps` steps on one batch and lets parity.py judge every number.
void check_parity(const std::string& name, const std::string& spec, Tensor x, Tensor y, int steps = 2,
                  const Extras& extras = {}) {
    // The reference is part of the suite (make deps installs it): without it, fail.
    if (!have_python_torch()) FAIL("/usr/bin/python3 cannot import torch and numpy: no reference to check against (make deps installs python3-torch)");
    char tmpl[] = "/tmp/nn_parity_XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    Overrides overrides;
    overrides.threshold = extras.threshold;
    auto model = Model::create(spec, name, overrides, 11);
    model->set_class_weights(extras.class_weights);
    Frame batch;
    y.name = "y";
    batch.tensors = {x, y};
    if (extras.w) {
        batch.tensors.push_back(*extras.w);
        batch.tensors.back().name = "w";
    }
    for (auto& [k, v] : extras.metadata) batch.metadata[k] = v;
    batch.metadata["format"] = kStreamFormat;
    model->check_batch(batch, name, true);
    model->save(dir + "/before.model", "{}");
    Frame b = batch;
    std::vector<uint8_t> bytes = encode_frame(b);
    write_file_atomic(dir + "/batch.bs", bytes.data(), bytes.size());
    Frame pred;
    pred.tensors.push_back(model->predict_batch(batch));
    Scores first;
    model->train_batch(batch, first);
    for (int i = 1; i < steps; ++i) {
        Scores s;
        model->train_batch(batch, s);
    }
    char loss[40];
    std::snprintf(loss, sizeof loss, "%.17g", first.mean("loss"));
    pred.metadata["loss"] = loss;
    pred.metadata["steps"] = std::to_string(steps);
    if (extras.metrics) {
        std::string m = "{";
        for (auto& [k, v] : first.means()) {
            if (k == "loss") continue;
            std::snprintf(loss, sizeof loss, "%.17g", v);
            m += (m.size() > 1 ? ", \"" : "\"") + k + "\": " + loss;
        }
        pred.metadata["metrics"] = m + "}";
        std::snprintf(loss, sizeof loss, "%.17g", extras.threshold);
        pred.metadata["threshold"] = loss;
    }
    if (!extras.class_weights.empty()) {
        std::string c = "[";
        for (double v : extras.class_weights) {
            std::snprintf(loss, sizeof loss, "%.17g", v);
            c += (c.size() > 1 ? ", " : "") + std::string(loss);
        }
        pred.metadata["class_weights"] = c + "]";
    }
    bytes = encode_frame(pred);
    write_file_atomic(dir + "/predict.bs", bytes.data(), bytes.size());
    model->save(dir + "/after.model", "{}");
    std::string cmd = "/usr/bin/python3 " + script() + " " + dir + " > " + dir + "/report.txt 2>&1";
    int status = std::system(cmd.c_str());
    std::vector<uint8_t> report = read_file(dir + "/report.txt");
    INFO(name << ":\n" << std::string(report.begin(), report.end()));
    CHECK(status == 0);
    std::system(("rm -rf " + dir).c_str());
}

}  // namespace

TEST_CASE("parity with PyTorch: CNN classifier, asymmetric same padding, BatchNorm, Adam", "[parity]") {
    const char* spec = R"({"input_shape": [10, 10, 3], "layers": [
      {"type": "Lambda", "function": "x/255."},
      {"type": "Conv2D", "filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "use_bias": false},
      {"type": "BatchNormalization"},
      {"type": "Activation", "activation": "relu"},
      {"type": "MaxPooling2D", "padding": "same"},
      {"type": "Conv2D", "filters": 6, "kernel_size": 2, "activation": "tanh"},
      {"type": "Flatten"},
      {"type": "Dense", "units": 5, "activation": "elu"},
      {"type": "Dense", "units": 3, "activation": "softmax"}],
      "loss": "categorical_crossentropy", "optimizer": "adam"})";
    Tensor y("y", DType::I32, {20});  // 16 or more: the oneDNN route for Dense
    for (int i = 0; i < 20; ++i) y.values<int32_t>()[i] = i % 3;
    check_parity("classifier", spec, pixels({20, 10, 10, 3}, DType::U8, 1), y);
}

TEST_CASE("parity with PyTorch: binary sigmoid, average pooling, SGD with Nesterov momentum", "[parity]") {
    const char* spec = R"({"input_shape": [9, 9, 1], "layers": [
      {"type": "Rescaling", "scale": 2, "offset": -1},
      {"type": "Conv2D", "filters": 3, "kernel_size": 3, "activation": "leaky_relu"},
      {"type": "AveragePooling2D", "pool_size": 3, "strides": 2, "padding": "same"},
      {"type": "GlobalAveragePooling2D"},
      {"type": "Dense", "units": 1, "activation": "sigmoid"}],
      "loss": "binary_crossentropy", "optimizer": {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": true}})";
    Tensor y("y", DType::I32, {5});
    for (int i = 0; i < 5; ++i) y.values<int32_t>()[i] = i % 2;
    check_parity("binary", spec, pixels({5, 9, 9, 1}, DType::F32, 2), y);
}

TEST_CASE("parity with PyTorch: convolutional autoencoder, Conv2DTranspose, RMSprop, mse on U8 images", "[parity]") {
    const char* spec = R"({"input_shape": [8, 8, 3], "layers": [
      {"type": "Lambda", "function": "(x/255. - 0.5)*2"},
      {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
      {"type": "MaxPooling2D"},
      {"type": "Conv2DTranspose", "filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"},
      {"type": "Conv2D", "filters": 3, "kernel_size": 3, "padding": "same", "activation": "sigmoid"}],
      "loss": "mse", "optimizer": "rmsprop"})";
    Tensor x = pixels({16, 8, 8, 3}, DType::U8, 3);  // the oneDNN route for Conv2DTranspose
    check_parity("autoencoder", spec, x, x);
}

TEST_CASE("parity with PyTorch: Dense to Reshape to UpSampling2D, sparse labels, plain SGD", "[parity]") {
    const char* spec = R"({"input_shape": [12], "layers": [
      {"type": "Dense", "units": 8, "activation": "relu"},
      {"type": "Reshape", "target_shape": [2, 2, 2]},
      {"type": "UpSampling2D"},
      {"type": "Conv2D", "filters": 2, "kernel_size": 3, "padding": "same", "activation": "sigmoid"},
      {"type": "Flatten"},
      {"type": "Dense", "units": 4, "activation": "softmax"}],
      "loss": "sparse_categorical_crossentropy", "optimizer": "sgd"})";
    Tensor x = pixels({7, 12}, DType::F32, 4);
    Tensor y("y", DType::I32, {7});
    for (int i = 0; i < 7; ++i) y.values<int32_t>()[i] = (i * 3) % 4;
    check_parity("reshape", spec, x, y);
}

// The optimizers, schedules, loss options and regularizers of nn/optimizer.cpp and
// nn/objective.cpp, each against parity.py's float64 Keras 3 formulas.

TEST_CASE("parity with PyTorch: AdamW (decoupled weight decay before the Adam step)", "[parity]") {
    const char* spec = R"({"input_shape": [6, 6, 2], "layers": [
      {"type": "Conv2D", "filters": 3, "kernel_size": 3, "activation": "relu"},
      {"type": "Flatten"},
      {"type": "Dense", "units": 3, "activation": "softmax"}],
      "loss": "categorical_crossentropy",
      "optimizer": {"type": "adamw", "learning_rate": 0.01, "weight_decay": 0.1}})";
    Tensor y("y", DType::I32, {9});
    for (int i = 0; i < 9; ++i) y.values<int32_t>()[i] = (i * 2) % 3;
    check_parity("adamw", spec, pixels({9, 6, 6, 2}, DType::F32, 5), y, 3);
}

TEST_CASE("parity with PyTorch: Nadam (Keras' momentum schedule u_t = beta_1 (1 - 0.5 * 0.96^t))", "[parity]") {
    const char* spec = R"({"input_shape": [7], "layers": [
      {"type": "Dense", "units": 5, "activation": "tanh"},
      {"type": "Dense", "units": 1, "activation": "sigmoid"}],
      "loss": "binary_crossentropy",
      "optimizer": {"class_name": "Nadam", "config": {"learning_rate": 0.02, "beta_1": 0.85, "epsilon": 1e-6}}})";
    Tensor y("y", DType::I32, {6});
    for (int i = 0; i < 6; ++i) y.values<int32_t>()[i] = (i / 2) % 2;
    check_parity("nadam", spec, pixels({6, 7}, DType::F32, 6), y, 4);
}

TEST_CASE("parity with PyTorch: SGD with momentum on an ExponentialDecay staircase schedule", "[parity]") {
    const char* spec = R"({"input_shape": [8], "layers": [
      {"type": "Dense", "units": 6, "activation": "relu"},
      {"type": "Dense", "units": 4, "activation": "softmax"}],
      "loss": "sparse_categorical_crossentropy",
      "optimizer": {"type": "sgd", "momentum": 0.9, "learning_rate": {"module": "keras.optimizers.schedules",
        "class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.2, "decay_steps": 2,
        "decay_rate": 0.5, "staircase": true, "name": "ExponentialDecay"}, "registered_name": null}}})";
    Tensor y("y", DType::I32, {10});
    for (int i = 0; i < 10; ++i) y.values<int32_t>()[i] = (i * 3) % 4;
    check_parity("exponential decay", spec, pixels({10, 8}, DType::F32, 7), y, 5);
}

TEST_CASE("parity with PyTorch: RMSprop with momentum on a CosineDecay schedule with warmup", "[parity]") {
    const char* spec = R"({"input_shape": [5, 5, 1], "layers": [
      {"type": "Conv2D", "filters": 2, "kernel_size": 2, "activation": "sigmoid"},
      {"type": "GlobalAveragePooling2D"},
      {"type": "Dense", "units": 1, "activation": "sigmoid"}],
      "loss": "mse",
      "optimizer": {"type": "rmsprop", "momentum": 0.5, "learning_rate": {"class_name": "CosineDecay",
        "config": {"initial_learning_rate": 0.001, "decay_steps": 3, "alpha": 0.2, "warmup_target": 0.01,
        "warmup_steps": 2}}}})";
    Tensor y("y", DType::F32, {4, 1});
    for (int i = 0; i < 4; ++i) y.values<float>()[i] = 0.25f * float(i);
    check_parity("cosine decay", spec, pixels({4, 5, 5, 1}, DType::F32, 8), y, 6);
}

TEST_CASE("parity with PyTorch: label smoothing on categorical (Keras' config) and binary crossentropy", "[parity]") {
    const char* categorical = R"({"input_shape": [6], "layers": [
      {"type": "Dense", "units": 4, "activation": "softmax"}],
      "loss": {"class_name": "CategoricalCrossentropy", "config": {"label_smoothing": 0.1, "from_logits": false}},
      "optimizer": {"type": "sgd", "learning_rate": 0.5}})";
    Tensor y("y", DType::I32, {8});
    for (int i = 0; i < 8; ++i) y.values<int32_t>()[i] = i % 4;
    check_parity("categorical label smoothing", categorical, pixels({8, 6}, DType::F32, 9), y);

    const char* binary = R"({"input_shape": [5], "layers": [
      {"type": "Dense", "units": 1, "activation": "sigmoid"}],
      "loss": {"type": "binary_crossentropy", "label_smoothing": 0.2},
      "optimizer": {"type": "sgd", "learning_rate": 0.5}})";
    Tensor yb("y", DType::I32, {6});
    for (int i = 0; i < 6; ++i) yb.values<int32_t>()[i] = i % 2;
    check_parity("binary label smoothing", binary, pixels({6, 5}, DType::F32, 10), yb);

    const char* logits = R"({"input_shape": [5], "layers": [
      {"type": "Dense", "units": 3}],
      "loss": {"type": "categorical_crossentropy", "from_logits": true, "label_smoothing": 0.3},
      "metrics": [], "optimizer": {"type": "adam", "learning_rate": 0.05}})";
    Tensor yl("y", DType::I32, {6});
    for (int i = 0; i < 6; ++i) yl.values<int32_t>()[i] = (i * 2) % 3;
    check_parity("from_logits", logits, pixels({6, 5}, DType::F32, 11), yl);
}

TEST_CASE("parity with PyTorch: L2 kernel and L1 bias regularizers join the loss and the gradient", "[parity]") {
    const char* spec = R"({"input_shape": [6, 6, 1], "layers": [
      {"type": "Conv2D", "filters": 3, "kernel_size": 3, "activation": "relu",
       "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.05}}},
      {"type": "Flatten"},
      {"type": "Dense", "units": 2, "activation": "softmax", "kernel_regularizer": "l2",
       "bias_regularizer": {"l1": 0.02}}],
      "loss": "categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.01}})";
    Tensor y("y", DType::I32, {5});
    for (int i = 0; i < 5; ++i) y.values<int32_t>()[i] = i % 2;
    check_parity("regularizers", spec, pixels({5, 6, 6, 1}, DType::F32, 12), y, 3);
}

// Graphs (the Functional API) and the layers of modern small CNNs, each against
// parity.py's own float64 implementation: outputs, and every weight after two
// plain SGD steps (so every gradient, scaled by the learning rate).

TEST_CASE("parity with PyTorch: a residual block (Add, ReLU layer, GlobalMaxPooling2D, a shared layer)", "[parity][graph]") {
    const char* spec = R"({"input_shape": [8, 8, 3], "layers": [
      {"type": "InputLayer", "name": "image", "shape": [8, 8, 3]},
      {"type": "Conv2D", "name": "stem", "filters": 4, "kernel_size": 3, "padding": "same", "inputs": ["image"]},
      {"type": "BatchNormalization", "name": "bn", "inputs": ["stem"]},
      {"type": "ReLU", "name": "relu", "inputs": ["bn"]},
      {"type": "Conv2D", "name": "body", "filters": 4, "kernel_size": 3, "padding": "same", "dilation_rate": 2, "inputs": ["relu"]},
      {"type": "Add", "name": "sum", "inputs": ["stem", "body"]},
      {"type": "Conv2D", "name": "twice", "filters": 4, "kernel_size": 1, "activation": "swish", "inputs": ["sum"]},
      {"call": "twice", "inputs": ["twice"]},
      {"type": "GlobalMaxPooling2D", "name": "pool", "inputs": ["twice[1]"]},
      {"type": "Dense", "name": "out", "units": 3, "activation": "softmax", "inputs": ["pool"]}],
      "loss": "categorical_crossentropy", "optimizer": {"type": "sgd", "learning_rate": 0.1}})";
    Tensor y("y", DType::I32, {6});
    for (int i = 0; i < 6; ++i) y.values<int32_t>()[i] = i % 3;
    check_parity("resnet", spec, pixels({6, 8, 8, 3}, DType::F32, 5), y);
}

TEST_CASE("parity with PyTorch: a U-Net (Concatenate, Conv2DTranspose, Cropping2D, ZeroPadding2D)", "[parity][graph]") {
    const char* spec = R"({"input_shape": [8, 8, 2], "layers": [
      {"type": "Conv2D", "name": "e1", "filters": 3, "kernel_size": 3, "padding": "same", "activation": "relu"},
      {"type": "MaxPooling2D", "name": "p1"},
      {"type": "Conv2D", "name": "e2", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "gelu"},
      {"type": "Conv2DTranspose", "name": "up", "filters": 3, "kernel_size": 2, "strides": 2},
      {"type": "Concatenate", "name": "skip", "inputs": ["up", "e1"]},
      {"type": "Cropping2D", "name": "crop", "cropping": [[1, 0], [0, 2]]},
      {"type": "ZeroPadding2D", "name": "pad", "padding": [[0, 1], [1, 1]]},
      {"type": "Concatenate", "name": "rows", "axis": 1, "inputs": ["pad", "skip"]},
      {"type": "Conv2D", "name": "out", "filters": 2, "kernel_size": 3, "padding": "same", "activation": "sigmoid"}],
      "loss": "mse", "optimizer": {"type": "sgd", "learning_rate": 0.5}})";
    Tensor x = pixels({4, 8, 8, 2}, DType::F32, 6);
    Tensor y = pixels({4, 16, 8, 2}, DType::F32, 7);
    check_parity("unet", spec, x, y);
}

TEST_CASE("parity with PyTorch: a MobileNet block from Keras 2 JSON (DepthwiseConv2D, ReLU6, frozen BatchNorm)", "[parity][graph]") {
    // As keras.applications.MobileNetV2 writes it: asymmetric ZeroPadding2D before a
    // stride-2 valid depthwise convolution, ReLU(max_value=6), a frozen backbone.
    const char* spec = R"({"class_name": "Functional", "config": {"name": "model", "layers": [
      {"class_name": "InputLayer", "name": "input_1", "config": {"batch_input_shape": [null, 9, 9, 4], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_1"}, "inbound_nodes": []},
      {"class_name": "ZeroPadding2D", "name": "pad", "config": {"name": "pad", "trainable": false, "dtype": "float32", "padding": [[0, 1], [0, 1]], "data_format": "channels_last"}, "inbound_nodes": [[["input_1", 0, 0, {}]]]},
      {"class_name": "DepthwiseConv2D", "name": "dw", "config": {"name": "dw", "trainable": true, "dtype": "float32", "kernel_size": [3, 3], "strides": [2, 2], "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": "linear", "use_bias": false, "bias_initializer": {"class_name": "Zeros", "config": {}}, "bias_regularizer": null, "activity_regularizer": null, "bias_constraint": null, "depth_multiplier": 2, "depthwise_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}}, "depthwise_regularizer": null, "depthwise_constraint": null}, "inbound_nodes": [[["pad", 0, 0, {}]]]},
      {"class_name": "BatchNormalization", "name": "dw_BN", "config": {"name": "dw_BN", "trainable": false, "dtype": "float32", "axis": [3], "momentum": 0.999, "epsilon": 0.001, "center": true, "scale": true, "beta_initializer": {"class_name": "Zeros", "config": {}}, "gamma_initializer": {"class_name": "Ones", "config": {}}, "moving_mean_initializer": {"class_name": "Zeros", "config": {}}, "moving_variance_initializer": {"class_name": "Ones", "config": {}}, "beta_regularizer": null, "gamma_regularizer": null, "beta_constraint": null, "gamma_constraint": null}, "inbound_nodes": [[["dw", 0, 0, {}]]]},
      {"class_name": "ReLU", "name": "dw_relu", "config": {"name": "dw_relu", "trainable": true, "dtype": "float32", "max_value": 6.0, "negative_slope": 0.0, "threshold": 0.0}, "inbound_nodes": [[["dw_BN", 0, 0, {}]]]},
      {"class_name": "SeparableConv2D", "name": "sep", "config": {"name": "sep", "trainable": true, "filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1], "depth_multiplier": 1, "activation": "selu", "use_bias": true, "depthwise_initializer": "glorot_uniform", "pointwise_initializer": "glorot_uniform", "bias_initializer": "zeros", "depthwise_regularizer": null, "pointwise_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "depthwise_constraint": null, "pointwise_constraint": null, "bias_constraint": null}, "inbound_nodes": [[["dw_relu", 0, 0, {}]]]},
      {"class_name": "Conv2D", "name": "grouped", "config": {"name": "grouped", "trainable": true, "filters": 4, "kernel_size": [1, 1], "strides": [1, 1], "padding": "valid", "dilation_rate": [1, 1], "groups": 2, "activation": "hard_sigmoid", "use_bias": true, "kernel_initializer": "he_normal", "bias_initializer": "zeros", "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}, "inbound_nodes": [[["dw_relu", 0, 0, {}]]]},
      {"class_name": "Multiply", "name": "gate", "config": {"name": "gate", "trainable": true}, "inbound_nodes": [[["sep", 0, 0, {}], ["grouped", 0, 0, {}]]]},
      {"class_name": "Average", "name": "avg", "config": {"name": "avg", "trainable": true}, "inbound_nodes": [[["gate", 0, 0, {}], ["sep", 0, 0, {}], ["grouped", 0, 0, {}]]]},
      {"class_name": "Maximum", "name": "hi", "config": {"name": "hi", "trainable": true}, "inbound_nodes": [[["avg", 0, 0, {}], ["gate", 0, 0, {}]]]},
      {"class_name": "Minimum", "name": "lo", "config": {"name": "lo", "trainable": true}, "inbound_nodes": [[["avg", 0, 0, {}], ["grouped", 0, 0, {}]]]},
      {"class_name": "Subtract", "name": "diff", "config": {"name": "diff", "trainable": true}, "inbound_nodes": [[["hi", 0, 0, {}], ["lo", 0, 0, {}]]]},
      {"class_name": "LeakyReLU", "name": "leaky", "config": {"name": "leaky", "trainable": true, "alpha": 0.1}, "inbound_nodes": [[["diff", 0, 0, {}]]]},
      {"class_name": "GlobalAveragePooling2D", "name": "gap", "config": {"name": "gap", "trainable": true, "data_format": "channels_last", "keepdims": false}, "inbound_nodes": [[["leaky", 0, 0, {}]]]},
      {"class_name": "Dense", "name": "d1", "config": {"name": "d1", "trainable": true, "units": 5, "activation": "softplus", "use_bias": true, "kernel_initializer": "glorot_normal", "bias_initializer": "zeros", "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}, "inbound_nodes": [[["gap", 0, 0, {}]]]},
      {"class_name": "Dense", "name": "d2", "config": {"name": "d2", "trainable": true, "units": 3, "activation": "relu6", "use_bias": true, "kernel_initializer": "lecun_normal", "bias_initializer": "zeros", "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}, "inbound_nodes": [[["d1", 0, 0, {}]]]},
      {"class_name": "Softmax", "name": "probs", "config": {"name": "probs", "trainable": true, "axis": -1}, "inbound_nodes": [[["d2", 0, 0, {}]]]}],
      "input_layers": [["input_1", 0, 0]], "output_layers": [["probs", 0, 0]]}, "keras_version": "2.11.0", "backend": "tensorflow"})";
    Tensor y("y", DType::I32, {5});
    for (int i = 0; i < 5; ++i) y.values<int32_t>()[i] = (i * 2) % 3;
    check_parity("mobilenet", spec, pixels({5, 9, 9, 4}, DType::F32, 8), y);
}

TEST_CASE("parity with PyTorch: Keras 3's preprocessing layers on fixed draws, Normalization, PReLU", "[parity][preprocessing]") {
    // A draw range [v, v] makes the random layers' transforms fixed, so parity.py
    // (its own TensorFlow-style sampler, not grid_sample) can follow them in
    // training; a convolution before them checks their gradients. 7x5 images:
    // rotation on a non-square grid. Every fill mode and both interpolations.
    const char* spec = R"({"input_shape": [7, 5, 2], "layers": [
      {"type": "Normalization", "mean": [0.4, 0.6], "variance": [0.04, 0.09]},
      {"type": "Conv2D", "filters": 3, "kernel_size": 3, "padding": "same"},
      {"type": "RandomTranslation", "height_factor": [0.3, 0.3], "width_factor": [-0.5, -0.5]},
      {"type": "RandomRotation", "factor": [0.1, 0.1], "fill_mode": "nearest"},
      {"type": "RandomZoom", "height_factor": [0.4, 0.4], "width_factor": [-0.3, -0.3], "fill_mode": "constant", "fill_value": 0.5},
      {"type": "RandomRotation", "factor": [-0.3, -0.3], "fill_mode": "constant", "interpolation": "nearest"},
      {"type": "RandomZoom", "height_factor": [-0.2, -0.2]},
      {"type": "PReLU", "shared_axes": [1, 2], "alpha_initializer": {"class_name": "Constant", "config": {"value": 0.25}},
       "alpha_regularizer": {"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.1}}},
      {"type": "Flatten"},
      {"type": "Dense", "units": 4},
      {"type": "PReLU"},
      {"type": "Normalization", "mean": 1, "variance": 4, "invert": true},
      {"type": "Dense", "units": 3, "activation": "softmax"}],
      "loss": "categorical_crossentropy", "optimizer": {"type": "sgd", "learning_rate": 0.5}})";
    Tensor y("y", DType::I32, {6});
    for (int i = 0; i < 6; ++i) y.values<int32_t>()[i] = i % 3;
    check_parity("preprocessing", spec, pixels({6, 7, 5, 2}, DType::F32, 9), y);
}

// Issue 24: regression, several classes per image, weighted samples.
namespace {

Tensor floats(const std::string& name, const std::vector<int64_t>& shape, uint32_t seed, float scale, float shift) {
    Tensor t = pixels(shape, DType::F32, seed);
    t.name = name;
    for (int64_t i = 0; i < t.elements(); ++i) t.values<float>()[i] = t.values<float>()[i] * scale + shift;
    return t;
}

}  // namespace

TEST_CASE("parity with PyTorch: huber (Keras' delta) and log_cosh on numbers, with the regression metrics", "[parity][targets]") {
    Extras e;
    e.metrics = true;
    e.metadata["class_mode"] = "raw";
    // Targets spread over [-1.5, 1.5]: some errors beyond delta 0.7, some within.
    const char* huber = R"({"input_shape": [5], "layers": [{"type": "Dense", "units": 2}],
      "loss": {"class_name": "Huber", "config": {"delta": 0.7, "name": "huber_loss", "reduction": "sum_over_batch_size"}},
      "metrics": ["mae", "mse", "rmse", "r2"], "optimizer": {"type": "sgd", "learning_rate": 0.1}})";
    check_parity("huber", huber, pixels({8, 5}, DType::F32, 21), floats("y", {8, 2}, 22, 3, -1.5), 2, e);
    const char* log_cosh = R"({"input_shape": [5], "layers": [{"type": "Dense", "units": 3}],
      "loss": "logcosh", "metrics": ["RootMeanSquaredError", "R2Score"], "optimizer": {"type": "adam", "learning_rate": 0.05}})";
    check_parity("log_cosh", log_cosh, pixels({8, 5}, DType::F32, 23), floats("y", {8, 3}, 24, 4, -2), 2, e);
}

TEST_CASE("parity with PyTorch: sample weights (the stream's w) on mse and huber, Keras' sum over the batch size", "[parity][targets]") {
    Extras e;
    e.w = floats("w", {8}, 25, 3, 0);  // in [0, 3], so not a mean over the weights' sum
    e.w->values<float>()[3] = 0;       // a sample that does not count
    e.metadata["class_mode"] = "raw";
    const char* mse = R"({"input_shape": [4], "layers": [{"type": "Dense", "units": 2}],
      "loss": "mse", "metrics": [], "optimizer": {"type": "sgd", "learning_rate": 0.1}})";
    check_parity("weighted mse", mse, pixels({8, 4}, DType::F32, 26), floats("y", {8, 2}, 27, 2, -1), 2, e);
    const char* huber = R"({"input_shape": [4], "layers": [{"type": "Dense", "units": 1}],
      "loss": {"type": "huber", "delta": 0.5}, "metrics": [], "optimizer": {"type": "adam", "learning_rate": 0.05}})";
    check_parity("weighted huber", huber, pixels({8, 4}, DType::F32, 28), floats("y", {8}, 29, 4, -2), 2, e);
}

TEST_CASE("parity with PyTorch: multi-label binary_crossentropy over a multi-hot y, weights, and the metrics", "[parity][targets]") {
    // 4 sigmoid outputs, a multi-hot y; the metrics at threshold 0.4, over a batch large enough for a curve.
    Tensor y("y", DType::F32, {24, 4});
    uint32_t s = 7;
    for (int64_t i = 0; i < y.elements(); ++i) {
        s = s * 1664525u + 1013904223u;
        y.values<float>()[i] = (s >> 28) < 6 ? 1.0f : 0.0f;
    }
    Extras e;
    e.metrics = true;
    e.threshold = 0.4;
    e.w = floats("w", {24}, 31, 2, 0.5);
    e.metadata["class_mode"] = "multi_label";
    const char* spec = R"({"input_shape": [6], "layers": [{"type": "Dense", "units": 4, "activation": "sigmoid"}],
      "loss": "binary_crossentropy", "metrics": ["binary_accuracy", "precision", "recall", "f1", "auc"],
      "optimizer": {"type": "sgd", "learning_rate": 0.5}})";
    check_parity("multi-label", spec, floats("x", {24, 6}, 32, 4, -2), y, 2, e);
}

TEST_CASE("parity with PyTorch: class weights multiply the stream's w (sparse labels, softmax)", "[parity][targets]") {
    Extras e;
    e.w = floats("w", {9}, 33, 2, 0.25);
    e.class_weights = {1.0, 4.5, 0.5};
    Tensor y("y", DType::I32, {9});
    for (int i = 0; i < 9; ++i) y.values<int32_t>()[i] = (i * 5) % 3;
    const char* spec = R"({"input_shape": [5], "layers": [{"type": "Dense", "units": 3, "activation": "softmax"}],
      "loss": "sparse_categorical_crossentropy", "metrics": [], "optimizer": {"type": "sgd", "learning_rate": 0.5}})";
    check_parity("class weights", spec, pixels({9, 5}, DType::F32, 34), y, 2, e);
    // One-hot rows (a categorical stream's y): Keras takes each row's argmax as its class.
    Tensor onehot("y", DType::F32, {9, 3});
    for (int i = 0; i < 9; ++i)
        for (int c = 0; c < 3; ++c) onehot.values<float>()[i * 3 + c] = c == (i * 5) % 3 ? 1.0f : 0.0f;
    const char* categorical = R"({"input_shape": [5], "layers": [{"type": "Dense", "units": 3, "activation": "softmax"}],
      "loss": "categorical_crossentropy", "metrics": [], "optimizer": {"type": "sgd", "learning_rate": 0.5}})";
    check_parity("class weights on one-hot rows", categorical, pixels({9, 5}, DType::F32, 35), onehot, 2, e);
}
