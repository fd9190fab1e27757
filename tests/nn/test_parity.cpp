// A bias right before BatchNormalization has a zero gradient, and Adam turns
// float noise there into steps, so the models here leave it out, as people do.
// Parity with an independent implementation: tests/nn/parity.py rebuilds each
// model in PyTorch (float64) from the model file our save() wrote, and checks
// our outputs and the weights after two training steps within 1e-5.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
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

// Trains `steps` steps on one batch and lets parity.py judge every number.
void check_parity(const std::string& name, const std::string& spec, Tensor x, Tensor y, int steps = 2) {
    if (!have_python_torch()) {
        WARN("skipped: /usr/bin/python3 lacks torch or numpy (Debian: python3-torch)");
        return;
    }
    char tmpl[] = "/tmp/nn_parity_XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    auto model = Model::create(spec, name, {}, 11);
    Frame batch;
    y.name = "y";
    batch.tensors = {x, y};
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
